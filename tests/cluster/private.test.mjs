// A private cluster (issue 21, docs/deploy.md "What is public"): two nodes with --api-key and
// --join-secret on a real redis-server. The node a client calls checks its key; the requests that
// node then sends the others (the /rooms fan-out, /rooms/peers and /cluster/stats of another
// node's room or counters) carry the cluster's signature instead and pass without it. A request
// that only claims to come from a node does not.
//
//   bash tests/cluster/run.sh tests/cluster/private.test.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { joinToken as signJoinToken } from '../lib/jwt.mjs';
import { stopAll } from '../server/lib.mjs';
import { makeClient, closeAll, uid } from '../client/lib/util.mjs';
import { startRedis, startNode, until, nodeIds, forwardHeaders } from './lib.mjs';

const KEY = 'cluster-api-key-for-tests';
const SECRET = 'cluster-join-secret-for-tests';
const AUTH = { authorization: `Bearer ${KEY}` };
const clients = [];
const nodes = [];
let redis;
after(async () => {
  await closeAll(clients);
  try {
    await stopAll(nodes);
  } finally {
    if (redis) await redis.stop();
  }
});

const joinToken = (room, sub) => signJoinToken(SECRET, room, sub);

test('private cluster: listings across nodes with the key, node-to-node requests signed, nothing without the key', { timeout: 60000 }, async () => {
  redis = await startRedis();
  const env = { PEERRTC_API_KEY: KEY, PEERRTC_JOIN_SECRET: SECRET };
  const [a, b] = await Promise.all(['a', 'b'].map((id) => startNode(redis, id, [], { env })));
  nodes.push(a, b);
  const ids = async (n) => (await n.request('GET', '/cluster/nodes', undefined, AUTH)).json?.nodes?.map((x) => x.id) ?? [];
  for (const n of nodes) await until(async () => (await ids(n)).length === 2, 5000, `${n.name} to see 2 nodes`);

  // A client joins through b with its join token (GET /config too); the room goes to a (ties by id).
  const room = uid('board-meeting');
  const c = makeClient(b, room, 'alice', { joinToken: () => joinToken(room, 'alice') });
  clients.push(c);
  await c.connect();

  // b's answers come from a's, which b fetched with a signed request and no key.
  const rooms = await b.request('GET', '/rooms', undefined, AUTH);
  assert.equal(rooms.status, 200, rooms.text);
  assert.equal(rooms.json.unreachable, undefined, `every node answered b's fan-out: ${rooms.text}`);
  assert.deepEqual(rooms.json.rooms.find((r) => r.room === room), { room, peers: ['alice'], node: 'a' });
  const peers = await b.request('GET', `/rooms/peers?room=${encodeURIComponent(room)}`, undefined, AUTH);
  assert.equal(peers.status, 200, peers.text);
  assert.deepEqual(peers.json.peers, ['alice']);
  const stats = await b.request('GET', '/cluster/stats?node=a', undefined, AUTH);
  assert.equal(stats.status, 200, stats.text);
  assert.equal(stats.json.peers, 1, 'node a\'s /stats, through b');
  assert.equal((await b.request('GET', '/cluster/stats?node=nope', undefined, AUTH)).status, 404);

  // Without the key: nothing, on either node; the room's name appears nowhere.
  for (const n of nodes) {
    for (const path of ['/rooms', `/rooms/peers?room=${encodeURIComponent(room)}`, '/cluster/nodes', '/cluster/stats?node=a', '/stats', '/metrics']) {
      const r = await n.request('GET', path);
      assert.equal(r.status, 401, `${n.name} ${path}: ${r.text}`);
      assert.ok(!r.text.includes(room), `${n.name} ${path} names the room`);
      assert.equal((await n.request('GET', path, undefined, { authorization: 'Bearer wrong' })).status, 403, `${n.name} ${path}`);
    }
  }
  // A signed node-to-node request passes without the key; a forged one does not.
  const signed = await a.request('GET', '/rooms', undefined, forwardHeaders('b', 'GET', '/rooms'));
  assert.equal(signed.status, 200, signed.text);
  assert.ok(signed.json.rooms.some((r) => r.room === room));
  const forged = await a.request('GET', '/rooms', undefined, forwardHeaders('b', 'GET', '/rooms', '', { secret: 'not-the-cluster-secret-0123' }));
  assert.equal(forged.status, 401, forged.text);
  assert.ok(!forged.text.includes(room));
});
