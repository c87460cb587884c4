// A libwebrtc load generator: N @roamhq/wrtc peers (Google's libwebrtc in Node, a stack we did
// not write) join one room of peerrtc-server over UDP or over ICE-TCP, then either chat (every
// peer sends `--size`-byte text messages at `--rate` per second) or bulk (peer 0 sends binary
// messages of `--size` bytes as fast as flow control allows, the others receive). Prints one
// JSON line: deliveries, latency percentiles (send -> receive, one clock: one process), bulk
// throughput, and the server's CPU, deliveries and wire units (UDP datagrams or TCP frames)
// from /proc/<pid> and GET /stats over the load phase.
//
//   node bench/wrtc_loadgen.mjs --http-port P --server-pid PID [--host IP] [--transport udp|tcp]
//        [--peers 4] [--rate 100] [--size 100] [--duration 5] [--bulk] [--room NAME] [--protocol 1|2]
//
// --transport tcp hands each peer the answer without its UDP candidates, so its only path is
// ICE-TCP to the server's port (as for a client whose network drops UDP).
//
// --trace FILE (with --procs): every delivery's sender, receiver, send time and latency, and the
// server's /stats sctp every 20 ms, on one clock (CLOCK_MONOTONIC ms), as JSON (bench/loss_trace.py).
//
// --procs K (chat only) spreads the peers over K Node processes (this file forked with
// --worker), so one Node process's event loop and libwebrtc threads are not the clients'
// limit: the coordinator starts them, waits until every peer has joined, reads the server's
// CPU and /stats, tells all workers to start at the same moment, waits for the deliveries and
// merges every worker's latency samples (send -> receive on CLOCK_MONOTONIC, which all
// processes of the machine share). It also reports the clients' own CPU (all workers), the
// UDP datagrams both ways per delivery as the clients count them (RTCTransportStats
// packetsSent + packetsReceived: the same for every server, /stats or not) and whether the
// clients were the bottleneck (a worker's main thread near one core, or the whole machine busy).
import { fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { wrtc } from '../tests/lib/wrtc.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : true]);
  return acc;
}, []));
const port = Number(args['http-port']);
const serverPid = Number(args['server-pid'] || 0);
const transport = args.transport || 'udp';
const peersN = Number(args.peers || 4);
const rate = Number(args.rate || 100);
const size = Number(args.size || 100);
const duration = Number(args.duration || 5);
const bulk = !!args.bulk;
// --protocol 2: the peers negotiate protocol v2 (docs/protocol.md "v2"): frames carry a client
// message id, the server stamps seqs, keeps its resume buffer and acks every message.
const protocol = Number(args.protocol || 1);
const room = args.room || `bench-${transport}-${process.pid}`;
const procs = Number(args.procs || 1);
const workerIndex = args.worker === undefined ? null : Number(args.worker);
const peerOffset = Number(args['peer-offset'] || 0);
if (!port || !['udp', 'tcp'].includes(transport)) {
  console.error('usage: wrtc_loadgen.mjs --http-port P [--server-pid PID] [--transport udp|tcp] ...');
  process.exit(2);
}
// --host: the server's address (default loopback; bench/wrtc_loss.sh runs the clients in a
// network namespace that reaches the server on its veth's root-side address).
const host = args.host || '127.0.0.1';
const base = `http://${host}:${port}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowNs = () => process.hrtime.bigint();

// The server's CPU time in microseconds: the sum of its threads' sum_exec_runtime
// (/proc/<pid>/task/*/schedstat, nanoseconds), else utime + stime in 100 Hz ticks. A 5-s run of a
// server at 7 % of a core is ~35 ticks, so ticks alone would quantise a figure by ~3 %.
function serverCpuUs(pid) {
  if (!pid) return null;
  try {
    let ns = 0;
    for (const t of readdirSync(`/proc/${pid}/task`))
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1000;
  } catch {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * 10000;  // utime + stime (fields 14, 15)
  }
}
// GET /stats, or null for a server without it (aiortc_relay.py, the seed's Flask quick start):
// then deliveries are counted at the receivers and the wire units are unknown.
async function stats() {
  try {
    const r = await fetch(`${base}/stats`);
    return r.status === 200 ? await r.json() : null;
  } catch { return null; }
}
const wireUnits = (s) => (transport === 'tcp' ? s.ice_tcp.frames_in + s.ice_tcp.frames_out : s.datagrams_in + s.datagrams_out);

function withoutUdp(sdp) {
  return sdp.split('\r\n').filter((l) => !(l.startsWith('a=candidate:') && / udp /i.test(l))).join('\r\n');
}

async function join(i) {
  const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
  const dc = pc.createDataChannel('peerrtc');
  dc.binaryType = 'arraybuffer';
  const peer = { i, id: `p${i + peerOffset}`, pc, dc, received: 0, bytes: 0, lat: [], rec: [], cmid: 0, acks: 0 };
  const welcome = new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`peer ${i}: no welcome in 20 s`)), 20000);
    dc.onmessage = (ev) => {
      if (typeof ev.data === 'string' && ev.data.startsWith('{') && ev.data.includes('"welcome"')) {
        clearTimeout(t);
        dc.onmessage = (e) => onFrame(peer, e.data);
        res();
      }
    };
  });
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const t0 = nowNs();
  const r = await fetch(`${base}/offer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ room, peer_id: peer.id, offer: { sdp: offer.sdp, type: 'offer' }, ...(protocol >= 2 ? { protocol: 2 } : {}) }),
  });
  const j = await r.json();
  if (r.status !== 200) throw new Error(`offer ${i}: ${r.status} ${JSON.stringify(j)}`);
  peer.serverUfrag = /a=ice-ufrag:(\S+)/.exec(j.sdp)?.[1] ?? null;  // names it in a server-side trace
  await pc.setRemoteDescription({ type: 'answer', sdp: transport === 'tcp' ? withoutUdp(j.sdp) : j.sdp });
  await welcome;
  peer.joinMs = Number(nowNs() - t0) / 1e6;
  return peer;
}

