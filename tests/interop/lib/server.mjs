// Starts a PeerRTC test server for one interop test file (tests/lib/server.mjs does the work).
//
//   PEERRTC_REFERENCE=1        -> node tests/interop/reference-server.mjs (wrtc reference)
//   PEERRTC_TESTSERVER=<path>  -> that binary (relative paths are relative to the repo root)
//   default                    -> build/apps/peerrtc-testserver
//
// Both are started with `--host 127.0.0.1 --http-port 0 --udp-port 0` and must print
// `READY {"http":<port>,"udp":<port>}` on stdout within 10 s; stop() expects exit code 0.
// On top of the shared helper: kind, events(), stats(), offer().
import { resolve } from 'node:path';
import { REPO_ROOT, binaryPath, startProcess } from '../../lib/server.mjs';

export { REPO_ROOT };

export function serverCommand() {
  if (process.env.PEERRTC_REFERENCE === '1') {
    return { kind: 'reference', cmd: process.execPath, args: [resolve(REPO_ROOT, 'tests/interop/reference-server.mjs')] };
  }
  return { kind: 'testserver', cmd: binaryPath('peerrtc-testserver'), args: [] };
}

export function serverKind() { return serverCommand().kind; }

export async function startServer({ name = 'server' } = {}) {
  const { kind, cmd, args } = serverCommand();
  const server = await startProcess(cmd, [...args, '--host', '127.0.0.1', '--http-port', '0', '--udp-port', '0'],
    { name, missingHint: 'or use PEERRTC_REFERENCE=1' });
  const { request } = server;
  return Object.assign(server, {
    kind,
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
  });
}
