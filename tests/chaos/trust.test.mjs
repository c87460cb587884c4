// Trust between nodes, and fencing: a request claiming to come from another node is refused
// (401 bad_forward_auth) unless its HMAC over method, path, body digest and time checks out with
// the cluster secret, and before any Redis work (no lease appears); a signed request replayed is
// refused (401 replayed_forward, counted in /stats and /metrics); an offer's join token is
// checked before routing (no lease appears for a refused one); a forged fencing token in Redis
// makes the holder's stream appends refused and the holder step down.
//
//   bash tests/chaos/run.sh tests/chaos/trust.test.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { SERVER_BIN, connectPeer, makeOfferSdp, runToExit } from '../server/lib.mjs';
import { startRedis, startNode, until, nodeIds, forwardHeaders, uid, sleep, counters, timedRequest } from './lib.mjs';

const raw = [];
const nodes = [];
const redises = [];
after(async () => {
  for (const p of raw) p.close();
  for (const n of nodes) if (!n.exitInfo()) await n.stop({ expectCleanExit: false }).catch(() => n.kill());
  for (const r of redises) await r.stop();
});

const KEY = 'chaos-api-key';
const AUTH = { authorization: `Bearer ${KEY}` };

test('forged forwarding headers: 401 before any Redis work; join tokens checked before routing', { timeout: 60000 }, async () => {
  const redis = await startRedis();
  redises.push(redis);
  const flags = ['--api-key', KEY, '--join-secret', 'chaos-join-secret'];
  const [a, b] = await Promise.all(['a', 'b'].map((id) => startNode(redis, id, flags)));
  nodes.push(a, b);
  await until(async () => (await nodeIds(b)).length === 2, 5000, 'b to see 2 nodes');
  const sdp = await makeOfferSdp();
  const room = uid('F');
  // A valid join token: what is refused below is the forwarding header alone.
  const jt = (await a.request('POST', '/api/tokens', { room, peer_id: 'mallory' }, AUTH)).json.token;
  const body = JSON.stringify({ room, peer_id: 'mallory', offer: { type: 'offer', sdp }, join_token: jt });
  const lease = () => redis.cmd('GET', `peerrtc:room:${room}`);

  const forged = [
    ['the header alone', { 'X-PeerRTC-Forwarded': 'a' }, /missing X-PeerRTC-Signature/],
    ['another secret', forwardHeaders('a', 'POST', '/offer', body, { secret: 'not-the-cluster-secret!' }), /bad signature/],
    ['an old signature', forwardHeaders('a', 'POST', '/offer', body, { t: Date.now() - 120000 }), /from this node's clock/],
    ['another body', forwardHeaders('a', 'POST', '/offer', body.replace('mallory', 'eve')), /bad signature/],
    ['another path', forwardHeaders('a', 'POST', '/leave', body), /bad signature/],
    ['garbage', { 'X-PeerRTC-Forwarded': 'a', 'X-PeerRTC-Signature': `v2 t=abc n=${'0'.repeat(32)} sig=00` }, /bad signature time/],
    ['a v1 signature (no nonce)', { 'X-PeerRTC-Forwarded': 'a', 'X-PeerRTC-Signature': `v1 t=${Date.now()} sig=00` }, /v1 \(no nonce\) is no longer accepted/],
  ];
  for (const [what, headers, re] of forged) {
    const r = await b.request('POST', '/offer', body, headers);
    assert.equal(r.status, 401, `${what}: ${r.text}`);
    assert.equal(r.json.code, 'bad_forward_auth', what);
    assert.match(r.json.error, re, what);
  }
  const rooms = await b.request('GET', '/rooms', undefined, { 'X-PeerRTC-Forwarded': 'a' });
  assert.equal(rooms.status, 401, rooms.text);
  const api = await b.request('POST', '/api/broadcast', { room, data: 'x' }, { ...AUTH, 'X-PeerRTC-Forwarded': 'a' });
  assert.equal(api.status, 401, api.text);
  assert.equal(await lease(), null, 'no lease for a refused request');
  assert.ok((await counters(b)).forged_refused >= forged.length + 2);
  assert.match(b.output(), /refused POST \/offer from 127\.0\.0\.1 claiming to be node 'a'/);
  // A signed one is a node's: GET /rooms answers with b's own rooms.
  const captured = forwardHeaders('a', 'GET', '/rooms');
  const signed = await b.request('GET', '/rooms', undefined, captured);
  assert.equal(signed.status, 200, signed.text);
  // The same signed request again (captured on the wire, replayed within its 30-s window): refused.
  for (let i = 0; i < 2; i++) {
    const replay = await b.request('GET', '/rooms', undefined, captured);
    assert.equal(replay.status, 401, replay.text);
    assert.equal(replay.json.code, 'replayed_forward', replay.text);
  }
  // Counted, in /stats and /metrics.
  const stats = await b.request('GET', '/stats', undefined, b.auth);
  assert.equal(stats.json.cluster?.replayed_refused, 2, stats.text);
  const metrics = await b.request('GET', '/metrics', undefined, b.auth);
  assert.match(metrics.text, /peerrtc_cluster_forward_refused_total\{reason="replayed"\} 2\b/);
  assert.match(metrics.text, /peerrtc_cluster_forward_refused_total\{reason="forged"\} [1-9]/);
  // A fresh signature for the same request (a new nonce) is a new request.
  assert.equal((await b.request('GET', '/rooms', undefined, forwardHeaders('a', 'GET', '/rooms'))).status, 200);

  // Join tokens: checked on the node the offer reaches, before placement.
  for (const [extra, status, re] of [[{}, 401, /join token is required/], [{ join_token: 'x.y.z' }, 403, /./]]) {
    const r = await b.request('POST', '/offer', { room, peer_id: 'mallory', offer: { type: 'offer', sdp }, ...extra });
    assert.equal(r.status, status, r.text);
    assert.match(r.json.error, re);
  }
  // A bad body is refused before placement too.
  const bad = await b.request('POST', '/offer', { room, peer_id: 'mallory', offer: { type: 'answer', sdp } });
  assert.equal(bad.status, 400, bad.text);
  assert.match(bad.json.error, /offer\.type/);
  assert.equal(await lease(), null, 'no lease for refused offers');
  // And the right token works, through either node.
  const tok = await a.request('POST', '/api/tokens', { room, peer_id: 'alice' }, AUTH);
  assert.equal(tok.status, 200, tok.text);
  raw.push(await connectPeer(b, room, 'alice', { extra: { join_token: tok.json.token } }));
  assert.ok(['a', 'b'].includes(await lease()));
});

test('--redis needs a cluster secret of at least 16 bytes (exit 2, clear error)', { timeout: 30000 }, async () => {
  for (const secret of ['', 'too-short']) {
    const r = await runToExit(SERVER_BIN, ['--port', '0', '--redis', 'redis://127.0.0.1:1'], { env: { PEERRTC_CLUSTER_SECRET: secret } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--redis needs --cluster-secret S \(or PEERRTC_CLUSTER_SECRET\) of at least 16 bytes/);
  }
});

test('a forged fencing token: the holder\'s stream appends are refused and it steps down; its peers are told `moved`', { timeout: 60000 }, async (t) => {
  const redis = await startRedis();
  redises.push(redis);
  const a = await startNode(redis, 'a', ['--redis-stream', '1000']);
  nodes.push(a);
  const room = uid('S');
  const x = await connectPeer(a, room, 'x');
  const y = await connectPeer(a, room, 'y');
  raw.push(x, y);
  await x.waitEvent('peer_joined', (e) => e.peer_id === 'y');
  for (let i = 0; i < 5; i++) x.sendText(`mbefore ${i}`);
  const xlen = () => redis.cmd('XLEN', `peerrtc:stream:${room}`);
  await until(async () => (await xlen()) === 5, 5000, 'five entries in the Stream');
  const ttl = Number(await redis.cmd('PTTL', `peerrtc:stream:${room}`));
  assert.ok(ttl > 0 && ttl <= 86400 * 1000, `the Stream expires (--redis-stream-ttl, default 1 day): ${ttl}`);
  const real = await redis.cmd('GET', `peerrtc:fence:${room}`);
  // Someone else's token in Redis (what a newer holder would have written).
  await redis.cmd('SET', `peerrtc:fence:${room}`, String(BigInt(real) + 1000n), 'PX', '60000');
  const t0 = Date.now();
  for (let i = 0; i < 5; i++) x.sendText(`mafter ${i}`);
  const moved = await y.waitEvent('moved', () => true, 5000);
  t.diagnostic(`forged token -> moved: ${Date.now() - t0} ms`);
  assert.match(moved.event.reason, /another node|fencing token/);
  await sleep(300);
  assert.equal(await xlen(), 5, 'no append under a token that is not the room\'s');
  const c = await counters(a);
  assert.ok(c.stream.refused_stale >= 1, JSON.stringify(c));
  assert.ok(c.stepped_down >= 1, JSON.stringify(c));
  assert.equal((await timedRequest(a, 'GET', '/health')).status, 200);
});
