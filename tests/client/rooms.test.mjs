// Several rooms at once with no cross-talk, per-sender order, and a throughput figure.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { makeClient, waitFor, closeAll, uid, flush } from './lib/util.mjs';

let server;
const live = [];
// These tests measure the relay itself (ordering, throughput), so the per-peer rate limit
// (500 messages/s by default) is off here; tests/fault covers the limit.
before(async () => { server = await startServer({ name: 'rooms', extraArgs: ['--peer-message-rate', '0'] }); });
after(async () => {
  await closeAll(live);
  if (server) await server.stop();
});

const N = 200;

test('3 rooms x 3 peers: every peer sends 200 numbered messages; each receiver gets exactly its room\'s, per sender in order, never its own', { timeout: 90000 }, async (t) => {
  const rooms = [uid('ra'), uid('rb'), uid('rc')];
  const groups = rooms.map((room) => [0, 1, 2].map((i) => makeClient(server, room, uid(`p${i}`))));
  const all = groups.flat();
  live.push(...all);
  const t0 = Date.now();
  await Promise.all(all.map((c) => c.connect()));
  t.diagnostic(`9 peers connected concurrently in ${Date.now() - t0} ms`);
  for (const g of groups) for (const c of g) await waitFor(() => c.peers().length === 2, 5000, `${c.peerId} sees its 2 room mates`);
  for (const g of groups) {
    for (const c of g) assert.deepEqual(c.peers().sort(), g.filter((x) => x !== c).map((x) => x.peerId).sort());
  }

  // Every 10th message is binary (4-byte big-endian sequence number + the sender's id), so the
  // order check also covers text and binary interleaved on one channel.
  const enc = new TextEncoder();
  const t1 = Date.now();
  for (let i = 0; i < N; i++) {
    for (const c of all) {
      if (i % 10 === 9) {
        const id = enc.encode(c.peerId);
        const b = new Uint8Array(4 + id.length);
        new DataView(b.buffer).setUint32(0, i);
        b.set(id, 4);
        c.sendMessage(b);
      } else {
        c.sendMessage(`${c.room}|${c.peerId}|${i}`);
      }
    }
  }
  // Each sender's last message is an end marker: once a receiver has both mates' markers it has
  // all their messages (per-sender order).
  for (const c of all) c.sendMessage(`${c.room}|${c.peerId}|end`);
  const isEnd = (m) => !m.binary && m.message.endsWith('|end');
  await waitFor(() => all.every((c) => c.rec.messages.filter(isEnd).length >= 2), 60000,
    () => `all deliveries (have ${all.map((c) => c.rec.messages.length).join(',')})`);
  const ms = Date.now() - t1;
  // Every end marker was relayed, so the server handled every message of every room; a flush
  // of each receiver now brings in anything extra (cross-talk, echo) it was sent.
  const counts = new Map();
  for (const c of all) counts.set(c, await flush(c));
  const expected = 2 * (N + 1);
  const dec = new TextDecoder();
  for (const g of groups) {
    for (const c of g) {
      assert.equal(counts.get(c), expected, `${c.peerId} got ${counts.get(c)} messages before its flush`);
      const mates = new Set(g.filter((x) => x !== c).map((x) => x.peerId));
      const next = new Map([...mates].map((p) => [p, 0]));
      for (const m of c.rec.messages.slice(0, expected)) {
        assert.ok(mates.has(m.from), `${c.peerId} in ${c.room} got a message from ${m.from} (not a room mate)`);
        if (isEnd(m)) {
          assert.equal(m.message, `${c.room}|${m.from}|end`);
          assert.equal(next.get(m.from), N, `${c.peerId}: end marker of ${m.from} after ${next.get(m.from)} messages`);
          next.set(m.from, N + 1);
          continue;
        }
        let room; let sender; let seq;
        if (m.binary) {
          const u = new Uint8Array(m.message);
          seq = new DataView(m.message).getUint32(0);
          sender = dec.decode(u.subarray(4));
          room = c.room;
          assert.equal(seq % 10, 9);
        } else {
          [room, sender, seq] = m.message.split('|');
          seq = Number(seq);
        }
        assert.equal(room, c.room, 'cross-talk between rooms');
        assert.equal(sender, m.from, 'relayed sender matches the content');
        assert.equal(m.direct, false);
        assert.equal(seq, next.get(m.from), `${c.peerId}: message ${seq} from ${m.from} out of order (expected ${next.get(m.from)})`);
        next.set(m.from, seq + 1);
      }
      for (const [p, n] of next) assert.equal(n, N + 1, `${c.peerId} got ${Math.min(n, N)} of ${p}'s ${N} messages${n > N ? '' : ' and no end marker'}`);
    }
  }
  const deliveries = all.length * 2 * N;
  t.diagnostic(`${all.length * N} messages sent, ${deliveries} delivered in ${ms} ms (${Math.round(deliveries / (ms / 1000))} deliveries/s)`);
  await closeAll(all);
});

test('throughput: one sender, 3000 x 1 KiB text to 2 receivers', { timeout: 90000 }, async (t) => {
  const room = uid('tp');
  const [s, r1, r2] = [0, 1, 2].map((i) => makeClient(server, room, uid(`tp${i}`)));
  live.push(s, r1, r2);
  for (const c of [s, r1, r2]) await c.connect();
  const M = 3000;
  const body = 'x'.repeat(1024 - 8);
  const t0 = Date.now();
  for (let i = 0; i < M; i++) s.sendMessage(String(i).padStart(8, '0') + body);
  await waitFor(() => r1.rec.messages.length >= M && r2.rec.messages.length >= M, 60000,
    () => `deliveries (${r1.rec.messages.length}, ${r2.rec.messages.length})`);
  const ms = Date.now() - t0;
  for (const r of [r1, r2]) {
    r.rec.messages.forEach((m, i) => assert.equal(Number(m.message.slice(0, 8)), i));
  }
  t.diagnostic(`${M} x 1 KiB to 2 receivers in ${ms} ms: ${Math.round(M / (ms / 1000))} messages/s per receiver, ` +
    `${(2 * M * 1024 / 1048576 / (ms / 1000)).toFixed(1)} MiB/s delivered`);
  await closeAll([s, r1, r2]);
});
