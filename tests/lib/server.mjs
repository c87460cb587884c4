// The one helper of every node suite (tests/{interop,server,client,browser,fault}) that runs a
// PeerRTC binary: spawn it in the repo root, wait for its `READY {"http":<port>,"udp":<port>}`
// stdout line, make HTTP requests to it, stop it (SIGTERM, exit code checked, SIGKILL fallback)
// and keep the tail of its output for error messages.
//
// Binaries: binaryPath(name) is the build path, or the environment variable of the table below
// (relative paths are relative to the repo root):
//   peerrtc-server      PEERRTC_SERVER         build/apps/peerrtc-server
//   peerrtc-testserver  PEERRTC_TESTSERVER     build/apps/peerrtc-testserver
//   peerrtc-testclient  PEERRTC_TESTCLIENT     build/apps/peerrtc-testclient
//   peerrtc-probe       PEERRTC_PROBE          build/apps/peerrtc-probe
//   quickstart-httplib  PEERRTC_QUICKSTART     build/examples/quickstart-httplib
//   terminal-chat       PEERRTC_TERMINAL_CHAT  build/examples/terminal-chat
// PEERRTC_VERBOSE=1 forwards every process's output to stderr, each line prefixed `[name out]`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const BINARIES = {
  'peerrtc-server': { env: 'PEERRTC_SERVER', path: 'build/apps/peerrtc-server' },
  'peerrtc-testserver': { env: 'PEERRTC_TESTSERVER', path: 'build/apps/peerrtc-testserver' },
  'peerrtc-testclient': { env: 'PEERRTC_TESTCLIENT', path: 'build/apps/peerrtc-testclient' },
  'peerrtc-probe': { env: 'PEERRTC_PROBE', path: 'build/apps/peerrtc-probe' },
  'quickstart-httplib': { env: 'PEERRTC_QUICKSTART', path: 'build/examples/quickstart-httplib' },
  'terminal-chat': { env: 'PEERRTC_TERMINAL_CHAT', path: 'build/examples/terminal-chat' },
};

const READY_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 5000;
const HTTP_TIMEOUT_MS = 10000;
const OUTPUT_KEEP = 64 * 1024;

function absolute(p) { return isAbsolute(p) ? p : resolve(REPO_ROOT, p); }

// The absolute path of a binary of the table above (its variable if set, else the build path).
export function binaryPath(name) {
  const b = BINARIES[name];
  if (!b) throw new Error(`unknown binary ${name} (known: ${Object.keys(BINARIES).join(', ')})`);
  return absolute(process.env[b.env] || b.path);
}

