// The whiteboard example (examples/web/whiteboard/): strokes drawn with the mouse on one page
// appear on the other; "clear" clears both; the other people's cursors come over the volatile lane.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, waitForStatus, waitUntil, tid, screenshotPath } from './lib/harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({ name: 'whiteboard-server' });
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

async function drawLine(page, from, to, steps = 20) {
  const box = await page.locator(tid('board')).boundingBox();
  const at = ([fx, fy]) => [box.x + fx * box.width, box.y + fy * box.height];
  await page.mouse.move(...at(from));
  await page.mouse.down();
  await page.mouse.move(...at(to), { steps });
  await page.mouse.up();
}

const counts = (page) => page.evaluate(() => ({
  drawn: window.__strokesDrawn, remote: window.__remoteStrokes, clears: window.__clears, ink: window.__inkPixels(),
}));

test('whiteboard: strokes reach the other page, clear clears both', { timeout: 90000 }, async () => {
  const room = `wb-${Date.now().toString(36)}`;
  const a = await browser.open(`${server.baseUrl}/whiteboard/?room=${room}&name=ann`, 'ann');
  const b = await browser.open(`${server.baseUrl}/whiteboard/?room=${room}&name=ben`, 'ben');
  await waitForStatus(a, 'connected');
  await waitForStatus(b, 'connected');
  await a.waitForFunction(() => window.__whiteboard.conn.peers().includes('ben'), null, { timeout: 20000 });
  assert.equal((await counts(b)).ink, 0, 'a new board is blank');

  // ann draws a red diagonal and a dot.
  await a.click(`${tid('swatch')}[data-colour="#dc2626"]`);
  await drawLine(a, [0.1, 0.1], [0.6, 0.7]);
  const box = await a.locator(tid('board')).boundingBox();
  await a.mouse.click(box.x + box.width * 0.8, box.y + box.height * 0.3);

  const onB = await waitUntil(async () => { const c = await counts(b); return c.remote >= 2 && c.ink > 500 ? c : null; },
    { timeout: 20000, what: 'strokes on ben\'s board' }).catch(async (e) => {
    throw new Error(`${e.message}: ann ${JSON.stringify(await counts(a))}, ben ${JSON.stringify(await counts(b))}`);
  });
  const onA = await counts(a);
  assert.ok(onA.ink > 500, `ann sees her own strokes (${onA.ink} px)`);
  // Both boards show about the same ink (anti-aliasing aside) and it is red where the line is.
  assert.ok(Math.abs(onA.ink - onB.ink) / onA.ink < 0.2, `similar ink: ann ${onA.ink} px, ben ${onB.ink} px`);
  const mid = await b.evaluate(() => {
    const c = document.querySelector('[data-testid="board"]');
    const d = c.getContext('2d').getImageData(Math.round(0.35 * c.width), Math.round(0.4 * c.height), 1, 1).data;
    return Array.from(d);
  });
  assert.ok(mid[0] > 180 && mid[1] < 90 && mid[2] < 90, `the line's middle is red on ben's board: ${mid}`);

  // ben draws back.
  await drawLine(b, [0.9, 0.9], [0.5, 0.9]);
  await waitUntil(async () => (await counts(a)).remote >= 1, { timeout: 20000, what: 'ben\'s stroke on ann\'s board' });

  await b.screenshot({ path: await screenshotPath('whiteboard-ben.png') });

  // ben clears: both blank.
  await b.click(tid('clear'));
  await waitUntil(async () => (await counts(a)).ink === 0, { timeout: 20000, what: 'ann\'s board cleared' });
  assert.equal((await counts(b)).ink, 0);
  assert.equal((await counts(a)).clears, 1);

  assert.deepEqual([...a.__errors, ...b.__errors], []);
  await Promise.all([a.close(), b.close()]);
});

test('whiteboard: the other people\'s cursors come over the volatile lane', { timeout: 60000 }, async () => {
  const room = `wbc-${Date.now().toString(36)}`;
  const a = await browser.open(`${server.baseUrl}/whiteboard/?room=${room}&name=cleo`, 'cleo');
  const b = await browser.open(`${server.baseUrl}/whiteboard/?room=${room}&name=dan`, 'dan');
  await waitForStatus(a, 'connected');
  await waitForStatus(b, 'connected');
  await a.waitForFunction(() => window.__whiteboard.conn.peers().includes('dan'), null, { timeout: 20000 });
  // cleo's pointer moves over the board (no button: no stroke) and stops at 25 % / 75 %.
  const box = await a.locator(tid('board')).boundingBox();
  await a.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.2);
  await a.mouse.move(box.x + box.width * 0.25, box.y + box.height * 0.75, { steps: 15 });
  const cursor = b.locator(`${tid('cursor')}[data-peer="cleo"]`);
  await cursor.waitFor({ state: 'visible', timeout: 20000 });
  // The last update wins (a lost one is replaced by the next); where it ends up is where cleo points.
  const at = await waitUntil(async () => {
    const c = (await b.evaluate(() => window.__cursors())).cleo;
    return c && Math.abs(c.x - 400) <= 8 && Math.abs(c.y - 750) <= 8 ? c : null;
  }, { timeout: 10000, what: 'cleo\'s cursor at (400, 750) on dan\'s board' });
  assert.ok(at);
  await new Promise((r) => setTimeout(r, 200));  // the cursor glides (a 60 ms CSS transition)
  const shown = await cursor.boundingBox();
  const bbox = await b.locator(tid('board')).boundingBox();
  assert.ok(Math.abs(shown.x - (bbox.x + bbox.width * 0.25)) < 12 && Math.abs(shown.y - (bbox.y + bbox.height * 0.75)) < 12,
    `the cursor is drawn where cleo points: ${JSON.stringify(shown)} on ${JSON.stringify(bbox)}`);
  assert.match(await cursor.textContent(), /cleo/);
  // Volatile: they went on the lane, not as strokes, and the counters say so.
  const sa = await a.evaluate(() => window.__whiteboard.conn.volatileStats);
  const sb = await b.evaluate(() => ({ updates: window.__cursorUpdates, remote: window.__remoteStrokes, v: window.__whiteboard.conn.volatileStats }));
  assert.ok(sa.sent >= 1 && sb.updates >= 1 && sb.v.received === sb.updates, `${JSON.stringify(sa)} ${JSON.stringify(sb)}`);
  assert.equal(sb.remote, 0, 'no stroke was sent');
  assert.equal((await counts(b)).ink, 0, 'a moving pointer draws nothing');
  await b.screenshot({ path: await screenshotPath('whiteboard-cursor.png') });
  // cleo's pointer leaves the board: her cursor goes.
  await a.mouse.move(box.x + box.width * 0.5, box.y - 40);
  await cursor.waitFor({ state: 'hidden', timeout: 10000 });
  // cleo leaves: her cursor element goes too.
  await a.close();
  await waitUntil(async () => (await b.locator(`${tid('cursor')}[data-peer="cleo"]`).count()) === 0, { timeout: 20000, what: 'cleo\'s cursor removed' });
  assert.deepEqual([...a.__errors, ...b.__errors], []);
  await b.close();
});
