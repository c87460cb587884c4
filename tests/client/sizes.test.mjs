// Payloads: binary byte-exact, text byte-exact (multi-byte UTF-8), the largest payload with the
// longest ids, one byte more refused by the client, and flow control under a large burst.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { makeClient, waitFor, closeAll, uid, uid64, flush, bytesEqual, pattern, rawPeer } from './lib/util.mjs';
import { utf8Length } from '../../clients/js/peerrtc-client.js';

const MAX_V1 = 262078;
const MAX_V2 = 262061;
const MAX = MAX_V1;
let server;
const live = [];
before(async () => { server = await startServer({ name: 'sizes' }); });
after(async () => {
  await closeAll(live);
  if (server) await server.stop();
});

test('binary and text payloads arrive byte-exact (all byte values, multi-byte UTF-8, empty)', { timeout: 60000 }, async () => {
  const room = uid('bin');
  const [a, b] = [0, 1].map((i) => makeClient(server, room, uid(`b${i}`)));
  live.push(a, b);
  await a.connect();
  await b.connect();
  const sizes = [0, 1, 2, 255, 256, 1000, 16383, 16384, 65535, 65536, 100000, 200000];
  const sent = [];
  for (const [i, n] of sizes.entries()) {
    const p = pattern(n, i + 1);
    sent.push(p);
    // Alternate ArrayBuffer, Uint8Array and a view into the middle of a larger buffer.
    if (i % 3 === 0) a.sendMessage(p.buffer);
    else if (i % 3 === 1) a.sendMessage(p);
    else {
      const big = new Uint8Array(n + 20).fill(0xee);
      big.set(p, 10);
      a.sendMessage(new DataView(big.buffer, 10, n));
    }
  }
  const texts = ['', 'a', 'héllo wörld', '日本語のテキスト', '👋🏽 emoji 🎉', 'line1\nline2\n', '{"type":"welcome"}', 'm\u0000nul'];
  for (const s of texts) a.sendMessage(s);
  await waitFor(() => b.rec.messages.length === sizes.length + texts.length, 20000, () => `deliveries (${b.rec.messages.length})`);
  b.rec.messages.slice(0, sizes.length).forEach((m, i) => {
    assert.equal(m.binary, true);
    assert.ok(m.message instanceof ArrayBuffer, 'binary arrives as an ArrayBuffer');
    assert.equal(m.message.byteLength, sizes[i], `size of binary #${i}`);
    assert.ok(bytesEqual(m.message, sent[i]), `binary #${i} (${sizes[i]} bytes) byte-exact`);
  });
  b.rec.messages.slice(sizes.length).forEach((m, i) => {
    assert.equal(m.binary, false);
    assert.equal(m.message, texts[i]);
  });
  await closeAll([a, b]);
});

