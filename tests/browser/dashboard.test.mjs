// The dashboard (clients/dashboard/, served at /dashboard/) in headless Chromium against the
// real peerrtc-server while real @roamhq/wrtc peers chat: the page loads, its charts update,
// its numbers match GET /stats; and, on a real cluster (a redis-server and peerrtc-server nodes
// with --redis, started here), its cluster view sums the live nodes' /stats and flags a node
// that is listed in GET /cluster/nodes but does not answer (SIGSTOPped).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, waitUntil, screenshotPath, tid, sleep } from './lib/harness.mjs';
import { connectPeer, stopAll } from '../server/lib.mjs';
import { startRedis, startNode, nodeIds } from '../cluster/lib.mjs';

let server;    // a node alone (GET /cluster/nodes is 404)
let browser;
const peers = [];
let redis;     // the cluster test's redis-server and nodes
const cluster = [];
let stopped;   // the cluster node that was SIGSTOPped

before(async () => {
  server = await startServer({ name: 'dash' });
  browser = await launchBrowser();
});

after(async () => {
  for (const p of peers) p.close();
  if (browser) await browser.close();
  if (stopped && !stopped.exitInfo()) process.kill(stopped.child.pid, 'SIGCONT');
  try {
    await stopAll([server, ...cluster]);  // each exits 0, the SIGSTOPped-then-continued node too
  } finally {
    if (redis) await redis.stop();
  }
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
  // Both rates of one sample: the page renders them in one call, and one evaluate reads both.
  const [rate, mrate] = await page.evaluate(() => ['deliveries-rate', 'messages-rate']
    .map((id) => Number(document.querySelector(`[data-testid="${id}"]`).dataset.value)));
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
  // A sample taken after the drop: the chat's messages were all relayed before 'x' was sent, so
  // the message count alone may still be that of an earlier sample.
  await waitUntil(async () => (await numberOf(page, 'messages')) === s.messages_relayed && (await numberOf(page, 'drops')) === drops,
    { timeout: 5000, what: `the page to show ${s.messages_relayed} messages and ${drops} drops` });
  assert.equal(await numberOf(page, 'deliveries'), s.deliveries);
  assert.equal(await numberOf(page, 'rooms'), s.rooms);
  assert.equal(await numberOf(page, 'peers'), s.peers);
  assert.equal(await page.textContent(tid('deliveries')), s.deliveries.toLocaleString('en-US'));
  assert.equal(s.messages_relayed, n, 'every message sent was relayed');
  assert.deepEqual(page.__errors, []);
  await page.close();
});

