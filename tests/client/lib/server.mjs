// Starts the real peerrtc-server for one client test file.
//
//   PEERRTC_SERVER=<path>  -> that binary (relative paths are relative to the repo root)
//   default                -> build/apps/peerrtc-server
//
// Started with `--host 127.0.0.1 --port 0`; it must print `READY {"http":<port>,"udp":<port>}`
// on stdout within 10 s. `startServer({ httpPort, udpPort })` restarts on given ports (for the
// reconnect test): the flags are taken from the binary's --help (`--http-port`/`--udp-port` if
// it has them, else `--port`).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const READY_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 5000;
const LOG_KEEP = 64 * 1024;

export function serverPath() {
  const p = process.env.PEERRTC_SERVER || 'build/apps/peerrtc-server';
  return isAbsolute(p) ? p : resolve(REPO_ROOT, p);
}

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

export async function startServer({ name = 'server', httpPort = 0, udpPort = 0, extraArgs = [] } = {}) {
  const cmd = serverPath();
  if (!existsSync(cmd)) {
    throw new Error(`server binary ${cmd} does not exist (build it: cmake --build build --target peerrtc-server, or set PEERRTC_SERVER)`);
  }
  const { args: pargs, pinsUdp } = httpPort || udpPort ? portArgs(cmd, httpPort, udpPort) : { args: ['--port', '0'], pinsUdp: true };
  const args = ['--host', '127.0.0.1', ...pargs, ...extraArgs];
  const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (prefix, chunk) => {
    const s = chunk.toString();
    if (process.env.PEERRTC_VERBOSE) process.stderr.write(s.replace(/^/gm, `[${name} ${prefix}] `));
    output += s;
    if (output.length > LOG_KEEP) output = output.slice(-LOG_KEEP);
  };
  let exitInfo = null;
  const exited = new Promise((res) => child.on('exit', (code, signal) => { exitInfo = { code, signal }; res(exitInfo); }));

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
          try { res(JSON.parse(m[1])); } catch { rej(new Error(`bad READY line: ${line}`)); }
        }
      }
    });
    child.stderr.on('data', (chunk) => keep('err', chunk));
    child.on('error', (e) => rej(new Error(`cannot start ${cmd}: ${e.message}`)));
    exited.then(({ code, signal }) => rej(new Error(`${cmd} ${args.join(' ')} exited (code ${code}, signal ${signal}) before READY; output:\n${output}`)));
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
  const baseUrl = `http://127.0.0.1:${info.http}`;

  async function request(method, path, body) {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), 10000);
    try {
      const res = await fetch(baseUrl + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
        signal: ctl.signal,
      });
      const text = await res.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, text, json };
    } finally {
      clearTimeout(t);
    }
  }

  return {
    httpPort: info.http,
    udpPort: info.udp,
    pinsUdp,
    args,
    baseUrl,
    request,
    output: () => output,
    exited: () => exitInfo,
    async stop({ expectCleanExit = true } = {}) {
      if (exitInfo) throw new Error(`server had already exited: ${JSON.stringify(exitInfo)}; output:\n${output.slice(-4000)}`);
      child.kill('SIGTERM');
      let t3;
      const res = await Promise.race([exited, new Promise((r) => { t3 = setTimeout(() => r(null), STOP_TIMEOUT_MS); })]);
      clearTimeout(t3);
      if (!res) {
        child.kill('SIGKILL');
        throw new Error(`server did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM; output:\n${output.slice(-4000)}`);
      }
      if (expectCleanExit && res.code !== 0) throw new Error(`server exited with code ${res.code} signal ${res.signal} after SIGTERM (expected 0); output:\n${output.slice(-4000)}`);
      return res;
    },
    kill() { if (!exitInfo) child.kill('SIGKILL'); },
  };
}
