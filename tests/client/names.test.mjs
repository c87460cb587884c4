// Names in every language with the JS client (docs/protocol.md "Names"): peers named in many
// scripts exchange text and binary messages, a direct message reaches an emoji name, the client
// normalises NFD input to NFC, sendTo keeps a listed name's bytes, and the client's exported
// rule (nameError) says exactly what the server says.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { makeClient, waitFor, closeAll, uid, rawPeer, flush, bytesEqual, wrtc } from './lib/util.mjs';
import {
  WebRTCConnection, nameError, isValidName, normalizeName, MAX_NAME_BYTES,
} from '../../clients/js/peerrtc-client.js';

let server;
const live = [];
before(async () => { server = await startServer({ name: 'names' }); });
after(async () => {
  await closeAll(live);
  if (server) await server.stop();
});
function client(room, id, opts) { const c = makeClient(server, room, id, opts); live.push(c); return c; }

test('peers named José, Дмитрий, 王小明, مريم, 🦊 and "Anna Maria" in room "général": broadcast text and binary, sender ids exact', { timeout: 60000 }, async () => {
  const room = `général ${uid('r')}`;
  const names = ['José', 'Дмитрий', '王小明', 'مريم', '🦊', 'Anna Maria'];
  const cs = names.map((n) => client(room, n));
  for (const c of cs) await c.connect();
  for (const c of cs) {
    await waitFor(() => c.peers().length === names.length - 1, 10000, `${c.peerId} sees everyone`);
    assert.deepEqual(c.peers().sort(), names.filter((n) => n !== c.peerId).sort());
  }
  const r = await server.request('GET', `/rooms/peers?room=${encodeURIComponent(room)}`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([...r.json.peers].sort(), [...names].sort());

  const enc = new TextEncoder();
  for (const c of cs) {
    c.sendMessage(`bonjour de ${c.peerId} — ça va?`);
    c.sendMessage(enc.encode(c.peerId));  // binary: the sender's name as bytes
  }
  for (const c of cs) {
    const others = names.filter((n) => n !== c.peerId);
    await waitFor(() => c.rec.messages.length >= 2 * others.length, 15000, `${c.peerId}'s messages`);
    for (const n of others) {
      const text = c.rec.messages.find((m) => !m.binary && m.from === n);
      assert.ok(text, `${c.peerId} got text from ${n}`);
      assert.equal(text.message, `bonjour de ${n} — ça va?`);
      assert.equal(text.direct, false);
      const bin = c.rec.messages.find((m) => m.binary && m.from === n);
      assert.ok(bin, `${c.peerId} got binary from ${n} (sender decoded from the UTF-8 in the frame)`);
      assert.ok(bytesEqual(bin.message, enc.encode(n)));
    }
    assert.ok(!c.rec.messages.some((m) => m.from === c.peerId), 'never its own');
  }
  await closeAll(cs);
});

test('a direct message to 🦊, as text and as binary, reaches the fox only; and to a 64-byte name', { timeout: 60000 }, async () => {
  const room = uid('dm');
  const long = '🦊'.repeat(16);  // 64 bytes: the binary frame's length byte is 64
  const [a, fox, bob, big] = [client(room, 'Zoë'), client(room, '🦊'), client(room, 'bob'), client(room, long)];
  for (const c of [a, fox, bob, big]) await c.connect();
  await waitFor(() => a.peers().length === 3, 10000, 'a sees all');
  a.sendTo('🦊', 'psst, fox');
  a.sendTo('🦊', new Uint8Array([1, 2, 3]));
  a.sendTo(long, new Uint8Array([4, 5]));
  a.sendTo(long, 'to the long name');
  await waitFor(() => fox.rec.messages.length === 2, 10000, 'fox gets both');
  assert.deepEqual(fox.rec.messages.map(({ from, direct, binary }) => ({ from, direct, binary })),
    [{ from: 'Zoë', direct: true, binary: false }, { from: 'Zoë', direct: true, binary: true }]);
  assert.equal(fox.rec.messages[0].message, 'psst, fox');
  assert.ok(bytesEqual(fox.rec.messages[1].message, [1, 2, 3]));
  await waitFor(() => big.rec.messages.length === 2, 10000, 'the long name gets both');
  assert.ok(bytesEqual(big.rec.messages[0].message, [4, 5]));
  assert.equal(big.rec.messages[1].message, 'to the long name');
  // The fox answers; nobody else got anything (their flush markers are in).
  fox.sendTo('Zoë', 'merci');
  await waitFor(() => a.rec.messages.some((m) => m.from === '🦊' && m.message === 'merci' && m.direct), 10000, 'the answer');
  const n = await flush(bob);
  assert.deepEqual(bob.rec.messages.slice(0, n), [], 'bob got none of the direct messages');
  assert.deepEqual(a.rec.serverErrors, []);
  await closeAll([a, fox, bob, big]);
});

test('NFD input is normalised to NFC: the server sees the NFC bytes, and NFD and NFC typists meet', { timeout: 60000 }, async () => {
  const suffix = uid('n');
  const nfdRoom = `ge\u0301ne\u0301ral ${suffix}`;
  const nfcRoom = `g\u00e9n\u00e9ral ${suffix}`;
  assert.notEqual(nfdRoom, nfcRoom);
  // José typed as e + combining acute (e.g. some macOS input); Zoë typed precomposed.
  const jose = client(nfdRoom, 'Jose\u0301');
  assert.equal(jose.room, nfcRoom);
  assert.equal(jose.peerId, 'Jos\u00e9');
  const zoe = client(nfcRoom, 'Zo\u00eb');
  await jose.connect();
  await zoe.connect();
  assert.deepEqual(zoe.peers(), ['Jos\u00e9'], 'one room, NFC names');
  const r = await server.request('GET', `/rooms/peers?room=${encodeURIComponent(nfcRoom)}`);
  assert.deepEqual([...r.json.peers].sort(), ['Jos\u00e9', 'Zo\u00eb']);
  assert.ok(r.buf.includes(Buffer.from('"Jos\u00e9"')), `NFC bytes on the server: ${r.text}`);
  const nfd = await server.request('GET', `/rooms/peers?room=${encodeURIComponent(nfdRoom)}`);
  assert.equal(nfd.status, 404, 'the server itself does not normalise');

  // sendTo with an NFD name that is not listed as such: normalised, so it reaches José.
  zoe.sendTo('Jose\u0301', 'salut José');
  await waitFor(() => jose.rec.messages.some((m) => m.message === 'salut José' && m.from === 'Zo\u00eb'), 10000, 'José gets it');

  // A peer that is not this client (a raw wrtc peer) joined with an NFD name: it is listed
  // with its own bytes, and sendTo with that listed name keeps them (it would miss in NFC).
  const raw = await rawPeer(server, nfcRoom, 'Chlo\u0065\u0308');  // Chloë, NFD
  await waitFor(() => zoe.peers().includes('Chlo\u0065\u0308'), 10000, 'zoe sees the NFD peer');
  zoe.sendTo('Chlo\u0065\u0308', 'hello Chloë');
  await waitFor(() => raw.frames.includes(`dZo\u00eb\nhello Chloë`), 10000, 'the NFD peer gets it');
  raw.close();
  await closeAll([jose, zoe]);
});

test('the exported rule: what the client throws and what nameError says', () => {
  assert.equal(MAX_NAME_BYTES, 64);
  for (const ok of ['général', 'José', 'Москва', '会议室 3', 'مرحبا', '🦊', '👩‍💻 dev', 'my room', 'a/b', 'é'.repeat(32), '🦊'.repeat(16), 'server']) {
    assert.equal(nameError(ok), null, ok);
    assert.equal(isValidName(ok), true, ok);
  }
  const bad = [
    ['', 'empty (a name is 1 to 64 bytes of UTF-8)'],
    ['a'.repeat(65), 'too long: 65 bytes (at most 64 bytes of UTF-8)'],
    ['é'.repeat(33), 'too long: 66 bytes (at most 64 bytes of UTF-8)'],
    ['a\nb', 'control character U+000A at byte 1'],
    ['José\u0000', 'control character U+0000 at byte 5'],
    ['x\u007f', 'control character U+007F at byte 1'],
    ['x\u0085y', 'control character U+0085 at byte 1'],
    [' José', 'leading whitespace (U+0020)'],
    ['José\u00a0', 'trailing whitespace (U+00A0 at byte 5)'],
    ['\u3000x', 'leading whitespace (U+3000)'],
    ['x\u2028', 'trailing whitespace (U+2028 at byte 1)'],
    ['ab\ud83e', 'lone surrogate U+D83E at byte 2 (not valid Unicode, so not UTF-8)'],
    ['\udd8a', 'lone surrogate U+DD8A at byte 0 (not valid Unicode, so not UTF-8)'],
  ];
  for (const [name, why] of bad) {
    assert.equal(nameError(name), why, JSON.stringify(name));
    assert.equal(isValidName(name), false);
  }
  assert.equal(nameError(5), 'not a string (number)');
  assert.equal(normalizeName('Jose\u0301'), 'Jos\u00e9');
  // The constructor and sendTo: NFC first, then the rule, a TypeError that quotes the name.
  const opts = { RTCPeerConnection: wrtc.RTCPeerConnection };
  assert.throws(() => new WebRTCConnection(' lobby', opts), { name: 'TypeError', message: 'invalid room " lobby": leading whitespace (U+0020)' });
  assert.throws(() => new WebRTCConnection('r', { ...opts, peerId: 'José\n' }), { name: 'TypeError', message: 'invalid peerId "José\\n": control character U+000A at byte 5' });
  assert.throws(() => new WebRTCConnection('r', { ...opts, peerId: 'server' }), /peerId "server" is reserved/);
  // U+0958 has no composed form in NFC (it decomposes): 21 of them are 63 bytes as typed, 126 in NFC.
  assert.throws(() => new WebRTCConnection('r', { ...opts, peerId: '\u0958'.repeat(21) }), /too long: 126 bytes .* \(in NFC\)$/);
  const c = new WebRTCConnection('r', opts);
  assert.throws(() => c.sendTo('bob ', 'x'), /invalid peerId "bob ": trailing whitespace/);
  assert.throws(() => c.sendTo('bob', 'x'), /not connected/);
});

test('nameError and the server agree on every name of a sweep (POST /leave: 400 "invalid room" or 404)', { timeout: 60000 }, async () => {
  // Single code points at the start, inside and at the end, over the ranges the rule cares
  // about (C0, ASCII, DEL, C1, Latin-1, the White_Space list and its neighbours, CJK, emoji).
  const cps = [];
  for (let c = 0; c <= 0x00ff; c++) cps.push(c);
  for (const c of [0x034f, 0x061c, 0x1680, 0x180e, 0x1fff, 0x2000, 0x2005, 0x200a, 0x200b, 0x200c, 0x200d, 0x200e,
    0x2027, 0x2028, 0x2029, 0x202a, 0x202f, 0x205f, 0x2060, 0x2fff, 0x3000, 0x3001, 0x3164, 0xd7ff, 0xe000,
    0xfeff, 0xfffd, 0xffff, 0x10000, 0x1f98a, 0x10ffff]) cps.push(c);
  const names = [];
  for (const c of cps) {
    const ch = String.fromCodePoint(c);
    names.push(ch, `${ch}ab`, `a${ch}b`, `ab${ch}`);
  }
  names.push('a'.repeat(64), 'a'.repeat(65), '€'.repeat(21) + 'a', '€'.repeat(21) + 'ab', '𝄞'.repeat(16), '𝄞'.repeat(16) + 'a');
  let valid = 0;
  for (const name of names) {
    const r = await server.request('POST', '/leave', { room: name, peer_id: 'nobody', token: 'x' });
    const js = nameError(name);
    if (js === null) {
      valid++;
      assert.equal(r.status, 404, `${JSON.stringify(name)}: the client accepts it, the server said ${r.status} ${r.text}`);
    } else {
      assert.equal(r.status, 400, `${JSON.stringify(name)}: the client says "${js}", the server said ${r.status} ${r.text}`);
      assert.ok(r.json.error.endsWith(`: ${js}`), `${JSON.stringify(name)}: the same reason: client "${js}", server "${r.json.error}"`);
    }
  }
  assert.ok(valid > 500 && valid < names.length - 100, `a sweep with both kinds (${valid} valid of ${names.length})`);
});