function onFrame(peer, data) {
  if (typeof data === 'string') {
    if (data[0] === 'A') { peer.acks++; return; }
    if (data[0] !== 'm' && data[0] !== 'M') return;
    const nl = data.indexOf('\n');
    const ts = data.slice(nl + 1, nl + 17);
    const sent = BigInt(`0x${ts}`);
    const ms = Number(nowNs() - sent) / 1e6;
    peer.lat.push(ms);
    // Who sent it (`m<from>\n`, docs/protocol.md), when, and how late: the per-sender and
    // per-receiver breakdown (a stall on one sender's messages to everyone is that client's
    // SCTP sending to the server; on one receiver's from everyone, the server's to that client).
    if (data[0] === 'm') peer.rec.push(peerIndex(data.slice(1, nl)), Number(sent / 1000n) / 1000, ms);
    peer.received++;
  } else {
    peer.received++;
    peer.bytes += data.byteLength;
  }
}

// `p<k>` -> k (the load generator's peer ids), else -1.
function peerIndex(id) { return /^p\d+$/.test(id) ? Number(id.slice(1)) : -1; }

function pct(sorted, p) { return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : null; }

async function main() {
  const peers = [];
  for (let i = 0; i < peersN; i++) peers.push(await join(i));
  const protocols = await Promise.all(peers.map(async (p) => {
    const s = await p.pc.getStats();
    let proto = null;
    s.forEach((x) => {
      if (x.type === 'transport' && x.selectedCandidatePairId) {
        const pair = s.get(x.selectedCandidatePairId);
        proto = s.get(pair.localCandidateId)?.protocol ?? null;
      }
    });
    return proto;
  }));
  if (protocols.some((p) => p !== transport)) throw new Error(`selected paths ${protocols.join(',')}, wanted ${transport}`);
  await sleep(300);
  const s0 = await stats();
  const c0 = serverCpuUs(serverPid);
  const t0 = nowNs();
  let offered = 0;
  if (!bulk) {
    const pad = 'x'.repeat(Math.max(0, size - 17));
    const interval = 1000 / rate;
    const end = Date.now() + duration * 1000;
    let next = Date.now();
    while (Date.now() < end) {
      for (const p of peers) { p.dc.send(`${protocol >= 2 ? `M${++p.cmid} ` : 'm'}${nowNs().toString(16).padStart(16, '0')} ${pad}`); offered++; }
      next += interval;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait); else if (wait < -50) next = Date.now();
    }
  } else {
    const sender = peers[0];
    const msg = new Uint8Array(size);
    msg[0] = 0x01;
    sender.dc.bufferedAmountLowThreshold = 1 << 20;
    const end = Date.now() + duration * 1000;
    while (Date.now() < end) {
      while (sender.dc.bufferedAmount < (4 << 20) && Date.now() < end) { sender.dc.send(msg); offered++; }
      await new Promise((r) => { sender.dc.onbufferedamountlow = r; setTimeout(r, 50); });
    }
  }
  const expected = bulk ? offered * (peersN - 1) : offered * (peersN - 1);
  const received = () => peers.reduce((a, p) => a + p.received, 0);
  for (let last = -1, still = 0; received() < expected && still < 60; still = received() === last ? still + 1 : 0) {
    last = received();
    await sleep(50);
  }
  const secs = Number(nowNs() - t0) / 1e9;
  const c1 = serverCpuUs(serverPid);
  const s1 = await stats();
  const deliveries = s0 && s1 ? s1.deliveries - s0.deliveries : received();
  const lat = peers.flatMap((p) => p.lat).sort((a, b) => a - b);
  const cpuUs = c0 === null ? null : (c1 - c0) / Math.max(1, deliveries);
  const out = {
    transport, mode: bulk ? 'bulk' : 'chat', peers: peersN, rate, size, duration,
    offered, expected, delivered: received(), delivered_fraction: received() / Math.max(1, expected),
    server_deliveries: deliveries,
    lat_p50_ms: pct(lat, 0.5), lat_p99_ms: pct(lat, 0.99), lat_max_ms: lat.length ? lat[lat.length - 1] : null,
    join_ms_max: Math.max(...peers.map((p) => p.joinMs)),
    mbit_s: bulk ? (peers.slice(1).reduce((a, p) => a + p.bytes, 0) * 8) / 1e6 / secs : null,
    server_cpu_us_per_delivery: cpuUs,
    wire_units_per_delivery: s0 && s1 ? (wireUnits(s1) - wireUnits(s0)) / Math.max(1, deliveries) : null,
    tcp_dropped_send: s0 && s1 ? s1.ice_tcp.dropped_send - s0.ice_tcp.dropped_send : null,
    selected: protocols[0],
  };
  for (const p of peers) { try { p.pc.close(); } catch { /* */ } }
  console.log(JSON.stringify(out));
}

