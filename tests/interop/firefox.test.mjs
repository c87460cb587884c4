// Interop: headless Debian Firefox ESR (driven by puppeteer-core over WebDriver BiDi) against the
// PeerRTC test server. matrix.js runs inside an about:blank page; signalling and /events go
// through page.exposeFunction (implemented over BiDi script channels), so the HTTP requests are
// made from Node.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';
import { matrixSourceForPage, summarize, uniquePeerId, withTimeout } from './lib/harness.mjs';

const EXECUTABLE = process.env.PEERRTC_FIREFOX || '/usr/bin/firefox-esr';
export const FIREFOX_PREFS = {
  // Allow ICE over loopback: the server's only candidate is 127.0.0.1.
  'media.peerconnection.ice.loopback': true,
  // Firefox gathers host candidates only on the default-route interface (so never on lo, and
  // ICE with a 127.0.0.1-only server fails) unless the page is capturing or has a camera or
  // microphone permission (PeerConnectionImpl: default_address_only |=
  // !IsActivelyCapturingOrHasAPermission). Fake-device capture does not count and WebDriver
  // BiDi permissions.setPermission rejects "camera", so grant both by default.
  'permissions.default.camera': 1,
  'permissions.default.microphone': 1,
  'media.peerconnection.ice.default_address_only': false,
  // Put real host addresses in our candidates instead of mDNS .local names.
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  // No proxy / no network-connectivity probing in a sandbox.
  'network.proxy.type': 0,
  'network.connectivity-service.enabled': false,
};

let server;
let browser;
let page;
let userDataDir;
let currentPeer = null;

before(async () => {
  server = await startServer({ name: 'firefox' });
  const puppeteer = (await import('puppeteer-core')).default;
  userDataDir = mkdtempSync(join(tmpdir(), 'peerrtc-firefox-'));
  browser = await withTimeout(puppeteer.launch({
    browser: 'firefox',
    executablePath: EXECUTABLE,
    protocol: 'webDriverBiDi',
    headless: true,
    userDataDir,
    extraPrefsFirefox: FIREFOX_PREFS,
    timeout: 30000,
  }), 35000, 'firefox to launch');
  page = await browser.newPage();
  page.on('console', (m) => { if (process.env.PEERRTC_VERBOSE) console.error(`[firefox console] ${m.text()}`); });
  await page.goto('about:blank');
  await page.exposeFunction('peerrtcSignal', (peerId, sdp) => server.offer('interop', peerId, sdp));
  await page.exposeFunction('peerrtcEvents', () => server.events());
  await page.exposeFunction('peerrtcLog', (m) => { if (process.env.PEERRTC_VERBOSE) console.error(`[firefox ${currentPeer}] ${m}`); });
  await page.evaluate(`window.__peerrtcMatrix = ${matrixSourceForPage()}; true`);
});

after(async () => {
  try { if (browser) await withTimeout(browser.close(), 15000, 'firefox to close'); } finally {
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    if (server) await server.stop();
  }
});

async function runInPage(peerId, opts = {}) {
  currentPeer = peerId;
  return page.evaluate(async (id, o) => window.__peerrtcMatrix.runMatrix({
    RTCPeerConnection: window.RTCPeerConnection,
    peerId: id,
    signal: (sdp) => window.peerrtcSignal(id, sdp),
    getEvents: () => window.peerrtcEvents(),
    log: (m) => window.peerrtcLog(m),
    ...o,
  }), peerId, opts);
}

test('firefox: browser version', async (t) => {
  const ua = await page.evaluate(() => navigator.userAgent);
  t.diagnostic(`firefox: ${ua} (${await browser.version()})`);
  assert.match(ua, /Firefox\//);
});

test('firefox: full matrix (4 channel types x client/server-opened, 13 messages each, burst, events, close)', { timeout: 180000 }, async (t) => {
  const r = await runInPage(uniquePeerId('firefox'));
  t.diagnostic(summarize('firefox', r));
  assert.equal(r.channels.length, 8);
  assert.ok(r.maxMessageSize >= 262144, `pc.sctp.maxMessageSize ${r.maxMessageSize} >= 262144`);
});

test('firefox: second peer in the same page', { timeout: 60000 }, async (t) => {
  const r = await runInPage(uniquePeerId('firefox2'), { types: ['reliable'], sizes: [0, 1, 65536], burst: false });
  t.diagnostic(summarize('firefox', r));
});

// Runs last: several DTLS records share a datagram when the server sends a peer more than one
// SCTP packet in a loop turn (the matrix does, thousands of times). Had Firefox ignored all but
// the first record of a datagram, every coalesced record carrying DATA would have been lost and
// retransmitted (>= 1 s each), so retransmissions would reach the number of coalesced records.
// Some retransmission is normal here (bursts overflow the browser's buffers; measured the same
// with coalescing off), so the bound is that, not zero.
test('firefox: coalesced DTLS records accepted', async (t) => {
  const s = await server.stats();
  if (!s) return t.skip('reference server has no /stats');
  t.diagnostic(`firefox: ${JSON.stringify(s)}`);
  assert.ok(s.records_coalesced > 100, 'the run should have coalesced records');
  assert.ok(s.sctp_retransmitted_chunks < s.records_coalesced,
    `${s.sctp_retransmitted_chunks} retransmitted chunks for ${s.records_coalesced} coalesced records`);
});
