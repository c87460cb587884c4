// Helpers of the network suite that run both in Node and inside a browser page: a plain ES module
// with no imports (sourceForPage() in page.mjs strips the `export` keywords and injects it).

// A deterministic payload: text (printable ASCII, `size` UTF-8 bytes) or binary (ArrayBuffer).
export function payload(kind, size, seed) {
  let x = ((seed >>> 0) * 2654435761 + size + 1) >>> 0 || 1;
  const next = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  if (kind === 'binary') {
    const u8 = new Uint8Array(size);
    for (let i = 0; i < size; i++) u8[i] = next() & 0xff;
    return u8.buffer;
  }
  const parts = new Array(size);
  for (let i = 0; i < size; i++) parts[i] = String.fromCharCode(32 + (next() % 95));
  return parts.join('');
}

// `text:<bytes>:<hash>` / `binary:<bytes>:<hash>`: two FNV-1a 32-bit hashes (different offset
// bases) of the UTF-8 bytes or the binary bytes. Compares messages without shipping them around.
export function digest(data) {
  const isText = typeof data === 'string';
  let u8;
  if (isText) u8 = new TextEncoder().encode(data);
  else if (data instanceof ArrayBuffer) u8 = new Uint8Array(data);
  else if (ArrayBuffer.isView(data)) u8 = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  else return `unknown:${Object.prototype.toString.call(data)}`;
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < u8.length; i++) {
    a = Math.imul(a ^ u8[i], 0x01000193) >>> 0;
    b = Math.imul(b ^ u8[(u8.length - 1 - i)], 0x01000193) >>> 0;
  }
  return `${isText ? 'text' : 'binary'}:${u8.length}:${a.toString(16).padStart(8, '0')}${b.toString(16).padStart(8, '0')}`;
}

// The selected ICE candidate pair of `pc` from getStats(): {local, remote, state, bytesSent,
// bytesReceived}, local/remote = {protocol ('udp'|'tcp'), candidateType, tcpType, address, port};
// null if there is none (yet).
export async function selectedPath(pc) {
  const report = await pc.getStats();
  const byId = new Map();
  report.forEach((v) => byId.set(v.id, v));
  let pair = null;
  for (const v of byId.values()) {
    if (v.type === 'transport' && v.selectedCandidatePairId && byId.get(v.selectedCandidatePairId)) pair = byId.get(v.selectedCandidatePairId);
  }
  if (!pair) {
    for (const v of byId.values()) if (v.type === 'candidate-pair' && v.nominated && v.state === 'succeeded') pair = v;
  }
  if (!pair) return null;
  const cand = (c) => (c ? {
    protocol: c.protocol, candidateType: c.candidateType, tcpType: c.tcpType ?? null,
    address: c.address ?? c.ip ?? null, port: c.port,
  } : null);
  return {
    local: cand(byId.get(pair.localCandidateId)),
    remote: cand(byId.get(pair.remoteCandidateId)),
    state: pair.state,
    bytesSent: pair.bytesSent,
    bytesReceived: pair.bytesReceived,
  };
}

// The a=candidate lines of an SDP, parsed: [{foundation, component, protocol, priority, ip, port,
// type, tcptype}], in SDP order.
export function sdpCandidates(sdp) {
  const out = [];
  for (const line of sdp.split(/\r?\n/)) {
    const m = /^a=candidate:(\S+) (\d+) (\S+) (\d+) (\S+) (\d+) typ (\S+)(.*)$/.exec(line);
    if (!m) continue;
    const tcptype = /\btcptype (\S+)/.exec(m[8]);
    out.push({
      foundation: m[1], component: Number(m[2]), protocol: m[3].toLowerCase(), priority: Number(m[4]),
      ip: m[5], port: Number(m[6]), type: m[7], tcptype: tcptype ? tcptype[1] : null, line,
    });
  }
  return out;
}

// The SDP without its UDP candidates: a client that is given this answer can only use ICE-TCP.
export function withoutUdpCandidates(sdp) {
  return sdp.split('\r\n').filter((l) => !/^a=candidate:\S+ \d+ udp /i.test(l)).join('\r\n');
}

// An RTCPeerConnection constructor that keeps every connection it makes in `pcs` (to read
// getStats() of connections that a library or matrix.js creates).
export function recordingPC(RTCPeerConnection) {
  const pcs = [];
  function PC(configuration) {
    const pc = new RTCPeerConnection(configuration);
    pcs.push(pc);
    return pc;
  }
  return { PC, pcs };
}

