// ICE restart keeps the session (issue 19, part 2): a wrtc peer running the JS client inside a
// network namespace streams numbered messages to a peer in the root namespace (and gets theirs)
// through peerrtc-server; mid-stream the namespace's address changes (the old one deleted, a new
// one added on its veth). The client's ICE goes disconnected, it restarts ICE on the same
// RTCPeerConnection and re-offers with `restart: true`; the server keeps the DTLS and SCTP
// association. Checked: every message of both streams arrives exactly once and in order; the
// room saw no peer_left / peer_joined; the client never left status `connected`, made one
// RTCPeerConnection only and counts one ICE restart, and its selected path now starts at the new
// address; the server counted the restart (/stats and /metrics ice_restarts). Against a server
// without ICE restarts (one that takes the re-offer as a new connection) the same run fails:
// the client's restart gets an answer for a new DTLS association that never comes up.
import { createNetns } from './lib/netns.mjs'; // first: its exit listener must precede wrtc's
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPeer, startPeerServer } from './lib/servers.mjs';
import { pageClient } from './lib/page.mjs';

// libwebrtc pings a stable path every 2.5 s and calls it `disconnected` once it has received
// nothing for 2.5 s more (its receiving timeout); the client restarts ICE after
// ICE_RESTART_DELAY_MS; the offer and the new checks take well under a second. Measured: the
// server saw the restart 6.2-6.7 s after the address change; in some runs libwebrtc skipped
// `disconnected` and went `failed` (its 15 s unwritable timeout), then 15.9 s.
const ICE_RESTART_DELAY_MS = 500;
// The restart POST's first try may hang on a keep-alive connection from the old address (below,
// KEEP_ALIVE_MS) for a third of the client's requestTimeout (10 s) before the retry.
const FIRST_TRY_MS = 3334;
const RESTART_BOUND_MS = 15000 + 1000 + ICE_RESTART_DELAY_MS + FIRST_TRY_MS + 13500; // `failed` + offer + first try, + 13.5 s margin: 33.3 s
// What the server sent into the outage waits for SCTP's retransmission timer, which backed off
// meanwhile: with the backoff capped at 3 s and the retransmission when ICE sees the path return
// (the SCTP change of issue 19), 0.5-1.1 s after the streams stop (seen, five runs). Without that
// change usrsctp may wait out RTO.max (60 s) or mark the path failed (heartbeats): twice out of
// six runs the messages to the mover had not come 30 and 70 s later. Bound: 60 s + 10 s margin.
const DELIVERY_BOUND_MS = 60000 + 10000;
const INTERVAL_MS = 25; // 40 messages/s each way
// The wrtc mover's fetch keeps idle HTTP connections 60 s, as a browser does (lib/peer.mjs
// keepAliveMs): its restart POST, ~6.5 s after the change, then finds the POST /offer's
// connection from the old address in the pool, under the server's 15-s idle timeout. That
// connection hangs (nothing comes back to the old address): the client must try again on a new
// one within its restart budget, else it falls back to a full reconnect (status `reconnecting`,
// which the test refuses).
const KEEP_ALIVE_MS = 60000;

let ns;
let server;
const peers = [];

before(async () => {
  ns = await createNetns({ udp: 'allowed' });
  server = await startPeerServer(ns.rootIp, { name: 'server' });
});

after(async () => {
  for (const p of peers) await p.stop().catch(() => {});
  if (server) await server.stop().catch((e) => console.error(String(e)));
  if (ns) await ns.destroy();
});

function peer(nsOrNull, job, name) {
  const p = startPeer(nsOrNull, job, name);
  peers.push(p);
  return p;
}

let seq = 0;
const uid = (prefix) => `${prefix}-${process.pid.toString(36)}-${(++seq).toString(36)}`;

// Moves the namespace's side of the veth from .2 (or the current address) to `next`.
function changeAddress(from, next) {
  ns.inside(['ip', 'addr', 'del', `${from}/24`, 'dev', ns.vethNs]);
  ns.inside(['ip', 'addr', 'add', `${next}/24`, 'dev', ns.vethNs]);
}

