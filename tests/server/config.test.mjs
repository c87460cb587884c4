// GET /config and the flags behind it (docs/protocol.md, docs/deploy.md): --ice-server (STUN
// only), --turn-url with --turn-secret (TURN REST credentials minted per request, checked here
// with node's own HMAC-SHA1) or with --turn-username/--turn-password, --turn-ttl, their
// environment variables, bad query parameters (400 JSON) and bad flags (exit 2, clear message).
//
//   node --test tests/server/config.test.mjs       (PEERRTC_SERVER=path overrides the binary)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { SERVER_BIN, runToExit, startServer } from './lib.mjs';

const BASE_ARGS = ['--port', '0', '--host', '127.0.0.1', '--no-examples'];
const TURN_UDP = 'turn:turn.example.org:3478?transport=udp';
const TURNS_TCP = 'turns:turn.example.org:443?transport=tcp';
const SECRET = 'north-wind-7f3a';

async function withServer(args, env, name, fn) {
  const s = await startServer(SERVER_BIN, [...BASE_ARGS, ...args], { env, name });
  try {
    await fn(s);
  } finally {
    const r = await s.stop();
    assert.equal(r.code, 0, `${name}: exit code after SIGTERM; output:\n${s.output().slice(-2000)}`);
  }
}

const nowS = () => Math.floor(Date.now() / 1000);
const hmac = (secret, username) => createHmac('sha1', secret).update(username).digest('base64');

function assertJsonError(r, status, what) {
  assert.equal(r.status, status, `${what}: status ${r.status}, body ${r.text.slice(0, 300)}`);
  assert.match(r.contentType, /^application\/json/, `${what}: content type`);
  assert.ok(r.json && typeof r.json.error === 'string' && r.json.error.length > 0, `${what}: JSON error, got ${r.text}`);
}

// The TURN entry of a /config answer, checked as a W3C RTCIceServer with REST credentials for
// `user` (a RegExp for a random one), expiring `ttl` seconds after a time in [t0, t1].
function checkRest(body, { urls, secret, user, ttl, t0, t1 }) {
  assert.equal(body.ttl, ttl, JSON.stringify(body));
  const turn = body.iceServers.find((s) => [].concat(s.urls).some((u) => u.startsWith('turn')));
  assert.ok(turn, `a TURN entry in ${JSON.stringify(body)}`);
  assert.deepEqual(Object.keys(turn).sort(), ['credential', 'urls', 'username']);
  assert.deepEqual(turn.urls, urls);
  const colon = turn.username.indexOf(':');
  assert.ok(colon > 0, `username ${turn.username} is <expiry>:<user>`);
  const expiry = Number(turn.username.slice(0, colon));
  assert.ok(Number.isInteger(expiry) && expiry >= t0 + ttl && expiry <= t1 + ttl,
    `expiry ${expiry} within [${t0 + ttl}, ${t1 + ttl}]`);
  const who = turn.username.slice(colon + 1);
  if (user instanceof RegExp) assert.match(who, user);
  else assert.equal(who, user);
  assert.equal(turn.credential, hmac(secret, turn.username), 'credential = base64(HMAC-SHA1(secret, username))');
  return turn;
}

test('default: no ICE servers, no ttl, never cached', { timeout: 20000 }, async () => {
  await withServer([], {}, 'plain', async (s) => {
    const c = await s.request('GET', '/config');
    assert.equal(c.status, 200);
    assert.deepEqual(c.json, { iceServers: [] });
    assert.equal(c.headers.get('cache-control'), 'no-store');
    const p = await s.request('GET', '/config?peer_id=alice');
    assert.deepEqual(p.json, { iceServers: [] });
  });
});

