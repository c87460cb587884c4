// TURN for networks where neither UDP nor TCP reaches the server (docs/deploy.md): a real coturn
// (tests/network/lib/coturn.mjs, use-auth-secret) on 127.0.0.1, peerrtc-server with
// `--turn-url ... --turn-secret S`, and relay-only peers (iceTransportPolicy 'relay': they may
// use no path but the TURN relay) that get their credentials from GET /config and nowhere else:
// the JS client on @roamhq/wrtc and the JS client in headless Chromium. They share a room with
// an ordinary UDP peer and all hear each other: text, binary, and payloads of the largest size.
// The relay is proven twice: the selected ICE candidate pair's local candidate is 'relay'
// (getStats), and coturn's log shows the allocation, the permission for the server's address
// (the server listens on 127.0.0.3, everything else on 127.0.0.1) and the bytes it carried. Negative: with a secret coturn does not share, the relay-only peer
// fails within its connect timeout with a clear error (the TURN server's 401), and the other
// peers of its room do not notice. TURN over TCP to coturn is covered as well.
//
//   bash tests/network/run.sh tests/network/turn.test.mjs
// PEERRTC_VERBOSE=1 forwards the servers', coturn's and the pages' output to stderr;
// PEERRTC_SERVER_LOG_LEVEL=debug makes peerrtc-server say which address it selects per peer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PeerRTCError } from '../../clients/js/peerrtc-client.js';
import { binaryPath, startProcess } from '../lib/server.mjs';
import { launchBrowser } from '../browser/lib/harness.mjs';
import { bytesEqual, closeAll, makeClient, pattern, sleep, uid, waitFor } from '../client/lib/util.mjs';
import { startCoturn } from './lib/coturn.mjs';

const SECRET = `turn-test-${randomBytes(12).toString('hex')}`;
const MAX = 262061; // the largest payload of the JS client, which speaks protocol v2 (docs/protocol.md "v2", Sizes)

let coturn;
const servers = [];
const clients = [];
let browser = null;

before(async () => {
  coturn = await startCoturn({ secret: SECRET });
});

after(async () => {
  await closeAll(clients);
  if (browser) await browser.close();
  const errors = [];
  for (const s of servers) {
    try { await s.stop(); } catch (e) { errors.push(e); }
  }
  if (coturn) {
    try { await coturn.stop(); } catch (e) { errors.push(e); }
  }
  if (errors.length) throw errors[0];
});

// The PeerRTC server listens on an address of its own (coturn and the peers are on 127.0.0.1), so
// that coturn's log can show the permission for the server's address and no other.
const SERVER_HOST = '127.0.0.3';

async function startPeerrtc(name, extraArgs) {
  const s = await startProcess(binaryPath('peerrtc-server'),
    ['--host', SERVER_HOST, '--port', '0', '--no-examples', '--log-level', process.env.PEERRTC_SERVER_LOG_LEVEL || 'warn', ...extraArgs],
    { name, httpHost: SERVER_HOST });
  servers.push(s);
  return s;
}

function client(server, room, peerId, options = {}) {
  const c = makeClient(server, room, peerId, options);
  clients.push(c);
  return c;
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// coturn's "user <expiry:peer>" for a peer id (the REST username minted by /config).
const userRe = (peerId) => `<\\d+:${escapeRe(peerId)}>`;

// The path of a connection from its RTCStatsReport: the transport's selected candidate pair.
// (The same code runs in Chromium: it is passed there as text.)
function selectedPath(report) {
  const all = [...report.values()];
  const transport = all.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const pair = transport ? report.get(transport.selectedCandidatePairId)
    : all.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
  if (!pair) return null;
  const local = report.get(pair.localCandidateId);
  const remote = report.get(pair.remoteCandidateId);
  return {
    local: local.candidateType, protocol: local.protocol, relayProtocol: local.relayProtocol ?? null,
    url: local.url ?? null, remote: remote.candidateType, remotePort: remote.port,
  };
}

async function pathOf(c) {
  return selectedPath(await c.getStats());
}

// FNV-1a over bytes (or the UTF-16 code units of a string): a cheap fingerprint to compare big
// payloads across processes. The same code runs in Chromium.
function fnv(data) {
  let h = 0x811c9dc5;
  if (typeof data === 'string') {
    for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data.charCodeAt(i), 16777619) >>> 0;
  } else {
    const u = new Uint8Array(data);
    for (let i = 0; i < u.length; i++) h = Math.imul(h ^ u[i], 16777619) >>> 0;
  }
  return h;
}

