// Bad offers: POST /offer must answer 4xx with a JSON {"error": "..."} for garbage SDP, an
// audio-only offer (no data channel section), missing fields and non-JSON bodies, and the server
// must still serve a good peer afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { summarize, uniquePeerId, withTimeout } from './lib/harness.mjs';
import { runMatrix } from './matrix.js';
import { wrtc } from '../lib/wrtc.mjs';

let server;
before(async () => { server = await startServer({ name: 'bad-offer' }); });
after(async () => { if (server) await server.stop(); });

// A Chromium-style audio-only offer (no m=application section).
const AUDIO_ONLY_SDP = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=extmap-allow-mixed',
  'a=msid-semantic: WMS',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 D7:5E:87:3A:E5:5C:33:54:4D:3D:B9:6B:2D:16:F4:86:8D:23:DD:22:72:DC:93:68:46:99:13:B2:FA:81:36:BD',
  'a=setup:actpass',
  'a=mid:0',
  'a=recvonly',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  '',
].join('\r\n');

async function audioOnlyOffer() {
  // Prefer a real offer from libwebrtc; fall back to the canned one.
  const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
  try {
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const offer = await withTimeout(pc.createOffer(), 5000, 'wrtc audio-only createOffer');
    if (/^m=audio /m.test(offer.sdp) && !/^m=application /m.test(offer.sdp)) return { sdp: offer.sdp, source: 'wrtc' };
  } catch { /* fall through */ } finally { pc.close(); }
  return { sdp: AUDIO_ONLY_SDP, source: 'canned' };
}

function assertJsonError(r, what) {
  assert.ok(r.status >= 400 && r.status < 500, `${what}: expected a 4xx status, got ${r.status} (body ${r.text.slice(0, 300)})`);
  assert.ok(r.json && typeof r.json === 'object', `${what}: body is not JSON: ${r.text.slice(0, 300)}`);
  assert.equal(typeof r.json.error, 'string', `${what}: body has no string "error": ${r.text.slice(0, 300)}`);
  assert.ok(r.json.error.length > 0, `${what}: empty error message`);
}

const post = (body) => server.request('POST', '/offer', body);

test('bad offer: garbage SDP -> 4xx JSON error', async () => {
  assertJsonError(await post({ room: 'r', peer_id: uniquePeerId('garbage'), offer: { sdp: 'this is not an SDP\r\n', type: 'offer' } }), 'garbage SDP');
  assertJsonError(await post({ room: 'r', peer_id: uniquePeerId('garbage2'), offer: { sdp: 'v=0\r\nm=application\r\n\u0000\u00ff', type: 'offer' } }), 'truncated SDP');
});

test('bad offer: audio-only offer (no data channel) -> 4xx JSON error', async (t) => {
  const { sdp, source } = await audioOnlyOffer();
  t.diagnostic(`audio-only offer from ${source}`);
  assertJsonError(await post({ room: 'r', peer_id: uniquePeerId('audio'), offer: { sdp, type: 'offer' } }), 'audio-only offer');
});

// A valid data channel offer, so each case below is rejected for its missing/invalid field only.
async function validOffer() {
  const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
  try {
    pc.createDataChannel('x');
    return (await withTimeout(pc.createOffer(), 5000, 'wrtc createOffer')).sdp;
  } finally { pc.close(); }
}

const fieldCases = [
  ['empty object', () => ({})],
  ['missing offer', () => ({ room: 'r', peer_id: uniquePeerId('m') })],
  ['missing peer_id', (sdp) => ({ room: 'r', offer: { sdp, type: 'offer' } })],
  ['missing room', (sdp) => ({ peer_id: uniquePeerId('m'), offer: { sdp, type: 'offer' } })],
  ['missing offer.sdp', () => ({ room: 'r', peer_id: uniquePeerId('m'), offer: { type: 'offer' } })],
  ['missing offer.type', (sdp) => ({ room: 'r', peer_id: uniquePeerId('m'), offer: { sdp } })],
  ['offer.type is "answer"', (sdp) => ({ room: 'r', peer_id: uniquePeerId('m'), offer: { sdp, type: 'answer' } })],
  ['peer_id is a number', (sdp) => ({ room: 'r', peer_id: 42, offer: { sdp, type: 'offer' } })],
  ['body is a JSON array', () => []],
];
for (const [name, make] of fieldCases) {
  test(`bad offer: ${name} -> 4xx JSON error`, async () => {
    assertJsonError(await post(make(await validOffer())), name);
  });
}

test('bad offer: body that is not JSON -> 4xx JSON error', async () => {
  assertJsonError(await post('{"room": "r", "peer_id": '), 'truncated JSON');
  assertJsonError(await post('hello'), 'plain text body');
});

test('bad offer: no peer events for rejected offers', async () => {
  const evs = await server.events();
  const bad = evs.filter((e) => typeof e.peer_id === 'string' && /^(garbage|audio|m)-/.test(e.peer_id));
  assert.deepEqual(bad, [], `events for rejected offers: ${JSON.stringify(bad)}`);
});

test('bad offer: server still serves a good peer afterwards', { timeout: 60000 }, async (t) => {
  const peerId = uniquePeerId('after-bad');
  const r = await runMatrix({
    RTCPeerConnection: wrtc.RTCPeerConnection,
    peerId,
    signal: (sdp) => server.offer('interop', peerId, sdp),
    getEvents: () => server.events(),
    types: ['reliable'],
    sizes: [0, 1, 1024, 65536],
    burst: false,
  });
  t.diagnostic(summarize('wrtc', r));
});