// `${cmd} does not exist (how to get it)` for a binary of the table, a generic hint otherwise.
export function missingBinaryMessage(cmd, extraHint = '') {
  const name = Object.keys(BINARIES).find((n) => binaryPath(n) === cmd);
  const how = name
    ? `build it: cmake --build build --target ${name}, or set ${BINARIES[name].env}`
    : 'build it first, or set its path in the environment';
  return `${cmd} does not exist (${how}${extraHint ? `, ${extraHint}` : ''})`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function withTimeout(promise, ms, what) {
  let timer;
  try {
    return await Promise.race([promise, new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    })]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts `cmd args` (cwd = repo root) and resolves once it printed a READY line with a valid
 * HTTP port. Options:
 *   name             prefix of its verbose output and of error messages ('server')
 *   env              added to the environment
 *   stdin            'ignore' (default) or 'pipe' (then write(s) sends to it)
 *   keepLines        keep every stdout line in `lines` for waitForLine (default off)
 *   readyTimeoutMs   10000; outputKeep: bytes of output tail kept (64 KiB)
 *   stopTimeoutMs    5000: how long stop() waits after its signal before SIGKILL
 *   expectCleanExit  true: stop() throws unless the exit code is 0, and throws if the process
 *                    had already exited; false: stop() returns whatever the exit was
 *   missingHint      added to the "does not exist" error
 *   httpHost         the address baseUrl and request() use ('127.0.0.1'; a server started with
 *                    --host <addr> listens only there)
 * The result: {child, name, cmd, args, http, udp, baseUrl, request, output(), exitInfo(),
 * exited (promise of {code, signal}), lines, waitForLine, write, stop, kill, stopRequested}; stopAll()
 * below stops a suite's processes in its after() and checks their exits.
 */
export async function startProcess(cmd, args = [], {
  name = 'server', env = {}, stdin = 'ignore', keepLines = false, readyTimeoutMs = READY_TIMEOUT_MS,
  outputKeep = OUTPUT_KEEP, stopTimeoutMs = STOP_TIMEOUT_MS, expectCleanExit = true, missingHint = '',
  httpHost = '127.0.0.1',
} = {}) {
  if (isAbsolute(cmd) && !existsSync(cmd)) throw new Error(missingBinaryMessage(cmd, missingHint));
  const commandLine = `${cmd} ${args.join(' ')}`.trim();
  const child = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] });

  let output = '';
  const lines = [];
  const lineWaiters = new Set();
  const keep = (stream, chunk) => {
    const s = chunk.toString();
    if (process.env.PEERRTC_VERBOSE) process.stderr.write(s.replace(/^(?=.)/gm, `[${name} ${stream}] `));
    output += s;
    if (output.length > outputKeep) output = output.slice(-outputKeep);
  };
  let exitInfo = null;
  let stopRequested = false;  // stop() or kill() was called: an exit after it is not a crash
  const exited = new Promise((res) => child.on('exit', (code, signal) => { exitInfo = { code, signal }; res(exitInfo); }));

  let readyLine = null;
  let onReadyLine = () => {};
  let stdoutBuf = '';
  child.stdout.on('data', (chunk) => {
    keep('out', chunk);
    stdoutBuf += chunk.toString();
    let nl;
    while ((nl = stdoutBuf.indexOf('\n')) >= 0) {
      const line = stdoutBuf.slice(0, nl).replace(/\r$/, '');
      stdoutBuf = stdoutBuf.slice(nl + 1);
      if (keepLines) {
        lines.push(line);
        for (const w of lineWaiters) w(line);
      }
      if (readyLine === null && /^READY \{.*\}\s*$/.test(line)) { readyLine = line; onReadyLine(line); }
    }
  });
  child.stderr.on('data', (chunk) => keep('err', chunk));

  const ready = new Promise((res, rej) => {
    onReadyLine = (line) => {
      try { res(JSON.parse(line.slice('READY '.length))); } catch { rej(new Error(`${name}: bad READY line: ${line}`)); }
    };
    child.on('error', (e) => rej(new Error(`cannot start ${cmd}: ${e.message}`)));
    exited.then(({ code, signal }) => rej(new Error(`${name}: ${commandLine} exited (code ${code}, signal ${signal}) before READY; output:\n${output}`)));
  });
  let info;
  try {
    info = await withTimeout(ready, readyTimeoutMs, `${name}: READY from ${commandLine}`).catch((e) => {
      throw /^timed out/.test(e.message) ? new Error(`${e.message}; output:\n${output}`) : e;
    });
    if (!Number.isInteger(info.http) || info.http <= 0) throw new Error(`${name}: READY has no valid http port: ${JSON.stringify(info)}`);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const baseUrl = `http://${httpHost}:${info.http}`;

  // An HTTP request; body: a string or bytes as they are, anything else as JSON.
  async function request(method, path, body, headers = {}) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), HTTP_TIMEOUT_MS);
    try {
      const init = { method, headers: { ...headers }, signal: ctl.signal };
      if (body !== undefined) {
        init.body = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
        if (!init.headers['content-type']) init.headers['content-type'] = 'application/json';
      }
      const res = await fetch(baseUrl + path, init);
      const buf = Buffer.from(await res.arrayBuffer());
      const text = buf.toString('utf8');
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, text, buf, json, contentType: res.headers.get('content-type') || '', headers: res.headers };
    } catch (e) {
      if (e.name === 'AbortError') throw new Error(`${name}: ${method} ${path} timed out after ${HTTP_TIMEOUT_MS} ms`);
      throw new Error(`${name}: ${method} ${path} failed: ${e.message}${exitInfo ? ` (server exited: ${JSON.stringify(exitInfo)})` : ''}`);
    } finally {
      clearTimeout(timer);
    }
  }

  // Resolves with the first stdout line (from index `from`, printed or to come) matching `re`.
  function waitForLine(re, timeout = 15000, from = 0) {
    if (!keepLines) throw new Error(`${name}: waitForLine needs startProcess(..., { keepLines: true })`);
    return new Promise((res, rej) => {
      for (let i = from; i < lines.length; i++) if (re.test(lines[i])) return res(lines[i]);
      const timer = setTimeout(() => {
        lineWaiters.delete(w);
        rej(new Error(`${name}: timed out after ${timeout} ms waiting for a line matching ${re}; output:\n${output}`));
      }, timeout);
      const w = (line) => { if (re.test(line)) { clearTimeout(timer); lineWaiters.delete(w); res(line); } };
      lineWaiters.add(w);
    });
  }

  return {
    child,
    name,
    cmd,
    args,
    http: info.http,
    udp: info.udp,
    tcp: info.tcp ?? null,  // ICE-TCP port (peerrtc-server, -testserver), null when off
    baseUrl,
    request,
    output: () => output,
    exitInfo: () => exitInfo,
    exited,
    lines,
    waitForLine,
    write: (s) => child.stdin.write(s),
    // Sends `signal` and waits up to `timeoutMs`: resolves {code, signal, ms}; SIGKILL and throws
    // if it does not exit in time; with expectCleanExit, throws unless it exits 0.
    async stop({ signal = 'SIGTERM', timeoutMs = stopTimeoutMs, expectCleanExit: clean = expectCleanExit } = {}) {
      const alreadyStopped = stopRequested;
      stopRequested = true;
      if (exitInfo) {
        if (alreadyStopped) return { ...exitInfo, ms: 0 };  // stopped before: that stop() checked it
        if (clean) throw new Error(`${name} had already exited: ${JSON.stringify(exitInfo)}; output:\n${output}`);
        return { ...exitInfo, ms: 0 };
      }
      const t0 = Date.now();
      child.kill(signal);
      let res;
      try {
        res = await withTimeout(exited, timeoutMs, `${name} to exit after ${signal}`);
      } catch (e) {
        child.kill('SIGKILL');
        throw new Error(`${name} did not exit within ${timeoutMs} ms of ${signal}; output:\n${output.slice(-4000)}`);
      }
      if (clean && res.code !== 0) {
        throw new Error(`${name} exited with code ${res.code} signal ${res.signal} after ${signal} (expected 0); output:\n${output.slice(-4000)}`);
      }
      return { ...res, ms: Date.now() - t0 };
    },
    kill() { stopRequested = true; if (!exitInfo) child.kill('SIGKILL'); },
    // True once stop() or kill() was called (stopAll() leaves such a process alone).
    stopRequested: () => stopRequested,
  };
}

// For a suite's after(): stops (SIGTERM) every process of `procs` still running and checks that
// each exits 0, including those started with expectCleanExit false; a process that exited with
// no stop() or kill() asked for (a crash, a LeakSanitizer report at exit...) is an error too.
// One that a test stopped or killed itself is left alone: that test checked its exit, or killed
// it on purpose. Throws one error naming every process that did not end cleanly, after trying
// them all (the others are SIGKILLed).
export async function stopAll(procs) {
  const errors = [];
  for (const p of procs) {
    if (!p || p.stopRequested()) continue;
    const info = p.exitInfo();
    if (info) {
      errors.push(`${p.name} exited by itself (code ${info.code}, signal ${info.signal}); output:\n${p.output().slice(-3000)}`);
      continue;
    }
    try {
      await p.stop({ expectCleanExit: true });
    } catch (e) {
      errors.push(e.message);
      p.kill();
    }
  }
  if (errors.length) throw new Error(`${errors.length} process(es) did not end cleanly:\n${errors.join('\n')}`);
}

