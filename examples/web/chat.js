// PeerRTC chat: rooms, presence, direct messages. Open `/?room=lobby&name=alice` to join directly.
import { WebRTCConnection } from '/peerrtc-client.js';
import {
  queryParams, joinTokenOption, setQuery, randomHex, nameError, normalizeName, initial, showStatus, showError, wireError,
  describeServerError, colourFor, clock, hexPreview,
} from '/common.js';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const ui = {
  form: $('join-form'), room: $('room'), name: $('name'), join: $('join'), leave: $('leave'),
  status: $('status'), error: $('error'), title: $('room-title'), hint: $('room-hint'),
  messages: $('messages'), composer: $('composer'), target: $('target'), text: $('text'), send: $('send'),
  peers: $('peers'), peerCount: $('peer-count'),
};

const params = queryParams();
let conn = null;     // the current WebRTCConnection (null when not in a room)
let joined = false;  // welcome received at least once for `conn`

wireError(ui.error);
ui.room.value = params.room || 'lobby';
ui.name.value = params.name || `guest-${randomHex(4)}`;
showStatus(ui.status, 'idle');

// ------------------------------------------------------------------ rendering

function clearMessages() {
  ui.messages.replaceChildren();
  const li = document.createElement('li');
  li.className = 'empty';
  li.textContent = 'No messages yet.';
  ui.messages.append(li);
}

function append(li) {
  ui.messages.querySelector('.empty')?.remove();
  const atBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
  ui.messages.append(li);
  if (atBottom || li.classList.contains('mine')) ui.messages.scrollTop = ui.messages.scrollHeight;
}

function addNotice(text) {
  const li = document.createElement('li');
  li.className = 'notice';
  li.dataset.testid = 'notice';
  li.textContent = text;
  append(li);
}

// sender: who sent it; to: the target of a direct message we sent; data: string or ArrayBuffer.
function addMessage({ sender, data, direct = false, binary = false, mine = false, to = null }) {
  const li = document.createElement('li');
  li.className = 'msg';
  if (mine) li.classList.add('mine');
  if (sender === 'server' && !mine) li.classList.add('server');
  if (direct) li.classList.add('direct');
  li.dataset.testid = 'message';
  li.dataset.sender = sender;
  li.dataset.direct = String(direct);
  if (to) li.dataset.to = to;

  const meta = document.createElement('div');
  meta.className = 'meta';
  const who = document.createElement('span');
  who.className = 'sender';
  who.dataset.testid = 'message-sender';
  who.textContent = mine ? 'you' : sender;
  meta.append(who);
  if (direct) {
    const tag = document.createElement('span');
    tag.className = 'tag';
    tag.dataset.testid = 'message-direct';
    tag.textContent = mine ? `direct → ${to}` : 'direct to you';
    meta.append(tag);
  }
  const time = document.createElement('time');
  time.textContent = clock();
  meta.append(time);

  const body = document.createElement('div');
  body.className = 'text';
  body.dataset.testid = 'message-text';
  if (binary) {
    body.classList.add('binary');
    body.textContent = `[${data.byteLength} bytes] ${hexPreview(data)}`;
  } else {
    body.textContent = data;
  }
  li.append(meta, body);
  append(li);
}

function renderPeers() {
  const others = conn && joined ? conn.peers().sort((a, b) => a.localeCompare(b)) : [];
  ui.peers.replaceChildren();
  if (conn && joined) {
    ui.peers.append(peerItem(conn.peerId, true));
    for (const p of others) ui.peers.append(peerItem(p, false));
    ui.peerCount.textContent = `(${others.length + 1})`;
  } else {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'Nobody yet.';
    ui.peers.append(li);
    ui.peerCount.textContent = '';
  }
  // The direct-message target selector follows the peer list.
  const selected = ui.target.value;
  ui.target.replaceChildren(new Option('Everyone', ''));
  for (const p of others) ui.target.append(new Option(`→ ${p}`, p));
  ui.target.value = others.includes(selected) ? selected : '';
}

function peerItem(name, isMe) {
  const li = document.createElement('li');
  li.dataset.testid = 'peer';
  li.dataset.peer = name;
  if (isMe) li.classList.add('me');
  const av = document.createElement('span');
  av.className = 'avatar';
  av.style.background = colourFor(name);
  av.textContent = initial(name);
  const label = document.createElement('span');
  label.className = 'grow';
  label.textContent = name;
  li.append(av, label);
  if (isMe) {
    const you = document.createElement('span');
    you.className = 'you';
    you.textContent = 'you';
    li.append(you);
  } else {
    li.title = `Send a direct message to ${name}`;
    li.addEventListener('click', () => { ui.target.value = name; ui.text.focus(); });
  }
  return li;
}

