// Interop: headless Debian Chromium (driven by playwright-core) against the PeerRTC test server.
// matrix.js runs inside an about:blank page; signalling and /events go through functions exposed
// with page.exposeFunction, so the HTTP requests are made from Node (no CORS / Private Network
// Access involvement). The tests themselves: browserMatrixTests in lib/suites.mjs.
import assert from 'node:assert/strict';
import { browserMatrixTests } from './lib/suites.mjs';

const EXECUTABLE = process.env.PEERRTC_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--allow-loopback-in-peer-connection'];

browserMatrixTests('chromium', {
  async launch(userDataDir) {
    const { chromium } = await import('playwright-core');
    return chromium.launchPersistentContext(userDataDir, {
      executablePath: EXECUTABLE, headless: true, args: ARGS, timeout: 30000,
    });
  },
  newPage: async (context) => context.pages()[0] || (await context.newPage()),
  close: (context) => context.close(),
  version: (context) => (context.browser() ? context.browser().version() : 'persistent context'),
  userAgent: /Chrome\//,
  checkFullMatrix(r) {
    assert.equal(r.maxMessageSize, 262144, 'pc.sctp.maxMessageSize');
  },
});
