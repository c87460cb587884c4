// Where the client's ICE servers come from: GET /config?peer_id=<id>, fetched afresh before every
// connection attempt (TURN credentials are minted per request and expire), unless the
// constructor was given `iceServers`; a /config that fails means no ICE servers and a debug
// log, not a failed connect. The real server (with --turn-url/--turn-secret) and real wrtc
// peers; fetch and RTCPeerConnection are the real ones, wrapped to record what the client did.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { joinToken } from '../lib/jwt.mjs';
import { createServer } from 'node:net';
import { WebRTCConnection } from '../../clients/js/peerrtc-client.js';
import { startServer } from './lib/server.mjs';
import { closeAll, makeClient, sleep, uid, waitFor, wrtc } from './lib/util.mjs';

const SECRET = 'client-test-secret';
const live = [];
const servers = [];
after(async () => {
  await closeAll(live);
  for (const s of servers) await s.stop();
});

// A TCP/UDP port on 127.0.0.1 where nothing listens (a TURN URL that leads nowhere: the
// clients below connect directly; only the credentials they were handed matter here).
const closedPort = () => new Promise((res) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
});

// The real fetch, recording each request (and /config's answer).
function recordingFetch(log, { failConfig = null } = {}) {
  return async (url, init = {}) => {
    const u = new URL(url);
    const entry = { method: init.method || 'GET', path: u.pathname, search: u.search, headers: { ...init.headers } };
    log.push(entry);
    if (u.pathname === '/config' && failConfig) return failConfig(url, init);
    const res = await fetch(url, init);
    entry.status = res.status;
    if (u.pathname === '/config') entry.body = await res.clone().json();
    return res;
  };
}

// The real wrtc RTCPeerConnection, recording the configuration of each one created.
function recordingPC(configs) {
  return function RecordingRTCPeerConnection(config) {
    configs.push(config);
    return new wrtc.RTCPeerConnection(config);
  };
}

test('without iceServers: GET /config?peer_id= before every offer, its TURN credentials to the RTCPeerConnection, fresh ones on a reconnect', { timeout: 60000 }, async () => {
  const turnUrl = `turn:127.0.0.1:${await closedPort()}?transport=udp`;
  const server = await startServer({ name: 'cfg-turn', extraArgs: ['--turn-url', turnUrl, '--turn-secret', SECRET, '--turn-ttl', '600'] });
  servers.push(server);
  const log = [];
  const configs = [];
  const peerId = uid('cfg:alice@x');
  const room = uid('room');
  const c = makeClient(server, room, peerId, { fetch: recordingFetch(log), RTCPeerConnection: recordingPC(configs), disconnectTimeout: 2000 });
  live.push(c);
  await c.connect();

  assert.deepEqual(log.map((e) => `${e.method} ${e.path}`), ['GET /config', 'POST /offer']);
  assert.equal(log[0].search, `?peer_id=${encodeURIComponent(peerId)}&room=${encodeURIComponent(room)}`);
  assert.equal(log[0].headers.authorization, undefined, 'no join token, no Authorization');
  assert.equal(configs.length, 1);
  assert.deepEqual(configs[0].iceServers, log[0].body.iceServers, 'the RTCPeerConnection got exactly /config\'s servers');
  assert.equal(configs[0].iceTransportPolicy, 'all');
  const first = configs[0].iceServers[0];
  assert.deepEqual(first.urls, [turnUrl]);
  assert.ok(first.username.endsWith(`:${peerId}`), first.username);
  assert.equal(first.credential, createHmac('sha1', SECRET).update(first.username).digest('base64'));

  // Let the clock move on a second (the expiry is in whole seconds), then drop the connection
  // from the server's side: the client reconnects by itself and asks /config again.
  await sleep(1100);
  const left = await server.request('POST', '/leave', { room: c.room, peer_id: peerId, token: c.token });
  assert.equal(left.status, 200, left.text);
  await waitFor(() => c.rec.statuses.includes('reconnecting'), 15000, 'the client notices the drop');
  await waitFor(() => c.isConnected(), 20000, () => `reconnected (status ${c.status})`);
  const after = log.map((e) => `${e.method} ${e.path}`);
  assert.deepEqual(after.filter((x) => x !== 'POST /leave'), ['GET /config', 'POST /offer', 'GET /config', 'POST /offer'], after.join(', '));
  const second = log.filter((e) => e.path === '/config')[1];
  assert.equal(configs.length, 2);
  assert.deepEqual(configs[1].iceServers, second.body.iceServers, 'the reconnect used the new /config answer');
  assert.notEqual(configs[1].iceServers[0].username, first.username, 'fresh credentials (a later expiry)');
  assert.ok(Number(configs[1].iceServers[0].username.split(':')[0]) > Number(first.username.split(':')[0]));
  await c.closeConnection();
});

