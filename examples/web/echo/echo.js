// PeerRTC echo: joins a room whose name starts with `echo`; the server sends every message back
// to its sender (text as "echo: <text>", binary unchanged). `?room=echo-mine` picks the room.
import { WebRTCConnection } from '/peerrtc-client.js';
import { queryParams, joinTokenOption, setQuery, randomHex, asName, showStatus, showError, wireError, describeServerError, hexPreview, clock } from '/common.js';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const ui = {
  status: $('status'), error: $('error'), log: $('log'), composer: $('composer'), text: $('text'),
  send: $('send'), sendBinary: $('send-binary'), title: $('room-title'),
};
wireError(ui.error);

const params = queryParams();
const askedRoom = asName(params.room);
const room = askedRoom && askedRoom.startsWith('echo') ? askedRoom : `echo-${randomHex(6)}`;
const askedName = asName(params.name);  // NFC, or null if the server would refuse it
const name = askedName && askedName !== 'server' ? askedName : `me-${randomHex(4)}`;
setQuery({ ...params, room, name });
ui.title.textContent = room;

function log(kind, who, text, extra = {}) {
  const li = document.createElement('li');
  li.className = kind;
  li.dataset.testid = kind === 'answer' ? 'answer' : 'sent';
  for (const [k, v] of Object.entries(extra)) li.dataset[k] = v;
  const w = document.createElement('span');
  w.className = 'who';
  w.textContent = who;
  const t = document.createElement('span');
  t.className = 'body';
  t.dataset.testid = 'body';
  t.textContent = text;
  const time = document.createElement('span');
  time.className = 'hint';
  time.textContent = '  ' + clock();
  li.append(w, t, time);
  ui.log.append(li);
  ui.log.scrollTop = ui.log.scrollHeight;
}

const conn = new WebRTCConnection(room, { peerId: name, debug: params.debug === '1', ...joinTokenOption(params) });
window.__echo = { conn, answers: [] };
const setEnabled = (on) => { ui.text.disabled = ui.send.disabled = ui.sendBinary.disabled = !on; };
conn.onStatusChange = (s) => { showStatus(ui.status, s); setEnabled(s === 'connected'); };
conn.onOpen = () => { showError(ui.error, ''); ui.text.focus(); };
conn.onServerError = (ev) => showError(ui.error, describeServerError(ev));
conn.onError = (err) => { if (conn.status !== 'reconnecting') showError(ui.error, err.message || String(err)); };
conn.onMessage = (from, data, { binary, direct }) => {
  window.__echo.answers.push(binary ? { from, binary: true, bytes: Array.from(new Uint8Array(data)) } : { from, text: data });
  if (binary) log('answer', from, `[${data.byteLength} bytes] ${hexPreview(data, 16)}`, { binary: 'true', direct: String(direct) });
  else log('answer', from, data, { binary: 'false', direct: String(direct) });
};

showStatus(ui.status, 'connecting');
conn.connect().catch((err) => showError(ui.error, `Could not join ${room}: ${err.message || err}`));
window.addEventListener('pagehide', () => conn.closeConnection());

ui.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = ui.text.value;
  if (!text) return;
  try {
    conn.sendMessage(text);
  } catch (err) {
    return showError(ui.error, err.message || String(err));
  }
  log('sent', 'you', text);
  ui.text.value = '';
});

ui.sendBinary.addEventListener('click', () => {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  try {
    conn.sendMessage(bytes.buffer);
  } catch (err) {
    return showError(ui.error, err.message || String(err));
  }
  log('sent', 'you', `[16 bytes] ${hexPreview(bytes.buffer, 16)}`, { binary: 'true' });
});
