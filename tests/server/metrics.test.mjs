// GET /metrics on a live peerrtc-server with real @roamhq/wrtc peers: the Prometheus text
// parses, counters and gauges move with the traffic and agree with /stats, the relay-latency
// histogram holds one sample per relayed message and the handshake histogram one per join.
// Also: /dashboard/ is served without the examples.
//
//   node --test tests/server/metrics.test.mjs       (PEERRTC_SERVER=path overrides the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SERVER_BIN, connectPeer, startServer, uniqueId } from './lib.mjs';

let server;
const peers = [];

before(async () => {
  server = await startServer(SERVER_BIN, ['--port', '0', '--host', '127.0.0.1', '--no-examples', '--block-words', 'forbidden'],
    { name: 'server' });
});

after(async () => {
  for (const p of peers) p.close();
  if (server) {
    const r = await server.stop();
    assert.equal(r.code, 0, `server exit code after SIGTERM; output:\n${server.output().slice(-3000)}`);
  }
});

// The text format 0.0.4, strictly: {families: {name: {type, help}}, samples: Map(key -> value)}
// where key is `name{label="v",...}` as written.
function parseExposition(text) {
  const families = {};
  const samples = new Map();
  const sampleRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? (\S+)$/;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m;
    if ((m = /^# HELP (\S+) (.+)$/.exec(line))) {
      assert.ok(!families[m[1]], `HELP twice for ${m[1]}`);
      families[m[1]] = { help: m[2] };
    } else if ((m = /^# TYPE (\S+) (counter|gauge|histogram)$/.exec(line))) {
      assert.ok(families[m[1]], `TYPE before HELP: ${line}`);
      families[m[1]].type = m[2];
    } else if ((m = sampleRe.exec(line))) {
      const family = families[m[1]] ? m[1] : m[1].replace(/_(bucket|count|sum)$/, '');
      assert.ok(families[family] && families[family].type, `sample without TYPE: ${line}`);
      const value = m[3] === '+Inf' ? Infinity : Number(m[3]);
      assert.ok(!Number.isNaN(value), `bad value: ${line}`);
      samples.set(m[1] + (m[2] || ''), value);
    } else {
      assert.fail(`not the Prometheus text format: '${line}'`);
    }
  }
  return { families, samples };
}

async function scrape() {
  const r = await server.request('GET', '/metrics');
  assert.equal(r.status, 200, r.text);
  assert.match(r.contentType, /^text\/plain; version=0\.0\.4/);
  const p = parseExposition(r.text);
  p.get = (key) => {
    assert.ok(p.samples.has(key), `no sample ${key}`);
    return p.samples.get(key);
  };
  return p;
}

// [le, cumulative] of a histogram, checked: ascending bounds, monotonic counts, +Inf == _count.
function histogram(p, name) {
  const buckets = [];
  for (const [k, v] of p.samples) {
    const m = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(k);
    if (m) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), v]);
  }
  assert.ok(buckets.length >= 2, `${name}: buckets`);
  for (let i = 1; i < buckets.length; i++) {
    assert.ok(buckets[i - 1][0] < buckets[i][0], `${name}: le ascending`);
    assert.ok(buckets[i - 1][1] <= buckets[i][1], `${name}: cumulative counts monotonic`);
  }
  assert.equal(buckets.at(-1)[0], Infinity, `${name}: +Inf bucket last`);
  const count = p.get(`${name}_count`);
  assert.equal(buckets.at(-1)[1], count, `${name}: +Inf == _count`);
  return { buckets, count, sum: p.get(`${name}_sum`) };
}

// The smallest bucket bound holding fraction q of the samples.
const quantileBound = (h, q) => h.buckets.find(([, c]) => c >= q * h.count)[0];

