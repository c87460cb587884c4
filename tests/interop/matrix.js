// PeerRTC interop matrix, shared by every client stack.
//
// A plain ES module with no imports: it runs in Node (with @roamhq/wrtc's RTCPeerConnection) and,
// injected as source text, inside a browser page (see sourceForPage() in lib/harness.mjs, which
// strips the `export` keywords). Everything it needs from the outside is passed in:
//
//   runMatrix({
//     RTCPeerConnection,          // constructor
//     signal: async (offerSdp) => answerSdp,   // POST /offer for this peer
//     getEvents: async () => [...],            // GET /events (all peers)
//     peerId,                     // the peer_id that `signal` uses
//     types, sizes, burst,        // optional subsets (defaults: the full matrix)
//     log,                        // optional (msg) => void
//   }) -> result object (throws an Error with a precise message on the first failure)

export const CHANNEL_TYPES = [
  { name: 'reliable', protocol: '', init: { ordered: true }, expect: { ordered: true, maxRetransmits: null, maxPacketLifeTime: null } },
  { name: 'unordered', protocol: 'x-peerrtc-unordered', init: { ordered: false }, expect: { ordered: false, maxRetransmits: null, maxPacketLifeTime: null } },
  { name: 'rexmit5', protocol: 'x-peerrtc-rexmit', init: { ordered: false, maxRetransmits: 5 }, expect: { ordered: false, maxRetransmits: 5, maxPacketLifeTime: null } },
  { name: 'lifetime2000', protocol: 'x-peerrtc-lifetime', init: { maxPacketLifeTime: 2000 }, expect: { ordered: true, maxRetransmits: null, maxPacketLifeTime: 2000 } },
];

export const SIZES = [0, 1, 1024, 16384, 65536, 262144];

export const DEFAULT_TIMEOUTS = {
  connect: 15000, // offer -> control channel open
  control: 5000, // control command -> reply
  channelOpen: 5000,
  echoBase: 5000, // per message, plus echoPerMiB per MiB
  echoPerMiB: 20000,
  partialAttempts: 3, // sends per message on partially reliable channels (loss is legal there)
  buffered: 10000, // waiting for bufferedamountlow
  event: 5000, // waiting for a server event to show up in /events
  peerClosed: 10000,
  close: 5000,
};

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

function fail(msg) { throw new Error(msg); }

function isArrayBuffer(x) { return Object.prototype.toString.call(x) === '[object ArrayBuffer]'; }

// ---- payloads -----------------------------------------------------------------------------

