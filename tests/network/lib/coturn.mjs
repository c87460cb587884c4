// A real coturn (Debian's `turnserver`, installed by scripts/setup.sh) for the network suite:
// TURN REST API credentials (use-auth-secret + static-auth-secret), listening and relaying on
// 127.0.0.1 only, UDP and TCP on one free port, a small relay port range, no CLI, no TLS/DTLS,
// verbose log on stdout (kept in memory: each ALLOCATE, CREATE_PERMISSION, CHANNEL_BIND and
// 401 is a line), everything it writes (config, pid file, its SQLite database) in a temporary
// directory that stop() removes.
//
//   const turn = await startCoturn({ secret: 's3cret' });
//   turn.url('udp')                      // 'turn:127.0.0.1:<port>?transport=udp'
//   await turn.waitForLine(/ALLOCATE processed, success/);
//   await turn.stop();
//
// Quirks of coturn 4.6.1 that this works around or relies on:
// * Without `userdb` it opens /var/lib/turn/turndb (a machine-wide file) even when only the
//   static secret is used; here the database lives in the temporary directory.
// * `allow-loopback-peers` is needed because the peer (peerrtc-server) is on 127.0.0.1; coturn
//   refuses loopback peers by default and warns that this is for tests only.
// * It logs "socket: Protocol not supported" at start (its SCTP listener; harmless).
// * The "listener opened" lines are printed only with `verbose`; so are the per-session lines.
// * SIGTERM ends it by the default signal action (no clean exit code), so stop() expects that.
// Env: PEERRTC_TURNSERVER (default turnserver), PEERRTC_VERBOSE=1 forwards its log to stderr.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withTimeout } from '../../lib/server.mjs';

export const TURNSERVER = process.env.PEERRTC_TURNSERVER || 'turnserver';
const START_TIMEOUT_MS = 10000;
const OUTPUT_KEEP = 1024 * 1024;

