// How the node suites launch headless Debian Firefox ESR (puppeteer-core over WebDriver BiDi):
// the executable and the profile preferences a 127.0.0.1-only ICE-lite server needs. Used by
// tests/interop/firefox.test.mjs and tests/client/five-stacks.test.mjs.
export const FIREFOX_EXECUTABLE = process.env.PEERRTC_FIREFOX || '/usr/bin/firefox-esr';
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

// A fresh headless Firefox on `userDataDir` (a temp directory the caller removes).
export async function launchFirefox(userDataDir) {
  const puppeteer = (await import('puppeteer-core')).default;
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_EXECUTABLE,
    protocol: 'webDriverBiDi',
    headless: true,
    userDataDir,
    extraPrefsFirefox: FIREFOX_PREFS,
    timeout: 30000,
  });
}
