// Helpers of the peerrtc-server / quickstart tests: start a binary and wait for its READY line
// (tests/lib/server.mjs), run one to completion, and a real @roamhq/wrtc peer speaking the
// PeerRTC data channel protocol.
import { spawn } from 'node:child_process';
import { wrtc } from '../lib/wrtc.mjs';
import { REPO_ROOT, binaryPath, sleep, startProcess, stopAll, withTimeout } from '../lib/server.mjs';

export { REPO_ROOT, sleep, stopAll, withTimeout };

export const SERVER_BIN = binaryPath('peerrtc-server');
export const QUICKSTART_BIN = binaryPath('quickstart-httplib');

// Runs `bin args` to completion (for bad-flag tests): {code, signal, stdout, stderr}.
export function runToExit(bin, args, { env = {}, timeoutMs = 10000 } = {}) {
  return new Promise((res, rej) => {
    const child = spawn(bin, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); rej(new Error(`${bin} ${args.join(' ')} did not exit in ${timeoutMs} ms; stderr:\n${stderr}`)); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); rej(e); });
    child.on('exit', (code, signal) => { clearTimeout(timer); res({ code, signal, stdout, stderr }); });
  });
}

// Starts `bin args` and resolves once it printed `READY {"http":N,"udp":M}`. stop({ signal,
// timeoutMs }) resolves {code, signal, ms} and throws unless the exit code is 0 (a leak report of
// the sanitizer build at exit fails the test); a test that stops it otherwise on purpose passes
// stop({ expectCleanExit: false }) and checks the exit itself.
export function startServer(bin, args = [], { env = {}, name = 'server', expectCleanExit = true } = {}) {
  return startProcess(bin, args, { env, name, expectCleanExit });
}

let seq = 0;
export function uniqueId(prefix) { return `${prefix}-${process.pid}-${++seq}`; }

let flushSeq = 0;

// A wrtc peer: one channel 'peerrtc'. Resolves once the channel is open and `welcome` arrived.
// frames: every frame received ({text} or {bin: Buffer}); events: the parsed JSON ones.
// answerSdp: an optional (sdp) => sdp applied to the answer before it is set (e.g. keep only
// the TCP candidates, to force ICE-TCP on loopback).
// extra: more fields for the offer body (e.g. {join_token}).
// beforePost: awaited between setLocalDescription and POST /offer (e.g. a barrier, so that two
// peers' offers are sent at the same moment); offerTimes, when given, gets [start, end] of the
// POST /offer (performance.now()).
export async function connectPeer(server, room, peerId, {
  token, timeoutMs = 15000, answerSdp = (s) => s, extra = {}, beforePost = null, offerTimes = null,
} = {}) {
  const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
  const dc = pc.createDataChannel('peerrtc');
  dc.binaryType = 'arraybuffer';
  const peer = { pc, dc, room, peerId, frames: [], events: [], waiters: [], answer: null, closed: false };
  const closedP = new Promise((res) => {
    dc.onclose = () => { peer.closed = true; res(); };
  });
  peer.closedPromise = closedP;
  dc.onmessage = (ev) => {
    const f = typeof ev.data === 'string' ? { text: ev.data } : { bin: Buffer.from(ev.data) };
    if (f.text !== undefined && f.text.startsWith('{')) {
      try { f.event = JSON.parse(f.text); peer.events.push(f.event); } catch { /* not JSON */ }
    }
    peer.frames.push(f);
    for (const w of [...peer.waiters]) if (w.pred(f)) { peer.waiters.splice(peer.waiters.indexOf(w), 1); w.res(f); }
  };
  // Resolves with the first frame (already received or future) matching pred.
  peer.waitFrame = (pred, ms = 10000, what = 'frame') => {
    const have = peer.frames.find(pred);
    if (have) return Promise.resolve(have);
    return withTimeout(new Promise((res) => peer.waiters.push({ pred, res })), ms, `${peerId} to receive ${what}`);
  };
  peer.waitEvent = (type, pred = () => true, ms = 10000) =>
    peer.waitFrame((f) => f.event && f.event.type === type && pred(f.event), ms, `event ${type}`);
  peer.sendText = (s) => dc.send(s);
  peer.sendBinary = (buf) => dc.send(new Uint8Array(buf));
  peer.close = () => { try { dc.close(); } catch { /* */ } try { pc.close(); } catch { /* */ } };
  peer.waitClosed = (ms = 10000) => withTimeout(closedP, ms, `${peerId}'s channel to close`);
  // A marker through this peer's own path: a direct message to a peer id that is in no room is
  // answered on this peer's ordered channel with {"type":"error","code":"unknown_peer","to":id}.
  // The server handles a peer's frames in order on its one network thread, so once that answer
  // is here, every frame this peer sent before was handled and everything the server queued for
  // this peer before it has arrived. Resolves with the answer's index in `frames`: what is not
  // in frames.slice(0, index) was never sent to this peer. (Not in echo rooms: the echo hook
  // also echoes a message whose target is unknown.)
  peer.flush = async (ms = 10000) => {
    const to = `flush-${process.pid}-${++flushSeq}`;
    dc.send(`d${to}\n.`);
    const f = await peer.waitEvent('error', (e) => e.code === 'unknown_peer' && e.to === to, ms);
    return peer.frames.indexOf(f);
  };

  const opened = new Promise((res) => { dc.onopen = () => res(); });
  try {
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const body = { room, peer_id: peerId, offer: { sdp: offer.sdp, type: 'offer' }, ...extra };
    if (token) body.token = token;
    if (beforePost) await beforePost();
    const t0 = performance.now();
    const r = await server.request('POST', '/offer', body);
    if (offerTimes) offerTimes.push(t0, performance.now());
    if (r.status !== 200 || !r.json || r.json.type !== 'answer') {
      throw new Error(`POST /offer ${room}/${peerId}: ${r.status} ${r.text.slice(0, 300)}`);
    }
    peer.answer = r.json;
    peer.token = r.json.token;
    await pc.setRemoteDescription({ type: 'answer', sdp: answerSdp(r.json.sdp) });
    await withTimeout(opened, timeoutMs, `${peerId}'s channel to open`);
    peer.welcome = (await peer.waitEvent('welcome', () => true, timeoutMs)).event;
  } catch (e) {
    peer.close();
    throw e;
  }
  return peer;
}

// A wrtc offer SDP (data channel only), without connecting.
export async function makeOfferSdp() {
  const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
  pc.createDataChannel('peerrtc');
  const offer = await pc.createOffer();
  pc.close();
  return offer.sdp;
}

// The answer without its UDP candidates: a client given it can only reach the server over
// ICE-TCP (a loopback stand-in for a network that drops UDP; tests/network drops it for real).
export function withoutUdpCandidates(sdp) {
  return sdp.split('\r\n').filter((l) => !(l.startsWith('a=candidate:') && / udp /i.test(l))).join('\r\n');
}

// The transport ('udp' or 'tcp') of the local candidate of a wrtc peer's selected pair.
export async function selectedProtocol(pc) {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
  if (!pair) stats.forEach((s) => { if (s.type === 'candidate-pair' && (s.selected || s.nominated) && s.state === 'succeeded') pair = pair || s; });
  const local = pair && stats.get(pair.localCandidateId);
  return local ? local.protocol : null;
}
