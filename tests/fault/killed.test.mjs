// A peer whose process dies without a word is removed, and its room told, by the consent
// timeout: not before (a SIGKILLed process sends no ABORT) and not much after. A protocol v2 peer
// (the JS client) is first away (peer_away at the consent timeout) and leaves when its resume
// window ends (--resume-window, short here).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { startServer, SERVER_BIN, connectPeer, uniqueId, startProbe, waitFor, sleep, REPO_ROOT } from './lib.mjs';

const CONSENT_MS = 3000;
const WINDOW_MS = 2000;
let server;
before(async () => {
  server = await startServer(SERVER_BIN, ['--port', '0', '--no-examples', '--consent-timeout-ms', String(CONSENT_MS),
    '--resume-window', String(WINDOW_MS / 1000)], { name: 'killed' });
});
after(async () => { if (server) await server.stop(); });

// Waits for `peerId`'s peer_left at the observer; returns {ms since t0, reason}.
async function leftAfter(observer, peerId, t0) {
  const f = await observer.waitEvent('peer_left', (e) => e.peer_id === peerId, 15000);
  const at = observer.leftAt.get(peerId) ?? Date.now();
  return { ms: at - t0, reason: f.event.reason };
}

function watchLeaves(observer) {
  observer.leftAt = new Map();
  const orig = observer.dc.onmessage;
  observer.dc.onmessage = (ev) => {
    if (typeof ev.data === 'string' && ev.data.startsWith('{"type":"peer_left"')) {
      try { observer.leftAt.set(JSON.parse(ev.data).peer_id, Date.now()); } catch { /* */ }
    }
    orig(ev);
  };
}

test('SIGKILLed node process holding a wrtc JS client (v2): peer_away at the consent timeout, peer_left when the resume window ends', async () => {
  const room = uniqueId('killed');
  const observer = await connectPeer(server, room, uniqueId('observer'));
  watchLeaves(observer);
  const victimId = uniqueId('victim');
  const child = spawn(process.execPath, [resolve(REPO_ROOT, 'tests/fault/holder.mjs'), server.baseUrl, room, victimId],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', (c) => { err += c; });
  const exited = new Promise((r) => child.on('exit', r));
  try {
    await waitFor(() => out.includes('CONNECTED'), 15000, () => `holder CONNECTED; stdout ${out} stderr ${err}`);
    await observer.waitEvent('peer_joined', (e) => e.peer_id === victimId, 5000);
    // Healthy for longer than the consent timeout: its consent checks keep it in.
    await sleep(CONSENT_MS + 500);
    // The time is the point here; the marker is for the look: after the observer's flush it has
    // every event the server sent it until now.
    const end = await observer.flush();
    const left = observer.frames.slice(0, end).filter((f) => f.event && f.event.type === 'peer_left');
    assert.deepEqual(left, [], `victim dropped while alive: ${JSON.stringify(observer.events)}`);
    const peers = (await server.request('GET', `/rooms/peers?room=${room}`)).json.peers;
    assert.ok(peers.includes(victimId), `victim in the room before the kill: ${peers}`);

    const t0 = Date.now();
    child.kill('SIGKILL');
    await exited;
    const away = await observer.waitEvent('peer_away', (e) => e.peer_id === victimId, 15000);
    const awayMs = Date.now() - t0;
    const { ms, reason } = await leftAfter(observer, victimId, t0);
    console.log(`# SIGKILLed wrtc process: peer_away after ~${awayMs} ms, peer_left after ${ms} ms (consent timeout ${CONSENT_MS} ms + resume window ${WINDOW_MS} ms), reason "${reason}"`);
    assert.ok(away);
    // Nothing got out of the dead process, so only the consent timeout can have ended it.
    assert.match(reason, /consent/i, 'removed by the consent timeout');
    // The last consent check came at most one client check interval (≤ 2.5 s) before the kill;
    // the window's end is noticed within a relay tick (250 ms).
    assert.ok(ms >= CONSENT_MS + WINDOW_MS - 2600, `peer_left ${ms} ms after the kill: too early for ${CONSENT_MS} ms consent + ${WINDOW_MS} ms window`);
    assert.ok(ms <= CONSENT_MS + WINDOW_MS + 3000, `peer_left ${ms} ms after the kill: later than ~${CONSENT_MS + WINDOW_MS} ms + 3 s`);
    const after = (await server.request('GET', `/rooms/peers?room=${room}`)).json.peers;
    assert.deepEqual(after, [observer.peerId]);
  } finally {
    child.kill('SIGKILL');
    observer.close();
  }
});

test('native peer whose network is cut after join: peer_left by the consent timeout', async () => {
  const room = uniqueId('cut');
  const observer = await connectPeer(server, room, uniqueId('observer'));
  watchLeaves(observer);
  const victimId = uniqueId('cutpeer');
  const probe = await startProbe(server, ['--cut-after-join', '--room', room, '--peer-id', victimId]);
  const t0 = Date.now();  // READY is printed right after the cut
  try {
    const { ms, reason } = await leftAfter(observer, victimId, t0);
    console.log(`# cut native peer: peer_left after ${ms} ms, reason "${reason}"`);
    assert.match(reason, /consent/i);
    // The probe's last check went out at most 2.5 s (its keepalive interval) before the cut.
    assert.ok(ms >= CONSENT_MS - 2600 && ms <= CONSENT_MS + 3000, `peer_left after ${ms} ms`);
    const health = (await server.request('GET', '/health')).json;
    assert.equal(health.peers, 1, JSON.stringify(health));
  } finally {
    probe.kill();
    observer.close();
  }
});
