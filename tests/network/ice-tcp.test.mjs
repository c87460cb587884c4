// ICE-TCP (RFC 6544 passive candidates, RFC 4571 framing) from a network that drops UDP: real
// peers (@roamhq/wrtc, headless Chromium) run inside a network namespace whose iptables drop
// every UDP packet, and reach peerrtc-testserver and peerrtc-server (root namespace, bound to the
// veth's root-side address) over TCP only. Each test proves the path: the client's selected
// candidate pair is TCP (UDP for the root-namespace peer), the namespace's DROP rule counted the
// UDP the client tried first, and the server's /stats ice_tcp.accepted grew. The controls show
// the harness bites: with --no-ice-tcp the same peer fails to connect within a bounded time, and
// with UDP allowed it connects over UDP. Last, a peer whose namespace is cut off (its TCP
// connection dies without a FIN) is removed by the consent timeout.
import { createNetns } from './lib/netns.mjs'; // first: its exit listener must precede wrtc's
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { REPO_ROOT, stopAll, withTimeout } from '../lib/server.mjs';
import { iceTcpStats, startPeer, startPeerServer, startTestServer, tcpCandidates } from './lib/servers.mjs';
import { matrixPage, pageClient } from './lib/page.mjs';
import { sdpCandidates } from './lib/shared.js';

const CONNECT_FAIL_MS = 6000;

let ns; // UDP dropped
let testServer;
let server;
let browser = null;
const peers = [];

before(async () => {
  ns = await createNetns({ udp: 'dropped' });
  testServer = await startTestServer(ns.rootIp, { name: 'testserver' });
  server = await startPeerServer(ns.rootIp, { name: 'server' });
});

after(async () => {
  for (const p of peers) await p.stop().catch(() => {});
  if (browser) await browser.close();
  try {
    await stopAll([testServer, server]);  // both exit 0, unless a test stopped them itself
  } finally {
    if (ns) await ns.destroy();
  }
});

function peer(nsOrNull, job, name) {
  const p = startPeer(nsOrNull, job, name);
  peers.push(p);
  return p;
}

async function chromium() {
  if (!browser) browser = await ns.launchChromium();
  return browser;
}

let seq = 0;
const uid = (prefix) => `${prefix}-${process.pid.toString(36)}-${(++seq).toString(36)}`;

// The answer's candidates: UDP host candidates first, then ICE-TCP passive ones on `tcpPort`.
function checkAnswerCandidates(cands, { udpPort, tcpPort, ip }, what) {
  const s = JSON.stringify(cands);
  const udp = cands.filter((c) => c.protocol === 'udp');
  const tcp = tcpCandidates(cands);
  assert.ok(udp.length >= 1, `${what}: a UDP candidate: ${s}`);
  assert.ok(tcp.length >= 1, `${what}: an ICE-TCP candidate: ${s}`);
  assert.ok(cands.findIndex((c) => c.protocol === 'tcp') > cands.findLastIndex((c) => c.protocol === 'udp'), `${what}: UDP candidates first: ${s}`);
  for (const c of udp) assert.deepEqual([c.ip, c.port, c.type], [ip, udpPort, 'host'], `${what}: UDP candidate ${s}`);
  for (const c of tcp) {
    assert.deepEqual([c.ip, c.port, c.type, c.tcptype, c.component], [ip, tcpPort, 'host', 'passive', 1], `${what}: ICE-TCP candidate ${s}`);
  }
}

// A selected candidate pair from a client's getStats(): TCP (or UDP) to the server's port.
function checkPath(path, protocol, port, what) {
  assert.ok(path && path.local && path.remote, `${what}: a selected candidate pair: ${JSON.stringify(path)}`);
  assert.equal(path.local.protocol, protocol, `${what}: local candidate protocol: ${JSON.stringify(path)}`);
  assert.equal(path.remote.protocol, protocol, `${what}: remote candidate protocol: ${JSON.stringify(path)}`);
  assert.equal(path.remote.port, port, `${what}: remote candidate port: ${JSON.stringify(path)}`);
}

