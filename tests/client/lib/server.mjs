// Starts the real peerrtc-server for one client test file (tests/lib/server.mjs does the work).
//
//   PEERRTC_SERVER=<path>  -> that binary (relative paths are relative to the repo root)
//   default                -> build/apps/peerrtc-server
//
// Started with `--host 127.0.0.1 --port 0`; it must print `READY {"http":<port>,"udp":<port>}`
// on stdout within 10 s; stop() expects exit code 0. `startServer({ httpPort, udpPort })`
// restarts on given ports (for the reconnect test): the flags are taken from the binary's --help
// (`--http-port`/`--udp-port` if it has them, else `--port`).
import { spawnSync } from 'node:child_process';
import { REPO_ROOT, binaryPath, startProcess } from '../../lib/server.mjs';

export { REPO_ROOT };

export function serverPath() { return binaryPath('peerrtc-server'); }

let helpCache;
function serverHelp(cmd) {
  if (helpCache === undefined) {
    const r = spawnSync(cmd, ['--help'], { encoding: 'utf8', timeout: 5000 });
    helpCache = `${r.stdout || ''}${r.stderr || ''}`;
  }
  return helpCache;
}

// The command line for the requested ports; `pinsUdp` says whether the UDP port can be chosen.
export function portArgs(cmd, httpPort = 0, udpPort = 0) {
  const help = serverHelp(cmd);
  const hasHttpPort = /--http-port\b/.test(help);
  const hasUdpPort = /--udp-port\b/.test(help);
  const args = [];
  if (hasHttpPort) args.push('--http-port', String(httpPort));
  else args.push('--port', String(httpPort));
  if (hasUdpPort) args.push('--udp-port', String(udpPort));
  return { args, pinsUdp: hasUdpPort || (!hasHttpPort && httpPort === udpPort) };
}

// The shared server object plus `pinsUdp` (whether the UDP port could be chosen).
export async function startServer({ name = 'server', httpPort = 0, udpPort = 0, extraArgs = [] } = {}) {
  const cmd = serverPath();
  const { args: pargs, pinsUdp } = httpPort || udpPort ? portArgs(cmd, httpPort, udpPort) : { args: ['--port', '0'], pinsUdp: true };
  const server = await startProcess(cmd, ['--host', '127.0.0.1', ...pargs, ...extraArgs], { name });
  server.pinsUdp = pinsUdp;
  return server;
}
