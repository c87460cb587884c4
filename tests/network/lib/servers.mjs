// Servers and peers of the network suite: peerrtc-server and peerrtc-testserver on a given
// address (tests/lib/server.mjs does the process work), wrtc peer processes (lib/peer.mjs), and
// answer checks.
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binaryPath, startProcess } from '../../lib/server.mjs';
import { spawnJson } from './netns.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const PEER_SCRIPT = join(here, 'peer.mjs');

const helpCache = new Map();
// Whether `--help` of a binary lists `flag`.
export function hasFlag(name, flag) {
  const bin = binaryPath(name);
  if (!helpCache.has(bin)) {
    const r = spawnSync(bin, ['--help'], { encoding: 'utf8', timeout: 5000 });
    helpCache.set(bin, `${r.stdout || ''}${r.stderr || ''}`);
  }
  return new RegExp(`${flag.replace(/[-]/g, '\\-')}\\b`).test(helpCache.get(bin));
}

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

// A port number free for both TCP and UDP on `host` right now.
async function freePort(host) {
  for (let i = 0; i < 20; i++) {
    const srv = net.createServer();
    await new Promise((res, rej) => { srv.once('error', rej); srv.listen(0, host, res); });
    const port = srv.address().port;
    const sock = dgram.createSocket('udp4');
    const udpFree = await new Promise((res) => { sock.once('error', () => res(false)); sock.bind(port, host, () => res(true)); });
    if (udpFree) sock.close();
    await new Promise((res) => srv.close(res));
    if (udpFree) return port;
  }
  throw new Error(`no port free for both TCP and UDP on ${host}`);
}

/**
 * peerrtc-server on `host` with HTTP and UDP on the same port number (its default, which ICE-TCP
 * shares with HTTP), --no-examples, the given extra args; adds stats(). Retries on a port
 * taken between the probe and the start (exit code 1).
 */
export async function startPeerServer(host, { name = 'server', args = [], samePort = true } = {}) {
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = samePort ? await freePort(host) : 0;
    try {
      const s = await startProcess(binaryPath('peerrtc-server'),
        ['--host', host, '--port', String(port), '--no-examples', '--log-level', 'warn', ...args],
        { name, httpHost: host, expectCleanExit: true });
      s.host = host;
      s.stats = () => stats(s);
      return s;
    } catch (e) {
      lastErr = e;
      if (!/exited \(code 1,/.test(e.message)) throw e;
    }
  }
  throw lastErr;
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

/** The ice_tcp object of /stats, or null if the server has none (before ICE-TCP). */
export async function iceTcpStats(server) { return (await server.stats()).ice_tcp ?? null; }
