// The volatile lane (issue 19, part 5; docs/protocol.md "Volatile lane"): sendVolatile() goes on
// the `peerrtc-volatile` channel (unordered, no retransmissions) and reaches the others'
// onVolatile, never their onMessage, history or a later joiner. A congested receiver (a wrtc
// peer in a child process, SIGSTOPped: its SCTP association has every chunk outstanding) gets no
// volatile frame while congested - each is dropped at the server and counted as `congested` -
// while the reliable messages sent to it meanwhile all arrive, in order, once it runs again.
import { spawnJson } from '../network/lib/netns.mjs'; // first: its exit listener must precede wrtc's
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startServer } from './lib/server.mjs';
import { makeClient, waitFor, closeAll, uid, flush, sleep } from './lib/util.mjs';

const PEER_SCRIPT = fileURLToPath(new URL('../network/lib/peer.mjs', import.meta.url));
// The server calls a receiver congested past this many bytes unacknowledged (the flag, 64 KiB by
// default); the stopped receiver gets RELIABLE × 1 KiB queued for it, well past it.
const MAX_QUEUE = 16 * 1024;
const RELIABLE = 200;
const VOLATILE = 50;

let server;
const live = [];
const children = [];
before(async () => {
  server = await startServer({ name: 'volatile', extraArgs: ['--volatile-max-queue', String(MAX_QUEUE), '--history', '20'] });
});
after(async () => {
  for (const c of children) { try { c.child.kill('SIGCONT'); } catch { /* gone */ } await c.stop().catch(() => {}); }
  await closeAll(live);
  if (server) await server.stop();
});
function client(room, id, opts) {
  const c = makeClient(server, room, id, opts);
  c.rec.volatile = [];
  c.onVolatile = (from, message, info) => c.rec.volatile.push({ from, message, ...info });
  live.push(c);
  return c;
}
async function stats() {
  const r = await server.request('GET', '/stats');
  assert.equal(r.status, 200, r.text);
  return r.json;
}
const delta = (a, b) => Object.fromEntries(Object.keys(b.volatile).map((k) => [k, b.volatile[k] - a.volatile[k]]));

test('volatile messages reach the others\' onVolatile, are counted, and skip onMessage and history', { timeout: 30000 }, async () => {
  const room = uid('vol');
  const a = client(room, uid('a'));
  const b = client(room, uid('b'));
  await a.connect();
  await b.connect();
  await waitFor(() => a.peers().length === 1, 5000, 'a to see b');
  const s0 = await stats();
  for (let i = 0; i < VOLATILE; i++) {
    assert.equal(a.sendVolatile(`cursor-${i}`), true, `sendVolatile ${i} was taken`);
    await sleep(5);
  }
  const bin = new Uint8Array([1, 2, 3]);
  assert.equal(b.sendVolatile(bin, { to: a.peerId }), true);
  // Unordered and unreliable, but on loopback with nothing congested every one arrives.
  await waitFor(() => b.rec.volatile.length === VOLATILE && a.rec.volatile.length === 1, 10000,
    () => `the volatile messages (b has ${b.rec.volatile.length}, a ${a.rec.volatile.length})`);
  assert.deepEqual(b.rec.volatile.map((m) => m.message).sort(), Array.from({ length: VOLATILE }, (_, i) => `cursor-${i}`).sort());
  assert.ok(b.rec.volatile.every((m) => m.from === a.peerId && m.volatile === true && !m.direct && !m.binary));
  assert.equal(a.rec.volatile[0].from, b.peerId);
  assert.equal(a.rec.volatile[0].direct, true);
  assert.equal(a.rec.volatile[0].binary, true);
  assert.deepEqual(new Uint8Array(a.rec.volatile[0].message), bin);
  assert.deepEqual(a.volatileStats, { sent: VOLATILE, dropped: 0, received: 1 });
  // Never on the reliable lane: nothing reached onMessage (the flush marker proves all is in).
  assert.equal(await flush(b), 0);
  assert.equal(b.rec.messages.length, 0);
  const s1 = await stats();
  assert.deepEqual(delta(s0, s1), { relayed: VOLATILE + 1, deliveries: VOLATILE + 1, dropped_congested: 0, dropped_no_channel: 0, dropped_send: 0 });
  assert.equal(s1.messages_relayed, s0.messages_relayed, 'nothing took the reliable lane (the flush marker is refused)');
  // Not history: a peer that joins now (the server keeps 20 messages) is replayed nothing.
  const c = client(room, uid('c'));
  await c.connect();
  assert.equal(await flush(c), 0);
  // A client without the lane (volatile: false) gets none, and the server counts it.
  const d = client(room, uid('d'), { volatile: false });
  await d.connect();
  await waitFor(() => a.peers().length === 3, 5000, 'a to see d');
  assert.equal(d.sendVolatile('x'), false, 'no volatile channel: dropped here');
  assert.deepEqual(d.volatileStats, { sent: 0, dropped: 1, received: 0 });
  a.sendVolatile('to-all');
  await waitFor(() => c.rec.volatile.length === 1, 5000, 'c to get the volatile message');
  const s2 = await stats();
  assert.equal(s2.volatile.dropped_no_channel - s1.volatile.dropped_no_channel, 1, 'd had no volatile channel');
  assert.equal(d.rec.volatile.length, 0);
  const metrics = await server.request('GET', '/metrics');
  assert.match(metrics.text, new RegExp(`^peerrtc_volatile_dropped_total\\{cause="no_channel"\\} ${s2.volatile.dropped_no_channel}$`, 'm'));
});

