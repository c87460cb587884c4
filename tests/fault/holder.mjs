// A child process of killed.test.mjs: one JS client (clients/js) on wrtc, connected to the
// server and room given in argv; prints CONNECTED once open, then holds the connection until it
// is killed.  node tests/fault/holder.mjs <serverUrl> <room> <peerId>
import { WebRTCConnection } from '../../clients/js/peerrtc-client.js';
import { wrtc } from '../lib/wrtc.mjs';  // with its exit guard, as every node process of the suites

const [serverUrl, room, peerId] = process.argv.slice(2);
const c = new WebRTCConnection(room, { peerId, serverUrl, RTCPeerConnection: wrtc.RTCPeerConnection });
c.onOpen = () => process.stdout.write('CONNECTED\n');
c.onClose = () => process.stdout.write('CLOSED\n');
c.connect().catch((e) => { process.stderr.write(`connect failed: ${e.message}\n`); process.exit(1); });
setInterval(() => {}, 1 << 30);