function bindUdp(port) {
  return new Promise((res) => {
    const s = createSocket('udp4');
    s.once('error', () => { s.close(); res(false); });
    s.bind(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

function bindTcp(port) {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(null));
    s.listen(port, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
  });
}

// A port free for both TCP and UDP on 127.0.0.1 (the kernel picks a TCP one; UDP is checked).
async function freeTcpUdpPort() {
  for (let i = 0; i < 50; i++) {
    const p = await bindTcp(0);
    if (p && await bindUdp(p)) return p;
  }
  throw new Error('no port free for both TCP and UDP on 127.0.0.1');
}

// `count` consecutive UDP ports free on 127.0.0.1, below the kernel's ephemeral range (so the
// other processes of a test run are unlikely to take them meanwhile).
async function freeUdpRange(count) {
  for (let i = 0; i < 50; i++) {
    const base = 20000 + Math.floor(Math.random() * 10000);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await bindUdp(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free UDP ports on 127.0.0.1`);
}

/**
 * Starts coturn and resolves once its UDP and TCP listeners are open. Options: secret (the
 * static-auth-secret), realm, relayPorts (size of the relay range, default 20), name.
 * The result: {port, minPort, maxPort, dir, secret, realm, url(transport), output(), lines,
 * waitForLine(re, ms), linesMatching(re), exited, stop()}.
 */
export async function startCoturn({ secret, realm = 'peerrtc.test', relayPorts = 20, name = 'coturn' } = {}) {
  if (!secret) throw new Error('startCoturn: a secret is needed');
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeTcpUdpPort();
    const minPort = await freeUdpRange(relayPorts);
    try {
      return await launch({ secret, realm, port, minPort, maxPort: minPort + relayPorts - 1, name });
    } catch (e) {
      lastError = e; // most likely a port taken between the check and coturn's bind: try others
    }
  }
  throw lastError;
}

async function launch({ secret, realm, port, minPort, maxPort, name }) {
  const dir = mkdtempSync(join(tmpdir(), 'peerrtc-coturn-'));
  const conf = join(dir, 'turnserver.conf');
  writeFileSync(conf, [
    '# Written by tests/network/lib/coturn.mjs for one test file; removed by stop().',
    'listening-ip=127.0.0.1',
    `listening-port=${port}`,
    'relay-ip=127.0.0.1',
    `min-port=${minPort}`,
    `max-port=${maxPort}`,
    'use-auth-secret',
    `static-auth-secret=${secret}`,
    `realm=${realm}`,
    'allow-loopback-peers',
    'no-multicast-peers',
    'no-cli',
    'no-tls',
    'no-dtls',
    'no-software-attribute',
    'log-file=stdout',
    'simple-log',
    'verbose',
    `pidfile=${join(dir, 'turnserver.pid')}`,
    `userdb=${join(dir, 'turndb')}`,
    '',
  ].join('\n'));

  const child = spawn(TURNSERVER, ['-c', conf], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const lines = [];
  const waiters = new Set();
  let buf = '';
  const onData = (stream) => (chunk) => {
    const s = chunk.toString();
    if (process.env.PEERRTC_VERBOSE) process.stderr.write(s.replace(/^(?=.)/gm, `[${name} ${stream}] `));
    output += s;
    if (output.length > OUTPUT_KEEP) output = output.slice(-OUTPUT_KEEP);
    buf += s;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) w(line);
    }
  };
  child.stdout.on('data', onData('out'));
  child.stderr.on('data', onData('err'));
  let exitInfo = null;
  const exited = new Promise((res) => child.on('exit', (code, signal) => { exitInfo = { code, signal }; res(exitInfo); }));
  const spawnError = new Promise((_, rej) => child.on('error', (e) => rej(new Error(`cannot start ${TURNSERVER}: ${e.message} (apt-get install coturn)`))));
  spawnError.catch(() => {});

  const waitForLine = (re, ms = 10000, from = 0) => new Promise((res, rej) => {
    for (let i = from; i < lines.length; i++) if (re.test(lines[i])) return res(lines[i]);
    const timer = setTimeout(() => {
      waiters.delete(w);
      rej(new Error(`${name}: timed out after ${ms} ms waiting for a log line matching ${re}; log tail:\n${output.slice(-3000)}`));
    }, ms);
    const w = (line) => { if (re.test(line)) { clearTimeout(timer); waiters.delete(w); res(line); } };
    waiters.add(w);
  });

  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const esc = `127\\.0\\.0\\.1:${port}\\b`;
    await withTimeout(Promise.race([
      Promise.all([waitForLine(new RegExp(`UDP listener opened on\\s*:\\s*${esc}`), START_TIMEOUT_MS),
        waitForLine(new RegExp(`TCP listener opened on\\s*:\\s*${esc}`), START_TIMEOUT_MS)]),
      spawnError,
      exited.then((e) => { throw new Error(`${name} exited during start-up (${JSON.stringify(e)}); log:\n${output.slice(-3000)}`); }),
    ]), START_TIMEOUT_MS + 1000, `${name} to open its listeners on 127.0.0.1:${port}`);
  } catch (e) {
    if (!exitInfo) child.kill('SIGKILL');
    await withTimeout(exited, 5000, `${name} to exit`).catch(() => {});
    cleanup();
    throw e;
  }

  return {
    name,
    port,
    minPort,
    maxPort,
    dir,
    secret,
    realm,
    child,
    exited,
    lines,
    url: (transport = 'udp') => `turn:127.0.0.1:${port}?transport=${transport}`,
    output: () => output,
    waitForLine,
    linesMatching: (re) => lines.filter((l) => re.test(l)),
    exitInfo: () => exitInfo,
    // SIGTERM (coturn dies by it: signal 'SIGTERM', no exit code), SIGKILL after 5 s; removes the
    // temporary directory. Throws if coturn had exited before (it must run for the whole file).
    async stop() {
      const wasRunning = !exitInfo;
      if (wasRunning) child.kill('SIGTERM');
      try {
        await withTimeout(exited, 5000, `${name} to exit after SIGTERM`);
      } catch {
        child.kill('SIGKILL');
        await withTimeout(exited, 5000, `${name} to exit after SIGKILL`).catch(() => {});
      }
      cleanup();
      if (!wasRunning) throw new Error(`${name} had exited before stop(): ${JSON.stringify(exitInfo)}; log:\n${output.slice(-3000)}`);
      return exitInfo;
    },
  };
}
