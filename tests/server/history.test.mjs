// --history N (docs/protocol.md, the `history` event): a peer that joins gets `welcome`, then
// {"type":"history","count":K,"ts":[...]} and the room's last K room-wide messages (text and
// binary, the backend's broadcasts too, no direct messages) as ordinary frames, oldest first,
// before any live message. Real @roamhq/wrtc peers against peerrtc-server.
//
//   node --test tests/server/history.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SERVER_BIN, connectPeer, startServer, uniqueId } from './lib.mjs';

const KEY = 'history-key';
const AUTH = { authorization: `Bearer ${KEY}` };  // /rooms needs it on a server with --api-key
let server;   // --history 4
let off;      // no --history
const peers = [];

before(async () => {
  [server, off] = await Promise.all([
    startServer(SERVER_BIN, ['--port', '0', '--no-examples', '--history', '4'], { name: 'history', env: { PEERRTC_API_KEY: KEY } }),
    startServer(SERVER_BIN, ['--port', '0', '--no-examples'], { name: 'no-history' }),
  ]);
});

after(async () => {
  for (const p of peers) p.close();
  for (const s of [server, off]) {
    if (!s) continue;
    const r = await s.stop();
    assert.equal(r.code, 0, `${s.name} exit code; output:\n${s.output().slice(-3000)}`);
  }
});

async function connect(srv, room, id) {
  const p = await connectPeer(srv, room, id);
  peers.push(p);
  return p;
}

// The frames after `welcome`, up to the flush marker.
async function framesAfterWelcome(p) {
  const end = await p.flush();
  const w = p.frames.findIndex((f) => f.event && f.event.type === 'welcome');
  assert.equal(w, 0, 'welcome is the first frame');
  return p.frames.slice(1, end);
}

test('a joining peer gets welcome, then the last N room messages in order (binary and server ones included, direct ones not)', async () => {
  const room = uniqueId('hist');
  const a = await connect(server, room, 'alice');
  const b = await connect(server, room, 'bob');
  const t0 = Date.now();
  a.sendText('mone');
  a.sendText('mtwo');
  b.sendText('mthree');
  a.sendText('dbob\nsecret');                       // direct: never replayed
  b.sendBinary(Buffer.from([0x01, 0, 255, 7]));      // binary broadcast
  const api = await server.request('POST', '/api/broadcast', { room, data: 'from the backend' }, { authorization: `Bearer ${KEY}` });
  assert.equal(api.status, 200, api.text);
  a.sendText('mfive');
  await b.waitFrame((f) => f.text === 'malice\nfive');
  await a.flush();

  const c = await connect(server, room, 'carol');
  const frames = await framesAfterWelcome(c);
  assert.ok(frames.length >= 5, `frames: ${JSON.stringify(frames)}`);
  const h = frames[0].event;
  assert.equal(h && h.type, 'history', `second frame: ${JSON.stringify(frames[0])}`);
  assert.equal(h.count, 4);
  assert.equal(h.ts.length, 4);
  for (let i = 0; i < 4; i++) {
    assert.ok(h.ts[i] >= t0 - 1000 && h.ts[i] <= Date.now() + 1000, `ts ${h.ts[i]}`);
    if (i) assert.ok(h.ts[i] >= h.ts[i - 1], 'ts in order');
  }
  // The last four room-wide messages: three, the binary one, the backend's, five.
  assert.equal(frames[1].text, 'mbob\nthree');
  assert.deepEqual([...frames[2].bin], [0x01, 3, ...Buffer.from('bob'), 0, 255, 7]);
  assert.equal(frames[3].text, 'mserver\nfrom the backend');
  assert.equal(frames[4].text, 'malice\nfive');
  assert.equal(frames.length, 5, `nothing else: ${JSON.stringify(frames.slice(5))}`);
  // The others saw carol join, and no replay.
  await a.waitEvent('peer_joined', (e) => e.peer_id === 'carol');
  const aFrames = a.frames.slice(a.frames.findIndex((f) => f.event && f.event.peer_id === 'carol'));
  assert.ok(!aFrames.some((f) => f.event && f.event.type === 'history'));
  // Live messages follow as before.
  a.sendText('mlive');
  await c.waitFrame((f) => f.text === 'malice\nlive');
});

test('the first peer of a room, and every peer without --history, get no history event', async () => {
  const room = uniqueId('fresh');
  const a = await connect(server, room, 'alice');
  assert.deepEqual(await framesAfterWelcome(a), []);
  const room2 = uniqueId('off');
  const x = await connect(off, room2, 'x');
  x.sendText('mhello');
  await x.flush();
  const y = await connect(off, room2, 'y');
  assert.deepEqual(await framesAfterWelcome(y), []);
});

test('the history goes with the room: an emptied room starts afresh', async () => {
  const room = uniqueId('gone');
  const a = await connect(server, room, 'alice');
  const b = await connect(server, room, 'bob');
  a.sendText('mold');
  await b.waitFrame((f) => f.text === 'malice\nold');
  a.close();
  b.close();
  for (let i = 0; ; i++) {
    const r = await server.request('GET', '/rooms', undefined, AUTH);
    if (!r.json.rooms.some((x) => x.room === room)) break;
    assert.ok(i < 100, 'the room did not empty');
    await new Promise((res) => setTimeout(res, 100));
  }
  const c = await connect(server, room, 'carol');
  assert.deepEqual(await framesAfterWelcome(c), []);
});