test('--turn-url + --turn-secret: fresh REST credentials per request, for ?peer_id= or a random id', { timeout: 20000 }, async () => {
  const args = ['--ice-server', 'stun:stun.example.org:3478', '--turn-url', TURN_UDP, '--turn-url', TURNS_TCP, '--turn-secret', SECRET];
  await withServer(args, {}, 'turn-secret', async (s) => {
    const t0 = nowS();
    const a = await s.request('GET', '/config?peer_id=alice');
    const t1 = nowS();
    assert.equal(a.status, 200, a.text);
    assert.equal(a.headers.get('cache-control'), 'no-store');
    assert.deepEqual(a.json.iceServers[0], { urls: ['stun:stun.example.org:3478'] });
    assert.equal(a.json.iceServers.length, 2);
    checkRest(a.json, { urls: [TURN_UDP, TURNS_TCP], secret: SECRET, user: 'alice', ttl: 86400, t0, t1 });

    // A peer id with ':' and '@' (valid peer id characters), %-encoded in the query.
    const odd = 'relay:bob@home.example';
    const b = await s.request('GET', `/config?peer_id=${encodeURIComponent(odd)}`);
    checkRest(b.json, { urls: [TURN_UDP, TURNS_TCP], secret: SECRET, user: odd, ttl: 86400, t0, t1: nowS() });

    // A Unicode peer id (docs/protocol.md "Names"): in the username as UTF-8, HMAC over its bytes.
    const uni = 'José 🦊';
    const u = await s.request('GET', `/config?peer_id=${encodeURIComponent(uni)}`);
    assert.equal(u.status, 200, u.text);
    checkRest(u.json, { urls: [TURN_UDP, TURNS_TCP], secret: SECRET, user: uni, ttl: 86400, t0, t1: nowS() });

    // No peer id: a random one, another for every request.
    const r1 = checkRest((await s.request('GET', '/config')).json, { urls: [TURN_UDP, TURNS_TCP], secret: SECRET, user: /^[0-9a-f]{16}$/, ttl: 86400, t0, t1: nowS() });
    const r2 = checkRest((await s.request('GET', '/config')).json, { urls: [TURN_UDP, TURNS_TCP], secret: SECRET, user: /^[0-9a-f]{16}$/, ttl: 86400, t0, t1: nowS() });
    assert.notEqual(r1.username, r2.username);
    assert.notEqual(r1.credential, r2.credential);
    // The secret itself never appears in an answer.
    assert.ok(!a.text.includes(SECRET));
  });
});

test('PEERRTC_TURN_URL (comma-separated), PEERRTC_TURN_SECRET, PEERRTC_TURN_TTL', { timeout: 20000 }, async () => {
  const env = { PEERRTC_TURN_URL: `${TURN_UDP},${TURNS_TCP}`, PEERRTC_TURN_SECRET: SECRET, PEERRTC_TURN_TTL: '600' };
  await withServer([], env, 'turn-env', async (s) => {
    const t0 = nowS();
    const c = await s.request('GET', '/config?peer_id=carol');
    assert.equal(c.json.iceServers.length, 1, c.text);
    checkRest(c.json, { urls: [TURN_UDP, TURNS_TCP], secret: SECRET, user: 'carol', ttl: 600, t0, t1: nowS() });
  });
  await withServer(['--turn-url', TURN_UDP, '--turn-secret', SECRET, '--turn-ttl', '60'], {}, 'turn-ttl', async (s) => {
    const t0 = nowS();
    const c = await s.request('GET', '/config?peer_id=dave');
    checkRest(c.json, { urls: [TURN_UDP], secret: SECRET, user: 'dave', ttl: 60, t0, t1: nowS() });
  });
});