/**
 * Drives one peerrtc-client WebRTCConnection (clients/js) and reports everything through
 * emit(obj): {type:'answer', candidates} (the answer's candidates, before onlyTcp strips the UDP
 * ones), {type:'connected', ms, peers, path} or {type:'error', message, ms} for connect(), then
 * {type:'message', from, digest, direct, binary}, {type:'peer_joined'|'peer_left', peer},
 * {type:'status', status}, {type:'client_error', message} (a message that is a string of at most
 * 64 characters also has `text`). Returns command(cmd) for {cmd:'send', kind, size, seed, to?}
 * or {cmd:'send', text, to?} -> {type:'sent', ref, digest}, {cmd:'send_volatile', text, to?} ->
 * {type:'sent_volatile', text, ok} (the volatile lane; what arrives is {type:'volatile', from,
 * digest, direct, binary, text?}), {cmd:'path'} -> {type:'path', path,
 * iceRestarts, connections (RTCPeerConnections made), status}, {cmd:'close'} -> {type:'closed'}.
 * `options`: more WebRTCConnection options (they override the driver's).
 */
export function clientDriver({ WebRTCConnection, RTCPeerConnection, fetch, baseUrl, room, peerId, connectTimeoutMs = 15000, onlyTcp = false, options = {}, emit }) {
  const { PC, pcs } = recordingPC(RTCPeerConnection);
  const t0 = Date.now();
  const offerFetch = async (url, init) => {
    const res = await fetch(url, init);
    if (!/\/offer$/.test(String(url)) || res.status !== 200) return res;
    const text = await res.text();
    let j;
    try { j = JSON.parse(text); } catch { j = null; }
    if (j && typeof j.sdp === 'string') {
      emit({ type: 'answer', candidates: sdpCandidates(j.sdp).map(({ line, ...c }) => c) });
      if (onlyTcp) j.sdp = withoutUdpCandidates(j.sdp);
    }
    const body = j ? JSON.stringify(j) : text;
    return { ok: res.ok, status: res.status, statusText: res.statusText, headers: res.headers, text: async () => body, json: async () => JSON.parse(body) };
  };
  const c = new WebRTCConnection(room, {
    peerId, serverUrl: baseUrl, RTCPeerConnection: PC, fetch: offerFetch, iceServers: [],
    reconnect: false, connectTimeout: connectTimeoutMs, ...options,
  });
  const lastPc = () => pcs[pcs.length - 1];
  c.onMessage = (from, message, info) => emit({
    type: 'message', from, digest: digest(message), direct: !!(info && info.direct), binary: !!(info && info.binary),
    ...(typeof message === 'string' && message.length <= 64 ? { text: message } : {}),
  });
  c.onVolatile = (from, message, info) => emit({
    type: 'volatile', from, digest: digest(message), direct: !!(info && info.direct), binary: !!(info && info.binary),
    ...(typeof message === 'string' && message.length <= 64 ? { text: message } : {}),
  });
  c.onPeerJoined = (p) => emit({ type: 'peer_joined', peer: p });
  c.onPeerLeft = (p) => emit({ type: 'peer_left', peer: p });
  c.onStatusChange = (s) => emit({ type: 'status', status: s });
  c.onError = (e) => emit({ type: 'client_error', message: String(e && e.message ? e.message : e) });
  c.connect().then(async () => {
    let path = null;
    try { path = await selectedPath(lastPc()); } catch (e) { path = { error: String(e) }; }
    emit({ type: 'connected', ms: Date.now() - t0, peers: c.peers(), maxMessageSize: c.maxMessageSize, path });
  }, (e) => emit({ type: 'error', message: String(e && e.message ? e.message : e), ms: Date.now() - t0 }));

  let ref = 0;
  return async function command(cmd) {
    try {
      if (cmd.cmd === 'send') {
        const size = cmd.size === 'max' ? c.maxMessageSize : cmd.size;
        const data = typeof cmd.text === 'string' ? cmd.text : payload(cmd.kind, size, cmd.seed);
        if (cmd.to) c.sendTo(cmd.to, data); else c.sendMessage(data);
        emit({ type: 'sent', ref: cmd.ref ?? ++ref, digest: digest(data) });
      } else if (cmd.cmd === 'send_volatile') {
        emit({ type: 'sent_volatile', text: cmd.text, ok: c.sendVolatile(cmd.text, cmd.to ? { to: cmd.to } : {}) });
      } else if (cmd.cmd === 'path') {
        emit({ type: 'path', path: await selectedPath(lastPc()), iceRestarts: c.iceRestarts, connections: pcs.length, status: c.status });
      } else if (cmd.cmd === 'close') {
        await c.closeConnection();
        emit({ type: 'closed' });
      } else {
        emit({ type: 'command_error', cmd, message: 'unknown command' });
      }
    } catch (e) {
      emit({ type: 'command_error', cmd, message: String(e && e.message ? e.message : e) });
    }
  };
}
