// A flood of offers that never do ICE cannot exhaust the server: beyond --max-pending they get
// a 503 with a JSON error, the pending ones are freed by the connect timeout, fds stay flat, and
// a real peer connects afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, SERVER_BIN, runProbe, procStats, connectPeer, uniqueId, sleep } from './lib.mjs';

const MAX_PENDING = 20, CONNECT_MS = 2000, OFFERS = 100;
let server;
before(async () => {
  server = await startServer(SERVER_BIN, ['--port', '0', '--no-examples', '--max-pending', String(MAX_PENDING),
    '--connect-timeout-ms', String(CONNECT_MS)], { name: 'flood' });
});
after(async () => { if (server) await server.stop(); });

async function waitFreed(t0) {
  for (;;) {
    const s = (await server.request('GET', '/stats')).json;
    const h = (await server.request('GET', '/health')).json;
    if (s.pending === 0 && h.peers === 0) return Date.now() - t0;
    if (Date.now() - t0 > CONNECT_MS + 3000) assert.fail(`not freed after ${Date.now() - t0} ms: ${JSON.stringify(s)} ${JSON.stringify(h)}`);
    await sleep(50);
  }
}

test(`${OFFERS} offers that never connect: ${MAX_PENDING} accepted, the rest 503, all freed by the connect timeout`, async () => {
  const before = procStats(server.child.pid);
  const t0 = Date.now();
  const { result } = await runProbe(server, ['--flood', String(OFFERS), '--room', uniqueId('flood')]);
  assert.deepEqual(result.statuses, { 200: MAX_PENDING, 503: OFFERS - MAX_PENDING }, JSON.stringify(result));
  assert.equal(result.errors_are_json, true, JSON.stringify(result.first_error));
  assert.match(JSON.parse(result.first_error.body).error, /handshake/);
  const during = (await server.request('GET', '/stats')).json;
  assert.equal(during.pending, MAX_PENDING);
  const duringProc = procStats(server.child.pid);
  const freedMs = await waitFreed(t0);
  await sleep(100);
  const afterFree = procStats(server.child.pid);
  console.log(`# flood: ${JSON.stringify(result.statuses)} in ${(result.seconds * 1000).toFixed(0)} ms; pending ${during.pending} -> 0 after ${freedMs} ms ` +
    `(connect timeout ${CONNECT_MS} ms); fds ${before.fds} -> ${duringProc.fds} (flood) -> ${afterFree.fds}; RSS ${before.rssKiB} -> ${duringProc.rssKiB} -> ${afterFree.rssKiB} KiB`);
  assert.ok(freedMs >= CONNECT_MS - 200, `freed after ${freedMs} ms, before the connect timeout`);
  assert.ok(Math.abs(afterFree.fds - before.fds) <= 2, `fds ${before.fds} -> ${afterFree.fds}`);

  // The slots are free again: a real peer connects, and a second flood gets 20 more 200s.
  const room = uniqueId('real');
  const peer = await connectPeer(server, room, uniqueId('real'));
  assert.equal(peer.welcome.room, room);
  peer.close();
  const again = await runProbe(server, ['--flood', String(OFFERS), '--room', uniqueId('flood2')]);
  assert.deepEqual(again.result.statuses, { 200: MAX_PENDING, 503: OFFERS - MAX_PENDING });
  await waitFreed(Date.now());
  await sleep(100);
  const end = procStats(server.child.pid);
  console.log(`# flood: after a real peer and a second flood: fds ${end.fds}, RSS ${end.rssKiB} KiB`);
  assert.ok(Math.abs(end.fds - before.fds) <= 2, `fds ${before.fds} -> ${end.fds}`);
});