async function waitFor(pred, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const p = await scrape();
    if (pred(p)) return p;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('/metrics on an idle server: every family typed and described, zero traffic', async () => {
  const head = await server.request('HEAD', '/metrics');
  assert.equal(head.status, 200);
  const post = await server.request('POST', '/metrics', {});
  assert.equal(post.status, 405);
  assert.ok(post.json && typeof post.json.error === 'string');

  const p = await scrape();
  for (const [name, f] of Object.entries(p.families)) {
    assert.match(name, /^peerrtc_/);
    assert.ok(f.type, `${name} has a TYPE`);
    assert.ok(f.help.length > 10, `${name} has a HELP sentence`);
    assert.equal(f.type === 'counter', name.endsWith('_total'), `${name}: _total iff counter`);
  }
  assert.equal(p.get('peerrtc_rooms'), 0);
  assert.equal(p.get('peerrtc_peers'), 0);
  assert.equal(p.get('peerrtc_messages_relayed_total'), 0);
  assert.equal(histogram(p, 'peerrtc_relay_latency_seconds').count, 0);
  assert.equal(histogram(p, 'peerrtc_handshake_duration_seconds').count, 0);
  assert.ok(p.get('peerrtc_uptime_seconds') >= 0);
});

test('counters, gauges and histograms move with real peers and agree with /stats', async () => {
  const room = uniqueId('metrics');
  const before0 = await scrape();
  const handshakes0 = histogram(before0, 'peerrtc_handshake_duration_seconds').count;

  const t0 = Date.now();
  const [a, b, c] = await Promise.all(['alice', 'bob', 'carol'].map((id) => connectPeer(server, room, id)));
  const connectMs = Date.now() - t0;
  peers.push(a, b, c);

  let p = await scrape();
  assert.equal(p.get('peerrtc_rooms'), 1);
  assert.equal(p.get('peerrtc_peers'), 3);
  const hs = histogram(p, 'peerrtc_handshake_duration_seconds');
  assert.equal(hs.count - handshakes0, 3, 'one handshake sample per peer joined');
  assert.ok(hs.sum > 0 && hs.sum < (3 * connectMs) / 1000 + 0.1, `handshake sum ${hs.sum}s for joins that took ${connectMs} ms`);

  // 30 messages from alice to the room, 5 direct ones to bob; one blocked word; one bad frame.
  const N = 30, D = 5;
  for (let i = 0; i < N; i++) a.sendText(`mmsg${i}`);
  for (let i = 0; i < D; i++) a.sendText(`dbob\ndirect${i}`);
  await b.waitFrame((f) => f.text === `malice\nmsg${N - 1}`, 10000, 'the last room message');
  await c.waitFrame((f) => f.text === `malice\nmsg${N - 1}`, 10000, 'the last room message');
  await b.waitFrame((f) => f.text === `dalice\ndirect${D - 1}`, 10000, 'the last direct message');
  a.sendText('mthis is forbidden');
  await a.waitEvent('error', (e) => e.code === 'filtered');
  a.sendText('x');  // no "m" / "d" kind prefix: a bad frame
  await a.waitEvent('error', (e) => e.code === 'bad_frame');
  await a.flush();  // one unknown_peer drop, and everything alice sent was handled

  p = await scrape();
  const d = (key) => p.get(key) - before0.get(key);
  assert.equal(d('peerrtc_messages_relayed_total'), N + D);
  assert.equal(d('peerrtc_deliveries_total'), 2 * N + D);
  assert.equal(d('peerrtc_messages_dropped_total{reason="filtered"}'), 1);
  assert.equal(d('peerrtc_messages_dropped_total{reason="bad_frame"}'), 1);
  assert.equal(d('peerrtc_messages_dropped_total{reason="unknown_peer"}'), 1);
  assert.ok(d('peerrtc_datagrams_received_total') > N && d('peerrtc_datagrams_sent_total') > N, 'datagrams counted');

  const relay = histogram(p, 'peerrtc_relay_latency_seconds');
  assert.equal(relay.count, p.get('peerrtc_messages_relayed_total'), 'one relay-latency sample per relayed message');
  assert.ok(relay.sum > 0, 'relay latency sum > 0');
  const p99 = quantileBound(relay, 0.99);
  assert.ok(p99 <= 0.1, `relay latency p99 <= ${p99}s: at most 100 ms inside the server on loopback`);
  console.log(`# relay latency: ${relay.count} messages, mean ${(relay.sum / relay.count * 1e6).toFixed(1)} us, ` +
    `p50 <= ${quantileBound(relay, 0.5) * 1e6} us, p99 <= ${p99 * 1e6} us; handshake mean ${(hs.sum / 3 * 1000).toFixed(1)} ms`);

  // The same numbers as /stats (the server is idle now).
  const s = (await server.request('GET', '/stats')).json;
  const again = await scrape();
  assert.equal(again.get('peerrtc_messages_relayed_total'), s.messages_relayed);
  assert.equal(again.get('peerrtc_deliveries_total'), s.deliveries);
  assert.equal(again.get('peerrtc_messages_dropped_total{reason="filtered"}'), s.dropped_filtered);
  assert.equal(again.get('peerrtc_wire_dropped_total{layer="udp"}'), s.dropped_datagrams);
  assert.equal(again.get('peerrtc_ice_tcp_connections_open'), s.ice_tcp.open);
  assert.equal(again.get('peerrtc_rooms'), s.rooms);
  assert.equal(again.get('peerrtc_peers'), s.peers);
  assert.equal(s.relay_latency.count, relay.count);
  let cumulative = 0;
  s.relay_latency.counts.forEach((n, i) => {
    cumulative += n;
    const le = i < s.relay_latency.le_us.length ? String(s.relay_latency.le_us[i] / 1e6) : '+Inf';
    const key = [...again.samples.keys()].find((k) => k.startsWith('peerrtc_relay_latency_seconds_bucket{le=') &&
      Number(k.slice(41, -2).replace('+Inf', 'Infinity')) === Number(le.replace('+Inf', 'Infinity')));
    assert.ok(key, `bucket le=${le}`);
    assert.equal(again.get(key), cumulative, `bucket le=${le} agrees with /stats`);
  });

  // Leaving: the gauges fall back.
  for (const x of [a, b, c]) x.close();
  await waitFor((q) => q.get('peerrtc_peers') === 0 && q.get('peerrtc_rooms') === 0, 15000, 'peers and rooms to reach 0');
});

test('/dashboard/ is served without the examples', async () => {
  for (const path of ['/dashboard/', '/dashboard/index.html', '/dashboard/dashboard.js']) {
    const r = await server.request('GET', path);
    assert.equal(r.status, 200, `${path}: ${r.text.slice(0, 200)}`);
  }
  const r = await server.request('GET', '/dashboard/');
  assert.match(r.contentType, /^text\/html/);
  assert.match(r.text, /PeerRTC/);
  const missing = await server.request('GET', '/dashboard/nope.js');
  assert.equal(missing.status, 404);
  assert.ok(missing.json && typeof missing.json.error === 'string');
});
