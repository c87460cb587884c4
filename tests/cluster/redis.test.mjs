// Redis going away and coming back under load (fenced leases: a step-down past the ttl), and the bad inputs of the cluster flags: an
// unreachable Redis at start (exit 1, clear message), a password (right, and wrong: exit 1),
// bad URLs and flags (exit 2), a node id
// taken by a live node, prefixes that keep two clusters apart, a clean leave on SIGTERM.
//
//   bash tests/cluster/run.sh tests/cluster/redis.test.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectPeer, runToExit, startServer, stopAll } from '../server/lib.mjs';
import { makeClient, waitFor, closeAll, uid } from '../client/lib/util.mjs';
import { SERVER_BIN, freePort, startRedis, startNode, until, roomsOf, nodeIds, sleep } from './lib.mjs';

const clients = [];
const raw = [];
const procs = [];
const redises = [];
after(async () => {
  await closeAll(clients);
  for (const p of raw) p.close();
  try {
    await stopAll(procs);  // each node not killed on purpose exits 0
  } finally {
    for (const r of redises) await r.stop();
  }
});

const count = (text, re) => (text.match(re) || []).length;
const NODE_TTL_MS = 3000;  // peerrtc-server's default --node-ttl-ms

// The fenced-lease rule (docs/architecture.md "Fenced leases"): a node serves a room only while
// it can prove its lease; Redis lost for longer than the ttl (3 s) means it steps down, its
// members are told `moved` and re-offer, and the room forms again once Redis is back (here:
// restarted empty), on one node.
test('Redis restarted under load: served while the lease holds, then a step-down, then one room again, no crash', { timeout: 90000 }, async (t) => {
  let redis = await startRedis();
  redises.push(redis);
  const port = redis.port;
  const [a, b] = await Promise.all(['a', 'b'].map((id) => startNode(redis, id)));
  procs.push(a, b);
  await until(async () => (await nodeIds(b)).length === 2, 5000, 'b to see 2 nodes');
  const room = uid('room');
  const x = makeClient(b, room, 'x');  // placed on a (both empty, smaller id), through b
  const y = makeClient(a, room, 'y');
  clients.push(x, y);
  await x.connect();
  await y.connect();
  assert.equal(await redis.cmd('GET', `peerrtc:room:${room}`), 'a');
  await waitFor(() => x.peers().includes('y') && y.peers().includes('x'), 10000, 'presence');

  // Load: x sends every 10 ms for the whole test.
  let sent = 0;
  const timer = setInterval(() => { try { x.sendMessage(`m${sent++}`); } catch { /* reconnecting */ } }, 10);
  try {
    await waitFor(() => y.rec.messages.length > 20, 10000, 'traffic');

    const tLoss = Date.now();
    await redis.stop();
    const atLoss = y.rec.messages.length;
    // Within the lease (its last renewal is at most a heartbeat old): still served.
    await sleep(500);
    assert.ok(y.rec.messages.length > atLoss + 10, `messages keep flowing within the lease (${atLoss} -> ${y.rec.messages.length})`);
    // A node that does not hold the room cannot know where it lives: 503, clearly.
    const r = await b.request('POST', '/offer', { room, peer_id: 'w', offer: { type: 'offer', sdp: 'v=0' } });
    assert.equal(r.status, 503, r.text);
    assert.match(r.json.error, /Redis is unavailable/);
    const nodesDown = await a.request('GET', '/cluster/nodes');
    assert.equal(nodesDown.status, 503);
    assert.match(nodesDown.json.error, /Redis/);
    // Past the ttl without a renewal, a steps down: x and y lose the room (they reconnect).
    await until(async () => (await roomsOf(a)).map[room] === undefined, 3000 + 1000 + 2000, 'a to step down from the room');
    const msStepDown = Date.now() - tLoss;
    assert.ok(msStepDown >= 1500, `not before the lease could run out (${msStepDown} ms)`);
    assert.match(a.output(), new RegExp(`steps down from room '${room}': its lease was not renewed`));
    assert.equal(a.exitInfo(), null);
    assert.equal(b.exitInfo(), null);

    // Redis comes back (empty: no persistence): the nodes register again, x and y meet again
    // on one node, and a new client through b lands in the same room.
    const tBack = Date.now();
    redis = await startRedis(port);
    redises.push(redis);
    await until(async () => JSON.stringify(await nodeIds(b)) === '["a","b"]', 10000, 'both nodes registered again');
    await waitFor(() => x.status === 'connected' && y.status === 'connected', 20000, 'x and y reconnected');
    const holder = await redis.cmd('GET', `peerrtc:room:${room}`);
    assert.ok(['a', 'b'].includes(holder), `the room has one holder: ${holder}`);
    t.diagnostic(`Redis lost -> step-down: ${msStepDown} ms; Redis back -> room formed again on ${holder}: ${Date.now() - tBack} ms`);
    const v = makeClient(b, room, 'v');
    clients.push(v);
    await v.connect();
    const n0 = v.rec.messages.length;
    await waitFor(() => v.rec.messages.length > n0 + 5, 10000, 'v hears the load');
    await until(async () => JSON.stringify((await roomsOf(b)).map[room]) === '["v","x","y"]', 5000, 'one room of v, x, y');
  } finally {
    clearInterval(timer);
  }
  // Logged once each, not per retry.
  for (const n of [a, b]) {
    assert.equal(count(n.output(), /redis: connection to redis:\/\/127\.0\.0\.1:\d+\/0 lost/g), 1, `${n.name}: one loss line`);
    assert.equal(count(n.output(), /redis: reconnected to/g), 1, `${n.name}: one reconnect line`);
    assert.ok(count(n.output(), /cannot refresh its record/g) <= 1, `${n.name}: at most one registration warning`);
  }
  // A clean stop leaves the cluster at once (record deleted, leases released).
  const holder = await redis.cmd('GET', `peerrtc:room:${room}`);
  const stopped = await a.stop();
  assert.equal(stopped.code, 0);
  assert.equal(await redis.cmd('GET', 'peerrtc:node:a'), null);
  if (holder === 'a') assert.equal(await redis.cmd('GET', `peerrtc:room:${room}`), null);
  assert.deepEqual(await nodeIds(b), ['b']);
  assert.equal((await b.stop()).code, 0);
});

