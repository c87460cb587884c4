// The backend's moderation filter end to end: peerrtc-server --block-words / --mask-words
// install SignalingManager::set_filter, which runs on the network thread before relay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { makeClient, uid, waitFor, flush, closeAll } from './lib/util.mjs';

let server;
const live = [];
before(async () => {
  server = await startServer({ name: 'moderation', extraArgs: ['--block-words', 'spam,Forbidden', '--mask-words', 'darn'] });
});
after(async () => { await closeAll(live); await server?.stop(); });

test('blocked words are dropped and the sender told; masked words are starred; binary untouched', { timeout: 30000 }, async () => {
  const room = uid('mod');
  const a = makeClient(server, room, uid('a'));
  const b = makeClient(server, room, uid('b'));
  live.push(a, b);
  await a.connect();
  await b.connect();

  a.sendMessage('hello');
  a.sendMessage('buy SPAM now');            // blocked (case-insensitive)
  a.sendMessage('this is forbidden talk');  // blocked
  a.sendMessage('darn it, DARN');           // masked
  a.sendMessage(new Uint8Array([115, 112, 97, 109]).buffer);  // "spam" as binary: not text, passes
  a.sendMessage('bye');
  // 'bye' is a's last message and the marker: once b has it, b has everything the filter let
  // through before it.
  await waitFor(() => b.rec.messages.some((m) => m.message === 'bye'), 10000, 'the last message through the filter');
  const got = b.rec.messages.map((m) => m.message);
  assert.equal(got.length, 4, `unexpected deliveries: ${JSON.stringify(got.map(String))}`);
  assert.equal(got[0], 'hello');
  assert.equal(got[1], '**** it, ****');
  assert.deepEqual([...new Uint8Array(got[2])], [115, 112, 97, 109]);
  assert.equal(got[3], 'bye');
  // The errors come back on a's own channel: after a flush, exactly one per blocked message.
  await flush(a);
  assert.deepEqual(a.rec.serverErrors.map((e) => e.code), ['filtered', 'filtered'], JSON.stringify(a.rec.serverErrors));
  const stats = await (await fetch(`${server.baseUrl}/stats`)).json();
  assert.equal(stats.dropped_filtered, 2);
});
