// The non-JS stacks the node suites drive as child processes: aiortc (Debian python3-aiortc,
// run by /usr/bin/python3) and pion (Debian's golang pion/webrtc v3, built here in GOPATH mode).
//
//   aiortcCommand(args)          -> {cmd, args} for tests/interop/stacks/aiortc_client.py
//   await pionBinaries()         -> {client, relay}: builds tests/interop/stacks/pion_client and
//                                   bench/pion_relay once per process (build-pion.sh; GOPATH and
//                                   GOCACHE under build/stacks); pionClientPath() the client
//   await runClient(cmd, args)   -> {code, signal, out, ms}: runs to the end (bounded), output kept
//   parseSummary(out)            -> {passed, failed, skipped} from `N passed, M failed, K skipped`
//   skipLines(out)               -> the `SKIP: <cell>: <reason>` lines
//   spawnLineClient(cmd, args)   -> a client speaking JSON lines on stdin/stdout (room mode)
//   killAll()                    -> SIGKILLs every child started here that is still running (after)
//
// Env: PEERRTC_PYTHON (default /usr/bin/python3: Debian's interpreter, which has aiortc; the
// python3 first on PATH may be another one), PEERRTC_PION_CLIENT (a prebuilt pion-client: no
// build; with PEERRTC_PION_RELAY), PEERRTC_STACKS_BUILD (default build/stacks), PEERRTC_VERBOSE=1 (child stderr shown).
import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { REPO_ROOT, withTimeout } from '../../lib/server.mjs';

export const PYTHON = process.env.PEERRTC_PYTHON || '/usr/bin/python3';
export const AIORTC_CLIENT = resolve(REPO_ROOT, 'tests/interop/stacks/aiortc_client.py');
const BUILD_PION = resolve(REPO_ROOT, 'tests/interop/stacks/build-pion.sh');
const STACKS_BUILD = resolve(REPO_ROOT, process.env.PEERRTC_STACKS_BUILD || 'build/stacks');
const VERBOSE = !!process.env.PEERRTC_VERBOSE;

const live = new Set();

export function killAll() {
  for (const child of live) { try { child.kill('SIGKILL'); } catch { /* gone */ } }
  live.clear();
}

// Throws a clear error unless Debian's python has aiortc.
export function checkAiortc() {
  const r = spawnSync(PYTHON, ['-c', 'import aiortc; print(aiortc.__version__)'], { encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) {
    throw new Error(`${PYTHON} cannot import aiortc (${(r.stderr || r.error || '').toString().trim().split('\n').pop()}); ` +
      'install python3-aiortc (scripts/setup.sh), or set PEERRTC_PYTHON to an interpreter that has it');
  }
  return r.stdout.trim();
}

export function aiortcCommand(args) { return { cmd: PYTHON, args: [AIORTC_CLIENT, ...args] }; }

let pionBuild;
// {client, relay}: the pion programs' paths, built on first use (build-pion.sh; a fresh machine
// compiles pion: a minute or two). PEERRTC_PION_CLIENT / PEERRTC_PION_RELAY: prebuilt ones.
export function pionBinaries() {
  const { PEERRTC_PION_CLIENT: c, PEERRTC_PION_RELAY: r } = process.env;
  if (c && r) return Promise.resolve({ client: resolve(REPO_ROOT, c), relay: resolve(REPO_ROOT, r) });
  if (!pionBuild) {
    pionBuild = runClient('bash', [BUILD_PION, STACKS_BUILD], { timeoutMs: 600000, name: 'build-pion' }).then((res) => {
      if (res.code !== 0) throw new Error(`building the pion programs failed (exit ${res.code}, signal ${res.signal}):\n${res.out}`);
      const path = (name) => {
        const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(res.out);
        if (!m) throw new Error(`build-pion.sh printed no ${name} path:\n${res.out}`);
        return m[1];
      };
      return { client: c ? resolve(REPO_ROOT, c) : path('pion-client'), relay: r ? resolve(REPO_ROOT, r) : path('pion-relay') };
    });
  }
  return pionBuild;
}

export async function pionClientPath() { return (await pionBinaries()).client; }

// Runs `cmd args` to its end, or SIGKILLs it after timeoutMs; stdout and stderr interleaved.
export function runClient(cmd, args, { timeoutMs = 120000, name = 'client', env = {} } = {}) {
  const t0 = Date.now();
  return new Promise((res) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let out = '';
    const keep = (stream) => (c) => {
      out += c;
      if (VERBOSE) process.stderr.write(String(c).replace(/^(?=.)/gm, `[${name} ${stream}] `));
    };
    child.stdout.on('data', keep('out'));
    child.stderr.on('data', keep('err'));
    let killed = false;
    const timer = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, timeoutMs);
    child.on('error', (e) => { out += `\ncannot start ${cmd}: ${e.message}\n`; });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      if (killed) out += `\n${name}: killed after ${timeoutMs} ms\n`;
      res({ code, signal, out, ms: Date.now() - t0 });
    });
  });
}