function setUi(state) {  // 'idle' | 'joining' | 'joined'
  const inRoom = state !== 'idle';
  ui.room.disabled = inRoom;
  ui.name.disabled = inRoom;
  ui.join.disabled = inRoom;
  ui.leave.disabled = !inRoom;
  const canSend = state === 'joined' && conn && conn.isConnected();
  ui.text.disabled = !canSend;
  ui.send.disabled = !canSend;
  ui.target.disabled = !canSend;
  if (state === 'idle') {
    ui.title.textContent = 'No room';
    ui.hint.textContent = 'join a room to start chatting';
  } else {
    ui.title.textContent = `# ${conn.room}`;
    ui.hint.textContent = `as ${conn.peerId}`;
  }
}

// ------------------------------------------------------------------ connection

async function join(room, name) {
  showError(ui.error, '');
  // As the client will send them (NFC), checked with the client's own rule.
  room = normalizeName(room);
  name = normalizeName(name);
  const roomErr = nameError(room);
  if (roomErr) return showError(ui.error, `Room ${JSON.stringify(room)}: ${roomErr}.`);
  const nameErr = nameError(name);
  if (nameErr) return showError(ui.error, `Name ${JSON.stringify(name)}: ${nameErr}.`);
  if (name === 'server') return showError(ui.error, 'The name "server" is reserved.');
  if (conn) await leave(true);

  const c = new WebRTCConnection(room, { peerId: name, debug: params.debug === '1', ...joinTokenOption(params) });
  conn = c;
  joined = false;
  window.__chat.conn = c;
  const current = () => conn === c;

  c.onStatusChange = (status) => {
    if (!current()) return;
    window.__chat.statusHistory.push(status);
    showStatus(ui.status, status);
    if (status === 'reconnecting') {
      addNotice('Connection lost — reconnecting…');
      setUi('joining');
    }
  };
  c.onOpen = () => {
    if (!current()) return;
    const again = joined;
    joined = true;
    showError(ui.error, '');
    setUi('joined');
    renderPeers();
    addNotice(again ? 'Reconnected.' : `You joined #${c.room} as ${c.peerId}.`);
    if (!again) ui.text.focus();
  };
  c.onMessage = (sender, data, { direct, binary }) => {
    if (!current()) return;
    addMessage({ sender, data, direct, binary });
  };
  c.onPeerJoined = (p) => { if (current()) { renderPeers(); addNotice(`${p} joined`); } };
  c.onPeerLeft = (p) => { if (current()) { renderPeers(); addNotice(`${p} left`); } };
  c.onServerError = (ev) => { if (current()) showError(ui.error, describeServerError(ev)); };
  c.onError = (err) => {
    // Failed reconnect attempts are expected while the server is away; the status says so.
    if (!current() || c.status === 'reconnecting') return;
    showError(ui.error, err && err.message ? err.message : String(err));
  };
  c.onClose = () => {
    if (!current() || c.status === 'closed') return;  // closed = we left on purpose
    showError(ui.error, 'Disconnected from the server.');
    reset();
  };

  setUi('joining');
  showStatus(ui.status, 'connecting');
  clearMessages();
  setQuery({ ...params, room, name });
  try {
    await c.connect();
  } catch (err) {
    if (!current()) return;
    showError(ui.error, `Could not join #${room}: ${err && err.message ? err.message : err}`);
    reset();
    showStatus(ui.status, 'disconnected');
  }
}

function reset() {
  conn = null;
  joined = false;
  window.__chat.conn = null;
  setUi('idle');
  renderPeers();
}

async function leave(quiet = false) {
  const c = conn;
  if (!c) return;
  reset();
  showStatus(ui.status, 'idle');
  if (!quiet) addNotice(`You left #${c.room}.`);
  await c.closeConnection();
}

function send() {
  if (!conn) return;
  const text = ui.text.value;
  if (!text.trim()) return;
  const to = ui.target.value || null;
  try {
    if (to) conn.sendTo(to, text);
    else conn.sendMessage(text);
  } catch (err) {
    showError(ui.error, err && err.message ? err.message : String(err));
    return;
  }
  addMessage({ sender: conn.peerId, data: text, mine: true, direct: !!to, to });
  ui.text.value = '';
  ui.text.focus();
}

// ------------------------------------------------------------------ events

window.__chat = { conn: null, statusHistory: [], join, leave, send };  // for tests and the console

ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  join(ui.room.value.trim(), ui.name.value.trim());
});
ui.leave.addEventListener('click', () => leave());
ui.composer.addEventListener('submit', (e) => { e.preventDefault(); send(); });
window.addEventListener('pagehide', () => { if (conn) conn.closeConnection(); });

if (params.room && params.name && params.autojoin !== '0') join(params.room, params.name);
