// Interop: headless Debian Firefox ESR (driven by puppeteer-core over WebDriver BiDi) against the
// PeerRTC test server. matrix.js runs inside an about:blank page; signalling and /events go
// through page.exposeFunction (implemented over BiDi script channels), so the HTTP requests are
// made from Node. The tests themselves: browserMatrixTests in lib/suites.mjs.
import assert from 'node:assert/strict';
import { browserMatrixTests } from './lib/suites.mjs';
import { launchFirefox } from './lib/firefox.mjs';

browserMatrixTests('firefox', {
  launch: launchFirefox,
  newPage: (browser) => browser.newPage(),
  close: (browser) => browser.close(),
  version: (browser) => browser.version(),
  userAgent: /Firefox\//,
  checkFullMatrix(r) {
    assert.ok(r.maxMessageSize >= 262144, `pc.sctp.maxMessageSize ${r.maxMessageSize} >= 262144`);
  },
});
