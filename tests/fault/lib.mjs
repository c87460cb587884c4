// Helpers of the fault tests: the server and wrtc helpers of tests/server (whose startServer is
// tests/lib/server.mjs), the native probe (apps/probe.cpp), /proc readings of the server, and JS
// clients (clients/js) on wrtc.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { REPO_ROOT, binaryPath, missingBinaryMessage, withTimeout } from '../lib/server.mjs';

export { startServer, SERVER_BIN, connectPeer, sleep, withTimeout, uniqueId, REPO_ROOT } from '../server/lib.mjs';
// makeClient(server, room, peerId, options): a JS client (clients/js/peerrtc-client.js) on wrtc.
export { makeClient, waitFor, flush, closeAll } from '../client/lib/util.mjs';

export const PROBE_BIN = binaryPath('peerrtc-probe');

// Resident set (KiB) and open file descriptors of a process.
export function procStats(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)[1]);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  return { rssKiB: rss, fds };
}

function checkProbe() {
  if (!existsSync(PROBE_BIN)) throw new Error(missingBinaryMessage(PROBE_BIN));
}

function spawnProbe(args) {
  checkProbe();
  const child = spawn(PROBE_BIN, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { child, stdout: '', stderr: '', lines: [] };
  let buf = '';
  child.stdout.on('data', (c) => {
    p.stdout += c;
    buf += c;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) { p.lines.push(buf.slice(0, nl)); buf = buf.slice(nl + 1); }
    if (process.env.PEERRTC_VERBOSE) process.stderr.write(String(c).replace(/^/gm, '[probe out] '));
  });
  child.stderr.on('data', (c) => {
    p.stderr += c;
    if (process.env.PEERRTC_VERBOSE) process.stderr.write(String(c).replace(/^/gm, '[probe err] '));
  });
  p.exited = new Promise((res) => child.on('exit', (code, signal) => { p.exit = { code, signal }; res(p.exit); }));
  p.line = (tag) => {
    const l = p.lines.find((x) => x.startsWith(`${tag} `));
    return l ? JSON.parse(l.slice(tag.length + 1)) : null;
  };
  p.kill = (sig = 'SIGKILL') => { if (!p.exit) child.kill(sig); };
  return p;
}

// Runs the probe to completion: {code, result (its RESULT json), stdout, stderr}.
export async function runProbe(server, args, timeoutMs = 60000) {
  const p = spawnProbe(['--port', String(server.http), ...args]);
  try {
    const { code } = await withTimeout(p.exited, timeoutMs, `peerrtc-probe ${args.join(' ')}`);
    const result = p.line('RESULT');
    if (!result) throw new Error(`probe printed no RESULT (exit ${code}); stdout:\n${p.stdout}\nstderr:\n${p.stderr}`);
    return { code, result, stdout: p.stdout, stderr: p.stderr };
  } catch (e) {
    p.kill();
    throw e;
  }
}

// Starts a probe that stays (--stuck, --cut-after-join); resolves once it printed READY.
export async function startProbe(server, args, timeoutMs = 15000) {
  const p = spawnProbe(['--port', String(server.http), ...args]);
  const t0 = Date.now();
  for (;;) {
    const r = p.line('READY');
    if (r) { p.ready = r; return p; }
    if (p.exit || Date.now() - t0 > timeoutMs) {
      p.kill();
      throw new Error(`probe ${args.join(' ')} not READY (exit ${JSON.stringify(p.exit)}); stdout:\n${p.stdout}\nstderr:\n${p.stderr}`);
    }
    await new Promise((r2) => setTimeout(r2, 20));
  }
}

// Counts lines of a server's output matching `re` from now on (tests/server's startServer keeps
// only the tail of the output).
export function countLines(server, re) {
  const counter = { count: 0, buf: '' };
  const on = (c) => {
    counter.buf += c;
    let nl;
    while ((nl = counter.buf.indexOf('\n')) >= 0) {
      if (re.test(counter.buf.slice(0, nl))) counter.count++;
      counter.buf = counter.buf.slice(nl + 1);
    }
  };
  server.child.stdout.on('data', on);
  server.child.stderr.on('data', on);
  return counter;
}