test('answers: UDP host candidates first, then ICE-TCP passive on the same port number', { timeout: 20000 }, async () => {
  const offer = readFileSync(`${REPO_ROOT}/tests/fixtures/sdp/chromium-datachannel.sdp`, 'utf8');
  const a = await testServer.request('POST', '/offer', { room: 'interop', peer_id: uid('fmt'), offer: { sdp: offer, type: 'offer' } });
  assert.equal(a.status, 200, a.text);
  checkAnswerCandidates(sdpCandidates(a.json.sdp), { ip: ns.rootIp, udpPort: testServer.udp, tcpPort: testServer.udp }, 'peerrtc-testserver');
  const b = await server.request('POST', '/offer', { room: uid('fmt'), peer_id: uid('fmt'), offer: { sdp: offer, type: 'offer' } });
  assert.equal(b.status, 200, b.text);
  assert.deepEqual([server.http, server.tcp], [server.udp, server.udp], 'peerrtc-server: HTTP, UDP and ICE-TCP on one port number (READY)');
  assert.equal(testServer.tcp, testServer.udp, 'peerrtc-testserver: ICE-TCP on the UDP port number (READY)');
  checkAnswerCandidates(sdpCandidates(b.json.sdp), { ip: ns.rootIp, udpPort: server.udp, tcpPort: server.http }, 'peerrtc-server');
});

test('control: --no-ice-tcp and UDP dropped: the JS client and the matrix fail to connect, clearly and in time', { timeout: 40000 }, async (t) => {
  const noTcpServer = await startPeerServer(ns.rootIp, { name: 'server-no-ice-tcp', args: ['--no-ice-tcp'] });
  const noTcpTest = await startTestServer(ns.rootIp, { name: 'testserver-no-ice-tcp', args: ['--no-ice-tcp'] });
  try {
    const drops0 = ns.udpCounters().out.packets;
    const c = peer(ns, { mode: 'client', baseUrl: noTcpServer.baseUrl, room: uid('ctl'), peerId: uid('ctl'), connectTimeoutMs: CONNECT_FAIL_MS }, 'control-client');
    const m = peer(ns, { mode: 'matrix', baseUrl: noTcpTest.baseUrl, peerId: uid('ctl-matrix'), connectTimeoutMs: CONNECT_FAIL_MS, types: ['reliable'], sizes: [1], burst: false }, 'control-matrix');
    const bound = CONNECT_FAIL_MS + 5000;
    const [ce, me] = await Promise.all([
      c.waitFor((x) => x.type === 'error' || x.type === 'connected', bound, 'the client to give up'),
      m.waitFor((x) => x.type === 'error' || x.type === 'result', bound, 'the matrix to give up'),
    ]);
    t.diagnostic(`client: ${ce.message} after ${ce.ms} ms; matrix: ${me.message}`);
    assert.equal(ce.type, 'error', `the JS client must not connect: ${JSON.stringify(ce)}`);
    assert.match(ce.message, new RegExp(`timed out after ${CONNECT_FAIL_MS} ms waiting for the data channel to open`));
    assert.ok(ce.ms >= CONNECT_FAIL_MS - 100 && ce.ms < CONNECT_FAIL_MS + 4000, `gave up after ${ce.ms} ms`);
    assert.equal(me.type, 'error', `the matrix must not connect: ${JSON.stringify(me)}`);
    assert.match(me.message, new RegExp(`timed out after ${CONNECT_FAIL_MS} ms waiting for channel control to open`));
    for (const p of [c, m]) {
      const answer = await p.waitFor((x) => x.type === 'answer', 1000, 'the answer');
      assert.deepEqual(tcpCandidates(answer.candidates), [], `${p.name}: no ICE-TCP candidate with --no-ice-tcp: ${JSON.stringify(answer)}`);
    }
    // The clients did try UDP: the namespace dropped it.
    assert.ok(ns.udpCounters().out.packets > drops0, 'UDP packets were dropped by the namespace');
    assert.equal(noTcpServer.tcp, null, 'READY says tcp: null');
    assert.equal(noTcpTest.tcp, null, 'READY says tcp: null');
    assert.equal((await iceTcpStats(noTcpServer)).accepted, 0, 'no ICE-TCP connection accepted');
    assert.equal((await iceTcpStats(noTcpTest)).accepted, 0, 'no ICE-TCP connection accepted');
  } finally {
    await noTcpServer.stop();
    await noTcpTest.stop();
  }
});

test('control: UDP allowed: the same client in the same namespace connects over UDP', { timeout: 30000 }, async (t) => {
  ns.setUdp('allowed');
  try {
    const c = peer(ns, { mode: 'client', baseUrl: server.baseUrl, room: uid('udp'), peerId: uid('udp'), connectTimeoutMs: 15000 }, 'udp-client');
    const ev = await c.waitFor((x) => x.type === 'connected' || x.type === 'error', 20000, 'connect');
    assert.equal(ev.type, 'connected', JSON.stringify(ev));
    t.diagnostic(`connected over UDP in ${ev.ms} ms: ${JSON.stringify(ev.path)}`);
    checkPath(ev.path, 'udp', server.udp, 'UDP-allowed client');
    assert.ok(ns.udpCounters().out.packets > 0, 'its UDP went out through the namespace rule');
    c.send({ cmd: 'close' });
    await c.exited;
  } finally {
    ns.setUdp('dropped');
  }
});

