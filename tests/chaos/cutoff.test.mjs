// A node cut off from Redis while the rest of the cluster reaches it: node a talks to Redis
// through a TCP proxy that the test blackholes (connections stay open, nothing passes: what a
// partition looks like to TCP). a's Redis watchdog declares the connection lost, a steps down
// from its room once its lease can no longer be proven (ttl), the room's peers re-offer through b
// and the room forms on b; a never serves it at the same time for longer than ttl + 2 s. When
// the partition heals, a registers again.
//
//   bash tests/chaos/run.sh tests/chaos/cutoff.test.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import { closeAll } from '../client/lib/util.mjs';
import {
  startRedis, startNode, until, nodeIds, makeClient, waitFor, uid, localRooms, watchSplits, sequencer, checkDelivery,
  counters,
} from './lib.mjs';

const TTL = 3000;
const clients = [];
const nodes = [];
let redis;
let proxy;
after(async () => {
  await closeAll(clients);
  for (const n of nodes) if (!n.exitInfo()) await n.stop({ expectCleanExit: false }).catch(() => n.kill());
  if (proxy) proxy.close();
  if (redis) await redis.stop();
});

// A TCP proxy to `port` whose traffic can be held and let through again: while blocked nothing
// passes (what a partition looks like to TCP); what was held is delivered when it heals, as TCP's
// retransmissions would.
function startProxy(port) {
  const state = { blocked: false, pairs: new Set(), held: [] };
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    const pair = { client, upstream };
    state.pairs.add(pair);
    const pipe = (from, to) => from.on('data', (d) => {
      if (state.blocked) state.held.push(() => { if (!to.destroyed) to.write(d); });
      else to.write(d);
    });
    pipe(client, upstream);
    pipe(upstream, client);
    const end = () => { client.destroy(); upstream.destroy(); state.pairs.delete(pair); };
    client.on('error', end); upstream.on('error', end); client.on('close', end); upstream.on('close', end);
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res({
    port: server.address().port,
    block() { state.blocked = true; },
    unblock() { state.blocked = false; for (const f of state.held.splice(0)) f(); },
    close() { for (const p of state.pairs) { p.client.destroy(); p.upstream.destroy(); } server.close(); },
  })));
}

test('a node cut off from Redis steps down after the ttl; its room forms on a node that reaches Redis', { timeout: 90000 }, async (t) => {
  redis = await startRedis();
  proxy = await startProxy(redis.port);
  const a = await startNode({ url: `redis://127.0.0.1:${proxy.port}` }, 'a', ['--node-ttl-ms', String(TTL)]);
  const b = await startNode(redis, 'b', ['--node-ttl-ms', String(TTL)]);
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
  try {
    await waitFor(() => y.rec.messages.length > 20, 10000, 'traffic');
    proxy.block();
    const t0 = Date.now();
    await until(async () => { const v = await localRooms(a); return v && !v.has(R); }, TTL + 1000 + 2000, 'a to step down');
    const msDown = Date.now() - t0;
    assert.ok(msDown >= TTL - 1000 - 200, `not before its lease could run out (${msDown} ms)`);
    await until(async () => JSON.stringify((await localRooms(b))?.get(R)) === '["x","y"]', 20000, 'x and y in R on b');
    const msBack = Date.now() - t0;
    const n0 = y.rec.messages.length;
    await waitFor(() => y.rec.messages.length > n0 + 10, 10000, 'y hears x on b');
    t.diagnostic(`cut off -> a steps down: ${msDown} ms; -> x and y together on b: ${msBack} ms`);
    const c = await counters(a).catch(() => null);  // a's /cluster/nodes needs Redis: 503 now
    assert.equal(c, null);
    proxy.unblock();
    await until(async () => JSON.stringify(await nodeIds(a)) === '["a","b"]', 15000, 'a back in the cluster');
    const ca = await counters(a);
    assert.ok(ca.redis.watchdog_trips >= 1 && ca.stepped_down >= 1, JSON.stringify(ca));
  } finally {
    sx.stop();
    sy.stop();
  }
  const { longest } = await watch.stop();
  assert.ok(longest(R) <= TTL + 2000, `R served by two nodes for ${longest(R)} ms`);
  assert.deepEqual(checkDelivery([x, y], [sx, sy]), []);
  assert.equal(await redis.cmd('GET', `peerrtc:room:${R}`), 'b');
  assert.equal(a.exitInfo(), null);
});
