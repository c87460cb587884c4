// Small helpers shared by the PeerRTC web examples (chat, whiteboard, echo).

/** The page's query parameters as a plain object (`?room=a&name=b` -> {room: 'a', name: 'b'}). */
export function queryParams() {
  const out = {};
  for (const [k, v] of new URLSearchParams(location.search)) if (!(k in out)) out[k] = v;
  return out;
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

/** Names and rooms the server accepts (docs/protocol.md "Names"). */
export const ID_RE = /^[A-Za-z0-9_.\-:@]{1,64}$/;

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
