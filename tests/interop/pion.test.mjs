// Interop: pion/webrtc 3.1 (Debian golang-github-pion-webrtc.v3-dev, unpatched) as a client of
// the test server, running the matrix of matrix.js (tests/interop/stacks/pion_client, built
// here by tests/interop/stacks/build-pion.sh in GOPATH mode): every channel type opened by
// either side, text and binary echoed byte-exact and by kind, a burst, /events, closes both ways,
// peer close seen by the server. Connecting at all needs the server's use_srtp selection: pion
// 3.1 aborts a DTLS handshake that settles on no SRTP profile.
//
// pion's own limits (tests/interop/README.md), skipped cell by cell with the reason printed:
//  * pion/sctp sends at most 65536 bytes (Association.MaxMessageSize; pion/webrtc 3.1 never
//    raises it from the answer's a=max-message-size): the 262144-byte cells (16) and the bursts'
//    big messages. The client checks that pion refuses them with ErrOutboundPacketTooLarge.
//  * OnMessage reads into a 65535-byte buffer: a 65536-byte message kills the channel with
//    io.ErrShortBuffer, so the OnMessage run skips the 65536-byte echoes (24). The second test
//    reads through DataChannel.Detach() (pion's documented way to read larger messages) with a
//    1 MiB buffer, and there every 65536-byte cell runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { uniquePeerId } from './lib/harness.mjs';
import { killAll, parseSummary, pionClientPath, runClient, skipLines } from './lib/stacks.mjs';

let server;
let client;

before(async () => {
  const t0 = Date.now();
  client = await pionClientPath();
  console.log(`pion client built in ${Date.now() - t0} ms: ${client}`);
  server = await startServer({ name: 'pion' });
});
after(async () => {
  killAll();
  if (server) await server.stop();
});

async function runMatrix(t, extra = []) {
  const peerId = uniquePeerId('pion');
  const r = await runClient(client, ['matrix', '--http-port', String(server.http), '--peer-id', peerId, ...extra],
    { timeoutMs: 170000, name: 'pion' });
  const s = parseSummary(r.out);
  assert.ok(s, `no summary from the pion client (exit ${r.code}, signal ${r.signal}):\n${r.out}`);
  assert.equal(s.failed, 0, `pion client: ${s.failed} failed:\n${r.out}`);
  assert.equal(r.code, 0, `pion client exit ${r.code}:\n${r.out}`);
  const open = /offer->control open: ([\d.]+) ms/.exec(r.out);
  t.diagnostic(`pion ${extra.join(' ')}: ${s.passed} passed, ${s.skipped} skipped in ${r.ms} ms; offer -> control open ${open && open[1]} ms`);
  return { ...s, out: r.out, skips: skipLines(r.out) };
}

const SEND_LIMIT = /pion\/sctp 3\.1 refuses to send more than 65536 bytes/;
const ONMESSAGE = /pion\/webrtc 3\.1 OnMessage reads into a 65535-byte buffer/;

test('pion: full matrix with OnMessage (4 channel types x client/server-opened, burst, events, close)', { timeout: 180000 }, async (t) => {
  const r = await runMatrix(t);
  assert.ok(r.passed >= 130, `expected at least 130 checks to pass, ${r.passed} did:\n${r.out}`);
  const big = r.skips.filter((l) => /^SKIP: echo of 262144-byte (text|binary) on [cs]-\w+: /.test(l));
  const mid = r.skips.filter((l) => /^SKIP: echo of 65536-byte (text|binary|multi-byte UTF-8 text \(\d+ code points\)) on [cs]-\w+: /.test(l));
  const bursts = r.skips.filter((l) => /^SKIP: burst of the 10 messages larger than 65535 bytes on [cs]-reliable: /.test(l));
  assert.equal(big.length, 16, r.skips.join('\n'));
  assert.equal(mid.length, 24, r.skips.join('\n'));
  assert.equal(bursts.length, 2, r.skips.join('\n'));
  assert.equal(r.skipped, 42, r.skips.join('\n'));
  for (const l of big) assert.match(l, SEND_LIMIT);
  for (const l of mid) assert.match(l, ONMESSAGE);
  for (const l of bursts) { assert.match(l, SEND_LIMIT); assert.match(l, ONMESSAGE); }
});

test('pion: full matrix with detached channels (65536-byte messages both ways)', { timeout: 180000 }, async (t) => {
  const r = await runMatrix(t, ['--detach']);
  assert.ok(r.passed >= 160, `expected at least 160 checks to pass, ${r.passed} did:\n${r.out}`);
  assert.equal(r.skipped, 18, r.skips.join('\n'));
  assert.equal(r.skips.filter((l) => /^SKIP: echo of 262144-byte (text|binary) on [cs]-\w+: /.test(l) && SEND_LIMIT.test(l)).length, 16, r.skips.join('\n'));
  assert.equal(r.skips.filter((l) => /^SKIP: burst of the 4 messages larger than 65536 bytes on [cs]-reliable: /.test(l) && SEND_LIMIT.test(l)).length, 2, r.skips.join('\n'));
});

// pion/datachannel 1.5 acknowledges a DATA_CHANNEL_OPEN with 4 bytes (0x02 0 0 0), not RFC
// 8832's 1; the server took that for a malformed message (counted, and the channel stayed
// "ordered until the ACK" until pion's first message on it).
test('pion: the server counted no malformed DCEP message and dropped no message', async () => {
  const s = await server.stats();
  assert.ok(s && typeof s.dcep_bad === 'number', `GET /stats: ${JSON.stringify(s)}`);
  assert.equal(s.dcep_bad, 0, `dcep_bad: ${JSON.stringify(s)}`);
  assert.equal(s.messages_dropped, 0, `messages_dropped: ${JSON.stringify(s)}`);
});
