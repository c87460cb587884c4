// Small helpers shared by the PeerRTC web examples (chat, whiteboard, echo).
import { isValidName, nameError, normalizeName } from '/peerrtc-client.js';

// The name rule is the client's (docs/protocol.md "Names"): one rule, not a copy.
export { isValidName, nameError, normalizeName };

/** The page's query parameters as a plain object (`?room=a&name=b` -> {room: 'a', name: 'b'}). */
export function queryParams() {
  const out = {};
  for (const [k, v] of new URLSearchParams(location.search)) if (!(k in out)) out[k] = v;
  return out;
}

/**
 * `{joinToken}` from the page's `?join_token=` (a server with --join-secret: a backend links its
 * users to `/?room=R&name=P&join_token=T`), else nothing. docs/deploy.md "What is public".
 */
export function joinTokenOption(params) {
  return params.join_token ? { joinToken: params.join_token } : {};
}

/** Rewrites the page's query (no reload) so a reload or a shared link joins the same room. */
export function setQuery(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  history.replaceState(null, '', location.pathname + (s ? '?' + s : ''));
}

/** A random suffix of `n` hex digits. */
export function randomHex(n = 4) {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(n / 2)));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('').slice(0, n);
}

/** `value` (e.g. a query parameter) as a name in NFC if the server accepts it, else null. */
export function asName(value) {
  if (typeof value !== 'string') return null;
  const n = normalizeName(value);
  return isValidName(n) ? n : null;
}

const graphemes = typeof Intl !== 'undefined' && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : null;

/**
 * The first character of a name as people see it, upper-cased where that keeps it one character
 * (avatars): a whole grapheme cluster (é as e + accent, 👩‍💻, 🇫🇷), or the first code point where
 * Intl.Segmenter is missing — never half of a surrogate pair.
 */
export function initial(name) {
  if (!name) return '';
  let first;
  if (graphemes) {
    for (const { segment } of graphemes.segment(name)) { first = segment; break; }
  } else {
    first = String.fromCodePoint(name.codePointAt(0));
  }
  const up = first.toUpperCase();
  return Array.from(up).length === Array.from(first).length ? up : first;  // ß -> SS: keep ß
}

const STATUS_TEXT = {
  idle: 'not connected',
  connecting: 'connecting…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  disconnected: 'disconnected',
  closed: 'left',
};

/** Shows a connection status (connecting | connected | reconnecting | ...) in a `.status` element. */
export function showStatus(el, status) {
  el.dataset.status = status;
  el.textContent = STATUS_TEXT[status] || status;
}

/** Shows `message` in an `.error` element (with a close button); an empty message hides it. */
export function showError(el, message) {
  if (!message) {
    el.hidden = true;
    el.querySelector('.error-text').textContent = '';
    return;
  }
  el.querySelector('.error-text').textContent = message;
  el.hidden = false;
}

/** Wires the close button of an `.error` element. */
export function wireError(el) {
  el.querySelector('.close').addEventListener('click', () => showError(el, ''));
}

/** A human text for an error event from the server ({type: 'error', code, error, to?}). */
export function describeServerError(ev) {
  const code = ev && ev.code ? ev.code : 'error';
  const what = {
    too_large: 'message too large',
    rate_limited: 'sending too fast',
    unknown_peer: 'no such peer in the room',
    bad_frame: 'malformed message',
    filtered: 'message rejected by the server',
  }[code] || code;
  let s = `Server: ${what}`;
  if (ev && ev.to) s += ` (to ${ev.to})`;
  if (ev && ev.error) s += ` — ${ev.error}`;
  return s;
}

/** A stable colour for a name (peer list avatars). */
export function colourFor(name) {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360} 55% 45%)`;
}

/** "HH:MM:SS" of a Date. */
export function clock(d = new Date()) {
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

/** Short hex dump of binary data for display. */
export function hexPreview(buf, max = 24) {
  const u8 = new Uint8Array(buf);
  const hex = Array.from(u8.subarray(0, max), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return u8.length > max ? hex + ' …' : hex;
}