function xorshift(seed) {
  let x = (seed >>> 0) || 0x9e3779b9;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

function binaryPayload(size, seed) {
  const buf = new ArrayBuffer(size);
  const u8 = new Uint8Array(buf);
  const rnd = xorshift(seed * 2654435761 + size);
  for (let i = 0; i < size; i++) u8[i] = rnd() & 0xff;
  return buf;
}

const ASCII = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~\t\n';
function asciiPayload(size, seed) {
  const rnd = xorshift(seed * 40503 + size + 7);
  const parts = new Array(size);
  for (let i = 0; i < size; i++) parts[i] = ASCII[rnd() % ASCII.length];
  return parts.join('');
}

// Multi-byte UTF-8 text whose UTF-8 encoding is exactly `bytes` long: 1-, 2-, 3- and 4-byte
// characters (the 4-byte ones are surrogate pairs in JS), padded with ASCII at the end.
function utf8Payload(bytes) {
  const cycle = ['A', 'é', 'Ж', '€', '中', '😀', 'ß', '🚀', 'z'];
  const len = (c) => { const cp = c.codePointAt(0); return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; };
  const parts = [];
  let n = 0;
  for (let i = 0; ; i++) {
    const c = cycle[i % cycle.length];
    if (n + len(c) > bytes - 4) break;
    parts.push(c);
    n += len(c);
  }
  while (n < bytes) { parts.push('.'); n++; }
  return parts.join('');
}

function utf8Length(s) { return new TextEncoder().encode(s).length; }

function messagesFor(sizes, seed) {
  const msgs = [];
  for (const size of sizes) {
    msgs.push({ kind: 'text', size, desc: `${size}-byte text`, data: asciiPayload(size, seed) });
    msgs.push({ kind: 'binary', size, desc: `${size}-byte binary`, data: binaryPayload(size, seed + 1) });
  }
  if (sizes.includes(65536)) {
    const s = utf8Payload(65536);
    msgs.push({ kind: 'text', size: 65536, desc: `65536-byte multi-byte UTF-8 text (${s.length} UTF-16 units)`, data: s });
  }
  return msgs;
}

function compareEcho(msg, got, label) {
  const where = `echo of ${msg.desc} on channel ${label}`;
  if (msg.kind === 'text') {
    if (typeof got !== 'string') fail(`${where}: expected a text message, got ${describe(got)}`);
    if (got.length !== msg.data.length || got !== msg.data) {
      const a = new TextEncoder().encode(msg.data);
      const b = new TextEncoder().encode(got);
      fail(`${where}: content differs (sent ${a.length} bytes, got ${b.length} bytes, first difference at byte ${firstDiff(a, b)})`);
    }
    const n = utf8Length(got);
    if (n !== msg.size) fail(`${where}: expected ${msg.size} UTF-8 bytes, got ${n}`);
  } else {
    if (!isArrayBuffer(got)) fail(`${where}: expected a binary ArrayBuffer message, got ${describe(got)}`);
    const a = new Uint8Array(msg.data);
    const b = new Uint8Array(got);
    if (a.length !== b.length) fail(`${where}: sent ${a.length} bytes, got ${b.length} bytes`);
    const d = firstDiff(a, b);
    if (d !== -1) fail(`${where}: byte ${d} differs (sent 0x${a[d].toString(16)}, got 0x${b[d].toString(16)})`);
  }
}

function sameData(msg, got) {
  if (msg.kind === 'text') return typeof got === 'string' && got === msg.data;
  if (!isArrayBuffer(got) || got.byteLength !== msg.data.byteLength) return false;
  return firstDiff(new Uint8Array(msg.data), new Uint8Array(got)) === -1;
}

function firstDiff(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function describe(x) {
  if (typeof x === 'string') return `text (${x.length} UTF-16 units)`;
  if (isArrayBuffer(x)) return `ArrayBuffer(${x.byteLength})`;
  return Object.prototype.toString.call(x);
}

// ---- channel plumbing ---------------------------------------------------------------------

// Wraps a data channel with a message queue so messages are never missed between awaits.
class Chan {
  constructor(dc, openedBy, type) {
    this.dc = dc;
    this.label = dc.label;
    this.openedBy = openedBy;
    this.type = type;
    this.queue = [];
    this.waiters = [];
    this.closed = false;
    this.closeWaiters = [];
    this.errors = [];
    dc.binaryType = 'arraybuffer';
    dc.onmessage = (e) => {
      if (this.waiters.length) this.waiters.shift()(e.data);
      else this.queue.push(e.data);
    };
    dc.onerror = (e) => { this.errors.push(String((e && (e.error && e.error.message)) || e)); };
    dc.onclose = () => { this.closed = true; for (const w of this.closeWaiters.splice(0)) w(); };
  }

  next(ms, what) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    let resolveFn;
    const p = new Promise((r) => { resolveFn = r; this.waiters.push(r); });
    return withTimeout(p, ms, what).catch((e) => {
      const i = this.waiters.indexOf(resolveFn);
      if (i >= 0) this.waiters.splice(i, 1);
      throw e;
    });
  }

  waitOpen(ms) {
    const dc = this.dc;
    if (dc.readyState === 'open') return Promise.resolve();
    return withTimeout(new Promise((resolve, reject) => {
      dc.addEventListener('open', () => resolve(), { once: true });
      dc.addEventListener('close', () => reject(new Error(`channel ${this.label} closed before opening`)), { once: true });
    }), ms, `channel ${this.label} to open (readyState ${dc.readyState})`);
  }

  waitClosed(ms) {
    if (this.closed || this.dc.readyState === 'closed') return Promise.resolve();
    return withTimeout(new Promise((r) => this.closeWaiters.push(r)), ms,
      `close event on channel ${this.label} (readyState ${this.dc.readyState})`);
  }

  async waitBuffered(limit, ms, what) {
    const dc = this.dc;
    if (dc.bufferedAmount <= limit) return;
    dc.bufferedAmountLowThreshold = limit;
    await withTimeout(new Promise((resolve) => {
      const check = () => { if (dc.bufferedAmount <= limit) { dc.removeEventListener('bufferedamountlow', check); resolve(); } };
      dc.addEventListener('bufferedamountlow', check);
      check();
    }), ms, `bufferedamountlow on channel ${this.label} before sending ${what} (bufferedAmount ${dc.bufferedAmount})`);
  }
}

function echoTimeout(t, size) { return t.echoBase + Math.ceil((size / 1048576) * t.echoPerMiB); }

// ---- the matrix -----------------------------------------------------------------------------

export async function runMatrix(options) {
  const {
    RTCPeerConnection: PC, signal, getEvents, peerId,
    types: typeNames = null, sizes = SIZES, burst = true, log = () => {},
  } = options;
  const t = Object.assign({}, DEFAULT_TIMEOUTS, options.timeouts || {});
  const types = typeNames ? CHANNEL_TYPES.filter((x) => typeNames.includes(x.name)) : CHANNEL_TYPES;
  const result = { peerId, timings: {}, channels: [], messages: 0, bytes: 0, maxMessageSize: null, steps: [] };
  const step = (s) => { result.steps.push(s); log(s); };
  const t0 = now();

  // ---- 1. connect ----
  const pc = new PC({ iceServers: [] });
  const incoming = new Map(); // label -> RTCDataChannel opened by the server
  const incomingWaiters = new Map();
  pc.ondatachannel = (e) => {
    const dc = e.channel;
    dc.binaryType = 'arraybuffer';
    const w = incomingWaiters.get(dc.label);
    if (w) { incomingWaiters.delete(dc.label); w(dc); } else incoming.set(dc.label, dc);
  };
  const waitIncoming = (label, ms) => {
    if (incoming.has(label)) { const dc = incoming.get(label); incoming.delete(label); return Promise.resolve(dc); }
    return withTimeout(new Promise((r) => incomingWaiters.set(label, r)), ms,
      `ondatachannel for server-opened channel ${label}`);
  };

  try {
    const control = new Chan(pc.createDataChannel('control'), 'client', null);
    const tOffer = now();
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    // offer.sdp, not pc.localDescription: reading that while gathering adds candidates crashed
    // @roamhq/wrtc (SIGSEGV in webrtc::SdpSerialize).
    const answerSdp = await withTimeout(Promise.resolve(signal(offer.sdp)), t.control, 'POST /offer answer');
    if (typeof answerSdp !== 'string' || !answerSdp.startsWith('v=0')) fail(`signal() did not return an SDP answer: ${String(answerSdp).slice(0, 200)}`);
    const mms = /a=max-message-size:(\d+)/.exec(answerSdp);
    result.answerMaxMessageSize = mms ? Number(mms[1]) : null;
    await pc.setRemoteDescription({ type: 'answer', sdp: answerSdp });
    await control.waitOpen(t.connect).catch((e) => {
      fail(`${e.message}; iceConnectionState=${pc.iceConnectionState} connectionState=${pc.connectionState}`);
    });
    result.timings.offerToControlOpenMs = Math.round(now() - tOffer);
    step(`control open after ${result.timings.offerToControlOpenMs} ms`);
    try { result.maxMessageSize = pc.sctp ? pc.sctp.maxMessageSize : null; } catch { result.maxMessageSize = null; }
    if (result.maxMessageSize !== null && result.maxMessageSize !== undefined && result.maxMessageSize < Math.max(...sizes)) {
      fail(`pc.sctp.maxMessageSize is ${result.maxMessageSize}, smaller than the largest test message ${Math.max(...sizes)} (answer a=max-message-size: ${result.answerMaxMessageSize})`);
    }

    const command = async (cmd) => {
      control.dc.send(JSON.stringify(cmd));
      const raw = await control.next(t.control, `control reply to ${JSON.stringify(cmd)}`);
      if (typeof raw !== 'string') fail(`control reply to ${cmd.cmd} ${cmd.label} is not text: ${describe(raw)}`);
      let rep;
      try { rep = JSON.parse(raw); } catch { fail(`control reply is not JSON: ${raw.slice(0, 200)}`); }
      return rep;
    };

    // unknown control command
    {
      const rep = await command({ cmd: 'frobnicate' });
      if (rep.ok !== false || typeof rep.error !== 'string') fail(`unknown control command: expected {"ok":false,"error":...}, got ${JSON.stringify(rep)}`);
    }

    // ---- 2. open channels ----
    const tOpen = now();
    const chans = [];
    for (const type of types) {
      const label = `c-${type.name}`;
      const dc = pc.createDataChannel(label, Object.assign({ protocol: type.protocol }, type.init));
      chans.push(new Chan(dc, 'client', type));
    }
    for (const type of types) {
      const label = `s-${type.name}`;
      const cmd = Object.assign({ cmd: 'open', label, protocol: type.protocol }, type.expect);
      const pending = waitIncoming(label, t.channelOpen);
      pending.catch(() => {});
      const rep = await command(cmd);
      const expected = { ok: true, cmd: 'open', label };
      for (const k of Object.keys(expected)) {
        if (rep[k] !== expected[k]) fail(`control open ${label}: expected reply ${JSON.stringify(expected)}, got ${JSON.stringify(rep)}`);
      }
      chans.push(new Chan(await pending, 'server', type));
    }
    for (const ch of chans) await ch.waitOpen(t.channelOpen);
    result.timings.openChannelsMs = Math.round(now() - tOpen);
    step(`${chans.length} channels open after ${result.timings.openChannelsMs} ms`);

    // Client-side view of the parameters (server-opened ones come from the DCEP OPEN message).
    for (const ch of chans) {
      const dc = ch.dc;
      const e = ch.type.expect;
      const got = { protocol: dc.protocol, ordered: dc.ordered, maxRetransmits: dc.maxRetransmits ?? null, maxPacketLifeTime: dc.maxPacketLifeTime ?? null };
      const want = { protocol: ch.type.protocol, ordered: e.ordered, maxRetransmits: e.maxRetransmits, maxPacketLifeTime: e.maxPacketLifeTime };
      // libwebrtc reports 65535 for "unset" in some versions
      if (got.maxRetransmits === 65535 && want.maxRetransmits === null) got.maxRetransmits = null;
      if (got.maxPacketLifeTime === 65535 && want.maxPacketLifeTime === null) got.maxPacketLifeTime = null;
      for (const k of Object.keys(want)) {
        if (got[k] !== want[k]) fail(`channel ${ch.label} (opened by ${ch.openedBy}) as seen by the client: ${k} is ${JSON.stringify(got[k])}, expected ${JSON.stringify(want[k])}`);
      }
    }

    // ---- 3. echo every message on every channel, one at a time ----
    const tEcho = now();
    let seed = 1;
    for (const ch of chans) {
      const tc = now();
      const msgs = messagesFor(sizes, seed++);
      // Partially reliable channels may legitimately lose a message (a fragment dropped by a
      // full UDP socket buffer on a loaded machine is retransmitted at most 5 times / for 2 s,
      // then the whole message is abandoned). There a lost echo is retried (with the earlier
      // sends' late echoes recognised and skipped); a corrupted echo is still a failure.
      const partial = ch.type.expect.maxRetransmits !== null || ch.type.expect.maxPacketLifeTime !== null;
      const attempts = partial ? t.partialAttempts : 1;
      const stale = [];
      for (const msg of msgs) {
        for (let attempt = 1; ; attempt++) {
          await ch.waitBuffered(65536, t.buffered, msg.desc);
          try {
            ch.dc.send(msg.data);
          } catch (e) {
            fail(`send of ${msg.desc} on channel ${ch.label} threw: ${e && e.message}`);
          }
          const what = `echo of ${msg.desc} on channel ${ch.label}` + (attempt > 1 ? ` (attempt ${attempt} of ${attempts})` : '');
          const deadline = now() + echoTimeout(t, msg.size);
          let got;
          try {
            for (;;) {
              got = await ch.next(Math.max(1, Math.round(deadline - now())), what);
              if (stale.some((m) => sameData(m, got)) && !sameData(msg, got)) continue; // late echo of an earlier message
              break;
            }
          } catch (e) {
            if (attempt >= attempts) throw e;
            result.partialRetries = (result.partialRetries || 0) + 1;
            step(`${e.message}; partially reliable channel, sending again`);
            continue;
          }
          compareEcho(msg, got, ch.label);
          break;
        }
        if (partial) stale.push(msg);
        result.messages++;
        result.bytes += msg.size;
      }
      const info = { label: ch.label, openedBy: ch.openedBy, type: ch.type.name, messages: msgs.length, echoMs: Math.round(now() - tc) };
      result.channels.push(info);
      step(`channel ${ch.label}: ${msgs.length} echoes OK in ${info.echoMs} ms`);
    }
    result.timings.echoSequentialMs = Math.round(now() - tEcho);

    // Burst: on the reliable ordered channels, send everything back to back (flow-controlled by
    // bufferedAmount), then expect the echoes in order.
    if (burst) {
      const tBurst = now();
      for (const ch of chans.filter((c) => c.type.expect.ordered && c.type.expect.maxRetransmits === null && c.type.expect.maxPacketLifeTime === null)) {
        const msgs = messagesFor(sizes, 100 + seed++).concat(messagesFor(sizes, 200 + seed++));
        const receiving = (async () => {
          for (const msg of msgs) {
            const got = await ch.next(echoTimeout(t, msg.size) * 2, `burst echo of ${msg.desc} on channel ${ch.label}`);
            compareEcho(msg, got, ch.label);
          }
        })();
        receiving.catch(() => {});
        for (const msg of msgs) {
          await ch.waitBuffered(262144, t.buffered, `burst ${msg.desc}`);
          ch.dc.send(msg.data);
        }
        await receiving;
        result.messages += msgs.length;
        result.bytes += msgs.reduce((a, m) => a + m.size, 0);
        step(`channel ${ch.label}: burst of ${msgs.length} messages echoed in order`);
      }
      result.timings.burstMs = Math.round(now() - tBurst);
    }

    // ---- 4. server events ----
    const myEvents = async () => (await getEvents()).filter((e) => e && e.peer_id === peerId);
    const waitEvent = async (pred, what, ms) => {
      const deadline = now() + ms;
      let evs = [];
      for (;;) {
        evs = await myEvents();
        const hit = evs.find(pred);
        if (hit) return hit;
        if (now() > deadline) fail(`timed out after ${ms} ms waiting for server event ${what}; events for ${peerId}: ${JSON.stringify(evs)}`);
        await sleep(100);
      }
    };
    await waitEvent((e) => e.type === 'peer_connected', 'peer_connected', t.event);
    await waitEvent((e) => e.type === 'channel_open' && e.label === 'control', 'channel_open for control', t.event);
    const ctl = (await myEvents()).find((e) => e.type === 'channel_open' && e.label === 'control');
    if (ctl.opened_by !== 'client') fail(`channel_open for control: opened_by ${JSON.stringify(ctl.opened_by)}, expected "client"`);
    for (const ch of chans) {
      const ev = await waitEvent((e) => e.type === 'channel_open' && e.label === ch.label, `channel_open for ${ch.label}`, t.event);
      const want = Object.assign({ protocol: ch.type.protocol, opened_by: ch.openedBy }, ch.type.expect);
      for (const k of Object.keys(want)) {
        const got = ev[k] === undefined ? '<missing>' : ev[k];
        if (got !== want[k]) fail(`server event channel_open for ${ch.label}: ${k} is ${JSON.stringify(got)}, expected ${JSON.stringify(want[k])} (event ${JSON.stringify(ev)})`);
      }
    }
    const evs = await myEvents();
    const order = evs.map((e) => e.type);
    if (order.indexOf('peer_connected') > order.indexOf('channel_open')) fail(`peer_connected must come before the first channel_open: ${JSON.stringify(order)}`);
    step('server events OK');

    // ---- 5. close ----
    const tClose = now();
    for (const ch of chans.filter((c) => c.openedBy === 'client')) {
      ch.dc.close();
      await ch.waitClosed(t.close);
      await waitEvent((e) => e.type === 'channel_closed' && e.label === ch.label, `channel_closed for client-closed ${ch.label}`, t.event);
    }
    step('client-opened channels closed; server reported channel_closed');
    for (const ch of chans.filter((c) => c.openedBy === 'server')) {
      const rep = await command({ cmd: 'close', label: ch.label });
      if (rep.ok !== true || rep.cmd !== 'close' || rep.label !== ch.label) fail(`control close ${ch.label}: expected {"ok":true,"cmd":"close","label":"${ch.label}"}, got ${JSON.stringify(rep)}`);
      await ch.waitClosed(t.close);
      await waitEvent((e) => e.type === 'channel_closed' && e.label === ch.label, `channel_closed for server-closed ${ch.label}`, t.event);
    }
    step('server-opened channels closed via control; client saw close events');
    // Closing an unknown channel is an error reply, not a crash.
    {
      const rep = await command({ cmd: 'close', label: 'no-such-channel' });
      if (rep.ok !== false) fail(`control close of unknown label: expected ok:false, got ${JSON.stringify(rep)}`);
    }
    result.timings.closeChannelsMs = Math.round(now() - tClose);

    const tPc = now();
    pc.close();
    const pcEv = await waitEvent((e) => e.type === 'peer_closed', 'peer_closed after pc.close()', t.peerClosed);
    result.timings.pcCloseToPeerClosedMs = Math.round(now() - tPc);
    result.peerClosedReason = pcEv.reason;
    step(`peer_closed (${pcEv.reason}) after ${result.timings.pcCloseToPeerClosedMs} ms`);
    result.timings.totalMs = Math.round(now() - t0);
    return result;
  } finally {
    try { pc.close(); } catch { /* already closed */ }
  }
}
