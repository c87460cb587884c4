// Helpers of the --workers tests: a real redis-server on a free port (tests/cluster/lib.mjs), a supervisor with its
// workers (READY and WORKER lines), requests to one worker's own port, process liveness.
import { readFileSync } from 'node:fs';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { startProcess } from '../lib/server.mjs';
import { freePort, startRedis } from '../cluster/lib.mjs';
import { SERVER_BIN, runToExit, sleep, withTimeout } from '../server/lib.mjs';

export { SERVER_BIN, runToExit, sleep, withTimeout };

export { freePort, startRedis };  // a throwaway redis-server on a free port (tests/cluster)

// Whether `port` can be bound on 127.0.0.1 for TCP and for UDP right now.
async function bindable(port) {
  const tcp = await new Promise((res) => {
    const s = net.createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
  if (!tcp) return false;
  return new Promise((res) => {
    const u = dgram.createSocket('udp4');
    u.once('error', () => { u.close(); res(false); });
    u.bind(port, '127.0.0.1', () => u.close(() => res(true)));
  });
}

// A base port whose next `count` ports (base .. base + count - 1) are all free for TCP and UDP:
// the workers' own ports with --udp-port base. freePort() alone vouches for one port only (seen:
// base + 1 taken by another process's connection, a worker failing to start).
export async function freePorts(count) {
  for (let i = 0; i < 50; i++) {
    const base = await freePort();
    if (base + count - 1 > 65535) continue;
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await bindable(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

// Starts `peerrtc-server --workers N ...`; resolves with the process (startProcess's object,
// every stdout line kept) and `ready` (the supervisor's READY JSON).
export async function startWorkers(n, redis, args = [], { name = 'workers' } = {}) {
  const all = ['--workers', String(n), '--redis', redis.url, '--port', '0', '--no-examples', ...args];
  return startProcess(SERVER_BIN, all, { name, keepLines: true, expectCleanExit: false, readyTimeoutMs: 30000, stopTimeoutMs: 20000 });
}

// A `request(method, path, body)` to one port (a worker's own), in startProcess's shape.
export function portClient(port) {
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    baseUrl,
    async request(method, path, body) {
      const init = { method, headers: {}, signal: AbortSignal.timeout(10000) };
      if (body !== undefined) {
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
        init.headers['content-type'] = 'application/json';
      }
      const res = await fetch(baseUrl + path, init);
      const text = await res.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, text, json };
    },
  };
}

// True while `pid` exists and is not a zombie (PID 1 of a container may never reap them).
export function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export async function waitUntil(pred, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

// GET on a new TCP connection (no keep-alive pool): where SO_REUSEPORT sends a new connection
// is the kernel's choice per connection, so a pooled one would always reach the same worker.
export function freshGet(port, path) {
  return new Promise((res, rej) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 10000 }, (r) => {
      let body = '';
      r.on('data', (c) => { body += c; });
      r.on('end', () => { try { res({ status: r.statusCode, json: JSON.parse(body) }); } catch (e) { rej(e); } });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} on ${port} timed out`)));
    req.on('error', rej);
  });
}
