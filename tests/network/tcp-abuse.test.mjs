// ICE-TCP abuse on loopback (no namespace): peerrtc-server's HTTP port also takes ICE-TCP (told
// apart by the first bytes). Garbage, bad frames, oversized frames, STUN for nobody, silent and
// half-sent connections and a flood of idle ones are closed and counted in /stats ice_tcp, while
// real peers and HTTP go on working, and nothing leaks (ice_tcp.open back to 0, the server's fd
// count back near its start). Every close is observed as the socket's 'close' event.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { REPO_ROOT } from '../lib/server.mjs';
import { connectPeer, procStats } from '../fault/lib.mjs';
import { iceTcpStats, startPeer, startPeerServer, startTestServer } from './lib/servers.mjs';
import { bindingRequest, frame, parseStun, rawConnection } from './lib/stun.mjs';

const STUN_TIMEOUT_MS = 1000;
const CONSENT_MS = 3000;
const PER_IP = 20;
const FLOOD = 1000;
const FLOOD_IP = '127.0.0.2'; // the flood's source address; HTTP and the real peers use 127.0.0.1

let server;
before(async () => {
  // --resume-window 0: a v2 JS client that drops would be away (peer_away, no reason) for the
  // resume window; this file checks when and why the server notices the drop (peer_left's reason).
  server = await startPeerServer('127.0.0.1', {
    name: 'server',
    args: ['--consent-timeout-ms', String(CONSENT_MS), '--tcp-stun-timeout-ms', String(STUN_TIMEOUT_MS), '--tcp-max-per-ip', String(PER_IP),
      '--resume-window', '0'],
  });
});
after(async () => { if (server) await server.stop(); });

const OFFER = readFileSync(`${REPO_ROOT}/tests/fixtures/sdp/chromium-datachannel.sdp`, 'utf8');
let seq = 0;
const uid = (prefix) => `${prefix}-${process.pid.toString(36)}-${(++seq).toString(36)}`;

// Changes of the ice_tcp counters between two readings.
function delta(a, b) {
  const d = {};
  for (const k of Object.keys(b)) d[k] = b[k] - (a[k] ?? 0);
  return d;
}

async function healthy() {
  const r = await server.request('GET', '/health');
  assert.equal(r.status, 200, `/health: ${r.status} ${r.text}`);
  assert.equal(server.exitInfo(), null, 'server still running');
}

// Waits (bounded) until ice_tcp.open is 0; returns the last reading.
async function openBackToZero(ms = 10000) {
  const deadline = Date.now() + ms;
  let s;
  while ((s = await iceTcpStats(server)).open !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(s.open, 0, `ice_tcp.open back to 0: ${JSON.stringify(s)}`);
  return s;
}

// The connection's close ({ms, bytes, error}) if it comes within `ms`, else null.
async function closedWithin(c, ms) {
  let timer;
  const r = await Promise.race([c.closed, new Promise((res) => { timer = setTimeout(() => res(null), ms); })]);
  clearTimeout(timer);
  return r;
}

// Closed by the server within `ms` (else the test fails and the connection is destroyed).
async function expectClosed(c, ms, what) {
  const r = await closedWithin(c, ms);
  if (!r) { c.destroy(); assert.fail(`${what}: still open ${ms} ms after connecting (received ${c.data.length} bytes)`); }
  return r;
}

// None of these starts like ICE-TCP (bytes 2-3 of a framed Binding request are 00 01), so the
// HTTP server keeps them. Each has at least the 4 bytes the server looks at before it decides;
// with fewer it waits for more, as for any slow HTTP client, up to its read timeout (15 s).
test('HTTP port: garbage is answered with 400 or closed, and the server is fine', { timeout: 60000 }, async (t) => {
  const garbage = {
    'text garbage': Buffer.from('GARBAGE NONSENSE\r\n\r\n'),
    'TLS ClientHello start': Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]),
    'four zero bytes': Buffer.from([0, 0, 0, 0]),
    'framed STUN Binding response': Buffer.from([0x00, 0x14, 0x01, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]),
    'binary noise': Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff)),
    'NUL-filled line': Buffer.concat([Buffer.alloc(32), Buffer.from('\r\n\r\n')]),
  };
  const bound = 5000;
  for (const [name, bytes] of Object.entries(garbage)) {
    const c = rawConnection(server.http);
    await c.connected;
    c.write(bytes);
    const r = await expectClosed(c, bound, name);
    const text = c.data.toString('latin1');
    t.diagnostic(`${name}: closed after ${r.ms} ms, received ${JSON.stringify(text.split('\r\n')[0])}`);
    assert.ok(c.data.length === 0 || /^HTTP\/1\.[01] 400 /.test(text), `${name}: an HTTP 400 or nothing, got ${JSON.stringify(text.slice(0, 80))}`);
  }
  await healthy();
});

