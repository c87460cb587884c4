// Helpers of the --workers tests: a real redis-server on a free port (tests/cluster/lib.mjs), a supervisor with its
// workers (READY and WORKER lines), requests to one worker's own port, process liveness.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { startProcess } from '../lib/server.mjs';
import { freePort, startRedis } from '../cluster/lib.mjs';
import { SERVER_BIN, runToExit, sleep, withTimeout } from '../server/lib.mjs';

export { SERVER_BIN, runToExit, sleep, withTimeout };

export { freePort, startRedis };  // a throwaway redis-server on a free port (tests/cluster)

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
