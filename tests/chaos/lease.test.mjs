// Fenced leases (docs/architecture.md "Fenced leases"): the node that holds a room is paused
// (SIGSTOP, like a VM freeze) past its lease; meanwhile a peer's offer through the other node
// places the room there. When the paused node wakes it steps down at once: its members get a
// `moved` event, re-offer and land on the new holder. `moved` is not lost behind a backlog:
// megabytes of direct messages are queued to a raw peer on the paused node, and the peer gets
// every one the node reported delivered, then `moved` (the close waits for the queue to be
// acknowledged, at most 2 s, instead of an SCTP ABORT that discards it), or the deadline hit and
// was counted. Checked: the room is served by two nodes
// for at most ttl + 2 s after the pause ends; messages in a room on the healthy node reach every
// other member exactly once and in order throughout; moved peers' messages are never duplicated
// or reordered.
//
//   bash tests/chaos/run.sh tests/chaos/lease.test.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectPeer } from '../server/lib.mjs';
import { closeAll } from '../client/lib/util.mjs';
import {
  startRedis, startNode, until, nodeIds, makeClient, waitFor, uid, sleep, pause, resume, localRooms, watchSplits,
  sequencer, checkDelivery, counters,
} from './lib.mjs';

const TTL = 3000;
const KEY = 'chaos-api-key';
const AUTH = { authorization: `Bearer ${KEY}` };
const FINAL_EVENT_TIMEOUT = 2000;  // RelayConfig::final_event_timeout
const clients = [];
const raw = [];
const nodes = [];
let redis;
after(async () => {
  await closeAll(clients);
  for (const p of raw) p.close();
  for (const n of nodes) { resume(n); if (!n.exitInfo()) await n.stop({ expectCleanExit: false }).catch(() => n.kill()); }
  if (redis) await redis.stop();
});

