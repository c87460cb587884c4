// Five WebRTC stacks in one room of the real peerrtc-server (wire protocol v1, docs/protocol.md):
//   wrtc      Google's libwebrtc in Node (@roamhq/wrtc) with the JS client
//   chromium  headless Debian Chromium (playwright-core) with the JS client served by the server
//   firefox   headless Debian Firefox ESR (puppeteer-core, WebDriver BiDi) with the same client
//   aiortc    aiortc 1.4 (tests/interop/stacks/aiortc_client.py room)
//   pion      pion/webrtc 3.1 (tests/interop/stacks/pion_client, room mode)
// They join one after the other (each welcome lists exactly the ones before it, the earlier ones
// hear peer_joined), every one sends a text message and two binary ones (1 KiB and 50,000 B)
// and must be heard by each of the other four, byte for byte, with its id stamped by the server
// and never by itself; then they leave one by one and everyone still there hears peer_left.
// Message sizes stay below 64 KiB: pion's OnMessage reads into a 65535-byte buffer and aiortc
// advertises a=max-message-size:65536 (tests/interop/README.md).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';
import { makeClient, uid } from './lib/util.mjs';
import { launchBrowser } from '../browser/lib/harness.mjs';
import { launchFirefox } from '../interop/lib/firefox.mjs';
import { aiortcCommand, checkAiortc, killAll, pionClientPath, spawnLineClient } from '../interop/lib/stacks.mjs';
import { withTimeout } from '../lib/server.mjs';

const STACKS = ['wrtc', 'chromium', 'firefox', 'aiortc', 'pion'];
const WAIT = 20000;

let server;
let chromium;
let firefox;
let firefoxDir;
let pionClient;
const room = uid('five');
const members = [];

const hex = (u8) => Buffer.from(u8).toString('hex');

function payloads(index, stack, id) {
  const small = new Uint8Array(1024);
  const big = new Uint8Array(50000);
  let x = 0x9e3779b9 ^ (index + 1);
  for (const b of [small, big]) {
    for (let i = 0; i < b.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[i] = x & 0xff; }
  }
  return [
    { binary: false, data: `hello from ${stack} (${id}): é € 😀 \n second line` },
    { binary: true, data: hex(small) },
    { binary: true, data: hex(big) },
  ];
}

// ---- members: {stack, id, connect() -> welcome peers, state() -> {peers, joined, left, messages}, send(p), leave()}

function wrtcMember(id) {
  const c = makeClient(server, room, id);
  return {
    stack: 'wrtc', id,
    async connect() { await c.connect(); return c.peers(); },
    async state() {
      return {
        peers: c.peers(), joined: [...c.rec.joined], left: [...c.rec.left],
        messages: c.rec.messages.map((m) => ({ from: m.from, binary: m.binary, data: m.binary ? hex(new Uint8Array(m.message)) : m.message })),
      };
    },
    async send(p) { c.sendMessage(p.binary ? Buffer.from(p.data, 'hex') : p.data); },
    async leave() { await c.closeConnection(); },
  };
}

// The JS client inside a page of the server's origin (a plain-text page: no example runs).
async function browserMember(stack, page, id) {
  await page.goto(`${server.baseUrl}/peerrtc-client.d.ts`);
  await page.evaluate(async ({ r, me }) => {
    const { WebRTCConnection } = await import('/peerrtc-client.js');
    const c = new WebRTCConnection(r, { peerId: me });
    const st = { messages: [], joined: [], left: [] };
    const toHex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
    c.onMessage = (from, m, info) => st.messages.push({ from, binary: info.binary, data: info.binary ? toHex(m) : m });
    c.onPeerJoined = (p) => st.joined.push(p);
    c.onPeerLeft = (p) => st.left.push(p);
    window.__member = { c, st };
  }, { r: room, me: id });
  return {
    stack, id,
    connect: () => page.evaluate(async () => { await window.__member.c.connect(); return window.__member.c.peers(); }),
    state: () => page.evaluate(() => ({ ...window.__member.st, peers: window.__member.c.peers() })),
    send: (p) => page.evaluate(({ binary, data }) => {
      if (!binary) return window.__member.c.sendMessage(data);
      const u8 = new Uint8Array(data.length / 2);
      for (let i = 0; i < u8.length; i++) u8[i] = parseInt(data.substr(i * 2, 2), 16);
      return window.__member.c.sendMessage(u8);
    }, p),
    leave: () => page.evaluate(() => window.__member.c.closeConnection()),
  };
}

