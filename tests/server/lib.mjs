// Helpers of the peerrtc-server / quickstart tests: start a binary and wait for its READY line,
// HTTP requests, and a real @roamhq/wrtc peer speaking the PeerRTC data channel protocol.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import wrtc from '@roamhq/wrtc';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const READY_TIMEOUT_MS = 10000;
const HTTP_TIMEOUT_MS = 10000;
const LOG_KEEP = 64 * 1024;

export function binPath(envName, def) {
  const p = process.env[envName] || def;
  return isAbsolute(p) ? p : resolve(REPO_ROOT, p);
}
export const SERVER_BIN = binPath('PEERRTC_SERVER', 'build/apps/peerrtc-server');
export const QUICKSTART_BIN = binPath('PEERRTC_QUICKSTART', 'build/examples/quickstart-httplib');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function withTimeout(promise, ms, what) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

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

// Starts `bin args` and resolves once it printed `READY {"http":N,"udp":M}`.
export async function startServer(bin, args = [], { env = {}, name = 'server' } = {}) {
  if (!existsSync(bin)) throw new Error(`${bin} does not exist (build it first, or set the path in the environment)`);
  const child = spawn(bin, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (prefix, chunk) => {
    const s = chunk.toString();
    if (process.env.PEERRTC_VERBOSE) process.stderr.write(s.replace(/^/gm, `[${name} ${prefix}] `));
    output += s;
    if (output.length > LOG_KEEP) output = output.slice(-LOG_KEEP);
  };
  let exitInfo = null;
  const exited = new Promise((res) => child.on('exit', (code, signal) => { exitInfo = { code, signal }; res(exitInfo); }));
  let buf = '';
  const ready = new Promise((res, rej) => {
    child.stdout.on('data', (chunk) => {
      keep('out', chunk);
      buf += chunk.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        const m = /^READY (\{.*\})\s*$/.exec(line);
        if (m) { try { res(JSON.parse(m[1])); } catch { rej(new Error(`bad READY line: ${line}`)); } }
      }
    });
    child.stderr.on('data', (chunk) => keep('err', chunk));
    child.on('error', (e) => rej(new Error(`cannot start ${bin}: ${e.message}`)));
    exited.then(({ code, signal }) => rej(new Error(`${bin} exited (code ${code}, signal ${signal}) before READY; output:\n${output}`)));
  });
  let info;
  try {
    info = await withTimeout(ready, READY_TIMEOUT_MS, `${bin} READY`);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\noutput:\n${output}`);
  }
  const base = `http://127.0.0.1:${info.http}`;

  async function request(method, path, body, headers = {}) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), HTTP_TIMEOUT_MS);
    try {
      const init = { method, headers: { ...headers }, signal: ctl.signal };
      if (body !== undefined) {
        init.body = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
        if (!init.headers['content-type']) init.headers['content-type'] = 'application/json';
      }
      const res = await fetch(base + path, init);
      const buf = Buffer.from(await res.arrayBuffer());
      const text = buf.toString('utf8');
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, text, buf, json, contentType: res.headers.get('content-type') || '', headers: res.headers };
    } catch (e) {
      if (e.name === 'AbortError') throw new Error(`${method} ${path} timed out after ${HTTP_TIMEOUT_MS} ms`);
      throw new Error(`${method} ${path} failed: ${e.message}${exitInfo ? ` (server exited: ${JSON.stringify(exitInfo)})` : ''}`);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    child,
    http: info.http,
    udp: info.udp,
    base,
    request,
    output: () => output,
    exitInfo: () => exitInfo,
    exited,
    // SIGTERM (or `signal`) and wait; resolves {code, signal, ms} or rejects after `ms`.
    async stop(signal = 'SIGTERM', ms = 5000) {
      if (exitInfo) return { ...exitInfo, ms: 0 };
      const t0 = Date.now();
      child.kill(signal);
      try {
        const r = await withTimeout(exited, ms, `exit after ${signal}`);
        return { ...r, ms: Date.now() - t0 };
      } catch (e) {
        child.kill('SIGKILL');
        throw new Error(`${e.message}; output:\n${output.slice(-4000)}`);
      }
    },
    kill() { if (!exitInfo) child.kill('SIGKILL'); },
  };
}

let seq = 0;
export function uniqueId(prefix) { return `${prefix}-${process.pid}-${++seq}`; }

// A wrtc peer: one channel 'peerrtc'. Resolves once the channel is open and `welcome` arrived.
// frames: every frame received ({text} or {bin: Buffer}); events: the parsed JSON ones.
export async function connectPeer(server, room, peerId, { token, timeoutMs = 15000 } = {}) {
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
    return withTimeout(new Promise((res) => peer.waiters.push({ pred, res })), ms, `${peerId}: waiting for ${what}`);
  };
  peer.waitEvent = (type, pred = () => true, ms = 10000) =>
    peer.waitFrame((f) => f.event && f.event.type === type && pred(f.event), ms, `event ${type}`);
  peer.sendText = (s) => dc.send(s);
  peer.sendBinary = (buf) => dc.send(new Uint8Array(buf));
  peer.close = () => { try { dc.close(); } catch { /* */ } try { pc.close(); } catch { /* */ } };
  peer.waitClosed = (ms = 10000) => withTimeout(closedP, ms, `${peerId}: channel close`);

  const opened = new Promise((res) => { dc.onopen = () => res(); });
  try {
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const body = { room, peer_id: peerId, offer: { sdp: pc.localDescription.sdp, type: 'offer' } };
    if (token) body.token = token;
    const r = await server.request('POST', '/offer', body);
    if (r.status !== 200 || !r.json || r.json.type !== 'answer') {
      throw new Error(`POST /offer ${room}/${peerId}: ${r.status} ${r.text.slice(0, 300)}`);
    }
    peer.answer = r.json;
    peer.token = r.json.token;
    await pc.setRemoteDescription({ type: 'answer', sdp: r.json.sdp });
    await withTimeout(opened, timeoutMs, `${peerId}: channel open`);
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
