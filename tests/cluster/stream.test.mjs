// --redis-stream and --history on a cluster (docs/protocol.md "Message stream"): every relayed
// message of a room lands in the Redis Stream peerrtc:stream:<room> (XADD MAXLEN ~ N), which a
// consumer group reads in order; the server API answers on a node that does not hold the room;
// and a room re-created on a live node after its node's SIGKILL gets its history back from the
// Stream. A real redis-server on a free port, real @roamhq/wrtc peers.
//
//   bash tests/cluster/run.sh tests/cluster/stream.test.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { SERVER_BIN, connectPeer, runToExit, stopAll } from '../server/lib.mjs';
import { startRedis, startNode, until, nodeIds } from './lib.mjs';

const KEY = 'cluster-api-key';
const AUTH = { authorization: `Bearer ${KEY}` };
const peers = [];
const nodes = [];
let redis;
let firstEpoch;
after(async () => {
  for (const p of peers) p.close();
  try {
    await stopAll(nodes);  // each node not killed on purpose exits 0 (the sanitizer build: no leak at exit)
  } finally {
    if (redis) await redis.stop();
  }
});

// XREADGROUP reply -> [{id, fields}]
function entries(reply) {
  if (!reply) return [];
  const out = [];
  for (const [, list] of reply) {
    for (const [id, kv] of list) {
      const fields = {};
      for (let i = 0; i < kv.length; i += 2) fields[kv[i]] = kv[i + 1];
      out.push({ id, fields });
    }
  }
  return out;
}

test('stream, API across nodes, and history that survives its node', { timeout: 120000 }, async (t) => {
  redis = await startRedis();
  const args = ['--redis-stream', '1000', '--history', '5', '--node-ttl-ms', '1000'];
  const [a, b] = await Promise.all(['a', 'b'].map((id) => startNode(redis, id, args, { env: { PEERRTC_API_KEY: KEY } })));
  nodes.push(a, b);
  for (const n of nodes) await until(async () => (await nodeIds(n)).length === 2, 5000, `${n.name} to see 2 nodes`);
  const room = `stream-${process.pid}`;
  const key = `peerrtc:stream:${room}`;
  await redis.cmd('XGROUP', 'CREATE', key, 'workers', '$', 'MKSTREAM');

  // alice through b (the room is placed on a: all nodes empty, ties break by id), bob on a.
  const alice = await connectPeer(b, room, 'alice');
  const bob = await connectPeer(a, room, 'bob');
  peers.push(alice, bob);
  assert.equal(await redis.cmd('GET', `peerrtc:room:${room}`), 'a');

  await t.test('the server API on b (which does not hold the room): broadcast, send, kick reach the peers on a', async () => {
    const r = await b.request('POST', '/api/broadcast', { room, data: 'from the backend' }, AUTH);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { delivered: 2 });
    await alice.waitFrame((f) => f.text === 'mserver\nfrom the backend');
    await bob.waitFrame((f) => f.text === 'mserver\nfrom the backend');
    const s = await b.request('POST', '/api/send', { room, peer_id: 'bob', data: 'only bob' }, AUTH);
    assert.equal(s.status, 200, s.text);
    await bob.waitFrame((f) => f.text === 'dserver\nonly bob');
    assert.equal((await b.request('POST', '/api/send', { room, peer_id: 'nobody', data: 'x' }, AUTH)).status, 404);
    // Auth is checked on the node asked, and again on the room's node (the key travels along).
    assert.equal((await b.request('POST', '/api/broadcast', { room, data: 'x' })).status, 401);
    assert.equal((await b.request('POST', '/api/broadcast', { room, data: 'x' }, { authorization: 'Bearer wrong' })).status, 403);
    // kick through b: dave (on a) is told and closed, the others see him leave.
    const dave = await connectPeer(a, room, 'dave');
    peers.push(dave);
    const k = await b.request('POST', '/api/kick', { room, peer_id: 'dave', reason: 'bye' }, AUTH);
    assert.equal(k.status, 200, k.text);
    assert.equal((await dave.waitEvent('kicked')).event.reason, 'bye');
    await dave.waitClosed();
    await alice.waitEvent('peer_left', (e) => e.peer_id === 'dave' && e.reason === 'kicked: bye');
    const rooms = await b.request('GET', '/api/rooms', undefined, AUTH);
    assert.deepEqual(rooms.json.rooms.find((x) => x.room === room).peers.sort(), ['alice', 'bob']);
  });

  await t.test('a consumer group reads every relayed message of the room, in order', async () => {
    const n = 50;
    for (let i = 0; i < n; i++) alice.sendText(`mmsg ${i}`);
    bob.sendBinary(Buffer.from([0x01, 0x41, 0x00, 0x7f]));
    bob.sendText('dalice\nprivate');
    await alice.waitFrame((f) => f.text === 'dbob\nprivate');
    await bob.waitFrame((f) => f.text === `malice\nmsg ${n - 1}`);
    let got = [];
    await until(async () => {
      got = got.concat(entries(await redis.cmd('XREADGROUP', 'GROUP', 'workers', 'w1', 'COUNT', '1000', 'STREAMS', key, '>')));
      return got.length >= n + 4;
    }, 10000, 'the stream to hold every message');
    const f = got.map((e) => e.fields);
    assert.deepEqual(f[0], { ...f[0], room, sender: 'server', data: 'from the backend', binary: '0' });
    assert.equal(f[1].sender, 'server');
    assert.equal(f[1].to, 'bob');
    for (let i = 0; i < n; i++) assert.deepEqual([f[2 + i].sender, f[2 + i].data, f[2 + i].binary], ['alice', `msg ${i}`, '0']);
    assert.deepEqual([f[n + 2].sender, f[n + 2].data, f[n + 2].binary], ['bob', 'A\u0000\u007f', '1']);
    assert.deepEqual([f[n + 3].sender, f[n + 3].data, f[n + 3].to], ['bob', 'private', 'alice']);
    assert.equal(got.length, n + 4);
    for (let i = 1; i < f.length; i++) assert.ok(Number(f[i].ts) >= Number(f[i - 1].ts), 'ts in order');
    assert.ok(Math.abs(Number(f[0].ts) - Date.now()) < 60000);
    // Protocol v2's stamp (docs/protocol.md "Cluster resume"): every entry has the room's seq,
    // consecutive (the kick and joins relay nothing), and a's epoch; no cmid from v1 peers.
    firstEpoch = f[0].epoch;
    assert.match(firstEpoch, /^[0-9a-f]{8}\.[0-9a-f]{8}$/);
    for (let i = 0; i < f.length; i++) {
      assert.equal(f[i].epoch, firstEpoch);
      assert.equal(Number(f[i].seq), Number(f[0].seq) + i, `entry ${i}'s seq`);
      assert.equal(f[i].cmid, undefined);
    }
    assert.equal(f[0].seq, '1');
  });

  await t.test('SIGKILL of the room\'s node: the room comes back on b with its history from the Stream', async () => {
    a.kill();
    await a.exited;
    // a's record lapses (--node-ttl-ms 1000); then the first offer through b frees the room of
    // the dead node and re-creates it on b: it must succeed at once (no retry that would hide a
    // 500 or 503 after the failover).
    await until(async () => (await nodeIds(b)).length === 1, 10000, 'b to see a gone');
    const carol = await connectPeer(b, room, 'carol');
    peers.push(carol);
    assert.equal(await redis.cmd('GET', `peerrtc:room:${room}`), 'b');
    const end = await carol.flush();
    const frames = carol.frames.slice(1, end);
    const h = frames[0] && frames[0].event;
    assert.equal(h && h.type, 'history', JSON.stringify(frames.slice(0, 3)));
    // The last five room-wide messages (the direct one is not history): msg 46..49 and the binary.
    assert.equal(h.count, 5);
    assert.deepEqual(frames.slice(1, 5).map((x) => x.text), [46, 47, 48, 49].map((i) => `malice\nmsg ${i}`));
    assert.deepEqual([...frames[5].bin], [0x01, 3, ...Buffer.from('bob'), 0x41, 0x00, 0x7f]);
  });

  await t.test('a v2 peer\'s entries carry its cmid, the seq and the epoch of the room on b (a new one)', async () => {
    const erin = await connectPeer(b, room, 'erin', { extra: { protocol: 2 } });
    peers.push(erin);
    const before = (await redis.cmd('XRANGE', key, '-', '+')).length;
    erin.sendText('M7 seven');
    erin.sendText('M9 nine');
    await erin.waitFrame((f) => f.text === 'A9:2' || f.text === 'A7:1,9:2', 10000, 'the acks');
    let got = [];
    await until(async () => {
      got = entries([[key, await redis.cmd('XRANGE', key, '-', '+')]]).slice(before);
      return got.length >= 2;
    }, 10000, 'the two entries');
    const f = got.map((e) => e.fields);
    assert.deepEqual(f.map((x) => [x.sender, x.data, x.cmid, x.seq]), [['erin', 'seven', '7', '1'], ['erin', 'nine', '9', '2']]);
    assert.equal(f[0].epoch, f[1].epoch);
    assert.match(f[0].epoch, /^[0-9a-f]{8}\.[0-9a-f]{8}$/);
    assert.notEqual(f[0].epoch, firstEpoch, 'b made the room anew');
  });

  await t.test('SIGTERM: the surviving node exits 0 (the sanitizer build: no leak of the stream or history at exit)', async () => {
    for (const p of peers) p.close();
    const r = await b.stop();  // throws unless it exits 0
    assert.equal(r.code, 0);
  });
});