test('--turn-username/--turn-password: the same static credentials every time, no ttl', { timeout: 20000 }, async () => {
  const args = ['--turn-url', 'turn:[2001:db8::7]:3478', '--turn-username', 'webrtc', '--turn-password', 'p@ss:w0rd', '--ice-server', 'stun:stun.example.org'];
  await withServer(args, {}, 'turn-static', async (s) => {
    const c = await s.request('GET', '/config?peer_id=alice');
    assert.equal(c.status, 200, c.text);
    assert.deepEqual(c.json, {
      iceServers: [
        { urls: ['stun:stun.example.org'] },
        { urls: ['turn:[2001:db8::7]:3478'], username: 'webrtc', credential: 'p@ss:w0rd' },
      ],
    });
    assert.deepEqual((await s.request('GET', '/config')).json, c.json);
  });
  const env = { PEERRTC_TURN_URL: 'turns:turn.example.org', PEERRTC_TURN_USERNAME: 'u', PEERRTC_TURN_PASSWORD: 'p' };
  await withServer([], env, 'turn-static-env', async (s) => {
    const c = await s.request('GET', '/config');
    assert.deepEqual(c.json, { iceServers: [{ urls: ['turns:turn.example.org'], username: 'u', credential: 'p' }] });
  });
});

test('GET /config with a bad peer_id: 400 with a JSON error (with and without TURN)', { timeout: 30000 }, async () => {
  const bad = [
    ['peer_id=%20leading-space', /^invalid peer_id " leading-space": leading whitespace/],
    [`peer_id=${'x'.repeat(65)}`, /^invalid peer_id "x+": too long: 65 bytes/],
    ['peer_id=server', /reserved/],
    ['peer_id=a%0Ab', /^invalid peer_id "a\\nb": control character U\+000A at byte 1/],
    ['peer_id=Jos%E9', /^invalid peer_id "Jos\\xE9": invalid UTF-8 at byte 3/],
    ['peer_id=', /empty/],
    ['peer_id=%zz', /escape/],
  ];
  for (const args of [[], ['--turn-url', TURN_UDP, '--turn-secret', SECRET]]) {
    await withServer(args, {}, args.length ? 'badq-turn' : 'badq', async (s) => {
      for (const [q, re] of bad) {
        const r = await s.request('GET', `/config?${q}`);
        assertJsonError(r, 400, `/config?${q}`);
        assert.match(r.json.error, re, `/config?${q}`);
      }
      // Other parameters are ignored; a valid id is still accepted.
      assert.equal((await s.request('GET', '/config?x=1&peer_id=ok')).status, 200);
    });
  }
});

