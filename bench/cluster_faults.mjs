// Issue 20's cluster benchmarks, on a real redis-server and two peerrtc-server nodes, with
// @roamhq/wrtc peers (the JS client), reusing the chaos suite's helpers (tests/chaos/lib.mjs):
//
//   failover  N runs each of SIGKILL and SIGSTOP of the node that holds a room with two peers
//             (both signalling through the other node, their media on the holder): the time from
//             the fault until x and y are together on the other node and y hears x again.
//             Median and worst.
//   pause     Redis SIGSTOPped for 30 s while one peer sends 64 KiB messages at ~3 MB/s with
//             --redis-stream: the holder's RSS sampled every 500 ms (start, max, end).
//   storm     12 server-API calls in flight each way at all times (a's calls for b's room, b's for
//             a's: every one forwarded) for 15 s; meanwhile peers join through the node that does
//             not hold their room (forwarded offers). Offer→open and API latency (p50, p99,
//             max), and the answers by status.
//
//   node bench/cluster_faults.mjs [failover|pause|storm ...] [--runs 20] [--json out.jsonl]
//
// Env: PEERRTC_SERVER (the binary; "before" runs use an older build), PEERRTC_CLUSTER_SECRET.
// The machine is shared: give its load next to the numbers (this script prints loadavg).
import { loadavg } from 'node:os';
import { appendFileSync } from 'node:fs';
import { closeAll } from '../tests/client/lib/util.mjs';
import { connectPeer } from '../tests/server/lib.mjs';
import {
  startRedis, startNode, until, nodeIds, makeClient, waitFor, uid, sleep, pause, resume, localRooms, timedRequest,
  rssMiB,
} from '../tests/chaos/lib.mjs';

// tests/lib/wrtc.mjs turns every exit into process.exit(code), which can swallow the report of an
// error thrown here: print it ourselves.
process.on('uncaughtException', (e) => { process.stderr.write(`uncaught: ${e.stack}\n`); process.exit(2); });
process.on('unhandledRejection', (e) => { process.stderr.write(`unhandled: ${e?.stack ?? e}\n`); process.exit(2); });
const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv.splice(i, 2)[1] : dflt; };
const RUNS = Number(opt('--runs', 20));
const JSON_OUT = opt('--json', null);
const which = argv.length ? argv : ['failover', 'pause', 'storm'];
const TTL = 3000;

const out = (o) => {
  const line = { ...o, load: loadavg().map((x) => x.toFixed(2)).join(' '), at: new Date().toISOString() };
  console.log(JSON.stringify(line));
  if (JSON_OUT) appendFileSync(JSON_OUT, `${JSON.stringify(line)}\n`);
};
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const median = (xs) => pct(xs, 0.5);

async function cluster(extra = []) {
  const redis = await startRedis();
  const [a, b] = await Promise.all(['a', 'b'].map((id) => startNode(redis, id, ['--node-ttl-ms', String(TTL), ...extra])));
  await until(async () => (await nodeIds(b)).length === 2, 5000, 'b to see 2 nodes');
  return { redis, a, b, async stop() {
    for (const n of [a, b]) { resume(n); if (!n.exitInfo()) await n.stop({ expectCleanExit: false }).catch(() => n.kill()); }
    await redis.stop();
  } };
}

// One failover run: fresh cluster (a fault leaves a node dead or stale).
async function failoverRun(signal) {
  const c = await cluster();
  const clients = [];
  try {
    const R = uid('R');
    // Both peers reach the cluster through b (their HTTP must outlive the fault); the room is
    // placed on a (both empty: the smaller id), so their media goes to a.
    const x = makeClient(c.b, R, 'x', { disconnectTimeout: 1000 });
    const y = makeClient(c.b, R, 'y', { disconnectTimeout: 1000 });
    clients.push(x, y);
    await x.connect();
    await y.connect();
    const holder = await c.redis.cmd('GET', `peerrtc:room:${R}`);
    if (holder !== 'a') throw new Error(`room placed on ${holder}, not a`);
    const [h, other] = [c.a, c.b];
    let n = 0;
    const timer = setInterval(() => { if (x.status === 'connected') { try { x.sendMessage(`m${n++}`); } catch { /* */ } } }, 20);
    try {
      await waitFor(() => y.rec.messages.length > 10, 10000, 'traffic');
      const t0 = Date.now();
      if (signal === 'SIGKILL') h.kill(); else pause(h);
      await until(async () => JSON.stringify((await localRooms(other))?.get(R)) === '["x","y"]', 60000, 'x and y on the other node');
      const tTogether = Date.now() - t0;
      const m0 = y.rec.messages.filter((m) => m.from === 'x').length;
      await waitFor(() => y.rec.messages.filter((m) => m.from === 'x').length > m0, 20000, 'y hears x');
      return { together: tTogether, hears: Date.now() - t0 };
    } finally {
      clearInterval(timer);
    }
  } finally {
    await closeAll(clients);
    await c.stop();
  }
}

