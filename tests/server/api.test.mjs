// The server API under /api/ (docs/protocol.md "Server API"): bearer auth on every route,
// every bad input a 4xx JSON error, and broadcast / send / kick reaching (or removing) the
// right real @roamhq/wrtc peers.
//
//   node --test tests/server/api.test.mjs       (PEERRTC_SERVER=path overrides the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SERVER_BIN, connectPeer, startServer, uniqueId } from './lib.mjs';

const KEY = 'test-api-key-0123456789';
const AUTH = { authorization: `Bearer ${KEY}` };
let server;     // --api-key
let plain;      // no --api-key: the API is off
const peers = [];

before(async () => {
  [server, plain] = await Promise.all([
    startServer(SERVER_BIN, ['--port', '0', '--no-examples'], { name: 'api', env: { PEERRTC_API_KEY: KEY } }),
    startServer(SERVER_BIN, ['--port', '0', '--no-examples'], { name: 'plain' }),
  ]);
});

after(async () => {
  for (const p of peers) p.close();
  for (const s of [server, plain]) {
    if (!s) continue;
    const r = await s.stop();
    assert.equal(r.code, 0, `${s.name} exit code; output:\n${s.output().slice(-3000)}`);
  }
});

async function connect(room, peerId) {
  const p = await connectPeer(server, room, peerId);
  peers.push(p);
  return p;
}

function assertJsonError(r, status, what, re) {
  assert.equal(r.status, status, `${what}: status ${r.status}, body ${r.text.slice(0, 300)}`);
  assert.match(r.contentType, /^application\/json/, `${what}: content type`);
  assert.ok(r.json && typeof r.json.error === 'string' && r.json.error.length > 0, `${what}: JSON error, got ${r.text.slice(0, 300)}`);
  if (re) assert.match(r.json.error, re, what);
}

const ROUTES = [
  ['POST', '/api/broadcast', { room: 'r', data: 'x' }],
  ['POST', '/api/send', { room: 'r', peer_id: 'p', data: 'x' }],
  ['POST', '/api/kick', { room: 'r', peer_id: 'p' }],
  ['GET', '/api/rooms', undefined],
  ['POST', '/api/tokens', { room: 'r', peer_id: 'p' }],
];

test('every /api/ route: 401 without a key (WWW-Authenticate), 401 with another scheme, 403 with a wrong key', async () => {
  for (const [method, path, body] of ROUTES) {
    const none = await server.request(method, path, body);
    assertJsonError(none, 401, `${path} without Authorization`);
    assert.match(none.headers.get('www-authenticate') || '', /^Bearer realm=/, `${path}: WWW-Authenticate`);
    const basic = await server.request(method, path, body, { authorization: 'Basic dXNlcjpwYXNz' });
    assertJsonError(basic, 401, `${path} with Basic`);
    const empty = await server.request(method, path, body, { authorization: 'Bearer ' });
    assertJsonError(empty, 401, `${path} with an empty bearer`);
    for (const wrong of [KEY + 'x', KEY.slice(0, -1), 'x', KEY.toUpperCase()]) {
      assertJsonError(await server.request(method, path, body, { authorization: `Bearer ${wrong}` }), 403,
        `${path} with key ${wrong}`, /wrong API key/);
    }
  }
  // The scheme is case-insensitive (RFC 7235); the key is not.
  assert.equal((await server.request('GET', '/api/rooms', undefined, { authorization: `bearer ${KEY}` })).status, 200);
});

test('without --api-key the API is off: 404 saying so, even with a key', async () => {
  for (const [method, path, body] of ROUTES) {
    assertJsonError(await plain.request(method, path, body, AUTH), 404, `${path} on a server without --api-key`, /--api-key/);
  }
});

