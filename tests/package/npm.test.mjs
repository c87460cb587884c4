// The npm package of the JS client (clients/js): `npm pack` makes the tarball; it is installed
// into a temporary project; a sample app (tests/package/npm-sample/app.ts) is type-checked with
// tsc --strict (npm typescript) against the package's types, bundled with esbuild (npm) and the
// bundle run in Chromium against peerrtc-server: two pages of the bundle talk through a room.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, binaryPath, startProcess } from '../lib/server.mjs';
import { launchBrowser, waitUntil } from '../browser/lib/harness.mjs';

const VERSION = readFileSync(join(REPO_ROOT, 'VERSION'), 'utf8').trim();
const SAMPLE = join(REPO_ROOT, 'tests/package/npm-sample');
const TSC = join(REPO_ROOT, 'node_modules/.bin/tsc');
const ESBUILD = join(REPO_ROOT, 'node_modules/.bin/esbuild');
let dir;      // the temporary project
let tarball;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'peerrtc-npm-'));
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', dir],
    { cwd: join(REPO_ROOT, 'clients/js'), encoding: 'utf8' }));
  tarball = join(dir, packed[0].filename);
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

test('npm: the tarball holds the ES module, its types and a package.json of the project\'s version', () => {
  const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
  assert.deepEqual(files, ['package/README.md', 'package/package.json', 'package/peerrtc-client.d.ts',
    'package/peerrtc-client.js']);
  const pkg = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
  assert.equal(pkg.name, 'peerrtc-client');
  assert.equal(pkg.version, VERSION, 'clients/js/package.json says the version of VERSION');
  assert.equal(pkg.type, 'module');
  assert.deepEqual(pkg.exports['.'], { types: './peerrtc-client.d.ts', default: './peerrtc-client.js' });
});

test('npm: installed into a project, the sample type-checks with tsc --strict and a wrong one does not', () => {
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'sample', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', '--loglevel=error', tarball], { cwd: dir });
  assert.equal(JSON.parse(readFileSync(join(dir, 'node_modules/peerrtc-client/package.json'), 'utf8')).version, VERSION);
  for (const f of ['app.ts', 'bad.ts', 'tsconfig.json']) copyFileSync(join(SAMPLE, f), join(dir, f));
  const ok = spawnSync(TSC, ['-p', dir], { cwd: dir, encoding: 'utf8' });
  assert.equal(ok.status, 0, `tsc --strict on the sample:\n${ok.stdout}${ok.stderr}`);
  writeFileSync(join(dir, 'tsconfig.bad.json'), JSON.stringify({ extends: './tsconfig.json', files: ['bad.ts'] }));
  const bad = spawnSync(TSC, ['-p', join(dir, 'tsconfig.bad.json')], { cwd: dir, encoding: 'utf8' });
  assert.notEqual(bad.status, 0, 'a sample that misuses the API must not type-check');
  assert.match(bad.stdout, /bad\.ts\(6,18\): error TS2345/, `sendMessage(42) refused:\n${bad.stdout}`);
  assert.match(bad.stdout, /bad\.ts\(7,1\): error TS2322/, `onMessage with a number sender refused:\n${bad.stdout}`);
});

test('npm: the sample bundled with esbuild runs in Chromium against the server', { timeout: 90000 }, async () => {
  const out = join(dir, 'bundle.js');
  execFileSync(ESBUILD, ['app.ts', '--bundle', '--format=iife', '--target=es2022', `--outfile=${out}`], { cwd: dir, stdio: 'pipe' });
  const bundle = readFileSync(out, 'utf8');
  assert.match(bundle, /WebRTCConnection = class|class WebRTCConnection/, 'the client is in the bundle');
  assert.doesNotMatch(bundle, /from\s*["']peerrtc-client["']|require\(["']peerrtc-client/, 'no import left');
  const server = await startProcess(binaryPath('peerrtc-server'),
    ['--host', '127.0.0.1', '--port', '0', '--udp-port', '0', '--log-level', 'warn', '--no-examples'], { name: 'npm-server' });
  let browser;
  try {
    browser = await launchBrowser();
    // The page is served from the server's origin (so the client's requests are same-origin) by
    // Chromium's request interception: the bundle inline, nothing else.
    await browser.context.route(`${server.baseUrl}/npm-sample/**`, (route) => {
      const u = new URL(route.request().url());
      const html = `<!doctype html><html data-room="${u.searchParams.get('room')}" data-peer="${u.searchParams.get('peer')}">`
        + `<head><title>npm sample</title></head><body><script>${bundle.replace(/<\/script/gi, '<\\/script')}</script></body></html>`;
      return route.fulfill({ status: 200, contentType: 'text/html', body: html });
    });
    const room = `npm-${Date.now().toString(36)}`;
    const [a, b] = [await browser.open(`${server.baseUrl}/npm-sample/?room=${room}&peer=alice`, 'alice'),
      await browser.open(`${server.baseUrl}/npm-sample/?room=${room}&peer=bob`, 'bob')];
    const state = (p) => p.evaluate(() => window.peerrtcSample);
    for (const p of [a, b]) {
      await waitUntil(async () => { const s = await state(p); assert.equal(s.error, null); return s.statuses.includes('connected'); },
        { timeout: 20000, what: 'the bundle to connect' });
    }
    await waitUntil(async () => (await state(a)).peers.includes('bob'), { timeout: 10000, what: 'bob in alice\'s peers' });
    await a.evaluate(() => window.peerrtcSampleSend('hello from the bundle'));
    const got = await waitUntil(async () => (await state(b)).received.find((m) => m.text === 'hello from the bundle'),
      { timeout: 10000, what: 'alice\'s message on bob' });
    assert.deepEqual(got, { from: 'alice', text: 'hello from the bundle', direct: false });
    for (const p of [a, b]) assert.deepEqual(p.__errors, []);
  } finally {
    if (browser) await browser.close();
    await server.stop();
  }
});
