// Interop: headless Debian Chromium (driven by playwright-core) against the PeerRTC test server.
// matrix.js runs inside an about:blank page; signalling and /events go through functions exposed
// with page.exposeFunction, so the HTTP requests are made from Node (no CORS / Private Network
// Access involvement).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';
import { matrixSourceForPage, summarize, uniquePeerId, withTimeout } from './lib/harness.mjs';

const EXECUTABLE = process.env.PEERRTC_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--allow-loopback-in-peer-connection'];

let server;
let context;
let page;
let userDataDir;
let currentPeer = null;

before(async () => {
  server = await startServer({ name: 'chromium' });
  const { chromium } = await import('playwright-core');
  userDataDir = mkdtempSync(join(tmpdir(), 'peerrtc-chromium-'));
  context = await withTimeout(chromium.launchPersistentContext(userDataDir, {
    executablePath: EXECUTABLE, headless: true, args: ARGS, timeout: 30000,
  }), 35000, 'chromium to launch');
  page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => { if (process.env.PEERRTC_VERBOSE) console.error(`[chromium console] ${m.text()}`); });
  await page.goto('about:blank');
  await page.exposeFunction('peerrtcSignal', (peerId, sdp) => server.offer('interop', peerId, sdp));
  await page.exposeFunction('peerrtcEvents', () => server.events());
  await page.exposeFunction('peerrtcLog', (m) => { if (process.env.PEERRTC_VERBOSE) console.error(`[chromium ${currentPeer}] ${m}`); });
  await page.evaluate(`window.__peerrtcMatrix = ${matrixSourceForPage()}; true`);
});

after(async () => {
  try { if (context) await withTimeout(context.close(), 15000, 'chromium to close'); } finally {
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    if (server) await server.stop();
  }
});

async function runInPage(peerId, opts = {}) {
  currentPeer = peerId;
  return page.evaluate(async ({ peerId: id, opts: o }) => window.__peerrtcMatrix.runMatrix({
    RTCPeerConnection: window.RTCPeerConnection,
    peerId: id,
    signal: (sdp) => window.peerrtcSignal(id, sdp),
    getEvents: () => window.peerrtcEvents(),
    log: (m) => window.peerrtcLog(m),
    ...o,
  }), { peerId, opts });
}

test('chromium: browser version', async (t) => {
  const ua = await page.evaluate(() => navigator.userAgent);
  t.diagnostic(`chromium: ${ua} (${context.browser() ? context.browser().version() : 'persistent context'})`);
  assert.match(ua, /Chrome\//);
});

test('chromium: full matrix (4 channel types x client/server-opened, 13 messages each, burst, events, close)', { timeout: 180000 }, async (t) => {
  const r = await runInPage(uniquePeerId('chromium'));
  t.diagnostic(summarize('chromium', r));
  assert.equal(r.channels.length, 8);
  assert.equal(r.maxMessageSize, 262144, 'pc.sctp.maxMessageSize');
});

test('chromium: second peer in the same page', { timeout: 60000 }, async (t) => {
  const r = await runInPage(uniquePeerId('chromium2'), { types: ['reliable'], sizes: [0, 1, 65536], burst: false });
  t.diagnostic(summarize('chromium', r));
});

// Runs last: several DTLS records share a datagram when the server sends a peer more than one
// SCTP packet in a loop turn (the matrix does, thousands of times). Had Chromium ignored all but
// the first record of a datagram, every coalesced record carrying DATA would have been lost and
// retransmitted (>= 1 s each), so retransmissions would reach the number of coalesced records.
// Some retransmission is normal here (bursts overflow the browser's buffers; measured the same
// with coalescing off), so the bound is that, not zero.
test('chromium: coalesced DTLS records accepted', async (t) => {
  const s = await server.stats();
  if (!s) return t.skip('reference server has no /stats');
  t.diagnostic(`chromium: ${JSON.stringify(s)}`);
  assert.ok(s.records_coalesced > 100, 'the run should have coalesced records');
  assert.ok(s.sctp_retransmitted_chunks < s.records_coalesced,
    `${s.sctp_retransmitted_chunks} retransmitted chunks for ${s.records_coalesced} coalesced records`);
});
