// Calls that are retried have no second effect: a server-API call with an idempotency `id`,
// sent again (as a client does after a timeout or a lost answer), through another node, gets
// the first answer again (Idempotent-Replayed: true) and nothing is done twice.
//
//   bash tests/chaos/run.sh tests/chaos/idempotency.test.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectPeer } from '../server/lib.mjs';
import { startRedis, startNode, until, nodeIds, uid } from './lib.mjs';

const raw = [];
const nodes = [];
let redis;
after(async () => {
  for (const p of raw) p.close();
  for (const n of nodes) if (!n.exitInfo()) await n.stop({ expectCleanExit: false }).catch(() => n.kill());
  if (redis) await redis.stop();
});

const KEY = 'chaos-api-key';
const AUTH = { authorization: `Bearer ${KEY}` };

test('API calls with an id: a retry through any node replays the answer, nothing happens twice', { timeout: 60000 }, async () => {
  redis = await startRedis();
  const [a, b] = await Promise.all(['a', 'b'].map((id) => startNode(redis, id, ['--api-key', KEY])));
  nodes.push(a, b);
  await until(async () => (await nodeIds(b)).length === 2, 5000, 'b to see 2 nodes');
  const room = uid('I');
  const p = await connectPeer(a, room, 'p');
  const q = await connectPeer(a, room, 'q');
  raw.push(p, q);
  assert.equal(await redis.cmd('GET', `peerrtc:room:${room}`), 'a');

  const first = await b.request('POST', '/api/broadcast', { room, data: 'once', id: 'call-1' }, AUTH);
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.delivered, 2);
  const again = await a.request('POST', '/api/broadcast', { room, data: 'once', id: 'call-1' }, AUTH);
  assert.equal(again.status, 200, again.text);
  assert.deepEqual(again.json, first.json);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  const other = await b.request('POST', '/api/broadcast', { room, data: 'twice', id: 'call-2' }, AUTH);
  assert.equal(other.status, 200);
  assert.equal(other.headers.get('idempotent-replayed'), null);
  await p.waitFrame((f) => f.text === 'mserver\ntwice', 5000, 'the second call');
  const end = await p.flush();
  assert.equal(p.frames.slice(0, end).filter((f) => f.text === 'mserver\nonce').length, 1, 'the first call\'s message once');

  // A kick retried: the first answer (200), not a 404 for a peer already gone.
  const kick = await b.request('POST', '/api/kick', { room, peer_id: 'q', id: 'kick-1' }, AUTH);
  assert.equal(kick.status, 200, kick.text);
  await q.waitClosed(5000);
  const kickAgain = await b.request('POST', '/api/kick', { room, peer_id: 'q', id: 'kick-1' }, AUTH);
  assert.equal(kickAgain.status, 200, kickAgain.text);
  const kickNew = await b.request('POST', '/api/kick', { room, peer_id: 'q', id: 'kick-2' }, AUTH);
  assert.equal(kickNew.status, 404, kickNew.text);

  for (const bad of ['', 'x'.repeat(129), 5]) {
    const r = await b.request('POST', '/api/broadcast', { room, data: 'x', id: bad }, AUTH);
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, /field 'id'/);
  }
});
