// Starts a PeerRTC test server for one interop test file.
//
//   PEERRTC_REFERENCE=1        -> node tests/interop/reference-server.mjs (wrtc reference)
//   PEERRTC_TESTSERVER=<path>  -> that binary (relative paths are relative to the repo root)
//   default                    -> build/apps/peerrtc-testserver
//
// Both are started with `--host 127.0.0.1 --http-port 0 --udp-port 0` and must print
// `READY {"http":<port>,"udp":<port>}` on stdout within 10 s.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const READY_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 5000;
const HTTP_TIMEOUT_MS = 10000;
const LOG_KEEP = 64 * 1024;

export function serverCommand() {
  if (process.env.PEERRTC_REFERENCE === '1') {
    return { kind: 'reference', cmd: process.execPath, args: [resolve(REPO_ROOT, 'tests/interop/reference-server.mjs')] };
  }
  const p = process.env.PEERRTC_TESTSERVER || 'build/apps/peerrtc-testserver';
  return { kind: 'testserver', cmd: isAbsolute(p) ? p : resolve(REPO_ROOT, p), args: [] };
}

export function serverKind() { return serverCommand().kind; }

export async function startServer({ name = 'server' } = {}) {
  const { kind, cmd, args } = serverCommand();
  if (kind === 'testserver' && !existsSync(cmd)) {
    throw new Error(`test server binary ${cmd} does not exist (build it, set PEERRTC_TESTSERVER, or use PEERRTC_REFERENCE=1)`);
  }
  const fullArgs = [...args, '--host', '127.0.0.1', '--http-port', '0', '--udp-port', '0'];
  const child = spawn(cmd, fullArgs, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (prefix, chunk) => {
    const s = chunk.toString();
    if (process.env.PEERRTC_VERBOSE) process.stderr.write(s.replace(/^/gm, `[${name} ${prefix}] `));
    output += s;
    if (output.length > LOG_KEEP) output = output.slice(-LOG_KEEP);
  };
  const exited = new Promise((res) => child.on('exit', (code, sig) => res({ code, signal: sig })));
  let exitInfo = null;
  exited.then((x) => { exitInfo = x; });

  let stdoutBuf = '';
  const ready = new Promise((res, rej) => {
    child.stdout.on('data', (chunk) => {
      keep('out', chunk);
      stdoutBuf += chunk.toString();
      let nl;
      while ((nl = stdoutBuf.indexOf('\n')) >= 0) {
        const line = stdoutBuf.slice(0, nl).replace(/\r$/, '');
        stdoutBuf = stdoutBuf.slice(nl + 1);
        const m = /^READY (\{.*\})\s*$/.exec(line);
        if (m) {
          try { res(JSON.parse(m[1])); } catch (e) { rej(new Error(`bad READY line: ${line}`)); }
        }
      }
    });
    child.stderr.on('data', (chunk) => keep('err', chunk));
    child.on('error', (e) => rej(new Error(`cannot start ${cmd}: ${e.message}`)));
    exited.then(({ code, signal }) => rej(new Error(`${cmd} exited (code ${code}, signal ${signal}) before READY; output:\n${output}`)));
  });
  let timer;
  let info;
  try {
    info = await Promise.race([
      ready,
      new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${cmd} did not print READY within ${READY_TIMEOUT_MS} ms; output:\n${output}`)), READY_TIMEOUT_MS); }),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  } finally {
    clearTimeout(timer);
  }
  if (!Number.isInteger(info.http) || info.http <= 0) {
    child.kill('SIGKILL');
    throw new Error(`READY has no valid http port: ${JSON.stringify(info)}`);
  }
  const base = `http://127.0.0.1:${info.http}`;

  async function request(method, path, body) {
    const ctl = new AbortController();
    const timer2 = setTimeout(() => ctl.abort(), HTTP_TIMEOUT_MS);
    try {
      const res = await fetch(base + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
        signal: ctl.signal,
      });
      const text = await res.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, text, json, contentType: res.headers.get('content-type') };
    } catch (e) {
      if (e.name === 'AbortError') throw new Error(`${method} ${path} timed out after ${HTTP_TIMEOUT_MS} ms`);
      throw new Error(`${method} ${path} failed: ${e.message}${exitInfo ? ` (server exited: ${JSON.stringify(exitInfo)})` : ''}`);
    } finally {
      clearTimeout(timer2);
    }
  }

  return {
    kind,
    httpPort: info.http,
    udpPort: info.udp,
    baseUrl: base,
    request,
    output: () => output,
    exited: () => exitInfo,
    async events() {
      const r = await request('GET', '/events');
      if (r.status !== 200 || !r.json || !Array.isArray(r.json.events)) {
        throw new Error(`GET /events: status ${r.status}, body ${r.text.slice(0, 300)}`);
      }
      return r.json.events;
    },
    // GET /stats (wire counters) of peerrtc-testserver; null for the reference server.
    async stats() {
      const r = await request('GET', '/stats');
      if (r.status === 404) return null;
      if (r.status !== 200 || !r.json) throw new Error(`GET /stats: status ${r.status}, body ${r.text.slice(0, 300)}`);
      return r.json;
    },
    // POST /offer; returns the answer SDP or throws with the server's error.
    async offer(room, peerId, sdp) {
      const r = await request('POST', '/offer', { room, peer_id: peerId, offer: { sdp, type: 'offer' } });
      if (r.status !== 200 || !r.json || r.json.type !== 'answer' || typeof r.json.sdp !== 'string') {
        throw new Error(`POST /offer for ${peerId}: status ${r.status}, body ${r.text.slice(0, 500)}`);
      }
      return r.json.sdp;
    },
    async stop() {
      if (exitInfo) throw new Error(`server had already exited: ${JSON.stringify(exitInfo)}; output:\n${output}`);
      child.kill('SIGTERM');
      let t3;
      const res = await Promise.race([
        exited,
        new Promise((r) => { t3 = setTimeout(() => r(null), STOP_TIMEOUT_MS); }),
      ]);
      clearTimeout(t3);
      if (!res) {
        child.kill('SIGKILL');
        throw new Error(`server did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM; output:\n${output.slice(-4000)}`);
      }
      if (res.code !== 0) throw new Error(`server exited with code ${res.code} signal ${res.signal} after SIGTERM (expected 0); output:\n${output.slice(-4000)}`);
      return res;
    },
    kill() { if (!exitInfo) child.kill('SIGKILL'); },
  };
}
