// A libwebrtc load generator: N @roamhq/wrtc peers (Google's libwebrtc in Node, a stack we did
// not write) join one room of peerrtc-server over UDP or over ICE-TCP, then either chat (every
// peer sends `--size`-byte text messages at `--rate` per second) or bulk (peer 0 sends binary
// messages of `--size` bytes as fast as flow control allows, the others receive). Prints one
// JSON line: deliveries, latency percentiles (send -> receive, one clock: one process), bulk
// throughput, and the server's CPU, deliveries and wire units (UDP datagrams or TCP frames)
// from /proc/<pid> and GET /stats over the load phase.
//
//   node bench/wrtc_loadgen.mjs --http-port P --server-pid PID [--transport udp|tcp]
//        [--peers 4] [--rate 100] [--size 100] [--duration 5] [--bulk] [--room NAME]
//
// --transport tcp hands each peer the answer without its UDP candidates, so its only path is
// ICE-TCP to the server's port (as for a client whose network drops UDP).
import { readFileSync } from 'node:fs';
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
const room = args.room || `bench-${transport}-${process.pid}`;
if (!port || !['udp', 'tcp'].includes(transport)) {
  console.error('usage: wrtc_loadgen.mjs --http-port P [--server-pid PID] [--transport udp|tcp] ...');
  process.exit(2);
}
const base = `http://127.0.0.1:${port}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowNs = () => process.hrtime.bigint();

function cpuTicks(pid) {
  if (!pid) return null;
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);  // utime + stime (fields 14, 15)
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
  const peer = { i, id: `p${i}`, pc, dc, received: 0, bytes: 0, lat: [] };
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
    body: JSON.stringify({ room, peer_id: peer.id, offer: { sdp: pc.localDescription.sdp, type: 'offer' } }),
  });
  const j = await r.json();
  if (r.status !== 200) throw new Error(`offer ${i}: ${r.status} ${JSON.stringify(j)}`);
  await pc.setRemoteDescription({ type: 'answer', sdp: transport === 'tcp' ? withoutUdp(j.sdp) : j.sdp });
  await welcome;
  peer.joinMs = Number(nowNs() - t0) / 1e6;
  return peer;
}

function onFrame(peer, data) {
  if (typeof data === 'string') {
    if (data[0] !== 'm') return;
    const nl = data.indexOf('\n');
    const ts = data.slice(nl + 1, nl + 17);
    peer.lat.push(Number(nowNs() - BigInt(`0x${ts}`)) / 1e6);
    peer.received++;
  } else {
    peer.received++;
    peer.bytes += data.byteLength;
  }
}

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
  const c0 = cpuTicks(serverPid);
  const t0 = nowNs();
  let offered = 0;
  if (!bulk) {
    const pad = 'x'.repeat(Math.max(0, size - 17));
    const interval = 1000 / rate;
    const end = Date.now() + duration * 1000;
    let next = Date.now();
    while (Date.now() < end) {
      for (const p of peers) { p.dc.send(`m${nowNs().toString(16).padStart(16, '0')} ${pad}`); offered++; }
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
  const c1 = cpuTicks(serverPid);
  const s1 = await stats();
  const deliveries = s0 && s1 ? s1.deliveries - s0.deliveries : received();
  const lat = peers.flatMap((p) => p.lat).sort((a, b) => a - b);
  const cpuUs = c0 === null ? null : ((c1 - c0) * 10000) / Math.max(1, deliveries);  // 100 Hz ticks
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

main().then(() => process.exit(0), (e) => { console.error(e.stack || String(e)); process.exit(1); });