test('bad input: unreachable Redis at start, bad URLs and flags, a taken node id, separate prefixes', { timeout: 60000 }, async () => {
  const dead = await freePort();
  const t0 = Date.now();
  const r = await runToExit(SERVER_BIN, ['--port', '0', '--no-examples', '--redis', `redis://127.0.0.1:${dead}`]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`cannot connect to redis://127\\.0\\.0\\.1:${dead}/0: Connection refused`));
  assert.ok(Date.now() - t0 < 5000, 'fails fast');
  const env = await runToExit(SERVER_BIN, ['--port', '0', '--no-examples'], { env: { PEERRTC_REDIS: `redis://127.0.0.1:${dead}/2` } });
  assert.equal(env.code, 1);
  assert.match(env.stderr, /cannot connect to redis:\/\/127\.0\.0\.1:\d+\/2/);

  for (const [args, re] of [
    [['--redis', 'localhost:6379'], /must start with redis:\/\//],
    [['--redis', 'redis://h:99999'], /not 1\.\.65535/],
    [['--redis', 'rediss://h'], /TLS/],
    [['--node-id', 'x'], /--node-id requires --redis/],
    [['--redis', 'redis://h', '--node-id', 'a b'], /letters, digits/],
    [['--redis', 'redis://h', '--advertise-url', 'ftp://x'], /not an http:\/\/HOST:PORT URL/],
    [['--redis', 'redis://h', '--node-ttl-ms', '10'], /node-ttl-ms/],
  ]) {
    const e = await runToExit(SERVER_BIN, ['--port', '0', ...args]);
    assert.equal(e.code, 2, `${args.join(' ')}: ${e.stderr}`);
    assert.match(e.stderr, re, args.join(' '));
  }

  // Not in a cluster: GET /cluster/nodes is a 404 JSON error.
  const single = await startServer(SERVER_BIN, ['--port', '0', '--no-examples'], { name: 'single' });
  procs.push(single);
  const nf = await single.request('GET', '/cluster/nodes');
  assert.equal(nf.status, 404);
  assert.match(nf.json.error, /not in a cluster/);
  assert.equal((await single.stop()).code, 0);

  // A password: the right one works, a wrong one is a clear exit 1.
  const locked = await startRedis(0, ['--requirepass', 's3cret']);
  redises.push(locked);
  const withPw = await startNode({ url: `redis://:s3cret@127.0.0.1:${locked.port}/1` }, 'pw');
  procs.push(withPw);
  assert.deepEqual(await nodeIds(withPw), ['pw']);
  assert.equal((await withPw.stop()).code, 0);
  const wrong = await runToExit(SERVER_BIN, ['--port', '0', '--no-examples', '--redis', `redis://:nope@127.0.0.1:${locked.port}`]);
  assert.equal(wrong.code, 1, wrong.stderr);
  assert.match(wrong.stderr, /refused the password: WRONGPASS/);
  assert.doesNotMatch(wrong.stderr + wrong.stdout, /nope/, 'the password is never printed');

  const redis = await startRedis();
  redises.push(redis);
  const n1 = await startNode(redis, 'same');
  procs.push(n1);
  const taken = await runToExit(SERVER_BIN, ['--port', '0', '--no-examples', '--redis', redis.url, '--node-id', 'same']);
  assert.equal(taken.code, 1, taken.stderr);
  assert.match(taken.stderr, /node id same is already taken by a live node/);
  // Another prefix is another cluster.
  const other = await startNode(redis, 'other', ['--redis-prefix', 'app2:', '--advertise-url', 'http://127.0.0.1:1']);
  procs.push(other);
  assert.deepEqual(await nodeIds(other), ['other']);
  assert.deepEqual(await nodeIds(n1), ['same']);
  const rec = JSON.parse(await redis.cmd('GET', 'app2:node:other'));
  assert.equal(rec.url, 'http://127.0.0.1:1');
  assert.equal(rec.udp, other.udp);
  // The record expires (PTTL > 0: -1 would be no expiry, -2 no key) within the default
  // --node-ttl-ms of 3000 ms.
  const pttl = Number(await redis.cmd('PTTL', 'app2:node:other'));
  assert.ok(pttl > 0 && pttl <= NODE_TTL_MS, `PTTL of the node record: ${pttl}`);
  for (const n of [n1, other]) assert.equal((await n.stop()).code, 0);
});
