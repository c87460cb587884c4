// Join tokens (--join-secret, docs/protocol.md "Join tokens"): an offer must carry a valid HS256
// JWT for its room and peer id. Missing -> 401; expired, forged, another room or identity,
// malformed -> 403; and nothing is created (no room, no peer, no pending handshake).
//
//   node --test tests/server/join-token.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { jwt as signJwt } from '../lib/jwt.mjs';
import { SERVER_BIN, connectPeer, makeOfferSdp, startServer, uniqueId } from './lib.mjs';

const SECRET = 'join-secret-for-tests';
const KEY = 'api-key-for-tests';
const AUTH = { authorization: `Bearer ${KEY}` };
let server;
let offerSdp;
const peers = [];

before(async () => {
  server = await startServer(SERVER_BIN, ['--port', '0', '--no-examples', '--join-secret', SECRET],
    { name: 'join', env: { PEERRTC_API_KEY: KEY } });
  offerSdp = await makeOfferSdp();
});

after(async () => {
  for (const p of peers) p.close();
  if (server) {
    const r = await server.stop();
    assert.equal(r.code, 0, `exit code; output:\n${server.output().slice(-3000)}`);
  }
});

// An HS256 JWT made here, independently of the server's code (tests/lib/jwt.mjs).
const jwt = (claims, secret = SECRET, header) => signJwt(claims, secret, header);
const now = () => Math.floor(Date.now() / 1000);

async function mint(room, peerId, ttl) {
  const r = await server.request('POST', '/api/tokens', ttl === undefined ? { room, peer_id: peerId } : { room, peer_id: peerId, ttl }, AUTH);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function assertNothingCreated(room) {
  const rooms = await server.request('GET', '/rooms', undefined, AUTH);
  assert.ok(!rooms.json.rooms.some((x) => x.room === room), `room ${room} exists: ${rooms.text}`);
  const stats = await server.request('GET', '/stats', undefined, AUTH);
  assert.equal(stats.json.pending, 0, 'a handshake is pending');
}

test('offers without a valid token are refused (401 missing, 403 otherwise) and create nothing', async () => {
  const room = uniqueId('guarded');
  const offer = (extra) => server.request('POST', '/offer', { room, peer_id: 'alice', offer: { sdp: offerSdp, type: 'offer' }, ...extra });
  const cases = [
    [{}, 401, /join token is required/],
    [{ join_token: '' }, 401, /join token is required/],
    [{ join_token: jwt({ room, sub: 'alice', iat: now() - 120, exp: now() - 60 }) }, 403, /expired/],
    [{ join_token: jwt({ room, sub: 'alice', exp: now() + 60 }, 'another-secret') }, 403, /signature/],
    [{ join_token: jwt({ room: room + 'x', sub: 'alice', exp: now() + 60 }) }, 403, /is for room/],
    [{ join_token: jwt({ room, sub: 'bob', exp: now() + 60 }) }, 403, /is for peer_id "bob"/],
    [{ join_token: jwt({ room, sub: 'alice' }) }, 403, /exp/],
    [{ join_token: jwt({ room, sub: 'alice', exp: now() + 60 }, SECRET, { alg: 'none' }) }, 403, /HS256/],
    [{ join_token: 'not-a-jwt' }, 403, /not a JWT/],
    [{ join_token: 42 }, 400, /'join_token' must be a string/],
    [{ join_token: 'x'.repeat(5000) }, 400, /too long/],
  ];
  for (const [extra, status, re] of cases) {
    const r = await offer(extra);
    assert.equal(r.status, status, `${JSON.stringify(extra).slice(0, 80)}: ${r.status} ${r.text}`);
    assert.match(r.json.error, re);
  }
  // The API's own token for another peer is no good for alice either.
  const bobs = await mint(room, 'bob');
  assert.equal((await offer({ join_token: bobs.token })).status, 403);
  await assertNothingCreated(room);
});

test('a token from POST /api/tokens, or minted elsewhere with the secret, lets the peer in', async () => {
  const room = uniqueId('général');
  const t = await mint(room, 'José', 120);
  assert.equal(t.room, room);
  assert.equal(t.peer_id, 'José');
  assert.ok(Math.abs(t.expires_at - (now() + 120)) <= 2, `expires_at ${t.expires_at}`);
  const [header, payload] = t.token.split('.').slice(0, 2).map((s) => JSON.parse(Buffer.from(s, 'base64url').toString()));
  assert.equal(header.alg, 'HS256');
  assert.deepEqual({ room: payload.room, sub: payload.sub, exp: payload.exp }, { room, sub: 'José', exp: t.expires_at });
  // Verifiable by anyone holding the secret.
  const [h, p, sig] = t.token.split('.');
  assert.equal(createHmac('sha256', SECRET).update(`${h}.${p}`).digest('base64url'), sig);

  const a = await connectPeer(server, room, 'José', { extra: { join_token: t.token } });
  peers.push(a);
  const b = await connectPeer(server, room, 'bob', { extra: { join_token: jwt({ room, sub: 'bob', iat: now(), exp: now() + 60 }) } });
  peers.push(b);
  await a.waitEvent('peer_joined', (e) => e.peer_id === 'bob');
  b.sendText('mhi');
  await a.waitFrame((f) => f.text === 'mbob\nhi');
  // A stranger still cannot join the now-existing room, nor take José's id.
  const r = await server.request('POST', '/offer', { room, peer_id: 'eve', offer: { sdp: offerSdp, type: 'offer' } });
  assert.equal(r.status, 401);
  const rooms = await server.request('GET', `/rooms/peers?room=${encodeURIComponent(room)}`, undefined, AUTH);
  assert.deepEqual(rooms.json.peers.sort(), ['José', 'bob']);
});

test('POST /api/tokens refuses bad input with 400', async () => {
  const bad = [
    [{ peer_id: 'a' }, /missing field 'room'/],
    [{ room: 'r' }, /missing field 'peer_id'/],
    [{ room: 'r', peer_id: 'server' }, /reserved/],
    [{ room: 'r\n', peer_id: 'a' }, /invalid room/],
    [{ room: 'r', peer_id: 'a', ttl: 0 }, /'ttl'/],
    [{ room: 'r', peer_id: 'a', ttl: 1.5 }, /'ttl'/],
    [{ room: 'r', peer_id: 'a', ttl: '60' }, /'ttl'/],
    [{ room: 'r', peer_id: 'a', ttl: 10 ** 12 }, /'ttl'/],
  ];
  for (const [body, re] of bad) {
    const r = await server.request('POST', '/api/tokens', body, AUTH);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.match(r.json.error, re);
  }
});

test('an expired token (1 s ttl) is refused once it expired', async () => {
  const room = uniqueId('short');
  const t = await mint(room, 'alice', 1);
  await new Promise((res) => setTimeout(res, 2100));
  const r = await server.request('POST', '/offer', { room, peer_id: 'alice', offer: { sdp: offerSdp, type: 'offer' }, join_token: t.token });
  assert.equal(r.status, 403, r.text);
  assert.match(r.json.error, /expired/);
  await assertNothingCreated(room);
});