const bigText = (seed) => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let s = '';
  for (let i = 0; s.length < MAX; i++) s += alphabet[(i * 7 + seed) % alphabet.length];
  return s;
};

// A relay-only JS client in a headless Chromium tab of `server`'s origin: the page imports
// /peerrtc-client.js and connects with iceTransportPolicy 'relay' and no iceServers of its own,
// so its only ICE servers and credentials are those of GET /config.
async function chromiumPeer(server, room, peerId) {
  if (!browser) browser = await launchBrowser();
  const page = await browser.open(`${server.baseUrl}/health`, peerId);
  await page.evaluate(async ({ room, peerId, selectedPathSrc, fnvSrc }) => {
    // Before the first await: the server's Content-Security-Policy has no 'unsafe-eval', and
    // DevTools lets this call's own evaluation through only while it runs synchronously.
    // eslint-disable-next-line no-new-func
    window.selectedPath = new Function(`return (${selectedPathSrc})`)();
    // eslint-disable-next-line no-new-func
    window.fnv = new Function(`return (${fnvSrc})`)();
    const { WebRTCConnection } = await import('/peerrtc-client.js');
    const c = new WebRTCConnection(room, { peerId, iceTransportPolicy: 'relay', connectTimeout: 20000 });
    window.peer = c;
    window.rec = { messages: [], errors: [], joined: [] };
    c.onMessage = (from, message, info) => window.rec.messages.push({
      from, binary: info.binary, size: info.binary ? message.byteLength : message.length,
      fnv: window.fnv(message), text: !info.binary && message.length <= 100 ? message : null,
    });
    c.onError = (e) => window.rec.errors.push(String(e && e.message));
    c.onPeerJoined = (p) => window.rec.joined.push(p);
    await c.connect();
  }, { room, peerId, selectedPathSrc: selectedPath.toString(), fnvSrc: fnv.toString() });
  return {
    page,
    peerId,
    path: () => page.evaluate(async () => window.selectedPath(await window.peer.getStats())),
    messages: () => page.evaluate(() => window.rec.messages),
    send: (data) => page.evaluate((d) => window.peer.sendMessage(d), data),
    sendBinary: (bytes) => page.evaluate((arr) => window.peer.sendMessage(new Uint8Array(arr)), Array.from(bytes)),
    sendBigText: (seed) => page.evaluate(({ seed, max, src }) => {
      // eslint-disable-next-line no-new-func
      const make = new Function(`return (${src})`)();
      window.peer.sendMessage(make(seed, max));
    }, { seed, max: MAX, src: '(seed, max) => { const a = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"; let s = ""; for (let i = 0; s.length < max; i++) s += a[(i * 7 + seed) % a.length]; return s; }' }),
    close: () => page.evaluate(() => window.peer.closeConnection()),
  };
}

// A message summary of a wrtc client's record, comparable with chromiumPeer().messages().
const summaries = (c) => c.rec.messages.map((m) => ({
  from: m.from, binary: m.binary, size: m.binary ? m.message.byteLength : m.message.length,
  fnv: fnv(m.message), text: !m.binary && m.message.length <= 100 ? m.message : null,
}));

