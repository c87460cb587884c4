// peerrtc-server over HTTP (docs/protocol.md): every endpoint's happy path, every bad input
// answered 4xx with a JSON `error`, static files, flags, and shutdown with a connected peer.
//
//   node --test tests/server/http.test.mjs       (PEERRTC_SERVER=path overrides the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  REPO_ROOT, SERVER_BIN, connectPeer, makeOfferSdp, runToExit, startServer, uniqueId, withTimeout,
} from './lib.mjs';

const BASE_ARGS = ['--port', '0', '--host', '127.0.0.1'];
let server;
let offerSdp;
const peers = [];

before(async () => {
  server = await startServer(SERVER_BIN, BASE_ARGS, { name: 'server' });
  offerSdp = await makeOfferSdp();
});

after(async () => {
  for (const p of peers) p.close();
  if (server) {
    const r = await server.stop();
    assert.equal(r.code, 0, `server exit code after SIGTERM; output:\n${server.output().slice(-3000)}`);
  }
});

async function connect(room, peerId, opts) {
  const p = await connectPeer(server, room, peerId, opts);
  peers.push(p);
  return p;
}

function assertJsonError(r, status, what) {
  assert.equal(r.status, status, `${what}: status ${r.status}, body ${r.text.slice(0, 300)}`);
  assert.match(r.contentType, /^application\/json/, `${what}: content type`);
  assert.ok(r.json && typeof r.json.error === 'string' && r.json.error.length > 0, `${what}: JSON error, got ${r.text.slice(0, 300)}`);
}

const offerBody = (room, peerId, extra = {}) => ({ room, peer_id: peerId, offer: { sdp: offerSdp, type: 'offer' }, ...extra });

// ---------------------------------------------------------------------------------------------
// Happy paths

test('READY reports both ports; --port 0 makes both ephemeral', () => {
  assert.ok(Number.isInteger(server.http) && server.http > 0);
  assert.ok(Number.isInteger(server.udp) && server.udp > 0);
});

test('GET /health, /stats, /config, /rooms on an idle server', async () => {
  const h = await server.request('GET', '/health');
  assert.equal(h.status, 200);
  assert.match(h.contentType, /^application\/json/);
  assert.equal(h.json.status, 'ok');
  assert.equal(typeof h.json.rooms, 'number');
  assert.equal(typeof h.json.peers, 'number');
  assert.ok(typeof h.json.uptime_s === 'number' && h.json.uptime_s >= 0);

  const s = await server.request('GET', '/stats');
  assert.equal(s.status, 200);
  for (const k of ['rooms', 'peers', 'pending', 'messages_relayed', 'deliveries', 'dropped_too_large',
    'dropped_bad_frame', 'dropped_filtered', 'dropped_unknown_peer', 'dropped_send', 'datagrams_in', 'datagrams_out',
    'hook_events', 'hook_dropped', 'uptime_s']) {
    assert.equal(typeof s.json[k], 'number', `/stats.${k}`);
  }
  for (const [k, v] of Object.entries(s.json)) {
    if (['ice_tcp', 'sctp', 'volatile', 'relay_latency', 'handshake', 'http_rate_limited'].includes(k)) continue;
    assert.equal(typeof v, 'number', `/stats.${k}`);
  }
  for (const h of ['relay_latency', 'handshake']) {  // the histograms (tests/server/metrics.test.mjs)
    assert.deepEqual(Object.keys(s.json[h]).sort(), ['count', 'counts', 'le_us', 'sum_us'], `/stats.${h}`);
    assert.equal(s.json[h].counts.length, s.json[h].le_us.length + 1, `/stats.${h}`);
  }
  assert.deepEqual(Object.keys(s.json.ice_tcp).sort(), ['accepted', 'closed_bad_frame', 'closed_no_stun',
    'dropped_send', 'frames_in', 'frames_out', 'open', 'path_fallbacks', 'refused']);
  for (const [k, v] of Object.entries(s.json.ice_tcp)) assert.equal(v, 0, `/stats.ice_tcp.${k} on an idle server`);
  assert.deepEqual(Object.keys(s.json.volatile).sort(), ['deliveries', 'dropped_congested', 'dropped_no_channel',
    'dropped_send', 'relayed']);
  for (const k of ['ice_restarts', 'hook_backpressure_pauses']) assert.equal(s.json[k], 0, `/stats.${k} on an idle server`);
  assert.deepEqual(Object.keys(s.json.sctp).sort(), ['data_chunks_in', 'data_chunks_out', 'data_dropped_no_room',
    'delayed_sack_timeouts', 'duplicate_data_in', 'fast_retransmits', 'graceful_close_timeouts', 'graceful_closes', 'heartbeat_acks_in', 'loss_probes', 'packets_bundled', 'packets_dropped', 'packets_in', 'packets_out',
    'path_return_resends', 'path_returns', 'retransmitted_chunks', 'sacks_in', 'sacks_out', 't3_marked_chunks', 't3_timeouts', 'window_probes']);
  for (const [k, v] of Object.entries(s.json.sctp)) assert.equal(v, 0, `/stats.sctp.${k} on an idle server`);
  assert.deepEqual(s.json.http_rate_limited, { offer: 0, candidate: 0, config: 0 });  // tests/server/security.test.mjs

  const c = await server.request('GET', '/config');
  assert.equal(c.status, 200);
  assert.deepEqual(c.json, { iceServers: [] });

  const r = await server.request('GET', '/rooms');
  assert.equal(r.status, 200);
  assert.ok(Array.isArray(r.json.rooms));
});

