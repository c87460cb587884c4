// Shared helpers of the browser tests: start the real peerrtc-server (or terminal-chat), launch
// headless Debian Chromium through playwright-core, and wait for things.
//
// Env: PEERRTC_SERVER       server binary (default build/apps/peerrtc-server; relative = repo root)
//      PEERRTC_TERMINAL_CHAT terminal-chat binary (default build/examples/terminal-chat)
//      PEERRTC_CHROMIUM     browser binary (default /usr/bin/chromium)
//      PEERRTC_VERBOSE=1    forward process output and page consoles to stderr
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, binaryPath, sleep, startProcess as startSharedProcess, withTimeout } from '../../lib/server.mjs';

export { REPO_ROOT, sleep, withTimeout };
const VERBOSE = !!process.env.PEERRTC_VERBOSE;

export const CHROMIUM = process.env.PEERRTC_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--allow-loopback-in-peer-connection'];

export const serverBinary = () => binaryPath('peerrtc-server');
export const terminalChatBinary = () => binaryPath('terminal-chat');

/** Polls `fn` (sync or async) until it returns a truthy value; returns that value. */
export async function waitUntil(fn, { timeout = 15000, interval = 50, what = 'a condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try { last = await fn(); } catch (e) { last = undefined; if (Date.now() > end) throw e; }
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

/**
 * A child process that prints `READY {"http":P,"udp":P}` (tests/lib/server.mjs); resolves once
 * it did. Every stdout line is kept (`lines`, `waitForLine(re, timeout, from)`); `write(s)` needs
 * stdin 'pipe'. stop(signal) resolves {code, signal, ms} without checking the code (the tests do)
 * unless `expectCleanExit`.
 */
export function startProcess(cmd, args, { name = 'server', stdin = 'ignore', expectCleanExit = false } = {}) {
  return startSharedProcess(cmd, args, {
    name, stdin, keepLines: true, readyTimeoutMs: 15000, stopTimeoutMs: 8000, outputKeep: 128 * 1024,
    expectCleanExit, missingHint: 'see tests/browser/run.sh',
  });
}

/**
 * peerrtc-server on 127.0.0.1; `port`/`udpPort` pin the ports (for restarts), else ephemeral.
 * Its stop() throws unless it exits 0.
 */
export function startServer({ port = 0, udpPort = 0, name = 'server' } = {}) {
  return startProcess(serverBinary(),
    ['--host', '127.0.0.1', '--port', String(port), '--udp-port', String(udpPort), '--log-level', 'warn'],
    { name, expectCleanExit: true });
}

/** A fresh headless Chromium (persistent context in a temp profile). close() removes the profile. */
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'peerrtc-browser-'));
  let context;
  try {
    context = await withTimeout(chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30000,
      viewport: { width: 1100, height: 760 },
    }), 40000, 'chromium to launch');
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const pages = [];
  return {
    context,
    /** A new tab at `url`; page errors fail loudly in the test output. */
    async open(url, label = `page${pages.length + 1}`) {
      const page = pages.length === 0 && context.pages().length ? context.pages()[0] : await context.newPage();
      pages.push(page);
      page.__errors = [];
      page.on('pageerror', (e) => { page.__errors.push(String(e)); console.error(`[${label} pageerror] ${e}`); });
      page.on('console', (m) => {
        if (VERBOSE || m.type() === 'error') console.error(`[${label} console.${m.type()}] ${m.text()}`);
      });
      await page.goto(url, { waitUntil: 'load', timeout: 30000 });
      return page;
    },
    async close() {
      try { await withTimeout(context.close(), 15000, 'chromium to close'); } catch (e) { console.error(String(e)); }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------ chat page helpers

const tid = (id) => `[data-testid="${id}"]`;
export { tid };

export async function chatStatus(page) {
  return page.getAttribute(tid('status'), 'data-status');
}

export async function waitForStatus(page, status, timeout = 20000) {
  await page.waitForSelector(`${tid('status')}[data-status="${status}"]`, { timeout });
}

/** Peer names shown in the chat page's list (including the page's own name). */
export async function chatPeers(page) {
  return page.$$eval(`${tid('peers')} ${tid('peer')}`, (els) => els.map((e) => e.dataset.peer).sort());
}

export async function waitForPeers(page, expected, timeout = 15000) {
  const want = [...expected].sort();
  await waitUntil(async () => JSON.stringify(await chatPeers(page)) === JSON.stringify(want),
    { timeout, what: `peer list ${JSON.stringify(want)} (have ${JSON.stringify(await chatPeers(page).catch(() => []))})` });
}

/** Messages shown on a chat page: [{sender, text, direct, mine}]. */
export async function chatMessages(page) {
  return page.$$eval(`${tid('messages')} ${tid('message')}`, (els) => els.map((e) => ({
    sender: e.dataset.sender,
    text: e.querySelector('[data-testid="message-text"]').textContent,
    direct: e.dataset.direct === 'true',
    mine: e.classList.contains('mine'),
  })));
}

export async function waitForMessage(page, pred, what, timeout = 15000) {
  return waitUntil(async () => (await chatMessages(page)).find(pred), { timeout, what: `message: ${what}` });
}

let flushSeq = 0;
/**
 * A marker through a chat page's own path: a direct message to a peer id that is in no room is
 * answered on the page's ordered channel with {"type":"error","code":"unknown_peer","to":id}
 * (caught here, so the page shows no error). The server handles a peer's frames in order on
 * its one network thread, so once the answer is in, every frame the page sent before was
 * handled and every message the server sent the page before is shown. Not in echo rooms (the
 * echo hook also echoes such a message).
 */
export async function flushPage(page, timeout = 10000) {
  const to = `flush-${process.pid}-${++flushSeq}`;
  await page.evaluate(({ to, timeout }) => new Promise((resolve, reject) => {
    const c = window.__chat.conn;
    const prev = c.onServerError;
    const timer = setTimeout(() => { c.onServerError = prev; reject(new Error(`no answer to flush ${to} in ${timeout} ms`)); }, timeout);
    c.onServerError = (ev) => {
      if (ev.code === 'unknown_peer' && ev.to === to) { clearTimeout(timer); c.onServerError = prev; resolve(); } else if (prev) prev(ev);
    };
    c.sendTo(to, '.');
  }), { to, timeout });
}

export async function sendChat(page, text, to = '') {
  await page.selectOption(tid('target'), to);
  await page.fill(tid('text'), text);
  await page.click(tid('send'));
}

export function chatUrl(base, room, name) {
  return `${base}/?room=${encodeURIComponent(room)}&name=${encodeURIComponent(name)}`;
}

/** Where a test's screenshot goes: tests/browser/screenshots/<name> (git-ignored). */
export async function screenshotPath(name) {
  const dir = join(REPO_ROOT, 'tests/browser/screenshots');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}