test('a congested receiver gets no volatile frames (dropped, counted) while every reliable message still arrives', { timeout: 90000 }, async () => {
  const room = uid('cong');
  const a = client(room, uid('sender'));
  const healthy = client(room, uid('healthy'));
  await a.connect();
  await healthy.connect();
  const slowId = uid('slow');
  const slow = spawnJson(process.execPath, [PEER_SCRIPT, JSON.stringify({ mode: 'client', baseUrl: server.baseUrl, room, peerId: slowId })], { name: 'slow' });
  children.push(slow);
  const c = await slow.waitFor((m) => m.type === 'connected' || m.type === 'error', 20000, 'the slow peer to connect');
  assert.equal(c.type, 'connected', JSON.stringify(c));
  await waitFor(() => a.peers().length === 2, 5000, 'the sender to see both');
  // Before: the slow peer takes volatile messages like anyone.
  a.sendVolatile('before');
  await slow.waitFor((m) => m.type === 'volatile' && m.text === 'before', 5000, 'a volatile message before the stop');
  const s0 = await stats();
  // The receiver stops (SIGSTOP: its libwebrtc reads nothing, sends no SACK).
  slow.child.kill('SIGSTOP');
  const t0 = Date.now();
  for (let i = 0; i < RELIABLE; i++) a.sendMessage(`r${i}:${'x'.repeat(1000)}`);
  // The relay handles a's frames in order: once the healthy peer has all of them, the server has
  // queued the same 200 for the stopped one, whose association is now congested.
  await waitFor(() => healthy.rec.messages.length === RELIABLE, 20000, () => `the healthy peer to get ${RELIABLE} (has ${healthy.rec.messages.length})`);
  for (let i = 0; i < VOLATILE; i++) a.sendVolatile(`v${i}`);
  await waitFor(() => healthy.rec.volatile.filter((m) => /^v\d+$/.test(m.message)).length === VOLATILE, 10000, 'the healthy peer to get the volatile messages');
  const s1 = await stats();
  assert.equal(s1.volatile.dropped_congested - s0.volatile.dropped_congested, VOLATILE,
    `every volatile frame for the congested receiver was dropped and counted: ${JSON.stringify(s1.volatile)}`);
  assert.equal(s1.volatile.deliveries - s0.volatile.deliveries, VOLATILE, 'the healthy one got them all');
  assert.equal(s1.senders_paused, s0.senders_paused, '200 KiB for it is below the reliable lane\'s high water');
  // It runs again: SCTP delivers every reliable message, in order; none of the volatile ones.
  slow.child.kill('SIGCONT');
  const stoppedMs = Date.now() - t0;
  await slow.waitFor(() => slow.messages.filter((m) => m.type === 'message').length >= RELIABLE, 45000, 'the reliable messages after SIGCONT').catch(() => {});
  const got = slow.messages.filter((m) => m.type === 'message').map((m) => m.digest);
  const want = healthy.rec.messages.map((m) => m.message).map((t) => digestOf(t));
  assert.equal(got.length, RELIABLE, `the once-congested receiver got ${got.length} of ${RELIABLE} reliable messages`);
  assert.deepEqual(got, want, 'in order, intact');
  assert.equal(slow.messages.filter((m) => m.type === 'volatile' && /^v\d+$/.test(m.text || '')).length, 0, 'no volatile frame of the congested time');
  assert.ok(!slow.messages.some((m) => m.type === 'status' && m.status !== 'connecting' && m.status !== 'connected'), 'still connected');
  console.error(`# volatile lane: stopped ${stoppedMs} ms, ${VOLATILE} volatile frames dropped as congested, ${RELIABLE} reliable delivered after`);
  slow.send({ cmd: 'close' });
});

// The digest shared.js computes (imported lazily: the file is a plain module for pages too).
let digestFn = null;
function digestOf(t) { return digestFn(t); }
before(async () => { ({ digest: digestFn } = await import('../network/lib/shared.js')); });
