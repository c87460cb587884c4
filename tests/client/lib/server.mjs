// Starts the real peerrtc-server for one client test file (tests/lib/server.mjs does the work).
//
//   PEERRTC_SERVER=<path>  -> that binary (relative paths are relative to the repo root)
//   default                -> build/apps/peerrtc-server
//
// Started with `--host 127.0.0.1 --port 0`; it must print `READY {"http":<port>,"udp":<port>}`
// on stdout within 10 s; stop() expects exit code 0. `startServer({ httpPort, udpPort })`
// restarts on given ports (for the reconnect test) with `--port H --udp-port U`.
import { REPO_ROOT, binaryPath, startProcess } from '../../lib/server.mjs';

export { REPO_ROOT };

export function serverPath() { return binaryPath('peerrtc-server'); }

export async function startServer({ name = 'server', httpPort = 0, udpPort = 0, extraArgs = [] } = {}) {
  const ports = httpPort || udpPort ? ['--port', String(httpPort), '--udp-port', String(udpPort)] : ['--port', '0'];
  return startProcess(serverPath(), ['--host', '127.0.0.1', ...ports, ...extraArgs], { name });
}
