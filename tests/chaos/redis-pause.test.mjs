// Redis paused (SIGSTOP) for 10 s under load, with --redis-stream: the Redis client's watchdog
// declares the connection lost when the oldest command waits 3 s, what waits is bounded (counted,
// never a growing buffer), the holder steps down once its lease can no longer be proven (ttl),
// its members re-offer (503 while Redis is away) and meet again on one node once Redis is back.
// Checked: memory stays bounded; the room is never served by two nodes for longer than ttl + 2 s
// after Redis resumes; every message a peer got from another arrived at most once and in order.
//
//   bash tests/chaos/run.sh tests/chaos/redis-pause.test.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeAll } from '../client/lib/util.mjs';
import {
  startRedis, startNode, until, nodeIds, makeClient, waitFor, uid, sleep, localRooms, watchSplits, sequencer,
  checkDelivery, counters, rssMiB, timedRequest,
} from './lib.mjs';

const TTL = 3000;
const clients = [];
const nodes = [];
let redis;
after(async () => {
  await closeAll(clients);
  if (redis) redis.signal('SIGCONT');
  for (const n of nodes) if (!n.exitInfo()) await n.stop({ expectCleanExit: false }).catch(() => n.kill());
  if (redis) await redis.stop();
});

test('Redis paused 10 s under load: bounded memory, step-down after the ttl, one room again after', { timeout: 120000 }, async (t) => {
  redis = await startRedis();
  const [a, b] = await Promise.all(['a', 'b'].map((id) => startNode(redis, id, ['--redis-stream', '100000', '--node-ttl-ms', String(TTL)])));
  nodes.push(a, b);
  await until(async () => (await nodeIds(b)).length === 2, 5000, 'b to see 2 nodes');
  const R = uid('R');
  const x = makeClient(a, R, 'x', { disconnectTimeout: 1000 });
  const y = makeClient(b, R, 'y', { disconnectTimeout: 1000 });
  clients.push(x, y);
  await x.connect();
  await y.connect();
  assert.equal(await redis.cmd('GET', `peerrtc:room:${R}`), 'a');
  await waitFor(() => x.peers().includes('y'), 10000, 'presence');

  // Load: x sends 32 KiB every 10 ms (~3.2 MB/s, each message one XADD: unbounded, 10 s of it
  // would be 32 MB waiting for Redis); y sends sequence numbers.
  const pad = 'p'.repeat(32768);
  let bulk = 0;
  const loader = setInterval(() => { if (x.status === 'connected') { try { x.sendMessage(`b${bulk++}${pad}`); } catch { /* */ } } }, 10);
  const sy = sequencer(y);
  sy.start();
  const watch = watchSplits([a, b], [R]);
  let rss0, rssMax = 0;
  try {
    await waitFor(() => y.rec.messages.length > 50, 10000, 'traffic');
    rss0 = await rssMiB(a);
    redis.signal('SIGSTOP');
    const tStop = Date.now();
    const health = [];
    while (Date.now() - tStop < 10000) {
      rssMax = Math.max(rssMax, await rssMiB(a));
      health.push((await timedRequest(a, 'GET', '/health', undefined, {}, 5000)).ms);
      await sleep(250);
    }
    // a stepped down while Redis was away (its lease could not be proven past the ttl).
    const rooms = await localRooms(a);
    assert.ok(rooms && !rooms.has(R), 'a no longer serves R');
    redis.signal('SIGCONT');
    const tCont = Date.now();
    t.diagnostic(`Redis paused 10 s: a's RSS ${rss0.toFixed(1)} -> at most ${rssMax.toFixed(1)} MiB; a's /health at most ${Math.max(...health)} ms`);
    // Bound: the Redis client's 16 MiB of commands in flight, plus 8 MiB for the rest.
    assert.ok(rssMax - rss0 < 24, `a grew by ${(rssMax - rss0).toFixed(1)} MiB while Redis was paused`);
    assert.ok(Math.max(...health) < 1000, `a's /health took up to ${Math.max(...health)} ms`);
    // Back: x and y meet again on one node.
    await waitFor(() => x.status === 'connected' && y.status === 'connected', 30000, 'x and y reconnected');
    await until(async () => {
      const [va, vb] = await Promise.all([localRooms(a), localRooms(b)]);
      const all = [...(va?.get(R) || []), ...(vb?.get(R) || [])];
      return JSON.stringify(all.sort()) === '["x","y"]' && !(va?.has(R) && vb?.has(R));
    }, 15000, 'x and y in R on one node');
    const n0 = x.rec.messages.length;
    await waitFor(() => x.rec.messages.length > n0 + 10, 10000, 'x hears y again');
    t.diagnostic(`Redis resumed -> x and y together again: ${Date.now() - tCont} ms`);
    const c = await counters(a);
    t.diagnostic(`a's counters: ${JSON.stringify(c)}`);
    assert.ok(c.redis.watchdog_trips >= 1, 'the watchdog declared the paused Redis lost');
    assert.ok(c.stepped_down >= 1);
  } finally {
    clearInterval(loader);
    sy.stop();
  }
  const { longest } = await watch.stop();
  assert.ok(longest(R) <= TTL + 2000, `R served by two nodes for ${longest(R)} ms`);
  await sleep(300);
  assert.deepEqual(checkDelivery([x], [sy]), []);
  assert.equal(a.exitInfo(), null);
  assert.equal(b.exitInfo(), null);
});