// Protocol v1's largest payload, and v2's (its frames carry a seq or cmid: 17 bytes less).
for (const [protocol, MAX] of [[1, MAX_V1], [2, MAX_V2]]) {
test(`protocol ${protocol}: payload of exactly ${MAX} bytes (text, multi-byte text, binary, direct) with 64-character ids reaches every other peer intact; one byte more throws`, { timeout: 60000 }, async (t) => {
  const room = uid64('room');
  const peers = [0, 1, 2].map((i) => makeClient(server, room, uid64(`big${i}`), { protocol }));
  live.push(...peers);
  for (const p of peers) {
    assert.equal(p.peerId.length, 64);
    await p.connect();
    assert.equal(p.maxMessageSize, MAX, 'max_message_size from answer/welcome');
  }
  await waitFor(() => peers.every((p) => p.peers().length === 2), 5000, 'everyone sees everyone');

  const ascii = 'A'.repeat(MAX - 1) + 'Z';
  // 3- and 4-byte characters, filled up to exactly MAX bytes.
  let multi = '€😀'.repeat(Math.floor(MAX / 7));
  multi += 'é'.repeat(Math.floor((MAX - 1 - utf8Length(multi)) / 2));  // and at least one 'x' last
  multi += 'x'.repeat(MAX - utf8Length(multi));
  assert.equal(utf8Length(multi), MAX);
  assert.equal(Buffer.byteLength(multi), MAX);
  const bin = pattern(MAX, 99);

  const [p0, p1, p2] = peers;
  const t0 = Date.now();
  p0.sendMessage(ascii);
  p1.sendMessage(multi);
  p2.sendMessage(bin);
  p0.sendTo(p2.peerId, bin);
  p2.sendTo(p1.peerId, multi);
  await waitFor(() => p0.rec.messages.length === 2 && p1.rec.messages.length === 3 && p2.rec.messages.length === 3, 20000,
    () => `deliveries (${peers.map((p) => p.rec.messages.length)})`);
  t.diagnostic(`7 deliveries of ${MAX}-byte payloads in ${Date.now() - t0} ms`);
  const check = (m, from, expect, direct) => {
    assert.equal(m.from, from);
    assert.equal(m.direct, direct);
    if (typeof expect === 'string') {
      assert.equal(m.binary, false);
      assert.equal(m.message.length, expect.length);
      assert.ok(m.message === expect, 'text intact');
    } else {
      assert.equal(m.binary, true);
      assert.equal(m.message.byteLength, MAX);
      assert.ok(bytesEqual(m.message, expect), 'binary intact');
    }
  };
  const byFrom = (p, from, direct) => p.rec.messages.filter((m) => m.from === from && m.direct === direct);
  check(byFrom(p0, p1.peerId, false)[0], p1.peerId, multi, false);
  check(byFrom(p0, p2.peerId, false)[0], p2.peerId, bin, false);
  check(byFrom(p1, p0.peerId, false)[0], p0.peerId, ascii, false);
  check(byFrom(p1, p2.peerId, false)[0], p2.peerId, bin, false);
  check(byFrom(p1, p2.peerId, true)[0], p2.peerId, multi, true);
  check(byFrom(p2, p0.peerId, false)[0], p0.peerId, ascii, false);
  check(byFrom(p2, p0.peerId, true)[0], p0.peerId, bin, true);
  // Error events come back on each sender's own channel: flush each, then none.
  for (const p of peers) await flush(p, 20000);
  for (const p of peers) assert.equal(p.rec.serverErrors.length, 0, `no error events: ${JSON.stringify(p.rec.serverErrors)}`);

  // One byte more: refused by the client, nothing sent.
  const tooBig = new RegExp(`message too large: ${MAX + 1} bytes, the server accepts at most ${MAX} bytes`);
  assert.throws(() => p0.sendMessage(ascii + 'x'), tooBig);
  assert.throws(() => p0.sendMessage(multi + 'x'), tooBig);
  assert.throws(() => p0.sendMessage(multi.slice(0, -1) + 'é'), tooBig); // a 2-byte char replacing a 1-byte one
  assert.throws(() => p0.sendMessage(new Uint8Array(MAX + 1)), tooBig);
  assert.throws(() => p0.sendTo(p1.peerId, new Uint8Array(MAX + 1).buffer), tooBig);
  assert.throws(() => p0.sendTo(p1.peerId, ascii + 'x'), (e) => e.code === 'too_large');
  // Marker: p0's next message; anything sent for the refused payloads would arrive before it.
  p0.sendMessage('marker');
  await waitFor(() => [p1, p2].every((p) => p.rec.messages.length > 3), 10000, 'the marker after the refused payloads');
  for (const p of [p1, p2]) {
    assert.deepEqual(p.rec.messages.slice(3).map((m) => [m.from, m.message]), [[p0.peerId, 'marker']], 'nothing was sent for the refused payloads');
  }
  await closeAll(peers);
});
}