test('relay-only peers (wrtc and Chromium) with /config credentials and an ordinary UDP peer hear each other through coturn', { timeout: 120000 }, async (t) => {
  const server = await startPeerrtc('turn-udp', ['--turn-url', coturn.url('udp'), '--turn-secret', SECRET]);
  const room = uid('turn');
  const t0 = Date.now();

  const direct = client(server, room, 'direct-udp');
  await direct.connect();
  const msDirect = Date.now() - t0;

  // A peer id with ':' and '@': the REST username is "<expiry>:relay:alice@wrtc" and coturn must
  // still read the expiry before the first ':'.
  const tRelay = Date.now();
  const alice = client(server, room, 'relay:alice@wrtc', { iceTransportPolicy: 'relay' });
  await alice.connect();
  const msRelayWrtc = Date.now() - tRelay;

  const tChromium = Date.now();
  const chrome = await chromiumPeer(server, room, 'relay-chromium');
  const msRelayChromium = Date.now() - tChromium;

  // The paths: the relay-only peers through coturn over UDP, the ordinary one direct.
  const pa = await pathOf(alice);
  assert.equal(pa.local, 'relay', `wrtc relay peer path ${JSON.stringify(pa)}`);
  assert.equal(pa.relayProtocol, 'udp', JSON.stringify(pa));
  assert.equal(pa.remotePort, server.udp, 'the relay reaches the server\'s UDP port');
  const pc = await chrome.path();
  assert.equal(pc.local, 'relay', `Chromium relay peer path ${JSON.stringify(pc)}`);
  assert.equal(pc.relayProtocol, 'udp', JSON.stringify(pc));
  assert.equal(pc.remotePort, server.udp);
  const pd = await pathOf(direct);
  assert.equal(pd.local, 'host', `ordinary peer path ${JSON.stringify(pd)}`);
  assert.equal(pd.remotePort, server.udp);

  // coturn's own account: an allocation for each relay-only peer's REST username (minted by
  // /config from the shared secret), and on one of its sessions a permission for the server's
  // address, SERVER_HOST ("session N: peer 127.0.0.3 lifetime updated: 300").
  for (const id of ['relay:alice@wrtc', 'relay-chromium']) {
    const alloc = new RegExp(`session (\\d+): realm <[^>]*> user ${userRe(id)}: incoming packet ALLOCATE processed, success`);
    await coturn.waitForLine(alloc, 5000);
    await coturn.waitForLine(new RegExp(`user ${userRe(id)}: incoming packet (CREATE_PERMISSION|CHANNEL_BIND) processed, success`), 5000);
    const sessionsOf = coturn.linesMatching(alloc).map((l) => l.match(alloc)[1]);
    const permitted = new RegExp(`session (${sessionsOf.join('|')}): peer ${escapeRe(SERVER_HOST)} lifetime updated`);
    assert.ok(coturn.linesMatching(permitted).length > 0,
      `coturn permitted ${id}'s relay (sessions ${sessionsOf}) to the server's address ${SERVER_HOST}: ${coturn.linesMatching(/lifetime updated/).join(' | ')}`);
  }

  await waitFor(() => direct.peers().length === 2 && alice.peers().length === 2, 10000,
    () => `everyone sees everyone (direct: ${direct.status} ${direct.peers()}, alice: ${alice.status} ${alice.peers()}; statuses ${direct.rec.statuses} / ${alice.rec.statuses})`);
  assert.deepEqual(direct.peers().sort(), ['relay-chromium', 'relay:alice@wrtc']);
  const rooms = await server.request('GET', `/rooms/peers?room=${encodeURIComponent(room)}`);
  assert.deepEqual([...rooms.json.peers].sort(), ['direct-udp', 'relay-chromium', 'relay:alice@wrtc']);

  // Small text and binary from each.
  const tMsgs = Date.now();
  direct.sendMessage('hello from direct');
  direct.sendMessage(new Uint8Array([1, 2, 3]));
  alice.sendMessage('hello from alice');
  alice.sendMessage(new Uint8Array([4, 5, 6, 255]));
  await chrome.send('hello from chromium');
  await chrome.sendBinary([7, 8, 9, 0]);
  // The largest payload, from each: binary from both wrtc peers, text from Chromium.
  const bigDirect = pattern(MAX, 11);
  const bigAlice = pattern(MAX, 12);
  const bigChrome = bigText(13);
  direct.sendMessage(bigDirect);
  alice.sendMessage(bigAlice);
  await chrome.sendBigText(13);

  const want = {
    'direct-udp': [{ text: 'hello from direct' }, { bin: [1, 2, 3] }, { big: bigDirect }],
    'relay:alice@wrtc': [{ text: 'hello from alice' }, { bin: [4, 5, 6, 255] }, { big: bigAlice }],
    'relay-chromium': [{ text: 'hello from chromium' }, { bin: [7, 8, 9, 0] }, { big: bigChrome }],
  };
  const expect = (from) => want[from].map((w) => {
    if (w.text) return { from, binary: false, size: w.text.length, fnv: fnv(w.text), text: w.text };
    const data = w.bin ? new Uint8Array(w.bin) : w.big;
    if (typeof data === 'string') return { from, binary: false, size: data.length, fnv: fnv(data), text: null };
    return { from, binary: true, size: data.byteLength, fnv: fnv(data), text: null };
  });
  const received = {
    'direct-udp': () => summaries(direct),
    'relay:alice@wrtc': () => summaries(alice),
    'relay-chromium': () => chrome.messages(),
  };
  for (const [me, got] of Object.entries(received)) {
    const others = Object.keys(want).filter((p) => p !== me);
    let last;
    const deadline = Date.now() + 30000;
    for (;;) {
      last = await got();
      if (last.length >= 6 || Date.now() > deadline) break;
      await sleep(50);
    }
    for (const from of others) {
      assert.deepEqual(last.filter((m) => m.from === from), expect(from), `${me} received from ${from} (in order, intact)`);
    }
    assert.equal(last.length, 6, `${me}: nothing else received: ${JSON.stringify(last.map((m) => [m.from, m.size]))}`);
  }
  // Byte-exact, not only the fingerprint, for a wrtc receiver of each big binary.
  assert.ok(bytesEqual(alice.rec.messages.find((m) => m.from === 'direct-udp' && m.binary && m.message.byteLength === MAX).message, bigDirect));
  assert.ok(bytesEqual(direct.rec.messages.find((m) => m.from === 'relay:alice@wrtc' && m.binary && m.message.byteLength === MAX).message, bigAlice));
  assert.equal(direct.rec.messages.find((m) => m.from === 'relay-chromium' && !m.binary && m.message.length === MAX).message, bigChrome);
  const msMessages = Date.now() - tMsgs;

  // The bytes went through coturn: when alice closes, coturn logs each of her allocations'
  // usage: what it received from her and sent to her ("usage"), and what it sent to and received
  // from the peer, the PeerRTC server ("peer usage"). libwebrtc allocates on every local
  // interface and uses one; that one carried her big message and the two she got.
  const allocRe = new RegExp(`session (\\d+): realm <[^>]*> user ${userRe('relay:alice@wrtc')}: incoming packet ALLOCATE processed, success`);
  const sessions = coturn.linesMatching(allocRe).map((l) => l.match(allocRe)[1]);
  assert.ok(sessions.length >= 1);
  await alice.closeConnection();
  const usageOf = (id, kind) => {
    const re = new RegExp(`session ${id}: ${kind}: realm=<[^>]*>, username=${userRe('relay:alice@wrtc')}, rp=\\d+, rb=(\\d+), sp=\\d+, sb=(\\d+)`);
    const line = coturn.linesMatching(re).at(-1);
    return line ? { rb: Number(line.match(re)[1]), sb: Number(line.match(re)[2]) } : null;
  };
  await waitFor(() => sessions.every((id) => usageOf(id, 'peer usage')), 10000, () => `coturn's usage lines for sessions ${sessions}`);
  const used = sessions.map((id) => ({ id, client: usageOf(id, 'usage'), peer: usageOf(id, 'peer usage') }))
    .sort((x, y) => y.client.rb - x.client.rb)[0];
  assert.ok(used.client.rb > MAX, `coturn received ${used.client.rb} bytes from alice (she sent ${MAX}+)`);
  assert.ok(used.peer.sb > MAX, `coturn sent ${used.peer.sb} bytes on to the PeerRTC server`);
  assert.ok(used.peer.rb > 2 * MAX, `coturn received ${used.peer.rb} bytes from the PeerRTC server for alice (2 x ${MAX}+)`);
  assert.ok(used.client.sb > 2 * MAX, `coturn sent ${used.client.sb} bytes to alice (she received 2 x ${MAX}+)`);
  const rb = used.client.rb;
  const sb = used.client.sb;

  t.diagnostic(`connect: direct ${msDirect} ms, relay wrtc ${msRelayWrtc} ms, relay Chromium ${msRelayChromium} ms ` +
    `(incl. launch); messages incl. 3 x ${MAX} B ${msMessages} ms; coturn usage for alice's allocation: rb=${rb} sb=${sb} (of ${sessions.length} allocations)`);
  await chrome.close();
  await closeAll([direct]);
});

