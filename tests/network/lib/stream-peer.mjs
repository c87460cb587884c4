// A wrtc peer running the project's JS client (its default options unless the job gives some),
// as its own process so that it can run inside a network namespace
// (`ip netns exec NS node stream-peer.mjs JOB`). It sends numbered text messages at a steady
// rate and reports every message it receives with its own clock, for checks of loss,
// duplication, order and silences (tests/network/dropout.test.mjs).
//
//   node tests/network/lib/stream-peer.mjs '{"baseUrl":...,"room":...,"peerId":...,"options":{...}}'
//
// Reports, one JSON object a line on stdout:
//   {type:'connected', peers, ms}, {type:'error', message}            connect() settled
//   {type:'m', from, seq, t}        a room message "<from>:<seq>" received at t (Date.now())
//   {type:'peer_joined'|'peer_left', peer, t}, {type:'status', status, t}, {type:'client_error', message, t},
//   {type:'server_error', event, t} (an `error` event from the server, e.g. rate_limited)
//   {type:'started', t}, {type:'stopped', sent, send_errors, t}, {type:'closed'}
// Commands, one JSON object a line on stdin:
//   {cmd:'start', rate}   sends "<peerId>:<n>" (n = 1, 2, ...) to the room, `rate` a second; a
//                         timer catches up on the count due since the start, so the rate holds
//                         when the event loop is late
//   {cmd:'stop'}          stops sending; reports how many were sent
//   {cmd:'close'}         leaves (closeConnection) and exits
import { createInterface } from 'node:readline';
import { wrtc } from '../../lib/wrtc.mjs';
import { WebRTCConnection } from '../../../clients/js/peerrtc-client.js';

const job = JSON.parse(process.argv[2] || '{}');
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const errText = (e) => String(e && e.message ? e.message : e);
const t0 = Date.now();
// The client's debug log (job.debug) comes back as {type:'log', text, t} lines: a check that
// fails (a reconnect where none was due) says what the client saw and did.
if (job.debug) {
  console.debug = (...args) => emit({ type: 'log', text: args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '), t: Date.now() });
}

// job.options: more WebRTCConnection options (none: the defaults).
const c = new WebRTCConnection(job.room, {
  peerId: job.peerId, serverUrl: job.baseUrl, RTCPeerConnection: wrtc.RTCPeerConnection, fetch: globalThis.fetch,
  ...(job.options || {}),
  debug: !!job.debug,
});
c.onMessage = (from, message) => {
  const text = typeof message === 'string' ? message : '';
  const colon = text.lastIndexOf(':');
  emit({ type: 'm', from, seq: colon > 0 ? Number(text.slice(colon + 1)) : null, t: Date.now() });
};
c.onPeerJoined = (p) => emit({ type: 'peer_joined', peer: p, t: Date.now() });
c.onPeerLeft = (p) => emit({ type: 'peer_left', peer: p, t: Date.now() });
c.onStatusChange = (s) => emit({ type: 'status', status: s, t: Date.now() });
c.onError = (e) => emit({ type: 'client_error', message: errText(e), t: Date.now() });
c.onServerError = (ev) => emit({ type: 'server_error', event: ev, t: Date.now() });
c.connect().then(() => emit({ type: 'connected', peers: c.peers(), ms: Date.now() - t0 }),
  (e) => emit({ type: 'error', message: errText(e), ms: Date.now() - t0 }));

let timer = null;
let sent = 0;
let sendErrors = 0;
function start(rate) {
  if (timer) return;
  const begin = Date.now();
  emit({ type: 'started', t: begin });
  const tick = () => {
    const due = Math.floor(((Date.now() - begin) * rate) / 1000) + 1;
    while (sent < due) {
      sent++;
      try { c.sendMessage(`${job.peerId}:${sent}`); } catch (e) {
        sendErrors++;
        if (sendErrors <= 3) emit({ type: 'client_error', message: `send ${sent}: ${errText(e)}`, t: Date.now() });
      }
    }
  };
  tick();
  timer = setInterval(tick, Math.max(5, Math.min(50, Math.floor(1000 / rate))));
}

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  let cmd;
  try { cmd = JSON.parse(line); } catch { return; }
  if (cmd.cmd === 'start') start(cmd.rate);
  else if (cmd.cmd === 'stop') {
    clearInterval(timer);
    timer = null;
    emit({ type: 'stopped', sent, send_errors: sendErrors, t: Date.now() });
  } else if (cmd.cmd === 'close') {
    clearInterval(timer);
    try { await c.closeConnection(); } catch { /* gone */ }
    emit({ type: 'closed' });
    process.exit(0);
  }
});
rl.on('close', () => process.exit(0));
