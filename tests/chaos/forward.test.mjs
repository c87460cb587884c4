// Forwarding that cannot wedge: 12 server-API calls for b's room arrive at a and 12 for a's room
// at b at once, first with both nodes well, then while b is paused (SIGSTOP, like a GC pause)
// for 2 s. Checked: a's /health never waits (it is answered within 500 ms while b is paused);
// every call gets an answer, and a call a node cannot forward at once gets a quick 503 `busy`
// (bounded outbound concurrency) instead of holding an HTTP thread; the calls that were
// forwarded to the paused node are answered once it resumes (its lease outlived the pause), and
// none is answered 404 or 502.
//
//   bash tests/chaos/run.sh tests/chaos/forward.test.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectPeer } from '../server/lib.mjs';
import { startRedis, startNode, until, nodeIds, uid, sleep, pause, resume, timedRequest, counters } from './lib.mjs';

const raw = [];
const nodes = [];
let redis;
after(async () => {
  for (const p of raw) p.close();
  for (const n of nodes) { resume(n); if (!n.exitInfo()) await n.stop({ expectCleanExit: false }).catch(() => n.kill()); }
  if (redis) await redis.stop();
});

const KEY = 'chaos-api-key';
const AUTH = { authorization: `Bearer ${KEY}` };
const N = 12;

function storm(node, room) {
  return Array.from({ length: N }, (_, i) => timedRequest(node, 'POST', '/api/broadcast', { room, data: `storm ${i}` }, AUTH, 20000));
}

function summary(rs) {
  const by = {};
  for (const r of rs) {
    const k = r.status === 503 ? `503 ${r.json?.code}` : String(r.status);
    by[k] = (by[k] || 0) + 1;
  }
  return `${JSON.stringify(by)}, slowest ${Math.max(...rs.map((r) => r.ms))} ms`;
}

test('cross-node calls storm, then with one node paused: /health never waits, busy is quick, nothing wedges', { timeout: 90000 }, async (t) => {
  redis = await startRedis();
  const [a, b] = await Promise.all(['a', 'b'].map((id) => startNode(redis, id, ['--api-key', KEY, '--node-ttl-ms', '3000'])));
  nodes.push(a, b);
  await until(async () => (await nodeIds(b)).length === 2, 5000, 'b to see 2 nodes');
  const RA = uid('RA');
  const RB = uid('RB');
  raw.push(await connectPeer(a, RA, 'pa'));
  assert.equal(await redis.cmd('GET', `peerrtc:room:${RA}`), 'a');
  await until(async () => (await a.request('GET', '/cluster/nodes', undefined, a.auth)).json.nodes.find((n) => n.id === 'a').peers >= 1, 5000, 'a\'s load');
  await sleep(1200);
  raw.push(await connectPeer(a, RB, 'pb'));
  assert.equal(await redis.cmd('GET', `peerrtc:room:${RB}`), 'b');

  // 1. Both well: 12 each way at once.
  const calm = await Promise.all([...storm(a, RB), ...storm(b, RA)]);
  t.diagnostic(`storm, both nodes well: ${summary(calm)}`);
  for (const r of calm) {
    assert.ok(r.status === 200 || (r.status === 503 && r.json.code === 'busy'), `${r.status} ${r.text}`);
    assert.ok(r.ms < 3000, `answered in ${r.ms} ms`);
  }
  assert.ok(calm.filter((r) => r.status === 200).length >= N, summary(calm));

  // 2. b paused for 2 s (less than its lease): the same storm, and a's /health timed meanwhile.
  pause(b);
  const tPause = Date.now();
  const atA = storm(a, RB);
  const atB = storm(b, RA);
  const health = [];
  while (Date.now() - tPause < 2000) {
    health.push(await timedRequest(a, 'GET', '/health', undefined, {}, 5000));
    await sleep(100);
  }
  resume(b);
  const ra = await Promise.all(atA);
  const rb = await Promise.all(atB);
  const hms = health.map((h) => h.ms);
  t.diagnostic(`b paused 2 s: a's /health ${Math.max(...hms)} ms at most over ${hms.length} calls; at a for b's room: ${summary(ra)}; at b for a's room: ${summary(rb)}`);
  for (const h of health) assert.equal(h.status, 200);
  assert.ok(Math.max(...hms) < 500, `a's /health took ${Math.max(...hms)} ms while b was paused`);
  const busy = ra.filter((r) => r.status === 503);
  for (const r of busy) {
    assert.equal(r.json.code, 'busy', r.text);
    assert.ok(r.ms < 500, `busy answered in ${r.ms} ms`);
  }
  for (const r of [...ra, ...rb]) {
    assert.ok(r.status === 200 || (r.status === 503 && r.json.code === 'busy'), `${r.status} ${r.text}`);
    assert.ok(r.ms < 2000 + 6000, `answered in ${r.ms} ms`);
  }
  assert.ok(ra.some((r) => r.status === 200), 'the forwarded calls are answered after b resumes');
  const c = await counters(a);
  assert.ok(c.forward.busy >= busy.length, JSON.stringify(c));
  assert.equal(c.forward.in_flight, 0);
  assert.equal(await redis.cmd('GET', `peerrtc:room:${RB}`), 'b', 'b kept its room');
});