test('the server refuses (too_large), never truncates, a payload one byte over the limit from a raw peer', { timeout: 30000 }, async () => {
  const room = uid('raw');
  const rx = makeClient(server, room, uid('rx'), { protocol: 1 }); // a v1 room: v1's largest payload
  live.push(rx);
  await rx.connect();
  const raw = await rawPeer(server, room, uid64('raw'));
  const over = new Uint8Array(1 + MAX + 1);
  over[0] = 0x01;
  raw.dc.send(over.buffer);
  raw.dc.send('d' + rx.peerId + '\n' + 'q'.repeat(MAX + 1));
  const exact = new Uint8Array(1 + MAX);
  exact[0] = 0x01;
  exact[MAX] = 0x42;
  raw.dc.send(exact.buffer);
  // The exact one is the marker for rx (sent last on the same channel), a flush for raw's errors.
  const isExact = (m) => m.binary && m.message.byteLength === MAX && new Uint8Array(m.message)[MAX - 1] === 0x42;
  await waitFor(() => rx.rec.messages.some(isExact), 10000, 'the exact one');
  const end = await raw.flush();
  const errors = raw.frames.slice(0, end).filter((f) => typeof f === 'string' && f.startsWith('{')).map((f) => JSON.parse(f)).filter((e) => e.type === 'error');
  assert.deepEqual(errors.map((e) => e.code), ['too_large', 'too_large']);
  assert.equal(rx.rec.messages.length, 1, 'only the exact-size payload is relayed');
  assert.equal(rx.rec.messages[0].message.byteLength, MAX);
  assert.equal(new Uint8Array(rx.rec.messages[0].message)[MAX - 1], 0x42);
  raw.close();
  await closeAll([rx]);
});

// K messages of `size` bytes back to back; with `untilQueued`, at least K and then on (up to
// maxK) until the client's buffer has gone over the high-water mark, since how fast libwebrtc
// hands data to the wire (and so how much a fixed burst leaves buffered) depends on the machine.
async function burst(t, { K, size, waitMs, untilQueued = false, maxK = K }) {
  const room = uid('flow');
  const [a, b] = [0, 1].map((i) => makeClient(server, room, uid(`f${i}`)));
  live.push(a, b);
  await a.connect();
  await b.connect();
  let maxBuffered = 0;
  const t0 = Date.now();
  for (let i = 0; i < K || (untilQueued && i < maxK && maxBuffered <= 1024 * 1024); i++) {
    const p = new Uint8Array(size);
    new DataView(p.buffer).setUint32(0, i);
    p[size - 1] = i & 0xff;
    a.sendMessage(p);
    maxBuffered = Math.max(maxBuffered, a.bufferedAmount);
    if (i >= K) K = i + 1;
  }
  a.sendMessage('done');
  try {
    await waitFor(() => b.rec.messages.length === K + 1, waitMs, () => {
      const got = new Set(b.rec.messages.filter((m) => m.binary).map((m) => new DataView(m.message).getUint32(0)));
      const missing = [...Array(K).keys()].filter((i) => !got.has(i));
      return `deliveries (${b.rec.messages.length}/${K + 1}; missing sequence numbers ${missing.join(',')})`;
    });
  } catch (e) {
    const st = await server.request('GET', '/stats');
    throw new Error(`${e.message}; server GET /stats: ${st.text}`);
  }
  const ms = Date.now() - t0;
  b.rec.messages.slice(0, K).forEach((m, i) => {
    assert.equal(m.message.byteLength, size);
    assert.equal(new DataView(m.message).getUint32(0), i, 'order kept through the queue');
    assert.equal(new Uint8Array(m.message)[size - 1], i & 0xff);
  });
  assert.equal(b.rec.messages[K].message, 'done');
  assert.ok(maxBuffered > 1024 * 1024, `the burst went over the high-water mark (max buffered ${maxBuffered})`);
  await waitFor(() => a.bufferedAmount === 0, 10000, 'queue drained');
  t.diagnostic(`${K} x ${size} B in ${ms} ms (${(K * size / 1048576 / (ms / 1000)).toFixed(1)} MiB/s), peak client-side buffered ${maxBuffered} B`);
  await closeAll([a, b]);
}

test('flow control: a 5 MB burst is queued above 1 MiB buffered and drained in order', { timeout: 60000 }, async (t) => {
  await burst(t, { K: 25, size: 200000, waitMs: 30000, untilQueued: true, maxK: 150 });
});

// Backpressure: the burst outruns the receiver's link, so the server pauses reading the sender
// (its SCTP window closes, the client buffers) until the receiver drains; nothing is dropped.
test('a 12 MB burst from one sender reaches the receiver complete', { timeout: 60000 }, async (t) => {
  await burst(t, { K: 60, size: 200000, waitMs: 15000 });
});
