// scripts/run.sh stays lean (issue 22): the Debian packages it installs (`scripts/setup.sh
// server`, read with `scripts/setup.sh --list server`) name no browser, no Go and no package
// that only the tests need; it builds only the server. The test command's set keeps them all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../lib/server.mjs';

const list = (...set) => execFileSync('bash', [join(REPO_ROOT, 'scripts/setup.sh'), '--list', ...set], { encoding: 'utf8' })
  .split('\n').filter(Boolean);

// Browsers, Go and pion, other WebRTC stacks, TURN, Redis, test frameworks, fuzzing, Node, the
// Python module's packages, network tools of the tests, the packaging checks.
const FORBIDDEN = [
  [/^chromium/, 'a browser'], [/^firefox/, 'a browser'], [/^(epiphany|webkit|falkon|midori)/, 'a browser'],
  [/^golang|^gccgo|pion/, 'Go'], [/aiortc/, 'a test-only WebRTC stack'], [/^coturn$/, 'the TURN server of the tests'],
  [/^redis-(server|sentinel|tools)$/, 'Redis (the tests start their own)'], [/gtest|gmock|googletest/, 'a test framework'],
  [/^libbenchmark/, 'the benchmark library'], [/pytest/, 'a test framework'], [/^python3-flask$/, 'a test-only package'],
  [/^clang|^libclang|^llvm/, 'the fuzzers\' compiler'], [/^(nodejs|npm)$/, 'Node (the tests\' runner)'],
  [/^(iptables|iproute2|nftables)$/, 'the network tests\' tools'], [/^systemd$/, 'the packaging checks'],
  [/^pybind11|^python3-dev$/, 'the Python module'], [/httplib/, 'the quick start example'],
];

test('lean run: run.sh installs the server set and builds only the server target', () => {
  const run = readFileSync(join(REPO_ROOT, 'scripts/run.sh'), 'utf8');
  assert.match(run, /^\.\/scripts\/setup\.sh server$/m, 'run.sh must call `scripts/setup.sh server`');
  assert.match(run, /^BUILD_SET=server \.\/scripts\/build\.sh\b/m, 'run.sh must build with BUILD_SET=server');
  const build = readFileSync(join(REPO_ROOT, 'scripts/build.sh'), 'utf8');
  assert.match(build, /server\) set_args=\(-DPEERRTC_TESTS=OFF -DPEERRTC_PYTHON=OFF\) targets=\(--target peerrtc-server\)/);
});

test('lean run: the server set names no browser, no Go, no test-only package', () => {
  const server = list('server');
  assert.ok(server.includes('cmake') && server.includes('libssl-dev'), `not the server set: ${server.join(' ')}`);
  const bad = server.flatMap((p) => FORBIDDEN.filter(([re]) => re.test(p)).map(([, why]) => `${p} (${why})`));
  assert.deepEqual(bad, [], `scripts/setup.sh's server set (run.sh) must stay lean: ${bad.join(', ')}`);
});

test('lean run: the test command still installs everything, the server set included', () => {
  const server = list('server');
  const all = new Set(list());
  assert.deepEqual(server.filter((p) => !all.has(p)), []);
  for (const p of ['chromium', 'firefox-esr', 'golang-go', 'libgtest-dev', 'redis-server', 'systemd']) {
    assert.ok(all.has(p), `the full set (scripts/test.sh) lacks ${p}`);
  }
});
