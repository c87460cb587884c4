// A receiver that stops reading (native probe --stuck: its SCTP window closes) is disconnected as
// too slow after the grace period; the sender is only paused meanwhile, the healthy receiver gets
// every message in order, and the server's memory stays bounded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, SERVER_BIN, startProbe, connectPeer, makeClient, procStats, waitFor, flush, uniqueId } from './lib.mjs';

const GRACE_MS = 2000, COUNT = 200, SIZE = 64 * 1024;
let server;
before(async () => {
  server = await startServer(SERVER_BIN, ['--port', '0', '--no-examples', '--slow-receiver-grace-ms', String(GRACE_MS)], { name: 'slow' });
});
after(async () => { if (server) await server.stop(); });

test(`a stuck receiver is dropped as too slow; ${COUNT} × 64 KiB reach the healthy one in order`, async () => {
  const room = uniqueId('slow');
  const healthy = await connectPeer(server, room, uniqueId('healthy'));
  const stuckId = uniqueId('stuck');
  const stuck = await startProbe(server, ['--stuck', '--room', room, '--peer-id', stuckId]);
  const sender = makeClient(server, room, uniqueId('sender'));
  const base = procStats(server.child.pid);
  let maxRss = base.rssKiB;
  const sampler = setInterval(() => { try { maxRss = Math.max(maxRss, procStats(server.child.pid).rssKiB); } catch { /* */ } }, 50);
  try {
    await sender.connect();
    await healthy.waitEvent('peer_joined', (e) => e.peer_id === sender.peerId, 5000);
    const t0 = Date.now();
    for (let i = 0; i < COUNT; i++) {
      const head = `${i}:`;
      sender.sendMessage(head + 'x'.repeat(SIZE - head.length));  // queued by the client under backpressure
    }
    const left = await healthy.waitEvent('peer_left', (e) => e.peer_id === stuckId, 15000);
    const droppedMs = Date.now() - t0;
    await waitFor(() => healthy.frames.filter((f) => f.text && f.text.startsWith(`m${sender.peerId}\n`)).length >= COUNT, 30000,
      () => `healthy got ${healthy.frames.filter((f) => f.text && f.text.startsWith('m')).length}/${COUNT}`);
    const doneMs = Date.now() - t0;
    clearInterval(sampler);
    const s = (await server.request('GET', '/stats')).json;
    const msgs = healthy.frames.filter((f) => f.text && f.text.startsWith(`m${sender.peerId}\n`)).map((f) => f.text.slice(sender.peerId.length + 2));
    console.log(`# slow receiver: dropped ${droppedMs} ms after the sends began (grace ${GRACE_MS} ms), reason "${left.event.reason}"; ` +
      `healthy got ${msgs.length}/${COUNT} after ${doneMs} ms; server RSS ${base.rssKiB} KiB -> max ${maxRss} KiB; ` +
      `/stats senders_paused ${s.senders_paused} slow_receivers_disconnected ${s.slow_receivers_disconnected}`);
    assert.match(left.event.reason, /too slow/);
    assert.ok(droppedMs >= GRACE_MS - 200 && droppedMs <= GRACE_MS + 6000, `dropped after ${droppedMs} ms`);
    assert.ok(s.slow_receivers_disconnected >= 1, JSON.stringify(s));
    assert.equal(msgs.length, COUNT);
    msgs.forEach((m, i) => {
      assert.equal(m.length, SIZE, `message ${i} size`);
      assert.ok(m.startsWith(`${i}:`), `message ${i} out of order: ${m.slice(0, 12)}`);
    });
    assert.ok(maxRss - base.rssKiB < 48 * 1024, `server RSS grew by ${maxRss - base.rssKiB} KiB`);
    await flush(sender);  // the sender's errors would come back on its own channel
    assert.deepEqual(sender.rec.serverErrors, []);
    const peers = (await server.request('GET', `/rooms/peers?room=${room}`)).json.peers;
    assert.ok(!peers.includes(stuckId), `stuck peer still listed: ${peers}`);
  } finally {
    clearInterval(sampler);
    stuck.kill();
    healthy.close();
    await sender.closeConnection().catch(() => {});
  }
});