async function failover() {
  for (const signal of ['SIGKILL', 'SIGSTOP']) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      try {
        runs.push(await failoverRun(signal));
      } catch (e) {
        runs.push({ error: String(e.message).slice(0, 200) });
      }
      process.stderr.write(`failover ${signal} run ${i + 1}/${RUNS}: ${JSON.stringify(runs.at(-1))}\n`);
    }
    const ok = runs.filter((r) => !r.error);
    const hears = ok.map((r) => r.hears);
    out({ bench: 'failover', signal, runs: runs.length, failed: runs.length - ok.length,
      hears_median_ms: median(hears), hears_worst_ms: Math.max(...hears),
      together_median_ms: median(ok.map((r) => r.together)), together_worst_ms: Math.max(...ok.map((r) => r.together)),
      all_ms: hears });
  }
}

async function redisPause() {
  const c = await cluster(['--redis-stream', '1000']);
  const clients = [];
  try {
    const R = uid('P');
    const x = makeClient(c.a, R, 'x');
    const y = makeClient(c.a, R, 'y');
    clients.push(x, y);
    await x.connect();
    await y.connect();
    const holder = (await c.redis.cmd('GET', `peerrtc:room:${R}`)) === 'a' ? c.a : c.b;
    const payload = 'p'.repeat(64 * 1024);
    const timer = setInterval(() => { if (x.status === 'connected') { try { x.sendMessage(payload); } catch { /* */ } } }, 20);  // ~3.2 MB/s
    const samples = [];
    try {
      await waitFor(() => y.rec.messages.length > 20, 10000, 'traffic');
      const before = await rssMiB(holder);
      c.redis.signal('SIGSTOP');
      const t0 = Date.now();
      while (Date.now() - t0 < 30000) { samples.push(await rssMiB(holder)); await sleep(500); }
      c.redis.signal('SIGCONT');
      const t1 = Date.now();
      await until(async () => (await Promise.all([c.a, c.b].map((n) => localRooms(n)))).some((v) => v?.get(R)?.length === 2), 30000, 'the room again');
      const back = Date.now() - t1;
      await sleep(2000);
      const cn = (await holder.request('GET', '/cluster/nodes')).json?.counters;
      out({ bench: 'redis-pause', pause_s: 30, rate: '64 KiB x 50/s', rss_before_mib: +before.toFixed(1),
        rss_max_mib: +Math.max(...samples).toFixed(1), rss_end_mib: +(await rssMiB(holder)).toFixed(1),
        room_back_ms: back, redis_counters: cn?.redis, stream_counters: cn?.stream });
    } finally {
      clearInterval(timer);
    }
  } finally {
    await closeAll(clients);
    await c.stop();
  }
}

async function storm() {
  const KEY = 'bench-api-key';
  const AUTH = { authorization: `Bearer ${KEY}` };
  const c = await cluster(['--api-key', KEY]);
  const raw = [];
  try {
    const RA = uid('RA');
    const RB = uid('RB');
    raw.push(await connectPeer(c.a, RA, 'pa'));
    await until(async () => (await c.a.request('GET', '/cluster/nodes')).json.nodes.find((n) => n.id === 'a').peers >= 1, 5000, 'a\'s load');
    await sleep(1200);
    raw.push(await connectPeer(c.a, RB, 'pb'));
    const holderA = await c.redis.cmd('GET', `peerrtc:room:${RA}`);
    const holderB = await c.redis.cmd('GET', `peerrtc:room:${RB}`);
    if (holderA === holderB) throw new Error(`both rooms on ${holderA}`);
    const nodeOf = (id) => (id === 'a' ? c.a : c.b);
    // Offer→open with no storm (baseline), then during it: peers join RA through RB's holder.
    const joins = async (n, label) => {
      const ms = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const p = await connectPeer(nodeOf(holderB), RA, `${label}${i}`);
        ms.push(performance.now() - t0);
        raw.push(p);
      }
      return ms;
    };
    const calm = await joins(10, 'calm');
    let running = true;
    const api = [];
    const worker = async (node, room) => {
      while (running) api.push(await timedRequest(node, 'POST', '/api/broadcast', { room, data: 'storm' }, AUTH, 20000));
    };
    const workers = [];
    for (let i = 0; i < 12; i++) workers.push(worker(nodeOf(holderA), RB), worker(nodeOf(holderB), RA));
    await sleep(1000);
    const during = await joins(10, 'storm');
    const health = [];
    const tEnd = Date.now() + 5000;
    while (Date.now() < tEnd) { health.push((await timedRequest(c.a, 'GET', '/health', undefined, {}, 10000)).ms); await sleep(200); }
    running = false;
    await Promise.all(workers);
    const by = {};
    for (const r of api) { const k = r.status === 503 ? `503 ${r.json?.code}` : String(r.status); by[k] = (by[k] || 0) + 1; }
    const ok = api.filter((r) => r.status === 200).map((r) => r.ms);
    out({ bench: 'storm', in_flight_each_way: 12,
      offer_open_calm_ms: { p50: +median(calm).toFixed(1), max: +Math.max(...calm).toFixed(1) },
      offer_open_storm_ms: { p50: +median(during).toFixed(1), p99: +pct(during, 0.99).toFixed(1), max: +Math.max(...during).toFixed(1) },
      api_ms_200: { n: ok.length, p50: median(ok), p99: pct(ok, 0.99), max: Math.max(...ok) },
      api_answers: by, health_ms_max: Math.max(...health) });
  } finally {
    for (const p of raw) p.close();
    await c.stop();
  }
}

for (const w of which) {
  if (w === 'failover') await failover();
  else if (w === 'pause') await redisPause();
  else if (w === 'storm') await storm();
  else throw new Error(`unknown bench ${w}`);
}
process.exit(0);
