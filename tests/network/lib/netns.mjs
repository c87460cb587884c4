// Network namespaces for the network suite: a namespace joined to the root namespace by a veth
// pair on its own 10.213.X.0/24 (root side .1, namespace side .2, no other route, IPv6 off),
// optional iptables rules inside it, node scripts and Chromium run inside it, and cleanup.
//
//   const ns = await createNetns({ udp: 'dropped' });   // or 'allowed' (a counting ACCEPT rule)
//   ns.rootIp / ns.nsIp                                  // bind servers to ns.rootIp
//   const p = ns.spawnJson(process.execPath, [script, ...])  // stdout JSON lines -> p.messages
//   const b = await ns.launchChromium()                  // playwright persistent context
//   await ns.udpCounters()                               // packets the UDP rules matched
//   await ns.destroy()                                   // kills what runs inside, deletes all
//
// Names: namespace `pnt-<pid>-<n>`, veths `pnt<pid>r<n>` (root) / `pnt<pid>n<n>` (inside), temp
// files `pnt-<pid>-*` in the temp dir. The pid is the test process's: cleanupStale() (called by
// createNetns once per process) removes the objects of processes that no longer exist (and the
// peerrtc-* servers still listening on such a namespace's root-side address), so a test process
// that was killed leaves nothing behind after the next run, and two runs side by side never
// touch each other's objects. Every rule lives inside a namespace (its netfilter tables go
// with it); nothing is added to the root namespace's iptables. Needs root.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, withTimeout } from '../../lib/server.mjs';

export const PREFIX = 'pnt';
const NS_RE = /^pnt-(\d+)-(\d+)$/;
const VETH_RE = /^pnt(\d+)[rn](\d+)$/;
const TMP_RE = /^pnt-(\d+)-/;
const SUBNET_BASE = '10.213';
const VERBOSE = !!process.env.PEERRTC_VERBOSE;

export const CHROMIUM = process.env.PEERRTC_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--allow-loopback-in-peer-connection'];

// Runs a command to completion (10 s at most); throws with its stderr unless allowFail.
export function sh(cmd, args, { allowFail = false, timeout = 10000 } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout });
  if (!allowFail && (r.status !== 0 || r.error)) {
    throw new Error(`${cmd} ${args.join(' ')} failed (status ${r.status}${r.error ? `, ${r.error.message}` : ''}): ${(r.stderr || '').trim()}`);
  }
  return { code: r.status, stdout: r.stdout || '', stderr: r.stderr || '' };
}

function pidAlive(pid) {
  try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
}

export function listNamespaces() {
  return sh('ip', ['netns', 'list'], { allowFail: true }).stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
}

function listLinks() {
  // "12: pnt123r1@if11: <...>" -> "pnt123r1"
  return sh('ip', ['-o', 'link', 'show'], { allowFail: true }).stdout.split('\n')
    .map((l) => (/^\d+:\s+([^:@\s]+)/.exec(l) || [])[1]).filter(Boolean);
}

