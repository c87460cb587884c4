// ICE-TCP on peerrtc-server: by default one port number carries HTTP, UDP and ICE-TCP (the HTTP
// server hands over connections whose first bytes are an RFC 4571 frame holding a STUN Binding
// request). libwebrtc peers (wrtc) given the answer without its UDP candidates can only use
// TCP; they share a room with ordinary UDP peers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  SERVER_BIN, connectPeer, selectedProtocol, sleep, startServer, stopAll, uniqueId, withoutUdpCandidates,
} from './lib.mjs';

const servers = [];
const peers = [];
after(async () => {
  for (const p of peers) p.close();
  await stopAll(servers);  // every one exits 0; all are stopped even when one does not
});

async function start(args, name) {
  const s = await startServer(SERVER_BIN, ['--host', '127.0.0.1', '--no-examples', ...args], { name });
  servers.push(s);
  return s;
}
async function connect(server, room, id, opts) {
  const p = await connectPeer(server, room, id, opts);
  peers.push(p);
  return p;
}
const tcpOnly = { answerSdp: withoutUdpCandidates };
const textFrom = (from, text) => (f) => f.text === `m${from}\n${text}`;

test('one port: HTTP, UDP and ICE-TCP share the number; TCP and UDP peers talk in one room', { timeout: 60000 }, async (t) => {
  const s = await start(['--port', '0'], 'shared');
  assert.equal(s.http, s.udp, 'HTTP on the UDP port number');
  assert.equal(s.tcp, s.udp, 'ICE-TCP on the same number');
  const room = uniqueId('tcp-room');
  const tcp = await connect(s, room, 'over-tcp', tcpOnly);
  const cands = tcp.answer.sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
  assert.ok(cands.some((l) => l.endsWith(` 127.0.0.1 ${s.udp} typ host tcptype passive`)), cands.join(' | '));
  assert.ok(/ udp /.test(cands[0]), 'UDP candidates first');
  const udp = await connect(s, room, 'over-udp');
  assert.equal(await selectedProtocol(tcp.pc), 'tcp');
  assert.equal(await selectedProtocol(udp.pc), 'udp');

  // Both ways, text, binary, and the largest payload.
  udp.sendText('mhello tcp');
  await tcp.waitFrame(textFrom('over-udp', 'hello tcp'));
  tcp.sendText('mhello udp');
  await udp.waitFrame(textFrom('over-tcp', 'hello udp'));
  const big = Buffer.alloc(262078, 0x5a);
  big[0] = 0x01;
  tcp.sendBinary(Buffer.concat([Buffer.from([0x01]), big.subarray(1)]));
  const got = await udp.waitFrame((f) => f.bin && f.bin.length > 1000, 20000, 'the large binary message');
  // Server binary frame: 0x01 <len:u8> <from> <payload>
  assert.equal(got.bin[0], 0x01);
  const from = got.bin.subarray(2, 2 + got.bin[1]).toString();
  assert.equal(from, 'over-tcp');
  assert.ok(got.bin.subarray(2 + got.bin[1]).equals(big.subarray(1)), 'payload intact');

  // HTTP on the same port still answers while the TCP peer is connected.
  const h = await s.request('GET', '/health');
  assert.equal(h.status, 200);
  assert.equal(h.json.peers, 2);
  const st = (await s.request('GET', '/stats')).json.ice_tcp;
  t.diagnostic(`ice_tcp: ${JSON.stringify(st)}`);
  assert.ok(st.accepted >= 1 && st.open >= 1 && st.frames_in > 0 && st.frames_out > 0, JSON.stringify(st));

  // The TCP peer leaves: its connection is freed and the other peer is told. Freed is an event
  // (the close of the connection), not a timer: /stats ice_tcp.open is back to 0 within 2 s of
  // margin for a loaded machine, far below the 30 s consent timeout that would free it otherwise.
  tcp.close();
  await udp.waitEvent('peer_left', (e) => e.peer_id === 'over-tcp', 10000);
  const deadline = Date.now() + 2000;
  let open;
  while ((open = (await s.request('GET', '/stats')).json.ice_tcp.open) !== 0 && Date.now() < deadline) await sleep(50);
  assert.equal(open, 0, 'the ICE-TCP connection of the peer that left is freed (ice_tcp.open)');
  udp.close();
});

test('--udp-port elsewhere: the engine listens for ICE-TCP on the UDP port number itself', { timeout: 30000 }, async () => {
  const s = await start(['--port', '0', '--udp-port', '0'], 'own-listener');
  assert.notEqual(s.http, s.udp, 'HTTP and UDP on ports of their own');
  assert.equal(s.tcp, s.udp, 'ICE-TCP on the UDP port number');
  const room = uniqueId('own');
  const a = await connect(s, room, 'a', tcpOnly);
  assert.equal(await selectedProtocol(a.pc), 'tcp');
  const cands = a.answer.sdp.split('\r\n').filter((l) => / tcp /.test(l));
  assert.ok(cands.length > 0 && cands.every((l) => l.includes(` ${s.udp} typ host tcptype passive`)), cands.join(' | '));
  const b = await connect(s, room, 'b');
  b.sendText('mping');
  await a.waitFrame(textFrom('b', 'ping'));
  a.close();
  b.close();
});

test('--no-ice-tcp: no TCP candidates, and a client that could only use TCP fails within its timeout', { timeout: 30000 }, async () => {
  const s = await start(['--port', '0', '--no-ice-tcp'], 'no-tcp');
  const room = uniqueId('none');
  assert.equal(s.tcp, null, 'READY says tcp: null');
  const ok = await connect(s, room, 'udp-peer');
  assert.ok(!ok.answer.sdp.includes(' tcp '), 'no TCP candidate in the answer');
  await assert.rejects(connect(s, room, 'tcp-only', { ...tcpOnly, timeoutMs: 4000 }), /timed out/);
  ok.close();
});