test('bad bodies: 400 / 404 / 413 with a JSON error, and nothing sent', async () => {
  const room = uniqueId('bad');
  const a = await connect(room, 'alice');
  const cases = [
    ['/api/broadcast', 'not json', 400, /not valid JSON/],
    ['/api/broadcast', '[1,2]', 400, /JSON object/],
    ['/api/broadcast', { data: 'x' }, 400, /missing field 'room'/],
    ['/api/broadcast', { room: 5, data: 'x' }, 400, /'room' must be a string/],
    ['/api/broadcast', { room: ' lobby', data: 'x' }, 400, /invalid room/],
    ['/api/broadcast', { room }, 400, /exactly one of/],
    ['/api/broadcast', { room, data: 'x', data_base64: 'eA==' }, 400, /exactly one of/],
    ['/api/broadcast', { room, data: 7 }, 400, /'data' must be a string/],
    ['/api/broadcast', { room, data_base64: 'not base64!' }, 400, /base64/],
    ['/api/broadcast', { room, data_base64: 'eA' }, 400, /base64/],
    ['/api/broadcast', { room: uniqueId('nobody'), data: 'x' }, 404, /no room/],
    ['/api/send', { room, data: 'x' }, 400, /missing field 'peer_id'/],
    ['/api/send', { room, peer_id: 'server', data: 'x' }, 400, /reserved/],
    ['/api/send', { room, peer_id: 'bob', data: 'x' }, 404, /no peer "bob"/],
    ['/api/send', { room: uniqueId('nobody'), peer_id: 'alice', data: 'x' }, 404, /no room/],
    ['/api/kick', { room, peer_id: 'bob' }, 404, /no peer "bob"/],
    ['/api/kick', { room, peer_id: 'alice', reason: 5 }, 400, /'reason' must be a string/],
    ['/api/kick', { room, peer_id: 'alice', reason: 'x'.repeat(300) }, 400, /too long/],
    ['/api/kick', { room: uniqueId('nobody'), peer_id: 'alice' }, 404, /no room/],
    ['/api/tokens', { room, peer_id: 'alice' }, 400, /--join-secret/],
    // Larger than the HTTP body limit (64 KiB): refused before it is read.
    ['/api/broadcast', { room, data: 'x'.repeat(300 * 1024) }, 413, null],
  ];
  for (const [path, body, status, re] of cases) {
    assertJsonError(await server.request('POST', path, body, AUTH), status, `${path} ${JSON.stringify(body).slice(0, 80)}`, re);
  }
  // alice got none of it: the flush marker is the first frame after her welcome.
  const idx = await a.flush();
  const after = a.frames.slice(0, idx).filter((f) => !(f.event && f.event.type === 'welcome'));
  assert.deepEqual(after, [], 'frames alice received from refused calls');
});

test('broadcast reaches every peer of the room (text and binary, from "server"), and no other room', async () => {
  const room = uniqueId('bc');
  const [a, b] = [await connect(room, 'alice'), await connect(room, 'bob')];
  const other = await connect(uniqueId('other'), 'carol');
  const r = await server.request('POST', '/api/broadcast', { room, data: 'héllo from the backend' }, AUTH);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { delivered: 2 });
  for (const p of [a, b]) await p.waitFrame((f) => f.text === 'mserver\nhéllo from the backend', 10000, 'the broadcast');
  const bytes = Buffer.from([0, 1, 2, 255, 254]);
  const rb = await server.request('POST', '/api/broadcast', { room, data_base64: bytes.toString('base64') }, AUTH);
  assert.deepEqual(rb.json, { delivered: 2 });
  const expect = Buffer.concat([Buffer.from([0x01, 6]), Buffer.from('server'), bytes]);
  for (const p of [a, b]) await p.waitFrame((f) => f.bin && f.bin.equals(expect), 10000, 'the binary broadcast');
  const idx = await other.flush();
  assert.equal(other.frames.slice(0, idx).filter((f) => !f.event).length, 0, 'a peer of another room got a message');
});

test('send reaches only the named peer, as a direct message', async () => {
  const room = uniqueId('send');
  const [a, b] = [await connect(room, 'alice'), await connect(room, 'José')];
  const r = await server.request('POST', '/api/send', { room, peer_id: 'José', data: 'just for you' }, AUTH);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { delivered: 1 });
  await b.waitFrame((f) => f.text === 'dserver\njust for you', 10000, 'the direct message');
  const rb = await server.request('POST', '/api/send', { room, peer_id: 'José', data_base64: 'AAE=' }, AUTH);
  assert.equal(rb.status, 200, rb.text);
  await b.waitFrame((f) => f.bin && f.bin.equals(Buffer.from([0x02, 6, ...Buffer.from('server'), 0, 1])), 10000, 'binary direct');
  const idx = await a.flush();
  assert.equal(a.frames.slice(0, idx).filter((f) => !f.event).length, 0, 'alice got a message sent to José');
});

