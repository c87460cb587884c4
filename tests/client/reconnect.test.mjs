// Reconnect: the server stops (SIGTERM) and a new one starts on the same HTTP and UDP ports; the
// clients reconnect by themselves and messages flow again. Also the token rules of a re-offer.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { stopAll } from '../lib/server.mjs';
import { makeClient, waitFor, closeAll, uid, sleep, rawPeer, wrtc } from './lib/util.mjs';

const live = [];
const servers = [];
after(async () => {
  await closeAll(live);
  await stopAll(servers);  // each server not stopped by its test exits 0
});

async function startOn(httpPort, udpPort) {
  // The old socket may linger for a moment; retry briefly.
  let last;
  for (let i = 0; i < 20; i++) {
    try { return await startServer({ name: 'reconnect2', httpPort, udpPort }); } catch (e) { last = e; await sleep(250); }
  }
  throw last;
}

test('server restart on the same ports: clients go reconnecting -> connected by themselves, presence and messages work again', { timeout: 90000 }, async (t) => {
  const s1 = await startServer({ name: 'reconnect1' });
  servers.push(s1);
  const room = uid('room');
  const opts = { disconnectTimeout: 2000 };
  const peers = [0, 1, 2].map((i) => makeClient(s1, room, uid(`r${i}`), opts));
  live.push(...peers);
  for (const p of peers) await p.connect();
  await waitFor(() => peers.every((p) => p.peers().length === 2), 5000, 'full room');
  const [a, b, c] = peers;
  const acked = a.sendMessage('before');
  await waitFor(() => b.rec.messages.length === 1 && c.rec.messages.length === 1, 5000, 'first message');
  await acked; // its ack (20-30 ms after it: acks wait for company) came before the stop
  const tokens = peers.map((p) => p.token);

  const tStop = Date.now();
  await s1.stop();
  await waitFor(() => peers.every((p) => p.status === 'reconnecting'), 15000,
    () => `all reconnecting (statuses ${peers.map((p) => p.status)})`);
  const msDetect = Date.now() - tStop;
  // Protocol v2: a send while reconnecting is queued, and sent after the reconnect.
  const queued = a.sendMessage('while down');
  assert.equal(a.unackedCount, 1, 'queued while reconnecting');
  // Stay down until every client has had an attempt fail, so the backoff is exercised.
  await waitFor(() => peers.every((p) => p.rec.errors.length >= 1), 15000, () => `a failed attempt each (errors ${peers.map((p) => p.rec.errors.length)})`);
  const s2 = await startOn(s1.http, s1.udp);
  servers.push(s2);
  assert.equal(s2.http, s1.http, 'same HTTP port');
  assert.equal(s2.udp, s1.udp, 'same UDP port');
  const tStart = Date.now();
  await waitFor(() => peers.every((p) => p.isConnected()), 30000, () => `all reconnected (statuses ${peers.map((p) => p.status)})`);
  const msReconnect = Date.now() - tStart;
  await waitFor(() => peers.every((p) => p.peers().length === 2), 10000, () => `full room again (${peers.map((p) => p.peers().length)})`);
  for (const p of peers) {
    assert.deepEqual(p.rec.statuses, ['connecting', 'connected', 'reconnecting', 'connected'], `${p.peerId} statuses`);
    assert.equal(p.rec.opens, 2, 'onOpen again after the reconnect');
    assert.equal(p.rec.closes, 0, 'no onClose for a drop that is being repaired');
    assert.ok(p.rec.errors.length >= 1, 'failed attempts while the server was down are reported to onError');
    assert.deepEqual(p.peers().sort(), peers.filter((x) => x !== p).map((x) => x.peerId).sort());
  }
  // The new server does not know the tokens: each resume fell back to a fresh join and said so.
  for (const p of peers) {
    assert.equal(p.rec.gaps.length, 1, `${p.peerId}: one resume_gap`);
    assert.equal(p.rec.gaps[0].reason, 'restarted');
    assert.equal(p.rec.gaps[0].missed, null, 'unknown after a restart');
    assert.equal(p.rec.gaps[0].from_seq, 2, 'after the last message handed over (seq 1)');
  }
  const seq = await queued;
  assert.ok(Number.isInteger(seq) && seq >= 1, `the queued message was relayed with seq ${seq}`);
  // (Relayed to whoever was in the new room then: b and c may not have rejoined yet.)
  t.diagnostic(`drop detected ${msDetect} ms after SIGTERM; all 3 reconnected ${msReconnect} ms after the new server was READY; ` +
    `errors while down: ${peers.map((p) => p.rec.errors.length)}; tokens renewed: ${peers.map((p, i) => p.token !== tokens[i])}`);

  for (const p of peers) p.sendMessage(`after from ${p.peerId}`);
  await waitFor(() => peers.every((p) => p.rec.messages.filter((m) => m.message.startsWith('after')).length === 2), 10000, 'messages after the reconnect');
  const r = await s2.request('GET', `/rooms/peers?room=${room}`);
  assert.deepEqual([...r.json.peers].sort(), peers.map((p) => p.peerId).sort());

  // closeConnection() stops everything: no reconnect after the next drop.
  await a.closeConnection();
  await s2.stop();
  await waitFor(() => b.status === 'reconnecting' && c.status === 'reconnecting', 15000, 'b, c reconnecting');
  assert.equal(a.status, 'closed');
  await closeAll([b, c]);
  assert.equal(b.status, 'closed');
  assert.deepEqual(b.rec.statuses.slice(-2), ['reconnecting', 'closed']);
  // No reconnect attempt can follow: closeConnection() cancelled the pending one (every attempt
  // runs from that timer, and one already running gives up once it sees the connection closed).
  // Checked on the client's state instead of sleeping and looking: nothing is left to happen.
  for (const p of [b, c]) assert.equal(p._reconnectTimer, null, `${p.peerId}: no reconnect scheduled after closeConnection()`);
  await assert.rejects(b.connect(), /closed by closeConnection/);
});

