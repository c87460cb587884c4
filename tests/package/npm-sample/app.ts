// A sample app of the npm package peerrtc-client, type-checked with tsc --strict and bundled with
// esbuild by tests/package/npm.test.mjs, then run in Chromium against peerrtc-server. The page sets
// data-room and data-peer on <html>; the test reads window.peerrtcSample.
import { WebRTCConnection, STATUS, type ConnectionStatus, type MessageInfo } from 'peerrtc-client';

export interface SampleState {
  statuses: ConnectionStatus[];
  received: Array<{ from: string; text: string; direct: boolean }>;
  peers: string[];
  error: string | null;
}

declare global {
  interface Window {
    peerrtcSample: SampleState;
    peerrtcSampleSend(text: string): Promise<number | null>;
  }
}

const room: string = document.documentElement.dataset.room ?? 'npm-sample';
const peerId: string = document.documentElement.dataset.peer ?? 'sample';
const state: SampleState = { statuses: [], received: [], peers: [], error: null };
window.peerrtcSample = state;

const conn = new WebRTCConnection(room, { peerId, serverUrl: location.origin });
conn.onStatusChange = (status: ConnectionStatus) => {
  state.statuses.push(status);
  if (status === STATUS.CONNECTED) state.peers = conn.peers();
};
conn.onPeerJoined = () => { state.peers = conn.peers(); };
conn.onMessage = (from: string, message: string | ArrayBuffer, info: MessageInfo) => {
  const text = typeof message === 'string' ? message : new TextDecoder().decode(message);
  state.received.push({ from, text, direct: info.direct });
};
window.peerrtcSampleSend = (text: string) => conn.sendMessage(text);
conn.connect().catch((e: unknown) => { state.error = e instanceof Error ? e.message : String(e); });
