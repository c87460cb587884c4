// peerrtc-server --workers 2 as a cluster (docs/deploy.md, "Several processes on one machine"):
// rooms land on both workers; a request landing on the wrong worker (the shared port, or the
// other worker's own port) reaches the room's worker; SIGKILL of a worker: it is restarted and
// its peers' JS clients reconnect and talk again. A real redis-server, real libwebrtc peers.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectPeer, stopAll } from '../server/lib.mjs';
import { closeAll, makeClient, uid, waitFor } from '../client/lib/util.mjs';
import { alive, portClient, startRedis, startWorkers } from './lib.mjs';

let redis, sup;
const peers = [];
const clients = [];
after(async () => {
  await closeAll(clients);
  for (const p of peers) p.close();
  try {
    await stopAll([sup]);  // the supervisor (and with it its workers) exits 0 on SIGTERM
  } finally {
    if (redis) await redis.stop();
  }
});

const readyOf = (s) => JSON.parse(s.lines.find((l) => l.startsWith('READY ')).slice(6));

test('--workers 2: rooms land on both workers; peers of one room offering to different workers hear each other', { timeout: 60000 }, async () => {
  redis = await startRedis();
  sup = await startWorkers(2, redis, ['--node-id', 'wk']);
  const ready = readyOf(sup);
  assert.deepEqual(ready.workers.map((w) => w.node), ['wk-0', 'wk-1']);
  const own = ready.workers.map((w) => portClient(w.http));
  // Both nodes registered, at their own ports.
  const nodes = (await sup.request('GET', '/cluster/nodes')).json.nodes;
  assert.deepEqual(nodes.map((n) => n.id).sort(), ['wk-0', 'wk-1']);
  for (const w of ready.workers) assert.equal(nodes.find((n) => n.id === w.node).url, `http://127.0.0.1:${w.http}`);

  // Four rooms created through the shared port: the least-loaded placement spreads them.
  const rooms = [0, 1, 2, 3].map(() => uid('wroom'));
  for (const room of rooms) peers.push(await connectPeer(sup, room, `${room}-a`));
  const listed = (await sup.request('GET', '/rooms')).json.rooms.filter((r) => rooms.includes(r.room));
  assert.equal(listed.length, 4, JSON.stringify(listed));
  const perNode = {};
  for (const r of listed) perNode[r.node] = (perNode[r.node] || 0) + 1;
  // Least-loaded placement from each worker's view (loads as of the last heartbeat, plus its own
  // placements): both get rooms; the exact split depends on which worker took which offer.
  assert.ok(perNode['wk-0'] >= 1 && perNode['wk-1'] >= 1, `rooms on both workers: ${JSON.stringify(perNode)}`);
  console.log(`# 4 rooms through the shared port: ${JSON.stringify(perNode)}`);

  // A second peer per room through each worker's own port in turn: half of them forwarded.
  for (const [i, room] of rooms.entries()) {
    const a = peers[i];
    const b = await connectPeer(own[i % 2], room, `${room}-b`);
    peers.push(b);
    // The answer's candidates name the port of the room's worker, whoever took the offer.
    const holder = ready.workers.find((w) => w.node === listed.find((r) => r.room === room).node);
    assert.match(b.answer.sdp, new RegExp(`a=candidate:.* ${holder.udp} typ host`), `room ${room} on ${holder.node}`);
    b.sendText(`mhello ${i}`);
    const f = await a.waitFrame((x) => x.text !== undefined && x.text.includes(`hello ${i}`), 10000, `hello ${i}`);
    assert.ok(f);
  }
});

test('SIGKILL of a worker: restarted, its peers reconnect through the shared port and talk again', { timeout: 90000 }, async () => {
  const ready = readyOf(sup);
  const room = uid('wkill');
  const opts = { disconnectTimeout: 1000 };
  const x = makeClient(sup, room, 'kx', opts);
  const y = makeClient(sup, room, 'ky', opts);
  clients.push(x, y);
  await x.connect();
  await y.connect();
  await waitFor(() => x.peers().includes('ky') && y.peers().includes('kx'), 10000, 'presence');
  const holderNode = await redis.cmd('GET', `peerrtc:room:${room}`);
  const victim = ready.workers.find((w) => w.node === holderNode);
  assert.ok(victim, `the room's node ${holderNode} is a worker`);
  const other = ready.workers.find((w) => w !== victim);

  const tKill = Date.now();
  process.kill(victim.pid, 'SIGKILL');
  const back = JSON.parse((await sup.waitForLine(new RegExp(`^WORKER \\{.*"index":${victim.index}[,}]`), 20000)).slice(7));
  assert.equal(back.restarts, 1);
  assert.equal(back.node, victim.node, 'same node id after the restart');
  assert.ok(alive(other.pid), 'the other worker was left alone');
  // libwebrtc notices the silence after seconds (ICE consent), then the client reconnects.
  await waitFor(() => x.status === 'reconnecting' || y.status === 'reconnecting' || x.rec.closes > 0, 45000,
    () => `a reconnect (${x.status}, ${y.status})`);
  await waitFor(() => x.status === 'connected' && y.status === 'connected' && x.peers().includes('ky') && y.peers().includes('kx'),
    40000, () => `both back (${x.status}, ${y.status}; errors ${[...x.rec.errors, ...y.rec.errors].map((e) => e.message).slice(-2)})`);
  const msBack = Date.now() - tKill;
  x.sendMessage('after the kill');
  await waitFor(() => y.rec.messages.some((m) => m.message === 'after the kill' && m.from === 'kx'), 10000, 'a message after the kill');
  // Nothing stuck or listed twice.
  const p = await sup.request('GET', `/rooms/peers?room=${encodeURIComponent(room)}`);
  assert.deepEqual([...p.json.peers].sort(), ['kx', 'ky']);
  const owner = await redis.cmd('GET', `peerrtc:room:${room}`);
  assert.ok(owner === 'wk-0' || owner === 'wk-1', `lease ${owner}`);
  console.log(`# worker ${victim.index} SIGKILLed: clients talking again after ${msBack} ms (room now on ${owner})`);
  assert.match(sup.output(), new RegExp(`worker ${victim.index} was killed by SIGKILL; restarting it`));
});
