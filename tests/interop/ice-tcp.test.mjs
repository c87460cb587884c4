// ICE-TCP (RFC 6544 passive candidates, RFC 4571 framing) with libwebrtc (@roamhq/wrtc): the
// client is given the answer without its UDP candidates, so the only path it has is a TCP
// connection to the server's port. The full matrix then runs over that one connection. (The
// network suite does the same with UDP really dropped, in a network namespace.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { summarize, uniquePeerId } from './lib/harness.mjs';
import { runMatrix } from './matrix.js';
import { wrtc } from '../lib/wrtc.mjs';

let server;
before(async () => { server = await startServer({ name: 'ice-tcp' }); });
after(async () => { if (server) await server.stop(); });

// Keeps the answer's TCP candidates only; checks the server offered them as the issue says:
// UDP first, then `tcptype passive` on the same port number.
function tcpOnly(answer) {
  const lines = answer.split('\r\n');
  const cands = lines.filter((l) => l.startsWith('a=candidate:'));
  const udp = cands.filter((l) => / udp /i.test(l));
  const tcp = cands.filter((l) => / tcp /i.test(l));
  assert.ok(udp.length > 0 && tcp.length === udp.length, `answer candidates: ${cands.join(' | ')}`);
  assert.ok(cands.indexOf(tcp[0]) > cands.indexOf(udp[udp.length - 1]), 'UDP candidates come first');
  for (const l of tcp) {
    assert.match(l, / typ host tcptype passive$/);
    assert.equal(l.split(' ')[5], String(server.udp), 'ICE-TCP on the UDP port number');
  }
  return lines.filter((l) => !(l.startsWith('a=candidate:') && / udp /i.test(l))).join('\r\n');
}

test('ice-tcp: wrtc full matrix over one TCP connection', { timeout: 120000 }, async (t) => {
  if (server.kind === 'reference') return t.skip('the reference server has no ICE-TCP');
  const before = (await server.stats()).ice_tcp;
  const peerId = uniquePeerId('wrtc-tcp');
  const r = await runMatrix({
    RTCPeerConnection: wrtc.RTCPeerConnection,
    peerId,
    signal: async (sdp) => tcpOnly(await server.offer('interop', peerId, sdp)),
    getEvents: () => server.events(),
    log: process.env.PEERRTC_VERBOSE ? (m) => console.error(`[${peerId}] ${m}`) : undefined,
  });
  t.diagnostic(summarize('wrtc over ICE-TCP', r));
  assert.equal(r.channels.length, 8);
  const after = (await server.stats()).ice_tcp;
  t.diagnostic(`ice_tcp: ${JSON.stringify(after)}`);
  assert.ok(after.accepted > before.accepted, 'the client connected over TCP');
  assert.ok(after.frames_in - before.frames_in > 500 && after.frames_out - before.frames_out > 500,
    'the matrix went over TCP frames');
  assert.equal(after.closed_bad_frame, before.closed_bad_frame);
});
