#!/usr/bin/env node
// Reference implementation of the PeerRTC *test server* protocol, on @roamhq/wrtc (libwebrtc).
// It exists so the interop harness (tests/interop/*.test.mjs) can be validated without the
// C++ server. It implements the same HTTP protocol as build/apps/peerrtc-testserver:
//
//   node tests/interop/reference-server.mjs [--host 127.0.0.1] --http-port 0 [--udp-port 0]
//   -> prints `READY {"http":<port>,"udp":<port>}` once listening; exits 0 on SIGTERM.
//
//   POST /offer  {"room","peer_id","offer":{"sdp","type":"offer"}} -> 200 {"sdp","type":"answer"}
//                errors -> 4xx {"error":"..."}
//   GET /events  -> {"events":[...]}: peer_connected, channel_open, channel_closed, peer_closed
//   Every message on a channel other than `control` is echoed back (same kind, byte-exact).
//   `control` (client-opened) takes JSON commands {"cmd":"open",...} / {"cmd":"close","label"}.
//
// Differences from the C++ server that the harness must tolerate:
//   - libwebrtc is a full ICE agent with one UDP socket per peer, so there is no single UDP
//     port: `--udp-port` is ignored and READY reports "udp":0. The answer is filtered down to
//     the 127.0.0.1 UDP host candidate(s) so clients must connect over loopback, like with the
//     ICE-lite C++ server (no a=ice-lite line is added: this agent is not lite).
//   - a=max-message-size is forced to 262144 in the answer (libwebrtc's default anyway).
import http from 'node:http';
import { wrtc } from '../lib/wrtc.mjs';  // with its exit guard, as every node process of the suites

const { RTCPeerConnection } = wrtc;

const MAX_MESSAGE_SIZE = 262144;
const GATHER_TIMEOUT_MS = 3000;
const MAX_BODY = 1 << 20;

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', httpPort: 0, udpPort: 0, verbose: !!process.env.PEERRTC_VERBOSE };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === '--host') opts.host = next();
    else if (a === '--http-port') opts.httpPort = Number(next());
    else if (a === '--udp-port') opts.udpPort = Number(next());
    else if (a === '--verbose') opts.verbose = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const log = (...a) => { if (opts.verbose) console.error('[ref]', ...a); };

// Fault injection, only to prove the harness catches broken servers (never set in the suite):
// PEERRTC_REF_FAULT=flip|kind|drop-empty|truncate|no-peer-closed|no-channel-closed
const FAULT = process.env.PEERRTC_REF_FAULT || '';
function fault(data) {
  const bin = typeof data !== 'string';
  const size = bin ? data.byteLength : Buffer.byteLength(data);
  if (FAULT === 'flip' && bin && size >= 16384) { const c = new Uint8Array(data.slice(0)); c[size - 1] ^= 1; return c.buffer; }
  if (FAULT === 'kind' && !bin && size === 1024) return new TextEncoder().encode(data).buffer;
  if (FAULT === 'truncate' && size === 262144) return data.slice(0, size - 1);
  if (FAULT === 'drop-empty' && size === 0) throw new Error('fault: dropping empty message');
  return data;
}

const events = [];
function emit(ev) {
  if (FAULT === 'no-peer-closed' && ev.type === 'peer_closed') return;
  if (FAULT === 'no-channel-closed' && ev.type === 'channel_closed') return;
  events.push(ev);
  log('event', JSON.stringify(ev));
}

// key room\0peer_id -> peer state
const peers = new Map();

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function isTyped(v) { return v === null || v === undefined || (Number.isInteger(v) && v >= 0 && v <= 65535); }