test('HTTP port: an HTTP request that arrives one byte, then the rest, is still HTTP', { timeout: 20000 }, async () => {
  const c = rawConnection(server.http);
  await c.connected;
  c.write('G');
  // The server must wait for more bytes before it decides what the connection is; the rest
  // comes after a pause longer than a loop turn.
  await new Promise((r) => setTimeout(r, 300));
  c.write('ET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  await expectClosed(c, 10000, 'split HTTP request');
  assert.match(c.data.toString('latin1'), /^HTTP\/1\.1 200 /);
  assert.match(c.data.toString('latin1'), /"status":"ok"/);
});

test('ICE-TCP: a valid Binding request for a live peer gets a framed success response (the positive control)', { timeout: 20000 }, async () => {
  const a = await server.request('POST', '/offer', { room: uid('raw'), peer_id: uid('raw'), offer: { sdp: OFFER, type: 'offer' } });
  assert.equal(a.status, 200, a.text);
  const su = /a=ice-ufrag:(\S+)/.exec(a.json.sdp)[1];
  const sp = /a=ice-pwd:(\S+)/.exec(a.json.sdp)[1];
  const cu = /a=ice-ufrag:(\S+)/.exec(OFFER)[1];
  const s0 = await iceTcpStats(server);
  const c = rawConnection(server.http);
  await c.connected;
  const req = bindingRequest(`${su}:${cu}`, sp);
  c.write(frame(req.bytes));
  const deadline = Date.now() + 5000;
  while (!c.frames().length && !c.closedAt && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const frames = c.frames();
  assert.ok(frames.length >= 1, `a framed response (received ${c.data.length} bytes, closed: ${!!c.closedAt})`);
  const res = parseStun(frames[0]);
  assert.ok(res && res.cookieOk, 'a STUN message');
  assert.equal(res.type, 0x0101, 'Binding success response');
  assert.ok(res.txid.equals(req.txid), 'same transaction id');
  const s1 = await iceTcpStats(server);
  assert.equal(s1.open - s0.open, 1, 'one ICE-TCP connection open');
  assert.ok(s1.frames_in > s0.frames_in && s1.frames_out > s0.frames_out, 'frames counted');
  c.destroy();
  await c.closed;
});

test('ICE-TCP: a frame header announcing a Binding request followed by garbage is closed and counted', { timeout: 20000 }, async () => {
  const s0 = await iceTcpStats(server);
  const c = rawConnection(server.http);
  await c.connected;
  // length 28: type 0x0001 (Binding request), then not STUN (wrong length, no magic cookie).
  const body = Buffer.concat([Buffer.from([0x00, 0x01, 0x7f, 0x7f]), Buffer.from('not-a-stun-message!!!!!', 'latin1')]);
  c.write(frame(body));
  const r = await expectClosed(c, STUN_TIMEOUT_MS / 2 + 2000, 'STUN header + garbage');
  assert.equal(r.bytes, 0, 'nothing answered');
  const d = delta(s0, await iceTcpStats(server));
  assert.equal(d.closed_bad_frame, 1, `closed_bad_frame counted: ${JSON.stringify(d)}`);
  await healthy();
});

test('ICE-TCP: a frame longer than 8192 bytes is closed and counted', { timeout: 20000 }, async () => {
  for (const len of [8193, 0xffff]) {
    const s0 = await iceTcpStats(server);
    const c = rawConnection(server.http);
    await c.connected;
    const h = Buffer.alloc(2);
    h.writeUInt16BE(len, 0);
    // The header and the start of a Binding request; the rest never comes.
    c.write(Buffer.concat([h, Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42])]));
    const r = await expectClosed(c, STUN_TIMEOUT_MS / 2 + 2000, `frame of ${len} bytes`);
    assert.equal(r.bytes, 0);
    const d = delta(s0, await iceTcpStats(server));
    assert.equal(d.closed_bad_frame, 1, `length ${len}: closed_bad_frame counted: ${JSON.stringify(d)}`);
  }
  await healthy();
});

