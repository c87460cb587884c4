// 10,000 garbage datagrams at the server's UDP port (random bytes, STUN binding requests with an
// unknown ufrag or with a live peer's ufrag and a bad MESSAGE-INTEGRITY, DTLS-looking records)
// while two peers talk: the peers keep working, the server stays up and drops the garbage.
// Every datagram is counted in /stats (dropped_datagrams/_stun/_dtls) and logged at debug.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { startServer, SERVER_BIN, connectPeer, uniqueId, sleep, waitFor, countLines, procStats } from './lib.mjs';

const DATAGRAMS = 10000;
let server, drops;
before(async () => {
  server = await startServer(SERVER_BIN, ['--port', '0', '--no-examples', '--log-level', 'debug'], { name: 'garbage' });
  drops = countLines(server, /dropped|bad credentials|bad STUN/);
});
after(async () => { if (server) await server.stop(); });

function stunRequest(username) {
  const user = Buffer.from(username);
  const pad = (n) => (4 - (n % 4)) % 4;
  const attrs = [];
  const attr = (type, value) => {
    const h = Buffer.alloc(4);
    h.writeUInt16BE(type, 0);
    h.writeUInt16BE(value.length, 2);
    attrs.push(h, value, Buffer.alloc(pad(value.length)));
  };
  attr(0x0006, user);                                   // USERNAME
  attr(0x0024, randomBytes(4));                         // PRIORITY
  attr(0x802a, randomBytes(8));                         // ICE-CONTROLLING
  attr(0x0025, Buffer.alloc(0));                        // USE-CANDIDATE
  attr(0x0008, randomBytes(20));                        // MESSAGE-INTEGRITY (wrong)
  let body = Buffer.concat(attrs);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(0x0001, 0);
  header.writeUInt16BE(body.length + 8, 2);             // + FINGERPRINT
  header.writeUInt32BE(0x2112a442, 4);
  randomBytes(12).copy(header, 8);
  const msg = Buffer.concat([header, body]);
  const fp = Buffer.alloc(8);
  fp.writeUInt16BE(0x8028, 0);
  fp.writeUInt16BE(4, 2);
  fp.writeUInt32BE((zlib.crc32(msg) ^ 0x5354554e) >>> 0, 4);  // a valid FINGERPRINT
  return Buffer.concat([msg, fp]);
}

function dtlsRecord() {
  const body = randomBytes(Math.floor(Math.random() * 300));
  const h = Buffer.alloc(13);
  h[0] = [20, 21, 22, 23][Math.floor(Math.random() * 4)];  // content type
  h.writeUInt16BE(0xfefd, 1);                               // DTLS 1.2
  randomBytes(8).copy(h, 3);                                // epoch + sequence
  h.writeUInt16BE(body.length, 11);
  return Buffer.concat([h, body]);
}

test(`${DATAGRAMS} garbage datagrams while two peers talk`, async () => {
  const room = uniqueId('garbage');
  const a = await connectPeer(server, room, uniqueId('a'));
  const b = await connectPeer(server, room, uniqueId('b'));
  const serverUfrag = /a=ice-ufrag:(\S+)/.exec(a.answer.sdp)[1];
  const before = procStats(server.child.pid);
  const dropsBefore = drops.count;
  const wireDrops = (st) => st.dropped_datagrams + st.dropped_stun + st.dropped_dtls;
  const statsBefore = (await server.request('GET', '/stats')).json;

  let sent = 0;
  const talking = (async () => {
    for (let i = 0; i < 100; i++) {
      a.sendText(`m${i}`);
      sent++;
      await sleep(15);
    }
  })();
  const sock = dgram.createSocket('udp4');
  const kinds = { random: 0, stunUnknownUfrag: 0, stunBadIntegrity: 0, dtls: 0 };
  for (let i = 0; i < DATAGRAMS; i++) {
    let d;
    switch (i % 4) {
      case 0: d = randomBytes(1 + Math.floor(Math.random() * 1200)); kinds.random++; break;
      case 1: d = stunRequest(`${randomBytes(4).toString('hex')}:${randomBytes(2).toString('hex')}`); kinds.stunUnknownUfrag++; break;
      case 2: d = stunRequest(`${serverUfrag}:${randomBytes(2).toString('hex')}`); kinds.stunBadIntegrity++; break;
      default: d = dtlsRecord(); kinds.dtls++;
    }
    await new Promise((res) => sock.send(d, server.udp, '127.0.0.1', () => res()));
    if (i % 200 === 199) await sleep(2);
  }
  sock.close();
  await talking;

  const want = [...Array(100).keys()].map((i) => `m${a.peerId}\n${i}`);
  const got = () => b.frames.filter((f) => f.text && f.text.startsWith(`m${a.peerId}\n`)).map((f) => f.text);
  for (let t = 0; t < 200 && got().length < 100; t++) await sleep(25);
  // Still working both ways after the blast. Also the marker for the counts below: every
  // garbage datagram was in the server's socket queue before b's 'after', so it was handled
  // (and counted) before 'after' was relayed. The log lines go through a pipe: wait for them.
  b.sendText('mafter');
  await a.waitFrame((f) => f.text === `m${b.peerId}\nafter`, 5000, 'a message after the blast');
  await waitFor(() => drops.count - dropsBefore >= DATAGRAMS / 2, 10000, () => `drop log lines (${drops.count - dropsBefore})`);
  const health = (await server.request('GET', '/health')).json;
  const s = (await server.request('GET', '/stats')).json;
  const afterStats = procStats(server.child.pid);
  const counted = drops.count - dropsBefore;
  console.log(`# garbage: ${DATAGRAMS} datagrams ${JSON.stringify(kinds)}; b got ${got().length}/${sent} in order; ` +
    `server health ${health.status} peers ${health.peers}; drops logged ${counted}; fds ${before.fds} -> ${afterStats.fds}; ` +
    `RSS ${before.rssKiB} -> ${afterStats.rssKiB} KiB; /stats keys: ${Object.keys(s).join(',')}`);
  assert.deepEqual(got(), want);
  assert.equal(health.status, 'ok');
  assert.equal(health.peers, 2);
  assert.equal(server.exitInfo(), null, 'server still running');
  assert.ok(counted >= DATAGRAMS / 2, `only ${counted} drops logged`);
  assert.equal(wireDrops(s) - wireDrops(statsBefore), DATAGRAMS, `/stats counted ${JSON.stringify(s)}`);
  assert.ok(Math.abs(afterStats.fds - before.fds) <= 2);
  a.close();
  b.close();
});
