// PeerRTC whiteboard: strokes are relayed to everyone in the room as small JSON messages.
//
// Wire format (text messages through the room):
//   {"t":"s","c":"#rrggbb","w":4,"p":[x0,y0,x1,y1,...]}   a stroke segment (polyline; one point = a dot)
//   {"t":"c"}                                              clear the board
// and on the volatile lane (sendVolatile: unordered, never retransmitted, dropped when congested;
// docs/protocol.md "Volatile lane"), at most every CURSOR_MS while the pointer moves:
//   {"t":"p","x":800,"y":500}   where this person points; {"t":"p"} the pointer left the board
// A lost cursor update is replaced by the next one, so strokes (which must all arrive) take the
// reliable lane and cursors never wait behind them.
// Coordinates are integers in the canvas' fixed 1600x1000 space, so boards of any on-screen size
// agree. A long stroke goes out every FLUSH_MS as a segment that starts at the previous segment's
// last point, so the pieces join up on the other side.
//
// Test hooks: window.__strokesDrawn (segments drawn here, own + others), window.__remoteStrokes
// (segments from others), window.__clears (clears applied), window.__inkPixels() (non-white pixels),
// window.__cursorUpdates (cursor updates received), window.__cursors() ({name: {x, y}} shown now).
import { WebRTCConnection } from '/peerrtc-client.js';
import { queryParams, joinTokenOption, setQuery, randomHex, asName, showStatus, showError, wireError, describeServerError } from '/common.js';

const FLUSH_MS = 40;
const CURSOR_MS = 33;          // ~30 cursor updates a second at most
const CURSOR_IDLE_MS = 10000;  // a cursor that has not moved for this long is hidden
const MAX_POINTS = 400;  // per message (x and y each)
const COLOURS = ['#1d2330', '#dc2626', '#ea580c', '#16a34a', '#2563eb', '#7c3aed', '#db2777', '#ffffff'];

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const ui = {
  status: $('status'), error: $('error'), board: $('board'), colour: $('colour'), width: $('width'),
  widthValue: $('width-value'), clear: $('clear'), swatches: $('swatches'), title: $('room-title'),
  me: $('me'), peerCount: $('peer-count'), cursors: $('cursors'),
};
const ctx = ui.board.getContext('2d', { willReadFrequently: true });
const W = ui.board.width;
const H = ui.board.height;

window.__strokesDrawn = 0;
window.__remoteStrokes = 0;
window.__clears = 0;
window.__inkPixels = () => {
  const d = ctx.getImageData(0, 0, W, H).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) n++;
  return n;
};

// ------------------------------------------------------------------ drawing

function blank() {
  ctx.save();
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, W, H);
  ctx.restore();
}

function drawSegment(colour, width, p) {
  ctx.strokeStyle = colour;
  ctx.fillStyle = colour;
  ctx.lineWidth = width;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  if (p.length === 2) {
    ctx.beginPath();
    ctx.arc(p[0], p[1], width / 2, 0, Math.PI * 2);
    ctx.fill();
  } else {
    ctx.beginPath();
    ctx.moveTo(p[0], p[1]);
    for (let i = 2; i + 1 < p.length; i += 2) ctx.lineTo(p[i], p[i + 1]);
    ctx.stroke();
  }
  window.__strokesDrawn++;
}

function validStroke(m) {
  return typeof m.c === 'string' && /^#[0-9a-fA-F]{6}$/.test(m.c)
    && typeof m.w === 'number' && m.w >= 1 && m.w <= 40
    && Array.isArray(m.p) && m.p.length >= 2 && m.p.length % 2 === 0 && m.p.length <= 2 * MAX_POINTS + 2
    && m.p.every((v) => typeof v === 'number' && Number.isFinite(v));
}

// ------------------------------------------------------------------ tools

let colour = ui.colour.value;
let width = Number(ui.width.value);