// ---- several processes -------------------------------------------------------------------

async function transportPackets(pc) {
  const s = await pc.getStats();
  let n = 0;
  s.forEach((x) => { if (x.type === 'transport') n += (x.packetsSent || 0) + (x.packetsReceived || 0); });
  return n;
}

// A worker: joins its peers, then sends when told and reports what its peers received.
async function worker() {
  const send = (m) => process.send(m);
  const peers = [];
  for (let i = 0; i < peersN; i++) peers.push(await join(i));
  const pk0 = await Promise.all(peers.map((p) => transportPackets(p.pc)));
  send({ ev: 'joined', joinMs: peers.map((p) => p.joinMs) });
  const cmd = await new Promise((res) => process.once('message', res));
  const pkStart = await Promise.all(peers.map((p) => transportPackets(p.pc)));
  const cpu0 = process.cpuUsage();
  while (Date.now() < cmd.at) await sleep(Math.max(0, Math.min(5, cmd.at - Date.now())));
  const pad = 'x'.repeat(Math.max(0, size - 17));
  const interval = 1000 / rate;
  const end = cmd.at + duration * 1000;
  let next = cmd.at, offered = 0, late = 0;
  while (Date.now() < end) {
    for (const p of peers) { p.dc.send(`${protocol >= 2 ? `M${++p.cmid} ` : 'm'}${nowNs().toString(16).padStart(16, '0')} ${pad}`); offered++; }
    next += interval;
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait); else { late++; if (wait < -50) next = Date.now(); }
  }
  send({ ev: 'sent', offered, late });
  const progress = setInterval(() => send({ ev: 'progress', received: peers.reduce((a, p) => a + p.received, 0) }), 50);
  await new Promise((res) => process.once('message', res));  // report
  clearInterval(progress);
  const cpu = process.cpuUsage(cpu0);
  const pk1 = await Promise.all(peers.map((p) => transportPackets(p.pc)));
  send({
    ev: 'report',
    received: peers.reduce((a, p) => a + p.received, 0),
    lat: peers.flatMap((p) => p.lat),
    recs: peers.map((p) => ({ to: p.i + peerOffset, ufrag: p.serverUfrag, rec: p.rec })),
    cpuS: (cpu.user + cpu.system) / 1e6,
    packets: pk1.reduce((a, v, i) => a + v - pkStart[i], 0),
    joinPackets: pkStart.reduce((a, v, i) => a + v - pk0[i], 0),
  });
  for (const p of peers) { try { p.pc.close(); } catch { /* */ } }
  await new Promise((res) => process.once('message', res));  // exit
}