test('TURN over TCP to coturn (?transport=tcp): a relay-only wrtc peer and an ordinary one, both ways, largest payload', { timeout: 60000 }, async (t) => {
  const server = await startPeerrtc('turn-tcp', ['--turn-url', coturn.url('tcp'), '--turn-secret', SECRET]);
  // The client's only ICE servers come from /config: the TCP TURN URL, and nothing else.
  const cfg = await server.request('GET', `/config?peer_id=${encodeURIComponent('relay-tcp')}`);
  const urls = (cfg.json?.iceServers ?? []).flatMap((x) => [].concat(x.urls));
  assert.ok(urls.includes(coturn.url('tcp')) && urls.every((u) => /[?&]transport=tcp\b/.test(u)), `/config: ${cfg.text}`);
  const room = uid('turn-tcp');
  const direct = client(server, room, 'direct-tcp-room');
  await direct.connect();
  const t0 = Date.now();
  const relay = client(server, room, 'relay-tcp', { iceTransportPolicy: 'relay' });
  await relay.connect();
  const msConnect = Date.now() - t0;
  const p = await pathOf(relay);
  assert.equal(p.local, 'relay', JSON.stringify(p));
  assert.equal(p.relayProtocol, 'tcp', `relay allocated over TCP: ${JSON.stringify(p)}`);
  assert.equal(p.remotePort, server.udp);
  if (p.url !== null) assert.match(p.url, /transport=tcp/, JSON.stringify(p));  // wrtc may not report it
  await coturn.waitForLine(new RegExp(`user ${userRe('relay-tcp')}: incoming packet ALLOCATE processed, success`), 5000);

  const big = pattern(MAX, 21);
  const bigT = bigText(22);
  await waitFor(() => relay.peers().includes('direct-tcp-room'), 5000, 'relay sees direct');
  relay.sendMessage(big);
  relay.sendMessage('over tcp');
  direct.sendMessage(bigT);
  await waitFor(() => direct.rec.messages.length === 2 && relay.rec.messages.length === 1, 20000,
    () => `deliveries (direct ${direct.rec.messages.length}/2, relay ${relay.rec.messages.length}/1)`);
  assert.ok(bytesEqual(direct.rec.messages[0].message, big));
  assert.equal(direct.rec.messages[1].message, 'over tcp');
  assert.equal(relay.rec.messages[0].message, bigT);
  t.diagnostic(`relay-only over TURN/TCP connected in ${msConnect} ms`);
  await closeAll([relay, direct]);
});