// The end of a child's output for an error message, long lines (hex payloads) shortened.
function tail(out, n = 4000) {
  return out.slice(-n).split('\n').map((l) => (l.length > 300 ? `${l.slice(0, 300)}... (${l.length} chars)` : l)).join('\n');
}

export function parseSummary(out) {
  const m = /^(\d+) passed, (\d+) failed, (\d+) skipped$/m.exec(out);
  return m ? { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3]) } : null;
}

export function skipLines(out) { return out.split('\n').filter((l) => l.startsWith('SKIP: ')); }

/**
 * A client in room mode: JSON lines out (`{"ev":...}`), JSON lines in (`{"op":...}`).
 * Returns {child, events, send(op), waitFor(pred, ms, what), output(), exited, kill()}.
 */
export function spawnLineClient(cmd, args, { name = 'client' } = {}) {
  const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  const events = [];
  const waiters = new Set();
  let out = '';
  let buf = '';
  let exitInfo = null;
  const exited = new Promise((res) => child.on('close', (code, signal) => {
    live.delete(child);
    exitInfo = { code, signal };
    for (const w of waiters) w();
    res(exitInfo);
  }));
  child.on('error', (e) => { out += `cannot start ${cmd}: ${e.message}\n`; });
  child.stdout.on('data', (c) => {
    buf += c;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      out += `${line}\n`;
      if (out.length > 65536) out = out.slice(-65536);
      if (VERBOSE) process.stderr.write(`[${name} out] ${line.slice(0, 300)}\n`);
      let ev;
      try { ev = JSON.parse(line); } catch { continue; }
      events.push(ev);
      for (const w of waiters) w();
    }
  });
  child.stderr.on('data', (c) => {
    out += c;
    if (VERBOSE) process.stderr.write(String(c).replace(/^(?=.)/gm, `[${name} err] `));
  });
  child.stdin.on('error', () => {}); // it may be gone already; exitInfo says so
  return {
    child,
    events,
    output: () => tail(out),
    exited,
    send(op) { child.stdin.write(`${JSON.stringify(op)}\n`); },
    // Resolves with the first event (already seen or to come) for which pred is truthy.
    waitFor(pred, ms, what) {
      const found = () => events.find(pred);
      if (found()) return Promise.resolve(found());
      let w;
      return withTimeout(new Promise((res, rej) => {
        w = () => {
          const hit = found();
          if (hit) res(hit);
          else if (exitInfo) rej(new Error(`${name} exited (${JSON.stringify(exitInfo)}) while waiting for ${what}; output:\n${tail(out)}`));
        };
        waiters.add(w);
      }), ms, `${name}: ${what}; output:\n${tail(out)}`).finally(() => waiters.delete(w));
    },
    kill() { if (!exitInfo) child.kill('SIGKILL'); },
  };
}