test('ICE-TCP: a valid-looking Binding request with an unknown ufrag is closed', { timeout: 20000 }, async (t) => {
  const s0 = await iceTcpStats(server);
  const c = rawConnection(server.http);
  await c.connected;
  c.write(frame(bindingRequest('nosuchufrag:client1', 'a-password-of-22-chars').bytes));
  const r = await expectClosed(c, STUN_TIMEOUT_MS / 2 + 2000, 'unknown ufrag');
  const d = delta(s0, await iceTcpStats(server));
  t.diagnostic(`closed after ${r.ms} ms; ice_tcp change ${JSON.stringify(d)}`);
  assert.equal(r.bytes, 0, 'no STUN answer for an unknown ufrag');
  assert.ok(r.ms < STUN_TIMEOUT_MS - 100, `closed at once, not by the ${STUN_TIMEOUT_MS} ms timeout (${r.ms} ms)`);
  assert.equal(d.closed_no_stun, 1, `closed_no_stun counted: ${JSON.stringify(d)}`);
  await healthy();
});

test('ICE-TCP: a partial frame and then silence is closed by --tcp-stun-timeout-ms', { timeout: 20000 }, async (t) => {
  const s0 = await iceTcpStats(server);
  const c = rawConnection(server.http);
  await c.connected;
  const req = frame(bindingRequest('someufrag:client1', 'a-password-of-22-chars').bytes);
  c.write(req.subarray(0, 10));
  const r = await expectClosed(c, STUN_TIMEOUT_MS + 3000, 'partial frame');
  t.diagnostic(`partial frame: closed ${r.ms} ms after connecting (timeout ${STUN_TIMEOUT_MS} ms)`);
  assert.ok(r.ms >= STUN_TIMEOUT_MS - 50, `closed after ${r.ms} ms: before the ${STUN_TIMEOUT_MS} ms timeout`);
  assert.ok(r.ms <= STUN_TIMEOUT_MS + 1500, `closed after ${r.ms} ms: long after the ${STUN_TIMEOUT_MS} ms timeout`);
  const d = delta(s0, await iceTcpStats(server));
  assert.equal(d.closed_no_stun, 1, `closed_no_stun counted: ${JSON.stringify(d)}`);
  await healthy();
});

// On the shared port a connection that says nothing is still an HTTP connection (4 bytes decide),
// left to the HTTP read timeout. Where the engine listens itself (peerrtc-testserver; or
// peerrtc-server with --udp-port elsewhere) it is ICE-TCP from the start.
test('ICE-TCP: a silent connection to the engine\'s own listener is closed by --tcp-stun-timeout-ms', { timeout: 20000 }, async (t) => {
  const ts = await startTestServer('127.0.0.1', { name: 'testserver', args: ['--tcp-stun-timeout-ms', String(STUN_TIMEOUT_MS)] });
  try {
    assert.equal(ts.tcp, ts.udp);
    const s0 = await iceTcpStats(ts);
    const c = rawConnection(ts.tcp);
    await c.connected;
    const r = await expectClosed(c, STUN_TIMEOUT_MS + 3000, 'silent connection');
    t.diagnostic(`silent connection: closed ${r.ms} ms after connecting (timeout ${STUN_TIMEOUT_MS} ms)`);
    assert.ok(r.ms >= STUN_TIMEOUT_MS - 50 && r.ms <= STUN_TIMEOUT_MS + 1500, `closed after ${r.ms} ms`);
    const d = delta(s0, await iceTcpStats(ts));
    assert.deepEqual([d.accepted, d.closed_no_stun, d.open], [1, 1, 0], `counted: ${JSON.stringify(d)}`);
  } finally {
    await ts.stop();
  }
});

