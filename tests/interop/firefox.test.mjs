// Interop: headless Debian Firefox ESR (driven by puppeteer-core over WebDriver BiDi) against the
// PeerRTC test server. matrix.js runs inside an about:blank page; signalling and /events go
// through page.exposeFunction (implemented over BiDi script channels), so the HTTP requests are
// made from Node. The tests themselves: browserMatrixTests in lib/suites.mjs.
import assert from 'node:assert/strict';
import { browserMatrixTests } from './lib/suites.mjs';

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

browserMatrixTests('firefox', {
  async launch(userDataDir) {
    const puppeteer = (await import('puppeteer-core')).default;
    return puppeteer.launch({
      browser: 'firefox',
      executablePath: EXECUTABLE,
      protocol: 'webDriverBiDi',
      headless: true,
      userDataDir,
      extraPrefsFirefox: FIREFOX_PREFS,
      timeout: 30000,
    });
  },
  newPage: (browser) => browser.newPage(),
  close: (browser) => browser.close(),
  version: (browser) => browser.version(),
  userAgent: /Firefox\//,
  checkFullMatrix(r) {
    assert.ok(r.maxMessageSize >= 262144, `pc.sctp.maxMessageSize ${r.maxMessageSize} >= 262144`);
  },
});
