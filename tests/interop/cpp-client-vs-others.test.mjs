// PeerRTC's native client against other stacks' servers: the benchmark's reference relays on
// aiortc (bench/aiortc_relay.py) and on pion (bench/pion_relay, built here against Debian's pion
// as it is: no bench patch). They speak PeerRTC's HTTP + frame protocol (POST /offer, welcome,
// `m<text>` -> `m<from>\n<text>`, peer_joined/peer_left). peerrtc-probe --exchange puts two native
// peers in one room: presence, text messages of every size both ways, checked byte for byte, in
// order and with the sender's id, then one peer goes away and the other must hear peer_left.
//
// DTLS roles: aiortc answers a=setup:active, so our client is the DTLS server there; the pion
// relay answers a=setup:passive by default (our client the DTLS client: what the benchmark saw
// fail before the client offered use_srtp) and a=setup:active with -dtls-role client.
// Sizes: up to the largest payload (262078) with aiortc and with peerrtc-server; 65000 with pion,
// whose OnMessage reads into a 65535-byte buffer (the relay relays nothing larger; see
// tests/interop/README.md).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { binaryPath, missingBinaryMessage, startProcess } from '../lib/server.mjs';
import { checkAiortc, killAll, pionBinaries, PYTHON, runClient } from './lib/stacks.mjs';

const probe = binaryPath('peerrtc-probe');
const FULL = '0,1,1024,16384,65536,262078';
const PION = '0,1,1024,16384,65000';
let pion;
const running = [];

before(async () => {
  assert.ok(existsSync(probe), `native client ${missingBinaryMessage(probe)}`);
  checkAiortc();
  pion = await pionBinaries();
});
after(async () => {
  killAll();
  for (const p of running) p.kill();
});

// The relays' exit codes are their own business (aiortc, pion); our server's must be 0.
async function start(name, cmd, args, { expectCleanExit = false } = {}) {
  const p = await startProcess(cmd, args, { name, expectCleanExit });
  running.push(p);
  return p;
}

async function exchange(t, server, sizes, extra = []) {
  const id = `cpp${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const r = await runClient(probe, ['--port', String(server.http), '--exchange', '--room', `r-${id}`, '--peer-id', id,
    '--sizes', sizes, '--timeout-ms', '15000', ...extra], { timeoutMs: 90000, name: 'probe' });
  const line = r.out.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `no RESULT from peerrtc-probe (exit ${r.code}, signal ${r.signal}):\n${r.out}\nserver output:\n${server.output().slice(-3000)}`);
  const res = JSON.parse(line.slice(7));
  assert.deepEqual(res.errors, [], `${line}\nserver output:\n${server.output().slice(-3000)}`);
  const n = sizes.split(',').length * 2 * (extra.includes('--binary') ? 2 : 1);
  assert.equal(res.sent, n, line);
  assert.equal(res.delivered, n, line);
  assert.equal(res.ok, true, line);
  assert.equal(r.code, 0, r.out);
  t.diagnostic(`${res.delivered} messages delivered; join ${Math.round(res.join_s * 1000)} ms, all ${Math.round(res.seconds * 1000)} ms`);
}

test('C++ client <-> aiortc relay (aiortc the DTLS client): presence, 0 B..262078 B both ways', { timeout: 120000 }, async (t) => {
  const relay = await start('aiortc-relay', PYTHON, ['bench/aiortc_relay.py', '--host', '127.0.0.1', '--port', '0']);
  try { await exchange(t, relay, FULL); } finally { await relay.stop(); }
});

test('C++ client <-> unpatched pion relay, pion the DTLS server: presence, 0 B..65000 B both ways', { timeout: 120000 }, async (t) => {
  const relay = await start('pion-relay', pion.relay, ['-host', '127.0.0.1', '-port', '0', '-dtls-role', 'server']);
  try { await exchange(t, relay, PION); } finally { await relay.stop(); }
});

test('C++ client <-> unpatched pion relay, pion the DTLS client: presence, 0 B..65000 B both ways', { timeout: 120000 }, async (t) => {
  const relay = await start('pion-relay', pion.relay, ['-host', '127.0.0.1', '-port', '0', '-dtls-role', 'client']);
  try { await exchange(t, relay, PION); } finally { await relay.stop(); }
});

// The same program against our own server (text and binary), so a failure above is not the
// probe's own.
test('C++ client <-> peerrtc-server: the same exchange, text and binary, 0 B..262078 B', { timeout: 120000 }, async (t) => {
  const server = await start('peerrtc-server', binaryPath('peerrtc-server'), ['--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'],
    { expectCleanExit: true });
  try { await exchange(t, server, FULL, ['--binary']); } finally { await server.stop(); }
});
