// Three peerrtc-server nodes on one real redis-server (--redis): a room lives on one node and
// any node answers for it (forwarding), /rooms and /cluster/nodes agree everywhere, new rooms go
// to the least-loaded node, a forwarded request for another node's room gets 409, and SIGKILL of
// a room's node frees the room: its peers' JS clients reconnect through live nodes and talk again.
//
//   bash tests/cluster/run.sh tests/cluster/cluster.test.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectPeer, makeOfferSdp, stopAll } from '../server/lib.mjs';
import { makeClient, waitFor, closeAll, uid } from '../client/lib/util.mjs';
import { startRedis, startNode, until, roomsOf, nodeIds, forwardHeaders } from './lib.mjs';

const clients = [];
const raw = [];
const nodes = [];
let redis;
after(async () => {
  await closeAll(clients);
  for (const p of raw) p.close();
  try {
    await stopAll(nodes);  // each node not killed on purpose exits 0
  } finally {
    if (redis) await redis.stop();
  }
});

const lease = (room) => redis.cmd('GET', `peerrtc:room:${room}`);

test('three nodes: one room across them, cluster-wide views, placement, 409, then SIGKILL of the room\'s node', { timeout: 120000 }, async (t) => {
  redis = await startRedis();
  // Ids a < b < c: with every node empty the first room goes to a (ties break by id).
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => startNode(redis, id)));
  nodes.push(a, b, c);
  for (const n of nodes) await until(async () => (await nodeIds(n)).length === 3, 5000, `${n.name} to see 3 nodes`);

  const room = uid('room');
  const opts = { disconnectTimeout: 1000 };
  const viaB = makeClient(b, room, 'p-b', opts);
  const viaC = makeClient(c, room, 'p-c', opts);
  const viaA = makeClient(a, room, 'p-a', opts);
  clients.push(viaB, viaC, viaA);

  await t.test('peers that offer to different nodes for one room hear each other', async () => {
    const t0 = Date.now();
    await viaB.connect();  // placed on a, through b
    const msForwarded = Date.now() - t0;
    assert.equal(await lease(room), 'a', 'the room lives on node a');
    await viaC.connect();
    await viaA.connect();
    await waitFor(() => [viaA, viaB, viaC].every((p) => p.peers().length === 2), 10000, 'everyone sees two others');
    viaB.sendMessage('hello from b');
    viaC.sendMessage('hello from c');
    await waitFor(() => viaA.rec.messages.length === 2 && viaB.rec.messages.length === 1 && viaC.rec.messages.length === 1,
      10000, 'messages across nodes');
    assert.deepEqual(viaA.rec.messages.map((m) => m.message).sort(), ['hello from b', 'hello from c']);
    assert.equal(viaC.rec.messages[0].from, 'p-b');
    t.diagnostic(`connect through a node that does not hold the room: ${msForwarded} ms`);
  });

  await t.test('GET /rooms, /rooms/peers and /cluster/nodes agree on every node', async () => {
    const want = ['p-a', 'p-b', 'p-c'];
    for (const n of [a, b, c]) {
      const { map, json } = await roomsOf(n);
      assert.deepEqual(map[room], want, `${n.name}: /rooms`);
      assert.equal(json.rooms.filter((r) => r.room === room).length, 1, `${n.name}: listed once`);
      assert.equal(json.rooms.find((r) => r.room === room).node, 'a');
      const p = await n.request('GET', `/rooms/peers?room=${encodeURIComponent(room)}`);
      assert.equal(p.status, 200, p.text);
      assert.deepEqual([...p.json.peers].sort(), want, `${n.name}: /rooms/peers`);
      const nodesJson = (await n.request('GET', '/cluster/nodes')).json;
      assert.deepEqual(nodesJson.nodes.map((x) => x.id), ['a', 'b', 'c']);
      assert.deepEqual(nodesJson.nodes.filter((x) => x.self).map((x) => x.id), [n.id]);
      for (const x of nodesJson.nodes) {
        assert.match(x.url, /^http:\/\/127\.0\.0\.1:\d+$/);
        assert.ok(Number.isInteger(x.udp) && x.udp > 0);
      }
    }
    // A room nobody has: 404 from any node.
    const none = await c.request('GET', '/rooms/peers?room=nobody-here');
    assert.equal(none.status, 404);
    assert.match(none.json.error, /no room/);
  });

  await t.test('a forwarded request for a room another node holds gets 409; a local-only GET /rooms is local', async () => {
    const sdp = await makeOfferSdp();
    const body = { room, peer_id: 'intruder', offer: { type: 'offer', sdp } };
    const r = await b.request('POST', '/offer', body, forwardHeaders('c', 'POST', '/offer', JSON.stringify(body)));
    assert.equal(r.status, 409, r.text);
    assert.match(r.json.error, /held by node a/);
    assert.equal(r.json.code, 'wrong_node');
    assert.equal(r.json.node, 'a');
    const local = await b.request('GET', '/rooms', undefined, forwardHeaders('c', 'GET', '/rooms'));
    assert.equal(local.status, 200);
    assert.ok(!local.json.rooms.some((x) => x.room === room), 'b has none of the room itself');
    // candidate and leave for a room through a non-holder reach the holder (its errors come back).
    const bad = await c.request('POST', '/leave', { room, peer_id: 'p-b', token: 'wrong' });
    assert.equal(bad.status, 403, bad.text);
    assert.equal(await lease(room), 'a');
  });

  await t.test('new rooms go to the least-loaded live node', async () => {
    // The loads are in each node's record as of its last heartbeat (--node-ttl-ms / 3): wait
    // until every node's view agrees that a has the three peers and b and c none. Then a places
    // new rooms on b (smaller id), then c (its own placement counts at once in its view).
    const loads = async (n) => Object.fromEntries((await n.request('GET', '/cluster/nodes')).json.nodes.map((x) => [x.id, x.peers]));
    await until(async () => {
      for (const n of [a, b, c]) if (JSON.stringify(await loads(n)) !== '{"a":3,"b":0,"c":0}') return false;
      return true;
    }, 10000, 'every node to see the loads a=3, b=0, c=0');
    const r2 = uid('room2');
    const r3 = uid('room3');
    raw.push(await connectPeer(a, r2, 'q2'));
    assert.equal(await lease(r2), 'b');
    const q3 = await connectPeer(a, r3, 'q3');
    raw.push(q3);
    assert.equal(await lease(r3), 'c');
    // The room works through its node: a second peer, through b, hears q3.
    const q3b = await connectPeer(b, r3, 'q3b');
    raw.push(q3b);
    q3.sendText('mhello q3b');
    await q3b.waitFrame((f) => f.text === 'mq3\nhello q3b', 10000, 'q3\'s message');
  });

  await t.test('two nodes offered one new room at the same moment: one lease wins, both peers meet on one node', async () => {
    for (let i = 0; i < 4; i++) {
      const r = uid(`race${i}`);
      // Both offers are made first, then both POSTs sent in one turn of the loop; the two
      // requests must have been in flight at the same time (else nothing raced).
      let arrived = 0;
      let go;
      const gate = new Promise((res) => { go = res; });
      const beforePost = () => { if (++arrived === 2) go(); return gate; };
      const t1 = [], t2 = [];
      const [p1, p2] = await Promise.all([connectPeer(b, r, 'r1', { beforePost, offerTimes: t1 }),
        connectPeer(c, r, 'r2', { beforePost, offerTimes: t2 })]);
      raw.push(p1, p2);
      assert.ok(t1[0] < t2[1] && t2[0] < t1[1], `the two POST /offer overlapped: [${t1}] [${t2}]`);
      p1.sendText('mhello r2');
      p2.sendText('mhello r1');
      await p2.waitFrame((f) => f.text === 'mr1\nhello r2', 10000, 'r1\'s message');
      await p1.waitFrame((f) => f.text === 'mr2\nhello r1', 10000, 'r2\'s message');
      const owner = await lease(r);
      assert.ok(['a', 'b', 'c'].includes(owner), `lease ${owner}`);
      const { map } = await roomsOf(a);
      assert.deepEqual(map[r], ['r1', 'r2'], `room ${r} once, with both peers`);
    }
  });

  await t.test('offer -> open through the room\'s node and through another node', async () => {
    const r = uid('timing');
    raw.push(await connectPeer(b, r, 'first'));
    const holder = { a, b, c }[await lease(r)];
    const other = holder === c ? b : c;
    // The answer through another node carries the holder's candidates (its UDP port).
    const via = await connectPeer(other, r, 'via-other');
    raw.push(via);
    const ports = (sdp) => [...sdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) /gim)].map((m) => Number(m[1]));
    assert.ok(ports(via.answer.sdp).length > 0, via.answer.sdp);
    assert.ok(ports(via.answer.sdp).every((p) => p === holder.udp), `candidates on ${holder.name}'s UDP port ${holder.udp}: ${ports(via.answer.sdp)}`);
    const times = { holder: [], other: [] };
    for (let i = 0; i < 8; i++) {
      for (const [k, n] of [['holder', holder], ['other', other]]) {
        const t0 = performance.now();
        const p = await connectPeer(n, r, `${k}-${i}`);
        times[k].push(performance.now() - t0);
        raw.push(p);  // closed at the end: closing wrtc peers while others connect can crash wrtc
      }
    }
    const p50 = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)].toFixed(1);
    t.diagnostic(`offer -> channel open + welcome, p50 of 8: through the holder ${p50(times.holder)} ms, through another node ${p50(times.other)} ms`);
  });

  await t.test('SIGKILL of the room\'s node: clients reconnect through live nodes, talk again, nothing stuck', async () => {
    const tKill = Date.now();
    const from = { b: viaB.rec.statuses.length, c: viaC.rec.statuses.length };
    a.kill();
    await a.exited;
    viaA.closeConnection().catch(() => {});  // its only server is gone
    // Each client notices on its own (libwebrtc: ICE disconnected after ~5 s, or failed after
    // up to ~20 s), reconnects through its node, and is connected again.
    const lost = (cl, k) => cl.rec.statuses.slice(from[k]).includes('reconnecting');
    await waitFor(() => lost(viaB, 'b') || lost(viaC, 'c'), 45000, 'a client to notice');
    const msDetect = Date.now() - tKill;
    await waitFor(() => lost(viaB, 'b') && lost(viaC, 'c') && viaB.status === 'connected' && viaC.status === 'connected', 45000,
      () => `both reconnected (${viaB.rec.statuses.slice(from.b)}; ${viaC.rec.statuses.slice(from.c)}; errors ${viaB.rec.errors.map((e) => e.message).slice(-1)})`);
    const msBack = Date.now() - tKill;
    const owner = await lease(room);
    assert.ok(owner === 'b' || owner === 'c', `the room lives on a live node now (lease: ${owner})`);
    await waitFor(() => viaB.peers().includes('p-c') && viaC.peers().includes('p-b'), 10000, 'presence again');
    const before = viaC.rec.messages.length;
    viaB.sendMessage('after failover');
    await waitFor(() => viaC.rec.messages.length > before, 10000, 'a message after failover');
    assert.equal(viaC.rec.messages.at(-1).message, 'after failover');

    // The dead node leaves /cluster/nodes; /rooms lists the room once, with each peer once.
    await until(async () => JSON.stringify(await nodeIds(b)) === '["b","c"]', 10000, 'a gone from /cluster/nodes');
    for (const n of [b, c]) {
      await until(async () => {
        const { map, json } = await roomsOf(n);
        return JSON.stringify(map[room]) === '["p-b","p-c"]' && json.rooms.filter((r) => r.room === room).length === 1 &&
          !json.unreachable;
      }, 10000, `${n.name}: the room with p-b and p-c, once`);
    }
    t.diagnostic(`SIGKILL -> first client notices: ${msDetect} ms; -> both reconnected on a live node: ${msBack} ms`);
  });

  await t.test('SIGTERM: the survivors leave cleanly (exit 0, records and leases deleted at once)', async () => {
    await closeAll(clients);
    for (const n of [b, c]) {
      const r = await n.stop();  // throws unless it exits 0
      assert.equal(r.code, 0, `${n.name} exit code; output:\n${n.output().slice(-3000)}`);
    }
    assert.deepEqual(await redis.cmd('KEYS', 'peerrtc:*'), []);
  });
});
