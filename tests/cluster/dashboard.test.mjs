// The dashboard (clients/dashboard) in headless Chromium against a real two-node cluster: its
// cluster view comes from the real GET /cluster/nodes (tests/browser/dashboard.test.mjs hands
// the browser a canned answer instead), each node's /stats fetched from the advertised url.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, waitUntil, tid } from '../browser/lib/harness.mjs';
import { connectPeer } from '../server/lib.mjs';
import { startRedis, startNode, until, nodeIds } from './lib.mjs';

const peers = [];
const nodes = [];
let redis;
let browser;
after(async () => {
  for (const p of peers) p.close();
  if (browser) await browser.close();
  for (const n of nodes) if (!n.exitInfo()) await n.stop({ expectCleanExit: false }).catch(() => n.kill());
  if (redis) await redis.stop();
});

test('dashboard: the cluster view of two real nodes', { timeout: 60000 }, async () => {
  redis = await startRedis();
  const [a, b] = await Promise.all(['a', 'b'].map((id) => startNode(redis, id)));
  nodes.push(a, b);
  await until(async () => (await nodeIds(b)).length === 2, 5000, 'two nodes');
  const room = `dash-${process.pid}`;
  peers.push(await connectPeer(b, room, 'x'), await connectPeer(b, room, 'y'));  // placed on a, through b
  assert.equal(await redis.cmd('GET', `peerrtc:room:${room}`), 'a');

  browser = await launchBrowser();
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${b.baseUrl}/dashboard/?interval=250`, { waitUntil: 'load' });
  await page.waitForSelector(`${tid('mode')}[data-mode="cluster"]`, { timeout: 15000 });
  const rows = () => page.$$eval(`${tid('nodes')} tbody tr`, (trs) => trs.map((tr) => ({
    node: tr.dataset.node, cells: [...tr.children].map((td) => td.textContent),
  })));
  await waitUntil(async () => {
    const r = await rows();
    return r.length === 3 && r[0].cells[3] === '2' && r[1].cells[3] === '0';
  }, { timeout: 10000, what: 'node a with 2 peers, node b with none' });
  const r = await rows();
  assert.deepEqual(r.map((x) => x.node), ['a', 'b', '']);
  assert.equal(r[0].cells.at(-1), 'up');
  assert.equal(r[1].cells.at(-1), 'up');
  assert.equal(r[2].cells[1], '2/2 up');
  assert.equal(await page.getAttribute(tid('peers'), 'data-value'), '2');
  assert.deepEqual(errors, []);
  await page.close();
});