function pickColour(c) {
  colour = c;
  ui.colour.value = c;
  for (const b of ui.swatches.children) b.classList.toggle('selected', b.dataset.colour === c);
}
for (const c of COLOURS) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'swatch';
  b.style.background = c;
  b.dataset.colour = c;
  b.dataset.testid = 'swatch';
  b.title = c === '#ffffff' ? 'eraser (white)' : c;
  b.addEventListener('click', () => pickColour(c));
  ui.swatches.append(b);
}
pickColour(colour);
ui.colour.addEventListener('input', () => pickColour(ui.colour.value));
ui.width.addEventListener('input', () => { width = Number(ui.width.value); ui.widthValue.textContent = String(width); });

// ------------------------------------------------------------------ connection

const params = queryParams();
const room = asName(params.room) ?? 'whiteboard';
const askedName = asName(params.name);  // NFC, or null if the server would refuse it
const name = askedName && askedName !== 'server' ? askedName : `artist-${randomHex(4)}`;
setQuery({ ...params, room, name });
ui.title.textContent = `# ${room}`;
ui.me.textContent = `as ${name}`;
wireError(ui.error);

const conn = new WebRTCConnection(room, { peerId: name, debug: params.debug === '1', ...joinTokenOption(params) });
window.__whiteboard = { conn };
const updatePeers = () => {
  const n = conn.peers().length;
  ui.peerCount.textContent = conn.isConnected() ? `${n} other${n === 1 ? '' : 's'} here` : '';
};
conn.onStatusChange = (s) => { showStatus(ui.status, s); updatePeers(); };
conn.onOpen = () => { showError(ui.error, ''); updatePeers(); };
conn.onPeerJoined = updatePeers;
conn.onPeerLeft = (peer) => { updatePeers(); removeCursor(peer); };
conn.onServerError = (ev) => showError(ui.error, describeServerError(ev));
conn.onError = (err) => { if (conn.status !== 'reconnecting') showError(ui.error, err.message || String(err)); };
conn.onClose = () => { if (conn.status !== 'closed') showError(ui.error, 'Disconnected from the server; reload to rejoin.'); };
conn.onMessage = (_from, data, { binary }) => {
  if (binary) return;
  let m;
  try { m = JSON.parse(data); } catch { return; }
  if (!m || typeof m !== 'object') return;
  if (m.t === 's' && validStroke(m)) {
    drawSegment(m.c, m.w, m.p);
    window.__remoteStrokes++;
  } else if (m.t === 'c') {
    blank();
    window.__clears++;
  }
};

function send(obj) {
  if (!conn.isConnected()) return;  // drawing while disconnected stays local
  try {
    conn.sendMessage(JSON.stringify(obj));
  } catch (err) {
    showError(ui.error, err.message || String(err));
  }
}

// ------------------------------------------------------------------ the others' cursors

const cursors = new Map();  // name -> {el, x, y, timer}
window.__cursorUpdates = 0;
window.__cursors = () => Object.fromEntries([...cursors].filter(([, c]) => !c.el.hidden).map(([n, c]) => [n, { x: c.x, y: c.y }]));

function cursorColour(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return COLOURS[1 + (h % 6)];
}

function removeCursor(name) {
  const c = cursors.get(name);
  if (!c) return;
  clearTimeout(c.timer);
  c.el.remove();
  cursors.delete(name);
}

conn.onVolatile = (from, data, { binary }) => {
  if (binary || typeof data !== 'string') return;
  let m;
  try { m = JSON.parse(data); } catch { return; }
  if (!m || m.t !== 'p') return;
  window.__cursorUpdates++;
  let c = cursors.get(from);
  if (!c) {
    const el = document.createElement('div');
    el.className = 'cursor';
    el.dataset.testid = 'cursor';
    el.dataset.peer = from;
    el.style.setProperty('--cursor', cursorColour(from));
    const label = document.createElement('span');
    label.textContent = from;
    el.append(label);
    ui.cursors.append(el);
    c = { el, x: 0, y: 0, timer: null };
    cursors.set(from, c);
  }
  const inside = Number.isFinite(m.x) && Number.isFinite(m.y) && m.x >= 0 && m.x <= W && m.y >= 0 && m.y <= H;
  c.el.hidden = !inside;
  clearTimeout(c.timer);
  if (!inside) return;
  c.x = m.x;
  c.y = m.y;
  c.el.style.left = `${(m.x / W) * 100}%`;
  c.el.style.top = `${(m.y / H) * 100}%`;
  c.timer = setTimeout(() => { c.el.hidden = true; }, CURSOR_IDLE_MS);
};

