// Issue 19's anchor table, side by side in one run: a receiver's network drops ALL traffic for
// 10 s and for 40 s while a sender sends numbered messages at 20 msg/s, for
//   peerrtc  peerrtc-server + the JS client (clients/js, protocol v2, default options) on
//            libwebrtc in Node (@roamhq/wrtc) — tests/network/lib/resume-peer.mjs
//   socketio Socket.IO 4 (npm socket.io + socket.io-client) with connectionStateRecovery on and
//            the WebSocket transport — bench/sio_relay.mjs, bench/sio_peer.mjs
// The receiver runs inside its own network namespace (tests/network/lib/netns.mjs, the network
// suite's: a veth pair on 10.213.X.0/24); cut() drops every packet in and out there, uncut()
// brings it back. The server and the sender are in the root namespace. The 10-s and 40-s rows of
// one stack run at once (separate namespaces and servers); the stacks alternate, RUNS times each.
// Per row: sent, lost, doubled, reordered, time from the network's return to the receiver's first
// message, and the longest silence at the receiver (largest gap between two arrivals).
// Writes bench/results-outage.jsonl (a line per row) and bench/results-outage.md (medians).
// Needs root (namespaces) and a built peerrtc-server (PEERRTC_SERVER or build/apps/).
//   node bench/outage.mjs [--runs 3] [--outages 10,40] [--rate 20] [--stacks peerrtc,socketio]
import { appendFileSync, writeFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { createNetns, spawnJson } from '../tests/network/lib/netns.mjs';
import { startPeerServer } from '../tests/network/lib/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const RUNS = Number(arg('runs', 3));
const OUTAGES = arg('outages', '10,40').split(',').map(Number);
const RATE = Number(arg('rate', 20));
const STACKS = arg('stacks', 'peerrtc,socketio').split(',');
const BEFORE_MS = 4000, AFTER_MS = 10000, DRAIN_MS = 60000;
const PEER = { peerrtc: join(here, '..', 'tests', 'network', 'lib', 'resume-peer.mjs'), socketio: join(here, 'sio_peer.mjs') };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => { const s = xs.filter((x) => x !== null).sort((a, b) => a - b); return s.length ? s[(s.length - 1) >> 1] : null; };

async function startServer(stack, host, name) {
  if (stack === 'peerrtc') {
    const s = await startPeerServer(host, { name });
    return { url: `http://${host}:${s.http}`, stop: () => s.stop() };
  }
  const p = spawnJson(process.execPath, [join(here, 'sio_relay.mjs'), host], { name });
  const { port } = await p.waitFor((m) => m.port, 10000, 'socket.io listening');
  return { url: `http://${host}:${port}`, stop: () => p.stop() };
}

async function row(stack, outageS, run) {
  const outageMs = outageS * 1000;
  const cleanup = [];
  try {
    const ns = await createNetns({ udp: 'allowed' });
    cleanup.push(() => ns.destroy());
    const server = await startServer(stack, ns.rootIp, `${stack}-${outageS}`);
    cleanup.push(() => server.stop());
    const room = `outage-${outageS}-${process.pid}-${run}`;
    const job = (peerId) => JSON.stringify({ baseUrl: server.url, room, peerId });
    const sender = spawnJson(process.execPath, [PEER[stack], job('s')], { name: `${stack}-s${outageS}` });
    cleanup.push(() => sender.stop());
    await sender.waitFor((m) => m.type === 'connected', 20000, 'sender connected');
    const receiver = ns.spawnJson(process.execPath, [PEER[stack], job('r')], { name: `${stack}-r${outageS}` });
    cleanup.push(() => receiver.stop());
    await receiver.waitFor((m) => m.type === 'connected', 20000, 'receiver connected');
    if (stack === 'peerrtc') await sender.waitFor((m) => m.type === 'event' && m.event.type === 'peer_joined' && m.event.peer_id === 'r', 10000, 'room');
    else await sleep(200); // Socket.IO joins the room in the connection handler, before 'connect' reaches the client
    const n = Math.round((RATE * (BEFORE_MS + outageMs + AFTER_MS)) / 1000);
    sender.send({ cmd: 'send', n, rate: RATE });
    const tStart = Date.now();
    await sleep(BEFORE_MS);
    ns.cut();
    await sleep(outageMs);
    ns.uncut();
    const tBack = Date.now();
    const got = () => receiver.messages.filter((m) => m.type === 'message' && m.from === 's');
    await receiver.waitFor(() => got().length >= n, AFTER_MS + DRAIN_MS, `all ${n}`).catch(() => {});
    await sleep(1000); // a doubled message would arrive by now
    const msgs = got();
    const nums = msgs.map((m) => Number(m.text));
    let reordered = 0;
    for (let i = 1; i < nums.length; i++) if (nums[i] < nums[i - 1]) reordered++;
    let silence = 0;
    const times = [tStart, ...msgs.map((m) => m.at)];
    for (let i = 1; i < times.length; i++) silence = Math.max(silence, times[i] - times[i - 1]);
    const first = msgs.find((m) => m.at >= tBack);
    const statuses = receiver.messages.filter((m) => m.type === 'status' || (m.type === 'event' && m.event.type === 'resume_gap'))
      .map((m) => m.status ? `${m.status}${m.recovered !== undefined ? `(recovered ${m.recovered})` : ''}` : `resume_gap(${m.event.missed})`);
    return {
      stack, run, outage_s: outageS, rate: RATE, sent: n, received: nums.length,
      lost: n - new Set(nums).size, doubled: nums.length - new Set(nums).size, reordered,
      first_after_return_ms: first ? first.at - tBack : null, longest_silence_ms: silence,
      receiver_states: statuses.join(' > '),
    };
  } finally {
    for (const f of cleanup.reverse()) await f().catch(() => {});
  }
}

const commit = execSync('git rev-parse --short HEAD', { cwd: here }).toString().trim();
const started = new Date().toISOString();
const load0 = loadavg().map((x) => x.toFixed(2)).join(' ');
const rows = [];
for (let run = 1; run <= RUNS; run++) {
  const order = run % 2 ? STACKS : [...STACKS].reverse();
  for (const stack of order) {
    const rs = await Promise.all(OUTAGES.map((o) => row(stack, o, run)));
    for (const r of rs) {
      r.commit = commit;
      console.log(JSON.stringify(r));
      appendFileSync(join(here, 'results-outage.jsonl'), `${JSON.stringify(r)}\n`);
      rows.push(r);
    }
  }
}
const load1 = loadavg().map((x) => x.toFixed(2)).join(' ');
const fmt = (x, unit = '') => (x === null ? '—' : `${x.toLocaleString('en-US')}${unit}`);
const cell = (rs, key, unit = '', scale = 1) => {
  const vals = rs.map((r) => (r[key] === null ? null : Math.round((r[key] / scale) * 100) / 100));
  return `${fmt(median(vals), unit)} [${vals.map((v) => fmt(v)).join(', ')}]`;
};
const out = [`### Outage side by side: peerrtc (JS client v2, wrtc) vs Socket.IO 4 (${started.slice(0, 16).replace('T', ' ')} UTC, ${commit})`, '',
  `Receiver's namespace drops all traffic (bench/outage.mjs), ${RATE} msg/s, ${BEFORE_MS / 1000} s before the cut and ${AFTER_MS / 1000} s after it;`,
  `${RUNS} runs per stack, stacks alternating, medians [runs]. Load average before: ${load0}; after: ${load1}.`, '',
  '| outage | stack | sent | lost | doubled | reordered | first message after the return (ms) | longest silence (s) |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |'];
for (const o of OUTAGES) {
  for (const s of STACKS) {
    const rs = rows.filter((r) => r.stack === s && r.outage_s === o);
    out.push(`| ${o} s | ${s} | ${cell(rs, 'sent')} | ${cell(rs, 'lost')} | ${cell(rs, 'doubled')} | ${cell(rs, 'reordered')} | ${cell(rs, 'first_after_return_ms')} | ${cell(rs, 'longest_silence_ms', '', 1000)} |`);
  }
}
out.push('', 'Receiver states per run:', '');
for (const r of rows) out.push(`* ${r.stack} ${r.outage_s} s run ${r.run}: ${r.receiver_states || '(stayed connected)'}`);
writeFileSync(join(here, 'results-outage.md'), `${out.join('\n')}\n`);
console.log(out.join('\n'));
process.exit(0);