test('bad TURN/ICE flags exit 2 with a clear message (flags and environment)', { timeout: 90000 }, async () => {
  const t = ['--turn-url', 'turn:turn.example.org:3478'];
  const bad = [
    // Today's bug: a TURN entry without credentials in /config made browsers refuse the whole config.
    [['--ice-server', 'turn:turn.example.org:3478'], {}, /--ice-server.*--turn-url/s],
    [['--ice-server', 'turns:turn.example.org:443?transport=tcp'], {}, /--turn-url/],
    [['--ice-server', 'stun://stun.example.org'], {}, /--ice-server.*\/\//],
    [['--ice-server', 'stun:stun.example.org?transport=udp'], {}, /--ice-server.*parameters/],
    [[], { PEERRTC_ICE_SERVER: 'turn:turn.example.org' }, /--turn-url/],
    [[...t], {}, /--turn-url needs credentials.*--turn-secret/s],
    [[], { PEERRTC_TURN_URL: 'turn:turn.example.org' }, /--turn-url needs credentials/],
    [['--turn-url', 'http://turn.example.org', '--turn-secret', 's'], {}, /--turn-url.*scheme/],
    [['--turn-url', 'turn://turn.example.org', '--turn-secret', 's'], {}, /--turn-url.*'\/\/'/],
    [['--turn-url', 'turn:turn.example.org:99999', '--turn-secret', 's'], {}, /--turn-url.*port/],
    [['--turn-url', 'turn:turn.example.org:3478?transport=sctp', '--turn-secret', 's'], {}, /--turn-url.*transport/],
    [['--turn-url', 'turn:2001:db8::1', '--turn-secret', 's'], {}, /--turn-url.*brackets/],
    [['--turn-url', 'turn:bad_host', '--turn-secret', 's'], {}, /--turn-url.*character/],
    [['--turn-url', 'turn:', '--turn-secret', 's'], {}, /--turn-url.*no host/],
    [['--turn-url', 'stun:stun.example.org', '--turn-secret', 's'], {}, /--turn-url.*--ice-server/],
    [['--turn-secret', 's'], {}, /--turn-secret requires --turn-url/],
    [[], { PEERRTC_TURN_SECRET: 's' }, /--turn-secret requires --turn-url/],
    [[...t, '--turn-secret', ''], {}, /--turn-secret.*empty/],
    [[...t, '--turn-secret', 's', '--turn-username', 'u', '--turn-password', 'p'], {}, /--turn-secret excludes --turn-username/],
    [[...t, '--turn-username', 'u', '--turn-password', 'p'], { PEERRTC_TURN_SECRET: 's' }, /excludes/],
    [[...t, '--turn-username', 'u'], {}, /--turn-username requires --turn-password/],
    [[...t, '--turn-password', 'p'], {}, /--turn-password requires --turn-username/],
    [[...t, '--turn-username', 'u', '--turn-password', 'p', '--turn-ttl', '600'], {}, /--turn-ttl requires --turn-secret/],
    [[...t, '--turn-secret', 's', '--turn-ttl', '59'], {}, /--turn-ttl.*60 to 2592000/],
    [[...t, '--turn-secret', 's', '--turn-ttl', '2592001'], {}, /--turn-ttl/],
    [[...t, '--turn-secret', 's', '--turn-ttl', 'soon'], {}, /--turn-ttl/],
    [[...t, '--turn-secret', 's'], { PEERRTC_TURN_TTL: '-5' }, /--turn-ttl/],
  ];
  for (const [args, env, re] of bad) {
    const what = `${args.join(' ')} ${JSON.stringify(env)}`;
    const r = await runToExit(SERVER_BIN, [...BASE_ARGS, ...args], { env });
    assert.equal(r.code, 2, `${what}: exit ${r.code}; stderr ${r.stderr}`);
    assert.match(r.stderr, re, `${what}: message`);
    assert.ok(!r.stdout.includes('READY'), `${what}: did not start`);
  }
  const h = await runToExit(SERVER_BIN, ['--help']);
  assert.equal(h.code, 0);
  for (const s of ['--turn-url', '--turn-secret', '--turn-username', '--turn-password', '--turn-ttl',
    'PEERRTC_TURN_URL', 'PEERRTC_TURN_SECRET', 'PEERRTC_TURN_TTL', 'docs/deploy.md']) {
    assert.ok(h.stdout.includes(s), `--help mentions ${s}`);
  }
});

// Chromium and libwebrtc ignore remote ICE candidates on ports below 1024 (docs/deploy.md): a
// server whose WebRTC port is there says so at start; one with HTTP below 1024 and the WebRTC port
// above says nothing. (Binding below 1024 needs root, which the test command runs as.)
test('a WebRTC port below 1024 is warned about at start; HTTP below 1024 alone is not', { timeout: 20000 }, async (t) => {
  if (process.getuid && process.getuid() !== 0) return t.skip('needs root to bind a port below 1024');
  const low = await startServer(SERVER_BIN, ['--host', '127.0.0.1', '--no-examples', '--port', '0', '--udp-port', '1019'],
    { name: 'low-udp' });
  try {
    assert.equal(low.udp, 1019);
    // The warning goes to stderr before READY to stdout; two pipes, so wait for it a little.
    for (let i = 0; i < 60 && !/below 1024/.test(low.output()); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(low.output(), /WebRTC port \(UDP and ICE-TCP\) is 1019, below 1024: browsers .* will not connect; give --udp-port a port from 1024 up/);
  } finally { await low.stop(); }
  const http = await startServer(SERVER_BIN, ['--host', '127.0.0.1', '--no-examples', '--port', '1018', '--udp-port', '0'],
    { name: 'low-http' });
  try {
    assert.equal(http.http, 1018);
    assert.ok(http.udp >= 1024, `udp ${http.udp}`);
    assert.doesNotMatch(http.output(), /below 1024/);
  } finally { await http.stop(); }
});
