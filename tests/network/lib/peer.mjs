// A wrtc peer as its own process, so that it can run inside a network namespace
// (`ip netns exec NS node peer.mjs JOB`) or be SIGKILLed. Reports JSON lines on stdout.
//
//   node tests/network/lib/peer.mjs '{"mode":"matrix","baseUrl":...,"peerId":...}'
//     runs tests/interop/matrix.js against peerrtc-testserver (room "interop"): emits
//     {type:'answer', candidates}, {type:'step', step}, {type:'path', path} (selected candidate
//     pair once the control channel is open), then {type:'result', result} (exit 0) or
//     {type:'error', message} (exit 1). Job fields: types, sizes, burst, connectTimeoutMs, onlyTcp.
//   node tests/network/lib/peer.mjs '{"mode":"client","baseUrl":...,"room":...,"peerId":...}'
//     one peerrtc-client (clients/js) driven by clientDriver() of shared.js: its reports go to
//     stdout and its commands come from stdin, one JSON object a line. Exits after {cmd:'close'}
//     or when stdin ends (the test process is gone). clientOptions: more WebRTCConnection options.
// onlyTcp: the answer's UDP candidates are removed before the client sees it (ICE-TCP on
// loopback, without a namespace).
import { createInterface } from 'node:readline';
import { wrtc } from '../../lib/wrtc.mjs';
import { WebRTCConnection } from '../../../clients/js/peerrtc-client.js';
import { runMatrix } from '../../interop/matrix.js';
import { clientDriver, recordingPC, selectedPath, sdpCandidates, withoutUdpCandidates } from './shared.js';

const job = JSON.parse(process.argv[2] || '{}');
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const errText = (e) => String(e && e.message ? e.message : e);

async function http(method, path, body) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 10000);
  try {
    const init = { method, signal: ctl.signal };
    if (body !== undefined) { init.body = JSON.stringify(body); init.headers = { 'content-type': 'application/json' }; }
    const res = await fetch(job.baseUrl + path, init);
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    if (res.status !== 200 || !json) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return json;
  } finally {
    clearTimeout(timer);
  }
}

async function matrix() {
  const { PC, pcs } = recordingPC(wrtc.RTCPeerConnection);
  let pathP = null;
  try {
    const result = await runMatrix({
      RTCPeerConnection: PC,
      peerId: job.peerId,
      types: job.types || null,
      sizes: job.sizes || undefined,
      burst: job.burst !== false,
      timeouts: job.connectTimeoutMs ? { connect: job.connectTimeoutMs } : {},
      signal: async (sdp) => {
        const a = await http('POST', '/offer', { room: 'interop', peer_id: job.peerId, offer: { sdp, type: 'offer' } });
        emit({ type: 'answer', candidates: sdpCandidates(a.sdp).map(({ line, ...c }) => c) });
        return job.onlyTcp ? withoutUdpCandidates(a.sdp) : a.sdp;
      },
      getEvents: async () => (await http('GET', '/events')).events,
      log: (m) => {
        emit({ type: 'step', step: m });
        if (!pathP && /^control open/.test(m)) pathP = selectedPath(pcs[pcs.length - 1]).catch((e) => ({ error: errText(e) }));
      },
    });
    emit({ type: 'path', path: await pathP });
    emit({ type: 'result', result });
    process.exit(0);
  } catch (e) {
    emit({ type: 'error', message: errText(e), path: pathP ? await pathP : null });
    process.exit(1);
  }
}

// keepAliveMs (client mode): fetch keeps an idle HTTP connection this long, as a browser does
// (Chromium keeps a used one for minutes; Node's fetch, undici, 4 s by default). Node has no
// public way to set it: the global dispatcher's own class (undici's Agent) is made anew with it.
async function keepAlive(ms) {
  await fetch(`${job.baseUrl}/health`).then((r) => r.text());
  const key = Symbol.for('undici.globalDispatcher.1');
  const Agent = globalThis[key] && globalThis[key].constructor;
  if (!Agent || Agent.name !== 'Agent') throw new Error('keepAliveMs: no undici Agent behind fetch');
  globalThis[key] = new Agent({ keepAliveTimeout: ms, keepAliveMaxTimeout: ms });
}

async function client() {
  if (job.keepAliveMs) await keepAlive(job.keepAliveMs);
  const command = clientDriver({
    WebRTCConnection, RTCPeerConnection: wrtc.RTCPeerConnection, fetch: globalThis.fetch,
    baseUrl: job.baseUrl, room: job.room, peerId: job.peerId, connectTimeoutMs: job.connectTimeoutMs,
    onlyTcp: !!job.onlyTcp, options: job.clientOptions || {}, emit,
  });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    let cmd;
    try { cmd = JSON.parse(line); } catch { emit({ type: 'command_error', message: `not JSON: ${line.slice(0, 100)}` }); return; }
    await command(cmd);
    if (cmd.cmd === 'close') process.exit(0);
  });
  rl.on('close', () => process.exit(0));
}

if (job.mode === 'matrix') matrix();
else if (job.mode === 'client') client();
else { emit({ type: 'error', message: `unknown mode ${job.mode}` }); process.exit(2); }
