// Must NOT type-check (tests/package/npm.test.mjs): proves tsc checks the sample against the
// package's types. A number is no Payload; onMessage's sender is a string.
import { WebRTCConnection } from 'peerrtc-client';

const conn = new WebRTCConnection('room', { peerId: 'p' });
conn.sendMessage(42);
conn.onMessage = (from: number) => { console.log(from); };