test('reconnect: false -> status disconnected and onClose on a drop', { timeout: 60000 }, async () => {
  const s = await startServer({ name: 'noreconnect' });
  servers.push(s);
  const a = makeClient(s, uid('room'), uid('nr'), { reconnect: false, disconnectTimeout: 2000 });
  live.push(a);
  await a.connect();
  await s.stop();
  await waitFor(() => a.status === 'disconnected', 15000, () => `disconnected (status ${a.status})`);
  assert.equal(a.rec.closes, 1);
  assert.deepEqual(a.rec.statuses, ['connecting', 'connected', 'disconnected']);
});

test('re-offer rules: without the token 409, a wrong token 403, the right one replaces the connection with no leave/join', { timeout: 60000 }, async () => {
  const s = await startServer({ name: 'reoffer' });
  servers.push(s);
  const room = uid('room');
  const watcher = makeClient(s, room, uid('w'));
  live.push(watcher);
  await watcher.connect();
  const id = uid('raw');
  const first = await rawPeer(s, room, id);
  await waitFor(() => watcher.rec.joined.includes(id), 5000, 'join');

  const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
  pc.createDataChannel('peerrtc');
  const made = await pc.createOffer();
  await pc.setLocalDescription(made);
  const offer = { sdp: made.sdp, type: 'offer' };
  const noToken = await s.request('POST', '/offer', { room, peer_id: id, offer });
  assert.equal(noToken.status, 409, noToken.text);
  assert.match(noToken.json.error, /already connected/);
  const wrong = await s.request('POST', '/offer', { room, peer_id: id, offer, token: 'not-the-token' });
  assert.equal(wrong.status, 403, wrong.text);
  pc.close();

  // The right token, from a brand new wrtc connection: a reconnect.
  const second = await (async () => {
    const pc2 = new wrtc.RTCPeerConnection({ iceServers: [] });
    const dc2 = pc2.createDataChannel('peerrtc');
    const frames = [];
    dc2.onmessage = (e) => frames.push(e.data);
    const offer2 = await pc2.createOffer();
    await pc2.setLocalDescription(offer2);
    const r = await s.request('POST', '/offer', { room, peer_id: id, offer: { sdp: offer2.sdp, type: 'offer' }, token: first.token });
    assert.equal(r.status, 200, r.text);
    await pc2.setRemoteDescription({ type: 'answer', sdp: r.json.sdp });
    await waitFor(() => frames.some((f) => typeof f === 'string' && f.includes('"welcome"')), 10000, 'welcome on the new connection');
    return { pc2, dc2, frames };
  })();
  // The server closed the old connection (the re-offer replaced it); only then the marker, on
  // the new one: a peer_left or second peer_joined that the replacement caused came before it.
  await waitFor(() => first.dc.readyState === 'closed', 10000, 'the old connection closed by the server');
  second.dc2.send('mfrom the new connection');
  await waitFor(() => watcher.rec.messages.length === 1, 5000, 'message via the new connection');
  assert.equal(watcher.rec.messages[0].from, id);
  assert.deepEqual(watcher.rec.left, [], 'a reconnect is not a leave');
  assert.deepEqual(watcher.rec.joined, [id], 'nor a second join');
  first.close();
  second.pc2.close();
  await waitFor(() => watcher.rec.left.includes(id), 15000, 'leave once the new connection closes');
});
