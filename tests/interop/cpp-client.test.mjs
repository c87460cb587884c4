// The native C++ client side of the stack (apps/testclient.cpp) runs the same matrix against the
// server: every channel type opened from both sides, 0 B..256 KiB text and binary, close both
// ways, peer close seen by the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { serverKind, startServer } from './lib/server.mjs';
import { binaryPath, missingBinaryMessage } from '../lib/server.mjs';

const clientPath = binaryPath('peerrtc-testclient');

test('C++ client: full matrix against the server', { timeout: 120000, skip: serverKind() === 'reference' && 'the reference server has no fixed UDP port semantics for the C++ client' }, async () => {
  assert.ok(existsSync(clientPath), `test client binary ${missingBinaryMessage(clientPath)}`);
  const server = await startServer({ name: 'cpp-client' });
  try {
    const { code, out } = await new Promise((res) => {
      const child = spawn(clientPath, ['--http-port', String(server.http), '--peer-id', 'cpp-1'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c) => { out += c; });
      child.stderr.on('data', (c) => { out += c; });
      const timer = setTimeout(() => child.kill('SIGKILL'), 100000);
      child.on('exit', (c) => { clearTimeout(timer); res({ code: c, out }); });
    });
    const summary = /(\d+) passed, (\d+) failed/.exec(out);
    assert.equal(code, 0, `test client failed:\n${out}`);
    assert.ok(summary && Number(summary[1]) > 100 && summary[2] === '0', `unexpected summary:\n${out}`);
    const t = /offer->connected\+control open: ([\d.]+) ms/.exec(out);
    if (t) console.log(`C++ client: offer -> control channel open ${t[1]} ms; ${summary[1]} checks passed`);
  } finally {
    await server.stop();
  }
});
