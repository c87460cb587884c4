// A peerrtc-client (clients/js, protocol v2, reconnecting) as its own process, so that it can run
// inside a network namespace whose network the test cuts. Reports JSON lines on stdout:
//   {type:'connected'}, {type:'message', from, text, seq, t}, {type:'event', event: {type, ...}}
//   (peer_joined, peer_left, peer_away, peer_back, resume_gap), {type:'status', status},
//   {type:'acked', n} once every message of a send command is acked, {type:'started', t} when a
//   send command starts (t = Date.now(); message i is sent at t + i * 1000 / rate or later),
//   {type:'log', text, t} the client's debug log when the job has `debug: true`.
// Commands on stdin, one JSON object a line:
//   {cmd:'send', n, rate}   sends "0" .. "<n-1>" at `rate` per second (queued while reconnecting)
//   {cmd:'close'}           closeConnection(), then exit
//   node tests/network/lib/resume-peer.mjs '{"baseUrl":...,"room":...,"peerId":...}'
import { createInterface } from 'node:readline';
import { wrtc } from '../../lib/wrtc.mjs';
import { WebRTCConnection } from '../../../clients/js/peerrtc-client.js';

const job = JSON.parse(process.argv[2] || '{}');
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
if (job.debug) {
  console.debug = (...args) => emit({ type: 'log', text: args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '), t: Date.now() });
}
const c = new WebRTCConnection(job.room, {
  peerId: job.peerId, serverUrl: job.baseUrl, RTCPeerConnection: wrtc.RTCPeerConnection, iceServers: [],
  disconnectTimeout: job.disconnectTimeout ?? 5000, maxQueuedMessages: 100000, debug: !!job.debug,
});
c.onMessage = (from, text, info) => emit({ type: 'message', from, text, seq: info.seq ?? null, t: Date.now() });
for (const [cb, type] of [['onPeerJoined', 'peer_joined'], ['onPeerLeft', 'peer_left'], ['onPeerAway', 'peer_away'], ['onPeerBack', 'peer_back']]) {
  c[cb] = (p) => emit({ type: 'event', event: { type, peer_id: p } });
}
c.onResumeGap = (g) => emit({ type: 'event', event: g });
c.onStatusChange = (s) => emit({ type: 'status', status: s });
c.connect().then(() => emit({ type: 'connected' }), (e) => emit({ type: 'error', message: String(e.message || e) }));

createInterface({ input: process.stdin }).on('line', async (line) => {
  const cmd = JSON.parse(line);
  if (cmd.cmd === 'send') {
    const t0 = Date.now();
    emit({ type: 'started', t: t0 });
    const acks = [];
    for (let i = 0; i < cmd.n; i++) {
      const due = t0 + (i * 1000) / cmd.rate;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      try {
        acks.push(c.sendMessage(String(i)));
      } catch (e) {
        emit({ type: 'send_error', i, message: String(e.message || e) });
      }
    }
    const r = await Promise.allSettled(acks);
    emit({ type: 'acked', n: r.filter((x) => x.status === 'fulfilled').length, rejected: r.filter((x) => x.status === 'rejected').map((x) => String(x.reason)).slice(0, 3) });
  } else if (cmd.cmd === 'close') {
    await c.closeConnection();
    process.exit(0);
  }
}).on('close', () => process.exit(0));
