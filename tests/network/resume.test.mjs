// Issue 19 "nothing lost when a peer's network drops": a peer's network is cut for 40 s — past
// ICE consent (30 s), so the server ends its connection — while a sender sends numbered messages
// at 20 and 100 msg/s, first for the receiver, then for the sender. Protocol v2 (the JS client's
// default, docs/protocol.md "v2"): the peer stays in the room as away, resumes when the network
// returns and gets exactly what it missed (or sends what it queued). Checked: 0 lost, 0
// duplicated, 0 reordered at every receiver; the first message within 3 s of the network's
// return; the others saw peer_away and peer_back, never peer_left; no resume_gap.
//
// Chromium: a page whose namespace is cut for 10 s (a real cut: CDP's offline emulation does not
// touch WebRTC's UDP, so it would prove nothing) gets every message once, in order.
//
// Each row has its own namespace (pnt-*) and its own peerrtc-server on that namespace's
// root-side address; the peer that is cut runs inside the namespace, the two others outside.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNetns, spawnJson, messageLog } from './lib/netns.mjs';
import { startPeerServer } from './lib/servers.mjs';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'lib', 'resume-peer.mjs');
const OUTAGE_MS = Number(process.env.PEERRTC_OUTAGE_MS || 40000);
const BEFORE_MS = 4000, AFTER_MS = 6000;
const cleanup = [];
after(async () => { for (const f of cleanup.reverse()) await f().catch(() => {}); });

async function row(t, { role, rate }) {
  const ns = await createNetns({ udp: 'allowed' });
  cleanup.push(() => ns.destroy());
  const server = await startPeerServer(ns.rootIp, { name: `resume-${role}-${rate}` });
  cleanup.push(() => server.stop());
  const baseUrl = `http://${ns.rootIp}:${server.http}`;
  const room = `r-${role}-${rate}-${process.pid}`;
  const spawnPeer = (peerId, inside) => {
    const job = JSON.stringify({ baseUrl, room, peerId });
    const p = inside ? ns.spawnJson(process.execPath, [SCRIPT, job], { name: peerId })
      : spawnJson(process.execPath, [SCRIPT, job], { name: peerId });
    cleanup.push(() => p.stop());
    return p;
  };
  const names = { sender: `s${rate}`, receiver: `r${rate}`, watcher: `w${rate}` };
  const peers = {};
  for (const [r, id] of Object.entries(names)) {
    peers[r] = spawnPeer(id, r === role);
    await peers[r].waitFor((m) => m.type === 'connected', 20000, `${id} connected`);
  }
  await peers.sender.waitFor((m) => m.type === 'event' && m.event.type === 'peer_joined' && m.event.peer_id === names.watcher, 10000, 'full room');
  const n = Math.round((rate * (BEFORE_MS + OUTAGE_MS + AFTER_MS)) / 1000);
  peers.sender.send({ cmd: 'send', n, rate });
  await new Promise((r) => setTimeout(r, BEFORE_MS));
  ns.cut();
  const tCut = Date.now();
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  ns.setUdp('allowed');
  const tBack = Date.now();
  const got = (p) => p.messages.filter((m) => m.type === 'message' && m.from === names.sender).map((m) => Number(m.text));
  for (const r of ['receiver', 'watcher']) {
    await peers[r].waitFor(() => got(peers[r]).length >= n, AFTER_MS + 30000, `${names[r]}: all ${n} (has ${got(peers[r]).length})`);
  }
  await peers.sender.waitFor((m) => m.type === 'acked', 30000, 'every send acked');
  await new Promise((r) => setTimeout(r, 500));  // anything doubled would arrive by now
  const counts = {};
  for (const r of ['receiver', 'watcher']) {
    const g = got(peers[r]);
    let reordered = 0;
    for (let i = 1; i < g.length; i++) if (g[i] < g[i - 1]) reordered++;
    counts[r] = { lost: n - new Set(g).size, duplicated: g.length - new Set(g).size, reordered };
  }
  const victim = peers[role];
  const firstAfter = role === 'receiver'
    ? victim.messages.find((m) => m.type === 'message' && m.at >= tBack)
    : peers.watcher.messages.find((m) => m.type === 'message' && m.at >= tBack);
  const firstMs = firstAfter ? firstAfter.at - tBack : null;
  const events = (p, type) => p.messages.filter((m) => m.type === 'event' && m.event.type === type);
  const others = Object.keys(peers).filter((r) => r !== role);
  const acked = peers.sender.messages.find((m) => m.type === 'acked');
  t.diagnostic(`${role} cut for ${OUTAGE_MS / 1000} s at ${rate} msg/s: ${n} sent (${acked.n} acked), ` +
    `receiver ${JSON.stringify(counts.receiver)}, watcher ${JSON.stringify(counts.watcher)}; ` +
    `first message ${firstMs} ms after the return; away after ${events(peers[others[0]], 'peer_away')[0]?.at - tCut} ms`);
  assert.deepEqual(counts.receiver, { lost: 0, duplicated: 0, reordered: 0 });
  assert.deepEqual(counts.watcher, { lost: 0, duplicated: 0, reordered: 0 });
  assert.equal(acked.n, n, `acked: ${JSON.stringify(acked)}`);
  assert.ok(firstMs !== null && firstMs <= 3000, `first message ${firstMs} ms after the network returned (at most 3000)`);
  for (const r of Object.keys(peers)) {
    assert.deepEqual(events(peers[r], 'peer_left'), [], `${names[r]} saw no peer_left`);
    assert.deepEqual(events(peers[r], 'resume_gap'), [], `${names[r]} had no resume_gap`);
  }
  for (const r of others) {
    assert.equal(events(peers[r], 'peer_away').length, 1, `${names[r]} saw peer_away (the server ended the connection)`);
    assert.equal(events(peers[r], 'peer_back').length, 1, `${names[r]} saw peer_back`);
  }
  for (const p of Object.values(peers)) p.send({ cmd: 'close' });
}

