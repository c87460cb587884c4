// Issue 19's outage table, side by side in one run: a peer's network drops ALL traffic for 2, 10
// and 40 s — the receiver's, then the sender's — while the sender sends numbered messages at 20
// and 100 msg/s, for
//   peerrtc  peerrtc-server + the JS client (clients/js, protocol v2, default options) on
//            libwebrtc in Node (@roamhq/wrtc) — tests/network/lib/resume-peer.mjs
//   socketio Socket.IO 4 (npm socket.io + socket.io-client) with connectionStateRecovery on and
//            the WebSocket transport — bench/sio_relay.mjs, bench/sio_peer.mjs
// The peer that is cut runs inside its own network namespace (tests/network/lib/netns.mjs, the
// network suite's: a veth pair on 10.213.X.0/24); cut() drops every packet in and out there,
// uncut() brings it back. The server and the other peer are in the root namespace. Every row of
// one stack and one cut peer (outages x rates) runs at once, each in its own namespace with its
// own server; the stacks alternate, RUNS times each, and so do the cut peers.
// Per row, counted at the receiver by the sender's own message counter: sent, lost, doubled,
// reordered (arrivals whose number is below the one before), the first message after the return
// (receiver cut: its first arrival after the network's return; sender cut: the first arrival of a
// message the sender sent at or after the cut — numbers from ceil((cut - start) * rate) on,
// whose send time cannot be before the cut — both in ms from the return), and the longest silence
// at the receiver (largest gap between two arrivals, from the start of sending).
// Writes bench/results-outage.jsonl (a line per row) and bench/results-outage.md (medians).
// Needs root (namespaces) and a built peerrtc-server (PEERRTC_SERVER or build/apps/).
//   node bench/outage.mjs [--runs 3] [--outages 2,10,40] [--rates 20,100] [--roles receiver,sender]
//                         [--stacks peerrtc,socketio] [--debug DIR]
// (--rate R is --rates R.) --debug DIR: the peerrtc clients log (their `debug` option) and every
// row's peer and server output goes to DIR/<row>.log (with PEERRTC_NETWORK_SERVER_LOG_LEVEL=debug
// for the server's own debug log).
import { appendFileSync, createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { execFile, execSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { createNetns, sh, spawnJson } from '../tests/network/lib/netns.mjs';
import { startPeerServer } from '../tests/network/lib/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const list = (s) => String(s).split(',').filter(Boolean);
const RUNS = Number(arg('runs', 3));
const OUTAGES = list(arg('outages', '2,10,40')).map(Number);
const RATES = list(arg('rates', arg('rate', '20,100'))).map(Number);
const ROLES = list(arg('roles', 'receiver,sender'));
const STACKS = list(arg('stacks', 'peerrtc,socketio'));
const DEBUG_DIR = arg('debug', null) && resolve(arg('debug', null));
const CUT = arg('cut', 'router');
if (CUT !== 'router' && CUT !== 'local') throw new Error(`--cut: router or local, not ${CUT}`);
for (const r of ROLES) if (r !== 'receiver' && r !== 'sender') throw new Error(`--roles: receiver or sender, not ${r}`);
for (const s of STACKS) if (s !== 'peerrtc' && s !== 'socketio') throw new Error(`--stacks: peerrtc or socketio, not ${s}`);
if ([...OUTAGES, ...RATES, RUNS].some((x) => !(x > 0))) throw new Error('--outages, --rates and --runs take positive numbers');
if (DEBUG_DIR) mkdirSync(DEBUG_DIR, { recursive: true });
// Sending starts BEFORE_MS before the cut and goes on AFTER_MS after the return. The receiver
// then waits for every message, or until nothing arrived for QUIET_MS once sending is over, for
// DRAIN_MS at most; then 1 s more, for a doubled message to show.
const BEFORE_MS = 4000, AFTER_MS = 10000, QUIET_MS = 10000, DRAIN_MS = 60000;
const PEER = { peerrtc: join(here, '..', 'tests', 'network', 'lib', 'resume-peer.mjs'), socketio: join(here, 'sio_peer.mjs') };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sleepUntil = (t) => sleep(Math.max(0, t - Date.now()));
const median = (xs) => { const s = xs.filter((x) => x !== null).sort((a, b) => a - b); return s.length ? s[(s.length - 1) >> 1] : null; };
const load1m = () => Number(loadavg()[0].toFixed(2));

// Where the peer that is cut runs. --cut local: a namespace of the network suite
// (createNetns), cut by its own iptables (ns.cut(): DROP on its INPUT and OUTPUT). Its own stack
// then sees every send fail at once (EPERM from OUTPUT), which a real outage does not do: Linux
// TCP retries a locally refused segment every 500 ms instead of backing off, so a TCP sender
// looks better than it would be. --cut router (the default): the peer's namespace (`leaf`) has no
// link to the root namespace but one through a second namespace (`router`, the one created with
// a veth to the root namespace: proxy ARP and forwarding inside it, the leaf at .3 of its /24),
// and the cut is DROP in the router's FORWARD chain: every packet both ways leaves its sender and
// vanishes on the way, as on a real network. Nothing is added to the root namespace.
// cut() and uncut() resolve once their rules are in place. They run iptables asynchronously (the
// xtables lock is machine-wide: under load a call can take seconds, and a synchronous one would
// stall every other row's timers); arrival times come from the peers' own clocks (`t`).
const iptables = (ns, args) => new Promise((res, rej) => {
  execFile('ip', ['netns', 'exec', ns.name, 'iptables', '-w', ...args], { timeout: 60000 }, (e, _out, err) => (e ? rej(new Error(`iptables ${args.join(' ')} in ${ns.name}: ${e.message} ${err}`)) : res()));
});
async function peerNetns() {
  const router = await createNetns({ udp: 'allowed' });
  if (CUT === 'local') {
    return {
      ns: router, serverIp: router.rootIp, destroy: () => router.destroy(),
      cut: async () => { await iptables(router, ['-I', 'OUTPUT', '-j', 'DROP']); await iptables(router, ['-I', 'INPUT', '-j', 'DROP']); },
      uncut: async () => { await iptables(router, ['-D', 'INPUT', '-j', 'DROP']); await iptables(router, ['-D', 'OUTPUT', '-j', 'DROP']); },
    };
  }
  let leaf;
  try {
    leaf = await createNetns({ udp: 'allowed' });
    sh('ip', ['link', 'del', leaf.vethRoot]); // its link to the root namespace; the router's replaces it
    const subnet = router.rootIp.replace(/\.1$/, '');
    const leafIp = `${subnet}.3`;
    router.inside(['ip', 'link', 'add', 'leaf0', 'type', 'veth', 'peer', 'name', 'up0', 'netns', leaf.name]);
    router.inside(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    router.inside(['sysctl', '-qw', 'net.ipv4.conf.all.proxy_arp=1']);
    router.inside(['ip', 'link', 'set', 'leaf0', 'up']);
    router.inside(['ip', 'route', 'add', `${leafIp}/32`, 'dev', 'leaf0']);
    leaf.inside(['ip', 'addr', 'add', `${leafIp}/32`, 'dev', 'up0']);
    leaf.inside(['ip', 'link', 'set', 'up0', 'up']);
    leaf.inside(['ip', 'route', 'add', `${subnet}.0/24`, 'dev', 'up0']);
  } catch (e) {
    await leaf?.destroy().catch(() => {});
    await router.destroy().catch(() => {});
    throw e;
  }
  return {
    ns: leaf,
    serverIp: router.rootIp,
    cut: () => iptables(router, ['-I', 'FORWARD', '-j', 'DROP']),
    uncut: () => iptables(router, ['-D', 'FORWARD', '-j', 'DROP']),
    destroy: async () => { await leaf.destroy().catch(() => {}); await router.destroy(); },
  };
}

async function startServer(stack, host, name, debugLog) {
  if (stack === 'peerrtc') {
    const s = await startPeerServer(host, { name });
    if (debugLog) for (const st of [s.child.stdout, s.child.stderr]) st.on('data', (c) => debugLog.write(`[server] ${c}`));
    return { url: `http://${host}:${s.http}`, stop: () => s.stop() };
  }
  const p = spawnJson(process.execPath, [join(here, 'sio_relay.mjs'), host], { name });
  const { port } = await p.waitFor((m) => m.port, 10000, 'socket.io listening');
  return { url: `http://${host}:${port}`, stop: () => p.stop() };
}

// One row: `role` ('receiver' or 'sender') is the peer whose network is cut for outageS seconds
// while the sender sends at `rate` msg/s.
async function row(stack, role, outageS, rate, run) {
  const outageMs = outageS * 1000;
  const label = `${stack}-${role}-${outageS}s-${rate}-run${run}`;
  const debugLog = DEBUG_DIR ? createWriteStream(join(DEBUG_DIR, `${label}.log`)) : null;
  const cleanup = [];
  let sender, receiver;
  try {
    const net = await peerNetns();
    cleanup.push(() => net.destroy());
    const { ns } = net;
    const server = await startServer(stack, net.serverIp, `${stack}-${role[0]}${outageS}-${rate}`, debugLog);
    cleanup.push(() => server.stop());
    const room = `outage-${role}-${outageS}-${rate}-${process.pid}-${run}`;
    const spawnPeer = (peerId, r) => {
      const args = [PEER[stack], JSON.stringify({ baseUrl: server.url, room, peerId, debug: !!DEBUG_DIR })];
      const name = `${stack}-${peerId}-${role[0]}${outageS}-${rate}`;
      const p = r === role ? ns.spawnJson(process.execPath, args, { name }) : spawnJson(process.execPath, args, { name });
      cleanup.push(() => p.stop());
      return p;
    };
    sender = spawnPeer('s', 'sender');
    await sender.waitFor((m) => m.type === 'connected', 20000, 'sender connected');
    receiver = spawnPeer('r', 'receiver');
    await receiver.waitFor((m) => m.type === 'connected', 20000, 'receiver connected');
    if (stack === 'peerrtc') await sender.waitFor((m) => m.type === 'event' && m.event.type === 'peer_joined' && m.event.peer_id === 'r', 10000, 'room');
    else await sleep(200); // Socket.IO joins the room in the connection handler, before 'connect' reaches the client
    const n = Math.round((rate * (BEFORE_MS + outageMs + AFTER_MS)) / 1000);
    const load = load1m();
    sender.send({ cmd: 'send', n, rate });
    const tStart = (await sender.waitFor((m) => m.type === 'started', 5000, 'sending started')).t;
    await sleepUntil(tStart + BEFORE_MS);
    await net.cut();
    const tCut = Date.now();
    await sleepUntil(tCut + outageMs);
    const tUncut = Date.now();
    await net.uncut();
    const tBack = Date.now(); // "the return": the rules are gone (some time between tUncut and now)
    // Arrival times: the receiver's clock when its client handed the message over (`t`).
    const got = () => receiver.messages.filter((m) => m.type === 'message' && m.from === 's').map((m) => ({ ...m, at: m.t ?? m.at }));
    const sendEnd = tStart + (n * 1000) / rate;
    for (;;) {
      const msgs = got();
      if (new Set(msgs.map((m) => m.text)).size >= n) break;
      const now = Date.now();
      const last = msgs.length ? msgs[msgs.length - 1].at : tStart;
      if (now > tBack + AFTER_MS + DRAIN_MS || (now > sendEnd && now - last > QUIET_MS)) break;
      await sleep(200);
    }
    await sleep(1000); // a doubled message would arrive by now
    const msgs = got();
    const nums = msgs.map((m) => Number(m.text));
    let reordered = 0;
    for (let i = 1; i < nums.length; i++) if (nums[i] < nums[i - 1]) reordered++;
    let silence = 0;
    const times = [tStart, ...msgs.map((m) => m.at)];
    for (let i = 1; i < times.length; i++) silence = Math.max(silence, times[i] - times[i - 1]);
    // Receiver cut: its first arrival after the return. Sender cut: the first arrival of a
    // message sent at or after the cut (message i is sent at tStart + i * 1000 / rate or later).
    const firstSentInCut = Math.ceil(((tCut - tStart) * rate) / 1000);
    const first = role === 'receiver' ? msgs.find((m) => m.at >= tUncut)
      : msgs.filter((m) => Number(m.text) >= firstSentInCut).sort((a, b) => a.at - b.at)[0];
    const acked = sender.messages.find((m) => m.type === 'acked')
      || await sender.waitFor((m) => m.type === 'acked', 5000, 'acked').catch(() => null);
    const states = (p) => p.messages.filter((m) => m.type === 'status' || (m.type === 'event' && m.event.type === 'resume_gap'))
      .map((m) => (m.status ? `${m.status}${m.reason ? `(${m.reason})` : ''}${m.recovered !== undefined ? `(recovered ${m.recovered})` : ''}` : `resume_gap(${m.event.missed})`))
      .join(' > ');
    return {
      stack, run, role, outage_s: outageS, rate, sent: n, received: nums.length,
      lost: n - new Set(nums).size, doubled: nums.length - new Set(nums).size, reordered,
      first_after_return_ms: first ? first.at - tBack : null, first_number: first ? Number(first.text) : null,
      first_sent_in_cut: role === 'sender' ? firstSentInCut : undefined,
      longest_silence_ms: silence,
      sender_acked: acked ? acked.n : null, sender_buffered: acked && acked.buffered !== undefined ? acked.buffered : undefined,
      receiver_states: states(receiver), sender_states: states(sender),
      cut_at_ms: tCut - tStart, outage_ms: tBack - tCut, uncut_ms: tBack - tUncut, cut: CUT, load1: load,
    };
  } finally {
    for (const f of cleanup.reverse()) await f().catch(() => {});
    if (debugLog) {
      for (const [who, p] of [['sender', sender], ['receiver', receiver]]) {
        if (!p) continue;
        for (const m of p.messages) debugLog.write(`[${who} ${m.at}] ${JSON.stringify(m)}\n`);
        debugLog.write(`[${who} output] ${p.output ? p.output() : ''}\n`);
      }
      debugLog.end();
    }
  }
}

const commit = execSync('git rev-parse --short HEAD', { cwd: here }).toString().trim();
const started = new Date().toISOString();
const t0 = Date.now();
const load0 = loadavg().map((x) => x.toFixed(2)).join(' ');
const rows = [];
for (let run = 1; run <= RUNS; run++) {
  const order = run % 2 ? STACKS : [...STACKS].reverse();
  for (const stack of order) {
    for (const role of (run % 2 ? ROLES : [...ROLES].reverse())) {
      const rs = await Promise.all(RATES.flatMap((rate) => OUTAGES.map((o) => row(stack, role, o, rate, run)
        .catch((e) => ({ stack, run, role, outage_s: o, rate, error: String(e.message || e).slice(0, 2000) })))));
      for (const r of rs) {
        r.commit = commit;
        console.log(JSON.stringify(r));
        appendFileSync(join(here, 'results-outage.jsonl'), `${JSON.stringify(r)}\n`);
        rows.push(r);
      }
    }
  }
}
const load1 = loadavg().map((x) => x.toFixed(2)).join(' ');
const minutes = ((Date.now() - t0) / 60000).toFixed(1);
const loads = rows.filter((r) => !r.error).map((r) => r.load1);
const fmt = (x, unit = '') => (x === null ? '—' : `${x.toLocaleString('en-US')}${unit}`);
const cell = (rs, key, unit = '', scale = 1) => {
  const vals = rs.map((r) => (r[key] === null ? null : Math.round((r[key] / scale) * 100) / 100));
  return `${fmt(median(vals), unit)} [${vals.map((v) => fmt(v)).join(', ')}]`;
};
const out = [`### Outage side by side: peerrtc (JS client v2, wrtc) vs Socket.IO 4 (${started.slice(0, 16).replace('T', ' ')} UTC, ${commit})`, '',
  `A peer's namespace drops all traffic (bench/outage.mjs): ${ROLES.join(', then ')}; ${RATES.join(' and ')} msg/s, ${BEFORE_MS / 1000} s before the cut and ${AFTER_MS / 1000} s after it;`,
  `the cut: ${CUT === 'router' ? 'DROP in the FORWARD chain of a namespace routing the peer\'s' : 'DROP on INPUT and OUTPUT in the peer\'s own namespace'}; ${RUNS} runs per stack, stacks alternating, medians [runs]; ${minutes} min in all. Load average before: ${load0}; after: ${load1}; 1-min load at each row's start: ${Math.min(...loads)}–${Math.max(...loads)}.`,
  '"First": receiver cut, its first arrival after the network\'s return; sender cut, the first arrival of a message sent at or after the cut; ms from the return.', '',
  '| cut | outage | rate | stack | sent | lost | doubled | reordered | first message after the return (ms) | longest silence (s) |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |'];
for (const role of ROLES) {
  for (const rate of RATES) {
    for (const o of OUTAGES) {
      for (const s of STACKS) {
        const rs = rows.filter((r) => r.stack === s && r.role === role && r.rate === rate && r.outage_s === o && !r.error);
        out.push(`| ${role} | ${o} s | ${rate}/s | ${s} | ${cell(rs, 'sent')} | ${cell(rs, 'lost')} | ${cell(rs, 'doubled')} | ${cell(rs, 'reordered')} | ${cell(rs, 'first_after_return_ms')} | ${cell(rs, 'longest_silence_ms', '', 1000)} |`);
      }
    }
  }
}
for (const r of rows.filter((x) => x.error)) out.push('', `Failed (not in the table): ${r.stack} ${r.role} ${r.outage_s} s ${r.rate}/s run ${r.run}: ${r.error.split('\n')[0]}`);
out.push('', 'States of the peer that was cut, per run (Socket.IO senders: emits made while the client knew it was disconnected):', '');
for (const r of rows.filter((x) => !x.error)) {
  const st = r.role === 'receiver' ? r.receiver_states : r.sender_states;
  out.push(`* ${r.stack} ${r.role} ${r.outage_s} s ${r.rate}/s run ${r.run}: ${st || '(stayed connected)'}${r.sender_buffered ? `; ${r.sender_buffered} buffered` : ''}`);
}
writeFileSync(join(here, 'results-outage.md'), `${out.join('\n')}\n`);
console.log(out.join('\n'));
process.exit(0);
