// A node cut off from Redis while the rest of the cluster reaches it. Node a runs in its own
// network namespace (tests/network/lib/netns.mjs) and reaches Redis, node b and the peers over a
// veth pair; the test cuts a's Redis traffic with iptables DROP rules inside the namespace (a
// silent cut: no FIN, no RST; the peers and b still reach a). a's Redis watchdog declares the
// connection lost, a steps down from its room once its lease can no longer be proven (ttl), the
// room's peers re-offer through b and the room forms on b; a never serves it at the same time for
// longer than ttl + 2 s. When the cut heals, a registers again and the room stays on b alone.
// The namespace (veth, rules) is removed at the end. Needs root.
//
//   bash tests/chaos/run.sh tests/chaos/cutoff.test.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeAll } from '../client/lib/util.mjs';
import { SERVER_BIN } from '../server/lib.mjs';
import { startProcess } from '../lib/server.mjs';
import { createNetns, listNamespaces } from '../network/lib/netns.mjs';
import {
  startRedis, until, nodeIds, makeClient, waitFor, uid, localRooms, watchSplits, sequencer, checkDelivery,
  counters, CLUSTER_SECRET, sleep,
} from './lib.mjs';

const TTL = 3000;
const clients = [];
const nodes = [];
let redis;
let ns;
after(async () => {
  await closeAll(clients);
  for (const n of nodes) if (!n.exitInfo()) await n.stop({ expectCleanExit: false }).catch(() => n.kill());
  if (ns) await ns.destroy();
  if (redis) await redis.stop();
});

const nodeArgs = (host, redisUrl, id) => ['--host', host, '--port', '0', '--no-examples', '--redis', redisUrl,
  '--node-id', id, '--node-ttl-ms', String(TTL)];
const env = { PEERRTC_CLUSTER_SECRET: CLUSTER_SECRET };

test('a node cut off from Redis (netns, iptables DROP) steps down after the ttl; its room forms on a node that reaches Redis', { timeout: 60000 }, async (t) => {
  ns = await createNetns();
  redis = await startRedis(undefined, ['--bind', '127.0.0.1', ns.rootIp, '--protected-mode', 'no']);
  const redisUrl = `redis://${ns.rootIp}:${redis.port}`;
  // a inside the namespace (ip netns exec execs the server: same pid), b outside on the veth's root side.
  const a = await startProcess('ip', ['netns', 'exec', ns.name, SERVER_BIN, ...nodeArgs(ns.nsIp, redisUrl, 'a')],
    { name: 'node-a', env, httpHost: ns.nsIp });
  const b = await startProcess(SERVER_BIN, nodeArgs(ns.rootIp, redisUrl, 'b'), { name: 'node-b', env, httpHost: ns.rootIp });
  nodes.push(a, b);
  await until(async () => (await nodeIds(b)).length === 2, 5000, 'b to see 2 nodes');
  const R = uid('R');
  const x = makeClient(b, R, 'x', { disconnectTimeout: 1000 });  // placed on a, through b
  const y = makeClient(b, R, 'y', { disconnectTimeout: 1000 });
  clients.push(x, y);
  await x.connect();
  await y.connect();
  assert.equal(await redis.cmd('GET', `peerrtc:room:${R}`), 'a');
  await waitFor(() => x.peers().includes('y'), 10000, 'presence');
  const sx = sequencer(x);
  const sy = sequencer(y);
  sx.start();
  sy.start();
  const watch = watchSplits([a, b], [R]);
  // Only a's traffic with Redis is dropped, both ways: a silent cut.
  const rules = [['INPUT', '-p', 'tcp', '-s', ns.rootIp, '--sport', String(redis.port), '-j', 'DROP'],
    ['OUTPUT', '-p', 'tcp', '-d', ns.rootIp, '--dport', String(redis.port), '-j', 'DROP']];
  try {
    await waitFor(() => y.rec.messages.length > 20, 10000, 'traffic');
    for (const r of rules) ns.iptables(['-I', ...r]);
    const t0 = Date.now();
    // a proves its lease for a ttl after its last renewal (<= ttl/3 before the cut): it steps
    // down within ttl (+ the local thread's 100-ms tick and the probe's 1-s margin).
    await until(async () => { const v = await localRooms(a); return v && !v.has(R); }, TTL + 1000, 'a to step down');
    const msDown = Date.now() - t0;
    assert.ok(msDown >= TTL - TTL / 3 - 200, `not before its lease could run out (${msDown} ms)`);
    await until(async () => JSON.stringify((await localRooms(b))?.get(R)) === '["x","y"]', 20000, 'x and y in R on b');
    const msBack = Date.now() - t0;
    const n0 = y.rec.messages.length;
    await waitFor(() => y.rec.messages.length > n0 + 10, 10000, 'y hears x on b');
    t.diagnostic(`cut off (iptables DROP) -> a steps down: ${msDown} ms; -> x and y together on b: ${msBack} ms`);
    const c = await counters(a).catch(() => null);  // a's /cluster/nodes needs Redis: 503 now
    assert.equal(c, null);
    for (const r of rules) ns.iptables(['-D', ...r]);
    const t1 = Date.now();
    await until(async () => JSON.stringify(await nodeIds(a)) === '["a","b"]', 15000, 'a back in the cluster');
    t.diagnostic(`healed -> a registered again: ${Date.now() - t1} ms`);
    const ca = await counters(a);
    assert.ok(ca.redis.watchdog_trips >= 1 && ca.stepped_down >= 1, JSON.stringify(ca));
    // No split after the heal: a stays out of R while traffic goes on (one more ttl).
    const n1 = y.rec.messages.length;
    await waitFor(() => y.rec.messages.length > n1 + 10, 10000, 'traffic after the heal');
    await sleep(TTL);  // an observation span: a would have claimed R again within one ttl
    assert.equal((await localRooms(a))?.has(R), false, 'a does not serve R after the heal');
  } finally {
    sx.stop();
    sy.stop();
  }
  const { longest } = await watch.stop();
  assert.ok(longest(R) <= TTL + 2000, `R served by two nodes for ${longest(R)} ms`);
  assert.deepEqual(checkDelivery([x, y], [sx, sy]), []);
  assert.equal(await redis.cmd('GET', `peerrtc:room:${R}`), 'b');
  assert.equal(a.exitInfo(), null);
  await closeAll(clients.splice(0));
  for (const n of nodes.splice(0)) await n.stop({ expectCleanExit: false }).catch(() => n.kill());
  await ns.destroy();
  assert.ok(!listNamespaces().includes(ns.name), 'the namespace is gone');
  ns = null;
});
