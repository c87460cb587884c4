// Helpers of the chaos suite: the cluster suite's real redis-server and nodes (tests/cluster/lib.mjs),
// plus what faults need — pausing processes, each node's own view of the rooms it serves, a watch
// that measures how long a room is served by two nodes at once, and peers that send
// sequence-numbered messages with a checker for what arrived.
import { makeClient, waitFor, uid, sleep } from '../client/lib/util.mjs';
import { startRedis, startNode, until, nodeIds, forwardHeaders, CLUSTER_SECRET } from '../cluster/lib.mjs';

export { makeClient, waitFor, uid, sleep, startRedis, startNode, until, nodeIds, forwardHeaders, CLUSTER_SECRET };

// An HTTP request to `node` that gives up after `ms`: {status, json, text, ms} (status 0: no answer).
export async function timedRequest(node, method, path, body, headers = {}, ms = 15000) {
  const t0 = Date.now();
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(ms) };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['content-type'] = 'application/json';
  }
  try {
    const res = await fetch(node.baseUrl + path, init);
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, json, text, ms: Date.now() - t0 };
  } catch (e) {
    return { status: 0, json: null, text: String(e.message), ms: Date.now() - t0 };
  }
}

export const pause = (proc) => proc.child.kill('SIGSTOP');
export const resume = (proc) => proc.child.kill('SIGCONT');

// The rooms `node` serves itself (GET /rooms as another node asks it: signed, never fanned out).
// null when the node does not answer within `ms` (paused).
export async function localRooms(node, ms = 1000) {
  const r = await timedRequest(node, 'GET', '/rooms', undefined, forwardHeaders('chaos-probe', 'GET', '/rooms'), ms);
  if (r.status !== 200) return null;
  return new Map(r.json.rooms.map((x) => [x.room, [...x.peers].sort()]));
}

// Polls every node's own rooms every `everyMs` and records, per room, the time spans during which
// two or more nodes served it. stop() resolves {spans: {room: [[from, to], ...]}, longest(room)}.
export function watchSplits(nodes, rooms, everyMs = 100) {
  const spans = Object.fromEntries(rooms.map((r) => [r, []]));
  const open = {};
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      const views = await Promise.all(nodes.map((n) => localRooms(n, 500)));
      for (const room of rooms) {
        const holders = views.filter((v) => v && v.has(room)).length;
        if (holders >= 2 && open[room] === undefined) open[room] = t;
        if (holders < 2 && open[room] !== undefined) { spans[room].push([open[room], t]); delete open[room]; }
      }
      await sleep(Math.max(0, everyMs - (Date.now() - t)));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const now = Date.now();
      for (const room of Object.keys(open)) spans[room].push([open[room], now]);
      return { spans, longest: (room) => Math.max(0, ...spans[room].map(([a, b]) => b - a)) };
    },
  };
}

// A JS client that sends `s:<peer>:<n>` every `everyMs` while running (n from 0, counting only
// messages the client accepted). Check with checkDelivery.
export function sequencer(client, everyMs = 20) {
  const s = { client, sent: 0, timer: null };
  s.start = () => {
    s.timer = setInterval(() => {
      if (client.status !== 'connected') return;
      try { client.sendMessage(`s:${client.peerId}:${s.sent}`); s.sent++; } catch { /* reconnecting */ }
    }, everyMs);
  };
  s.stop = () => clearInterval(s.timer);
  return s;
}

// The checker. For each receiver and each sender: the sequence numbers it got are strictly
// increasing (at most once, in order). With `complete`, also every number the sender sent
// (0..sent-1), for a pair that stayed connected throughout. Returns a list of problems ([] = fine).
export function checkDelivery(receivers, senders, { complete = false } = {}) {
  const problems = [];
  for (const r of receivers) {
    for (const s of senders) {
      if (r === s.client) continue;
      const got = r.rec.messages.filter((m) => m.from === s.client.peerId && typeof m.message === 'string' && m.message.startsWith(`s:${s.client.peerId}:`))
        .map((m) => Number(m.message.split(':')[2]));
      for (let i = 1; i < got.length; i++) {
        if (got[i] <= got[i - 1]) { problems.push(`${r.peerId} got ${s.client.peerId}'s #${got[i]} after #${got[i - 1]}`); break; }
      }
      if (complete) {
        const seen = new Set(got);
        const missing = [];
        for (let n = 0; n < s.sent; n++) if (!seen.has(n)) missing.push(n);
        if (missing.length) problems.push(`${r.peerId} missed ${missing.length} of ${s.client.peerId}'s ${s.sent} (first #${missing[0]})`);
      }
    }
  }
  return problems;
}

// A node's counters (GET /cluster/nodes "counters").
export async function counters(node) {
  const r = await node.request('GET', '/cluster/nodes', undefined, node.auth);
  if (r.status !== 200) throw new Error(`${node.name}: GET /cluster/nodes ${r.status} ${r.text}`);
  return r.json.counters;
}

// RSS of a process in MiB (from /proc).
export async function rssMiB(proc) {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${proc.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
}