// aiortc or pion in room mode: JSON lines; frames are parsed here.
function lineMember(stack, cmd, args, id) {
  const cl = spawnLineClient(cmd, [...args, 'room', '--http-port', String(server.http), '--room', room, '--peer-id', id], { name: stack });
  return {
    stack, id, cl,
    async connect() {
      const ready = await cl.waitFor((e) => e.ev === 'ready' || e.ev === 'error', WAIT, `${stack} welcome`);
      if (ready.ev === 'error') throw new Error(`${stack}: ${ready.error}\n${cl.output()}`);
      return ready.welcome.peers;
    },
    async state() {
      const ready = cl.events.find((e) => e.ev === 'ready');
      const st = { joined: [], left: [], messages: [], errors: [] };
      for (const e of cl.events) {
        if (e.ev === 'error') st.errors.push(e.error);
        if (e.ev !== 'frame') continue;
        if (e.text !== undefined) {
          if (e.text.startsWith('{')) {
            const ev = JSON.parse(e.text);
            if (ev.type === 'peer_joined') st.joined.push(ev.peer_id);
            else if (ev.type === 'peer_left') st.left.push(ev.peer_id);
            else st.errors.push(e.text);
          } else if (e.text.startsWith('m')) {
            const nl = e.text.indexOf('\n');
            st.messages.push({ from: e.text.slice(1, nl), binary: false, data: e.text.slice(nl + 1) });
          } else st.errors.push(`unexpected frame ${e.text.slice(0, 100)}`);
        } else {
          const b = Buffer.from(e.binary, 'hex');
          if (b[0] !== 1) { st.errors.push(`unexpected binary frame ${e.binary.slice(0, 40)}`); continue; }
          st.messages.push({ from: b.subarray(2, 2 + b[1]).toString(), binary: true, data: b.subarray(2 + b[1]).toString('hex') });
        }
      }
      const peers = new Set(ready ? ready.welcome.peers : []);
      for (const e of cl.events) {
        if (e.ev !== 'frame' || !e.text || !e.text.startsWith('{')) continue;
        const ev = JSON.parse(e.text);
        if (ev.type === 'peer_joined') peers.add(ev.peer_id);
        if (ev.type === 'peer_left') peers.delete(ev.peer_id);
      }
      st.peers = [...peers];
      return st;
    },
    async send(p) {
      const n = cl.events.filter((e) => e.ev === 'sent').length;
      cl.send(p.binary ? { op: 'send_binary', hex: p.data } : { op: 'send_text', text: p.data });
      await cl.waitFor((e) => e.ev === 'error' || cl.events.filter((x) => x.ev === 'sent').length > n, WAIT, `${stack} to send`);
      const err = cl.events.find((e) => e.ev === 'error');
      if (err) throw new Error(`${stack}: ${err.error}`);
    },
    async leave() {
      cl.send({ op: 'leave' });
      const { code, signal } = await withTimeout(cl.exited, WAIT, `${stack} to leave and exit`);
      assert.equal(code, 0, `${stack} exit code ${code} signal ${signal}; output:\n${cl.output()}`);
    },
  };
}

before(async () => {
  checkAiortc();
  pionClient = await pionClientPath();
  server = await startServer({ name: 'five-stacks' });
  firefoxDir = mkdtempSync(join(tmpdir(), 'peerrtc-five-firefox-'));
  [chromium, firefox] = await Promise.all([
    launchBrowser(),
    withTimeout(launchFirefox(firefoxDir), 40000, 'firefox to launch'),
  ]);
});

after(async () => {
  killAll();
  for (const m of members) { try { await withTimeout(m.leave(), 5000, 'leave'); } catch { /* gone already */ } }
  if (chromium) await chromium.close();
  if (firefox) { try { await withTimeout(firefox.close(), 15000, 'firefox to close'); } catch (e) { console.error(String(e)); } }
  if (firefoxDir) rmSync(firefoxDir, { recursive: true, force: true });
  if (server) await server.stop();
});

async function makeMember(stack) {
  const id = uid(stack);
  switch (stack) {
    case 'wrtc': return wrtcMember(id);
    case 'chromium': return browserMember(stack, await chromium.open('about:blank', 'chromium'), id);
    case 'firefox': return browserMember(stack, await firefox.newPage(), id);
    case 'aiortc': { const { cmd, args } = aiortcCommand([]); return lineMember(stack, cmd, args, id); }
    case 'pion': return lineMember(stack, pionClient, [], id);
    default: throw new Error(stack);
  }
}