async function coordinator() {
  if (bulk) throw new Error('--procs > 1 is for chat (bulk has one sender: use --procs 1)');
  const me = fileURLToPath(import.meta.url);
  const per = Array.from({ length: procs }, (_, k) => Math.floor(peersN / procs) + (k < peersN % procs ? 1 : 0));
  const workers = [];
  let offset = 0;
  for (let k = 0; k < procs; k++) {
    if (!per[k]) continue;
    const child = fork(me, ['--worker', String(k), '--peer-offset', String(offset), '--peers', String(per[k]),
      '--http-port', String(port), '--room', room, '--rate', String(rate), '--size', String(size),
      '--duration', String(duration), '--transport', transport, '--host', host, '--protocol', String(protocol)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    offset += per[k];
    const w = { child, peers: per[k], msgs: [], waiters: [], received: 0 };
    child.on('message', (m) => {
      if (m.ev === 'progress') { w.received = m.received; return; }
      const i = w.waiters.findIndex((x) => x.ev === m.ev);
      if (i >= 0) w.waiters.splice(i, 1)[0].res(m); else w.msgs.push(m);
    });
    w.exited = new Promise((res) => child.on('exit', (code) => { w.exit = code; res(code); }));
    w.next = (ev, ms = 60000) => {
      const have = w.msgs.findIndex((m) => m.ev === ev);
      if (have >= 0) return Promise.resolve(w.msgs.splice(have, 1)[0]);
      return Promise.race([
        new Promise((res) => w.waiters.push({ ev, res })),
        w.exited.then((c) => { throw new Error(`worker ${k} exited (${c}) before '${ev}'`); }),
        sleep(ms).then(() => { throw new Error(`worker ${k}: no '${ev}' in ${ms} ms`); }),
      ]);
    };
    workers.push(w);
    // Join one process at a time: the server's join path is measured elsewhere (offer->open).
    w.joined = await w.next('joined');
  }
  try {
    await sleep(300);
    const s0 = await stats();
    const c0 = serverCpuUs(serverPid);
    const machine0 = machineTicks();
    const t0 = nowNs();
    const at = Date.now() + 100;
    // --trace FILE: the server's /stats sctp every 20 ms on the same clock as the messages' times.
    const polls = [];
    let polling = !!args.trace;
    const poller = (async () => {
      while (polling) {
        const t = Number(nowNs() / 1000n) / 1000;
        const s = await stats();
        if (s?.sctp) polls.push([t, s.sctp]);
        await sleep(20);
      }
    })();
    for (const w of workers) w.child.send({ cmd: 'start', at });
    const sent = await Promise.all(workers.map((w) => w.next('sent', duration * 1000 + 30000)));
    const offered = sent.reduce((a, m) => a + m.offered, 0);
    const expected = offered * (peersN - 1);
    const received = () => workers.reduce((a, w) => a + w.received, 0);
    for (let last = -1, still = 0; received() < expected && still < 60; still = received() === last ? still + 1 : 0) {
      last = received();
      await sleep(50);
    }
    const secs = Number(nowNs() - t0) / 1e9;
    const c1 = serverCpuUs(serverPid);
    const machine1 = machineTicks();
    const s1 = await stats();
    polling = false;
    await poller;
    for (const w of workers) w.child.send({ cmd: 'report' });
    const reports = await Promise.all(workers.map((w) => w.next('report')));
    const recs = reports.flatMap((r) => r.recs);
    if (args.trace) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(args.trace, JSON.stringify({ t_start_ms: Number(t0 / 1000n) / 1000, receivers: recs, stats: polls }));
    }
    // p99 of each sender's messages (over every receiver) and of each receiver's (from every
    // sender): a stall on one client's SCTP towards the server shows in one sender's column, the
    // server's towards one client in one receiver's.
    const byFrom = new Map(), byTo = new Map();
    for (const { to, rec } of recs) {
      for (let k = 0; k < rec.length; k += 3) {
        const from = rec[k], ms = rec[k + 2];
        if (!byFrom.has(from)) byFrom.set(from, []);
        byFrom.get(from).push(ms);
        if (!byTo.has(to)) byTo.set(to, []);
        byTo.get(to).push(ms);
      }
    }
    const p99Of = (m) => Object.fromEntries([...m].sort((a, b) => a[0] - b[0])
      .map(([k, v]) => [`p${k}`, Math.round(pct(Float64Array.from(v).sort(), 0.99) * 10) / 10]));
    const delivered = reports.reduce((a, r) => a + r.received, 0);
    const deliveries = s0 && s1 ? s1.deliveries - s0.deliveries : delivered;
    const lat = Float64Array.from(reports.flatMap((r) => r.lat)).sort();
    const cpuUs = c0 === null ? null : (c1 - c0) / Math.max(1, deliveries);
    const clientCpuS = reports.reduce((a, r) => a + r.cpuS, 0);
    const packets = reports.reduce((a, r) => a + r.packets, 0);
    const machineBusy = machine1 && machine0 ? 1 - (machine1.idle - machine0.idle) / Math.max(1, machine1.total - machine0.total) : null;
    const maxWorkerCpu = Math.max(...reports.map((r) => r.cpuS)) / secs;
    const lateSends = sent.reduce((a, m) => a + m.late, 0);
    const out = {
      transport, mode: 'chat', procs: workers.length, peers: peersN, rate, size, duration,
      offered, expected, delivered, delivered_fraction: delivered / Math.max(1, expected),
      server_deliveries: deliveries,
      lat_p50_ms: pct(lat, 0.5), lat_p99_ms: pct(lat, 0.99), lat_max_ms: lat.length ? lat[lat.length - 1] : null,
      join_ms_max: Math.max(...workers.flatMap((w) => w.joined.joinMs)),
      lat_p99_by_sender_ms: p99Of(byFrom),
      lat_p99_by_receiver_ms: p99Of(byTo),
      server_cpu_us_per_delivery: cpuUs,
      server_cpu_pct: c0 === null ? null : ((c1 - c0) / 1e6 / secs) * 100,
      // UDP datagrams both ways per delivery: the server's count (/stats) and the clients' count
      // (RTCTransportStats), which is the only one for a relay without /stats.
      wire_units_per_delivery: s0 && s1 ? (wireUnits(s1) - wireUnits(s0)) / Math.max(1, deliveries) : null,
      client_datagrams_per_delivery: packets / Math.max(1, delivered),
      sctp: s0 && s1 && s0.sctp ? Object.fromEntries(Object.keys(s1.sctp).map((k) => [k, s1.sctp[k] - s0.sctp[k]])) : null,
      client_cpu_pct: (clientCpuS / secs) * 100,
      client_max_worker_cpu_pct: maxWorkerCpu * 100,
      machine_busy_pct: machineBusy === null ? null : machineBusy * 100,
      late_send_ticks: lateSends,
      // The clients are the limit when a worker used most of a core, the send loop ran late,
      // or the machine had no idle CPU left.
      clients_bottleneck: maxWorkerCpu > 0.85 || (machineBusy !== null && machineBusy > 0.95) ||
        lateSends > 0.05 * (offered / peersN),
      selected: transport,
    };
    console.log(JSON.stringify(out));
  } finally {
    for (const w of workers) { try { w.child.send({ cmd: 'exit' }); } catch { /* */ } }
    await Promise.race([Promise.all(workers.map((w) => w.exited)), sleep(3000)]);
    for (const w of workers) if (w.exit === undefined) w.child.kill('SIGKILL');
  }
}

function machineTicks() {
  const l = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { idle: l[3] + l[4], total: l.reduce((a, v) => a + v, 0), cpus: cpus().length };
}

const entry = workerIndex !== null ? worker : procs > 1 ? coordinator : main;
entry().then(() => process.exit(0), (e) => { console.error(e.stack || String(e)); process.exit(1); });
