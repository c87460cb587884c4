// Servers and peers of the network suite: peerrtc-server and peerrtc-testserver on a given
// address (tests/lib/server.mjs does the process work), wrtc peer processes (lib/peer.mjs), and
// answer checks.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binaryPath, startProcess } from '../../lib/server.mjs';
import { spawnJson } from './netns.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const PEER_SCRIPT = join(here, 'peer.mjs');

// GET /stats as JSON (throws unless 200).
async function stats(server) {
  const r = await server.request('GET', '/stats');
  if (r.status !== 200 || !r.json) throw new Error(`${server.name}: GET /stats: ${r.status} ${r.text.slice(0, 300)}`);
  return r.json;
}

/** peerrtc-testserver on `host` (HTTP and UDP ephemeral); adds stats() and events(). */
export async function startTestServer(host, { name = 'testserver', args = [] } = {}) {
  const s = await startProcess(binaryPath('peerrtc-testserver'),
    ['--host', host, '--http-port', '0', '--udp-port', '0', '--log-level', 'warn', ...args],
    { name, httpHost: host });
  s.host = host;
  s.stats = () => stats(s);
  s.events = async () => {
    const r = await s.request('GET', '/events');
    if (r.status !== 200 || !r.json) throw new Error(`${name}: GET /events: ${r.status}`);
    return r.json.events;
  };
  return s;
}

/**
 * peerrtc-server on `host` with --port 0 (one ephemeral number for HTTP, UDP and ICE-TCP, which
 * shares the HTTP port), --no-examples and the given extra args; adds stats().
 */
export async function startPeerServer(host, { name = 'server', args = [] } = {}) {
  const s = await startProcess(binaryPath('peerrtc-server'),
    ['--host', host, '--port', '0', '--no-examples', '--log-level', process.env.PEERRTC_NETWORK_SERVER_LOG_LEVEL || 'warn', ...args],
    { name, httpHost: host, expectCleanExit: true });
  s.host = host;
  s.stats = () => stats(s);
  return s;
}

/**
 * A wrtc peer process (lib/peer.mjs) with `job`; inside namespace `ns` or, when ns is null, in
 * the root namespace. The result is a message log (lib/netns.mjs spawnJson).
 */
export function startPeer(ns, job, name) {
  const args = [PEER_SCRIPT, JSON.stringify(job)];
  return ns ? ns.spawnJson(process.execPath, args, { name }) : spawnJson(process.execPath, args, { name });
}

/** The ICE-TCP part of an answer's candidates (lib/shared.js sdpCandidates()). */
export function tcpCandidates(candidates) { return candidates.filter((c) => c.protocol === 'tcp'); }

/** The ice_tcp object of /stats (throws if there is none). */
export async function iceTcpStats(server) {
  const s = await server.stats();
  if (!s.ice_tcp || typeof s.ice_tcp.accepted !== 'number') throw new Error(`${server.name}: /stats has no ice_tcp: ${JSON.stringify(s)}`);
  return s.ice_tcp;
}
