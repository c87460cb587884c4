// The PeerRTC dashboard (served at /dashboard/): polls GET /stats of this node, or of every node
// of the cluster when GET /cluster/nodes answers 200 (404: not in a cluster), and draws rooms,
// peers, deliveries/s, drops/s and the relay-latency and handshake percentiles, computed from
// the deltas between polls. No dependencies; canvas charts. State for tests and the console:
// window.peerrtcDashboard. Another node's /stats comes through this one (GET /cluster/stats?node=),
// so the page talks to its own origin only. A server with --api-key or --join-secret wants
// `Authorization: Bearer <key>`: on a 401/403 the page asks for the key and keeps it in this
// tab's sessionStorage (never localStorage, never the URL).
'use strict';
(() => {
  const params = new URLSearchParams(location.search);
  const INTERVAL_MS = Math.min(60000, Math.max(200, Number(params.get('interval')) || 1000));
  const WINDOW_MS = 5000;          // rates and relay-latency percentiles
  const HANDSHAKE_WINDOW_MS = 60000;  // handshakes are rare: a longer window
  const KEEP_MS = HANDSHAKE_WINDOW_MS + 5000;  // snapshots kept per node
  const HISTORY = 120;             // chart points
  const TOPOLOGY_MS = 5000;        // re-read /cluster/nodes this often in a cluster,
  const TOPOLOGY_ALONE_MS = 60000; // and this often after a 404 (each 404 is a console line)
  const FETCH_TIMEOUT_MS = Math.max(1500, INTERVAL_MS * 2);
  // The relay's drops (messages); the wire's (datagrams, STUN, DTLS, SCTP) are shown apart.
  const DROPS = ['dropped_too_large', 'dropped_bad_frame', 'dropped_filtered', 'dropped_unknown_peer',
    'dropped_send', 'dropped_rate_limited'];
  const WIRE_DROPS = ['dropped_datagrams', 'dropped_stun', 'dropped_dtls', 'dropped_sctp_messages'];

  const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
  const KEY_ITEM = 'peerrtc-dashboard-key';
  const storedKey = () => { try { return sessionStorage.getItem(KEY_ITEM) || ''; } catch { return ''; } };
  const state = {
    locked: false,      // the server refused our (missing or wrong) key: the key form is shown
    mode: 'node',       // 'node' | 'cluster'
    nodes: [],          // {id, url, self, snapshots: [{t, stats}], ok, error}
    history: [],        // chart points
    latest: null,       // the last computed view (totals, rates, percentiles)
    ticks: 0,
    topologyError: null,
    topologyAt: 0,
  };
  window.peerrtcDashboard = state;

  // ------------------------------------------------------------------ data

  async function getJson(url) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), FETCH_TIMEOUT_MS);
    try {
      const key = storedKey();
      const headers = key ? { authorization: `Bearer ${key}` } : {};
      const r = await fetch(url, { cache: 'no-store', signal: ctrl.signal, headers });
      if (r.status === 401 || r.status === 403) state.locked = true;
      let body = null;
      try { body = await r.json(); } catch { /* not JSON */ }
      return { status: r.status, body };
    } finally {
      clearTimeout(timer);
    }
  }

  // /cluster/nodes: 200 -> the cluster's nodes, 404 -> this node alone; anything else keeps
  // what we had (a node alone at first).
  async function refreshTopology() {
    let list = null;
    try {
      const r = await getJson('/cluster/nodes');
      if (r.status === 200 && r.body && Array.isArray(r.body.nodes)) {
        state.mode = 'cluster';
        list = r.body.nodes.map((n) => ({ id: String(n.id), url: String(n.url || ''), self: !!n.self }));
        state.topologyError = null;
      } else if (r.status === 404) {
        state.mode = 'node';
        state.topologyError = null;
      } else {
        state.topologyError = `/cluster/nodes answered ${r.status}`;
      }
    } catch (e) {
      state.topologyError = `/cluster/nodes: ${e.message || e}`;
    }
    if (!list) {
      list = state.mode === 'cluster' && state.nodes.length
        ? state.nodes : [{ id: 'this node', url: location.origin, self: true }];
    }
    const old = new Map(state.nodes.map((n) => [n.id, n]));
    state.nodes = list.map((n) => Object.assign(old.get(n.id) || { snapshots: [], ok: false, error: null }, n));
  }

  function statsUrl(node) {
    if (node.self) return '/stats';
    return `/cluster/stats?node=${encodeURIComponent(node.id)}`;
  }

  function showKeyForm() {
    const form = $('key-form');
    if (!form.hidden) return;
    $('key-error').textContent = storedKey() ? 'the server refused this key' : '';
    form.hidden = false;
    $('key').focus();
  }
  $('key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    try { sessionStorage.setItem(KEY_ITEM, $('key').value.trim()); } catch { /* storage off: this poll only */ }
    $('key').value = '';
    $('key-form').hidden = true;
    state.locked = false;
    state.topologyAt = 0;  // ask /cluster/nodes again with the key
  });

  async function pollNode(node, now) {
    try {
      const r = await getJson(statsUrl(node));
      if (r.status !== 200 || !r.body || typeof r.body.messages_relayed !== 'number') {
        throw new Error(`GET /stats answered ${r.status}`);
      }
      node.snapshots.push({ t: now, stats: r.body });
      while (node.snapshots.length > 2 && node.snapshots[0].t < now - KEEP_MS) node.snapshots.shift();
      node.ok = true;
      node.error = null;
    } catch (e) {
      node.ok = false;
      node.error = e.name === 'AbortError' ? 'timed out' : String(e.message || e);
    }
  }

  const dropsOf = (s) => DROPS.reduce((a, k) => a + (s[k] || 0), 0);
  const wireDropsOf = (s) => WIRE_DROPS.reduce((a, k) => a + (s[k] || 0), 0);

  // The snapshot at least `ms` older than the last one (or the oldest kept).
  function baseline(node, ms) {
    const snaps = node.snapshots;
    if (snaps.length < 2) return null;
    const last = snaps[snaps.length - 1];
    let base = snaps[0];
    for (let i = snaps.length - 2; i >= 0; i--) {
      if (last.t - snaps[i].t >= ms) { base = snaps[i]; break; }
    }
    // A restarted node (uptime went back): no rates across it.
    if (base.stats.uptime_s > last.stats.uptime_s) return null;
    return base;
  }

  // Per-bucket counts added between two snapshots of a histogram ({le_us, counts}).
  function histDelta(a, b) {
    if (!b || !b.counts) return null;
    if (!a) return { le_us: b.le_us, counts: b.counts.slice() };
    return { le_us: b.le_us, counts: b.counts.map((c, i) => Math.max(0, c - (a.counts[i] || 0))) };
  }
  function histAdd(x, y) {
    if (!x) return y && { le_us: y.le_us, counts: y.counts.slice() };
    if (!y || y.counts.length !== x.counts.length) return x;
    return { le_us: x.le_us, counts: x.counts.map((c, i) => c + y.counts[i]) };
  }
  // Like Prometheus' histogram_quantile: linear inside the bucket; the +Inf bucket answers its
  // lower bound. Microseconds; null without samples.
  function quantile(h, q) {
    if (!h) return null;
    const total = h.counts.reduce((a, b) => a + b, 0);
    if (total === 0) return null;
    const rank = q * total;
    let cum = 0;
    for (let i = 0; i < h.counts.length; i++) {
      const prev = cum;
      cum += h.counts[i];
      if (cum >= rank && h.counts[i] > 0) {
        if (i >= h.le_us.length) return h.le_us[h.le_us.length - 1];
        const lo = i === 0 ? 0 : h.le_us[i - 1], hi = h.le_us[i];
        return lo + (hi - lo) * ((rank - prev) / h.counts[i]);
      }
    }
    return h.le_us[h.le_us.length - 1];
  }
  const histCount = (h) => (h ? h.counts.reduce((a, b) => a + b, 0) : 0);

  function nodeView(node) {
    const last = node.snapshots[node.snapshots.length - 1];
    if (!last) return null;
    const s = last.stats;
    const v = {
      rooms: s.rooms, peers: s.peers, messages: s.messages_relayed, deliveries: s.deliveries,
      drops: dropsOf(s), wireDrops: wireDropsOf(s), uptime: s.uptime_s,
      deliveriesRate: null, messagesRate: null, dropsRate: null, datagramsInRate: null, datagramsOutRate: null,
      relay: null, handshake: null,
    };
    const base = baseline(node, WINDOW_MS);
    if (base && last.t > base.t) {
      const dt = (last.t - base.t) / 1000;
      const rate = (x, y) => (y >= x ? (y - x) / dt : null);
      v.deliveriesRate = rate(base.stats.deliveries, s.deliveries);
      v.messagesRate = rate(base.stats.messages_relayed, s.messages_relayed);
      v.dropsRate = rate(dropsOf(base.stats), v.drops);
      v.datagramsInRate = rate(base.stats.datagrams_in, s.datagrams_in);
      v.datagramsOutRate = rate(base.stats.datagrams_out, s.datagrams_out);
      v.relay = histDelta(base.stats.relay_latency, s.relay_latency);
    }
    const hbase = baseline(node, HANDSHAKE_WINDOW_MS);
    v.handshake = histDelta(hbase ? hbase.stats.handshake : null, s.handshake);
    return v;
  }

  function compute() {
    const views = state.nodes.map((n) => ({ node: n, v: n.ok ? nodeView(n) : null }));
    const sum = (k) => views.reduce((a, { v }) => (v && v[k] != null ? a + v[k] : a), 0);
    const sumRate = (k) => (views.some(({ v }) => v && v[k] != null) ? sum(k) : null);
    let relay = null, handshake = null;
    for (const { v } of views) {
      if (!v) continue;
      relay = histAdd(relay, v.relay);
      handshake = histAdd(handshake, v.handshake);
    }
    return {
      views,
      rooms: sum('rooms'), peers: sum('peers'), messages: sum('messages'), deliveries: sum('deliveries'),
      drops: sum('drops'), wireDrops: sum('wireDrops'),
      deliveriesRate: sumRate('deliveriesRate'), messagesRate: sumRate('messagesRate'), dropsRate: sumRate('dropsRate'),
      datagramsInRate: sumRate('datagramsInRate'), datagramsOutRate: sumRate('datagramsOutRate'),
      relayP50: quantile(relay, 0.5), relayP90: quantile(relay, 0.9), relayP99: quantile(relay, 0.99),
      relayCount: histCount(relay),
      handshakeP50: quantile(handshake, 0.5), handshakeP90: quantile(handshake, 0.9),
      handshakeP99: quantile(handshake, 0.99), handshakeCount: histCount(handshake),
      up: views.filter(({ node }) => node.ok).length,
    };
  }

  // ------------------------------------------------------------------ formatting

  const fmtInt = (n) => (n == null ? '–' : Math.round(n).toLocaleString('en-US'));
  const fmtRate = (n) => (n == null ? '–' : n === 0 ? '0' : n < 1 ? n.toFixed(2) : n < 10 ? n.toFixed(1) : fmtInt(n));
  function fmtUs(us) {
    if (us == null) return '–';
    if (us === 0) return '0';
    if (us < 1000) return `${us < 10 ? us.toFixed(1) : Math.round(us)} µs`;
    if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : us < 1e5 ? 1 : 0)} ms`;
    return `${(us / 1e6).toFixed(2)} s`;
  }
  function fmtUptime(s) {
    if (s == null) return '–';
    if (s < 120) return `${Math.round(s)} s`;
    if (s < 7200) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86400).toFixed(1)} d`;
  }

  // ------------------------------------------------------------------ charts

  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const COLORS = ['#3b6fd8', '#e07b39', '#1f9d55', '#9b59b6', '#d64545'];

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 4, 6, 8, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // series: [{name, key}] of state.history; format: the y labels.
  function drawChart(canvas, series, format) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const ink = css('--ink') || '#1d2330', dim = css('--dim') || '#6b7385', line = css('--line') || '#e3e6ec';
    const left = 62, right = 8, top = 18, bottom = 18;
    const pw = w - left - right, ph = h - top - bottom;
    const hist = state.history;
    let max = 0;
    for (const p of hist) for (const s of series) if (p[s.key] != null) max = Math.max(max, p[s.key]);
    max = niceMax(max);
    g.font = '11px system-ui, sans-serif';
    g.textBaseline = 'middle';
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = top + ph - (ph * i) / 4;
      g.strokeStyle = line;
      g.beginPath(); g.moveTo(left, y + 0.5); g.lineTo(w - right, y + 0.5); g.stroke();
      g.fillStyle = dim;
      g.textAlign = 'right';
      g.fillText(format((max * i) / 4), left - 6, y);
    }
    const span = HISTORY * INTERVAL_MS;
    const now = hist.length ? hist[hist.length - 1].t : 0;
    const xOf = (t) => left + pw - ((now - t) / span) * pw;
    g.textAlign = 'left';
    g.fillText(`-${Math.round(span / 1000)} s`, left, h - 7);
    g.textAlign = 'right';
    g.fillText('now', w - right, h - 7);
    series.forEach((s, si) => {
      g.strokeStyle = COLORS[si % COLORS.length];
      g.lineWidth = 1.8;
      g.beginPath();
      let pen = false;
      for (const p of hist) {
        const v = p[s.key];
        if (v == null) { pen = false; continue; }
        const x = xOf(p.t), y = top + ph - (Math.min(v, max) / max) * ph;
        if (pen) g.lineTo(x, y); else g.moveTo(x, y);
        pen = true;
      }
      g.stroke();
    });
    // Legend, top right, with the latest values.
    let x = w - right;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let si = series.length - 1; si >= 0; si--) {
      const s = series[si];
      const last = hist.length ? hist[hist.length - 1][s.key] : null;
      const label = `${s.name} ${last == null ? '–' : format(last)}`;
      g.fillStyle = ink;
      g.fillText(label, x, 8);
      const tw = g.measureText(label).width;
      g.fillStyle = COLORS[si % COLORS.length];
      g.fillRect(x - tw - 12, 4, 8, 8);
      x -= tw + 22;
    }
  }

  // ------------------------------------------------------------------ rendering

  function setValue(id, text, raw) {
    const el = $(id);
    el.textContent = text;
    if (raw !== undefined) el.dataset.value = raw == null ? '' : String(raw);
  }

  function render(view) {
    const mode = $('mode');
    mode.dataset.mode = state.mode;
    mode.textContent = state.mode === 'cluster' ? `cluster · ${state.nodes.length} nodes` : 'this node';
    const status = $('status');
    if (state.locked) {
      status.dataset.status = 'locked';
      status.textContent = 'needs the API key';
      showKeyForm();
    }
    const live = view.up > 0;
    if (!state.locked) status.dataset.status = !live ? 'error' : view.up === state.nodes.length ? 'live' : 'degraded';
    if (!state.locked) status.textContent = live
      ? (view.up === state.nodes.length ? 'live' : `${state.nodes.length - view.up} node(s) unreachable`)
      : (state.nodes[0] && state.nodes[0].error) || 'unreachable';
    $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;

    setValue('rooms', fmtInt(view.rooms), view.rooms);
    setValue('peers', fmtInt(view.peers), view.peers);
    setValue('deliveries-rate', fmtRate(view.deliveriesRate), view.deliveriesRate);
    setValue('deliveries', fmtInt(view.deliveries), view.deliveries);
    setValue('messages-rate', fmtRate(view.messagesRate), view.messagesRate);
    setValue('messages', fmtInt(view.messages), view.messages);
    setValue('drops-rate', fmtRate(view.dropsRate), view.dropsRate);
    setValue('drops', fmtInt(view.drops), view.drops);
    setValue('relay-p50', fmtUs(view.relayP50), view.relayP50);
    setValue('relay-p99', fmtUs(view.relayP99), view.relayP99);
    setValue('handshake-p50', fmtUs(view.handshakeP50), view.handshakeP50);
    setValue('handshake-p99', fmtUs(view.handshakeP99), view.handshakeP99);
    $('window').textContent = String(WINDOW_MS / 1000);

    const rate = (n) => fmtRate(n);
    const count = (n) => fmtInt(n);
    const dur = (us) => fmtUs(us);
    drawChart($('chart-population'), [{ name: 'rooms', key: 'rooms' }, { name: 'peers', key: 'peers' }], count);
    drawChart($('chart-traffic'), [{ name: 'deliveries', key: 'deliveriesRate' },
      { name: 'messages', key: 'messagesRate' }], rate);
    drawChart($('chart-drops'), [{ name: 'drops', key: 'dropsRate' }], rate);
    drawChart($('chart-relay'), [{ name: 'p50', key: 'relayP50' }, { name: 'p90', key: 'relayP90' },
      { name: 'p99', key: 'relayP99' }], dur);
    drawChart($('chart-handshake'), [{ name: 'p50', key: 'handshakeP50' }, { name: 'p90', key: 'handshakeP90' }], dur);
    drawChart($('chart-datagrams'), [{ name: 'in', key: 'datagramsInRate' }, { name: 'out', key: 'datagramsOutRate' }], rate);

    const tbody = $('nodes').querySelector('tbody');
    const rows = view.views.map(({ node, v }) => {
      const tr = document.createElement('tr');
      tr.dataset.node = node.id;
      const cells = [node.id + (node.self && state.mode === 'cluster' ? ' (this)' : ''), node.url,
        v ? fmtInt(v.rooms) : '–', v ? fmtInt(v.peers) : '–', v ? fmtRate(v.deliveriesRate) : '–',
        v ? fmtRate(v.dropsRate) : '–', v ? fmtUs(quantile(v.relay, 0.99)) : '–', v ? fmtUptime(v.uptime) : '–',
        node.ok ? 'up' : `down: ${node.error || 'no answer'}`];
      cells.forEach((c, i) => {
        const td = document.createElement('td');
        td.textContent = c;
        if (i === 8) td.className = node.ok ? 'state-ok' : 'state-down';
        tr.appendChild(td);
      });
      return tr;
    });
    if (state.mode === 'cluster') {
      const tr = document.createElement('tr');
      tr.className = 'total';
      tr.dataset.node = '';
      for (const c of ['Cluster', `${view.up}/${state.nodes.length} up`, fmtInt(view.rooms), fmtInt(view.peers),
        fmtRate(view.deliveriesRate), fmtRate(view.dropsRate), fmtUs(view.relayP99), '', '']) {
        const td = document.createElement('td');
        td.textContent = c;
        tr.appendChild(td);
      }
      rows.push(tr);
    }
    tbody.replaceChildren(...rows);
    $('nodes-note').textContent = state.mode === 'cluster'
      ? '(GET /cluster/nodes, each node\'s /stats)'
      : `(not in a cluster${state.topologyError ? `; ${state.topologyError}` : ''})`;
  }

  // ------------------------------------------------------------------ loop

  async function tick() {
    const started = Date.now();
    state.locked = false;  // set again by any 401/403 of this round
    try {
      const every = state.mode === 'cluster' || state.topologyError ? TOPOLOGY_MS : TOPOLOGY_ALONE_MS;
      if (!state.topologyAt || Date.now() - state.topologyAt >= every) {
        state.topologyAt = Date.now();
        await refreshTopology();
      }
      const now = Date.now();
      await Promise.all(state.nodes.map((n) => pollNode(n, now)));
      const view = compute();
      state.latest = view;
      state.history.push({
        t: now, rooms: view.up ? view.rooms : null, peers: view.up ? view.peers : null,
        deliveriesRate: view.deliveriesRate, messagesRate: view.messagesRate, dropsRate: view.dropsRate,
        datagramsInRate: view.datagramsInRate, datagramsOutRate: view.datagramsOutRate,
        relayP50: view.relayP50, relayP90: view.relayP90, relayP99: view.relayP99,
        handshakeP50: view.handshakeP50, handshakeP90: view.handshakeP90,
      });
      while (state.history.length > HISTORY) state.history.shift();
      state.ticks++;
      render(view);
      document.body.dataset.ticks = String(state.ticks);
    } catch (e) {
      console.error('dashboard:', e);
    }
    setTimeout(tick, Math.max(0, INTERVAL_MS - (Date.now() - started)));
  }

  window.addEventListener('resize', () => { if (state.latest) render(state.latest); });
  tick();
})();
