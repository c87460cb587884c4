// The JS client with the server API features (docs/protocol.md): `joinToken` (a string or a
// function called before every offer) for a server with --join-secret, history messages passed
// to onMessage with {history: true, ts}, and onKicked (no reconnect after a kick).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { makeClient, uid, waitFor, flush, closeAll, bytesEqual } from './lib/util.mjs';

const KEY = 'client-api-key';
const SECRET = 'client-join-secret';
let server;
const live = [];

before(async () => {
  server = await startServer({ name: 'server-api', extraArgs: ['--api-key', KEY, '--join-secret', SECRET, '--history', '3', '--no-examples'] });
});
after(async () => { await closeAll(live); await server?.stop(); });

async function api(path, body) {
  const r = await fetch(`${server.baseUrl}${path}`, {
    method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const json = await r.json();
  assert.equal(r.status, 200, JSON.stringify(json));
  return json;
}
const tokenFor = (room, peerId) => api('/api/tokens', { room, peer_id: peerId, ttl: 60 }).then((j) => j.token);

test('joinToken: a string or a function; without one connect() fails with the 401', { timeout: 30000 }, async () => {
  const room = uid('jt');
  const a = makeClient(server, room, 'alice', { joinToken: await tokenFor(room, 'alice') });
  let calls = 0;
  const b = makeClient(server, room, 'bob', { joinToken: async () => { calls++; return tokenFor(room, 'bob'); } });
  const c = makeClient(server, room, 'carol', { reconnect: false });
  const d = makeClient(server, room, 'dave', { joinToken: await tokenFor(room, 'alice') });
  live.push(a, b, c, d);
  await a.connect();
  await b.connect();
  assert.equal(calls, 1);
  await assert.rejects(c.connect(), (e) => e.status === 401 && /join token/.test(e.message));
  await assert.rejects(d.connect(), (e) => e.status === 403 && /is for peer_id "alice"/.test(e.message));
  assert.throws(() => makeClient(server, room, 'x', { joinToken: 5 }), TypeError);
  a.sendMessage('hi bob');
  await waitFor(() => b.rec.messages.some((m) => m.message === 'hi bob'), 10000, 'bob to hear alice');
});

test('history reaches onMessage flagged {history: true, ts}, in order, before live messages', { timeout: 30000 }, async () => {
  const room = uid('hist');
  const a = makeClient(server, room, 'alice', { joinToken: () => tokenFor(room, 'alice') });
  const b = makeClient(server, room, 'bob', { joinToken: () => tokenFor(room, 'bob') });
  live.push(a, b);
  await a.connect();
  await b.connect();
  for (const m of ['one', 'two', 'three']) a.sendMessage(m);
  a.sendMessage(new Uint8Array([9, 8, 7]));
  b.sendTo('alice', 'private');
  await waitFor(() => b.rec.messages.length === 4, 10000, 'bob to get four messages');
  await flush(a);
  const c = makeClient(server, room, 'carol', { joinToken: () => tokenFor(room, 'carol') });
  live.push(c);
  await c.connect();
  a.sendMessage('live');
  await waitFor(() => c.rec.messages.some((m) => m.message === 'live'), 10000, 'carol to hear the live message');
  const got = c.rec.messages;
  assert.equal(got.length, 4, JSON.stringify(got));
  assert.deepEqual(got.slice(0, 3).map((m) => [m.from, m.history, m.direct, m.binary]),
    [['alice', true, false, false], ['alice', true, false, false], ['alice', true, false, true]]);
  assert.equal(got[0].message, 'two');
  assert.equal(got[1].message, 'three');
  assert.ok(bytesEqual(got[2].message, new Uint8Array([9, 8, 7])));
  for (const m of got.slice(0, 3)) assert.ok(Number.isFinite(m.ts) && Math.abs(m.ts - Date.now()) < 60000, `ts ${m.ts}`);
  assert.equal(got[3].message, 'live');
  assert.equal(got[3].history, undefined, 'a live message is not flagged');
});

test('a kicked client is told (onKicked), closes and does not reconnect', { timeout: 30000 }, async () => {
  const room = uid('kick');
  const a = makeClient(server, room, 'alice', { joinToken: () => tokenFor(room, 'alice') });
  const m = makeClient(server, room, 'mallory', { joinToken: () => tokenFor(room, 'mallory') });
  live.push(a, m);
  const kicked = [];
  await a.connect();
  await m.connect();
  m.onKicked = (reason) => kicked.push(reason);
  await api('/api/kick', { room, peer_id: 'mallory', reason: 'flooding' });
  await waitFor(() => m.rec.closes === 1, 10000, 'mallory to close');
  assert.deepEqual(kicked, ['flooding']);
  assert.equal(m.status, 'disconnected');
  await waitFor(() => a.rec.left.includes('mallory'), 10000, 'alice to see mallory leave');
  await new Promise((r) => setTimeout(r, 1500));  // longer than the first reconnect backoff
  assert.ok(!m.rec.statuses.includes('reconnecting'), JSON.stringify(m.rec.statuses));
  const peers = await (await fetch(`${server.baseUrl}/rooms/peers?room=${encodeURIComponent(room)}`,
    { headers: { authorization: `Bearer ${KEY}` } })).json();  // a server with --api-key lists only with it
  assert.deepEqual(peers.peers, ['alice']);
});