test('wrtc in a UDP-dropped namespace: full matrix against peerrtc-testserver over ICE-TCP', { timeout: 120000 }, async (t) => {
  const before0 = await iceTcpStats(testServer);
  const drops0 = ns.udpCounters().out.packets;
  const m = peer(ns, { mode: 'matrix', baseUrl: testServer.baseUrl, peerId: uid('tcp-wrtc') }, 'matrix-wrtc');
  const end = await m.waitFor((x) => x.type === 'result' || x.type === 'error', 110000, 'the matrix');
  assert.equal(end.type, 'result', `matrix failed: ${end.message}; path ${JSON.stringify(end.path)}`);
  const r = end.result;
  const path = (await m.waitFor((x) => x.type === 'path', 1000, 'the path')).path;
  t.diagnostic(`wrtc over ICE-TCP: ${r.messages} messages / ${r.bytes} bytes, timings ${JSON.stringify(r.timings)}, path ${JSON.stringify(path)}`);
  assert.equal(r.channels.length, 8);
  assert.equal(r.answerMaxMessageSize, 262144);
  const answer = await m.waitFor((x) => x.type === 'answer', 1000, 'the answer');
  checkAnswerCandidates(answer.candidates, { ip: ns.rootIp, udpPort: testServer.udp, tcpPort: testServer.udp }, 'answer');
  checkPath(path, 'tcp', testServer.udp, 'wrtc in the namespace');
  assert.ok(ns.udpCounters().out.packets > drops0, 'the client tried UDP and the namespace dropped it');
  const after0 = await iceTcpStats(testServer);
  t.diagnostic(`testserver ice_tcp: ${JSON.stringify(before0)} -> ${JSON.stringify(after0)}`);
  assert.ok(after0.accepted > before0.accepted, 'testserver ice_tcp.accepted grew');
  assert.ok(after0.frames_in - before0.frames_in > 500 && after0.frames_out - before0.frames_out > 500, 'the matrix went over TCP frames');
  assert.equal(after0.closed_bad_frame, before0.closed_bad_frame, 'no bad frames');
  await m.exited;
});

test('Chromium in a UDP-dropped namespace: full matrix against peerrtc-testserver over ICE-TCP', { timeout: 150000 }, async (t) => {
  const b = await chromium();
  const page = await b.newPage('chromium-matrix');
  const mp = await matrixPage(page, testServer, 'chromium-ns');
  const before0 = await iceTcpStats(testServer);
  const drops0 = ns.udpCounters().out.packets;
  const peerId = uid('tcp-chromium');
  const r = await withTimeout(mp.run(peerId), 140000, 'the matrix in Chromium');
  assert.ok(!r.error, `matrix failed: ${r.error}; path ${JSON.stringify(r.path)}`);
  t.diagnostic(`chromium ${b.context.browser()?.version() ?? ''} over ICE-TCP: ${r.result.messages} messages / ${r.result.bytes} bytes, timings ${JSON.stringify(r.result.timings)}, path ${JSON.stringify(r.path)}`);
  assert.equal(r.result.channels.length, 8);
  assert.equal(r.result.maxMessageSize, 262144, 'pc.sctp.maxMessageSize');
  checkAnswerCandidates(mp.answers.get(peerId), { ip: ns.rootIp, udpPort: testServer.udp, tcpPort: testServer.udp }, 'answer');
  checkPath(r.path, 'tcp', testServer.udp, 'Chromium in the namespace');
  assert.ok(ns.udpCounters().out.packets > drops0, 'Chromium tried UDP and the namespace dropped it');
  const after0 = await iceTcpStats(testServer);
  t.diagnostic(`testserver ice_tcp: ${JSON.stringify(before0)} -> ${JSON.stringify(after0)}`);
  assert.ok(after0.accepted > before0.accepted, 'testserver ice_tcp.accepted grew');
  assert.ok(after0.frames_in - before0.frames_in > 500 && after0.frames_out - before0.frames_out > 500, 'the matrix went over TCP frames');
  assert.equal(after0.closed_bad_frame, before0.closed_bad_frame, 'no bad frames');
  await page.close();
});

