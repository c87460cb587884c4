// examples/terminal-chat: the server + a participant driven from stdin, with a browser in the room.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startProcess, terminalChatBinary, launchBrowser, waitForStatus, waitForPeers, waitForMessage, sendChat,
  chatUrl, withTimeout,
} from './lib/harness.mjs';

let term;
let browser;

after(async () => {
  if (browser) await browser.close();
  if (term) await term.stop({ signal: 'SIGKILL' });
});

test('terminal-chat: talks with a browser in lobby, /quit exits 0', { timeout: 90000 }, async () => {
  term = await startProcess(terminalChatBinary(), ['--host', '127.0.0.1', '--port', '0'], { name: 'terminal-chat', stdin: 'pipe' });
  await term.waitForLine(/^\* you are operator in lobby/, 5000);
  browser = await launchBrowser();
  const page = await browser.open(chatUrl(term.baseUrl, 'lobby', 'alice'), 'alice');
  await waitForStatus(page, 'connected');
  await term.waitForLine(/^\* alice joined$/, 10000);
  await waitForPeers(page, ['alice', 'operator']);

  term.write('hello from terminal\n');
  const m = await waitForMessage(page, (x) => x.text === 'hello from terminal', 'terminal message on the page');
  assert.equal(m.sender, 'operator');
  assert.equal(m.direct, false);

  await sendChat(page, 'hi operator, alice here');
  await term.waitForLine(/^\[alice\] hi operator, alice here$/, 10000);

  await sendChat(page, 'just for you', 'operator');
  await term.waitForLine(/^\[alice -> you\] just for you$/, 10000);

  term.write('/to alice a direct one\n');
  const d = await waitForMessage(page, (x) => x.text === 'a direct one', 'direct from the terminal');
  assert.equal(d.sender, 'operator');
  assert.equal(d.direct, true);

  const before = term.lines.length;
  term.write('/peers\n');
  await term.waitForLine(/^\* peers: alice$/, 5000, before);

  await page.close();
  await term.waitForLine(/^\* alice left$/, 15000);

  term.write('/quit\n');
  const { code, signal } = await withTimeout(term.exited, 10000, 'terminal-chat to exit after /quit');
  assert.equal(signal, null);
  assert.equal(code, 0);
});

test('terminal-chat: SIGTERM and EOF exit 0', { timeout: 30000 }, async () => {
  const a = await startProcess(terminalChatBinary(), ['--host', '127.0.0.1', '--port', '0', '--room', 'r1', '--name', 'ops'], { name: 'tc-term', stdin: 'pipe' });
  await a.waitForLine(/^\* you are ops in r1; nobody else is here$/, 5000);
  const { code: code1, signal: signal1 } = await a.stop({ signal: 'SIGTERM' });
  assert.deepEqual({ code: code1, signal: signal1 }, { code: 0, signal: null });

  const b = await startProcess(terminalChatBinary(), ['--host', '127.0.0.1', '--port', '0'], { name: 'tc-eof', stdin: 'pipe' });
  b.child.stdin.end();
  const r2 = await withTimeout(b.exited, 10000, 'terminal-chat to exit on EOF');
  assert.deepEqual(r2, { code: 0, signal: null });
});
