// The chat page survives a server restart: SIGTERM the server, start a new one on the same HTTP
// and UDP ports; the pages reconnect by themselves (reconnecting -> connected) and chat again.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, waitForStatus, waitForPeers, waitForMessage, sendChat, chatUrl, sleep, waitUntil,
} from './lib/harness.mjs';

let server;
let browser;

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

// The old server's ports can take a moment to be free again.
async function restartOn(http, udp) {
  let lastErr;
  for (let i = 0; i < 20; i++) {
    try {
      return await startServer({ port: http, udpPort: udp, name: 'server-2' });
    } catch (e) {
      lastErr = e;
      await sleep(250);
    }
  }
  throw lastErr;
}

test('reconnect: pages come back after a server restart on the same ports', { timeout: 120000 }, async (t) => {
  server = await startServer({ name: 'server-1' });
  const { http, udp, baseUrl: url } = server;
  browser = await launchBrowser();
  const room = `re-${Date.now().toString(36)}`;
  const alice = await browser.open(chatUrl(url, room, 'alice'), 'alice');
  const bob = await browser.open(chatUrl(url, room, 'bob'), 'bob');
  await waitForStatus(alice, 'connected');
  await waitForStatus(bob, 'connected');
  await waitForPeers(alice, ['alice', 'bob']);
  await sendChat(alice, 'before the restart');
  await waitForMessage(bob, (m) => m.sender === 'alice' && m.text === 'before the restart', 'message before restart');

  const stopped = await server.stop({ signal: 'SIGTERM' });
  t.diagnostic(`server-1 exited: ${JSON.stringify(stopped)}`);
  assert.equal(stopped.code, 0, 'the server exits 0 on SIGTERM');
  await waitForStatus(alice, 'reconnecting', 15000);
  await waitForStatus(bob, 'reconnecting', 15000);

  server = await restartOn(http, udp);
  assert.equal(server.http, http);
  assert.equal(server.udp, udp);
  const t0 = Date.now();
  await waitForStatus(alice, 'connected', 30000);
  await waitForStatus(bob, 'connected', 30000);
  t.diagnostic(`both reconnected ${Date.now() - t0} ms after the new server was ready`);

  for (const p of [alice, bob]) {
    const hist = await p.evaluate(() => window.__chat.statusHistory);
    const i = hist.lastIndexOf('reconnecting');
    assert.ok(i > 0 && hist.slice(i + 1).includes('connected'), `status went reconnecting -> connected: ${hist}`);
  }
  await waitForPeers(alice, ['alice', 'bob']);
  await waitForPeers(bob, ['alice', 'bob']);

  await sendChat(bob, 'after the restart');
  await waitForMessage(alice, (m) => m.sender === 'bob' && m.text === 'after the restart', 'message after restart');
  await sendChat(alice, 'and back');
  await waitForMessage(bob, (m) => m.sender === 'alice' && m.text === 'and back', 'reply after restart');
  await waitUntil(async () => (await (await fetch(`${server.baseUrl}/rooms/peers?room=${room}`)).json()).peers?.length === 2,
    { what: 'the new server lists both peers' });
  assert.deepEqual([...alice.__errors, ...bob.__errors], []);
});
