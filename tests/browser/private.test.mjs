// A private server (--api-key and --join-secret; docs/deploy.md "What is public") in headless
// Chromium: the dashboard asks for the key (a wrong one is refused), keeps it in the tab's
// sessionStorage only, and then goes live; the chat example joins with `?join_token=` (the offer
// and GET /config carry it) and two pages talk; no page breaks the Content-Security-Policy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { joinToken as signJoinToken } from '../lib/jwt.mjs';
import {
  startProcess, serverBinary, launchBrowser, waitForStatus, waitForPeers, waitForMessage, sendChat, chatUrl, tid,
} from './lib/harness.mjs';

const KEY = 'browser-api-key';
const SECRET = 'browser-join-secret';
let server;
let browser;
const violations = [];

before(async () => {
  server = await startProcess(serverBinary(), ['--host', '127.0.0.1', '--port', '0', '--udp-port', '0', '--log-level',
    'warn', '--api-key', KEY, '--join-secret', SECRET], { name: 'private', expectCleanExit: true });
  browser = await launchBrowser();
  // Every page records the CSP violations it sees, from its first byte on.
  await browser.context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

const pages = [];
async function open(url, label) {
  const page = await browser.open(url, label);
  pages.push([label, page]);
  return page;
}
async function collectViolations() {
  for (const [label, page] of pages) {
    if (page.isClosed()) continue;
    for (const v of await page.evaluate(() => window.__csp || [])) violations.push(`${label}: ${v}`);
  }
}

const joinToken = (room, sub) => signJoinToken(SECRET, room, sub);

test('private: the dashboard asks for the key, refuses a wrong one, keeps the right one in sessionStorage only', { timeout: 60000 }, async () => {
  const page = await open(`${server.baseUrl}/dashboard/?interval=250`, 'dashboard');
  await page.waitForSelector(`${tid('key-form')}:not([hidden])`, { timeout: 15000 });
  assert.equal(await page.getAttribute(tid('status'), 'data-status'), 'locked');
  await page.fill(tid('key'), 'wrong-key');
  await page.click(tid('key-submit'));
  await page.waitForSelector(`${tid('key-form')}:not([hidden])`, { timeout: 15000 });
  assert.match(await page.textContent(tid('key-error')), /refused/);
  await page.fill(tid('key'), KEY);
  await page.click(tid('key-submit'));
  await page.waitForSelector(`${tid('status')}[data-status="live"]`, { timeout: 15000 });
  assert.equal(await page.isHidden(tid('key-form')), true);
  const stored = await page.evaluate(() => ({ session: sessionStorage.getItem('peerrtc-dashboard-key'), local: localStorage.length }));
  assert.deepEqual(stored, { session: KEY, local: 0 });
  assert.equal(await page.evaluate(() => location.search), '?interval=250', 'the key is not in the URL');
});

test('private: the chat example joins with ?join_token= and two pages talk; no CSP violation anywhere', { timeout: 90000 }, async () => {
  const room = `board-${Date.now().toString(36)}`;
  const url = (name) => `${chatUrl(server.baseUrl, room, name)}&join_token=${encodeURIComponent(joinToken(room, name))}`;
  const alice = await open(url('alice'), 'alice');
  await waitForStatus(alice, 'connected');
  const bob = await open(url('bob'), 'bob');
  await waitForStatus(bob, 'connected');
  await waitForPeers(alice, ['alice', 'bob']);
  await sendChat(bob, 'hello from a private room');
  await waitForMessage(alice, (m) => m.text === 'hello from a private room', 'bob\'s message at alice');
  // Without a token the page cannot join (401), and says so.
  const eve = await open(chatUrl(server.baseUrl, room, 'eve'), 'eve');
  await eve.waitForSelector(`${tid('error')}:not([hidden])`, { timeout: 20000 });
  assert.match(await eve.textContent(tid('error')), /401|join token/);
  for (const path of ['/whiteboard/', '/echo/', '/dashboard/']) await open(`${server.baseUrl}${path}?room=echo-x&name=z`, path);
  await collectViolations();
  assert.deepEqual(violations, [], 'Content-Security-Policy violations');
});
