// The dashboard (clients/dashboard/, served at /dashboard/) in headless Chromium against the
// real peerrtc-server while real @roamhq/wrtc peers chat: the page loads, its charts update,
// its numbers match GET /stats; and its cluster view sums every node's /stats.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, waitUntil, screenshotPath, tid, sleep } from './lib/harness.mjs';
import { connectPeer } from '../server/lib.mjs';

let server;
let other;  // a second node for the cluster view
let browser;
const peers = [];

before(async () => {
  [server, other] = await Promise.all([startServer({ name: 'dash-a' }), startServer({ name: 'dash-b' })]);
  browser = await launchBrowser();
});

after(async () => {
  for (const p of peers) p.close();
  if (browser) await browser.close();
  await Promise.all([server && server.stop(), other && other.stop()]);
});

const value = (page, id) => page.getAttribute(tid(id), 'data-value');
const numberOf = async (page, id) => {
  const v = await value(page, id);
  return v === null || v === '' ? null : Number(v);
};
const ticks = (page) => page.evaluate(() => Number(document.body.dataset.ticks || 0));
async function waitTicks(page, n) {
  const start = await ticks(page);
  await waitUntil(async () => (await ticks(page)) >= start + n, { timeout: 15000, what: `${n} dashboard updates` });
}

// alice talks to bob and carol at ~rate messages/s for ms milliseconds.
async function chat(a, ms, rate = 40) {
  const end = Date.now() + ms;
  let i = 0;
  while (Date.now() < end) {
    a.sendText(`mtick ${i++}`);
    await sleep(1000 / rate);
  }
  return i;
}

test('dashboard: loads, charts follow the chat, numbers match /stats', { timeout: 90000 }, async () => {
  const page = await browser.open(`${server.baseUrl}/dashboard/?interval=250`, 'dashboard');
  await page.waitForSelector(`${tid('status')}[data-status="live"]`, { timeout: 15000 });
  assert.equal(await page.getAttribute(tid('mode'), 'data-mode'), 'node', '/cluster/nodes is 404: this node only');
  assert.match(await page.textContent(tid('nodes-note')), /not in a cluster/);
  assert.equal(await page.locator(`${tid('nodes')} tbody tr`).count(), 1);
  assert.equal(await numberOf(page, 'peers'), 0);

  const room = `dash-${process.pid}`;
  const [a, b, c] = await Promise.all(['alice', 'bob', 'carol'].map((id) => connectPeer(server, room, id)));
  peers.push(a, b, c);
  await waitUntil(async () => (await numberOf(page, 'peers')) === 3 && (await numberOf(page, 'rooms')) === 1,
    { timeout: 10000, what: 'the dashboard to show 1 room and 3 peers' });
  await waitUntil(async () => (await numberOf(page, 'handshake-p50')) > 0,
    { timeout: 10000, what: 'a handshake percentile' });

  const trafficBefore = await page.evaluate(() => document.querySelector('[data-testid="chart-traffic"]').toDataURL());
  const sent = chat(a, 4000);
  // While they chat: deliveries/s, messages/s and the relay-latency percentiles appear.
  await waitUntil(async () => (await numberOf(page, 'deliveries-rate')) > 10, { timeout: 10000, what: 'deliveries/s > 10' });
  await waitUntil(async () => (await numberOf(page, 'relay-p50')) > 0, { timeout: 10000, what: 'a relay-latency p50' });
  const rate = await numberOf(page, 'deliveries-rate');
  const mrate = await numberOf(page, 'messages-rate');
  assert.ok(rate > 1.5 * mrate && rate < 2.5 * mrate, `two receivers: deliveries/s ${rate} ~ 2 x messages/s ${mrate}`);
  await sleep(2000);
  await page.screenshot({ path: await screenshotPath('dashboard.png') });
  const n = await sent;

  const trafficAfter = await page.evaluate(() => document.querySelector('[data-testid="chart-traffic"]').toDataURL());
  assert.notEqual(trafficAfter, trafficBefore, 'the traffic chart was redrawn with the chat');
  const hist = await page.evaluate(() => window.peerrtcDashboard.history);
  assert.ok(hist.some((p) => p.deliveriesRate > 10), 'the traffic chart has points of the chat');
  assert.ok(hist.some((p) => p.relayP99 > 0), 'the latency chart has points');

  // A bad frame is a drop: the drops move too.
  a.sendText('x');
  await a.waitEvent('error', (e) => e.code === 'bad_frame');
  await b.waitFrame((f) => f.text === `malice\ntick ${n - 1}`, 10000, 'the last message');
  await c.waitFrame((f) => f.text === `malice\ntick ${n - 1}`, 10000, 'the last message');

  // Idle now: the page's totals equal /stats.
  const s = (await server.request('GET', '/stats')).json;
  const drops = s.dropped_too_large + s.dropped_bad_frame + s.dropped_filtered + s.dropped_unknown_peer +
    s.dropped_send + s.dropped_rate_limited;
  assert.ok(drops >= 1);
  await waitUntil(async () => (await numberOf(page, 'messages')) === s.messages_relayed,
    { timeout: 5000, what: `the page to show ${s.messages_relayed} messages` });
  assert.equal(await numberOf(page, 'deliveries'), s.deliveries);
  assert.equal(await numberOf(page, 'drops'), drops);
  assert.equal(await numberOf(page, 'rooms'), s.rooms);
  assert.equal(await numberOf(page, 'peers'), s.peers);
  assert.equal(await page.textContent(tid('deliveries')), s.deliveries.toLocaleString('en-US'));
  assert.equal(s.messages_relayed, n, 'every message sent was relayed');
  assert.deepEqual(page.__errors, []);
  await page.close();
});

