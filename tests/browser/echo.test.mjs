// The echo example (examples/web/echo/): the server's echo hook answers text and binary.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, waitForStatus, tid, screenshotPath } from './lib/harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({ name: 'echo-server' });
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('echo: text and binary answers arrive', { timeout: 60000 }, async () => {
  const page = await browser.open(`${server.baseUrl}/echo/`, 'echo');
  await waitForStatus(page, 'connected');
  const room = await page.textContent(tid('room-title'));
  assert.match(room, /^echo-[0-9a-f]+$/);

  await page.fill(tid('text'), 'ping from the browser');
  await page.click(tid('send'));
  const answer = await page.waitForSelector(`${tid('answer')}[data-binary="false"]`, { timeout: 20000 });
  assert.equal(await answer.$eval(tid('body'), (e) => e.textContent), 'echo: ping from the browser');
  const first = await page.evaluate(() => window.__echo.answers[0]);
  assert.deepEqual(first, { from: 'server', text: 'echo: ping from the browser' });

  await page.click(tid('send-binary'));
  await page.waitForSelector(`${tid('answer')}[data-binary="true"]`, { timeout: 20000 });
  const bin = await page.evaluate(() => window.__echo.answers.find((a) => a.binary));
  assert.equal(bin.bytes.length, 16);
  const sent = await page.$eval(`${tid('sent')}[data-binary="true"] ${tid('body')}`, (e) => e.textContent);
  const hex = bin.bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ');
  assert.ok(sent.includes(hex), `the same 16 bytes came back (${sent} vs ${hex})`);

  await page.screenshot({ path: await screenshotPath('echo.png') });

  // Each page has its own echo room: a second page never sees the first one's answers.
  const other = await browser.open(`${server.baseUrl}/echo/`, 'echo2');
  await waitForStatus(other, 'connected');
  assert.notEqual(await other.textContent(tid('room-title')), room);
  assert.deepEqual(page.__errors, []);
  await Promise.all([page.close(), other.close()]);
});
