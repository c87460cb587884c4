// Interop: @roamhq/wrtc (Google libwebrtc in Node) against the PeerRTC test server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { summarize, uniquePeerId } from './lib/harness.mjs';
import { wireCountersTest } from './lib/suites.mjs';
import { runMatrix } from './matrix.js';
import { wrtc } from '../lib/wrtc.mjs';

let server;
before(async () => { server = await startServer({ name: 'wrtc' }); });
after(async () => { if (server) await server.stop(); });

function client(peerId, extra = {}) {
  return {
    RTCPeerConnection: wrtc.RTCPeerConnection,
    peerId,
    signal: (sdp) => server.offer('interop', peerId, sdp),
    getEvents: () => server.events(),
    log: process.env.PEERRTC_VERBOSE ? (m) => console.error(`[${peerId}] ${m}`) : undefined,
    ...extra,
  };
}

test('wrtc: full matrix (4 channel types x client/server-opened, 13 messages each, burst, events, close)', { timeout: 120000 }, async (t) => {
  const r = await runMatrix(client(uniquePeerId('wrtc')));
  t.diagnostic(summarize('wrtc', r));
  assert.equal(r.channels.length, 8);
  assert.equal(r.answerMaxMessageSize, 262144, 'answer a=max-message-size');
});

test('wrtc: second peer after the first closed (server state is per peer)', { timeout: 60000 }, async (t) => {
  const r = await runMatrix(client(uniquePeerId('wrtc2'), { types: ['reliable'], sizes: [0, 1, 65536], burst: false }));
  t.diagnostic(summarize('wrtc', r));
});

test('wrtc: 4 concurrent peers', { timeout: 90000 }, async (t) => {
  const results = await Promise.all([0, 1, 2, 3].map((i) =>
    runMatrix(client(uniquePeerId(`wrtc-c${i}`), { types: ['reliable', 'unordered'], sizes: [0, 1024, 65536], burst: i === 0 }))));
  for (const r of results) t.diagnostic(summarize('wrtc', r));
  const ids = new Set(results.map((r) => r.peerId));
  assert.equal(ids.size, 4);
});

// Runs last.
wireCountersTest('wrtc', () => server);
