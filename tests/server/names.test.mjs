// Names in every language (docs/protocol.md "Names"): rooms and peer ids in many scripts and
// emoji join with real wrtc peers through POST /offer, are listed byte-exact by /rooms and
// /rooms/peers?room=<percent-encoded UTF-8>, are stamped byte-exact on relayed frames (text and
// binary, where the length byte counts UTF-8 bytes); names are compared as bytes (José, josé and
// the NFD José are three peers); bad names are a 400 that quotes the name as sent.
//
//   node --test tests/server/names.test.mjs       (PEERRTC_SERVER=path overrides the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SERVER_BIN, connectPeer, makeOfferSdp, startServer } from './lib.mjs';

let server;
let offerSdp;
const peers = [];

before(async () => {
  server = await startServer(SERVER_BIN, ['--port', '0', '--host', '127.0.0.1'], { name: 'names-server' });
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

const utf8 = (s) => Buffer.from(s, 'utf8');
const sorted = (a) => [...a].sort();

// Accepted names: accents, Cyrillic, Chinese, Arabic, emoji (with a ZWJ sequence), spaces
// inside, and 64-byte names of two- and four-byte characters.
const NAMES = {
  latin: 'José',
  cyrillic: 'Дмитрий',
  chinese: '王小明',
  arabic: 'مريم',
  emoji: '🦊',
  zwj: '👩‍💻 dev',
  spaced: 'Anna Maria',
  e64: 'é'.repeat(32),
  fox64: '🦊'.repeat(16),
};

test('the names are what the test means (bytes)', () => {
  assert.equal(utf8(NAMES.e64).length, 64);
  assert.equal(utf8(NAMES.fox64).length, 64);
  assert.equal(NAMES.latin, NAMES.latin.normalize('NFC'));
});

test('peers named in many scripts join room "général": welcome, presence, /rooms, /rooms/peers byte-exact', { timeout: 90000 }, async () => {
  const room = 'général';
  const ids = Object.values(NAMES);
  const joined = [];
  for (const id of ids) {
    const p = await connect(room, id);
    assert.equal(p.welcome.room, room);
    assert.equal(p.welcome.peer_id, id);
    assert.deepEqual(sorted(p.welcome.peers), sorted(joined.map((q) => q.peerId)));
    assert.equal(p.answer.peer_id, id);
    assert.equal(p.answer.room, room);
    for (const q of joined) await q.waitEvent('peer_joined', (e) => e.peer_id === id);
    joined.push(p);
  }

  // /rooms: the room and every id exactly; the JSON carries the UTF-8 as it is.
  const all = await server.request('GET', '/rooms');
  assert.equal(all.status, 200, all.text);
  const entry = all.json.rooms.find((x) => x.room === room);
  assert.ok(entry, `room ${room} in /rooms: ${all.text}`);
  assert.deepEqual(sorted(entry.peers), sorted(ids));
  assert.ok(all.buf.includes(utf8('"général"')), `raw UTF-8 in the body: ${all.text}`);

  // /rooms/peers with the room percent-encoded as UTF-8 (encodeURIComponent), by hand, and raw.
  for (const q of [encodeURIComponent(room), 'g%C3%A9n%C3%A9ral', 'g%c3%a9n%c3%a9ral']) {
    const r = await server.request('GET', `/rooms/peers?room=${q}`);
    assert.equal(r.status, 200, `${q}: ${r.text}`);
    assert.equal(r.json.room, room);
    assert.deepEqual(sorted(r.json.peers), sorted(ids));
    for (const id of ids) assert.ok(r.buf.includes(utf8(JSON.stringify(id))), `${id} as raw UTF-8 in ${r.text}`);
  }

  // The server stamps each sender byte-exact: text (m<from>\n) and binary (0x01 <len> <from>,
  // len = UTF-8 bytes, 64 for the longest names).
  const [first, ...others] = joined;
  for (const sender of joined) {
    sender.sendText(`mhello from ${sender.peerId}`);
    sender.sendBinary(Buffer.from([0x01, 7, 0, 255]));  // a binary broadcast frame
  }
  for (const receiver of joined) {
    for (const sender of joined) {
      if (sender === receiver) continue;
      await receiver.waitFrame((f) => f.text === `m${sender.peerId}\nhello from ${sender.peerId}`, 10000, `text from ${sender.peerId}`);
      const id = utf8(sender.peerId);
      const want = Buffer.concat([Buffer.from([0x01, id.length]), id, Buffer.from([7, 0, 255])]);
      await receiver.waitFrame((f) => f.bin && f.bin.equals(want), 10000, `binary from ${sender.peerId}`);
    }
  }

  // Direct messages to the emoji name, by text and by binary (to the 64-byte emoji name).
  first.sendText(`d${NAMES.emoji}\nfor the fox`);
  const fox = joined.find((p) => p.peerId === NAMES.emoji);
  await fox.waitFrame((f) => f.text === `d${first.peerId}\nfor the fox`, 10000, 'direct text to 🦊');
  const to = utf8(NAMES.fox64);
  first.sendBinary(Buffer.concat([Buffer.from([0x02, to.length]), to, Buffer.from('bin')]));
  const fox64 = joined.find((p) => p.peerId === NAMES.fox64);
  const from = utf8(first.peerId);
  const want = Buffer.concat([Buffer.from([0x02, from.length]), from, Buffer.from('bin')]);
  await fox64.waitFrame((f) => f.bin && f.bin.equals(want), 10000, 'direct binary to 🦊×16');
  // Nobody else got either: after each one's flush marker, no direct frame is there.
  for (const p of others) {
    if (p === fox || p === fox64) continue;
    const n = await p.flush();
    assert.ok(!p.frames.slice(0, n).some((f) => (f.text && f.text.startsWith('d')) || (f.bin && f.bin[0] === 0x02)),
      `${p.peerId} got a direct message meant for someone else`);
  }

  // Leaving: the others see the name go, byte-exact.
  fox.close();
  await first.waitEvent('peer_left', (e) => e.peer_id === NAMES.emoji, 20000);
  for (const p of joined) p.close();
});

test('rooms named in many scripts, with spaces and 64 bytes: each listed and found by its percent-encoded name', { timeout: 60000 }, async () => {
  const rooms = ['Москва', '会议室 3', 'غرفة الاجتماعات', '🦊 den', 'my room', 'é'.repeat(32), '🦊'.repeat(16)];
  const joined = [];
  for (const [i, room] of rooms.entries()) joined.push(await connect(room, `p${i}`));
  const all = await server.request('GET', '/rooms');
  for (const [i, room] of rooms.entries()) {
    const entry = all.json.rooms.find((x) => x.room === room);
    assert.ok(entry, `room ${room} in /rooms: ${all.text}`);
    assert.deepEqual(entry.peers, [`p${i}`]);
    const r = await server.request('GET', `/rooms/peers?room=${encodeURIComponent(room)}`);
    assert.equal(r.status, 200, `${room}: ${r.text}`);
    assert.deepEqual(r.json, { room, peers: [`p${i}`] });
  }
  // A form-encoded space ('+') is a space too.
  const plus = await server.request('GET', '/rooms/peers?room=my+room');
  assert.deepEqual(plus.json, { room: 'my room', peers: [`p${rooms.indexOf('my room')}`] });
  // A room that differs by a byte is another room: 404 that quotes it.
  const nfd = 'ge\u0301ne\u0301ral';
  const r = await server.request('GET', `/rooms/peers?room=${encodeURIComponent(nfd)}`);
  assert.equal(r.status, 404, r.text);
  assert.equal(r.json.error, `no room ${JSON.stringify(nfd)}`);
  for (const p of joined) p.close();
});

test('José, josé and José in NFD are three different peers of one room', { timeout: 60000 }, async () => {
  const room = 'names-compared-as-bytes';
  const nfc = 'Jos\u00e9';
  const lower = 'jos\u00e9';
  const nfd = 'Jose\u0301';
  assert.notEqual(nfc, nfd);
  const a = await connect(room, nfc);
  const b = await connect(room, lower);
  const c = await connect(room, nfd);
  assert.deepEqual(sorted(c.welcome.peers), sorted([nfc, lower]));
  const r = await server.request('GET', `/rooms/peers?room=${encodeURIComponent(room)}`);
  assert.deepEqual(sorted(r.json.peers), sorted([nfc, lower, nfd]));

  // Each one's direct message reaches that one only.
  const sender = await connect(room, 'sender');
  for (const [name, p] of [[nfc, a], [lower, b], [nfd, c]]) {
    sender.sendText(`d${name}\nfor ${name}`);
    await p.waitFrame((f) => f.text === `dsender\nfor ${name}`, 10000, `direct to ${name}`);
  }
  for (const p of [a, b, c]) {
    const n = await p.flush();
    const got = p.frames.slice(0, n).filter((f) => f.text && f.text.startsWith('dsender\n'));
    assert.deepEqual(got.map((f) => f.text), [`dsender\nfor ${p.peerId}`], `${p.peerId} got only its own`);
  }

  // Taken is taken byte-exact: a second José (NFC) without the token is a 409 that quotes it.
  const dup = await server.request('POST', '/offer', { room, peer_id: nfc, offer: { sdp: offerSdp, type: 'offer' } });
  assert.equal(dup.status, 409, dup.text);
  assert.match(dup.json.error, /^peer_id "José" is already connected in room "names-compared-as-bytes"/);
  for (const p of [a, b, c, sender]) p.close();
});

test('bad names: 400 quoting the name as sent (UTF-8 as is, JSON-escaped) and saying what is wrong', async () => {
  const offer = (room, peerId) => server.request('POST', '/offer', { room, peer_id: peerId, offer: { sdp: offerSdp, type: 'offer' } });
  const cases = [
    // [room, peer_id, expected error]
    ['général', ' José', 'invalid peer_id " José": leading whitespace (U+0020)'],
    ['général', 'José ', 'invalid peer_id "José ": trailing whitespace (U+0020 at byte 5)'],
    ['général', 'José\u3000', 'invalid peer_id "José\u3000": trailing whitespace (U+3000 at byte 5)'],
    ['général\n', 'José', 'invalid room "général\\n": control character U+000A at byte 9'],
    ['général', 'Jo\u0000sé', 'invalid peer_id "Jo\\u0000sé": control character U+0000 at byte 2'],
    ['général', 'José\u0085', 'invalid peer_id "José\\u0085": control character U+0085 at byte 5'],
    ['général', 'a"b\\c\u007f', 'invalid peer_id "a\\"b\\\\c\\u007f": control character U+007F at byte 5'],
    ['é'.repeat(33), 'José', `invalid room "${'é'.repeat(33)}": too long: 66 bytes (at most 64 bytes of UTF-8)`],
    ['général', '🦊'.repeat(17), `invalid peer_id "${'🦊'.repeat(17)}": too long: 68 bytes (at most 64 bytes of UTF-8)`],
    ['général', 'server', 'peer_id "server" is reserved'],
  ];
  for (const [room, peerId, error] of cases) {
    const r = await offer(room, peerId);
    assert.equal(r.status, 400, `${JSON.stringify([room, peerId])}: ${r.text}`);
    assert.equal(r.json.error, error);
    // The body carries the name's UTF-8 itself, not \u escapes nor '?'.
    assert.ok(!r.text.includes('\\u00e9') && !r.text.includes('?'), `raw UTF-8 in ${r.text}`);
  }
  // The same rule for /leave, /candidate, /rooms/peers and /config.
  let r = await server.request('POST', '/leave', { room: 'général ', peer_id: 'José', token: 'x' });
  assert.equal(r.json.error, 'invalid room "général ": trailing whitespace (U+0020 at byte 9)');
  r = await server.request('POST', '/candidate', { room: 'général', peer_id: 'a\tb', token: 'x', candidate: null });
  assert.equal(r.json.error, 'invalid peer_id "a\\tb": control character U+0009 at byte 1');
  r = await server.request('GET', `/rooms/peers?room=${encodeURIComponent(' général')}`);
  assert.equal(r.json.error, 'invalid room " général": leading whitespace (U+0020)');
  r = await server.request('GET', `/config?peer_id=${encodeURIComponent('José\n')}`);
  assert.equal(r.json.error, 'invalid peer_id "José\\n": control character U+000A at byte 5');

  // Bytes that are not UTF-8 (a query's %-escapes can carry any): shown as \xNN, never '?'.
  r = await server.request('GET', '/rooms/peers?room=g%E9n%E9ral');  // général in Latin-1
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'invalid room "g\\xE9n\\xE9ral": invalid UTF-8 at byte 1');
  for (const [q, error] of [
    ['%C3%A9%C3', 'invalid room "é\\xC3": invalid UTF-8 at byte 2'],                      // truncated
    ['%C0%AF', 'invalid room "\\xC0\\xAF": invalid UTF-8 at byte 0'],                       // overlong '/'
    ['ab%ED%A0%80', 'invalid room "ab\\xED\\xA0\\x80": invalid UTF-8 at byte 2'],            // surrogate
    ['%F4%90%80%80', 'invalid room "\\xF4\\x90\\x80\\x80": invalid UTF-8 at byte 0'],        // > U+10FFFF
    ['%FF', 'invalid room "\\xFF": invalid UTF-8 at byte 0'],
  ]) {
    r = await server.request('GET', `/rooms/peers?room=${q}`);
    assert.equal(r.status, 400, `${q}: ${r.text}`);
    assert.equal(r.json.error, error, q);
  }
  // A JSON body must be UTF-8: Latin-1 bytes, or an unpaired \ud800 escape, are not JSON.
  const latin1 = Buffer.concat([Buffer.from('{"room":"g'), Buffer.from([0xe9]), Buffer.from('n","peer_id":"p","token":"x"}')]);
  r = await server.request('POST', '/leave', new Uint8Array(latin1));
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'body is not valid JSON: invalid UTF-8 at byte 10');
  r = await server.request('POST', '/leave', '{"room":"a\\ud800","peer_id":"p","token":"x"}');
  assert.equal(r.status, 400);
  assert.match(r.json.error, /^body is not valid JSON/);

  // None of these created a room.
  const rooms = await server.request('GET', '/rooms');
  assert.ok(!rooms.json.rooms.some((x) => x.room.startsWith('g') && x.room !== 'général'), rooms.text);
});

test('direct-message targets follow the same rule: a bad one is a bad_frame, an absent Unicode one unknown_peer', { timeout: 30000 }, async () => {
  const p = await connect('frames-ünïcode', 'Zoë');
  p.sendText('d bob\nhi');                                          // leading space
  p.sendBinary(Buffer.concat([Buffer.from([0x02, 3]), Buffer.from([0x67, 0xe9, 0x6e]), Buffer.from('x')]));  // g\xE9n
  p.sendText('d🦊\nanyone?');                                       // valid, but not here
  const n = await p.flush();
  const errors = p.frames.slice(0, n).filter((f) => f.event && f.event.type === 'error').map((f) => f.event);
  assert.deepEqual(errors.map((e) => e.code), ['bad_frame', 'bad_frame', 'unknown_peer'], JSON.stringify(errors));
  assert.equal(errors[2].to, '🦊');
  assert.equal(errors[2].error, 'no peer "🦊" in this room');
  p.close();
});
