// Issue 19 "past the window", at full scale (not in the test command: it takes ~3 minutes; the
// test command has the same rule scaled to a 4-s window in tests/client/resume.test.mjs). A
// receiver's network namespace drops all traffic for 150 s while a sender sends at 20 msg/s
// through peerrtc-server with `--resume-window 60`: the server ends the receiver's connection at
// the ICE consent timeout (30 s), the others see peer_away, and peer_left when the 60-s window
// ends (~90 s into the cut); when the network returns the receiver's JS client (protocol v2,
// default options) reconnects, its resume is refused with a `resume_gap` (reason window_expired)
// whose counts are exactly what it missed, and it joins fresh (peer_joined, a new token) and gets
// the live messages again. Checked: nothing doubled or reordered at the receiver; every message
// is either received or inside the gap's [from_seq, to_seq], and `missed` equals the seqs not
// received; the watcher got all; peer_away, peer_left and peer_joined at the others, in order.
//   bash tests/network/run.sh tests/long/past-window.test.mjs    # root; or node --test <file>
// Env: PEERRTC_PAST_WINDOW_CUT_S (150), PEERRTC_PAST_WINDOW_S (60).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNetns, spawnJson } from '../network/lib/netns.mjs';
import { startPeerServer } from '../network/lib/servers.mjs';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'network', 'lib', 'resume-peer.mjs');
const CUT_S = Number(process.env.PEERRTC_PAST_WINDOW_CUT_S || 150);
const WINDOW_S = Number(process.env.PEERRTC_PAST_WINDOW_S || 60);
const CONSENT_S = 30; // peerrtc-server's ICE consent timeout (default)
const RATE = 20, BEFORE_MS = 4000, AFTER_MS = 15000;
const cleanup = [];
after(async () => { for (const f of cleanup.reverse()) await f().catch(() => {}); });