test('a secret coturn does not share: the relay-only peer fails in bounded time with the 401; its room does not notice', { timeout: 60000 }, async (t) => {
  const server = await startPeerrtc('turn-wrong', ['--turn-url', coturn.url('udp'), '--turn-secret', `not-${SECRET}`]);
  const room = uid('turn-wrong');
  // Ordinary peers get the same unusable TURN credentials from /config and connect directly.
  const a = client(server, room, 'plain-a');
  const b = client(server, room, 'plain-b');
  await a.connect();
  await b.connect();
  assert.equal((await pathOf(a)).local, 'host');

  // The client's default connect timeout (20 s) bounds it; it fails sooner, as soon as
  // gathering ends without a single candidate.
  const connectTimeout = 20000;
  const c = client(server, room, 'relay-denied', { iceTransportPolicy: 'relay', connectTimeout });
  const t0 = Date.now();
  await assert.rejects(c.connect(), (e) => {
    assert.ok(e instanceof PeerRTCError, `a PeerRTCError: ${e}`);
    assert.match(e.message, /no ICE candidates: iceTransportPolicy is 'relay'/, e.message);
    assert.match(e.message, /401/, `the error names the TURN server's refusal: ${e.message}`);
    assert.match(e.message, new RegExp(escapeRe(coturn.url('udp'))), e.message);
    assert.doesNotMatch(e.message, /incompatible/, 'no noise about other address families');
    return true;
  });
  const ms = Date.now() - t0;
  assert.ok(ms < 5000, `failed after ${ms} ms, without waiting for the ${connectTimeout} ms connect timeout`);
  assert.equal(c.status, 'disconnected');
  assert.equal(c.rec.errors.length, 1, 'onError once');
  assert.match(c.rec.errors[0].message, /401/);
  assert.equal(c.rec.opens, 0);

  // The same in Chromium: its connect() rejects with the TURN server's 401.
  const tc = Date.now();
  await assert.rejects(chromiumPeer(server, room, 'relay-denied-chromium'), (e) => {
    assert.match(String(e.message), /no ICE candidates[^]*401/, String(e.message));
    return true;
  });
  const msChromium = Date.now() - tc;

  // coturn refused it: a 401 for its REST username and no allocation.
  await coturn.waitForLine(new RegExp(`${userRe('relay-denied')}.*(401|credentials)`), 5000);
  assert.equal(coturn.linesMatching(new RegExp(`user ${userRe('relay-denied')}: incoming packet ALLOCATE processed, success`)).length, 0);

  // The room never saw it, and goes on.
  a.sendMessage('still here');
  b.sendMessage(new Uint8Array([42]));
  await waitFor(() => a.rec.messages.length === 1 && b.rec.messages.length === 1, 10000, 'a and b still talk');
  assert.equal(b.rec.messages[0].message, 'still here');
  assert.ok(bytesEqual(a.rec.messages[0].message, new Uint8Array([42])));
  for (const id of ['relay-denied', 'relay-denied-chromium']) {
    assert.ok(!a.rec.joined.includes(id) && !b.rec.joined.includes(id), `no peer_joined for the failed ${id}`);
  }
  const rp = await server.request('GET', `/rooms/peers?room=${room}`);
  assert.deepEqual([...rp.json.peers].sort(), ['plain-a', 'plain-b']);
  t.diagnostic(`relay-only peer with refused credentials failed after ${ms} ms (Chromium: ${msChromium} ms incl. page load): ${c.rec.errors[0].message}`);
  await closeAll([a, b, c]);
});
