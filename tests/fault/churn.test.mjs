// 1,000 join/leave cycles (native probe: offer, ICE, DTLS, SCTP, welcome, leave, close; one new
// room per cycle) leave the server's resident memory and file descriptors flat.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, SERVER_BIN, runProbe, procStats, sleep, uniqueId } from './lib.mjs';

const WARMUP = 100, CYCLES = 1000;
const MAX_RSS_GROWTH_KIB = 8 * 1024;
let server;
before(async () => { server = await startServer(SERVER_BIN, ['--port', '0', '--no-examples', '--log-level', 'warn'], { name: 'churn' }); });
after(async () => { if (server) await server.stop(); });

async function settled() {
  // Wait for the server to have let go of every peer, then read /proc.
  for (let i = 0; i < 100; i++) {
    const h = (await server.request('GET', '/stats')).json;
    if (h.peers === 0 && h.pending === 0 && h.rooms === 0) break;
    await sleep(50);
  }
  await sleep(200);
  return procStats(server.child.pid);
}

test(`${CYCLES} join/leave cycles: RSS and fds flat`, async () => {
  const start = procStats(server.child.pid);
  const warm = await runProbe(server, ['--churn', String(WARMUP), '--room', uniqueId('warm')]);
  assert.equal(warm.result.ok, WARMUP, JSON.stringify(warm.result));
  const before = await settled();
  const run = await runProbe(server, ['--churn', String(CYCLES), '--room', uniqueId('churn')], 120000);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.equal(run.result.ok, CYCLES, JSON.stringify(run.result));
  const afterStats = await settled();
  const stats = (await server.request('GET', '/stats')).json;
  const growth = afterStats.rssKiB - before.rssKiB;
  console.log(`# churn: ${CYCLES} cycles in ${run.result.seconds.toFixed(1)} s (${run.result.cycles_per_s.toFixed(0)}/s); ` +
    `start RSS ${start.rssKiB} KiB fds ${start.fds}; after ${WARMUP} warm-up: RSS ${before.rssKiB} KiB fds ${before.fds}; ` +
    `after ${CYCLES} more: RSS ${afterStats.rssKiB} KiB fds ${afterStats.fds} (RSS growth ${growth} KiB)`);
  assert.ok(Math.abs(afterStats.fds - before.fds) <= 2, `fds ${before.fds} -> ${afterStats.fds}`);
  assert.ok(growth < MAX_RSS_GROWTH_KIB, `RSS grew by ${growth} KiB over ${CYCLES} cycles`);
  assert.equal(stats.peers, 0);
  assert.equal(stats.pending, 0);
  assert.equal(stats.rooms, 0);
});