test(`past the window: a receiver cut ${CUT_S} s with --resume-window ${WINDOW_S} gets a resume_gap with exact counts, then a fresh join`,
  { timeout: (CUT_S + 120) * 1000 }, async (t) => {
    const ns = await createNetns({ udp: 'allowed' });
    cleanup.push(() => ns.destroy());
    const server = await startPeerServer(ns.rootIp, { name: 'past-window', args: ['--resume-window', String(WINDOW_S)] });
    cleanup.push(() => server.stop());
    const baseUrl = `http://${ns.rootIp}:${server.http}`;
    const room = `past-window-${process.pid}`;
    const spawn = (peerId, inside) => {
      const job = JSON.stringify({ baseUrl, room, peerId });
      const p = inside ? ns.spawnJson(process.execPath, [SCRIPT, job], { name: peerId }) : spawnJson(process.execPath, [SCRIPT, job], { name: peerId });
      cleanup.push(() => p.stop());
      return p;
    };
    const sender = spawn('s', false);
    await sender.waitFor((m) => m.type === 'connected', 20000, 's connected');
    const watcher = spawn('w', false);
    await watcher.waitFor((m) => m.type === 'connected', 20000, 'w connected');
    const receiver = spawn('r', true);
    await receiver.waitFor((m) => m.type === 'connected', 20000, 'r connected');
    await sender.waitFor((m) => m.type === 'event' && m.event.type === 'peer_joined' && m.event.peer_id === 'r', 10000, 'full room');
    const n = Math.round((RATE * (BEFORE_MS + CUT_S * 1000 + AFTER_MS)) / 1000);
    sender.send({ cmd: 'send', n, rate: RATE });
    await new Promise((r) => setTimeout(r, BEFORE_MS));
    ns.cut();
    const tCut = Date.now();
    const ev = (p, type) => p.messages.filter((m) => m.type === 'event' && m.event.type === type && (m.event.peer_id === 'r' || type === 'resume_gap'));
    // The window starts when the server ends the connection (consent), and peer_left ends it.
    await sender.waitFor(() => ev(sender, 'peer_left').length > 0, (CONSENT_S + WINDOW_S + 15) * 1000, 'peer_left at the window\'s end');
    const leftAt = ev(sender, 'peer_left')[0].at - tCut;
    const awayAt = ev(sender, 'peer_away')[0]?.at - tCut;
    await new Promise((r) => setTimeout(r, tCut + CUT_S * 1000 - Date.now()));
    ns.uncut();
    const tBack = Date.now();
    await receiver.waitFor(() => ev(receiver, 'resume_gap').length > 0, 60000, 'resume_gap after the return');
    await sender.waitFor(() => ev(sender, 'peer_joined').length > 0, 10000, 'r joined again');
    await sender.waitFor((m) => m.type === 'acked', AFTER_MS + 30000, 'every send acked');
    const got = () => receiver.messages.filter((m) => m.type === 'message' && m.from === 's');
    await watcher.waitFor(() => watcher.messages.filter((m) => m.type === 'message' && m.from === 's').length >= n, 30000, 'the watcher got all');
    await new Promise((r) => setTimeout(r, 1000));
    const rx = got();
    const seqs = rx.map((m) => m.seq);
    const nums = rx.map((m) => Number(m.text));
    const gap = ev(receiver, 'resume_gap')[0].event;
    const gapAt = ev(receiver, 'resume_gap')[0].at - tBack;
    const firstAfter = rx.find((m) => m.at >= tBack);
    let reordered = 0;
    for (let i = 1; i < nums.length; i++) if (nums[i] < nums[i - 1]) reordered++;
    const seqOf = new Map(watcher.messages.filter((m) => m.type === 'message' && m.from === 's').map((m) => [Number(m.text), m.seq]));
    const missing = [...seqOf.entries()].filter(([i]) => !nums.includes(i)).map(([, s]) => s);
    t.diagnostic(`${n} sent; receiver got ${nums.length} (${new Set(nums).size} distinct, ${reordered} reordered); ` +
      `peer_away ${awayAt} ms and peer_left ${leftAt} ms after the cut; resume_gap ${JSON.stringify(gap)} ${gapAt} ms after the return; ` +
      `missing seqs ${missing.length ? `${Math.min(...missing)}..${Math.max(...missing)} (${missing.length})` : 'none'}; ` +
      `first message ${firstAfter ? firstAfter.at - tBack : null} ms after the return; receiver statuses ` +
      receiver.messages.filter((m) => m.type === 'status').map((m) => m.status).join(' > '));
    assert.equal(nums.length, new Set(nums).size, 'nothing doubled');
    assert.equal(reordered, 0, 'nothing reordered');
    assert.equal(seqOf.size, n, 'the watcher got every message');
    assert.equal(gap.reason, 'window_expired');
    assert.equal(gap.missed, missing.length, 'missed = the messages the receiver did not get');
    assert.deepEqual(missing, Array.from({ length: missing.length }, (_, i) => gap.from_seq + i), 'the gap is exactly [from_seq, to_seq]');
    assert.equal(gap.to_seq, gap.from_seq + gap.missed - 1);
    assert.ok(Math.abs(leftAt - (CONSENT_S + WINDOW_S) * 1000) <= 10000, `peer_left ${leftAt} ms after the cut: consent ${CONSENT_S} s + window ${WINDOW_S} s (± 10 s)`);
    assert.ok(awayAt <= (CONSENT_S + 5) * 1000, `peer_away ${awayAt} ms after the cut`);
    for (const p of [sender, watcher]) {
      const order = p.messages.filter((m) => m.type === 'event' && m.event.peer_id === 'r' && m.at >= tCut).map((m) => m.event.type);
      assert.deepEqual(order, ['peer_away', 'peer_left', 'peer_joined'], `${p.name}: away, left, then a fresh join`);
    }
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), 'seqs increase');
    for (const p of [sender, watcher, receiver]) p.send({ cmd: 'close' });
  });