test(`ICE-TCP: ${FLOOD} idle connections with a partial STUN frame: refused over the per-IP limit, the rest timed out; peers and HTTP unaffected; nothing leaks`, { timeout: 90000 }, async (t) => {
  const fds0 = procStats(server.child.pid).fds;
  const s0 = await iceTcpStats(server);
  const partial = frame(bindingRequest('someufrag:client1', 'a-password-of-22-chars').bytes).subarray(0, 8);
  const conns = [];
  const t0 = Date.now();
  for (let i = 0; i < FLOOD; i++) {
    const c = rawConnection(server.http, '127.0.0.1', { localAddress: FLOOD_IP });
    c.connected.then(() => c.write(partial), () => {});
    conns.push(c);
  }
  // Meanwhile: two real peers (UDP, from 127.0.0.1) join a room and talk, and HTTP answers.
  const room = uid('flood');
  const [a, b] = await Promise.all([connectPeer(server, room, uid('a')), connectPeer(server, room, uid('b'))]);
  try {
    await healthy();
    a.sendText('mhello during the flood');
    await b.waitFrame((f) => f.text === `m${a.peerId}\nhello during the flood`, 10000, 'the message from a');
    const big = new Uint8Array(200000).map((_, i) => i & 0xff);
    b.sendBinary(Buffer.concat([Buffer.from([0x01]), Buffer.from(big)]));
    await a.waitFrame((f) => f.bin && f.bin.length === 2 + b.peerId.length + big.length, 10000, 'the binary message from b');
  } finally {
    a.close();
    b.close();
  }
  const tPeers = Date.now() - t0;
  const results = await Promise.all(conns.map((c) => closedWithin(c, STUN_TIMEOUT_MS + 20000)));
  const open = results.filter((r) => r === null).length;
  for (const c of conns) c.destroy();
  assert.equal(open, 0, `${open} of ${FLOOD} connections still open ${STUN_TIMEOUT_MS + 20000} ms later`);
  const quick = results.filter((r) => r.ms < STUN_TIMEOUT_MS / 2).length;
  const timedOut = results.filter((r) => r.ms >= STUN_TIMEOUT_MS - 50).length;
  const end = await openBackToZero();
  const d = delta(s0, end);
  // Let the server's fd table settle (closed peers are freed on the next loop turn).
  let fds1 = procStats(server.child.pid).fds;
  for (let i = 0; i < 50 && fds1 > fds0 + 5; i++) { await new Promise((r) => setTimeout(r, 100)); fds1 = procStats(server.child.pid).fds; }
  t.diagnostic(`flood: ${quick} closed at once, ${timedOut} by the timeout, all in ${Date.now() - t0} ms; peers talked after ${tPeers} ms; ice_tcp change ${JSON.stringify(d)}; fds ${fds0} -> ${fds1}`);
  assert.ok(quick >= FLOOD - 3 * PER_IP, `most connections refused at once (${quick})`);
  assert.ok(timedOut >= PER_IP, `at least the per-IP limit (${PER_IP}) waited for the timeout (${timedOut})`);
  assert.ok(d.refused >= FLOOD - 3 * PER_IP, `refused counted: ${JSON.stringify(d)}`);
  assert.equal(d.refused + d.closed_no_stun, FLOOD, `every connection counted as refused or closed without STUN: ${JSON.stringify(d)}`);
  assert.ok(fds1 <= fds0 + 5, `server fds back near the start: ${fds0} -> ${fds1}`);
  await healthy();
});

test('ICE-TCP: a wrtc peer whose process is SIGKILLed is noticed by its TCP close, before the consent timeout', { timeout: 40000 }, async (t) => {
  const room = uid('killed');
  const s0 = await iceTcpStats(server);
  // The observer is a wrtc peer of this process (tests/server/lib.mjs), which keeps every event
  // whole: peer_left's reason tells the TCP close from a consent timeout.
  const observer = await connectPeer(server, room, uid('observer'));
  const victimId = uid('victim');
  const victim = startPeer(null, { mode: 'client', baseUrl: server.baseUrl, room, peerId: victimId, onlyTcp: true }, 'victim');
  try {
    const v = await victim.waitFor((x) => x.type === 'connected' || x.type === 'error', 20000, 'the victim to connect');
    assert.equal(v.type, 'connected', JSON.stringify(v));
    assert.equal(v.path?.local?.protocol, 'tcp', `the victim is on ICE-TCP: ${JSON.stringify(v.path)}`);
    await observer.waitEvent('peer_joined', (e) => e.peer_id === victimId, 10000);
    const s1 = await iceTcpStats(server);
    assert.equal(s1.open - s0.open, 1, 'one ICE-TCP connection open');
    const t0 = Date.now();
    victim.kill('SIGKILL');
    await victim.exited;
    // The kernel closes the dead process's socket at once; the server drops the peer on that
    // close. A consent timeout (CONSENT_MS) would say so in the reason, and come later.
    const left = (await observer.waitEvent('peer_left', (e) => e.peer_id === victimId, CONSENT_MS + 5000)).event;
    const ms = Date.now() - t0;
    t.diagnostic(`SIGKILLed ICE-TCP peer: peer_left after ${ms} ms (consent timeout ${CONSENT_MS} ms), reason ${JSON.stringify(left.reason)}`);
    assert.match(left.reason ?? '', /ICE-TCP connection closed/, `peer_left for the TCP close: ${JSON.stringify(left)}`);
    assert.ok(ms < CONSENT_MS, `peer_left ${ms} ms after the kill: not before the consent timeout (${CONSENT_MS} ms)`);
    await openBackToZero();
  } finally {
    await victim.stop();
    observer.close();
  }
});