test('a wrtc peer joins: answer fields, welcome, /rooms, /rooms/peers, /health, relay to a second peer', { timeout: 60000 }, async () => {
  const room = uniqueId('lobby');
  const a = await connect(room, 'alice');
  assert.equal(a.answer.type, 'answer');
  assert.equal(a.answer.room, room);
  assert.equal(a.answer.peer_id, 'alice');
  assert.ok(typeof a.answer.token === 'string' && a.answer.token.length >= 16, 'token');
  assert.equal(a.answer.max_message_size, 262144 - 66);
  assert.match(a.answer.sdp, /a=ice-lite/);
  assert.equal(a.welcome.room, room);
  assert.equal(a.welcome.peer_id, 'alice');
  assert.deepEqual(a.welcome.peers, []);
  assert.equal(a.welcome.max_message_size, 262144 - 66);

  const b = await connect(room, 'bob');
  assert.deepEqual(b.welcome.peers, ['alice']);
  await a.waitEvent('peer_joined', (e) => e.peer_id === 'bob');

  const rooms = await server.request('GET', '/rooms');
  const entry = rooms.json.rooms.find((x) => x.room === room);
  assert.ok(entry, `room ${room} in /rooms: ${rooms.text}`);
  assert.deepEqual([...entry.peers].sort(), ['alice', 'bob']);

  const rp = await server.request('GET', `/rooms/peers?room=${encodeURIComponent(room)}`);
  assert.equal(rp.status, 200);
  assert.equal(rp.json.room, room);
  assert.deepEqual([...rp.json.peers].sort(), ['alice', 'bob']);

  const h = await server.request('GET', '/health');
  assert.ok(h.json.rooms >= 1 && h.json.peers >= 2, `health ${h.text}`);

  a.sendText('mhello bob');
  await b.waitFrame((f) => f.text === 'malice\nhello bob', 10000, 'relayed message');
  a.sendText('dbob\nsecret');
  await b.waitFrame((f) => f.text === 'dalice\nsecret', 10000, 'direct message');
  const s = await server.request('GET', '/stats');
  assert.ok(s.json.messages_relayed >= 2 && s.json.deliveries >= 2, `stats ${s.text}`);

  // Room names with ':' '@' '.' survive URL encoding in the query string.
  const odd = `r:${uniqueId('x')}@host.name`;
  const c = await connect(odd, 'carol_1');
  const rp2 = await server.request('GET', `/rooms/peers?room=${encodeURIComponent(odd)}`);
  assert.equal(rp2.status, 200, rp2.text);
  assert.deepEqual(rp2.json, { room: odd, peers: ['carol_1'] });
  c.close();
  a.close();
  b.close();
});

test('64-character room and peer ids are accepted', { timeout: 30000 }, async () => {
  const room = 'R'.repeat(40) + uniqueId('r').replace(/[^A-Za-z0-9]/g, '').padEnd(24, 'x').slice(0, 24);
  assert.equal(room.length, 64);
  const p = await connect(room, 'p'.repeat(64));
  assert.equal(p.welcome.peer_id, 'p'.repeat(64));
  p.close();
});

