// The chat example (examples/web/index.html) in headless Chromium against the real peerrtc-server:
// rooms, presence, relay, direct messages, room isolation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, waitForStatus, waitForPeers, chatMessages, waitForMessage, sendChat,
  chatUrl, tid, flushPage, screenshotPath,
} from './lib/harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({ name: 'chat-server' });
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('chat: serves the page and the client', async () => {
  const page = await browser.open(`${server.baseUrl}/`, 'index');
  assert.equal(await page.title(), 'PeerRTC chat');
  assert.equal(await page.getAttribute(tid('status'), 'data-status'), 'idle');
  const res = await fetch(`${server.baseUrl}/peerrtc-client.js`);
  assert.equal(res.status, 200);
  await page.close();
});

test('chat: three pages, two rooms: messages, presence, direct, isolation', { timeout: 120000 }, async (t) => {
  const room = `room-${Date.now().toString(36)}`;
  const other = `${room}-other`;

  const alice = await browser.open(chatUrl(server.baseUrl, room, 'alice'), 'alice');
  await waitForStatus(alice, 'connected');
  await waitForPeers(alice, ['alice']);

  const bob = await browser.open(chatUrl(server.baseUrl, room, 'bob'), 'bob');
  await waitForStatus(bob, 'connected');
  await waitForPeers(bob, ['alice', 'bob']);
  await waitForPeers(alice, ['alice', 'bob']);

  // Someone in another room: sees nothing of `room`.
  const eve = await browser.open(chatUrl(server.baseUrl, other, 'eve'), 'eve');
  await waitForStatus(eve, 'connected');
  await waitForPeers(eve, ['eve']);

  const carol = await browser.open(chatUrl(server.baseUrl, room, 'carol'), 'carol');
  await waitForStatus(carol, 'connected');
  for (const p of [alice, bob, carol]) await waitForPeers(p, ['alice', 'bob', 'carol']);
  await alice.waitForSelector(`${tid('notice')}:has-text("carol joined")`, { timeout: 5000 });

  // A broadcast from alice reaches bob and carol (not eve), shown as sent on alice's page.
  await sendChat(alice, 'hello room from alice');
  for (const p of [bob, carol]) {
    const m = await waitForMessage(p, (x) => x.text === 'hello room from alice', 'alice broadcast');
    assert.equal(m.sender, 'alice');
    assert.equal(m.direct, false);
    assert.equal(m.mine, false);
  }
  const mine = (await chatMessages(alice)).find((x) => x.text === 'hello room from alice');
  assert.ok(mine && mine.mine, 'alice sees her own message as sent');

  // Replies flow the other way too.
  await sendChat(bob, 'hi alice, bob here');
  await waitForMessage(alice, (x) => x.sender === 'bob' && x.text === 'hi alice, bob here', 'bob reply on alice');
  await waitForMessage(carol, (x) => x.sender === 'bob' && x.text === 'hi alice, bob here', 'bob reply on carol');

  // A direct message: only carol gets it, marked as direct.
  await sendChat(alice, 'psst carol, secret', 'carol');
  const dm = await waitForMessage(carol, (x) => x.text === 'psst carol, secret', 'direct to carol');
  assert.equal(dm.sender, 'alice');
  assert.equal(dm.direct, true);
  assert.ok(await carol.$(`${tid('message')}[data-direct="true"] ${tid('message-direct')}`), 'direct marker shown');
  // Give a wrongly delivered copy time to arrive before checking it didn't.
  await sendChat(alice, 'after the secret');
  await waitForMessage(bob, (x) => x.text === 'after the secret', 'marker after the direct message');
  assert.ok(!(await chatMessages(bob)).some((x) => x.text === 'psst carol, secret'), 'bob must not get the direct message');

  // eve (other room) saw none of it; her own message reaches nobody in `room`. Markers: eve's
  // flush shows the server handled her message and that eve has everything it sent her; then
  // each page of `room` flushes, so a copy of eve's message would be on it by now.
  await sendChat(eve, 'anyone in the other room?');
  await flushPage(eve);
  assert.deepEqual((await chatMessages(eve)).filter((x) => !x.mine), [], 'eve received nothing');
  for (const p of [alice, bob, carol]) await flushPage(p);
  for (const p of [alice, bob, carol]) {
    assert.ok(!(await chatMessages(p)).some((x) => x.sender === 'eve'), 'nothing from eve in room');
  }

  // Screenshot for a human look (not committed; tests/browser/.gitignore).
  const shot = await screenshotPath('chat-alice.png');
  await alice.screenshot({ path: shot });
  t.diagnostic(`screenshot: ${shot}`);

  // carol leaves with the button: the others' lists update and say so.
  await carol.click(tid('leave'));
  await waitForStatus(carol, 'idle');
  for (const p of [alice, bob]) await waitForPeers(p, ['alice', 'bob']);
  await bob.waitForSelector(`${tid('notice')}:has-text("carol left")`, { timeout: 5000 });

  // bob closes his tab: alice sees him go (leave on pagehide, or the connection ending).
  await bob.close();
  await waitForPeers(alice, ['alice'], 20000);

  // Joining again from the form (not the URL) works, with a taken name refused clearly.
  await carol.fill(tid('room'), room);
  await carol.fill(tid('name'), 'alice');
  await carol.click(tid('join'));
  await carol.waitForSelector(`${tid('error')}:not([hidden])`, { timeout: 15000 });
  const err = await carol.textContent(tid('error'));
  assert.match(err, /409|already/i, `a taken name is refused: ${err}`);
  await carol.fill(tid('name'), 'carol2');
  await carol.click(tid('join'));
  await waitForStatus(carol, 'connected');
  await waitForPeers(alice, ['alice', 'carol2']);

  for (const p of [alice, carol, eve]) assert.deepEqual(p.__errors, [], 'no page errors');
  await Promise.all([alice.close(), carol.close(), eve.close()]);
});