// Our own pointer, at most every CURSOR_MS (the latest position wins; nothing queues).
let pointer = null;        // [x, y] not yet sent, or 'gone'
let pointerTimer = null;
function sendPointer() {
  pointerTimer = null;
  if (pointer === null || !conn.isConnected()) return;
  const msg = pointer === 'gone' ? { t: 'p' } : { t: 'p', x: pointer[0], y: pointer[1] };
  pointer = null;
  conn.sendVolatile(JSON.stringify(msg));  // false (dropped) when congested: the next one will do
  pointerTimer = setTimeout(sendPointer, CURSOR_MS);
}
function notePointer(p) {
  pointer = p;
  if (pointerTimer === null) sendPointer();
}
ui.board.addEventListener('pointermove', (ev) => notePointer(toBoard(ev)));
ui.board.addEventListener('pointerleave', () => notePointer('gone'));

showStatus(ui.status, 'connecting');
conn.connect().catch((err) => showError(ui.error, `Could not join #${room}: ${err.message || err}`));
window.addEventListener('pagehide', () => conn.closeConnection());

// ------------------------------------------------------------------ input (mouse, pen, touch)

let drawing = null;  // {id, last: [x, y], pending: [x0, y0, ...], timer}

function toBoard(ev) {
  const r = ui.board.getBoundingClientRect();
  const x = Math.round(((ev.clientX - r.left) / r.width) * W);
  const y = Math.round(((ev.clientY - r.top) / r.height) * H);
  return [Math.max(0, Math.min(W, x)), Math.max(0, Math.min(H, y))];
}

function flush() {
  if (!drawing || drawing.pending.length < 2) return;
  const p = drawing.pending;
  // A lone point is a dot only at the start of a stroke; later it is the join point, not news.
  if (p.length === 2 && !drawing.first) return;
  drawing.first = false;
  send({ t: 's', c: colour, w: width, p });
  drawing.pending = [p[p.length - 2], p[p.length - 1]];
}

ui.board.addEventListener('pointerdown', (ev) => {
  if (ev.button !== 0 || drawing) return;
  ev.preventDefault();
  ui.board.setPointerCapture(ev.pointerId);
  const [x, y] = toBoard(ev);
  drawing = { id: ev.pointerId, last: [x, y], pending: [x, y], first: true, timer: setInterval(flush, FLUSH_MS) };
  drawSegment(colour, width, [x, y]);
});

ui.board.addEventListener('pointermove', (ev) => {
  if (!drawing || ev.pointerId !== drawing.id) return;
  const events = typeof ev.getCoalescedEvents === 'function' ? ev.getCoalescedEvents() : [];
  for (const e of events.length ? events : [ev]) {
    const [x, y] = toBoard(e);
    if (x === drawing.last[0] && y === drawing.last[1]) continue;
    drawSegment(colour, width, [...drawing.last, x, y]);
    drawing.last = [x, y];
    drawing.pending.push(x, y);
    if (drawing.pending.length >= 2 * MAX_POINTS) flush();
  }
});

function endStroke(ev) {
  if (!drawing || ev.pointerId !== drawing.id) return;
  clearInterval(drawing.timer);
  flush();
  drawing = null;
}
ui.board.addEventListener('pointerup', endStroke);
ui.board.addEventListener('pointercancel', endStroke);

ui.clear.addEventListener('click', () => {
  blank();
  window.__clears++;
  send({ t: 'c' });
});

blank();