async function stats() {
  const r = await server.request('GET', '/stats');
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function path(p, what) {
  const before = p.messages.length;
  p.send({ cmd: 'path' });
  return p.waitFor((m, i = p.messages.indexOf(m)) => m.type === 'path' && i >= before, 10000, `${what} path`);
}

// Starts both peers in `room`: the stayer (root namespace) first, then the mover (inside: a
// wrtc process, or with `makeMover` a Chromium page).
async function pair(room, moverOptions, makeMover = null) {
  const baseUrl = server.baseUrl;
  const stayer = peer(null, { mode: 'client', baseUrl, room, peerId: 'stayer' }, 'stayer');
  await stayer.waitFor((m) => m.type === 'connected' || m.type === 'error', 20000, 'stayer to connect');
  assert.ok(stayer.messages.some((m) => m.type === 'connected'), JSON.stringify(stayer.messages));
  const debug = !!process.env.PEERRTC_CLIENT_DEBUG;
  const options = { debug, ...moverOptions };
  const mover = makeMover ? await makeMover({ baseUrl, room, peerId: 'mover', options })
    : peer(ns, { mode: 'client', baseUrl, room, peerId: 'mover', clientOptions: options, keepAliveMs: KEEP_ALIVE_MS }, 'mover');
  const c = await mover.waitFor((m) => m.type === 'connected' || m.type === 'error', 20000, 'mover to connect');
  assert.equal(c.type, 'connected', JSON.stringify(c));
  // (Chromium reports no address for its own, mDNS-hidden, host candidate.)
  if (!makeMover) assert.equal(c.path.local.address, ns.nsIp, `mover starts from ${ns.nsIp}: ${JSON.stringify(c.path)}`);
  await stayer.waitFor((m) => m.type === 'peer_joined' && m.peer === 'mover', 10000, 'stayer to see the mover');
  return { stayer, mover };
}

// Sends `<prefix>-<i>` from p every INTERVAL_MS until stop() is called; returns {count(), stop()}.
function stream(p, prefix) {
  let i = 0;
  const timer = setInterval(() => p.send({ cmd: 'send', text: `${prefix}-${i++}` }), INTERVAL_MS);
  return { count: () => i, stop: () => clearInterval(timer) };
}

// The texts `from` sent that `to` received, in arrival order.
const received = (to, from) => to.messages.filter((m) => m.type === 'message' && m.from === from).map((m) => m.text);
const expected = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

test('the client\'s address changes mid-stream: ICE restart keeps the session and nothing is lost', { timeout: 180000 }, () => addressChange());

// Chromium (headless, in the namespace) does not need the restart here: its sockets follow the
// new source address and its next nominating check from there moves the server's path (an
// ICE-lite server moves it on USE-CANDIDATE from a new address), so ICE never goes disconnected
// (seen: 16 s of streaming over the change, every message delivered, no restart). The session
// must be kept all the same: nothing lost, no leave/join, no reconnect; a restart is allowed.
test('Chromium: the same address change keeps the session and nothing is lost (with or without a restart)', { timeout: 180000 }, async () => {
  const browser = await ns.launchChromium();
  try {
    await addressChange(async (job) => pageClient(await browser.newPage('mover'), job));
  } finally {
    await browser.close();
  }
});

async function addressChange(makeMover = null) {
  const before0 = await stats();
  const { stayer, mover } = await pair(uid('restart'), { iceRestartDelay: ICE_RESTART_DELAY_MS }, makeMover);
  const stayerEventsFrom = stayer.messages.length;
  const up = stream(mover, 'up');
  const down = stream(stayer, 'down');
  await new Promise((r) => setTimeout(r, 1500));
  // Mid-stream: the namespace gets a new address (as a phone that moves to another network).
  const newIp = ns.nsIp.replace(/\.2$/, '.3');
  const changedAt = Date.now();
  changeAddress(ns.nsIp, newIp);
  try {
    await restartedAndDelivered({ stayer, mover, up, down, newIp, changedAt, before0, stayerEventsFrom, chromium: !!makeMover });
  } finally {
    up.stop();
    down.stop();
    changeAddress(newIp, ns.nsIp);
  }
}

async function restartedAndDelivered({ stayer, mover, up, down, newIp, changedAt, before0, stayerEventsFrom, chromium }) {
  // The mover's server-side session takes the restart (Chromium: streaming goes on past the
  // time libwebrtc would have restarted).
  const deadline = changedAt + RESTART_BOUND_MS;
  let st;
  for (;;) {
    st = await stats();
    if (st.ice_restarts > before0.ice_restarts) break;
    if (chromium && Date.now() > changedAt + 10000) break;
    assert.ok(Date.now() < deadline, `no ICE restart within ${RESTART_BOUND_MS} ms of the address change; mover: ${JSON.stringify(mover.messages.filter((m) => m.type !== 'sent' && m.type !== 'message').slice(-10))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const restartedMs = Date.now() - changedAt;
  await new Promise((r) => setTimeout(r, 2000)); // keep streaming over the new path
  up.stop();
  down.stop();
  const nUp = up.count();
  const nDown = down.count();
  // Every message arrives, exactly once, in order.
  const t0 = Date.now();
  await stayer.waitFor(() => received(stayer, 'mover').length >= nUp, DELIVERY_BOUND_MS, `the stayer to get all ${nUp} messages`).catch(() => {});
  await mover.waitFor(() => received(mover, 'stayer').length >= nDown, DELIVERY_BOUND_MS, `the mover to get all ${nDown} messages`).catch(() => {});
  const drainedMs = Date.now() - t0;
  assert.ok(!mover.messages.some((m) => m.type === 'command_error'), `the mover could always send: ${JSON.stringify(mover.messages.filter((m) => m.type === 'command_error').slice(0, 3))}`);
  assert.ok(!stayer.messages.some((m) => m.type === 'command_error'), 'the stayer could always send');
  assert.deepEqual(received(stayer, 'mover'), expected('up', nUp), 'the stayer got every message of the mover once, in order');
  assert.deepEqual(received(mover, 'stayer'), expected('down', nDown), 'the mover got every message of the stayer once, in order');
  // The session was kept: no presence change in the room, no reconnect, one RTCPeerConnection.
  const presence = stayer.messages.slice(stayerEventsFrom).filter((m) => m.type === 'peer_left' || m.type === 'peer_joined');
  assert.deepEqual(presence, [], 'the room saw no leave or join');
  const statuses = mover.messages.filter((m) => m.type === 'status').map((m) => m.status);
  assert.deepEqual(statuses, ['connecting', 'connected'], 'the mover never left status connected');
  st = await stats();
  const restarts = st.ice_restarts - before0.ice_restarts;
  // The client counts its restart once ICE connects with the answer's credentials: after a retried
  // POST (above), that can be seconds after the server's count. Bound: its iceRestartTimeout (15 s).
  let p = await path(mover, 'mover');
  for (const until = Date.now() + 15000; p.iceRestarts < restarts && Date.now() < until;) {
    await new Promise((r) => setTimeout(r, 250));
    p = await path(mover, 'mover');
  }
  assert.equal(p.connections, 1, 'one RTCPeerConnection: no full reconnect');
  assert.equal(p.status, 'connected');
  assert.equal(p.path.remote.address, ns.rootIp);
  if (chromium) {
    assert.ok(restarts <= 1 && p.iceRestarts === restarts, `${restarts} restarts, the client counts ${p.iceRestarts}`);
  } else {
    assert.equal(p.iceRestarts, 1, JSON.stringify(p));
    assert.equal(p.path.local.address, newIp, `the path now starts at the new address: ${JSON.stringify(p.path)}`);
    assert.equal(restarts, 1, 'the server counted the restart');
  }
  const metrics = await server.request('GET', '/metrics');
  assert.match(metrics.text, new RegExp(`^peerrtc_ice_restarts_total ${st.ice_restarts}$`, 'm'));
  const rooms = await server.request('GET', '/rooms');
  console.error(`# ${chromium ? 'Chromium' : 'wrtc'}: ${restarts} ICE restart(s) (${restartedMs} ms after the address change); ` +
    `${nUp} + ${nDown} messages; all delivered ${drainedMs} ms after the streams stopped; rooms ${JSON.stringify(rooms.json)}`);
  // (A page's send is a promise: awaited, so it never outlives the browser.)
  for (const x of [mover, stayer]) await Promise.resolve(x.send({ cmd: 'close' })).catch(() => {});
}