test('MAXLEN ~ N keeps the Stream capped', { timeout: 60000 }, async () => {
  const r2 = await startRedis();
  try {
    const n = await startNode(r2, 'solo', ['--redis-stream', '10']);
    nodes.push(n);
    const room = `capped-${process.pid}`;
    const p = await connectPeer(n, room, 'p');
    const q = await connectPeer(n, room, 'q');
    peers.push(p, q);
    for (let i = 0; i < 600; i++) p.sendText(`m${i}`);
    await q.waitFrame((f) => f.text === 'mp\n599', 20000);
    const last = await until(async () => {
      const e = await r2.cmd('XREVRANGE', `peerrtc:stream:${room}`, '+', '-', 'COUNT', '1');
      return e && e.length && e[0][1][e[0][1].indexOf('data') + 1] === '599' ? e : null;
    }, 10000, 'the last message in the stream');
    assert.ok(last);
    const len = await r2.cmd('XLEN', `peerrtc:stream:${room}`);
    assert.ok(len >= 10 && len < 600, `XLEN ${len}`);
    p.close();
    q.close();
    assert.equal((await n.stop()).code, 0);  // before its Redis goes away
  } finally {
    await r2.stop();
  }
});

test('--redis-stream needs --redis, and a positive count', async () => {
  for (const [args, re] of [[['--redis-stream', '5'], /--redis-stream requires --redis/], [['--redis', 'redis://127.0.0.1:1', '--redis-stream', '0'], /redis-stream/]]) {
    const r = await runToExit(SERVER_BIN, ['--port', '0', ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
  }
});
