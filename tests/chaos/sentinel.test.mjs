// Redis high availability with Sentinel: a master, a replica and a sentinel (redis-server
// --sentinel), two nodes on --redis sentinel://HOST:PORT/NAME. The master is SIGKILLed under
// traffic; Sentinel promotes the replica; the nodes ask the sentinel again and follow the new
// master within seconds: no crash, the room forms again on one node, new rooms are placed.
//
//   bash tests/chaos/run.sh tests/chaos/sentinel.test.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeAll } from '../client/lib/util.mjs';
import { freePort, redisCommand } from '../cluster/lib.mjs';
import { startRedis, startNode, until, makeClient, waitFor, uid, sleep, localRooms, nodeIds } from './lib.mjs';

const clients = [];
const nodes = [];
const procs = [];
after(async () => {
  await closeAll(clients);
  for (const n of nodes) if (!n.exitInfo()) await n.stop({ expectCleanExit: false }).catch(() => n.kill());
  for (const p of procs) await p.stop();
});

async function startSentinel(masterPort) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'peerrtc-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor m 127.0.0.1 ${masterPort} 1`,
    'sentinel down-after-milliseconds m 1000', 'sentinel failover-timeout m 5000', ''].join('\n'));
  const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  const exited = new Promise((res) => child.on('exit', res));
  await until(async () => (await redisCommand(port, 'PING')) === 'PONG', 10000, 'the sentinel');
  return { port, async stop() { if (child.exitCode === null) child.kill('SIGKILL'); await exited; } };
}

test('Sentinel failover under traffic: the nodes follow the new master, the room forms again, no crash', { timeout: 120000 }, async (t) => {
  // Replication writes an RDB file: in a directory of its own, not the working tree.
  const dir = mkdtempSync(join(tmpdir(), 'peerrtc-redis-'));
  const master = await startRedis(0, ['--dir', dir]);
  procs.push(master);
  const replica = await startRedis(0, ['--dir', dir, '--replicaof', '127.0.0.1', String(master.port)]);
  procs.push(replica);
  await until(async () => /master_link_status:up/.test(await replica.cmd('INFO', 'replication')), 10000, 'replication');
  const sentinel = await startSentinel(master.port);
  procs.push(sentinel);
  await until(async () => ((await redisCommand(sentinel.port, 'SENTINEL', 'replicas', 'm')) || []).length === 1, 15000,
    'the sentinel to know the replica');
  const url = `sentinel://127.0.0.1:${sentinel.port}/m`;
  const redisLike = { url };
  const [a, b] = await Promise.all(['a', 'b'].map((id) => startNode(redisLike, id)));
  nodes.push(a, b);
  await until(async () => (await nodeIds(b)).length === 2, 5000, 'b to see 2 nodes');
  const R = uid('R');
  const x = makeClient(a, R, 'x', { disconnectTimeout: 1000 });
  const y = makeClient(b, R, 'y', { disconnectTimeout: 1000 });
  clients.push(x, y);
  await x.connect();
  await y.connect();
  assert.ok(['a', 'b'].includes(await master.cmd('GET', `peerrtc:room:${R}`)));
  let sent = 0;
  const timer = setInterval(() => { if (x.status === 'connected') { try { x.sendMessage(`m${sent++}`); } catch { /* */ } } }, 20);
  try {
    await waitFor(() => y.rec.messages.length > 10, 10000, 'traffic');
    const t0 = Date.now();
    await master.stop();  // SIGKILL
    await until(async () => {
      const addr = await redisCommand(sentinel.port, 'SENTINEL', 'get-master-addr-by-name', 'm');
      return Array.isArray(addr) && Number(addr[1]) === replica.port;
    }, 30000, 'the sentinel to promote the replica');
    const msPromoted = Date.now() - t0;
    // The nodes follow: both registered on the new master, the room together on one node.
    await until(async () => JSON.stringify(await nodeIds(a)) === '["a","b"]', 15000, 'a on the new master');
    await waitFor(() => x.status === 'connected' && y.status === 'connected', 30000, 'x and y connected');
    await until(async () => {
      const [va, vb] = await Promise.all([localRooms(a), localRooms(b)]);
      const all = [...(va?.get(R) || []), ...(vb?.get(R) || [])];
      return JSON.stringify(all.sort()) === '["x","y"]' && !(va?.has(R) && vb?.has(R));
    }, 20000, 'x and y in R on one node');
    const n0 = y.rec.messages.length;
    await waitFor(() => y.rec.messages.length > n0 + 10, 10000, 'y hears x again');
    const holder = await replica.cmd('GET', `peerrtc:room:${R}`);
    assert.ok(['a', 'b'].includes(holder), `the lease is on the new master: ${holder}`);
    t.diagnostic(`master killed -> replica promoted: ${msPromoted} ms; -> x and y together on ${holder}: ${Date.now() - t0} ms`);
    // A new room is placed through either node.
    const z = makeClient(b, uid('Z'), 'z');
    clients.push(z);
    await z.connect();
  } finally {
    clearInterval(timer);
  }
  assert.equal(a.exitInfo(), null);
  assert.equal(b.exitInfo(), null);
  assert.match(a.output() + b.output(), /sentinel .* names 127\.0\.0\.1:\d+ as master 'm'/);
});
