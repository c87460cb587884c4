// Per-peer message rate limit: a sender blasting 500 messages gets about burst + rate × t of
// them relayed, is told with rate_limited events (at most one a second), /stats counts the
// drops exactly, and a pair of peers in another room is unaffected.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, SERVER_BIN, runProbe, makeClient, waitFor, flush, closeAll, uniqueId, sleep } from './lib.mjs';

const RATE = 50, BURST = 50, N = 500;
let server;
before(async () => {
  server = await startServer(SERVER_BIN, ['--port', '0', '--no-examples', '--peer-message-rate', String(RATE),
    '--peer-message-burst', String(BURST)], { name: 'ratelimit' });
});
after(async () => { if (server) await server.stop(); });

test(`rate ${RATE}/s burst ${BURST}: ${N} fast messages are limited; another room is unaffected`, async () => {
  const roomA = uniqueId('rateA'), roomB = uniqueId('rateB');
  const receiver = makeClient(server, roomA, uniqueId('recv'));
  const b1 = makeClient(server, roomB, uniqueId('b1'));
  const b2 = makeClient(server, roomB, uniqueId('b2'));
  try {
    await Promise.all([receiver.connect(), b1.connect(), b2.connect()]);
    await waitFor(() => b1.peers().includes(b2.peerId) || b1.peers().length === 1, 5000, 'b1 sees b2');
    const senderId = uniqueId('blaster');
    // Room B talks during the flood: 40 messages (< burst) spread over ~1 s.
    const bTalk = (async () => {
      for (let i = 0; i < 40; i++) { b1.sendMessage(`b-${i}`); await sleep(25); }
    })();
    const { code, result } = await runProbe(server, ['--send', String(N), '--size', '100', '--room', roomA,
      '--peer-id', senderId, '--linger-ms', '1500']);
    await bTalk;
    assert.equal(code, 0, JSON.stringify(result));
    assert.equal(result.sent, N);
    const got = () => receiver.rec.messages.filter((m) => m.from === senderId).length;
    // Marker: the probe POSTs /leave after sending everything and lingering (its messages were
    // acknowledged and relayed long before), so the blaster's peer_left reaches the receiver
    // after every message of it that was relayed; and the drops are all counted by then.
    assert.equal(result.leave, 'ok', JSON.stringify(result));
    await waitFor(() => receiver.rec.left.includes(senderId), 10000, 'the blaster\'s peer_left');
    const s = (await server.request('GET', '/stats')).json;
    const received = got();
    const upper = BURST + RATE * (result.send_s + 0.2) + 2;
    console.log(`# rate limit: sent ${N} in ${(result.send_s * 1000).toFixed(0)} ms; receiver got ${received} ` +
      `(burst ${BURST} + rate ${RATE}/s × t ≤ ${upper.toFixed(0)}); sender rate_limited events ${result.rate_limited}; ` +
      `/stats dropped_rate_limited ${s.dropped_rate_limited}; room B got ${b2.rec.messages.length}/40`);
    assert.ok(received >= BURST, `received ${received} < burst ${BURST}`);
    assert.ok(received <= upper, `received ${received} > ${upper}`);
    assert.ok(received < N / 2);
    // Received in order, from the first message on.
    const seqs = receiver.rec.messages.filter((m) => m.from === senderId).map((m) => Number(m.message.split(':')[0]));
    assert.deepEqual(seqs.slice(0, BURST), [...Array(BURST).keys()]);
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], 'in order');
    // Told, but at most about once a second (the probe listened for send_s + 1.5 s).
    assert.ok(result.rate_limited >= 1, 'sender got rate_limited events');
    assert.ok(result.rate_limited <= Math.ceil(result.send_s + 1.5) + 1, `${result.rate_limited} rate_limited events`);
    assert.equal(s.dropped_rate_limited, N - received, `/stats ${JSON.stringify(s)}`);
    // The other room: everything, in order, no errors.
    await waitFor(() => b2.rec.messages.length >= 40, 5000, () => `room B got ${b2.rec.messages.length}/40`);
    assert.deepEqual(b2.rec.messages.map((m) => m.message), [...Array(40).keys()].map((i) => `b-${i}`));
    await flush(b1);  // b1's errors would come back on its own channel
    assert.deepEqual(b1.rec.serverErrors, []);
  } finally {
    await closeAll([receiver, b1, b2]);
  }
});