function channelInit(cmd) {
  const init = {};
  if (cmd.protocol !== undefined) {
    if (typeof cmd.protocol !== 'string') throw new Error('protocol must be a string');
    init.protocol = cmd.protocol;
  }
  if (cmd.ordered !== undefined && cmd.ordered !== null) {
    if (typeof cmd.ordered !== 'boolean') throw new Error('ordered must be a boolean');
    init.ordered = cmd.ordered;
  }
  if (!isTyped(cmd.maxRetransmits)) throw new Error('maxRetransmits must be null or 0..65535');
  if (!isTyped(cmd.maxPacketLifeTime)) throw new Error('maxPacketLifeTime must be null or 0..65535');
  // Never pass null: some bindings coerce null to 0.
  if (cmd.maxRetransmits !== undefined && cmd.maxRetransmits !== null) init.maxRetransmits = cmd.maxRetransmits;
  if (cmd.maxPacketLifeTime !== undefined && cmd.maxPacketLifeTime !== null) init.maxPacketLifeTime = cmd.maxPacketLifeTime;
  if (init.maxRetransmits !== undefined && init.maxPacketLifeTime !== undefined) {
    throw new Error('maxRetransmits and maxPacketLifeTime are mutually exclusive');
  }
  return init;
}

const nullable = (v) => (v === undefined || v === null || v === 65535 ? null : v);

function watchChannel(peer, dc, openedBy) {
  dc.binaryType = 'arraybuffer';
  let opened = false;
  let closed = false;
  const onOpen = () => {
    if (opened) return;
    opened = true;
    emit({
      type: 'channel_open', peer_id: peer.peerId, label: dc.label, protocol: dc.protocol,
      ordered: dc.ordered, maxRetransmits: nullable(dc.maxRetransmits),
      maxPacketLifeTime: nullable(dc.maxPacketLifeTime), opened_by: openedBy,
    });
  };
  dc.onopen = onOpen;
  if (dc.readyState === 'open') onOpen();
  dc.onclose = () => {
    if (closed) return;
    closed = true;
    if (opened && !peer.closed) emit({ type: 'channel_closed', peer_id: peer.peerId, label: dc.label });
    if (peer.serverChannels.get(dc.label) === dc) peer.serverChannels.delete(dc.label);
    // libwebrtc in wrtc does not change connectionState promptly when the remote pc.close()s
    // (SCTP ABORT + DTLS close_notify); it does close every channel. The client never closes
    // `control` on its own, so its closing means the association is gone.
    if (dc.label === 'control' && openedBy === 'client') {
      let state = null;
      try { state = peer.pc.sctp && peer.pc.sctp.state; } catch { /* not supported */ }
      setTimeout(() => peerClosed(peer, state === 'closed' ? 'sctp_closed' : 'control_closed'), 0);
    }
  };
  if (dc.label === 'control' && openedBy === 'client') {
    dc.onmessage = (e) => handleControl(peer, dc, e.data);
  } else {
    dc.onmessage = (e) => {
      try {
        dc.send(FAULT ? fault(e.data) : e.data);
      } catch (err) {
        log(`echo failed on ${dc.label}: ${err}`);
      }
    };
  }
}

function reply(dc, obj) {
  try { dc.send(JSON.stringify(obj)); } catch (err) { log(`control reply failed: ${err}`); }
}