// Every peer sends these to the room; every other peer must get each one intact, in order.
const SENDS = [
  { kind: 'text', size: 32 },
  { kind: 'binary', size: 1024 },
  { kind: 'text', size: 'max' },
  { kind: 'binary', size: 'max' },
];

test('room on peerrtc-server: wrtc and Chromium over ICE-TCP (UDP dropped) with a UDP wrtc peer: all hear each other', { timeout: 90000 }, async (t) => {
  const room = uid('mixed');
  const base = server.baseUrl;
  const before0 = await iceTcpStats(server);
  const b = await chromium();
  const page = await b.newPage('chromium-room');
  const wrtcId = uid('tcp-wrtc');
  const chromeId = uid('tcp-chromium');
  const udpId = uid('udp-wrtc');
  const members = {};
  members[wrtcId] = { log: peer(ns, { mode: 'client', baseUrl: base, room, peerId: wrtcId, connectTimeoutMs: 15000 }, wrtcId), protocol: 'tcp' };
  members[chromeId] = { log: await pageClient(page, { baseUrl: base, room, peerId: chromeId, connectTimeoutMs: 15000 }), protocol: 'tcp' };
  members[udpId] = { log: peer(null, { mode: 'client', baseUrl: base, room, peerId: udpId, connectTimeoutMs: 15000 }, udpId), protocol: 'udp' };
  const all = Object.keys(members);

  for (const id of all) {
    const ev = await members[id].log.waitFor((x) => x.type === 'connected' || x.type === 'error', 20000, `${id} to connect`);
    assert.equal(ev.type, 'connected', `${id}: ${JSON.stringify(ev)}`);
    t.diagnostic(`${id}: connected in ${ev.ms} ms, path ${JSON.stringify(ev.path)}`);
    checkPath(ev.path, members[id].protocol, server.http, id);
    members[id].maxMessageSize = ev.maxMessageSize;
  }
  const mid = await iceTcpStats(server);
  assert.ok(mid.accepted - before0.accepted >= 2, `ice_tcp.accepted grew by 2 or more: ${JSON.stringify(before0)} -> ${JSON.stringify(mid)}`);
  assert.ok(mid.open >= 2, `ice_tcp.open ${mid.open}`);

  // Presence: everyone knows everyone (from welcome or peer_joined).
  for (const id of all) {
    const log = members[id].log;
    for (const other of all.filter((x) => x !== id)) {
      await log.waitFor((x) => (x.type === 'connected' && x.peers.includes(other)) || (x.type === 'peer_joined' && x.peer === other),
        10000, `${id} to know ${other}`);
    }
  }

  // Everyone sends SENDS; the digests of what each one sent, in order.
  const sent = {};
  let seed = 1;
  for (const id of all) {
    sent[id] = [];
    for (const s of SENDS) {
      const ref = `${id}#${seed}`;
      await members[id].log.send({ cmd: 'send', kind: s.kind, size: s.size, seed: seed++, ref });
      const ev = await members[id].log.waitFor((x) => x.type === 'sent' && x.ref === ref, 5000, `${ref} sent`);
      sent[id].push(ev.digest);
    }
    assert.ok(sent[id].some((d) => d.startsWith(`binary:${members[id].maxMessageSize}:`)), `${id} sent a max-size binary`);
  }
  for (const id of all) {
    for (const from of all.filter((x) => x !== id)) {
      const want = sent[from];
      const log = members[id].log;
      await log.waitFor(() => log.messages.filter((x) => x.type === 'message' && x.from === from).length >= want.length,
        30000, `${id} to receive ${want.length} messages from ${from}`);
      const got = log.messages.filter((x) => x.type === 'message' && x.from === from);
      assert.deepEqual(got.map((x) => x.digest), want, `${id} received ${from}'s messages intact and in order`);
      assert.deepEqual(got.map((x) => x.binary), want.map((d) => d.startsWith('binary:')), `${id}: message kinds from ${from}`);
    }
  }

  // Everyone leaves; every ICE-TCP connection is closed afterwards.
  for (const id of all) {
    await members[id].log.send({ cmd: 'close' });
    await members[id].log.waitFor((x) => x.type === 'closed', 10000, `${id} to close`);
  }
  const deadline = Date.now() + 10000;
  let end;
  while ((end = await iceTcpStats(server)).open !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(end.open, 0, `ice_tcp.open back to 0: ${JSON.stringify(end)}`);
  t.diagnostic(`server ice_tcp: ${JSON.stringify(before0)} -> ${JSON.stringify(end)}`);
  await page.close();
});

test('an ICE-TCP peer whose network is cut (no FIN, no RST) leaves by the consent timeout', { timeout: 40000 }, async (t) => {
  const CONSENT_MS = 3000;
  // --resume-window 0: a drop is a leave (the JS client speaks protocol v2, whose peers would
  // otherwise stay away for the window; tests/network/resume.test.mjs covers that).
  const s = await startPeerServer(ns.rootIp, { name: 'server-consent', args: ['--consent-timeout-ms', String(CONSENT_MS), '--resume-window', '0'] });
  const room = uid('cut');
  const victimId = uid('cut-victim');
  const observer = peer(null, { mode: 'client', baseUrl: s.baseUrl, room, peerId: uid('observer') }, 'observer');
  const victim = peer(ns, { mode: 'client', baseUrl: s.baseUrl, room, peerId: victimId }, 'victim');
  try {
    const v = await victim.waitFor((x) => x.type === 'connected' || x.type === 'error', 20000, 'the victim to connect');
    assert.equal(v.type, 'connected', JSON.stringify(v));
    checkPath(v.path, 'tcp', s.tcp, 'victim');
    await observer.waitFor((x) => (x.type === 'connected' && x.peers.includes(victimId)) || (x.type === 'peer_joined' && x.peer === victimId),
      20000, 'the observer to know the victim');
    assert.equal((await iceTcpStats(s)).open, 1);
    const t0 = Date.now();
    ns.cut();
    const left = await observer.waitFor((x) => x.type === 'peer_left' && x.peer === victimId, CONSENT_MS + 5000, 'peer_left of the victim');
    const ms = left.at - t0;
    t.diagnostic(`cut ICE-TCP peer: peer_left ${ms} ms after the cut (consent timeout ${CONSENT_MS} ms)`);
    // The TCP connection stays up as far as the server can tell: only consent can end the peer.
    // Its last check came at most one client check interval (≤ 2.5 s) before the cut.
    assert.ok(ms >= CONSENT_MS - 2600, `peer_left ${ms} ms after the cut: too early for the consent timeout`);
    assert.ok(ms <= CONSENT_MS + 3000, `peer_left ${ms} ms after the cut: later than ~${CONSENT_MS} ms + 3 s`);
    const deadline = Date.now() + 5000;
    let st;
    while ((st = await iceTcpStats(s)).open !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(st.open, 0, `the dead connection is closed: ${JSON.stringify(st)}`);
  } finally {
    await victim.stop();
    await observer.stop();
    ns.setUdp('dropped');
    await s.stop();
  }
});

// A peer on UDP whose network then drops UDP moves to its ICE-TCP pair (libwebrtc nominates it;
// the server's selected path becomes the TCP connection). When that connection ends while UDP
// works again (here: the kernel destroys the socket, `ss -K`; in a real run libwebrtc closes an
// old ICE generation's TCP connection after an ICE restart), the server goes back to the UDP
// path the peer proved before (ice_tcp.path_fallbacks) instead of ending the peer: no leave, and
// messages go both ways. Before, the peer ended on the close (peer_left with "ICE-TCP connection
// closed"; with a resume window, a reconnect; tests/network/dropout.test.mjs saw it 1 run in ~7).
test('a peer whose selected ICE-TCP connection closes goes back to the UDP path it proved before: no leave, messages both ways', { timeout: 150000 }, async (t) => {
  // The set-up needs libwebrtc to move to its TCP pair when UDP is dropped; once in a while it
  // gives up on ICE instead (its pairs pruned: the page closes its connection before any TCP
  // path). That is not what this test checks, so the set-up is tried once more (said in the
  // output); what follows the move is checked every time.
  for (let attempt = 1; ; attempt++) {
    const r = await fallbackScenario(t, attempt);
    if (r !== 'no-tcp-path' || attempt === 2) {
      assert.notEqual(r, 'no-tcp-path', 'libwebrtc never moved to its TCP pair with UDP dropped, twice');
      return;
    }
    t.diagnostic('attempt 1: libwebrtc did not move to its TCP pair with UDP dropped (its ICE gave up); trying the set-up once more');
  }
});

async function fallbackScenario(t, attempt) {
  // --resume-window 0: an ended peer leaves at once, which the observer would see.
  const s = await startPeerServer(ns.rootIp, { name: `server-fallback-${attempt}`, args: ['--resume-window', '0'] });
  const room = uid('fallback');
  const victimId = uid('fb-victim');
  const observerId = uid('fb-observer');
  ns.setUdp('allowed');
  // No ICE restart and a long disconnect grace: the path changes are libwebrtc's own, within one
  // ICE generation, and the client does not reconnect while UDP is away.
  const clientOptions = { iceRestart: false, disconnectTimeout: 60000 };
  const observer = peer(null, { mode: 'client', baseUrl: s.baseUrl, room, peerId: observerId }, 'fb-observer');
  const victim = peer(ns, { mode: 'client', baseUrl: s.baseUrl, room, peerId: victimId, clientOptions }, 'fb-victim');
  const path = async () => {
    victim.send({ cmd: 'path' });
    const n = victim.messages.length;
    return (await victim.waitFor((x, i) => x.type === 'path' && (i === undefined || i >= n), 5000, 'the victim\'s path')).path;
  };
  try {
    const v = await victim.waitFor((x) => x.type === 'connected' || x.type === 'error', 20000, 'the victim to connect');
    assert.equal(v.type, 'connected', JSON.stringify(v));
    checkPath(v.path, 'udp', s.udp, 'victim before');
    await observer.waitFor((x) => (x.type === 'connected' && x.peers.includes(victimId)) || (x.type === 'peer_joined' && x.peer === victimId),
      20000, 'the observer to know the victim');
    // UDP goes away: libwebrtc moves to its TCP pair.
    ns.setUdp('dropped');
    let p;
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      try {
        p = await path();
      } catch (e) {
        if (victim.messages.some((x) => x.type === 'command_error')) return 'no-tcp-path';  // its connection closed
        throw e;
      }
      if (p && p.local && p.local.protocol === 'tcp') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    if (!(p && p.local && p.local.protocol === 'tcp')) return 'no-tcp-path';
    checkPath(p, 'tcp', s.tcp, 'victim with UDP dropped');
    // The server's selected path is the TCP connection once a message gets through both ways.
    observer.send({ cmd: 'send', text: 'over tcp' });
    await victim.waitFor((x) => x.type === 'message' && x.from === observerId, 15000, 'the victim to receive over TCP');
    victim.send({ cmd: 'send', text: 'over tcp' });
    await observer.waitFor((x) => x.type === 'message' && x.from === victimId, 15000, 'the observer to receive over TCP');
    const before = await iceTcpStats(s);
    assert.equal(before.open, 1, `one ICE-TCP connection: ${JSON.stringify(before)}`);
    // UDP is back; the TCP connection ends (the kernel aborts the client's socket: a RST).
    ns.setUdp('allowed');
    const killed = ns.inside(['ss', '-K', 'dst', s.host, 'dport', '=', String(s.tcp)], { allowFail: true });
    const t0 = Date.now();
    let st;
    while ((st = await iceTcpStats(s)).open !== 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    assert.equal(st.open, 0, `the TCP connection ended (ss -K: ${killed.code} ${killed.stderr.trim()}): ${JSON.stringify(st)}`);
    // Messages both ways on the same session.
    const nv = victim.messages.filter((x) => x.type === 'message').length;
    const no = observer.messages.filter((x) => x.type === 'message').length;
    observer.send({ cmd: 'send', text: 'to the victim' });
    const got = await victim.waitFor(() => victim.messages.filter((x) => x.type === 'message' && x.from === observerId).length > nv, 15000, 'the victim to receive');
    victim.send({ cmd: 'send', text: 'from the victim' });
    await observer.waitFor(() => observer.messages.filter((x) => x.type === 'message' && x.from === victimId).length > no, 15000, 'the observer to receive');
    const ms = Date.now() - t0;
    const after = await path();
    t.diagnostic(`selected ICE-TCP closed: path_fallbacks +1, messages both ways ${ms} ms after the close; victim path now ${after?.local?.protocol}; ${JSON.stringify(got.digest)}`);
    const bad = [...victim.messages, ...observer.messages].filter((x) => x.type === 'peer_left' || x.type === 'client_error' ||
      (x.type === 'status' && x.status !== 'connecting' && x.status !== 'connected'));
    assert.deepEqual(bad, [], 'no leave, reconnect or error');
    assert.equal(st.path_fallbacks - before.path_fallbacks, 1, `the server went back to the UDP path: ${JSON.stringify(st)}`);
    return 'done';
  } finally {
    await victim.stop();
    await observer.stop();
    ns.setUdp('dropped');
    await s.stop();
  }
}
