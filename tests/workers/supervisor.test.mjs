// peerrtc-server --workers N: the supervisor (docs/deploy.md, "Several processes on one
// machine"). A real redis-server; the workers are real processes sharing the HTTP port.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { SERVER_BIN, alive, freePort, freePorts, freshGet, portClient, runToExit, startRedis, startWorkers, waitUntil } from './lib.mjs';

let redis;
before(async () => { redis = await startRedis(); });
after(async () => { await redis?.stop(); });

test('--workers without --redis, and ports that cannot work: exit 2 with a clear error', async () => {
  let r = await runToExit(SERVER_BIN, ['--workers', '2', '--port', '0']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--workers needs --redis/);
  r = await runToExit(SERVER_BIN, ['--port', '0'], { env: { PEERRTC_WORKERS: '2' } });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--workers needs --redis/);
  r = await runToExit(SERVER_BIN, ['--workers', '2', '--redis', redis.url, '--port', '9000', '--udp-port', '8999']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /shared HTTP port 9000 is one of the workers' own ports 8999\.\.9000/);
  r = await runToExit(SERVER_BIN, ['--workers', '4', '--redis', redis.url, '--udp-port', '65533']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /go past 65535/);
  r = await runToExit(SERVER_BIN, ['--workers', '65', '--redis', redis.url]);
  assert.equal(r.code, 2, r.stderr);
  r = await runToExit(SERVER_BIN, ['--workers', '2', '--redis', redis.url, '--node-id', 'n'.repeat(62)]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /at most 61 characters with --workers/);
});

test('one READY for the set; the shared port reaches both workers; SIGTERM stops all, exit 0', async () => {
  const sup = await startWorkers(2, redis);
  try {
    const ready = JSON.parse(sup.lines.find((l) => l.startsWith('READY ')).slice(6));
    assert.equal(ready.workers.length, 2, JSON.stringify(ready));
    // READY's shared port is served by the set: a connection to it is answered by one of the
    // workers READY lists (its pid), not by the supervisor or anything else.
    const first = await freshGet(ready.http, '/health');
    assert.equal(first.status, 200);
    assert.ok(ready.workers.some((w) => w.pid === first.json.worker?.pid), `/health on ${ready.http}: ${JSON.stringify(first.json)}`);
    const pids = ready.workers.map((w) => w.pid);
    for (const [i, w] of ready.workers.entries()) {
      assert.equal(w.index, i);
      assert.equal(w.restarts, 0);
      assert.ok(alive(w.pid), `worker ${i} pid ${w.pid}`);
      assert.ok(w.http > 0 && w.udp === w.http && w.tcp === w.http, JSON.stringify(w));
      assert.notEqual(w.http, ready.http);
      // Its own port answers as itself.
      const h = await portClient(w.http).request('GET', '/health');
      assert.equal(h.status, 200);
      assert.deepEqual(h.json.worker, { index: i, pid: w.pid, restarts: 0 });
    }
    // New connections on the shared port are spread by the kernel: both answer within a few.
    const seen = new Set();
    for (let i = 0; i < 64 && seen.size < 2; i++) seen.add((await freshGet(ready.http, '/health')).json.worker.index);
    assert.equal(seen.size, 2, 'every /health on the shared port came from one worker');

    const res = await sup.stop({ signal: 'SIGTERM' });
    assert.equal(res.code, 0, sup.output());
    for (const pid of pids) assert.ok(!alive(pid), `worker ${pid} outlived the supervisor`);
    assert.match(sup.output(), /\[peerrtc w0\].*stopped/);
    assert.match(sup.output(), /\[peerrtc w1\].*stopped/);
  } finally {
    sup.kill();
  }
});