function handleControl(peer, dc, data) {
  if (typeof data !== 'string') return reply(dc, { ok: false, error: 'control commands must be text' });
  let cmd;
  try { cmd = JSON.parse(data); } catch { return reply(dc, { ok: false, error: 'invalid JSON' }); }
  if (!cmd || typeof cmd !== 'object') return reply(dc, { ok: false, error: 'command must be an object' });
  if (cmd.cmd === 'open') {
    if (typeof cmd.label !== 'string' || cmd.label === '' || cmd.label === 'control') {
      return reply(dc, { ok: false, cmd: 'open', error: 'invalid label' });
    }
    if (peer.serverChannels.has(cmd.label)) {
      return reply(dc, { ok: false, cmd: 'open', label: cmd.label, error: 'label already open' });
    }
    let init;
    try { init = channelInit(cmd); } catch (err) {
      return reply(dc, { ok: false, cmd: 'open', label: cmd.label, error: err.message });
    }
    let ch;
    try { ch = peer.pc.createDataChannel(cmd.label, init); } catch (err) {
      return reply(dc, { ok: false, cmd: 'open', label: cmd.label, error: `createDataChannel: ${err.message}` });
    }
    peer.serverChannels.set(cmd.label, ch);
    watchChannel(peer, ch, 'server');
    return reply(dc, { ok: true, cmd: 'open', label: cmd.label });
  }
  if (cmd.cmd === 'close') {
    const ch = peer.serverChannels.get(cmd.label);
    if (!ch) return reply(dc, { ok: false, cmd: 'close', label: cmd.label, error: 'no such server channel' });
    ch.close();
    return reply(dc, { ok: true, cmd: 'close', label: cmd.label });
  }
  return reply(dc, { ok: false, error: `unknown command ${JSON.stringify(cmd.cmd)}` });
}

function peerClosed(peer, reason) {
  if (peer.closed) return;
  peer.closed = true;
  emit({ type: 'peer_closed', peer_id: peer.peerId, reason });
  peers.delete(peer.key);
  // Give libwebrtc a moment to finish callbacks before tearing down.
  setTimeout(() => { try { peer.pc.close(); } catch { /* ignore */ } }, 100);
}

function validateOffer(body) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'body must be a JSON object');
  const { room, peer_id: peerId, offer } = body;
  if (typeof room !== 'string' || room === '') throw new HttpError(400, 'missing or invalid "room"');
  if (typeof peerId !== 'string' || peerId === '') throw new HttpError(400, 'missing or invalid "peer_id"');
  if (!offer || typeof offer !== 'object') throw new HttpError(400, 'missing or invalid "offer"');
  if (offer.type !== 'offer') throw new HttpError(400, '"offer.type" must be "offer"');
  if (typeof offer.sdp !== 'string' || offer.sdp === '') throw new HttpError(400, 'missing or invalid "offer.sdp"');
  const sdp = offer.sdp;
  if (!/^v=0\r?\n/.test(sdp)) throw new HttpError(400, 'offer.sdp is not an SDP (no v=0)');
  const mlines = sdp.split(/\r?\n/).filter((l) => l.startsWith('m='));
  if (!mlines.some((l) => /^m=application \d+ [A-Z/]*SCTP webrtc-datachannel/.test(l))) {
    throw new HttpError(400, 'offer has no data channel (m=application ... webrtc-datachannel) section');
  }
  return { room, peerId, sdp };
}

function waitGathering(pc) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    const check = () => { if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); } };
    pc.onicegatheringstatechange = check;
    pc.onicecandidate = (e) => { if (!e.candidate) { clearTimeout(timer); resolve(); } };
  });
}

// Keep only UDP host candidates on the loopback address, point c=/m= at the first one and
// force a=max-message-size.
function mungeAnswer(sdp) {
  const lines = sdp.split(/\r\n/);
  const out = [];
  let port = null;
  const cands = lines.filter((l) => l.startsWith('a=candidate:'));
  const keep = cands.filter((l) => {
    const f = l.split(' ');
    return f[2] && f[2].toLowerCase() === 'udp' && f[4] === opts.host && f[7] === 'host';
  });
  if (keep.length === 0) throw new HttpError(500, `no UDP host candidate on ${opts.host} was gathered`);
  port = keep[0].split(' ')[5];
  let sawMms = false;
  for (const l of lines) {
    if (l.startsWith('a=candidate:') && !keep.includes(l)) continue;
    if (l.startsWith('m=application ')) { const f = l.split(' '); f[1] = port; out.push(f.join(' ')); continue; }
    if (l.startsWith('c=IN ')) { out.push(`c=IN IP4 ${opts.host}`); continue; }
    if (l.startsWith('a=max-message-size:')) { sawMms = true; out.push(`a=max-message-size:${MAX_MESSAGE_SIZE}`); continue; }
    if (l.startsWith('a=sctp-port:') && !sawMms) { out.push(l); out.push(`a=max-message-size:${MAX_MESSAGE_SIZE}`); sawMms = true; continue; }
    out.push(l);
  }
  return out.join('\r\n');
}

