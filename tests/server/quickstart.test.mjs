// examples/quickstart-httplib: the ~30-line cpp-httplib server. Real wrtc peers connect through
// it, relay, leave; bad input gets the manager's JSON errors; its hook prints every message.
//
//   node --test tests/server/quickstart.test.mjs   (PEERRTC_QUICKSTART=path overrides the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { QUICKSTART_BIN, connectPeer, runToExit, sleep, startServer, uniqueId, withTimeout } from './lib.mjs';

let server;
const peers = [];

before(async () => { server = await startServer(QUICKSTART_BIN, ['--port', '0'], { name: 'quickstart' }); });
after(async () => {
  for (const p of peers) p.close();
  if (server) {
    // No signal handling in the example: SIGTERM's default action ends it, and nothing else may.
    const r = await server.stop({ signal: 'SIGTERM', timeoutMs: 5000, expectCleanExit: false });
    assert.equal(r.signal, 'SIGTERM', `quickstart exit ${JSON.stringify(r)}; output:\n${server.output().slice(-3000)}`);
  }
});

async function connect(room, peerId, opts) {
  const p = await connectPeer(server, room, peerId, opts);
  peers.push(p);
  return p;
}

test('READY with both ports', () => {
  assert.ok(server.http > 0 && server.udp > 0);
});

test('two wrtc peers connect through the quickstart, relay both ways, and the hook prints', { timeout: 60000 }, async () => {
  const room = uniqueId('qs');
  const a = await connect(room, 'alice');
  assert.equal(a.answer.type, 'answer');
  assert.ok(a.answer.token);
  const b = await connect(room, 'bob');
  assert.deepEqual(b.welcome.peers, ['alice']);
  await a.waitEvent('peer_joined', (e) => e.peer_id === 'bob');
  a.sendText('mhello from alice');
  await b.waitFrame((f) => f.text === 'malice\nhello from alice', 10000, 'alice -> bob');
  b.sendText('mhi alice');
  await a.waitFrame((f) => f.text === 'mbob\nhi alice', 10000, 'bob -> alice');
  await withTimeout((async () => {
    while (!server.output().includes(`[${room}] alice: hello from alice`)) await sleep(50);
  })(), 5000, 'hook output');

  const c = await server.request('POST', '/candidate', { room, peer_id: 'bob', token: b.token, candidate: null });
  assert.equal(c.status, 200, c.text);
  const l = await server.request('POST', '/leave', { room, peer_id: 'alice', token: a.token });
  assert.equal(l.status, 200, l.text);
  assert.deepEqual(l.json, { status: 'ok' });
  await b.waitEvent('peer_left', (e) => e.peer_id === 'alice');
  await a.waitClosed(10000);
});

test('bad input gets the manager\'s JSON errors through handle()', async () => {
  const cases = [
    ['/offer', '{bad json', 400],
    ['/offer', JSON.stringify({ room: 'a b', peer_id: 'p', offer: { sdp: 'v=0', type: 'offer' } }), 400],
    ['/offer', JSON.stringify({ room: 'r', peer_id: 'p', offer: { sdp: 'garbage', type: 'offer' } }), 400],
    ['/leave', JSON.stringify({ room: uniqueId('none'), peer_id: 'p', token: 't' }), 404],
    ['/candidate', JSON.stringify({ room: 'r', peer_id: 'p', candidate: 5, token: 't' }), 400],
  ];
  for (const [path, body, status] of cases) {
    const r = await server.request('POST', path, body);
    assert.equal(r.status, status, `${path} ${body}: ${r.status} ${r.text}`);
    assert.equal(typeof r.json?.error, 'string', `${path}: JSON error`);
  }
  // Still serving.
  const p = await connect(uniqueId('qs-after'), 'carol');
  assert.equal(p.welcome.peer_id, 'carol');
});

// cpp-httplib listens with SO_REUSEPORT, so a second copy on a busy HTTP port is not refused; a
// busy UDP port is (the SignalingManager constructor throws; the example says why and exits 1,
// no abort and no core).
test('a UDP port in use stops it before READY', { timeout: 15000 }, async () => {
  const r = await runToExit(QUICKSTART_BIN, ['--port', String(server.udp)]);
  assert.equal(r.code, 1, `exit ${r.code} signal ${r.signal}; stderr ${r.stderr}`);
  assert.equal(r.signal, null, `no signal: ${r.signal}`);
  assert.ok(!r.stdout.includes('READY'));
  assert.match(r.stderr, /bind|in use|UDP/i);
});
