// The Debian packages made by `cpack -G DEB` (tests/package/run.sh puts them in build/packages):
// contents, the systemd unit, the config file, the server run from the extracted package with its
// packaged config serving the chat to Chromium, and the quick start built against libpeerrtc-dev.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT, binaryPath, startProcess } from '../lib/server.mjs';
import { chatUrl, launchBrowser, sendChat, waitForMessage, waitForPeers, waitForStatus } from '../browser/lib/harness.mjs';

const PKG_DIR = process.env.PEERRTC_PACKAGE_DIR || join(REPO_ROOT, 'build/packages');
const VERSION = readFileSync(join(REPO_ROOT, 'VERSION'), 'utf8').trim();
const ROOT = join(PKG_DIR, 'root');  // every package extracted here (dpkg-deb -x), fresh each run
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', ...opts });

function debOf(name) {
  const files = readdirSync(PKG_DIR).filter((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'));
  assert.equal(files.length, 1, `one ${name}_*.deb in ${PKG_DIR}: ${readdirSync(PKG_DIR).join(' ')}`);
  assert.ok(files[0].startsWith(`${name}_${VERSION}-1_`), `${files[0]}: version ${VERSION} (VERSION)`);
  return join(PKG_DIR, files[0]);
}
/** dpkg-deb -c: path (./...) -> mode string. */
function contents(deb) {
  const m = new Map();
  for (const line of sh('dpkg-deb', ['-c', deb]).split('\n').filter(Boolean)) {
    const f = line.split(/\s+/);
    m.set(f[5], f[0]);
  }
  return m;
}
/** Every file below a source directory, relative to it. */
function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.path ?? e.parentPath, e.name)));
}

const debs = {};
before(() => {
  for (const n of ['peerrtc-server', 'libpeerrtc-dev', 'python3-peerpyrtc']) debs[n] = debOf(n);
  rmSync(ROOT, { recursive: true, force: true });
  mkdirSync(ROOT, { recursive: true });
  for (const d of Object.values(debs)) sh('dpkg-deb', ['-x', d, ROOT]);
});
after(() => rmSync(ROOT, { recursive: true, force: true }));

test('deb: peerrtc-server holds the binary, every web asset, the config and the unit', () => {
  const c = contents(debs['peerrtc-server']);
  assert.match(c.get('./usr/bin/peerrtc-server') ?? '', /^-rwxr-xr-x/, 'the binary, executable');
  assert.ok(c.has('./etc/peerrtc/peerrtc.conf'), 'the config file');
  assert.ok(c.has('./usr/lib/systemd/system/peerrtc-server.service'), 'the systemd unit');
  const assets = [
    ...['peerrtc-client.js', 'peerrtc-client.d.ts'].map((f) => `clients/js/${f}`),
    ...filesUnder(join(REPO_ROOT, 'clients/dashboard')).map((f) => `clients/dashboard/${f}`),
    ...filesUnder(join(REPO_ROOT, 'examples/web')).map((f) => `examples/web/${f}`),
  ];
  assert.ok(assets.length > 8, assets.join(' '));
  const missing = assets.filter((f) => !c.has(`./usr/share/peerrtc/${f}`));
  assert.deepEqual(missing, [], 'every web asset under /usr/share/peerrtc');
  const f = (field) => sh('dpkg-deb', ['-f', debs['peerrtc-server'], field]).trim();
  assert.equal(f('Package'), 'peerrtc-server');
  assert.equal(f('Version'), `${VERSION}-1`);
  assert.match(f('Depends'), /libssl3/, 'run-time libraries from dpkg-shlibdeps');
  assert.match(sh('dpkg-deb', ['-I', debs['peerrtc-server'], 'conffiles']), /^\/etc\/peerrtc\/peerrtc\.conf$/m);
});

test('deb: libpeerrtc-dev holds the headers, the archive, the CMake package and peerrtc.pc', () => {
  const c = contents(debs['libpeerrtc-dev']);
  const want = [
    ...readdirSync(join(REPO_ROOT, 'include/peerrtc')).map((h) => `./usr/include/peerrtc/${h}`),
    './usr/lib/libpeerrtc.a', './usr/lib/cmake/peerrtc/peerrtcConfig.cmake',
    './usr/lib/cmake/peerrtc/peerrtcConfigVersion.cmake', './usr/lib/cmake/peerrtc/peerrtcTargets.cmake',
    './usr/lib/pkgconfig/peerrtc.pc',
  ];
  assert.deepEqual(want.filter((p) => !c.has(p)), []);
  assert.match(readFileSync(join(ROOT, 'usr/lib/pkgconfig/peerrtc.pc'), 'utf8'), new RegExp(`^Version: ${VERSION}$`, 'm'));
});

