// The JS client against the real peerrtc-server: connect/welcome/peers, HTTP errors, direct
// messages, presence, and that the server stamps the sender (a raw wrtc peer tries to pose).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { makeClient, waitFor, closeAll, uid, rawPeer, flush, bytesEqual, wrtc } from './lib/util.mjs';
import { WebRTCConnection } from '../../clients/js/peerrtc-client.js';

let server;
const live = [];
before(async () => { server = await startServer({ name: 'basic' }); });
after(async () => {
  await closeAll(live);
  if (server) await server.stop();
});
function client(room, id, opts) { const c = makeClient(server, room, id, opts); live.push(c); return c; }

test('connect: welcome, peers, status, token, max message size, presence of a newcomer', { timeout: 30000 }, async (t) => {
  const room = uid('room');
  const a = client(room, uid('a'));
  const b = client(room, uid('b'));
  assert.equal(a.isConnected(), false);
  assert.equal(a.status, 'disconnected');
  let t0 = Date.now();
  await a.connect();
  const msA = Date.now() - t0;
  assert.equal(a.isConnected(), true);
  assert.deepEqual(a.rec.statuses, ['connecting', 'connected']);
  assert.equal(a.rec.opens, 1);
  assert.deepEqual(a.peers(), []);
  assert.equal(a.maxMessageSize, 262061, 'protocol 2 (the default): 262078 - 17 bytes of seq/cmid');
  assert.equal(typeof a.token, 'string');
  assert.ok(a.token.length > 0);
  t0 = Date.now();
  await b.connect();
  const msB = Date.now() - t0;
  assert.deepEqual(b.peers(), [a.peerId]);
  await waitFor(() => a.rec.joined.length === 1, 5000, 'a sees b join');
  assert.deepEqual(a.rec.joined, [b.peerId]);
  assert.deepEqual(a.peers(), [b.peerId]);
  assert.deepEqual(b.rec.joined, [], 'the initial welcome does not fire onPeerJoined');
  const r = await server.request('GET', `/rooms/peers?room=${room}`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([...r.json.peers].sort(), [a.peerId, b.peerId].sort());
  t.diagnostic(`connect() to open channel + welcome: first peer ${msA} ms, second ${msB} ms`);
  await closeAll([a, b]);
});

test('default peer id is peer-xxxxxxxx; bad names are refused before any request', () => {
  const c = new WebRTCConnection('r', { RTCPeerConnection: wrtc.RTCPeerConnection });
  assert.match(c.peerId, /^peer-[0-9a-f]{8}$/);
  assert.throws(() => new WebRTCConnection('bad room ', {}), /invalid room "bad room ": trailing whitespace/);
  assert.throws(() => new WebRTCConnection('r', { peerId: 'x'.repeat(65) }), /invalid peerId "x+": too long: 65 bytes/);
  assert.throws(() => new WebRTCConnection('r', { peerId: 'server' }), /reserved/);
  assert.throws(() => c.sendMessage('x'), /not connected/);
  assert.throws(() => c.sendTo('someone', 'x'), /not connected/);
});

test('connect() rejects with the server\'s error: peer id taken (409), unreachable server, timeouts', { timeout: 30000 }, async () => {
  const room = uid('room');
  const id = uid('dup');
  const a = client(room, id);
  await a.connect();
  const dup = client(room, id);
  await assert.rejects(dup.connect(), (e) => {
    assert.match(e.message, /HTTP 409/);
    assert.match(e.message, /already connected/);
    assert.equal(e.status, 409);
    return true;
  });
  assert.equal(dup.status, 'disconnected');
  assert.equal(dup.rec.errors.length, 1);

  // Nothing listens there (a port we just closed).
  const net = await import('node:net');
  const port = await new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
  const gone = new WebRTCConnection(room, { serverUrl: `http://127.0.0.1:${port}`, RTCPeerConnection: wrtc.RTCPeerConnection, iceServers: [] });
  await assert.rejects(gone.connect(), /POST http:\/\/127\.0\.0\.1:\d+\/offer failed/);

  // A signaling request that never answers: requestTimeout.
  const hang = (url, init) => new Promise((_, rej) => init.signal.addEventListener('abort', () => { const e = new Error('aborted'); e.name = 'AbortError'; rej(e); }));
  const slow = new WebRTCConnection(room, { serverUrl: server.baseUrl, RTCPeerConnection: wrtc.RTCPeerConnection, fetch: hang, requestTimeout: 300, iceServers: [] });
  await assert.rejects(slow.connect(), /timed out after 300 ms/);

  // The answer arrives but the channel never opens (the answer points nowhere): connectTimeout.
  const fakeFetch = async (url, init) => {
    const res = await fetch(url, init);
    const j = await res.json();
    // No candidates and wrong ICE credentials: no STUN check can ever succeed.
    j.sdp = j.sdp.replace(/^a=candidate:.*\r\n/gm, '')
      .replace(/^a=ice-pwd:(.*)$/gm, (_, p) => 'a=ice-pwd:' + 'x'.repeat(p.trim().length))
      .replace(/^a=ice-ufrag:(.*)$/gm, (_, u) => 'a=ice-ufrag:' + 'y'.repeat(u.trim().length));
    return new Response(JSON.stringify(j), { status: res.status, headers: { 'content-type': 'application/json' } });
  };
  const dead = new WebRTCConnection(room, { peerId: uid('dead'), serverUrl: server.baseUrl, RTCPeerConnection: wrtc.RTCPeerConnection, fetch: fakeFetch, connectTimeout: 1500, iceServers: [] });
  await assert.rejects(dead.connect(), /timed out after 1500 ms waiting for the data channel to open/);
  await dead.closeConnection();
  await closeAll([a]);
});

test('direct messages (text and binary) reach only the target; unknown target -> onServerError', { timeout: 30000 }, async () => {
  const room = uid('room');
  const [a, b, c] = ['a', 'b', 'c'].map((n) => client(room, uid(n)));
  for (const x of [a, b, c]) await x.connect();
  await waitFor(() => a.peers().length === 2, 5000, 'a sees 2 peers');
  a.sendTo(b.peerId, 'just for b');
  a.sendTo(b.peerId, new Uint8Array([0, 1, 2, 255]));
  a.sendTo(c.peerId, 'just for c');
  a.sendMessage('for everyone');
  // 'for everyone' is a's last message and the marker: a's frames reach each receiver in order,
  // so once b and c have it they have everything a's other messages brought them.
  const gotLast = (p) => p.rec.messages.some((m) => m.message === 'for everyone');
  await waitFor(() => gotLast(b) && gotLast(c), 5000, 'deliveries');
  assert.deepEqual(b.rec.messages.map((m) => [m.from, m.direct, m.binary]), [[a.peerId, true, false], [a.peerId, true, true], [a.peerId, false, false]]);
  assert.equal(b.rec.messages[0].message, 'just for b');
  assert.ok(bytesEqual(b.rec.messages[1].message, new Uint8Array([0, 1, 2, 255])));
  assert.deepEqual(c.rec.messages.map((m) => [m.from, m.message, m.direct]), [[a.peerId, 'just for c', true], [a.peerId, 'for everyone', false]]);
  // b answers after 'for everyone' arrived, so a copy of a's own message would reach a first.
  b.sendTo(a.peerId, 'marker');
  await waitFor(() => a.rec.messages.length > 0, 5000, 'marker from b');
  assert.deepEqual(a.rec.messages.map((m) => [m.from, m.message]), [[b.peerId, 'marker']], 'a sender never receives its own messages');

  const ghost = uid('ghost');
  a.sendTo(ghost, 'anyone?');
  await flush(a);
  assert.deepEqual(a.rec.serverErrors.map((e) => [e.type, e.code, e.to]), [['error', 'unknown_peer', ghost]], 'one error event naming the unknown target');
  await closeAll([a, b, c]);
});

test('presence: join/leave events, peers(), closeConnection -> others get onPeerLeft', { timeout: 30000 }, async () => {
  const room = uid('room');
  const a = client(room, uid('a'));
  const b = client(room, uid('b'));
  const c = client(room, uid('c'));
  await a.connect();
  await b.connect();
  await c.connect();
  await waitFor(() => a.rec.joined.length === 2 && b.rec.joined.length === 1, 5000, 'joins');
  assert.deepEqual(a.rec.joined, [b.peerId, c.peerId]);
  assert.deepEqual(b.rec.joined, [c.peerId]);
  assert.deepEqual(c.peers().sort(), [a.peerId, b.peerId].sort());

  await b.closeConnection();
  assert.equal(b.status, 'closed');
  assert.equal(b.isConnected(), false);
  assert.equal(b.rec.closes, 1);
  assert.deepEqual(b.rec.statuses, ['connecting', 'connected', 'closed']);
  assert.throws(() => b.sendMessage('x'), /not connected \(status closed\)/);
  await assert.rejects(b.connect(), /closed by closeConnection/);
  await waitFor(() => a.rec.left.length === 1 && c.rec.left.length === 1, 5000, 'a and c see b leave');
  assert.deepEqual(a.rec.left, [b.peerId]);
  assert.deepEqual(c.rec.left, [b.peerId]);
  assert.deepEqual(a.peers(), [c.peerId]);
  assert.deepEqual(c.peers(), [a.peerId]);
  const r = await server.request('GET', `/rooms/peers?room=${room}`);
  assert.deepEqual([...r.json.peers].sort(), [a.peerId, c.peerId].sort());
  // The token is spent: /leave again is refused: the peer is gone (docs/protocol.md: 404 unknown
  // room or peer).
  const again = await server.request('POST', '/leave', { room, peer_id: b.peerId, token: b.token });
  assert.equal(again.status, 404, `second /leave: ${again.status} ${again.text}`);

  // The last ones leave: the room disappears.
  await closeAll([a, c]);
  const r2 = await server.request('GET', `/rooms/peers?room=${room}`);
  assert.equal(r2.status, 404, `room should be gone: ${r2.text}`);
});

test('the server stamps the sender: a raw peer cannot pose as someone else', { timeout: 30000 }, async () => {
  const room = uid('room');
  const victim = client(room, uid('victim'));
  const rx = client(room, uid('rx'));
  await victim.connect();
  await rx.connect();
  const mallory = uid('mallory');
  const raw = await rawPeer(server, room, mallory);
  assert.deepEqual([...raw.welcome.peers].sort(), [victim.peerId, rx.peerId].sort());
  assert.equal(raw.welcome.peer_id, mallory);
  assert.equal(raw.welcome.max_message_size, 262078);

  // Text that looks like a relayed frame from the victim.
  raw.dc.send(`m${victim.peerId}\nI am the victim`);
  // A direct frame to rx with a forged-looking body.
  raw.dc.send(`d${rx.peerId}\nm${victim.peerId}\nalso fake`);
  // Binary broadcast whose payload starts like a server->client binary header naming the victim.
  const idb = new TextEncoder().encode(victim.peerId);
  const payload = new Uint8Array(2 + idb.length + 3);
  payload[0] = 0x01; payload[1] = idb.length; payload.set(idb, 2); payload.set([7, 8, 9], 2 + idb.length);
  const frame = new Uint8Array(1 + payload.length);
  frame[0] = 0x01; frame.set(payload, 1);
  raw.dc.send(frame.buffer);

  await waitFor(() => rx.rec.messages.length === 3 && victim.rec.messages.length === 2, 5000, 'relayed frames');
  for (const m of [...rx.rec.messages, ...victim.rec.messages]) assert.equal(m.from, mallory, 'relayed sender must be the real peer id');
  assert.equal(rx.rec.messages[0].message, `${victim.peerId}\nI am the victim`);
  assert.equal(rx.rec.messages[1].message, `m${victim.peerId}\nalso fake`);
  assert.equal(rx.rec.messages[1].direct, true);
  assert.ok(bytesEqual(rx.rec.messages[2].message, payload), 'binary payload relayed unchanged');

  // Frames the client never sends: unknown tag, too large. Then a valid one on the same channel:
  // the marker that rx would have got them before.
  raw.dc.send('xwhat is this');
  raw.dc.send('m' + 'a'.repeat(262079));
  raw.dc.send('mmarker');
  await waitFor(() => rx.rec.messages.some((m) => m.message === 'marker'), 5000, 'the marker after the bad frames');
  assert.deepEqual(rx.rec.messages.slice(3).map((m) => m.message), ['marker'], 'dropped frames are not relayed (nor truncated)');
  const end = await raw.flush();
  const codes = raw.frames.slice(0, end).filter((f) => typeof f === 'string' && f.startsWith('{')).map((f) => JSON.parse(f))
    .filter((e) => e.type === 'error').map((e) => e.code);
  assert.deepEqual(codes, ['bad_frame', 'too_large']);
  raw.close();
  await waitFor(() => rx.rec.left.includes(mallory), 10000, 'raw peer leaves when its connection closes');
  await closeAll([victim, rx]);
});