test('dashboard: the cluster view sums every node and flags a dead one', { timeout: 90000 }, async () => {
  // A real cluster: a redis-server of its own, nodes a and b with wrtc peers on each, and node c
  // that registered (with a long --node-ttl-ms, so its record stays) and was then SIGSTOPped: it
  // is listed in GET /cluster/nodes but its /stats never answers.
  redis = await startRedis();
  const [a, b] = await Promise.all(['a', 'b'].map((id) => startNode(redis, id, ['--log-level', 'warn'])));
  cluster.push(a, b);
  const listed = async (node) => (await node.request('GET', '/cluster/nodes')).json;
  await waitUntil(async () => (await nodeIds(a)).length === 2 && (await nodeIds(b)).length === 2,
    { timeout: 10000, what: 'nodes a and b to see each other' });

  // Room ra: placed on a (both empty, ties break by id). Once a's record shows its 2 peers, room
  // rb offered to b is placed on b (the least-loaded node).
  const ra = `dash-a-${process.pid}`, rb = `dash-b-${process.pid}`;
  const alice = await connectPeer(a, ra, 'alice');
  peers.push(alice);
  const bob = await connectPeer(a, ra, 'bob');
  peers.push(bob);
  await waitUntil(async () => (await listed(b)).nodes.find((n) => n.id === 'a')?.peers === 2,
    { timeout: 10000, what: 'node a\'s record to show its 2 peers' });
  const xavier = await connectPeer(b, rb, 'xavier');
  peers.push(xavier);
  const yvonne = await connectPeer(b, rb, 'yvonne');
  peers.push(yvonne);
  assert.equal(await redis.cmd('GET', `peerrtc:room:${ra}`), 'a', 'room ra lives on node a');
  assert.equal(await redis.cmd('GET', `peerrtc:room:${rb}`), 'b', 'room rb lives on node b');

  // Node c joins after the rooms are placed (it would be the least loaded), then stops answering.
  const c = await startNode(redis, 'c', ['--log-level', 'warn', '--node-ttl-ms', '600000']);
  cluster.push(c);
  await waitUntil(async () => (await nodeIds(a)).length === 3, { timeout: 10000, what: 'node a to list node c' });
  process.kill(c.child.pid, 'SIGSTOP');
  stopped = c;

  const page = await browser.open(`${a.baseUrl}/dashboard/?interval=250`, 'dashboard-cluster');
  await page.waitForSelector(`${tid('mode')}[data-mode="cluster"]`, { timeout: 15000 });
  assert.equal(await page.textContent(tid('mode')), 'cluster · 3 nodes');

  // Traffic on both live nodes, and a drop on b.
  for (let i = 0; i < 5; i++) { alice.sendText(`mhello a ${i}`); xavier.sendText(`mhello b ${i}`); }
  xavier.sendText('x');
  await xavier.waitEvent('error', (e) => e.code === 'bad_frame');
  await bob.waitFrame((f) => f.text === 'malice\nhello a 4', 10000, 'the last message on node a');
  await yvonne.waitFrame((f) => f.text === 'mxavier\nhello b 4', 10000, 'the last message on node b');

  // Idle now: the cluster totals equal the sum of the live nodes' /stats.
  const [sa, sb] = await Promise.all([a, b].map(async (n) => (await n.request('GET', '/stats')).json));
  const drops = (s) => s.dropped_too_large + s.dropped_bad_frame + s.dropped_filtered + s.dropped_unknown_peer +
    s.dropped_send + s.dropped_rate_limited;
  assert.equal(sa.messages_relayed, 5);
  assert.equal(sb.messages_relayed, 5);
  assert.equal(drops(sb), 1);
  assert.deepEqual([sa.rooms, sa.peers, sb.rooms, sb.peers], [1, 2, 1, 2]);
  await waitUntil(async () => (await numberOf(page, 'messages')) === sa.messages_relayed + sb.messages_relayed &&
    (await numberOf(page, 'drops')) === drops(sa) + drops(sb),
  { timeout: 15000, what: `the page to show ${sa.messages_relayed + sb.messages_relayed} messages and ${drops(sa) + drops(sb)} drops` });
  await waitTicks(page, 2);
  assert.equal(await numberOf(page, 'rooms'), sa.rooms + sb.rooms);
  assert.equal(await numberOf(page, 'peers'), sa.peers + sb.peers);
  assert.equal(await numberOf(page, 'deliveries'), sa.deliveries + sb.deliveries);
  assert.equal(await numberOf(page, 'messages'), sa.messages_relayed + sb.messages_relayed);
  assert.equal(await numberOf(page, 'drops'), drops(sa) + drops(sb));

  // One row per node of GET /cluster/nodes, in its order, then the total.
  const answer = await listed(a);
  assert.deepEqual(answer.nodes.map((n) => n.id).sort(), ['a', 'b', 'c']);
  const rows = await page.$$eval(`${tid('nodes')} tbody tr`, (trs) => trs.map((tr) => ({
    node: tr.dataset.node, cells: [...tr.children].map((td) => td.textContent),
  })));
  assert.deepEqual(rows.map((r) => r.node), [...answer.nodes.map((n) => n.id), '']);
  const row = (id) => rows.find((r) => r.node === id).cells;
  assert.equal(row('a')[0], 'a (this)');
  assert.equal(row('b')[1], b.baseUrl);
  assert.equal(row('c')[1], answer.nodes.find((n) => n.id === 'c').url);
  for (const [id, s] of [['a', sa], ['b', sb]]) {
    assert.equal(row(id)[2], String(s.rooms), `node ${id}: rooms`);
    assert.equal(row(id)[3], String(s.peers), `node ${id}: peers`);
    assert.equal(row(id).at(-1), 'up', `node ${id} is up`);
  }
  assert.match(row('c').at(-1), /^down: timed out/);
  assert.equal(row('c')[3], '–');
  const total = rows.at(-1).cells;
  assert.equal(total[0], 'Cluster');
  assert.equal(total[1], '2/3 up');
  assert.equal(total[2], String(sa.rooms + sb.rooms));
  assert.equal(total[3], String(sa.peers + sb.peers));
  assert.match(await page.textContent(tid('status')), /1 node\(s\) unreachable/);
  assert.equal(await page.getAttribute(tid('status'), 'data-status'), 'degraded');
  await page.screenshot({ path: await screenshotPath('dashboard-cluster.png') });
  assert.deepEqual(page.__errors, []);
  await page.close();
});