test('a holder paused past its lease steps down on waking; its peers move to the new holder; no lasting split', { timeout: 120000 }, async (t) => {
  redis = await startRedis();
  const [a, b] = await Promise.all(['a', 'b'].map((id) => startNode(redis, id, ['--node-ttl-ms', String(TTL), '--api-key', KEY])));
  nodes.push(a, b);
  await until(async () => (await nodeIds(b)).length === 2, 5000, 'b to see 2 nodes');

  // Room R on a (both empty: the smaller id); room Q on b once a reports R's peers.
  const R = uid('R');
  const Q = uid('Q');
  const p1 = makeClient(a, R, 'p1', { disconnectTimeout: 1000 });
  const p2 = makeClient(b, R, 'p2', { disconnectTimeout: 1000 });
  clients.push(p1, p2);
  await p1.connect();
  await p2.connect();
  assert.equal(await redis.cmd('GET', `peerrtc:room:${R}`), 'a');
  const r1 = await connectPeer(a, R, 'r1');  // a raw peer: it shows the `moved` event itself
  raw.push(r1);
  await until(async () => (await b.request('GET', '/cluster/nodes', undefined, b.auth)).json.nodes.find((n) => n.id === 'a').peers >= 3,
    5000, 'a to report its peers');
  await sleep(1200);  // b's view has a's load
  const q1 = makeClient(a, Q, 'q1');
  const q2 = makeClient(b, Q, 'q2');
  clients.push(q1, q2);
  await q1.connect();
  await q2.connect();
  assert.equal(await redis.cmd('GET', `peerrtc:room:${Q}`), 'b');
  await waitFor(() => q1.peers().includes('q2') && p1.peers().includes('p2'), 10000, 'presence');
  const token1 = await redis.cmd('GET', `peerrtc:fence:${R}`);
  assert.match(String(token1), /^\d+$/, 'the lease carries a fencing token');

  const seqs = [p1, p2, q1, q2].map((c) => sequencer(c));
  for (const s of seqs) s.start();
  const watch = watchSplits([a, b], [R, Q]);
  try {
    await sleep(500);
    // A backlog to r1: 60 direct messages of 60 KB in flight at once; a is paused once a third
    // of them were answered, with the rest queued in its SCTP send queue (or still arriving).
    const N = 60;
    const big = (i) => `${String(i).padStart(5, '0')}:` + 'x'.repeat(60000);
    const sends = [];
    for (let i = 0; i < N; i++) sends.push(a.request('POST', '/api/send', { room: R, peer_id: 'r1', data: big(i) }, AUTH).catch((e) => ({ status: 0, text: String(e) })));
    await sends[N / 3];
    pause(a);
    const tPause = Date.now();
    // Past a's lease (and its node record): an offer through b places R on b.
    await sleep(TTL + 1500);
    const p3 = makeClient(b, R, 'p3', { disconnectTimeout: 1000 });
    clients.push(p3);
    await p3.connect();
    assert.equal(await redis.cmd('GET', `peerrtc:room:${R}`), 'b', 'R was placed on b while a was paused');
    const token2 = await redis.cmd('GET', `peerrtc:fence:${R}`);
    assert.ok(BigInt(token2) > BigInt(token1), `the new lease has a greater token (${token1} -> ${token2})`);
    await sleep(Math.max(0, 6000 - (Date.now() - tPause)));
    resume(a);
    const tResume = Date.now();
    t.diagnostic(`a paused for ${tResume - tPause} ms (ttl ${TTL} ms)`);

    // a steps down at once: the raw peer gets every message queued to it, then `moved`, then
    // its channel closes (at most FINAL_EVENT_TIMEOUT after the step-down). Only a peer that
    // did not acknowledge its queue by then is ABORTed, and that is counted: the event is never
    // lost silently. (After the pause, libwebrtc sometimes sends its SACKs from another ICE pair
    // that a's ICE-lite side does not route until the peer's next nominating check, seconds
    // later: then the deadline hits. Seen in about 1 run in 3.)
    await r1.waitClosed(FINAL_EVENT_TIMEOUT + 3000);
    const msClosed = Date.now() - tResume;
    const moved = r1.frames.find((f) => f.event?.type === 'moved');
    const answers = await Promise.all(sends);
    const delivered = answers.filter((r) => r.status === 200 && r.json?.delivered === 1).length;
    const sc = (await a.request('GET', '/stats', undefined, a.auth)).json.sctp;
    t.diagnostic(`a: graceful_closes ${sc.graceful_closes}, graceful_close_timeouts ${sc.graceful_close_timeouts}`);
    assert.ok(sc.graceful_closes >= 1, `the moved peers' connections close after their queue: ${JSON.stringify(sc)}`);
    if (moved) {
      assert.match(moved.event.reason, /lease/, JSON.stringify(moved.event));
      const idx = r1.frames.indexOf(moved);
      const got = r1.frames.slice(0, idx).filter((f) => f.text?.startsWith('dserver\n')).length;
      t.diagnostic(`r1: ${got} of ${N} 60-KB messages (${delivered} reported delivered), then moved; closed ${msClosed} ms after the wake`);
      assert.equal(got, delivered, `r1 got ${got} of the ${delivered} messages queued to it before moved`);
      assert.equal(r1.frames.length, idx + 1, 'moved is the last frame');
    } else {
      t.diagnostic(`r1: no moved (${delivered} messages reported delivered); closed ${msClosed} ms after the wake`);
      assert.ok(sc.graceful_close_timeouts >= 1, `moved was lost and no graceful close timed out: ${JSON.stringify(sc)}`);
    }
    await until(() => new RegExp(`steps down from room '${R}': its lease was not renewed`).test(a.output()), 2000, 'a\'s step-down line');
    await until(async () => { const v = await localRooms(a); return v && !v.has(R); }, TTL + 2000, 'a to stop serving R');
    // p1 and p2 re-offer and land on b, with p3.
    await until(async () => JSON.stringify((await localRooms(b))?.get(R)) === '["p1","p2","p3"]', 20000, 'p1, p2, p3 in R on b');
    const msBack = Date.now() - tResume;
    await waitFor(() => p3.rec.messages.some((m) => m.from === 'p1' && m.at > tResume + 100), 10000, 'p3 hears p1 on b');
    assert.equal(await redis.cmd('GET', `peerrtc:room:${R}`), 'b');
    const c = await counters(a);
    assert.ok(c.stepped_down >= 1, JSON.stringify(c));
    t.diagnostic(`resume -> r1 closed: ${msClosed} ms; resume -> p1, p2 with p3 on b: ${msBack} ms`);
    await sleep(1000);
  } finally {
    for (const s of seqs) s.stop();
  }
  const { spans, longest } = await watch.stop();
  t.diagnostic(`split spans: R ${JSON.stringify(spans[R].map(([x, y]) => y - x))}, Q ${JSON.stringify(spans[Q].map(([x, y]) => y - x))}`);
  assert.ok(longest(R) <= TTL + 2000, `R served by two nodes for ${longest(R)} ms`);
  assert.equal(longest(Q), 0, 'Q never split');
  await sleep(500);  // the last messages land
  // Q's members stayed connected to b throughout: every message, once, in order.
  assert.deepEqual(checkDelivery([q1, q2], seqs.slice(2), { complete: true }), []);
  // R's members moved: at most once and in order (what was sent while they moved may be lost).
  assert.deepEqual(checkDelivery([p1, p2], seqs.slice(0, 2)), []);
  assert.equal(a.exitInfo(), null);
  assert.equal(b.exitInfo(), null);
});