test('chat: server errors are shown (too_large from the client, unknown direct target)', { timeout: 60000 }, async () => {
  const room = `errs-${Date.now().toString(36)}`;
  const page = await browser.open(chatUrl(server.baseUrl, room, 'sam'), 'sam');
  await waitForStatus(page, 'connected');
  // Larger than the server's max payload: the client refuses it, the page shows why.
  await page.evaluate(() => {
    const input = document.querySelector('[data-testid="text"]');
    input.value = 'x'.repeat(262079);
  });
  await page.click(tid('send'));
  await page.waitForSelector(`${tid('error')}:not([hidden])`, { timeout: 5000 });
  assert.match(await page.textContent(tid('error')), /too large/i);
  // A direct message to someone who is not there: the server's `unknown_peer` error.
  await page.click(`${tid('error')} .close`);
  await page.evaluate(() => { window.__chat.conn.sendTo('nobody-here', 'hello?'); });  // its Promise rejects: not awaited here
  await page.waitForSelector(`${tid('error')}:not([hidden])`, { timeout: 5000 });
  assert.match(await page.textContent(tid('error')), /no such peer|unknown_peer/i);
  await page.close();
});

test('chat: messages from `server` are styled apart (the echo room answers as server)', { timeout: 60000 }, async () => {
  const page = await browser.open(chatUrl(server.baseUrl, `echo-chat-${Date.now().toString(36)}`, 'sue'), 'sue');
  await waitForStatus(page, 'connected');
  await sendChat(page, 'is anyone there?');
  const m = await waitForMessage(page, (x) => x.sender === 'server', 'the echo answer');
  assert.equal(m.text, 'echo: is anyone there?');
  assert.ok(await page.$(`${tid('message')}.server[data-sender="server"]`), 'server message has the server style');
  await page.close();
});

