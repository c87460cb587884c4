// The surface policy (issue 21, docs/deploy.md "What is public"): every route × {no key, wrong
// key, right key} × {no flags, --api-key, --join-secret, both}, checked against the table in
// docs/deploy.md, which this file parses (one table: the doc cannot drift from what is tested).
// Then the security headers and the CORS allow-list, --metrics-key, the per-address rate limit
// (429 with Retry-After, counted), and the warning of a server open beyond loopback.
//
//   node --test tests/server/security.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { jwt } from '../lib/jwt.mjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, SERVER_BIN, startServer, stopAll } from './lib.mjs';

const KEY = 'api-key-for-security-tests';
const SECRET = 'join-secret-for-security-tests';
const WRONG = 'not-the-key';

// ---- the table, from docs/deploy.md
const MODES = ['no flags', '`--api-key`', '`--join-secret`', 'both'];
const NEEDS = new Set(['public', 'API key', 'API key or metrics key', 'join token', 'nobody', 'off']);
function readTable() {
  const doc = readFileSync(join(REPO_ROOT, 'docs/deploy.md'), 'utf8');
  const m = doc.match(/<!-- surface-table:begin -->\n([\s\S]*?)<!-- surface-table:end -->/);
  assert.ok(m, 'docs/deploy.md has the surface table between its markers');
  const rows = m[1].trim().split('\n').map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
  assert.deepEqual(rows[0].slice(1), MODES, 'the table\'s columns');
  const table = new Map();
  for (const r of rows.slice(2)) {
    const route = r[0].match(/^`([A-Z]+ \/[^`]*)`/);
    assert.ok(route, `a route in the first column: ${r[0]}`);
    for (const need of r.slice(1)) assert.ok(NEEDS.has(need), `${route[1]}: unknown need '${need}'`);
    table.set(route[1], r.slice(1));
  }
  return table;
}
const TABLE = readTable();

const now = () => Math.floor(Date.now() / 1000);
const ROOM = 'sec-room';
const PEER = 'sec-peer';
const rightToken = () => jwt({ room: ROOM, sub: PEER, iat: now(), exp: now() + 300 }, SECRET);
const wrongToken = () => jwt({ room: ROOM, sub: PEER, iat: now(), exp: now() + 300 }, 'another-secret');

// How each route is called, and what it answers once past the gate (`pass`: a status, or a
// function of the mode). A join token travels in the offer's body; everything else as a bearer.
const ROUTES = {
  'GET /health': { pass: 200 },
  'GET /rooms': { pass: 200 },
  'GET /rooms/peers': { path: `/rooms/peers?room=${ROOM}`, pass: 404 },     // no such room
  'GET /cluster/nodes': { pass: 404 },                                      // not in a cluster
  'GET /cluster/stats': { path: '/cluster/stats?node=x', pass: 404 },
  'GET /stats': { pass: 200 },
  'GET /metrics': { pass: 200 },
  'GET /config': { path: `/config?room=${ROOM}&peer_id=${PEER}`, pass: 200 },
  'POST /offer': { body: (t) => ({ room: ROOM, peer_id: PEER, offer: { type: 'offer', sdp: 'not sdp' }, ...(t ? { join_token: t } : {}) }), pass: 400, inBody: true },
  'POST /candidate': { body: () => ({ room: ROOM, peer_id: PEER, candidate: null }), pass: 404 },
  'POST /leave': { body: () => ({ room: ROOM, peer_id: PEER, token: 'x' }), pass: 404 },
  'GET /api/rooms': { pass: 200 },
  'POST /api/tokens': { body: () => ({ room: ROOM, peer_id: PEER }), pass: (mode) => (mode.secret ? 200 : 400) },
  'POST /api/broadcast': { body: () => ({ room: ROOM, data: 'x' }), pass: 404 },
  'POST /api/send': { body: () => ({ room: ROOM, peer_id: PEER, data: 'x' }), pass: 404 },
  'POST /api/kick': { body: () => ({ room: ROOM, peer_id: PEER }), pass: 404 },
  'GET /dashboard/': { pass: 200 },
  'GET /peerrtc-client.js': { pass: 200 },
  'GET /': { pass: 200 },
};

const MODE_FLAGS = [
  { name: 'no flags', args: [], key: false, secret: false },
  { name: '`--api-key`', args: [], env: { PEERRTC_API_KEY: KEY }, key: true, secret: false },
  { name: '`--join-secret`', args: [], env: { PEERRTC_JOIN_SECRET: SECRET }, key: false, secret: true },
  { name: 'both', args: [], env: { PEERRTC_API_KEY: KEY, PEERRTC_JOIN_SECRET: SECRET }, key: true, secret: true },
];

const servers = [];
after(async () => { await stopAll(servers); });

async function call(server, route, cred) {
  const spec = ROUTES[route];
  const [method, p] = route.split(' ');
  const path = spec.path ?? p;
  const headers = {};
  let token = null;
  if (spec.inBody) token = cred;
  else if (cred !== null) headers.authorization = `Bearer ${cred}`;
  const body = spec.body ? spec.body(token) : undefined;
  return server.request(method, path, body, headers);
}

test('docs/deploy.md\'s table lists every route this test calls, and only those', () => {
  assert.deepEqual([...TABLE.keys()].sort(), Object.keys(ROUTES).sort());
});

for (const [m, mode] of MODE_FLAGS.entries()) {
  test(`surface: ${mode.name}: every route × {no key, wrong key, right key} as the table says`, { timeout: 30000 }, async () => {
    const server = await startServer(SERVER_BIN, ['--port', '0', ...mode.args], { name: `sec-${m}`, env: mode.env ?? {} });
    servers.push(server);
    for (const [route, needs] of TABLE) {
      const need = needs[m];
      const spec = ROUTES[route];
      const pass = typeof spec.pass === 'function' ? spec.pass(mode) : spec.pass;
      // The right credential: the join token where the table says so, else the API key.
      const right = need === 'join token' ? rightToken() : KEY;
      const wrong = need === 'join token' ? wrongToken() : WRONG;
      const what = (c) => `${mode.name}: ${route} with ${c} (table: ${need})`;
      const none = await call(server, route, null);
      const bad = await call(server, route, wrong);
      const good = await call(server, route, right);
      if (need === 'public') {
        for (const [r, c] of [[none, 'no key'], [bad, 'a wrong key'], [good, 'the right key']])
          assert.equal(r.status, pass, `${what(c)}: ${r.text.slice(0, 200)}`);
      } else if (need === 'off') {
        for (const [r, c] of [[none, 'no key'], [bad, 'a wrong key'], [good, 'the key']]) {
          assert.equal(r.status, 404, what(c));
          assert.match(r.json.error, /server API is off/, what(c));
        }
      } else {
        assert.equal(none.status, 401, `${what('no key')}: ${none.text.slice(0, 200)}`);
        assert.equal(typeof none.json?.error, 'string', what('no key'));
        if (!spec.inBody) assert.match(none.headers.get('www-authenticate') || '', /^Bearer/, what('no key'));
        assert.equal(bad.status, 403, `${what('a wrong key')}: ${bad.text.slice(0, 200)}`);
        assert.equal(typeof bad.json?.error, 'string', what('a wrong key'));
        if (need === 'nobody') {
          // No key opens it: the API key of another mode, the join token, the join secret itself.
          for (const c of [KEY, rightToken(), SECRET]) assert.equal((await call(server, route, c)).status, 403, what(c));
          assert.match(none.json.error, /--api-key/, 'the error says how to open it');
        } else {
          assert.equal(good.status, pass, `${what('the right key')}: ${good.text.slice(0, 200)}`);
        }
        if (need === 'join token' && mode.key && !spec.inBody)  // /config also takes the API key
          assert.equal((await call(server, route, KEY)).status, pass, what('the API key'));
        if (need === 'join token' && !spec.inBody) {  // a token for another peer is refused
          const other = jwt({ room: ROOM, sub: 'someone-else', iat: now(), exp: now() + 300 }, SECRET);
          assert.equal((await call(server, route, other)).status, 403, what('a token for another peer'));
        }
      }
    }
    // Bad credentials and bad queries: clear JSON errors.
    if (mode.key) {
      const basic = await server.request('GET', '/rooms', undefined, { authorization: 'Basic YTpi' });
      assert.equal(basic.status, 401);
      assert.match(basic.json.error, /must be 'Bearer <key>'/);
      const noNode = await server.request('GET', '/cluster/stats', undefined, { authorization: `Bearer ${KEY}` });
      assert.equal(noNode.status, 400);
      assert.match(noNode.json.error, /missing query parameter 'node'/);
    }
    if (mode.secret) {
      const noRoom = await server.request('GET', `/config?peer_id=${PEER}`, undefined, { authorization: `Bearer ${rightToken()}` });
      assert.equal(noRoom.status, 400);
      assert.match(noRoom.json.error, /needs \?room=R&peer_id=P/);
      const expired = jwt({ room: ROOM, sub: PEER, iat: now() - 600, exp: now() - 300 }, SECRET);
      const old = await server.request('GET', `/config?room=${ROOM}&peer_id=${PEER}`, undefined, { authorization: `Bearer ${expired}` });
      assert.equal(old.status, 403);
      assert.match(old.json.error, /expired/);
    }
    // A private server never lists names without the key, whatever the route returns.
    if (mode.key || mode.secret) {
      for (const route of ['GET /rooms', 'GET /rooms/peers', 'GET /stats', 'GET /metrics'])
        assert.doesNotMatch((await call(server, route, null)).text, /sec-room|peerrtc_rooms/, route);
    }
  });
}

test('security headers on pages and API answers; CORS is same-origin unless --cors-origin', { timeout: 30000 }, async () => {
  const open = servers.find((s) => s.name === 'sec-0') ?? await startServer(SERVER_BIN, ['--port', '0'], { name: 'sec-h' });
  for (const path of ['/', '/whiteboard/', '/echo/', '/dashboard/', '/rooms', '/peerrtc-client.js', '/nope']) {
    const r = await open.request('GET', path, undefined, { origin: 'http://evil.example' });
    const h = r.headers;
    assert.match(h.get('content-security-policy') || '', /default-src 'self'.*script-src 'self'.*frame-ancestors 'none'/, path);
    assert.doesNotMatch(h.get('content-security-policy'), /unsafe-inline|unsafe-eval/, path);
    assert.equal(h.get('x-content-type-options'), 'nosniff', path);
    assert.equal(h.get('x-frame-options'), 'DENY', path);
    assert.equal(h.get('referrer-policy'), 'no-referrer', path);
    assert.equal(h.get('access-control-allow-origin'), null, `${path}: no CORS by default`);
  }
  const pre = await open.request('OPTIONS', '/offer', undefined, { origin: 'http://evil.example', 'access-control-request-method': 'POST' });
  assert.equal(pre.headers.get('access-control-allow-origin'), null, 'no preflight answer by default');
  // The pages have no inline style or script (the CSP would block them).
  for (const path of ['/', '/whiteboard/', '/echo/', '/dashboard/']) {
    const html = (await open.request('GET', path)).text;
    assert.doesNotMatch(html, /\sstyle=|<style|<script(?![^>]*\ssrc=)|\son[a-z]+=/i, `${path} has inline style or script`);
  }

  const cors = await startServer(SERVER_BIN, ['--port', '0', '--no-examples', '--cors-origin', 'https://app.example.org',
    '--cors-origin', 'http://localhost:3000'], { name: 'sec-cors' });
  servers.push(cors);
  const ok = await cors.request('GET', '/rooms', undefined, { origin: 'https://app.example.org' });
  assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example.org');
  assert.match(ok.headers.get('vary') || '', /Origin/);
  assert.equal((await cors.request('GET', '/rooms', undefined, { origin: 'http://localhost:3000' })).headers.get('access-control-allow-origin'), 'http://localhost:3000');
  const evil = await cors.request('GET', '/rooms', undefined, { origin: 'https://evil.example' });
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
  assert.match(evil.headers.get('vary') || '', /Origin/, 'an allow-list answer varies by Origin either way');
  const pf = await cors.request('OPTIONS', '/offer', undefined, { origin: 'https://app.example.org', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' });
  assert.equal(pf.status, 204);
  assert.equal(pf.headers.get('access-control-allow-origin'), 'https://app.example.org');
  assert.match(pf.headers.get('access-control-allow-methods') || '', /POST/);
});

test('bad --cors-origin, --rate-limit and --metrics-key values are refused with a clear error (exit 2)', { timeout: 20000 }, async () => {
  const { runToExit } = await import('./lib.mjs');
  for (const [args, re] of [
    [['--cors-origin', 'app.example.org'], /not an origin/],
    [['--cors-origin', 'https://app.example.org/path'], /not an origin/],
    [['--rate-limit', '-1'], /rate-limit/],
    [['--rate-burst', '0'], /rate-burst/],
    [['--metrics-key', ''], /must not be empty/],
  ]) {
    const r = await runToExit(SERVER_BIN, ['--port', '0', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
});

test('--metrics-key: /stats and /metrics take it, nothing else does', { timeout: 20000 }, async () => {
  const s = await startServer(SERVER_BIN, ['--port', '0', '--no-examples'],
    { name: 'sec-mkey', env: { PEERRTC_METRICS_KEY: 'scrape-key', PEERRTC_API_KEY: KEY } });
  servers.push(s);
  const bearer = (k) => ({ authorization: `Bearer ${k}` });
  assert.equal((await s.request('GET', '/metrics', undefined, bearer('scrape-key'))).status, 200);
  assert.equal((await s.request('GET', '/stats', undefined, bearer('scrape-key'))).status, 200);
  assert.equal((await s.request('GET', '/metrics', undefined, bearer(KEY))).status, 200);
  assert.equal((await s.request('GET', '/rooms', undefined, bearer('scrape-key'))).status, 403, 'not a listing key');
  assert.equal((await s.request('GET', '/api/rooms', undefined, bearer('scrape-key'))).status, 403, 'not an API key');
  // Alone, it closes the counters of an otherwise open server (and leaves the rest open).
  const alone = await startServer(SERVER_BIN, ['--port', '0', '--no-examples'], { name: 'sec-mkey2', env: { PEERRTC_METRICS_KEY: 'scrape-key' } });
  servers.push(alone);
  assert.equal((await alone.request('GET', '/metrics')).status, 401);
  assert.equal((await alone.request('GET', '/metrics', undefined, bearer('scrape-key'))).status, 200);
  assert.equal((await alone.request('GET', '/rooms')).status, 200);
});

test('rate limit: a tight bucket gives 429 with Retry-After, counted in /stats and /metrics; loopback is exempt by default', { timeout: 30000 }, async () => {
  const RATE = 2, BURST = 3;
  const s = await startServer(SERVER_BIN, ['--port', '0', '--no-examples', '--rate-limit', String(RATE), '--rate-burst',
    String(BURST), '--rate-limit-loopback'], { name: 'sec-rate' });
  servers.push(s);
  const t0 = Date.now();
  for (let i = 0; i < BURST; i++) assert.equal((await s.request('GET', '/config')).status, 200, `request ${i + 1} of the burst`);
  const r = await s.request('GET', '/config');
  assert.equal(r.status, 429, r.text);
  assert.match(r.json.error, /too many requests from 127\.0\.0\.1 \(at most 2\/s, burst 3,/);
  const retry = Number(r.headers.get('retry-after'));
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= Math.ceil(1 / RATE), `Retry-After ${r.headers.get('retry-after')}`);
  // /offer and /candidate share the bucket: refused too, before the body is even looked at.
  assert.equal((await s.request('POST', '/offer', {})).status, 429);
  assert.equal((await s.request('POST', '/candidate', {})).status, 429);
  assert.notEqual((await s.request('POST', '/leave', {})).status, 429, '/leave is not limited');
  const stats = (await s.request('GET', '/stats')).json;
  assert.deepEqual(stats.http_rate_limited, { offer: 1, candidate: 1, config: 1 });
  const metrics = (await s.request('GET', '/metrics')).text;
  assert.match(metrics, /peerrtc_http_rate_limited_total\{route="config"\} 1\b/);
  assert.match(metrics, /peerrtc_http_rate_limited_total\{route="offer"\} 1\b/);
  // After Retry-After the bucket has a token again (refill at RATE/s; 500 ms margin for a loaded machine).
  const wait = Math.max(0, t0 + retry * 1000 - Date.now());
  await new Promise((res) => setTimeout(res, wait + 500));
  assert.equal((await s.request('GET', '/config')).status, 200, 'a token came back');

  // Without --rate-limit-loopback the same bucket does not apply to 127.0.0.1 (the test suites).
  const exempt = await startServer(SERVER_BIN, ['--port', '0', '--no-examples', '--rate-limit', String(RATE), '--rate-burst',
    String(BURST)], { name: 'sec-rate2' });
  servers.push(exempt);
  for (let i = 0; i < 4 * BURST; i++) assert.equal((await exempt.request('GET', '/config')).status, 200, `loopback request ${i + 1}`);
});

test('a server listening beyond loopback with the listing open warns at start; a private one does not', { timeout: 20000 }, async () => {
  const open = await startServer(SERVER_BIN, ['--host', '0.0.0.0', '--port', '0', '--no-examples'], { name: 'sec-warn' });
  servers.push(open);
  // Logged before READY, on stderr: its pipe may be read a moment after stdout's.
  for (const end = Date.now() + 5000; !/with the listing open/.test(open.output()) && Date.now() < end;)
    await new Promise((res) => setTimeout(res, 20));
  assert.match(open.output(), /listening on 0\.0\.0\.0 with the listing open/);
  const priv = await startServer(SERVER_BIN, ['--host', '0.0.0.0', '--port', '0', '--no-examples'], { name: 'sec-nowarn', env: { PEERRTC_JOIN_SECRET: SECRET } });
  servers.push(priv);
  const loop = servers.find((s) => s.name === 'sec-0');
  assert.doesNotMatch(priv.output(), /with the listing open/);
  if (loop) assert.doesNotMatch(loop.output(), /with the listing open/, 'loopback: no warning');
});
