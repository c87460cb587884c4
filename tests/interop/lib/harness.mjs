// Helpers shared by the interop test files.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export { withTimeout } from '../../lib/server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const MATRIX_PATH = join(here, '..', 'matrix.js');

// matrix.js as a classic-script expression for a page: the `export` keywords are stripped and
// the whole module is wrapped in a function that returns its exports.
export function matrixSourceForPage() {
  const src = readFileSync(MATRIX_PATH, 'utf8');
  if (/^\s*import\s/m.test(src)) throw new Error('matrix.js must not import anything');
  const body = src.replace(/^export\s+(async\s+function|function|const|class|let)/gm, '$1');
  return `(() => {\n${body}\nreturn { runMatrix, CHANNEL_TYPES, SIZES, DEFAULT_TIMEOUTS };\n})()`;
}

export function uniquePeerId(prefix) {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

export function summarize(stack, r) {
  return `[${stack}] peer ${r.peerId}: offer->control open ${r.timings.offerToControlOpenMs} ms, ` +
    `pc.sctp.maxMessageSize=${r.maxMessageSize} (answer a=max-message-size ${r.answerMaxMessageSize}), ` +
    `${r.messages} messages / ${r.bytes} bytes echoed byte-exact, timings ${JSON.stringify(r.timings)}, ` +
    `peer_closed reason ${JSON.stringify(r.peerClosedReason)}` +
    (r.partialRetries ? `, ${r.partialRetries} lost echo(es) on partially reliable channels re-sent` : '');
}
