// Shared helpers of the browser tests: start the real peerrtc-server (or terminal-chat), launch
// headless Debian Chromium through playwright-core, and wait for things.
//
// Env: PEERRTC_SERVER       server binary (default build/apps/peerrtc-server; relative = repo root)
//      PEERRTC_TERMINAL_CHAT terminal-chat binary (default build/examples/terminal-chat)
//      PEERRTC_CHROMIUM     browser binary (default /usr/bin/chromium)
//      PEERRTC_VERBOSE=1    forward process output and page consoles to stderr
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const VERBOSE = !!process.env.PEERRTC_VERBOSE;
const READY_TIMEOUT_MS = 15000;
const STOP_TIMEOUT_MS = 8000;
const KEEP = 128 * 1024;

export const CHROMIUM = process.env.PEERRTC_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--allow-loopback-in-peer-connection'];

function binary(envName, fallback) {
  const p = process.env[envName] || fallback;
  return isAbsolute(p) ? p : resolve(REPO_ROOT, p);
}
export const serverBinary = () => binary('PEERRTC_SERVER', 'build/apps/peerrtc-server');
export const terminalChatBinary = () => binary('PEERRTC_TERMINAL_CHAT', 'build/examples/terminal-chat');

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

export async function withTimeout(promise, ms, what) {
  let timer;
  try {
    return await Promise.race([promise, new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    })]);
  } finally { clearTimeout(timer); }
}

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
 * A child process that prints `READY {"http":P,"udp":P}`; resolves once it did.
 * Returns {child, http, udp, url, output(), lines, waitForLine(re), write(s), stop(signal), exited}.
 */
export async function startProcess(cmd, args, { name = 'server', stdin = 'ignore' } = {}) {
  if (!existsSync(cmd)) throw new Error(`${cmd} does not exist (build it first, see tests/browser/run.sh)`);
  const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: [stdin, 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const lines = [];
  const waiters = new Set();
  let partial = '';
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  child.stdout.on('data', (chunk) => {
    const s = chunk.toString();
    if (VERBOSE) process.stderr.write(s.replace(/^(?=.)/gm, `[${name} out] `));
    out = (out + s).slice(-KEEP);
    partial += s;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      lines.push(line);
      for (const w of waiters) w(line);
    }
  });
  child.stderr.on('data', (chunk) => {
    const s = chunk.toString();
    if (VERBOSE) process.stderr.write(s.replace(/^(?=.)/gm, `[${name} err] `));
    err = (err + s).slice(-KEEP);
  });
  const output = () => `--- stdout ---\n${out}\n--- stderr ---\n${err}`;

  // Resolves with the first line (already printed or to come) matching `re`.
  const waitForLine = (re, timeout = 15000, from = 0) => new Promise((res, rej) => {
    for (let i = from; i < lines.length; i++) if (re.test(lines[i])) return res(lines[i]);
    const timer = setTimeout(() => {
      waiters.delete(w);
      rej(new Error(`${name}: timed out after ${timeout} ms waiting for a line matching ${re}\n${output()}`));
    }, timeout);
    const w = (line) => { if (re.test(line)) { clearTimeout(timer); waiters.delete(w); res(line); } };
    waiters.add(w);
  });

  let ready;
  try {
    ready = await Promise.race([
      waitForLine(/^READY /, READY_TIMEOUT_MS),
      exited.then(({ code, signal }) => { throw new Error(`${name} exited (${code ?? signal}) before READY\n${output()}`); }),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const ports = JSON.parse(ready.slice('READY '.length));
  const proc = {
    child, lines, exited, output, waitForLine,
    http: ports.http, udp: ports.udp, url: `http://127.0.0.1:${ports.http}`,
    write: (s) => child.stdin.write(s),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      try {
        return await withTimeout(exited, STOP_TIMEOUT_MS, `${name} to exit`);
      } catch {
        child.kill('SIGKILL');
        return exited;
      }
    },
  };
  return proc;
}

/** peerrtc-server on 127.0.0.1; `port`/`udpPort` pin the ports (for restarts), else ephemeral. */
export function startServer({ port = 0, udpPort = 0, name = 'server' } = {}) {
  return startProcess(serverBinary(),
    ['--host', '127.0.0.1', '--port', String(port), '--udp-port', String(udpPort), '--log-level', 'warn'], { name });
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
