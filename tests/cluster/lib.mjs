// Helpers of the cluster suite: a real redis-server on a free port (started and killed here),
// peerrtc-server nodes on it (--redis), and a tiny Redis client (RESP over a TCP socket) to look
// at the keys the nodes keep.
import { spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, connect } from 'node:net';
import { SERVER_BIN, sleep, startServer, withTimeout } from '../server/lib.mjs';

export { SERVER_BIN, sleep, withTimeout };

// Every node started by these suites shares this cluster secret (--redis needs one): through the
// environment, so processes started any other way (runToExit, --workers) have it too.
export const CLUSTER_SECRET = process.env.PEERRTC_CLUSTER_SECRET || 'test-cluster-secret-0123456789';
process.env.PEERRTC_CLUSTER_SECRET = CLUSTER_SECRET;

// The headers a node puts on a request it forwards to another (src/cluster/forward.hpp): what a
// test needs to speak as node `from`. `target` with its query string; `body` as sent.
export function forwardHeaders(from, method, target, body = '', { secret = CLUSTER_SECRET, t = Date.now(), nonce = randomBytes(16).toString('hex') } = {}) {
  const digest = createHash('sha256').update(body).digest('hex');
  const msg = `peerrtc-forward-v2\n${from}\n${method}\n${target}\n${digest}\n${t}\n${nonce}`;
  const sig = createHmac('sha256', secret).update(msg).digest('hex');
  return { 'X-PeerRTC-Forwarded': from, 'X-PeerRTC-Signature': `v2 t=${t} n=${nonce} sig=${sig}` };
}

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

// A Redis command over a fresh connection: the reply parsed (string, number, null, array) or
// an Error for a Redis error reply.
export function redisCommand(port, ...argv) {
  return withTimeout(new Promise((res, rej) => {
    const sock = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    sock.on('error', rej);
    sock.on('connect', () => {
      sock.write(`*${argv.length}\r\n` + argv.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join(''));
    });
    const parse = (i) => {  // -> [value, next] or null if incomplete
      const nl = buf.indexOf('\r\n', i);
      if (nl < 0) return null;
      const type = String.fromCharCode(buf[i]);
      const line = buf.toString('utf8', i + 1, nl);
      if (type === '+') return [line, nl + 2];
      if (type === '-') return [new Error(line), nl + 2];
      if (type === ':') return [Number(line), nl + 2];
      if (type === '$') {
        const n = Number(line);
        if (n < 0) return [null, nl + 2];
        if (buf.length < nl + 2 + n + 2) return null;
        return [buf.toString('utf8', nl + 2, nl + 2 + n), nl + 2 + n + 2];
      }
      if (type === '*') {
        const n = Number(line);
        if (n < 0) return [null, nl + 2];
        const out = [];
        let at = nl + 2;
        for (let k = 0; k < n; k++) {
          const r = parse(at);
          if (!r) return null;
          out.push(r[0]);
          at = r[1];
        }
        return [out, at];
      }
      throw new Error(`bad RESP type ${type}`);
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const r = parse(0);
      if (r) { sock.destroy(); res(r[0]); }
    });
  }), 5000, `redis ${argv.join(' ')}`);
}

// redis-server on `port` (free one if omitted); stop() kills it (SIGKILL: no save, no goodbye).
export async function startRedis(port, extraArgs = []) {
  port = port || await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--loglevel', 'warning', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c) => { output += c; });
  child.stderr.on('data', (c) => { output += c; });
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  const deadline = Date.now() + 10000;
  for (;;) {
    try {
      const pong = await redisCommand(port, 'PING');
      if (pong === 'PONG' || (pong instanceof Error && /NOAUTH/.test(pong.message))) break;
    } catch { /* not yet */ }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server on ${port} did not start: ${output}`);
    await sleep(50);
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    signal: (sig) => child.kill(sig),  // e.g. SIGSTOP / SIGCONT (tests/chaos)
    cmd: (...argv) => redisCommand(port, ...argv),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

// A peerrtc-server node of the cluster on `redis`.
export async function startNode(redis, id, extraArgs = [], { env = {} } = {}) {
  const args = ['--host', '127.0.0.1', '--port', '0', '--no-examples', '--redis', redis.url, '--node-id', id, ...extraArgs];
  const node = await startServer(SERVER_BIN, args, { name: `node-${id}`, env });
  node.id = id;
  // A node with an API key lists rooms and nodes only with it (docs/deploy.md "What is public"):
  // the helpers below send node.auth.
  const i = extraArgs.indexOf('--api-key');
  const key = i >= 0 ? extraArgs[i + 1] : env.PEERRTC_API_KEY;
  node.auth = key ? { authorization: `Bearer ${key}` } : {};
  return node;
}

// Polls `fn` (async) until it returns a truthy value.
export async function until(fn, ms, what) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    await sleep(50);
  }
}

// The cluster's view of the rooms from `node`: {room: [peers sorted]} (and the raw answer).
export async function roomsOf(node) {
  const r = await node.request('GET', '/rooms', undefined, node.auth);
  if (r.status !== 200) throw new Error(`${node.name}: GET /rooms ${r.status} ${r.text}`);
  const out = {};
  for (const x of r.json.rooms) out[x.room] = [...x.peers].sort();
  return { map: out, json: r.json };
}

export async function nodeIds(node) {
  const r = await node.request('GET', '/cluster/nodes', undefined, node.auth);
  if (r.status !== 200) throw new Error(`${node.name}: GET /cluster/nodes ${r.status} ${r.text}`);
  return r.json.nodes.map((n) => n.id).sort();
}
