// The JS client's resume state in its Storage (sessionStorage in browsers) is written in batches:
// at most every 250 ms while messages flow (not once per message and per ack), at once on a
// token or epoch change (and on pagehide: tests/browser/resume.test.mjs reloads a page), and the
// stored cmid is reserved ahead of every cmid sent, so that a client that dies between two
// writes never reuses a cmid (the server would drop the message as a repeat).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { makeClient, waitFor, closeAll, uid, sleep } from './lib/util.mjs';

const SAVE_MS = 250; // the client's STATE_SAVE_MS
let server;
const live = [];
before(async () => { server = await startServer({ name: 'state' }); });
after(async () => {
  await closeAll(live);
  if (server) await server.stop();
});

// A Storage that counts its writes.
function countingStorage() {
  const m = new Map();
  return {
    writes: 0,
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem(k, v) { this.writes++; m.set(k, String(v)); },
    removeItem: (k) => m.delete(k),
    read() { const v = [...m.values()][0]; return v ? JSON.parse(v) : null; },
  };
}

test('resume state: a few writes per second while 300 messages flow; exact once they stop; no cmid reused after a death between writes', { timeout: 30000 }, async (t) => {
  const room = uid('state');
  const sa = countingStorage(), sb = countingStorage();
  const a = makeClient(server, room, 'a', { storage: sa });
  const b = makeClient(server, room, 'b', { storage: sb });
  live.push(a, b);
  await a.connect();
  await b.connect();
  const N = 300;
  const wa0 = sa.writes, wb0 = sb.writes;
  const t0 = Date.now();
  const sends = [];
  for (let i = 0; i < N; i++) {
    sends.push(a.sendMessage(String(i)));
    if (i % 10 === 9) await sleep(50); // ~1.5 s of traffic: several save periods
  }
  const seqs = await Promise.all(sends);
  await waitFor(() => b.rec.messages.length === N, 10000, `b got ${N}`);
  const ms = Date.now() - t0;
  const bound = Math.ceil(ms / SAVE_MS) + 2; // one write per period, the first and a last one
  const wa = sa.writes - wa0, wb = sb.writes - wb0;
  t.diagnostic(`${N} messages in ${ms} ms: the sender's storage written ${wa} times, the receiver's ${wb} (bound ${bound}; before: one per message and per ack)`);
  assert.ok(wb <= bound, `the receiver's state written ${wb} times for ${N} messages in ${ms} ms (at most ${bound})`);
  assert.ok(wa <= bound + Math.ceil(N / 256), `the sender's state written ${wa} times (at most ${bound + Math.ceil(N / 256)})`);
  // Once the messages stop, the stored point is exact within the period.
  await sleep(SAVE_MS + 100);
  assert.equal(sb.read().seq, seqs[N - 1], 'the receiver\'s stored seq is the last one handed over');
  assert.equal(sa.read().seq, seqs[N - 1], 'the sender\'s stored seq is its last ack');
  assert.ok(sa.read().cmid >= N, `the stored cmid ${sa.read().cmid} is at or above every cmid sent (${N})`);
  // The sender dies between two writes (no leave): a new client from its storage resumes, and
  // its next message is relayed (not taken for a repeat of one sent before).
  a.sendMessage('unsaved').catch(() => {});
  const stored = sa.read();
  a._closed = true; // gone without a word, as a killed page
  try { a._session.pc.close(); } catch { /* closed */ }
  const a2 = makeClient(server, room, 'a', { storage: sa });
  live.push(a2);
  await a2.connect();
  assert.equal(a2.token, stored.token, 'the same membership (resumed)');
  const s = await a2.sendMessage('after');
  await waitFor(() => b.rec.messages.some((m) => m.message === 'after'), 5000, 'b got the message sent after the death');
  assert.ok(s > seqs[N - 1]);
});