// A kick (like a cluster's `moved`) is the last frame before the server closes the connection.
// An SCTP ABORT would discard whatever is still queued to the peer, `kicked` with it; the close
// waits instead until the peer has acknowledged the queue (at most 2 s, then ABORT, counted).
// Megabytes of direct messages are still queued when the kick comes: every one whose send the
// server reported delivered arrives, and then `kicked`.
test('kick with a backlog queued: every queued message, then kicked, then the close', async () => {
  const room = uniqueId('kickq');
  const [a, b] = [await connect(room, 'alice'), await connect(room, 'mallory')];
  await a.waitEvent('peer_joined', (e) => e.peer_id === 'mallory');
  const before = (await server.request('GET', '/stats', undefined, AUTH)).json.sctp;
  const N = 80;
  const big = (i) => `${String(i).padStart(5, '0')}:` + 'x'.repeat(60000);
  // All in flight at once (8 HTTP threads): the kick goes out while most are queued in SCTP.
  const sends = [];
  for (let i = 0; i < N; i++) sends.push(server.request('POST', '/api/send', { room, peer_id: 'mallory', data: big(i) }, AUTH));
  await sends[N / 2];
  const kick = await server.request('POST', '/api/kick', { room, peer_id: 'mallory', reason: 'backlog' }, AUTH);
  assert.equal(kick.status, 200, kick.text);
  const answers = await Promise.all(sends);
  const delivered = answers.filter((r) => r.status === 200 && r.json.delivered === 1).length;
  const k = await b.waitEvent('kicked', () => true, 10000);
  assert.equal(k.event.reason, 'backlog');
  await b.waitClosed(10000);
  const idx = b.frames.indexOf(k);
  const got = b.frames.slice(0, idx).filter((f) => !f.event && f.text?.startsWith('dserver\n')).map((f) => f.text);
  assert.equal(got.length, delivered, `mallory got ${got.length} of the ${delivered} messages queued before the kick`);
  assert.ok(delivered > N / 2, `${delivered} delivered: the kick came after half the sends at least`);
  assert.equal(b.frames.length, idx + 1, 'kicked is the last frame');
  const after = (await server.request('GET', '/stats', undefined, AUTH)).json.sctp;
  assert.ok(after.graceful_closes > before.graceful_closes, JSON.stringify(after));
  assert.equal(after.graceful_close_timeouts, before.graceful_close_timeouts, 'the close completed before its deadline');
  await a.waitEvent('peer_left', (e) => e.peer_id === 'mallory');
});

test('kick: the peer is told and disconnected, the others see peer_left, /rooms no longer lists it', async () => {
  const room = uniqueId('kick');
  const [a, b] = [await connect(room, 'alice'), await connect(room, 'mallory')];
  await a.waitEvent('peer_joined', (e) => e.peer_id === 'mallory');
  const r = await server.request('POST', '/api/kick', { room, peer_id: 'mallory', reason: 'spam' }, AUTH);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { status: 'ok' });
  const k = await b.waitEvent('kicked');
  assert.equal(k.event.reason, 'spam');
  await b.waitClosed(10000);
  const left = await a.waitEvent('peer_left', (e) => e.peer_id === 'mallory');
  assert.equal(left.event.reason, 'kicked: spam');
  const rooms = await server.request('GET', '/rooms', undefined, AUTH);
  assert.deepEqual(rooms.json.rooms.find((x) => x.room === room).peers, ['alice']);
  const api = await server.request('GET', '/api/rooms', undefined, AUTH);
  assert.equal(api.status, 200);
  assert.deepEqual(api.json.rooms.find((x) => x.room === room).peers, ['alice']);
  // A second kick: no such peer any more.
  assertJsonError(await server.request('POST', '/api/kick', { room, peer_id: 'mallory' }, AUTH), 404, 'second kick', /no peer/);
  // Kicking the last peer empties the room (no reason given: the reason is just "kicked").
  const r2 = await server.request('POST', '/api/kick', { room, peer_id: 'alice' }, AUTH);
  assert.equal(r2.status, 200, r2.text);
  assert.equal((await a.waitEvent('kicked')).event.reason, '');
  await a.waitClosed(10000);
  for (let i = 0; i < 50; i++) {
    const rr = await server.request('GET', '/rooms', undefined, AUTH);
    if (!rr.json.rooms.some((x) => x.room === room)) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.fail('the room outlived its last (kicked) peer');
});