async function handleOffer(body) {
  const { room, peerId, sdp } = validateOffer(body);
  const key = `${room}\0${peerId}`;
  if (peers.has(key)) throw new HttpError(409, `peer_id ${JSON.stringify(peerId)} already connected in room ${JSON.stringify(room)}`);
  const pc = new RTCPeerConnection({ iceServers: [] });
  const peer = { key, room, peerId, pc, closed: false, connected: false, serverChannels: new Map() };
  peers.set(key, peer);
  try {
    pc.ondatachannel = (e) => watchChannel(peer, e.channel, 'client');
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      log(`${peerId}: connectionState ${s}`);
      if (s === 'connected' && !peer.connected) {
        peer.connected = true;
        emit({ type: 'peer_connected', peer_id: peerId });
      } else if (s === 'failed' || s === 'closed' || s === 'disconnected') {
        if (peer.connected) peerClosed(peer, `connection_${s}`);
      }
    };
    pc.oniceconnectionstatechange = () => {
      const s = pc.iceConnectionState;
      log(`${peerId}: iceConnectionState ${s}`);
      if ((s === 'disconnected' || s === 'failed' || s === 'closed') && peer.connected) peerClosed(peer, `ice_${s}`);
    };
    // Behave like the ICE-lite C++ server: never initiate connectivity checks towards the
    // client's candidates (a full agent would, masking clients that cannot reach 127.0.0.1).
    const strippedSdp = sdp.split(/\r\n/).filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates').join('\r\n');
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: strippedSdp });
    } catch (err) {
      throw new HttpError(400, `cannot apply offer: ${err.message}`);
    }
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await waitGathering(pc);
    // SCTP transport state: an ABORT / close from the remote ends the association.
    try {
      const sctp = pc.sctp;
      if (sctp && 'onstatechange' in sctp) {
        sctp.onstatechange = () => { if (sctp.state === 'closed' && peer.connected) peerClosed(peer, 'sctp_closed'); };
      }
    } catch { /* not supported by this binding */ }
    return { sdp: mungeAnswer(pc.localDescription.sdp), type: 'answer' };
  } catch (err) {
    peers.delete(key);
    try { pc.close(); } catch { /* ignore */ }
    throw err;
  }
}

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'GET' && url.pathname === '/events') return send(res, 200, { events });
  if (url.pathname === '/offer') {
    if (req.method !== 'POST') return send(res, 405, { error: 'use POST' });
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) { send(res, 413, { error: 'body too large' }); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', async () => {
      if (size > MAX_BODY) return;
      let body;
      try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch {
        return send(res, 400, { error: 'body is not valid JSON' });
      }
      try {
        send(res, 200, await handleOffer(body));
      } catch (err) {
        const status = err instanceof HttpError ? err.status : 500;
        log(`offer rejected (${status}): ${err.message}`);
        send(res, status, { error: err.message });
      }
    });
    return undefined;
  }
  return send(res, 404, { error: `no route ${req.method} ${url.pathname}` });
});

server.listen(opts.httpPort, opts.host, () => {
  process.stdout.write(`READY ${JSON.stringify({ http: server.address().port, udp: 0 })}\n`);
});

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  log('SIGTERM: shutting down');
  for (const peer of peers.values()) { peer.closed = true; try { peer.pc.close(); } catch { /* ignore */ } }
  peers.clear();
  server.close();
  server.closeAllConnections?.();
  // wrtc keeps native threads alive; exit explicitly.
  setTimeout(() => process.exit(0), 50);
});
