// Helpers for the client tests: clients with recorders, polling waits, a raw wrtc peer.
import { WebRTCConnection } from '../../../clients/js/peerrtc-client.js';
import { wrtc } from '../../lib/wrtc.mjs';

export { wrtc };

let seq = 0;
// A unique id/room name (ASCII; names are at most 64 bytes of UTF-8: docs/protocol.md "Names").
export function uid(prefix) {
  return `${prefix}-${process.pid.toString(36)}${(seq++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

// A WebRTCConnection whose callbacks record everything into `rec`.
export function makeClient(server, room, peerId, options = {}) {
  const c = new WebRTCConnection(room, {
    peerId,
    serverUrl: server.baseUrl,
    RTCPeerConnection: wrtc.RTCPeerConnection,
    debug: !!process.env.PEERRTC_CLIENT_DEBUG,
    ...options,
  });
  const rec = { messages: [], joined: [], left: [], statuses: [], errors: [], serverErrors: [], markers: new Map(), opens: 0, closes: 0, gaps: [], away: [], back: [] };
  c.rec = rec;
  c.onMessage = (from, message, info) => rec.messages.push({ from, message, ...info, at: Date.now() });
  c.onPeerJoined = (p) => rec.joined.push(p);
  c.onPeerLeft = (p) => rec.left.push(p);
  c.onStatusChange = (s) => rec.statuses.push(s);
  c.onError = (e) => rec.errors.push(e);
  c.onServerError = (e) => {
    if (e.code === 'unknown_peer' && typeof e.to === 'string' && rec.markers.has(e.to)) rec.markers.set(e.to, rec.messages.length);
    else rec.serverErrors.push(e);
  };
  c.onResumeGap = (g) => rec.gaps.push(g);
  c.onPeerAway = (p) => rec.away.push(p);
  c.onPeerBack = (p) => rec.back.push(p);
  c.onOpen = () => { rec.opens++; };
  c.onClose = () => { rec.closes++; };
  return c;
}

export async function waitFor(pred, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// A marker through a client's own path. A direct message to a peer id that is in no room is
// answered on the client's ordered channel with {"type":"error","code":"unknown_peer","to":id};
// the server handles a peer's frames in order on its one network thread, so once the answer is
// here every frame the client sent before was handled, and every message the server queued for
// it before is in rec.messages. Resolves with rec.messages.length at the answer: what is not in
// rec.messages.slice(0, n) was never sent to this client. The answer is kept out of
// rec.serverErrors. (Not in echo rooms: the echo hook also echoes such a message.)
export async function flush(client, ms = 10000) {
  const to = uid('flush');
  client.rec.markers.set(to, null);
  client.sendTo(to, '.');
  await waitFor(() => client.rec.markers.get(to) !== null, ms, `${client.peerId}'s flush marker`);
  const n = client.rec.markers.get(to);
  client.rec.markers.delete(to);
  return n;
}

// A unique id of exactly 64 characters (ASCII: 64 bytes, the longest allowed).
export function uid64(prefix) { return (uid(prefix) + '_'.repeat(64)).slice(0, 64); }

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

export async function closeAll(clients) {
  await Promise.all(clients.map((c) => c.closeConnection().catch(() => {})));
}

export function bytesEqual(a, b) {
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

// A deterministic byte pattern that covers every byte value.
export function pattern(n, seed = 0) {
  const u = new Uint8Array(n);
  let x = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    u[i] = (x >>> 16) & 0xff;
  }
  return u;
}

// A peer that talks the wire protocol itself (no client library), to send frames the client
// would never produce. Resolves once the channel is open and welcome arrived.
export async function rawPeer(server, room, peerId) {
  const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
  const dc = pc.createDataChannel('peerrtc', { ordered: true });
  dc.binaryType = 'arraybuffer';
  const frames = [];
  let welcome = null;
  dc.onmessage = (ev) => {
    frames.push(ev.data);
    if (typeof ev.data === 'string' && ev.data.startsWith('{')) {
      const j = JSON.parse(ev.data);
      if (j.type === 'welcome') welcome = j;
    }
  };
  const offer = await pc.createOffer();  // not pc.localDescription: see clients/js/peerrtc-client.js
  await pc.setLocalDescription(offer);
  const r = await server.request('POST', '/offer', { room, peer_id: peerId, offer: { sdp: offer.sdp, type: 'offer' } });
  if (r.status !== 200) throw new Error(`raw peer ${peerId}: POST /offer ${r.status} ${r.text}`);
  await pc.setRemoteDescription({ type: 'answer', sdp: r.json.sdp });
  await waitFor(() => welcome, 15000, `welcome for raw peer ${peerId}`);
  const events = () => frames.filter((f) => typeof f === 'string' && f.startsWith('{')).map((f) => JSON.parse(f));
  return {
    pc, dc, frames, welcome, token: r.json.token, answer: r.json, events,
    // flush() above for a raw peer: resolves with the index of the answer in `frames`.
    async flush(ms = 10000) {
      const to = uid('flush');
      dc.send(`d${to}\n.`);
      const isAnswer = (f) => typeof f === 'string' && f.startsWith('{') && (() => { const j = JSON.parse(f); return j.type === 'error' && j.code === 'unknown_peer' && j.to === to; })();
      await waitFor(() => frames.some(isAnswer), ms, `raw peer ${peerId}'s flush marker`);
      return frames.findIndex(isAnswer);
    },
    close() { try { dc.close(); } catch { /* */ } try { pc.close(); } catch { /* */ } },
  };
}