test('chat: room "général" with José, 🦊 Renard and élodie typed in NFD: peer list, avatars, a direct message to José', { timeout: 120000 }, async (t) => {
  const room = 'général';
  const jose = await browser.open(chatUrl(server.baseUrl, room, 'José'), 'José');
  await waitForStatus(jose, 'connected');
  assert.equal(await jose.textContent(tid('room-title')), '# général');
  const fox = await browser.open(chatUrl(server.baseUrl, room, '🦊 Renard'), 'fox');
  await waitForStatus(fox, 'connected');

  // élodie joins from the form, typed with a combining accent (e + U+0301): the client sends
  // the NFC name, so the room shows one "élodie" that the others can address.
  const elodie = await browser.open(`${server.baseUrl}/`, 'élodie');
  await elodie.fill(tid('room'), room);
  await elodie.fill(tid('name'), 'e\u0301lodie');
  await elodie.click(tid('join'));
  await waitForStatus(elodie, 'connected');
  const everyone = ['José', '🦊 Renard', '\u00e9lodie'];
  for (const p of [jose, fox, elodie]) await waitForPeers(p, everyone);

  // The list shows each name as it is, with its first character (a whole emoji, an accented
  // capital) in the avatar.
  const shown = await jose.$$eval(`${tid('peers')} ${tid('peer')}`, (els) => els.map((e) => ({
    peer: e.dataset.peer, label: e.querySelector('.grow').textContent, avatar: e.querySelector('.avatar').textContent,
  })));
  const byPeer = Object.fromEntries(shown.map((x) => [x.peer, x]));
  assert.deepEqual(byPeer['José'], { peer: 'José', label: 'José', avatar: 'J' });
  assert.deepEqual(byPeer['🦊 Renard'], { peer: '🦊 Renard', label: '🦊 Renard', avatar: '🦊' });
  assert.deepEqual(byPeer['\u00e9lodie'], { peer: '\u00e9lodie', label: '\u00e9lodie', avatar: '\u00c9' });
  // The page's helper on harder cases: a ZWJ sequence and a flag stay whole, ß stays ß.
  const initials = await jose.evaluate(async () => {
    const { initial } = await import('/common.js');
    return ['👩‍💻 dev', '🇫🇷 Paris', 'ßtraße', 'e\u0301lodie', 'мила', '王小明'].map(initial);
  });
  assert.deepEqual(initials, ['👩‍💻', '🇫🇷', 'ß', 'E\u0301', 'М', '王']);

  // The server lists the same bytes (UTF-8, percent-encoded in the query).
  const r = await fetch(`${server.baseUrl}/rooms/peers?room=${encodeURIComponent(room)}`);
  assert.deepEqual((await r.json()).peers.sort(), [...everyone].sort());

  // A direct message to José from the fox, picked in the target list: only José gets it.
  await sendChat(fox, 'bonjour José, ça va ?', 'José');
  const dm = await waitForMessage(jose, (x) => x.text === 'bonjour José, ça va ?', 'direct to José');
  assert.equal(dm.sender, '🦊 Renard');
  assert.equal(dm.direct, true);
  assert.ok(await fox.$(`${tid('message')}.mine[data-to="José"]`), 'shown as sent to José');
  await sendChat(jose, 'merci 🦊 !', '🦊 Renard');
  await waitForMessage(fox, (x) => x.text === 'merci 🦊 !' && x.sender === 'José' && x.direct, 'José answers the fox');
  // élodie got neither: her flush marker is in, after both were relayed.
  await flushPage(elodie);
  assert.deepEqual((await chatMessages(elodie)).filter((x) => !x.mine), [], 'élodie got no direct message');
  // And a broadcast from élodie reaches both, under her NFC name.
  await sendChat(elodie, 'salut tout le monde');
  for (const p of [jose, fox]) {
    const m = await waitForMessage(p, (x) => x.text === 'salut tout le monde', 'élodie broadcast');
    assert.equal(m.sender, '\u00e9lodie');
  }

  // A name the server would refuse is explained on the page before any request.
  await elodie.click(tid('leave'));
  await waitForStatus(elodie, 'idle');
  await elodie.fill(tid('name'), 'Zoë\u0085');
  await elodie.click(tid('join'));
  await elodie.waitForSelector(`${tid('error')}:not([hidden])`, { timeout: 5000 });
  assert.match(await elodie.textContent(tid('error')), /control character U\+0085 at byte 4/);

  const shot = await screenshotPath('chat-unicode.png');
  await jose.screenshot({ path: shot });
  t.diagnostic(`screenshot: ${shot}`);
  for (const p of [jose, fox, elodie]) assert.deepEqual(p.__errors, [], 'no page errors');
  await Promise.all([jose.close(), fox.close(), elodie.close()]);
});