// SIGKILLs every process inside namespace `name` and waits (up to 5 s) until none is left.
function killInside(name) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const pids = sh('ip', ['netns', 'pids', name], { allowFail: true }).stdout.split(/\s+/).filter(Boolean).map(Number);
    if (!pids.length) return;
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(' ')} in namespace ${name} survive SIGKILL`);
    spawnSync('sleep', ['0.05']);
  }
}

// Deletes a namespace of ours (and so its veth pair and iptables rules) and our temp files.
function removeNamespace(name) {
  killInside(name);
  sh('ip', ['netns', 'del', name], { allowFail: true });
}

/**
 * Removes namespaces, veths and temp files with our prefix whose test process is gone. With
 * `includeOwn` also this process's (the exit-time safety net). Returns what it removed.
 */
export function cleanupStale({ includeOwn = false } = {}) {
  const removed = [];
  const stale = (pid) => (includeOwn && pid === process.pid) || (pid !== process.pid && !pidAlive(pid));
  for (const name of listNamespaces()) {
    const m = NS_RE.exec(name);
    if (!m || !stale(Number(m[1]))) continue;
    // Servers of the dead test process outlive it (root namespace, bound to the veth's address).
    const vr = `${PREFIX}${m[1]}r${m[2]}`;
    const ip = (/inet (10\.213\.\d+\.\d+)\//.exec(sh('ip', ['-4', '-o', 'addr', 'show', 'dev', vr], { allowFail: true }).stdout) || [])[1];
    if (ip) for (const pid of serversOn(ip)) { try { process.kill(pid, 'SIGKILL'); removed.push(`server pid ${pid} on ${ip}`); } catch { /* gone */ } }
    removeNamespace(name);
    removed.push(`netns ${name}`);
  }
  for (const link of listLinks()) {
    const m = VETH_RE.exec(link);
    if (m && stale(Number(m[1]))) { sh('ip', ['link', 'del', link], { allowFail: true }); removed.push(`link ${link}`); }
  }
  for (const f of readdirSync(tmpdir())) {
    const m = TMP_RE.exec(f);
    if (m && stale(Number(m[1]))) { rmSync(join(tmpdir(), f), { recursive: true, force: true }); removed.push(`tmp ${f}`); }
  }
  return removed;
}

// Pids of PeerRTC binaries (argv[0] peerrtc-*) started with `--host <ip>`.
function serversOn(ip) {
  const pids = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let argv;
    try { argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0'); } catch { continue; }
    const i = argv.indexOf('--host');
    if (/(^|\/)peerrtc-[\w-]+$/.test(argv[0]) && i > 0 && argv[i + 1] === ip) pids.push(Number(d));
  }
  return pids;
}

let staleChecked = false;
let seq = 0;
const live = new Set();

// Safety net: a test process that exits without its after() hooks (uncaught error) removes its
// objects. (SIGKILL or a crash skips this; the next run's cleanupStale() removes them then.)
// Prepended: tests/lib/wrtc.mjs's exit listener calls process.exit(), which ends the 'exit'
// emission, so a listener after it would never run.
process.prependListener('exit', () => { for (const ns of live) { try { ns.destroySync(); } catch { /* best effort */ } } });
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    for (const ns of live) { try { ns.destroySync(); } catch { /* best effort */ } }
    process.kill(process.pid, sig);
  });
}

// A free 10.213.X.0/24: X not used by any address or route of the root namespace.
function freeSubnet() {
  const used = new Set();
  const text = sh('ip', ['-4', '-o', 'addr', 'show']).stdout + sh('ip', ['-4', 'route', 'show']).stdout;
  for (const m of text.matchAll(/\b10\.213\.(\d+)\./g)) used.add(Number(m[1]));
  const free = [];
  for (let x = 100; x < 200; x++) if (!used.has(x)) free.push(x);
  if (!free.length) throw new Error('no free 10.213.X.0/24 (100 <= X < 200) in the root namespace');
  return free[Math.floor(Math.random() * free.length)];
}

/**
 * Creates a namespace and its veth pair. Options:
 *   udp    'dropped': iptables inside drop every UDP packet in and out (OUTPUT, INPUT);
 *          'allowed': counting ACCEPT rules in the same places (the control); ns.setUdp(mode)
 *          switches later.
 *   rules  more `iptables` argument lists, added inside after the UDP rules.
 * Resolves to an object; see the top of this file.
 */
export async function createNetns({ udp = 'allowed', rules = [] } = {}) {
  if (process.getuid && process.getuid() !== 0) throw new Error('network namespaces need root');
  if (!staleChecked) {
    staleChecked = true;
    const removed = cleanupStale();
    if (removed.length) console.error(`# netns: removed stale objects of dead test processes: ${removed.join(', ')}`);
  }
  const n = ++seq;
  const name = `${PREFIX}-${process.pid}-${n}`;
  const vr = `${PREFIX}${process.pid}r${n}`;
  const vn = `${PREFIX}${process.pid}n${n}`;
  const x = freeSubnet();
  const rootIp = `${SUBNET_BASE}.${x}.1`;
  const nsIp = `${SUBNET_BASE}.${x}.2`;
  const inside = (args, opts) => sh('ip', ['netns', 'exec', name, ...args], opts);
  const tmp = [];

  const ns = {
    name, vethRoot: vr, vethNs: vn, rootIp, nsIp, subnet: `${SUBNET_BASE}.${x}.0/24`, udp, children: new Set(),
    inside,
    iptables: (args) => inside(['iptables', '-w', ...args]),
  };
  live.add(ns);
  // Replaces the namespace's filter rules: UDP 'dropped' or 'allowed', then `rules`.
  ns.setUdp = (mode) => {
    const target = mode === 'dropped' ? 'DROP' : mode === 'allowed' ? 'ACCEPT' : null;
    if (!target) throw new Error(`createNetns: udp must be 'dropped' or 'allowed', not ${mode}`);
    ns.iptables(['-F', 'OUTPUT']);
    ns.iptables(['-F', 'INPUT']);
    ns.iptables(['-A', 'OUTPUT', '-p', 'udp', '-j', target]);
    ns.iptables(['-A', 'INPUT', '-p', 'udp', '-j', target]);
    for (const r of rules) ns.iptables(r);
    ns.udp = mode;
  };
  // Cuts the namespace off: every packet in or out is dropped (TCP too, so a connection dies
  // without a FIN or RST reaching the other side). setUdp() restores the usual rules.
  ns.cut = () => {
    ns.iptables(['-I', 'OUTPUT', '-j', 'DROP']);
    ns.iptables(['-I', 'INPUT', '-j', 'DROP']);
  };
  // Undoes cut(): INPUT first, so that whatever the namespace sends once OUTPUT opens can be
  // answered (each iptables call takes milliseconds; in the other order an answer to the first
  // packet out could still meet the DROP on INPUT).
  ns.uncut = () => {
    ns.iptables(['-D', 'INPUT', '-j', 'DROP']);
    ns.iptables(['-D', 'OUTPUT', '-j', 'DROP']);
  };
  ns.destroySync = () => {
    if (!live.has(ns)) return;
    live.delete(ns);
    for (const c of ns.children) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
    removeNamespace(name);
    sh('ip', ['link', 'del', vr], { allowFail: true });
    for (const f of tmp) rmSync(f, { recursive: true, force: true });
  };
  try {
    sh('ip', ['netns', 'add', name]);
    sh('ip', ['link', 'add', vr, 'type', 'veth', 'peer', 'name', vn, 'netns', name]);
    // No IPv6 on either end (no router solicitations, DAD or link-local candidates).
    sh('sysctl', ['-qw', `net.ipv6.conf.${vr}.disable_ipv6=1`]);
    inside(['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    inside(['sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
    sh('ip', ['addr', 'add', `${rootIp}/24`, 'dev', vr]);
    sh('ip', ['link', 'set', vr, 'up']);
    inside(['ip', 'addr', 'add', `${nsIp}/24`, 'dev', vn]);
    inside(['ip', 'link', 'set', vn, 'up']);
    inside(['ip', 'link', 'set', 'lo', 'up']);
    ns.setUdp(udp);
  } catch (e) {
    ns.destroySync();
    throw e;
  }

  // Packets and bytes the current UDP rules matched so far: {out: {packets, bytes}, in: {...}}
  // (setUdp() starts them again at 0).
  ns.udpCounters = () => {
    const read = (chain) => {
      const text = ns.iptables(['-L', chain, '-v', '-n', '-x']).stdout;
      for (const line of text.split('\n')) {
        const f = line.trim().split(/\s+/);
        // pkts bytes target prot opt in out source destination
        if (f.length >= 4 && /^\d+$/.test(f[0]) && f[2] === target && (f[3] === 'udp' || f[3] === '17')) return { packets: Number(f[0]), bytes: Number(f[1]) };
      }
      throw new Error(`no udp ${target} rule in chain ${chain} of ${name}:\n${text}`);
    };
    const target = ns.udp === 'dropped' ? 'DROP' : 'ACCEPT';
    return { out: read('OUTPUT'), in: read('INPUT') };
  };

  // The namespace's IPv4 routes (the test checks there is no way out but the veth's subnet).
  ns.routes = () => inside(['ip', '-4', 'route', 'show']).stdout.trim().split('\n').filter(Boolean);

  /**
   * Spawns `cmd args` inside the namespace (or, with { root: true }, in the root namespace) and
   * parses its stdout as JSON lines: every object goes to `messages`; waitFor(pred, ms, what)
   * resolves with the first (past or future) matching one. Other stdout lines and stderr are kept
   * in output(). send(obj) writes a JSON line to its stdin.
   */
  ns.spawnJson = (cmd, args = [], opts = {}) => spawnJson(cmd, args, { ...opts, netns: opts.root ? null : name, owner: ns });

  // A shell script that runs Chromium inside the namespace (for playwright's executablePath;
  // playwright talks to it over a pipe, which `ip netns exec` passes on).
  ns.chromiumExecutable = () => {
    const dir = mkdtempSync(join(tmpdir(), `${PREFIX}-${process.pid}-chromium-`));
    tmp.push(dir);
    const path = join(dir, 'chromium-in-netns.sh');
    writeFileSync(path, `#!/bin/sh\nexec ip netns exec ${name} ${CHROMIUM} "$@"\n`);
    chmodSync(path, 0o755);
    return path;
  };

  /** Headless Chromium inside the namespace, fresh profile: {context, page, close()}. */
  ns.launchChromium = async () => {
    const { chromium } = await import('playwright-core');
    const executablePath = ns.chromiumExecutable();
    const dir = mkdtempSync(join(tmpdir(), `${PREFIX}-${process.pid}-profile-`));
    tmp.push(dir);
    const context = await withTimeout(chromium.launchPersistentContext(dir, {
      executablePath, headless: true, args: CHROMIUM_ARGS, timeout: 30000,
    }), 40000, `chromium to launch in ${name}`);
    return {
      context,
      async newPage(label = 'page') {
        const page = context.pages().find((p) => !p.__used) || await context.newPage();
        page.__used = true;
        page.on('pageerror', (e) => console.error(`[${label} pageerror] ${e}`));
        page.on('console', (m) => {
          if (/favicon\.ico$/.test(m.location().url || '')) return; // the server has none
          if (VERBOSE || m.type() === 'error') console.error(`[${label} console.${m.type()}] ${m.text()}`);
        });
        return page;
      },
      async close() {
        try { await withTimeout(context.close(), 15000, 'chromium to close'); } catch (e) { console.error(String(e)); }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };

  /** Kills everything inside, deletes the namespace (with its veth pair and rules) and temp files; checks they are gone. */
  ns.destroy = async () => {
    ns.destroySync();
    const left = [];
    if (listNamespaces().includes(name)) left.push(`netns ${name}`);
    const links = listLinks();
    for (const l of [vr, vn]) if (links.includes(l)) left.push(`link ${l}`);
    if (left.length) throw new Error(`namespace cleanup left ${left.join(', ')}`);
  };
  return ns;
}

// See ns.spawnJson. Also usable without a namespace: spawnJson(cmd, args, { netns: null }).
export function spawnJson(cmd, args = [], { netns = null, env = {}, name = 'child', owner = null } = {}) {
  const full = netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, args];
  const child = spawn(full[0], full[1], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  if (owner) { owner.children.add(child); child.on('exit', () => owner.children.delete(child)); }
  let out = '';
  let buf = '';
  const p = messageLog(name, () => out);
  p.child = child;
  p.exitInfo = null;
  const keep = (s) => { out += s; if (out.length > 64 * 1024) out = out.slice(-64 * 1024); };
  child.stdout.on('data', (c) => {
    const s = c.toString();
    if (VERBOSE) process.stderr.write(s.replace(/^(?=.)/gm, `[${name} out] `));
    buf += s;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let m = null;
      try { m = JSON.parse(line); } catch { keep(`${line}\n`); continue; }
      if (!m || typeof m !== 'object') { keep(`${line}\n`); continue; }
      p.push(m);
    }
  });
  child.stderr.on('data', (c) => {
    const s = c.toString();
    if (VERBOSE) process.stderr.write(s.replace(/^(?=.)/gm, `[${name} err] `));
    keep(s);
  });
  child.stdin.on('error', () => { /* the child may be gone */ });
  // 'close', not 'exit': the last stdout lines are read by then.
  p.exited = new Promise((res) => child.on('close', (code, signal) => {
    p.exitInfo = { code, signal };
    p.end(`exited (${JSON.stringify(p.exitInfo)})`);
    res(p.exitInfo);
  }));
  p.send = (obj) => child.stdin.write(`${JSON.stringify(obj)}\n`);
  p.kill = (sig = 'SIGKILL') => { if (!p.exitInfo) child.kill(sig); };
  // Kills it (SIGTERM, then SIGKILL after 3 s) and waits for the exit.
  p.stop = async () => {
    if (p.exitInfo) return p.exitInfo;
    child.kill('SIGTERM');
    try { return await withTimeout(p.exited, 3000, `${name} to exit`); } catch {
      child.kill('SIGKILL');
      return p.exited;
    }
  };
  return p;
}

/**
 * Messages (objects) reported by a peer, with waits: push(m) adds one (stamped with `at`),
 * waitFor(pred, ms, what) resolves with the first past or future match, end(why) fails every
 * current and later wait (the peer is gone). output() is shown in errors.
 */
export function messageLog(name, output = () => '') {
  const log = { name, messages: [], waiters: new Set(), ended: null, output };
  log.push = (m) => {
    m.at = Date.now();
    log.messages.push(m);
    for (const w of [...log.waiters]) w(m);
  };
  log.end = (why) => {
    log.ended = why;
    for (const w of [...log.waiters]) w(null);
  };
  log.waitFor = (pred, ms, what) => {
    const have = log.messages.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((res, rej) => {
      const fail = (why) => {
        log.waiters.delete(w);
        clearTimeout(timer);
        const seen = log.messages.map((x) => x.type + (x.message ? `(${x.message})` : '')).join(', ');
        rej(new Error(`${name}: ${why} waiting for ${what}; got: ${seen.slice(-1500)}; output:\n${String(output()).slice(-3000)}`));
      };
      const w = (m) => {
        if (m === null) return fail(log.ended);
        if (pred(m)) { log.waiters.delete(w); clearTimeout(timer); res(m); }
      };
      const timer = setTimeout(() => fail(`timed out after ${ms} ms`), ms);
      log.waiters.add(w);
      if (log.ended) w(null);
    });
  };
  return log;
}