test('dashboard: the cluster view sums every node and flags a dead one', { timeout: 60000 }, async () => {
  // GET /cluster/nodes belongs to the cluster branch (docs/protocol.md); until a node answers it,
  // the browser is handed the contract's answer for two real nodes and one that is down.
  const page = await browser.context.newPage();
  page.__errors = [];
  page.on('pageerror', (e) => page.__errors.push(String(e)));
  const dead = 'http://127.0.0.1:9';  // discard port: nothing listens
  await page.route('**/cluster/nodes', (route) => route.fulfill({
    status: 200,
    contentType: 'application/json',
    body: JSON.stringify({ nodes: [
      { id: 'node-a', url: server.baseUrl, udp: server.udp, rooms: 0, peers: 0, self: true },
      { id: 'node-b', url: other.baseUrl, udp: other.udp, rooms: 0, peers: 0, self: false },
      { id: 'node-c', url: dead, udp: 1, rooms: 0, peers: 0, self: false },
    ] }),
  }));
  await page.goto(`${server.baseUrl}/dashboard/?interval=250`, { waitUntil: 'load' });
  await page.waitForSelector(`${tid('mode')}[data-mode="cluster"]`, { timeout: 15000 });

  // One peer pair on each live node.
  const x = await connectPeer(other, `dash-b-${process.pid}`, 'xavier');
  const y = await connectPeer(other, `dash-b-${process.pid}`, 'yvonne');
  peers.push(x, y);
  const sa = (await server.request('GET', '/stats')).json;
  await waitUntil(async () => (await numberOf(page, 'peers')) === sa.peers + 2,
    { timeout: 10000, what: 'cluster peers = node a + node b' });
  assert.equal(await numberOf(page, 'rooms'), sa.rooms + 1);
  await waitTicks(page, 2);

  const rows = await page.$$eval(`${tid('nodes')} tbody tr`, (trs) => trs.map((tr) => ({
    node: tr.dataset.node, cells: [...tr.children].map((td) => td.textContent),
  })));
  assert.deepEqual(rows.map((r) => r.node), ['node-a', 'node-b', 'node-c', '']);
  assert.equal(rows[1].cells[3], '2', 'node b: 2 peers');
  assert.equal(rows[0].cells.at(-1), 'up');
  assert.match(rows[2].cells.at(-1), /^down/);
  assert.equal(rows[3].cells[0], 'Cluster');
  assert.equal(rows[3].cells[1], '2/3 up');
  assert.match(await page.textContent(tid('status')), /1 node\(s\) unreachable/);
  assert.equal(await page.getAttribute(tid('status'), 'data-status'), 'degraded');

  x.sendText('mhello from b');
  await y.waitFrame((f) => f.text === 'mxavier\nhello from b', 10000, 'a message on node b');
  const sb = (await other.request('GET', '/stats')).json;
  const sa2 = (await server.request('GET', '/stats')).json;
  await waitUntil(async () => (await numberOf(page, 'messages')) === sa2.messages_relayed + sb.messages_relayed,
    { timeout: 5000, what: 'cluster messages = sum of both nodes' });
  await page.screenshot({ path: await screenshotPath('dashboard-cluster.png') });
  assert.deepEqual(page.__errors, []);
  await page.close();
});