test('POST /candidate (with token) and POST /leave; the leaver is gone and the others are told', { timeout: 60000 }, async () => {
  const room = uniqueId('cand');
  const a = await connect(room, 'alice');
  const b = await connect(room, 'bob');
  const cands = [
    { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host generation 0', sdpMid: '0', sdpMLineIndex: 0 },
    { candidate: 'candidate:842163049 1 udp 1677729535 198.51.100.7 3478 typ srflx raddr 0.0.0.0 rport 0', sdpMid: '0', sdpMLineIndex: 0 },
    null,
    { candidate: '' },
  ];
  for (const candidate of cands) {
    const r = await server.request('POST', '/candidate', { room, peer_id: 'alice', candidate, token: a.token });
    assert.equal(r.status, 200, `candidate ${JSON.stringify(candidate)}: ${r.text}`);
    assert.deepEqual(r.json, { status: 'ok' });
  }
  const l = await server.request('POST', '/leave', { room, peer_id: 'alice', token: a.token });
  assert.equal(l.status, 200, l.text);
  assert.deepEqual(l.json, { status: 'ok' });
  await b.waitEvent('peer_left', (e) => e.peer_id === 'alice');
  await a.waitClosed(10000);
  const rp = await server.request('GET', `/rooms/peers?room=${room}`);
  assert.deepEqual(rp.json.peers, ['bob']);
  const l2 = await server.request('POST', '/leave', { room, peer_id: 'bob', token: b.token });
  assert.equal(l2.status, 200);
  await b.waitClosed(10000);
  // The empty room is removed.
  assertJsonError(await server.request('GET', `/rooms/peers?room=${room}`), 404, 'room after everyone left');
  const rooms = await server.request('GET', '/rooms');
  assert.ok(!rooms.json.rooms.some((x) => x.room === room));
});

test('tokens: re-offer without token 409, wrong token 403; leave without, with an empty or a wrong token 403; candidate without a token 200, with a wrong one 403; right token reconnects', { timeout: 60000 }, async () => {
  const room = uniqueId('tok');
  const a = await connect(room, 'alice');
  const watcher = await connect(room, 'watcher');

  assertJsonError(await server.request('POST', '/offer', offerBody(room, 'alice')), 409, 're-offer without token');
  assertJsonError(await server.request('POST', '/offer', offerBody(room, 'alice', { token: 'nope' })), 403, 're-offer with wrong token');

  const cand = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host', sdpMid: '0', sdpMLineIndex: 0 };
  // docs/protocol.md: "`leave` without the right token gets 403" (409 is only for an offer whose
  // peer id is taken); with Config::require_leave_token (the server's default) a missing one too.
  const leave = { room, peer_id: 'alice' };
  assertJsonError(await server.request('POST', '/leave', leave), 403, '/leave without token');
  assertJsonError(await server.request('POST', '/leave', { ...leave, token: a.token + 'x' }), 403, '/leave wrong token');
  assertJsonError(await server.request('POST', '/leave', { ...leave, token: '' }), 403, '/leave empty token');
  // "`candidate` without a token is accepted (PeerPyRTC clients trickle without one); with a
  // wrong token 403."
  const body = { room, peer_id: 'alice', candidate: cand };
  for (const [what, b] of [['without token', body], ['empty token', { ...body, token: '' }]]) {
    const r = await server.request('POST', '/candidate', b);
    assert.equal(r.status, 200, `/candidate ${what}: ${JSON.stringify(r.json)}`);
    assert.deepEqual(r.json, { status: 'ok' });
  }
  assertJsonError(await server.request('POST', '/candidate', { ...body, token: a.token + 'x' }), 403, '/candidate wrong token');
  // Tokenless candidates still name a real peer: 404 otherwise.
  assertJsonError(await server.request('POST', '/candidate', { ...body, peer_id: 'nobody' }), 404, '/candidate unknown peer without token');
  // Still connected after all that.
  const rp = await server.request('GET', `/rooms/peers?room=${room}`);
  assert.deepEqual([...rp.json.peers].sort(), ['alice', 'watcher']);

  // Reconnect with the right token: a new connection replaces the old, the room sees no leave
  // and no second join.
  const a2 = await connect(room, 'alice', { token: a.token });
  assert.equal(a2.welcome.peer_id, 'alice');
  await a.waitClosed(10000);
  // Marker: sent on the new connection after the server closed the old one, so a peer_left or
  // peer_joined for alice that the replacement caused would reach watcher before it.
  a2.sendText('mback');
  const back = await watcher.waitFrame((f) => f.text === 'malice\nback', 10000, 'message from the reconnected peer');
  const presence = watcher.frames.slice(0, watcher.frames.indexOf(back))
    .filter((f) => f.event && (f.event.type === 'peer_left' || f.event.type === 'peer_joined') && f.event.peer_id === 'alice');
  assert.deepEqual(presence, [], 'no peer_left or peer_joined for alice on reconnect');
  a2.close();
  watcher.close();
});

// ---------------------------------------------------------------------------------------------
// Bad input: every one is a 4xx with a JSON error

test('POST /offer: bad JSON, wrong types, missing and empty fields -> 400', async () => {
  const room = uniqueId('bad');
  const good = offerBody(room, 'p1');
  const cases = [
    ['malformed JSON', '{"room": '],
    ['trailing garbage', '{"room":"a"} x'],
    ['empty body', ''],
    ['JSON array', '[]'],
    ['JSON string', '"offer"'],
    ['JSON null', 'null'],
    ['room missing', { peer_id: 'p1', offer: good.offer }],
    ['room number', { ...good, room: 5 }],
    ['room null', { ...good, room: null }],
    ['room empty', { ...good, room: '' }],
    ['peer_id missing', { room, offer: good.offer }],
    ['peer_id object', { ...good, peer_id: { a: 1 } }],
    ['peer_id empty', { ...good, peer_id: '' }],
    ['offer missing', { room, peer_id: 'p1' }],
    ['offer string', { ...good, offer: offerSdp }],
    ['offer.sdp missing', { ...good, offer: { type: 'offer' } }],
    ['offer.sdp number', { ...good, offer: { sdp: 42, type: 'offer' } }],
    ['offer.sdp empty', { ...good, offer: { sdp: '', type: 'offer' } }],
    ['offer.type answer', { ...good, offer: { sdp: offerSdp, type: 'answer' } }],
    ['offer.type number', { ...good, offer: { sdp: offerSdp, type: 1 } }],
    ['offer.type pranswer', { ...good, offer: { sdp: offerSdp, type: 'pranswer' } }],
    ['offer.type missing', { ...good, offer: { sdp: offerSdp } }],
    ['token number', { ...good, token: 7 }],
    ['invalid UTF-8', Buffer.from([...Buffer.from('{"room":"'), 0xff, 0xfe, ...Buffer.from('","peer_id":"p1"}')])],
  ];
  for (const [what, body] of cases) {
    assertJsonError(await server.request('POST', '/offer', body), 400, what);
  }
});

test('POST /offer: garbage SDP, no data section, broken data section -> 400', async () => {
  const room = uniqueId('sdp');
  const audioOnly = [
    'v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'c=IN IP4 0.0.0.0', 'a=mid:0', 'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    'a=fingerprint:sha-256 ' + Array(32).fill('AB').join(':'), 'a=setup:actpass', 'a=sendrecv', 'a=rtpmap:111 opus/48000/2', '',
  ].join('\r\n');
  const noFingerprint = offerSdp.split(/\r?\n/).filter((l) => !l.startsWith('a=fingerprint')).join('\r\n');
  const noUfrag = offerSdp.split(/\r?\n/).filter((l) => !l.startsWith('a=ice-ufrag')).join('\r\n');
  const cases = [
    ['garbage', 'hello, I am not SDP'],
    ['binary junk', '\u0000\u0001\u0002v=0'],
    ['audio only (no data section)', audioOnly],
    ['no fingerprint', noFingerprint],
    ['no ice-ufrag', noUfrag],
  ];
  for (const [what, sdp] of cases) {
    assertJsonError(await server.request('POST', '/offer', { room, peer_id: 'p1', offer: { sdp, type: 'offer' } }), 400, what);
  }
  // None of them created the room.
  assertJsonError(await server.request('GET', `/rooms/peers?room=${room}`), 404, 'room after bad offers');
});

test('room / peer ids: over-long (65 bytes), control characters, white space at the ends -> 400 on every endpoint', async () => {
  // docs/protocol.md "Names": 1-64 bytes of UTF-8, no C0/DEL/C1, no White_Space at either end.
  // Each error quotes the name as sent (JSON-escaped) and says what is wrong.
  const bad = [
    ['empty', '', 'empty'],
    ['65 ASCII bytes', 'a'.repeat(65), 'too long: 65 bytes'],
    ['33 \u00e9 = 66 bytes', '\u00e9'.repeat(33), 'too long: 66 bytes'],
    ['17 emoji = 68 bytes', '\u{1F98A}'.repeat(17), 'too long: 68 bytes'],
    ['newline', 'a\nb', 'control character U+000A at byte 1'],
    ['tab', 'a\tb', 'control character U+0009 at byte 1'],
    ['NUL', 'a\u0000b', 'control character U+0000 at byte 1'],
    ['DEL', 'a\u007f', 'control character U+007F at byte 1'],
    ['C1 NEL', 'caf\u00e9\u0085', 'control character U+0085 at byte 5'],
    ['leading space', ' alice', 'leading whitespace (U+0020)'],
    ['trailing space', 'alice ', 'trailing whitespace (U+0020 at byte 5)'],
    ['trailing no-break space', 'alice\u00a0', 'trailing whitespace (U+00A0 at byte 5)'],
    ['leading ideographic space', '\u3000alice', 'leading whitespace (U+3000)'],
    ['only a space', ' ', 'leading whitespace (U+0020)'],
  ];
  const cand = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host', sdpMid: '0', sdpMLineIndex: 0 };
  for (const [what, name, why] of bad) {
    const quoted = JSON.stringify(name).replace(/\u007f/g, '\\u007f').replace(/\u0085/g, '\\u0085');
    const expectError = (r, field, label) => {
      assertJsonError(r, 400, label);
      const want = `invalid ${field} ${quoted}: ${why}`;
      assert.ok(r.json.error.startsWith(want), `${label}: ${JSON.stringify(r.json.error)} should start with ${JSON.stringify(want)}`);
    };
    expectError(await server.request('POST', '/offer', offerBody(name, 'p1')), 'room', `offer room ${what}`);
    expectError(await server.request('POST', '/offer', offerBody('room1', name)), 'peer_id', `offer peer_id ${what}`);
    expectError(await server.request('POST', '/leave', { room: name, peer_id: 'p1', token: 'x' }), 'room', `leave room ${what}`);
    expectError(await server.request('POST', '/candidate', { room: 'room1', peer_id: name, candidate: cand, token: 'x' }), 'peer_id', `candidate peer_id ${what}`);
    if (name === '') {
      assertJsonError(await server.request('GET', '/rooms/peers?room='), 400, 'rooms/peers empty');
      assertJsonError(await server.request('GET', '/config?peer_id='), 400, 'config empty');
    } else {
      expectError(await server.request('GET', `/rooms/peers?room=${encodeURIComponent(name)}`), 'room', `rooms/peers ${what}`);
      expectError(await server.request('GET', `/config?peer_id=${encodeURIComponent(name)}`), 'peer_id', `config ${what}`);
    }
  }
  // Not UTF-8: a %-escape of a Latin-1 byte, an overlong '/', a surrogate, above U+10FFFF.
  for (const [q, shown, at] of [['g%E9n%E9ral', 'g\\xE9n\\xE9ral', 1], ['a%C0%AF', 'a\\xC0\\xAF', 1],
    ['%ED%A0%80', '\\xED\\xA0\\x80', 0], ['x%F4%90%80%80', 'x\\xF4\\x90\\x80\\x80', 1]]) {
    const r = await server.request('GET', `/rooms/peers?room=${q}`);
    assertJsonError(r, 400, `rooms/peers ${q}`);
    assert.equal(r.json.error, `invalid room "${shown}": invalid UTF-8 at byte ${at}`);
    assertJsonError(await server.request('GET', `/config?peer_id=${q}`), 400, `config ${q}`);
  }
  assertJsonError(await server.request('POST', '/offer', offerBody('room1', 'server')), 400, 'reserved peer id "server"');
  // What the old rule refused and is a name now (names.test.mjs joins with them): not a 400
  // for the name (the offer below is a real one, so it is a 200; left at once).
  for (const name of ['a b', 'a/b', 'caf\u00e9', '\u{1F600}', 'a"b', 'a%20b']) {
    const r = await server.request('POST', '/offer', offerBody(name, 'p1'));
    assert.notEqual(r.status, 400, `${JSON.stringify(name)} is a valid room: ${r.text.slice(0, 200)}`);
    if (r.status === 200) await server.request('POST', '/leave', { room: name, peer_id: 'p1', token: r.json.token });
  }
});

test('POST /candidate and /leave: bad bodies 400, unknown room/peer 404', { timeout: 30000 }, async () => {
  const room = uniqueId('cl');
  const a = await connect(room, 'alice');
  const ok = { room, peer_id: 'alice', token: a.token };
  const badCandidates = [
    ['number', 5],
    ['string', 'candidate:1 1 udp 1 1.2.3.4 5 typ host'],
    ['array', []],
    ['candidate number', { candidate: 5, sdpMid: '0', sdpMLineIndex: 0 }],
    ['not a candidate line', { candidate: 'hello world', sdpMid: '0', sdpMLineIndex: 0 }],
    ['sdpMLineIndex string', { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host', sdpMid: '0', sdpMLineIndex: 'zero' }],
    ['sdpMid number', { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host', sdpMid: 0, sdpMLineIndex: 0 }],
  ];
  for (const [what, candidate] of badCandidates) {
    assertJsonError(await server.request('POST', '/candidate', { ...ok, candidate }), 400, `candidate ${what}`);
  }
  assertJsonError(await server.request('POST', '/candidate', { ...ok }), 400, 'candidate field missing');
  for (const path of ['/candidate', '/leave']) {
    assertJsonError(await server.request('POST', path, '{nope'), 400, `${path} malformed JSON`);
    assertJsonError(await server.request('POST', path, []), 400, `${path} array`);
    assertJsonError(await server.request('POST', path, { peer_id: 'alice', token: a.token, candidate: null }), 400, `${path} room missing`);
    assertJsonError(await server.request('POST', path, { room, token: a.token, candidate: null }), 400, `${path} peer_id missing`);
    assertJsonError(await server.request('POST', path, { room: 7, peer_id: 'alice', token: a.token, candidate: null }), 400, `${path} room number`);
    assertJsonError(await server.request('POST', path, { room: uniqueId('nosuch'), peer_id: 'alice', token: a.token, candidate: null }), 404, `${path} unknown room`);
    assertJsonError(await server.request('POST', path, { room, peer_id: 'nobody', token: a.token, candidate: null }), 404, `${path} unknown peer`);
  }
  // The peer is untouched.
  const rp = await server.request('GET', `/rooms/peers?room=${room}`);
  assert.deepEqual(rp.json.peers, ['alice']);
  a.close();
});

test('oversized bodies -> 413', async () => {
  const big = JSON.stringify({ room: 'r', peer_id: 'p', offer: { sdp: 'v=0\r\n' + 'a=x\r\n'.repeat(200000), type: 'offer' } });
  assert.ok(big.length > 1000000);
  for (const path of ['/offer', '/candidate', '/leave']) {
    assertJsonError(await server.request('POST', path, big), 413, `${path} 1 MB`);
  }
});

test('GET /rooms/peers: missing, empty, badly escaped or unknown room', async () => {
  assertJsonError(await server.request('GET', '/rooms/peers'), 400, 'no query');
  assertJsonError(await server.request('GET', '/rooms/peers?other=1'), 400, 'no room parameter');
  assertJsonError(await server.request('GET', '/rooms/peers?room='), 400, 'empty room');
  assertJsonError(await server.request('GET', '/rooms/peers?room=%zz'), 400, 'bad escape');
  assertJsonError(await server.request('GET', '/rooms/peers?room=abc%'), 400, 'truncated escape');
  assertJsonError(await server.request('GET', `/rooms/peers?room=${uniqueId('nosuch')}`), 404, 'unknown room');
});

test('unknown paths 404, wrong methods 405, all JSON', async () => {
  assertJsonError(await server.request('GET', '/nope'), 404, 'GET /nope');
  // The examples are mounted at "/" (this server runs with them), so any path may be a static
  // GET: POST there is 405.
  assertJsonError(await server.request('POST', '/nope', {}), 405, 'POST /nope');
  assertJsonError(await server.request('GET', '/offer'), 405, 'GET /offer');
  assertJsonError(await server.request('DELETE', '/rooms'), 405, 'DELETE /rooms');
  assertJsonError(await server.request('POST', '/health', {}), 405, 'POST /health');
  const t = await server.request('GET', '/..%2f..%2f..%2fetc%2fpasswd');
  assertJsonError(t, 400, 'path traversal');
  assert.ok(!t.text.includes('root:'), 'no /etc/passwd');
});

test('the server still works after all the bad input: a fresh wrtc peer connects', { timeout: 30000 }, async () => {
  const room = uniqueId('after');
  const a = await connect(room, 'alice');
  const b = await connect(room, 'bob');
  b.sendText('mstill alive');
  await a.waitFrame((f) => f.text === 'mbob\nstill alive', 10000, 'relay');
  const h = await server.request('GET', '/health');
  assert.equal(h.json.status, 'ok');
  a.close();
  b.close();
});

// ---------------------------------------------------------------------------------------------
// Static files and the echo room

function repoFile(...p) { return resolve(REPO_ROOT, ...p); }

test('static: the JS client and its typings with the right content types', async () => {
  const js = await server.request('GET', '/peerrtc-client.js');
  assert.equal(js.status, 200, js.text.slice(0, 200));
  assert.match(js.contentType, /^text\/javascript/);
  assert.ok(js.buf.equals(readFileSync(repoFile('clients/js/peerrtc-client.js'))), 'served bytes = clients/js/peerrtc-client.js');
  const head = await server.request('HEAD', '/peerrtc-client.js');
  assert.equal(head.status, 200);
  const dts = await server.request('GET', '/peerrtc-client.d.ts');
  assert.equal(dts.status, 200);
  assert.match(dts.contentType, /^text\/plain/);
  assert.ok(dts.buf.equals(readFileSync(repoFile('clients/js/peerrtc-client.d.ts'))));
});

test('static: the web examples (chat at /, whiteboard at /whiteboard/, echo at /echo/)', async () => {
  const web = repoFile('examples/web');
  const pages = [['/', resolve(web, 'index.html')], ['/whiteboard/', resolve(web, 'whiteboard/index.html')], ['/echo/', resolve(web, 'echo/index.html')]];
  for (const [url, file] of pages) {
    const r = await server.request('GET', url);
    assert.equal(r.status, 200, `${url}: ${r.status}`);
    assert.match(r.contentType, /^text\/html/, url);
    assert.ok(r.buf.equals(readFileSync(file)), `${url} serves ${file}`);
  }
  // The pages' assets (absolute URLs) with their content types.
  const assets = [['/style.css', /^text\/css/], ['/common.js', /^text\/javascript/], ['/chat.js', /^text\/javascript/],
    ['/whiteboard/whiteboard.js', /^text\/javascript/], ['/echo/echo.js', /^text\/javascript/]];
  for (const [url, type] of assets) {
    const r = await server.request('GET', url);
    assert.equal(r.status, 200, url);
    assert.match(r.contentType, type, url);
    assert.ok(r.buf.equals(readFileSync(resolve(web, url.slice(1)))), `${url} serves examples/web${url}`);
  }
  assertJsonError(await server.request('GET', '/whiteboard/nope.js'), 404, 'missing static file');
});

test('echo room: text comes back as "echo: <text>", binary unchanged, only to the sender', { timeout: 30000 }, async () => {
  const room = `echo-${uniqueId('e')}`;
  const a = await connect(room, 'alice');
  const b = await connect(room, 'bob');
  a.sendText('mhi there');
  const f = await a.waitFrame((x) => x.text !== undefined && x.text.endsWith('\necho: hi there'), 10000, 'text echo');
  assert.match(f.text, /^[md]server\necho: hi there$/);
  await b.waitFrame((x) => x.text === 'malice\nhi there', 10000, 'relay to bob');
  const payload = Buffer.from([0, 1, 2, 250, 255, 10]);
  a.sendBinary(Buffer.concat([Buffer.from([0x01]), payload]));
  const e = await a.waitFrame((x) => x.bin && x.bin.length > payload.length && x.bin.subarray(x.bin.length - payload.length).equals(payload), 10000, 'binary echo');
  assert.ok(e.bin[0] === 0x01 || e.bin[0] === 0x02);
  assert.equal(e.bin.subarray(2, 2 + e.bin[1]).toString(), 'server');
  // A maximum-size text can't grow by "echo: ": no echo, and nothing breaks.
  const max = a.welcome.max_message_size;
  a.sendText('m' + 'x'.repeat(max));
  await b.waitFrame((x) => x.text && x.text.length === 'malice\n'.length + max, 10000, 'max-size relay to bob');
  a.sendText('mafter');
  const after = await a.waitFrame((x) => x.text !== undefined && x.text.endsWith('\necho: after'), 10000, 'echo after the max-size message');
  // The one hook thread handles alice's messages in order, so her echo of 'after' is the marker
  // for the earlier ones: exactly two text echoes, none for the max-size text.
  const textEchoes = a.frames.slice(0, a.frames.indexOf(after) + 1).filter((x) => x.text !== undefined && /^[md]server\n/.test(x.text))
    .map((x) => x.text.slice(x.text.indexOf('\n') + 1));
  assert.deepEqual(textEchoes, ['echo: hi there', 'echo: after']);
  // Marker for bob: whatever the hook sent for alice's messages left before the echo of
  // 'after'; a direct message from alice, sent now, reaches bob after all of it.
  a.sendText('dbob\nmarker');
  const marker = await b.waitFrame((x) => x.text === 'dalice\nmarker', 10000, 'marker from alice');
  const fromServer = (x) => (x.text !== undefined ? /^[md]server\n/.test(x.text) : x.bin.subarray(2, 2 + x.bin[1]).toString() === 'server');
  assert.deepEqual(b.frames.slice(0, b.frames.indexOf(marker)).filter(fromServer), [], 'bob gets no echo');
  a.close();
  b.close();
});

test('no echo outside echo rooms', { timeout: 30000 }, async () => {
  const room = uniqueId('plain');
  const a = await connect(room, 'alice');
  const e = await connect(`echo-${uniqueId('mark')}`, 'marker');
  a.sendText('mhello');
  // Markers: (1) alice's flush: the network thread handled 'hello' and queued its hook call;
  // (2) an echo in an echo room: the one hook thread ran every call queued before, so an echo
  // of 'hello' would have been sent to alice by now; (3) alice's flush again: it has arrived.
  await a.flush();
  e.sendText('mping');
  await e.waitFrame((x) => x.text === 'dserver\necho: ping' || x.text === 'mserver\necho: ping', 10000, 'echo in the echo room');
  const end = await a.flush();
  assert.deepEqual(a.frames.slice(0, end).filter((x) => x.text !== undefined && x.text.includes('echo: ')), []);
  a.close();
  e.close();
});

// ---------------------------------------------------------------------------------------------
// Flags, environment, errors at startup, shutdown

test('--ice-server is listed by /config (flag and PEERRTC_ICE_SERVER)', { timeout: 30000 }, async () => {
  const s = await startServer(SERVER_BIN, [...BASE_ARGS, '--ice-server', 'stun:stun.example.org:3478', '--ice-server', 'stun:[2001:db8::1]:19302'], { name: 'ice' });
  try {
    const c = await s.request('GET', '/config');
    assert.equal(c.status, 200);
    assert.match(c.contentType, /^application\/json/);
    // RTCConfiguration.iceServers: the STUN URLs, in the order given, in one entry. TURN servers
    // go through --turn-url (tests/server/config.test.mjs).
    assert.deepEqual(c.json, { iceServers: [{ urls: ['stun:stun.example.org:3478', 'stun:[2001:db8::1]:19302'] }] });
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
  const e = await startServer(SERVER_BIN, BASE_ARGS, { env: { PEERRTC_ICE_SERVER: 'stun:env.example.org:19302' }, name: 'ice-env' });
  try {
    const c = await e.request('GET', '/config');
    assert.deepEqual(c.json, { iceServers: [{ urls: ['stun:env.example.org:19302'] }] });
  } finally {
    assert.equal((await e.stop()).code, 0);
  }
});

test('--no-examples: no web pages, no echo; API and the JS client still there', { timeout: 30000 }, async () => {
  const s = await startServer(SERVER_BIN, [...BASE_ARGS, '--no-examples'], { name: 'noex' });
  try {
    const root = await s.request('GET', '/');
    assert.match(root.contentType, /^application\/json/);
    assert.ok(!/<html/i.test(root.text));
    assertJsonError(await s.request('GET', '/whiteboard/'), 404, '/whiteboard/ without examples');
    assert.equal((await s.request('GET', '/peerrtc-client.js')).status, 200);
    // 'echo-off' would be an echo room with the examples. Without them no on_message hook is
    // installed, so there is no hook thread to put a marker through (see 'no echo outside echo
    // rooms'); instead: the flush proves the server handled 'hi', nothing before it is an echo,
    // and /stats says no hook task ever ran (with the echo hook, every message runs one).
    const p = await connectPeer(s, 'echo-off', 'alice');
    p.sendText('mhi');
    const end = await p.flush();
    assert.deepEqual(p.frames.slice(0, end).filter((x) => x.text !== undefined && x.text.includes('echo: ')), [], 'no echo with --no-examples');
    const st = await s.request('GET', '/stats');
    assert.equal(st.json.hook_events, 0, `no hook ran: ${st.text}`);
    assert.equal(st.json.hook_dropped, 0);
    p.close();
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

test('bad flags exit 2 with a clear message; --help exits 0', { timeout: 60000 }, async () => {
  const bad = [
    [['--bogus'], /bogus/],
    [['--port', '70000'], /port/i],
    [['--port', 'abc'], /port/i],
    [['--udp-port', '-1'], /udp-port/i],
    [['--log-level', 'loud'], /log-level/i],
    [['--ice-server', 'http://example.org'], /ice-server|stun/i],
    [['--public-ip', 'not-an-ip'], /public-ip|IP/],
    [['--host', 'nowhere'], /host|IP/],
    [['--max-rooms', '0'], /max-rooms/],
    [['--consent-timeout-ms', 'soon'], /consent/],
  ];
  for (const [args, re] of bad) {
    const r = await runToExit(SERVER_BIN, args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}; stderr ${r.stderr}`);
    assert.match(r.stderr, re, `${args.join(' ')}: message`);
    assert.ok(!r.stdout.includes('READY'));
  }
  const env = await runToExit(SERVER_BIN, [], { env: { PEERRTC_PORT: 'x' } });
  assert.equal(env.code, 2, `PEERRTC_PORT=x: ${env.stderr}`);
  const h = await runToExit(SERVER_BIN, ['--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--udp-port/);
  assert.match(h.stdout, /PEERRTC_HOST/);
});

test('port in use (HTTP or UDP) exits 1 with a clear message', { timeout: 30000 }, async () => {
  const r = await runToExit(SERVER_BIN, ['--host', '127.0.0.1', '--port', String(server.http), '--udp-port', '0']);
  assert.equal(r.code, 1, `HTTP port in use: exit ${r.code}; stderr ${r.stderr}`);
  assert.match(r.stderr, /HTTP/);
  assert.match(r.stderr, new RegExp(String(server.http)));
  const u = await runToExit(SERVER_BIN, ['--host', '127.0.0.1', '--port', '0', '--udp-port', String(server.udp)]);
  assert.equal(u.code, 1, `UDP port in use: exit ${u.code}; stderr ${u.stderr}`);
  assert.match(u.stderr, /UDP/);
});

test('--port N uses UDP N too; --udp-port overrides', { timeout: 30000 }, async () => {
  // Find a port free for both TCP and UDP by letting the server pick, then reuse the number.
  const probe = await startServer(SERVER_BIN, BASE_ARGS, { name: 'probe' });
  const n = probe.udp;
  await probe.stop();
  const s = await startServer(SERVER_BIN, ['--host', '127.0.0.1', '--port', String(n)], { name: 'same' });
  try {
    assert.equal(s.http, n);
    assert.equal(s.udp, n);
    const p = await connectPeer(s, 'same-port', 'alice');
    assert.match(p.answer.sdp, new RegExp(` ${n} typ host`));
    p.close();
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
  const o = await startServer(SERVER_BIN, ['--host', '127.0.0.1', '--port', '0', '--udp-port', String(n)], { name: 'udp-override' });
  try {
    assert.notEqual(o.http, n);
    assert.equal(o.udp, n);
  } finally {
    assert.equal((await o.stop()).code, 0);
  }
});

test('limits: --max-peers-per-room and --max-rooms answer 503 with a JSON error', { timeout: 30000 }, async () => {
  const s = await startServer(SERVER_BIN, [...BASE_ARGS, '--max-peers-per-room', '1', '--max-rooms', '1'], { name: 'limits' });
  const sdp = offerSdp;
  try {
    const a = await connectPeer(s, 'only', 'alice');
    const full = await s.request('POST', '/offer', { room: 'only', peer_id: 'bob', offer: { sdp, type: 'offer' } });
    assertJsonError(full, 503, 'room full');
    const more = await s.request('POST', '/offer', { room: 'other', peer_id: 'bob', offer: { sdp, type: 'offer' } });
    assertJsonError(more, 503, 'room limit');
    a.close();
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

test('SIGINT on an idle server exits 0', { timeout: 15000 }, async () => {
  const s = await startServer(SERVER_BIN, BASE_ARGS, { name: 'sigint' });
  const r = await s.stop({ signal: 'SIGINT', timeoutMs: 5000 });
  assert.equal(r.code, 0, s.output());
});

test('SIGTERM with connected peers: exit 0 within 5 s, the peers see their channels close', { timeout: 30000 }, async () => {
  const s = await startServer(SERVER_BIN, BASE_ARGS, { name: 'sigterm' });
  const a = await connectPeer(s, 'bye', 'alice');
  const b = await connectPeer(s, 'bye', 'bob');
  try {
    const r = await s.stop({ signal: 'SIGTERM', timeoutMs: 5000 });
    assert.equal(r.code, 0, `exit code; output:\n${s.output()}`);
    assert.ok(r.ms < 5000);
    await withTimeout(Promise.all([a.closedPromise, b.closedPromise]), 5000, 'peers see the channel close');
  } finally {
    a.close();
    b.close();
  }
});