const sameSet = (a, b) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

test('five stacks join one room: each welcome lists the earlier ones, everyone hears each join', { timeout: 120000 }, async (t) => {
  for (const stack of STACKS) {
    const m = await makeMember(stack);
    const t0 = Date.now();
    const welcomePeers = await withTimeout(m.connect(), WAIT + 5000, `${stack} to connect`);
    const before = members.map((x) => x.id);
    assert.ok(sameSet(welcomePeers, before), `${stack}'s welcome lists ${JSON.stringify(welcomePeers)}, expected ${JSON.stringify(before)}`);
    t.diagnostic(`${stack} (${m.id}) joined in ${Date.now() - t0} ms`);
    members.push(m);
  }
  for (const m of members) {
    const others = members.filter((x) => x !== m).map((x) => x.id);
    const later = members.slice(members.indexOf(m) + 1).map((x) => x.id);
    let st;
    const deadline = Date.now() + WAIT;
    for (;;) {
      st = await m.state();
      if (sameSet(st.peers, others) && sameSet(st.joined, later)) break;
      if (Date.now() > deadline) {
        assert.fail(`${m.stack} knows peers ${JSON.stringify(st.peers)} (expected ${JSON.stringify(others)}) and heard joins ${JSON.stringify(st.joined)} (expected ${JSON.stringify(later)})`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(st.left, [], `${m.stack} heard a leave`);
  }
});

test('each of the five hears every other one: text, 1 KiB and 50,000 B binary, sender stamped, never itself', { timeout: 120000 }, async (t) => {
  assert.equal(members.length, STACKS.length, 'every stack joined (previous test)');
  const sent = new Map();
  for (const [i, m] of members.entries()) {
    const ps = payloads(i, m.stack, m.id);
    sent.set(m.id, ps);
    for (const p of ps) await m.send(p);
  }
  const t0 = Date.now();
  for (const m of members) {
    const deadline = Date.now() + WAIT;
    for (;;) {
      const st = await m.state();
      const missing = [];
      for (const other of members) {
        if (other === m) continue;
        const got = st.messages.filter((x) => x.from === other.id);
        const want = sent.get(other.id);
        if (got.length < want.length) { missing.push(`${other.stack}: ${got.length} of ${want.length}`); continue; }
        assert.equal(got.length, want.length, `${m.stack} got ${got.length} messages from ${other.stack}`);
        for (const [k, w] of want.entries()) {
          const g = got[k];
          assert.equal(g.binary, w.binary, `${m.stack}: message ${k} from ${other.stack} is ${g.binary ? 'binary' : 'text'}`);
          assert.ok(g.data === w.data, `${m.stack}: message ${k} from ${other.stack} differs (${g.data.length} vs ${w.data.length} ${w.binary ? 'hex digits' : 'characters'})`);
        }
      }
      assert.deepEqual(st.messages.filter((x) => x.from === m.id), [], `${m.stack} received its own message`);
      const strangers = st.messages.filter((x) => !members.some((o) => o.id === x.from));
      assert.deepEqual(strangers.map((x) => x.from), [], `${m.stack} received messages from unknown senders`);
      if (st.errors) assert.deepEqual(st.errors, [], `${m.stack} reported errors`);
      if (!missing.length) break;
      if (Date.now() > deadline) assert.fail(`${m.stack} is missing messages from ${missing.join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  t.diagnostic(`${members.length * (members.length - 1) * 3} deliveries checked ${Date.now() - t0} ms after the last send`);
});

test('leaving one by one: everyone still in the room hears each peer_left', { timeout: 120000 }, async () => {
  assert.equal(members.length, STACKS.length, 'every stack joined');
  const order = ['pion', 'aiortc', 'firefox', 'chromium'];
  for (const stack of order) {
    const i = members.findIndex((m) => m.stack === stack);
    const [gone] = members.splice(i, 1);
    await withTimeout(gone.leave(), WAIT, `${stack} to leave`);
    for (const m of members) {
      const deadline = Date.now() + WAIT;
      for (;;) {
        const st = await m.state();
        if (st.left.includes(gone.id) && !st.peers.includes(gone.id)) break;
        if (Date.now() > deadline) assert.fail(`${m.stack} did not hear ${stack} (${gone.id}) leave: left ${JSON.stringify(st.left)}, peers ${JSON.stringify(st.peers)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
  const r = await server.request('GET', `/rooms/peers?room=${room}`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.peers, [members[0].id], 'only wrtc is left in the room');
});