test('with iceServers: no /config request, exactly those servers; iceTransportPolicy goes to the RTCPeerConnection', { timeout: 30000 }, async () => {
  const server = await startServer({ name: 'cfg-given' });
  servers.push(server);
  const given = [{ urls: [`stun:127.0.0.1:${await closedPort()}`] }];
  for (const iceServers of [given, []]) {
    const log = [];
    const configs = [];
    const c = makeClient(server, uid('room'), uid('given'), { iceServers, fetch: recordingFetch(log), RTCPeerConnection: recordingPC(configs) });
    live.push(c);
    await c.connect();
    assert.deepEqual(log.map((e) => `${e.method} ${e.path}`), ['POST /offer']);
    assert.deepEqual(configs[0].iceServers, iceServers);
    await c.closeConnection();
  }
  // 'relay' without any TURN server cannot connect: proof that the policy reaches libwebrtc. It
  // fails as soon as gathering ends without a candidate, long before the connect timeout.
  const configs = [];
  const r = makeClient(server, uid('room'), uid('relay'), { iceServers: [], iceTransportPolicy: 'relay', RTCPeerConnection: recordingPC(configs), connectTimeout: 15000 });
  live.push(r);
  const t0 = Date.now();
  await assert.rejects(r.connect(), /no ICE candidates: iceTransportPolicy is 'relay' and no TURN server gave a relay address/);
  assert.ok(Date.now() - t0 < 5000, `failed after ${Date.now() - t0} ms`);
  assert.equal(configs[0].iceTransportPolicy, 'relay');
  assert.equal(r.status, 'disconnected');
});

test('a failing GET /config: the client connects without ICE servers and says so in its debug log', { timeout: 30000 }, async () => {
  const server = await startServer({ name: 'cfg-fail' });
  servers.push(server);
  const failures = [
    ['a network error', () => Promise.reject(new TypeError('fetch failed'))],
    ['an HTTP 500', () => Promise.resolve(new Response('{"error":"internal"}', { status: 500, headers: { 'content-type': 'application/json' } }))],
    ['an answer without iceServers', () => Promise.resolve(new Response('{"servers":[]}', { status: 200, headers: { 'content-type': 'application/json' } }))],
  ];
  const debug = console.debug;
  try {
    for (const [what, failConfig] of failures) {
      const lines = [];
      console.debug = (...args) => lines.push(args.join(' '));
      const log = [];
      const configs = [];
      const c = makeClient(server, uid('room'), uid('nocfg'), { debug: true, fetch: recordingFetch(log, { failConfig }), RTCPeerConnection: recordingPC(configs) });
      live.push(c);
      await c.connect();
      c.debug = false;
      console.debug = debug;
      assert.deepEqual(log.map((e) => `${e.method} ${e.path}`), ['GET /config', 'POST /offer'], what);
      assert.deepEqual(configs[0].iceServers, [], what);
      assert.ok(lines.some((l) => /GET \/config.*using no ICE servers/.test(l)), `${what}: debug log ${JSON.stringify(lines.slice(0, 5))}`);
      assert.equal(c.rec.errors.length, 0, `${what}: no onError`);
      await c.closeConnection();
    }
  } finally {
    console.debug = debug;
  }
});

test('bad iceServers / iceTransportPolicy options throw a TypeError at once', () => {
  const mk = (o) => new WebRTCConnection('room', { RTCPeerConnection: wrtc.RTCPeerConnection, ...o });
  assert.throws(() => mk({ iceTransportPolicy: 'none' }), /iceTransportPolicy must be 'all' or 'relay'/);
  assert.throws(() => mk({ iceTransportPolicy: 'RELAY' }), TypeError);
  assert.throws(() => mk({ iceServers: 'stun:stun.example.org' }), /iceServers must be an array/);
  assert.throws(() => mk({ iceServers: { urls: 'stun:x' } }), TypeError);
  assert.equal(mk({}).iceTransportPolicy, 'all');
  assert.equal(mk({ iceTransportPolicy: 'relay' }).iceTransportPolicy, 'relay');
  mk({ iceServers: null }); // null = not given: from /config
});

// A server with --join-secret answers GET /config only with a join token for the room and peer
// (docs/deploy.md "What is public"): the client sends the token it has for the offer, asking its
// joinToken function once per attempt, so TURN credentials still come.
test('with a joinToken on a --join-secret server: GET /config carries it (one call of the function per attempt) and gets the TURN credentials', { timeout: 60000 }, async () => {
  const JOIN = 'client-join-secret';
  const turnUrl = `turn:127.0.0.1:${await closedPort()}?transport=udp`;
  const server = await startServer({ name: 'cfg-join', extraArgs: ['--turn-url', turnUrl, '--turn-secret', SECRET, '--join-secret', JOIN] });
  servers.push(server);
  const room = uid('room');
  const peerId = uid('jo');
  const token = joinToken(JOIN, room, peerId);
  let calls = 0;
  const log = [];
  const configs = [];
  const c = makeClient(server, room, peerId, { fetch: recordingFetch(log), RTCPeerConnection: recordingPC(configs), joinToken: async () => { calls++; return token; } });
  live.push(c);
  await c.connect();
  assert.deepEqual(log.map((e) => `${e.method} ${e.path} ${e.status}`), ['GET /config 200', 'POST /offer 200']);
  assert.equal(log[0].headers.authorization, `Bearer ${token}`);
  assert.equal(calls, 1, 'the joinToken function is asked once per attempt');
  assert.deepEqual(configs[0].iceServers[0].urls, [turnUrl], 'the TURN server, with credentials');
  assert.ok(configs[0].iceServers[0].username.endsWith(`:${peerId}`));
  // Without the token the server refuses /config (the client goes on without ICE servers).
  const bare = await fetch(`${server.baseUrl}/config?room=${room}&peer_id=${peerId}`);
  assert.equal(bare.status, 401);
});
