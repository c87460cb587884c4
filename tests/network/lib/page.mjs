// Browser pages of the network suite (Chromium launched by lib/netns.mjs, so its WebRTC traffic
// leaves from a namespace): tests/interop/matrix.js run the way tests/interop/lib/suites.mjs runs
// it (signalling and /events from Node through page.exposeFunction), and a peerrtc-client
// (clients/js, loaded from the server) driven by clientDriver() of lib/shared.js.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { matrixSourceForPage } from '../../interop/lib/harness.mjs';
import { messageLog } from './netns.mjs';
import { sdpCandidates } from './shared.js';

const here = dirname(fileURLToPath(import.meta.url));
const VERBOSE = !!process.env.PEERRTC_VERBOSE;

// lib/shared.js as an expression for a page (its `export` keywords stripped).
export function sharedSourceForPage() {
  const src = readFileSync(join(here, 'shared.js'), 'utf8');
  if (/^\s*import\s/m.test(src)) throw new Error('shared.js must not import anything');
  const names = [...src.matchAll(/^export\s+(?:async\s+)?function\s+(\w+)/gm)].map((m) => m[1]);
  const body = src.replace(/^export\s+(async\s+function|function|const)/gm, '$1');
  return `(() => {\n${body}\nreturn { ${names.join(', ')} };\n})()`;
}

/**
 * Prepares an about:blank page for matrix runs against a peerrtc-testserver (`server` from
 * lib/servers.mjs). Returns { answers (peerId -> answer candidates), run(peerId, opts) } where
 * run resolves {result, path} or {error, path}: path is the selected candidate pair once the
 * control channel was open.
 */
export async function matrixPage(page, server, label) {
  const answers = new Map();
  let current = null;
  await page.goto('about:blank');
  await page.exposeFunction('peerrtcSignal', async (peerId, sdp) => {
    const r = await server.request('POST', '/offer', { room: 'interop', peer_id: peerId, offer: { sdp, type: 'offer' } });
    if (r.status !== 200 || !r.json || typeof r.json.sdp !== 'string') throw new Error(`POST /offer for ${peerId}: ${r.status} ${r.text.slice(0, 300)}`);
    answers.set(peerId, sdpCandidates(r.json.sdp).map(({ line, ...c }) => c));
    return r.json.sdp;
  });
  await page.exposeFunction('peerrtcEvents', () => server.events());
  await page.exposeFunction('peerrtcLog', (m) => { if (VERBOSE) console.error(`[${label} ${current}] ${m}`); });
  await page.evaluate(`window.__peerrtcMatrix = ${matrixSourceForPage()}; window.__net = ${sharedSourceForPage()}; true`);
  return {
    answers,
    run(peerId, opts = {}) {
      current = peerId;
      return page.evaluate(async ({ id, o }) => {
        const { PC, pcs } = window.__net.recordingPC(window.RTCPeerConnection);
        let pathP = null;
        try {
          const result = await window.__peerrtcMatrix.runMatrix({
            RTCPeerConnection: PC,
            peerId: id,
            signal: (sdp) => window.peerrtcSignal(id, sdp),
            getEvents: () => window.peerrtcEvents(),
            log: (m) => {
              if (!pathP && /^control open/.test(m)) pathP = window.__net.selectedPath(pcs[pcs.length - 1]).catch((e) => ({ error: String(e) }));
              window.peerrtcLog(m);
            },
            ...o,
          });
          return { result, path: await pathP };
        } catch (e) {
          return { error: String(e && e.message ? e.message : e), path: pathP ? await pathP : null };
        }
      }, { id: peerId, o: opts });
    },
  };
}

/**
 * A peerrtc-client in `page`, loaded from `baseUrl` (the page's origin becomes the server's, so
 * signalling is same-origin). Returns a message log (lib/netns.mjs messageLog) of what
 * clientDriver() reports, with send(cmd) for its commands.
 */
export async function pageClient(page, { baseUrl, room, peerId, connectTimeoutMs = 15000, onlyTcp = false, options = {} }) {
  const log = messageLog(`chromium ${peerId}`);
  await page.exposeFunction('peerrtcEmit', (m) => { if (VERBOSE) console.error(`[chromium ${peerId}] ${JSON.stringify(m).slice(0, 300)}`); log.push(m); });
  await page.goto(`${baseUrl}/health`);
  await page.evaluate(`window.__net = ${sharedSourceForPage()}; true`);
  await page.evaluate(async (o) => {
    const { WebRTCConnection } = await import('/peerrtc-client.js');
    window.__peerCommand = window.__net.clientDriver({
      WebRTCConnection, RTCPeerConnection: window.RTCPeerConnection, fetch: window.fetch.bind(window),
      baseUrl: '', emit: (m) => window.peerrtcEmit(m), ...o,
    });
  }, { room, peerId, connectTimeoutMs, onlyTcp, options });
  log.send = (cmd) => page.evaluate((c) => window.__peerCommand(c), cmd);
  return log;
}
