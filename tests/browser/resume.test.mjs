// Protocol v2 in Chromium: a page reload inside the resume window resumes (the token, epoch and
// last seq are in sessionStorage), gets exactly the messages sent while it was reloading, once,
// in order, and the others see no peer_left. The page is the server's own origin; the client is
// /peerrtc-client.js, driven by page.evaluate (not the chat example, whose pagehide handler
// leaves the room on purpose).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, waitUntil } from './lib/harness.mjs';
import { makeClient, waitFor, closeAll } from '../client/lib/util.mjs';

let server;
let browser;
const live = [];
after(async () => {
  await closeAll(live);
  if (browser) await browser.close();
  if (server) await server.stop();
});

// In the page: a WebRTCConnection whose messages go to window.__got (and sessionStorage's view).
async function connectInPage(page, room, peerId) {
  return page.evaluate(async ({ room, peerId }) => {
    const { WebRTCConnection } = await import('/peerrtc-client.js');
    // What the application was handed, kept across the reload (the page before it may have
    // been handed some of the messages sent around it; those are its, not to be given again).
    const load = () => JSON.parse(sessionStorage.getItem('test:got') || '[]');
    window.__got = load();
    window.__gaps = [];
    const c = new WebRTCConnection(room, { peerId });
    c.onMessage = (from, message, info) => {
      window.__got.push({ from, message, seq: info.seq });
      sessionStorage.setItem('test:got', JSON.stringify(window.__got));
    };
    c.onResumeGap = (g) => window.__gaps.push(g);
    window.__conn = c;
    const stored = sessionStorage.getItem(`peerrtc:${JSON.stringify([room, peerId])}`);
    await c.connect();
    return { stored, token: c.token, point: c.resumePoint };
  }, { room, peerId });
}

test('Chromium: a page reload within the window resumes with nothing lost, nothing doubled; no peer_left', { timeout: 90000 }, async (t) => {
  server = await startServer({ name: 'resume-browser' });
  browser = await launchBrowser();
  const room = `reload-${Date.now().toString(36)}`;
  const page = await browser.open(`${server.baseUrl}/`, 'reload');
  const first = await connectInPage(page, room, 'page');
  assert.equal(first.stored, null, 'nothing stored before the first connect');
  const sender = makeClient(server, room, 'sender');
  live.push(sender);
  await sender.connect();
  await sender.sendMessage('before');
  await waitUntil(() => page.evaluate(() => window.__got.length === 1), { what: 'the first message in the page' });

  // Reload while the sender keeps sending.
  const N = 30;
  const sending = (async () => { for (let i = 0; i < N; i++) { await sender.sendMessage(`m${i}`); await new Promise((r) => setTimeout(r, 20)); } })();
  const tReload = Date.now();
  await page.reload({ waitUntil: 'load' });
  const again = await connectInPage(page, room, 'page');
  const msResume = Date.now() - tReload;
  await sending;
  assert.ok(again.stored, 'the resume state was in sessionStorage');
  const st = JSON.parse(again.stored);
  assert.equal(st.token, first.token, 'the same token: the same membership');
  assert.equal(again.token, first.token, 'the server took it back (no fresh join)');
  await waitUntil(() => page.evaluate((n) => window.__got.length >= n + 1, N), { timeout: 15000, what: `${N} messages after the reload` });
  await new Promise((r) => setTimeout(r, 300));
  const all = await page.evaluate(() => window.__got);
  const before = all.findIndex((m) => m.message === 'm0');
  const got = all.slice(1);
  assert.equal(all[0].message, 'before');
  assert.ok(before === 1, 'm0 follows "before"');
  assert.deepEqual(got.map((m) => m.message), Array.from({ length: N }, (_, i) => `m${i}`), 'every message sent around the reload handed over once, in order, across the two page loads');
  for (let i = 1; i < got.length; i++) assert.ok(got[i].seq > got[i - 1].seq);
  assert.deepEqual(await page.evaluate(() => window.__gaps), []);
  assert.deepEqual(sender.rec.left, [], 'the sender saw no peer_left');
  t.diagnostic(`reload to resumed welcome ${msResume} ms; ${N} messages, 0 lost, 0 doubled; sender saw peer_away ${sender.rec.away.length}, peer_back ${sender.rec.back.length}`);
  await page.evaluate(() => window.__conn.closeConnection());
  await waitFor(() => sender.rec.left.includes('page'), 10000, 'a real leave is still a leave');
});