// The receiver's and the sender's rows run at the same time (four namespaces, four servers):
// the outages take 40 s each, and this keeps the suite's wall time to one of them.
test(`a receiver and a sender cut off for ${OUTAGE_MS / 1000} s, at the same time`, { concurrency: true, timeout: OUTAGE_MS + 130000 }, async (t) => {
  await Promise.all(['receiver', 'sender'].map((role) => t.test(
    `${role} cut off for ${OUTAGE_MS / 1000} s (past ICE consent) at 20 and 100 msg/s: 0 lost, 0 duplicated, 0 reordered; first message within 3 s; no peer_left`,
    { timeout: OUTAGE_MS + 120000 }, async (st) => {
      await Promise.all([row(st, { role, rate: 20 }), row(st, { role, rate: 100 })]);
    })));
});

test('Chromium page cut off for 10 s at 50 msg/s: every message once, in order; first message within 3 s; no peer_left', { timeout: 120000 }, async (t) => {
  const ns = await createNetns({ udp: 'allowed' });
  cleanup.push(() => ns.destroy());
  const server = await startPeerServer(ns.rootIp, { name: 'resume-chromium' });
  cleanup.push(() => server.stop());
  const baseUrl = `http://${ns.rootIp}:${server.http}`;
  const room = `r-chromium-${process.pid}`;
  const browser = await ns.launchChromium();
  cleanup.push(() => browser.close());
  const page = await browser.newPage('chromium-resume');
  const log = messageLog('chromium page');
  await page.exposeFunction('peerrtcEmit', (m) => log.push(m));
  await page.goto(`${baseUrl}/health`);
  await page.evaluate(async (room) => {
    const { WebRTCConnection } = await import('/peerrtc-client.js');
    const c = new WebRTCConnection(room, { peerId: 'page', iceServers: [], disconnectTimeout: 2000 });
    c.onMessage = (from, text, info) => window.peerrtcEmit({ type: 'message', from, text, seq: info.seq });
    c.onResumeGap = (g) => window.peerrtcEmit({ type: 'event', event: g });
    c.onStatusChange = (s) => window.peerrtcEmit({ type: 'status', status: s });
    await c.connect();
    window.__conn = c;
  }, room);
  const sender = spawnJson(process.execPath, [SCRIPT, JSON.stringify({ baseUrl, room, peerId: 'sender' })], { name: 'sender' });
  cleanup.push(() => sender.stop());
  await sender.waitFor((m) => m.type === 'connected', 20000, 'sender connected');
  const rate = 50;
  const n = rate * 16;
  sender.send({ cmd: 'send', n, rate });
  await new Promise((r) => setTimeout(r, 3000));
  ns.cut();
  await new Promise((r) => setTimeout(r, 10000));
  ns.setUdp('allowed');
  const tBack = Date.now();
  const got = () => log.messages.filter((m) => m.type === 'message' && m.from === 'sender').map((m) => Number(m.text));
  await log.waitFor(() => got().length >= n, 30000, () => `all ${n} in the page (has ${got().length})`);
  await sender.waitFor((m) => m.type === 'acked', 20000, 'acks');
  await new Promise((r) => setTimeout(r, 500));
  const g = got();
  let reordered = 0;
  for (let i = 1; i < g.length; i++) if (g[i] < g[i - 1]) reordered++;
  const counts = { lost: n - new Set(g).size, duplicated: g.length - new Set(g).size, reordered };
  const first = log.messages.find((m) => m.type === 'message' && m.at >= tBack);
  const firstMs = first ? first.at - tBack : null;
  const statuses = log.messages.filter((m) => m.type === 'status').map((m) => m.status);
  const senderEvents = sender.messages.filter((m) => m.type === 'event').map((m) => m.event.type);
  t.diagnostic(`Chromium cut for 10 s at ${rate} msg/s: ${n} sent, ${JSON.stringify(counts)}; first message ${firstMs} ms after the return; ` +
    `page statuses ${statuses.join(' > ') || '(stayed connected)'}; sender saw ${senderEvents.join(', ')}`);
  assert.deepEqual(counts, { lost: 0, duplicated: 0, reordered: 0 });
  assert.ok(firstMs !== null && firstMs <= 3000, `first message ${firstMs} ms after the network returned`);
  assert.ok(!senderEvents.includes('peer_left'), 'no peer_left');
  assert.deepEqual(log.messages.filter((m) => m.type === 'event'), [], 'no resume_gap');
  sender.send({ cmd: 'close' });
});
