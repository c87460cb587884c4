// Tests that more than one interop file runs, each under its own stack name.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './server.mjs';
import { matrixSourceForPage, summarize, uniquePeerId, withTimeout } from './harness.mjs';

// Runs last in a file: the server's wire counters after the stack's whole run. The matrix's
// large messages leave as GSO runs on Linux. Retransmissions are reported, not bounded: bursts
// can overflow a client's socket buffer on a loaded machine. (One DTLS record per datagram is
// by construction: DatagramWriter never joins datagrams; tests/unit/net checks it.)
export function wireCountersTest(name, getServer) {
  test(`${name}: wire counters (GSO runs)`, async (t) => {
    const server = getServer();
    // Decided by which server runs (PEERRTC_REFERENCE=1), not by what it answers: a
    // peerrtc-testserver whose /stats went missing must fail here, not skip.
    if (server.kind === 'reference') return t.skip('the reference server has no /stats');
    const s = await server.stats();
    assert.ok(s, `${name}: GET /stats of ${server.kind} answered 404`);
    t.diagnostic(`${name}: ${JSON.stringify(s)}`);
    assert.ok(s.datagrams_out > 0 && s.datagrams_in > 0, `${name}: datagrams counted`);
    assert.ok(s.gso_runs > 0, `${name}: the matrix's large messages should leave as GSO runs`);
  });
}

// The browser interop tests (chromium.test.mjs, firefox.test.mjs): one test server and one
// browser (fresh temp profile) for the file; matrix.js runs inside an about:blank page, with
// signalling and /events going through functions exposed with page.exposeFunction, so the HTTP
// requests are made from Node (no CORS / Private Network Access involvement).
//   browser: {
//     launch(userDataDir)  -> a handle (within 35 s),
//     newPage(handle)      -> its page (playwright or puppeteer; both have the calls used here),
//     close(handle)        -> promise (within 15 s),
//     version(handle)      -> a string for the diagnostic,
//     userAgent            -> RegExp the page's navigator.userAgent must match,
//     checkFullMatrix(r)   -> the stack's own assertions on the full matrix's result,
//   }
// Tests: `<name>: browser version`, `<name>: full matrix (...)`, `<name>: second peer in the
// same page`, then wireCountersTest.
export function browserMatrixTests(name, browser) {
  let server;
  let handle;
  let page;
  let userDataDir;
  let currentPeer = null;
  const verbose = !!process.env.PEERRTC_VERBOSE;

  before(async () => {
    server = await startServer({ name });
    userDataDir = mkdtempSync(join(tmpdir(), `peerrtc-${name}-`));
    handle = await withTimeout(browser.launch(userDataDir), 35000, `${name} to launch`);
    page = await browser.newPage(handle);
    page.on('console', (m) => { if (verbose) console.error(`[${name} console] ${m.text()}`); });
    await page.goto('about:blank');
    await page.exposeFunction('peerrtcSignal', (peerId, sdp) => server.offer('interop', peerId, sdp));
    await page.exposeFunction('peerrtcEvents', () => server.events());
    await page.exposeFunction('peerrtcLog', (m) => { if (verbose) console.error(`[${name} ${currentPeer}] ${m}`); });
    await page.evaluate(`window.__peerrtcMatrix = ${matrixSourceForPage()}; true`);
  });

  after(async () => {
    try { if (handle) await withTimeout(browser.close(handle), 15000, `${name} to close`); } finally {
      if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
      if (server) await server.stop();
    }
  });

  // One argument (both playwright and puppeteer pass it to the page function as is).
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

  test(`${name}: browser version`, async (t) => {
    const ua = await page.evaluate(() => navigator.userAgent);
    t.diagnostic(`${name}: ${ua} (${await browser.version(handle)})`);
    assert.match(ua, browser.userAgent);
  });

  test(`${name}: full matrix (4 channel types x client/server-opened, 13 messages each, burst, events, close)`, { timeout: 180000 }, async (t) => {
    const r = await runInPage(uniquePeerId(name));
    t.diagnostic(summarize(name, r));
    assert.equal(r.channels.length, 8);
    browser.checkFullMatrix(r);
  });

  test(`${name}: second peer in the same page`, { timeout: 60000 }, async (t) => {
    const r = await runInPage(uniquePeerId(`${name}2`), { types: ['reliable'], sizes: [0, 1, 65536], burst: false });
    t.diagnostic(summarize(name, r));
  });

  wireCountersTest(name, () => server);
}