test('deb: python3-peerpyrtc holds the module, which reports the version', () => {
  const c = contents(debs['python3-peerpyrtc']);
  const mod = [...c.keys()].filter((p) => /^\.\/usr\/lib\/python3[.0-9]*\/dist-packages\/peerpyrtc\//.test(p));
  assert.ok(mod.some((p) => p.endsWith('/__init__.py')) && mod.some((p) => /_peerpyrtc.*\.so$/.test(p)), mod.join(' '));
  const site = join(ROOT, mod[0].slice(2).replace(/peerpyrtc\/.*$/, ''));
  const out = sh('/usr/bin/python3', ['-c', 'import peerpyrtc; print(peerpyrtc.__version__, peerpyrtc.__file__)'],
    { env: { ...process.env, PYTHONPATH: site } }).trim();
  assert.equal(out, `${VERSION} ${join(site, 'peerpyrtc/__init__.py')}`);
});

test('deb: the unit is hardened and passes systemd-analyze verify', () => {
  const unit = readFileSync(join(ROOT, 'usr/lib/systemd/system/peerrtc-server.service'), 'utf8');
  for (const s of ['DynamicUser=yes', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes',
    'CapabilityBoundingSet=', 'AmbientCapabilities=',
    'ExecStart=/usr/bin/peerrtc-server --config /etc/peerrtc/peerrtc.conf']) {
    assert.match(unit, new RegExp(`^${s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'), s);
  }
  const settings = unit.split('\n').filter((l) => !l.startsWith('#')).join('\n');
  assert.doesNotMatch(settings, /CAP_NET_BIND_SERVICE/, 'the low-port capability only from a drop-in (docs/deploy.md)');
  // verify loads the unit as systemd would, in a root of its own: the extracted package (so
  // ExecStart= is the packaged binary) plus this machine's units (sysinit.target, ...).
  const vroot = join(PKG_DIR, 'verify-root');
  rmSync(vroot, { recursive: true, force: true });
  mkdirSync(join(vroot, 'usr/lib/systemd/system'), { recursive: true });
  sh('dpkg-deb', ['-x', debs['peerrtc-server'], vroot]);
  sh('cp', ['-rn', '/lib/systemd/system/.', join(vroot, 'usr/lib/systemd/system/')]);
  const r = spawnSync('systemd-analyze', ['verify', `--root=${vroot}`, '/usr/lib/systemd/system/peerrtc-server.service'],
    { encoding: 'utf8' });
  rmSync(vroot, { recursive: true, force: true });
  assert.equal(r.status, 0, `systemd-analyze verify: ${r.stdout}${r.stderr}`);
  assert.doesNotMatch(r.stderr, /peerrtc-server\.service/, `no complaint about the unit: ${r.stderr}`);
});

test('deb: the config file lists every flag, commented, and is --print-config; --version', () => {
  const conf = readFileSync(join(ROOT, 'etc/peerrtc/peerrtc.conf'), 'utf8');
  const server = binaryPath('peerrtc-server');
  assert.equal(conf, sh(server, ['--print-config']), 'the packaged file is the binary\'s --print-config');
  const help = sh(server, ['--help']);
  const flags = [...help.matchAll(/^\s+(?:-\w,\s*)?--([a-z0-9-]+)/gm)].map((m) => m[1])
    .filter((f) => !['help', 'version', 'config', 'print-config'].includes(f));
  assert.ok(flags.length > 40 && flags.includes('port') && flags.includes('redis'), flags.join(' '));
  const keys = [...conf.matchAll(/^# ([a-z0-9-]+) = /gm)].map((m) => m[1]);
  assert.deepEqual(flags.filter((f) => !keys.includes(f)), [], 'every flag of --help is in the config file');
  assert.deepEqual(conf.split('\n').filter((l) => l.trim() && !l.startsWith('#')), [], 'every line commented');
  // Defaults are exact: a double's default read back from the file is the same number (CLI11
  // printed 16 MiB/s as 1.67772e+07 = 16,777,200).
  assert.match(conf, /^# peer-byte-rate = 16777216$/m);
  assert.match(conf, /^# peer-byte-burst = 33554432$/m);
  assert.doesNotMatch(conf, /^# [a-z0-9-]+ = -?[0-9.]+e[+-]?[0-9]+$/m, 'no default rounded to 6 digits');
  assert.equal(sh(server, ['--version']).trim(), VERSION);
});

test('deb: --config reads flags from the file; bad values and unknown keys exit 2', async () => {
  const conf = readFileSync(join(ROOT, 'etc/peerrtc/peerrtc.conf'), 'utf8');
  const file = join(PKG_DIR, 'test.conf');
  const server = binaryPath('peerrtc-server');
  const set = (extra) => writeFileSync(file, conf.replace(/^# no-examples = false$/m, 'no-examples = true')
    .replace(/^# port = 8080$/m, 'port = 0').replace(/^# udp-port = $/m, 'udp-port = 0')
    .replace(/^# log-level = "info"$/m, 'log-level = "info"') + extra);
  set('');
  const s = await startProcess(server, ['--config', file], { name: 'config-server' });
  try {
    assert.notEqual(s.http, 8080, 'port = 0 from the file');
    assert.equal((await fetch(`${s.baseUrl}/echo/`)).status, 404, 'no-examples = true from the file: no echo example');
    assert.equal((await fetch(`${s.baseUrl}/peerrtc-client.js`)).status, 200);
  } finally { await s.stop(); }
  for (const [extra, want] of [['max-rooms = 0\n', /max-rooms/], ['no-such-flag = 1\n', /no-such-flag/]]) {
    set(extra);
    const r = spawnSync(server, ['--config', file], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 2, `${extra.trim()}: exit 2 (${r.stdout}${r.stderr})`);
    assert.match(r.stderr, want);
  }
  rmSync(file, { force: true });
});

test('deb: the server extracted from the package, with its packaged config, serves the chat to Chromium', { timeout: 90000 }, async () => {
  const bin = join(ROOT, 'usr/bin/peerrtc-server');
  delete process.env.PEERRTC_STATIC_ROOT;  // the default only: where the binary finds its assets
  const s = await startProcess(bin, ['--config', join(ROOT, 'etc/peerrtc/peerrtc.conf'), '--port', '0', '--udp-port', '0'],
    { name: 'installed-server' });
  let browser;
  try {
    assert.match(s.output(), new RegExp(`static root ${join(ROOT, 'usr/share/peerrtc').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\b`),
      'the assets come from the package (<binary>/../share/peerrtc)');
    const js = await (await fetch(`${s.baseUrl}/peerrtc-client.js`)).text();
    assert.equal(js, readFileSync(join(ROOT, 'usr/share/peerrtc/clients/js/peerrtc-client.js'), 'utf8'));
    browser = await launchBrowser();
    const room = `pkg-${Date.now().toString(36)}`;
    const alice = await browser.open(chatUrl(s.baseUrl, room, 'alice'), 'alice');
    assert.equal(await alice.title(), 'PeerRTC chat');
    const bob = await browser.open(chatUrl(s.baseUrl, room, 'bob'), 'bob');
    for (const p of [alice, bob]) await waitForStatus(p, 'connected');
    for (const p of [alice, bob]) await waitForPeers(p, ['alice', 'bob']);
    await sendChat(alice, 'hello from the installed server');
    const m = await waitForMessage(bob, (x) => x.text === 'hello from the installed server', 'alice on bob');
    assert.equal(m.sender, 'alice');
  } finally {
    if (browser) await browser.close();
    await s.stop();
  }
});

test('deb: the quick start builds and runs against the extracted libpeerrtc-dev', { timeout: 150000 }, async () => {
  // tests/install/run.sh on the extracted prefix: find_package(peerrtc), pkg-config, the Python
  // module from python3-peerpyrtc; nothing of the source tree on an include or link path.
  const child = spawn('bash', ['tests/install/run.sh'], {
    cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PEERRTC_PREFIX: join(ROOT, 'usr'), PEERRTC_INSTALL_WORKDIR: join(PKG_DIR, 'install-work') },
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const code = await new Promise((res) => child.on('exit', res));
  assert.equal(code, 0, `tests/install/run.sh against the package:\n${out}`);
  assert.match(out, /install: quick start built out of tree with find_package\(peerrtc\)/);
  assert.match(out, /install: a program built with pkg-config peerrtc runs/);
  assert.match(out, new RegExp(`install: peerpyrtc imported from ${ROOT.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  assert.match(out, /install: ok/);
});