test('a SIGKILLed worker is restarted (same own port when fixed), logged and counted; SIGINT stops all', async () => {
  const base = await freePorts(2);  // the workers' own ports: base, base + 1
  const sup = await startWorkers(2, redis, ['--udp-port', String(base)]);
  try {
    const ready = JSON.parse(sup.lines.find((l) => l.startsWith('READY ')).slice(6));
    assert.deepEqual(ready.workers.map((w) => w.http), [base, base + 1]);
    const victim = ready.workers[1];
    process.kill(victim.pid, 'SIGKILL');
    const line = await sup.waitForLine(/^WORKER /, 15000);
    const back = JSON.parse(line.slice(7));
    assert.equal(back.index, 1);
    assert.equal(back.restarts, 1);
    assert.notEqual(back.pid, victim.pid);
    assert.equal(back.http, base + 1);
    assert.match(sup.output(), /worker 1 was killed by SIGKILL; restarting it in \d+ ms \(restart 1 of this worker, 1 in all\)/);
    const h = await portClient(base + 1).request('GET', '/health');
    assert.deepEqual(h.json.worker, { index: 1, pid: back.pid, restarts: 1 });
    assert.ok(alive(ready.workers[0].pid), 'the other worker was left alone');

    // Again, at once: the backoff doubles.
    process.kill(back.pid, 'SIGKILL');
    const again = JSON.parse((await sup.waitForLine(/^WORKER .*"restarts":2/, 15000)).slice(7));
    assert.equal(again.index, 1);
    assert.match(sup.output(), /worker 1 was killed by SIGKILL; restarting it in 200 ms \(restart 2 of this worker, 2 in all\)/);

    const res = await sup.stop({ signal: 'SIGINT' });
    assert.equal(res.code, 0, sup.output());
    for (const pid of [ready.workers[0].pid, again.pid]) assert.ok(!alive(pid), `worker ${pid} outlived the supervisor`);
  } finally {
    sup.kill();
  }
});

test('node ids <base>-<i> (random base without --node-id); --advertise-url gives the host, each worker its own port', async () => {
  const sup = await startWorkers(2, redis, ['--advertise-url', 'http://localhost:1']);
  try {
    const ready = JSON.parse(sup.lines.find((l) => l.startsWith('READY ')).slice(6));
    const base = ready.workers[0].node.replace(/-0$/, '');
    assert.match(base, /^n-[0-9a-f]+$/);
    assert.deepEqual(ready.workers.map((w) => w.node), [`${base}-0`, `${base}-1`]);
    const nodes = (await sup.request('GET', '/cluster/nodes')).json.nodes;
    for (const w of ready.workers) assert.equal(nodes.find((n) => n.id === w.node).url, `http://localhost:${w.http}`);
    assert.equal((await sup.stop()).code, 0, sup.output());
  } finally {
    sup.kill();
  }
});

test('ephemeral own ports: a restarted worker takes its old port back (its node URL stays the same)', async () => {
  const sup = await startWorkers(2, redis);
  try {
    const ready = JSON.parse(sup.lines.find((l) => l.startsWith('READY ')).slice(6));
    process.kill(ready.workers[0].pid, 'SIGKILL');
    const back = JSON.parse((await sup.waitForLine(/^WORKER /, 15000)).slice(7));
    assert.equal(back.index, 0);
    assert.equal(back.http, ready.workers[0].http);
    assert.equal(back.udp, ready.workers[0].udp);
    assert.equal((await sup.stop()).code, 0, sup.output());
  } finally {
    sup.kill();
  }
});

test('SIGKILL of the supervisor: the workers exit too (no orphans)', async () => {
  const sup = await startWorkers(2, redis);
  try {
    const ready = JSON.parse(sup.lines.find((l) => l.startsWith('READY ')).slice(6));
    sup.kill();
    await sup.exited;
    await waitUntil(() => ready.workers.every((w) => !alive(w.pid)), 12000, 'the workers to exit after their supervisor');
  } finally {
    sup.kill();
  }
});

test('a worker that cannot start (its own port taken) stops the set: exit 1 with its error', async () => {
  // Worker 0's port (base) must be free and worker 1's (base + 1) taken: a port the OS chose for
  // the blocker says nothing of the one below it (a full run once found it in use).
  const base = await freePorts(2);
  const blocker = net.createServer();
  await new Promise((res, rej) => { blocker.once('error', rej); blocker.listen(base + 1, '127.0.0.1', res); });
  const taken = blocker.address().port;
  try {
    // Worker 1's own port is taken: worker 0 starts, then is stopped.
    const r = await runToExit(SERVER_BIN, ['--workers', '2', '--redis', redis.url, '--port', '0', '--udp-port', String(taken - 1),
      '--no-examples'], { timeoutMs: 20000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken}: Address already in use`));
    assert.match(r.stderr, /worker 1 exited with code 1 before it was ready; stopping the others/);
    assert.equal(r.stdout, '', 'no READY line');
    // The shared port taken: the supervisor says so before starting anything.
    const s = await runToExit(SERVER_BIN, ['--workers', '2', '--redis', redis.url, '--port', String(taken), '--no-examples']);
    assert.equal(s.code, 1, s.stderr);
    assert.match(s.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken}: Address already in use`));
  } finally {
    blocker.close();
  }
});
