// @roamhq/wrtc (Google libwebrtc in Node) for the node suites, with an exit guard.
//
// The add-on can crash while Node tears its environment down after a natural exit: N-API
// finalizers of RTCPeerConnection objects run then, after libwebrtc's threads are gone
// (WonderInventions/node-webrtc#35, still seen with 0.9.x/0.10.0). A crash there turns a test
// file whose every test passed into "test failed" (exit signal SIGSEGV), which is what one CI
// run showed for tests/interop/wrtc.test.mjs. process.exit() skips that teardown, so a natural
// exit is turned into an explicit one with the same exit code. The node test runner has written
// its report by then: a child exits naturally only after its reporter stream has drained.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const wrtc = require('@roamhq/wrtc');
export default wrtc;

if (!process.peerrtcWrtcExitGuard) {
  process.peerrtcWrtcExitGuard = true;
  process.on('exit', (code) => process.exit(code));
}
