// peerrtc-client: the browser (and Node) client of a PeerRTC server.
//
//   import { WebRTCConnection } from './peerrtc-client.js';
//   const conn = new WebRTCConnection('lobby', { peerId: 'alice' });
//   conn.onMessage = (from, msg, { direct, binary }) => console.log(from, msg);
//   await conn.connect();
//   conn.sendMessage('hello');
//
// One ES module, no dependencies, no build step. Wire protocol: docs/protocol.md (v2, with v1
// when the server does not offer v2).
// One RTCPeerConnection per WebRTCConnection with one data channel labelled `peerrtc`
// (ordered, reliable) to the server, which relays to the other peers of the room.

const CHANNEL_LABEL = 'peerrtc';
// The volatile lane (docs/protocol.md "Volatile lane"): a second channel, unordered and never
// retransmitted, for cursors and game state. Above VOLATILE_HIGH_WATER buffered bytes a
// volatile send is dropped (and counted) instead of queued.
const VOLATILE_LABEL = 'peerrtc-volatile';
const VOLATILE_HIGH_WATER = 16 * 1024;
// Protocol default (docs/protocol.md "Sizes"): 262144 - 66. Replaced by the server's value.
const DEFAULT_MAX_PAYLOAD = 262078;
// Flow control: above HIGH_WATER bytes in the channel's buffer, sends are queued (in order) and
// drained when the buffer falls to LOW_WATER.
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const DRAIN_POLL_MS = 20; // fallback for stacks without `bufferedamountlow` (e.g. node wrtc)
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;
// Protocol v2 (docs/protocol.md "v2"): sends wait for their ack; while reconnecting they are
// queued, at most this many (option maxQueuedMessages).
const DEFAULT_MAX_QUEUED = 1000;
const RESUME_BACKOFF_MAX_MS = 1000;
const RESUME_RETRY_FOR_MS = 120000;
const STORAGE_PREFIX = 'peerrtc:';
// The resume state is written at most every STATE_SAVE_MS while messages flow (and at once on
// pagehide, on a token or epoch change); cmids are reserved in blocks of CMID_BLOCK, so that a
// page that dies without pagehide never reuses a cmid the server has seen (it would be dropped
// as a repeat): the stored cmid is always above every cmid sent.
const STATE_SAVE_MS = 250;
const CMID_BLOCK = 256;

// The ICE restart's POST /offer: each try after the first, while none gets an HTTP answer.
const RESTART_RETRY_MS = 2000;

// Protocol v2: when the oldest message on the wire has had no ack for this long, later sends
// wait in the outbox instead of going out (option ackStallMs; 0 = never). A connection whose
// server is gone (a node killed, its network cut) takes seconds to be noticed; what was sent
// into it meanwhile has an unknown outcome after a resume on another node, what waited is sent
// there. Acks come back within a round trip on a live connection, so this never waits there.
const ACK_STALL_MS = 1000;

export const STATUS = Object.freeze({
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
  DISCONNECTED: 'disconnected',
  CLOSED: 'closed',
});

/** An HTTP signaling error: `status` is the HTTP status (0 for network errors / timeouts). */
export class PeerRTCError extends Error {
  constructor(message, { status = 0, code = undefined, cause = undefined } = {}) {
    super(message, cause !== undefined ? { cause } : undefined);
    this.name = 'PeerRTCError';
    this.status = status;
    if (code !== undefined) this.code = code;
  }
}

function randomPeerId() {
  const bytes = new Uint8Array(4);
  if (globalThis.crypto && typeof globalThis.crypto.getRandomValues === 'function') {
    globalThis.crypto.getRandomValues(bytes);
  } else {
    for (let i = 0; i < 4; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  return 'peer-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// ---------------------------------------------------------------- names
//
// Room names and peer ids (docs/protocol.md "Names"), the same rule as the server's
// (src/signaling/names.hpp): 1 to 64 bytes of UTF-8, no control character (C0, DEL, C1), no
// Unicode White_Space at either end; `server` is not a peer id. The server compares names as
// bytes; this client normalises the names it is given to NFC first, so that a name typed on
// any keyboard (precomposed é or e + combining accent) is the same name.

/** The longest name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 64;

function isControl(c) { return c < 0x20 || (c >= 0x7f && c <= 0x9f); }

// Unicode White_Space (PropList.txt).
function isUnicodeSpace(c) {
  return (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0x85 || c === 0xa0 || c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

function uPlus(c) { return 'U+' + c.toString(16).toUpperCase().padStart(4, '0'); }

/**
 * What is wrong with `name` as a room name or peer id, or null if nothing: the server's rule,
 * applied to the name exactly as given (no normalisation). Byte offsets count from 0 in the
 * name's UTF-8. A lone surrogate (a JS string that is not valid Unicode) is refused: it has no
 * UTF-8 form.
 */
export function nameError(name) {
  if (typeof name !== 'string') return `not a string (${name === null ? 'null' : typeof name})`;
  if (name.length === 0) return `empty (a name is 1 to ${MAX_NAME_BYTES} bytes of UTF-8)`;
  const size = utf8Length(name);
  if (size > MAX_NAME_BYTES) return `too long: ${size} bytes (at most ${MAX_NAME_BYTES} bytes of UTF-8)`;
  let at = 0; // byte offset of the code point at i
  let first = -1;
  let last = -1;
  let lastAt = 0;
  for (let i = 0; i < name.length;) {
    const c = name.codePointAt(i);
    if (c >= 0xd800 && c <= 0xdfff) return `lone surrogate ${uPlus(c)} at byte ${at} (not valid Unicode, so not UTF-8)`;
    if (isControl(c)) return `control character ${uPlus(c)} at byte ${at}`;
    if (first < 0) first = c;
    last = c;
    lastAt = at;
    at += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    i += c > 0xffff ? 2 : 1;
  }
  if (isUnicodeSpace(first)) return `leading whitespace (${uPlus(first)})`;
  if (isUnicodeSpace(last)) return `trailing whitespace (${uPlus(last)} at byte ${lastAt})`;
  return null;
}

/** Whether the server accepts `name` as a room name or peer id, as given (not normalised). */
export function isValidName(name) { return nameError(name) === null; }

/** The name as this client sends it: its Unicode NFC form (non-strings are returned as they are). */
export function normalizeName(name) { return typeof name === 'string' ? name.normalize('NFC') : name; }

// `name` normalised to NFC and checked; throws a TypeError that quotes the name and says why.
function checkedName(what, name, { peer = false } = {}) {
  const n = normalizeName(name);
  const err = nameError(n);
  if (err) {
    const shown = typeof name === 'string' ? JSON.stringify(name) : String(name);
    throw new TypeError(`invalid ${what} ${shown}: ${err}${n !== name && typeof name === 'string' ? ' (in NFC)' : ''}`);
  }
  if (peer && n === 'server') throw new TypeError(`${what} "server" is reserved`);
  return n;
}

// UTF-8 length of a JS string as the data channel will send it (a lone surrogate becomes
// U+FFFD, 3 bytes), without allocating.
export function utf8Length(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { n += 4; i++; } else n += 3;
    } else n += 3;
  }
  return n;
}

function toBytes(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  // A SharedArrayBuffer or an ArrayBuffer from another realm.
  if (data && typeof data.byteLength === 'number' && Object.prototype.toString.call(data).endsWith('ArrayBuffer]')) {
    return new Uint8Array(data);
  }
  return null;
}

// Peer ids in binary frames are UTF-8 (docs/protocol.md). Made on first use.
let utf8Encoder = null;
let utf8Decoder = null;
function utf8Bytes(s) { return (utf8Encoder ??= new TextEncoder()).encode(s); }
function utf8String(bytes) { return (utf8Decoder ??= new TextDecoder('utf-8')).decode(bytes); }

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

export class WebRTCConnection {
  /**
   * @param {string} room
   * @param {object} [options] see peerrtc-client.d.ts
   */
  constructor(room, options = {}) {
    // Both as sent to the server: in NFC (normalizeName).
    this.room = checkedName('room', room);
    this.peerId = options.peerId === undefined || options.peerId === null
      ? randomPeerId() : checkedName('peerId', options.peerId, { peer: true });
    this.serverUrl = String(options.serverUrl ?? '').replace(/\/+$/, '');
    this.debug = !!options.debug;
    this.reconnect = options.reconnect !== false;
    // ICE servers: the constructor's, or (undefined) those of GET /config, fetched afresh for
    // every connection attempt (TURN credentials are minted per request and expire).
    if (options.iceServers !== undefined && options.iceServers !== null && !Array.isArray(options.iceServers)) {
      throw new TypeError('iceServers must be an array of RTCIceServer ({urls, username?, credential?})');
    }
    this._iceServers = options.iceServers ?? undefined;
    const policy = options.iceTransportPolicy ?? 'all';
    if (policy !== 'all' && policy !== 'relay') {
      throw new TypeError(`iceTransportPolicy must be 'all' or 'relay' (got ${JSON.stringify(options.iceTransportPolicy)})`);
    }
    this.iceTransportPolicy = policy;
    this._RTCPeerConnection = options.RTCPeerConnection || globalThis.RTCPeerConnection;
    this._fetch = options.fetch || (globalThis.fetch ? globalThis.fetch.bind(globalThis) : undefined);
    this.connectTimeout = options.connectTimeout ?? 20000;
    this.requestTimeout = options.requestTimeout ?? 10000;
    // Protocol v2: a reconnect's requests while the resume window may be open wait at most this
    // long, so that an attempt made while the network was down (its TCP SYNs lost) gives way to
    // a fresh one soon after the network returns.
    this.resumeRequestTimeout = options.resumeRequestTimeout ?? 2500;
    this.disconnectTimeout = options.disconnectTimeout ?? 5000;
    // ICE restart (docs/protocol.md "ICE restart"): on ICE `failed`, or `disconnected` for
    // iceRestartDelay ms, the same RTCPeerConnection restarts ICE and re-offers with the token
    // and `restart: true`; the server keeps the session (DTLS, SCTP, membership, queues). If it
    // is not connected again within iceRestartTimeout ms (or the offer fails), a full reconnect
    // follows, as without it.
    this.iceRestart = options.iceRestart !== false;
    this.iceRestartDelay = options.iceRestartDelay ?? 1000;
    this.iceRestartTimeout = options.iceRestartTimeout ?? 15000;
    this._iceRestarts = 0;
    this.maxReconnectAttempts = options.maxReconnectAttempts ?? Infinity;
    // A join token (server --join-secret): a string, or a function returning one (or a Promise
    // of one), called before every offer so that a reconnect can carry a fresh token.
    const jt = options.joinToken;
    if (jt !== undefined && jt !== null && typeof jt !== 'string' && typeof jt !== 'function') {
      throw new TypeError('joinToken must be a string or a function returning one');
    }
    this._joinToken = jt ?? null;
    // Protocol v2 (resume, acks): asked for unless `protocol: 1`.
    const proto = options.protocol ?? 2;
    if (proto !== 1 && proto !== 2) throw new TypeError(`protocol must be 1 or 2 (got ${JSON.stringify(options.protocol)})`);
    this.protocol = proto;
    this.maxQueuedMessages = options.maxQueuedMessages ?? DEFAULT_MAX_QUEUED;
    this.ackStallMs = options.ackStallMs ?? ACK_STALL_MS;
    if (!(Number.isFinite(this.ackStallMs) && this.ackStallMs >= 0)) throw new TypeError(`ackStallMs must be a number >= 0 (got ${JSON.stringify(options.ackStallMs)})`);
    // Where the resume state (token, epoch, last seq, cmid) is kept across page reloads: a
    // Storage (sessionStorage by default in browsers), or null for none.
    const store = options.storage !== undefined ? options.storage
      : (options.persist === false ? null : (typeof globalThis.sessionStorage === 'object' ? globalThis.sessionStorage : null));
    this._storage = store && typeof store.getItem === 'function' && typeof store.setItem === 'function' ? store : null;
    this._storageKey = STORAGE_PREFIX + JSON.stringify([this.room, this.peerId]);

    // Callbacks (assignable properties).
    this.onMessage = null;
    this.onOpen = null;
    this.onClose = null;
    this.onError = null;
    this.onStatusChange = null;
    this.onPeerJoined = null;
    this.onPeerLeft = null;
    this.onServerError = null;
    this.onKicked = null;
    this.onResumeGap = null;
    this.onPeerAway = null;
    this.onPeerBack = null;
    // The volatile lane: onVolatile(from, message, {direct, binary}) for what others sent with
    // sendVolatile(). options.volatile === false opens no volatile channel.
    this.onVolatile = null;
    this.volatile = options.volatile !== false;
    this._volatileSent = 0;
    this._volatileDropped = 0;
    this._volatileReceived = 0;

    this._status = STATUS.DISCONNECTED;
    this._token = null;
    this._kicked = null; // the reason, once the backend kicked this peer
    this._maxPayload = DEFAULT_MAX_PAYLOAD;
    this._peers = new Set();
    this._session = null; // {gen, pc, dc, timers...}
    this._gen = 0;
    this._closed = false; // closeConnection() called
    this._everConnected = false;
    this._connectPromise = null;
    this._reconnectTimer = null;
    this._reconnectAttempt = 0;
    this._queue = []; // frames waiting for the channel's buffer to drain
    this._queuedBytes = 0;
    this._drainTimer = null;
    // v2 state: negotiated on the last welcome; the room's epoch and the last seq handed to
    // onMessage; the last client message id used; sends not yet acked (in cmid order).
    this._v2 = false;
    this._epoch = null;
    this._lastSeq = 0;
    this._cmid = 0;
    this._cmidStored = 0; // the cmid written to storage: every cmid sent is at or below it
    this._saveTimer = null;
    this._outbox = new Map();
    this._moved = false;
    this._lostAt = null;
    this._rate = null; // the server's rate limits for this peer (v2 welcome)
    this._flushing = false;
    this._holding = false; // sends wait for acks (see ACK_STALL_MS)
    this._holds = 0;
    this._pace = null;
    this._pumpTimer = null;
    this._loadState();
  }

  // ---------------------------------------------------------------- public API

  /** The current status: connecting | connected | reconnecting | disconnected | closed. */
  get status() { return this._status; }
  /** The token the server issued (needed for /leave, /candidate, and a reconnect's offer). */
  get token() { return this._token; }
  /** The largest payload (bytes; UTF-8 bytes for text) sendMessage/sendTo accept. */
  get maxMessageSize() { return this._maxPayload; }
  /** Bytes accepted by send calls but not yet handed to the network. */
  get bufferedAmount() {
    const dc = this._session && this._session.dc;
    return this._queuedBytes + (dc ? dc.bufferedAmount || 0 : 0);
  }

  isConnected() { return this._status === STATUS.CONNECTED; }

  /** ICE restarts that kept the session (the connection's path changed, nothing was lost). */
  get iceRestarts() { return this._iceRestarts; }
  // Protocol v2: times sends were held because acks stalled (ackStallMs).
  get ackHolds() { return this._holds; }

  /**
   * The RTCStatsReport of the current connection's RTCPeerConnection, or null when there is
   * none. Its transport's selected candidate pair tells the path, e.g. a local candidateType
   * 'relay' for a connection through a TURN server.
   */
  async getStats() {
    const s = this._session;
    if (!s || !s.pc) return null;
    return s.pc.getStats();
  }

  /** Peer ids in the room except this one. */
  peers() { return Array.from(this._peers); }

  /**
   * Opens the connection. Resolves once the data channel is open and the server's `welcome`
   * arrived; rejects with an Error saying what went wrong (HTTP error, timeout, ...).
   */
  connect() {
    if (this._closed) return Promise.reject(new PeerRTCError('connection was closed by closeConnection(); create a new WebRTCConnection'));
    if (this._status === STATUS.CONNECTED) return Promise.resolve();
    if (this._connectPromise) return this._connectPromise;
    this._setStatus(STATUS.CONNECTING);
    const p = this._attempt(false).then(
      () => { this._connectPromise = null; },
      (err) => {
        this._connectPromise = null;
        if (!this._closed) this._setStatus(STATUS.DISCONNECTED);
        this._emitError(err);
        throw err;
      },
    );
    this._connectPromise = p;
    return p;
  }

  /**
   * Sends text or binary to every other peer of the room. Returns a Promise of the message's
   * sequence number once the server relayed it (protocol v2; null with a v1 server), rejected
   * with a PeerRTCError whose `code` is the server's reason (too_large, rate_limited, filtered,
   * unknown_peer) or queue_full / closed. Throws if not connected (while reconnecting under v2
   * the message is queued instead) or too large.
   */
  sendMessage(message) {
    return this._send(null, message);
  }

  /**
   * Sends text or binary to one peer of the room. A name that peers() has (as the server sent
   * it) is used as it is; any other is normalised to NFC like this client's own names.
   */
  sendTo(peerId, message) {
    const to = typeof peerId === 'string' && this._peers.has(peerId) ? peerId : checkedName('peerId', peerId);
    return this._send(to, message);
  }

  /** The room's epoch and the last sequence number handed to onMessage (protocol v2). */
  get resumePoint() { return this._epoch ? { epoch: this._epoch, seq: this._lastSeq } : null; }
  /** Messages sent and not yet acked by the server, queued ones included (protocol v2). */
  get unackedCount() { return this._outbox.size; }

  /**
   * The volatile lane (docs/protocol.md "Volatile lane"): sends text or binary to every other
   * peer of the room (or, with `to`, one peer) on the unordered channel without
   * retransmissions. It never waits: when not connected, when the volatile channel is not open
   * or when more than 16 KiB wait in it, the message is dropped (counted in volatileStats) and
   * false is returned. What arrives comes to the others' onVolatile, possibly out of order or
   * not at all. For cursors, pointers, game state: values that the next one replaces. Throws
   * like sendMessage for a message that is too large or of the wrong type.
   */
  sendVolatile(message, { to = null } = {}) {
    const target = to === null || to === undefined ? null
      : typeof to === 'string' && this._peers.has(to) ? to : checkedName('peerId', to);
    const frame = this._frame(target, message);
    const s = this._session;
    const vdc = s && s.vdc;
    if (this._status !== STATUS.CONNECTED || !vdc || vdc.readyState !== 'open' ||
        (vdc.bufferedAmount || 0) > VOLATILE_HIGH_WATER) {
      this._volatileDropped++;
      return false;
    }
    try {
      vdc.send(frame);
    } catch (e) {
      this._log('volatile send failed:', e && e.message);
      this._volatileDropped++;
      return false;
    }
    this._volatileSent++;
    return true;
  }

  /** The volatile lane's counts here: {sent, dropped (not sent: not open or congested), received}. */
  get volatileStats() {
    return { sent: this._volatileSent, dropped: this._volatileDropped, received: this._volatileReceived };
  }

  /**
   * Leaves the room (POST /leave with the token) and closes the connection; no reconnect.
   * Returns a Promise that resolves when done (it never rejects).
   */
  async closeConnection() {
    if (this._closed) return;
    this._closed = true;
    const wasOpen = this._session !== null || this._status === STATUS.RECONNECTING;
    this._clearReconnect();
    const session = this._session;
    this._setStatus(STATUS.CLOSED);
    if (this._token) {
      try {
        await this._post('/leave', { room: this.room, peer_id: this.peerId, token: this._token },
          Math.min(this.requestTimeout, 3000), true);
      } catch (e) {
        this._log('leave failed (ignored):', e.message);
      }
    }
    this._teardown(session, 'closed by closeConnection()');
    this._dropQueue();
    this._failOutbox('closed', 'connection closed by closeConnection()');
    this._clearState();
    this._peers.clear();
    if (wasOpen || this._everConnected) this._call('onClose');
  }

  // ---------------------------------------------------------------- sending

  _send(to, message) {
    const s = this._session;
    const open = this._status === STATUS.CONNECTED && s && s.dc && s.dc.readyState === 'open';
    if (this._v2 && (open || this._status === STATUS.RECONNECTING)) return this._sendV2(to, message, open);
    if (!open) {
      throw new PeerRTCError(`not connected (status ${this._status}): connect() first${this._status === STATUS.RECONNECTING ? ' or wait for the reconnect' : ''}`);
    }
    this._sendV1(to, message);
    return Promise.resolve(null);
  }

  _sendV1(to, message) {
    const frame = this._frame(to, message);
    // A text frame's bytes: the message's UTF-8 size plus at most a header (d<64-byte id>\n).
    this._sendFrame(frame, typeof frame === 'string' ? utf8Length(message) + 66 : frame.byteLength);
  }

  // ---------------------------------------------------------------- protocol v2: acked sends

  _sendV2(to, message, open) {
    let payload;
    let size;
    if (typeof message === 'string') {
      payload = message;
      size = utf8Length(message);
    } else {
      const bytes = toBytes(message);
      if (!bytes) throw new TypeError('message must be a string, an ArrayBuffer or an ArrayBufferView');
      payload = bytes.slice(); // kept until acked: the caller may reuse its buffer
      size = payload.byteLength;
    }
    this._checkSize(size);
    if (!open && this._outbox.size >= this.maxQueuedMessages) {
      const p = Promise.reject(new PeerRTCError(`send queue full: ${this._outbox.size} messages wait for the reconnect (maxQueuedMessages ${this.maxQueuedMessages})`, { code: 'queue_full' }));
      p.catch(() => {});
      return p;
    }
    const cmid = ++this._cmid;
    if (cmid > this._cmidStored) this._saveState(); // reserves the next block first
    const entry = { cmid, to, payload, size, resolve: null, reject: null };
    const p = new Promise((resolve, reject) => { entry.resolve = resolve; entry.reject = reject; });
    p.catch(() => {}); // a caller that ignores the Promise gets no unhandled rejection (onServerError still fires)
    this._outbox.set(cmid, entry);
    if (open && !this._flushing) {
      if (this._ackStalled()) this._hold(); // this one and later ones wait for acks (or the next connection)
      else this._sendEntry(entry);
    } else if (open) this._pump(); // behind what the resume is still sending, in order
    return p;
  }

  // The oldest message on the wire has waited ackStallMs or more for its ack. Entries go out in
  // cmid order, so the first sent entry of the outbox is the oldest unacked one.
  _ackStalled() {
    if (!(this.ackStallMs > 0)) return false;
    for (const e of this._outbox.values()) if (e.sent) return Date.now() - e.sentAt >= this.ackStallMs;
    return false;
  }

  _hold() {
    if (this._holding) return;
    this._holding = true;
    this._holds++;
    this._flushing = true; // later sends queue behind, in order
    this._log(`no ack for ${this.ackStallMs} ms: sends wait until acks come back or the connection is replaced`);
  }

  // Acks came back: what waited goes, paced by the server's rate limits.
  _release() {
    this._holding = false;
    this._log('acks are back: sending what waited');
    this._startPump();
  }

  // The v2 frame of an outbox entry: M<cmid> <text>, D<cmid> <to>\n<text>, 0x11/0x12 binary.
  _sendEntry(entry) {
    entry.sent = true;
    entry.sentAt = Date.now();
    const { cmid, to, payload } = entry;
    let frame;
    if (typeof payload === 'string') {
      frame = (to === null ? 'M' + cmid + ' ' : 'D' + cmid + ' ' + to + '\n') + payload;
      this._sendQueued(frame, entry.size + 83);
      return;
    }
    const id = to === null ? null : utf8Bytes(to);
    const head = id === null ? 9 : 10 + id.length;
    const out = new Uint8Array(head + payload.byteLength);
    out[0] = id === null ? 0x11 : 0x12;
    const dv = new DataView(out.buffer);
    dv.setUint32(1, Math.floor(cmid / 0x100000000));
    dv.setUint32(5, cmid >>> 0);
    if (id !== null) { out[9] = id.length; out.set(id, 10); }
    out.set(payload, head);
    this._sendQueued(out.buffer, out.byteLength);
  }

  // Like _sendFrame, but a failing channel is not the caller's error: the entry stays in the
  // outbox and goes again after the reconnect.
  _sendQueued(frame, approxBytes) {
    try {
      this._sendFrame(frame, approxBytes);
    } catch (e) {
      this._log('send failed; the message waits for the reconnect:', e && e.message);
    }
  }

  // The server's acks: A<cmid>:<seq>[,<cmid>:<seq>|<cmid>!<code>]...
  _onAcks(text) {
    for (const item of text.slice(1).split(',')) {
      const bang = item.indexOf('!');
      const colon = item.indexOf(':');
      const cmid = Number(item.slice(0, bang >= 0 ? bang : colon));
      const entry = this._outbox.get(cmid);
      if (bang >= 0) {
        const code = item.slice(bang + 1);
        if (entry) this._settle(entry, null, new PeerRTCError(`message ${cmid} refused by the server: ${code}`, { code }));
        continue;
      }
      if (colon < 0) continue;
      const seq = Number(item.slice(colon + 1));
      // Everything for this peer up to seq came before this ack on the same ordered channel.
      if (seq > this._lastSeq) { this._lastSeq = seq; this._saveStateSoon(); }
      if (entry) this._settle(entry, seq || null, null);
    }
    if (this._holding && !this._ackStalled()) this._release();
  }

  _settle(entry, seq, err) {
    this._outbox.delete(entry.cmid);
    if (err) entry.reject(err); else entry.resolve(seq);
  }

  // A welcome that did not resume this member (the server restarted, the room moved to another
  // node, the window ended): the server no longer knows which client message ids it relayed, so
  // a message that went out on an earlier connection and was not acked may or may not have been
  // relayed. It is not sent again (that could double it); its Promise rejects with code
  // 'outcome_unknown' (docs/protocol.md "The JS client"). Messages queued and never sent go on.
  // known: the highest cmid the server knows from the Stream (a cluster resume): those up to it
  // are sent again (a repeat is relayed once and acked).
  _dropUnknownOutcomes(known = 0) {
    for (const e of Array.from(this._outbox.values())) {
      if (!e.sent || e.cmid <= known) continue;
      this._outbox.delete(e.cmid);
      e.reject(new PeerRTCError(`message ${e.cmid} may or may not have been relayed before the server lost this ` +
        'session (resume_gap); not sent again, so that it is never doubled', { code: 'outcome_unknown' }));
    }
  }

  _failOutbox(code, why) {
    if (!this._outbox.size) return;
    const entries = Array.from(this._outbox.values());
    this._outbox.clear();
    for (const e of entries) e.reject(new PeerRTCError(`message not sent: ${why}`, { code }));
  }

  // After a (re)connect: what was sent and not acked, then what was queued, in cmid order and
  // with the same cmids (the server relays a repeat once and acks it with its first seq).
  _resendOutbox() {
    this._holding = false; // a new connection: what waited for the old one's acks goes now
    if (!this._outbox.size) return;
    this._dropQueue(); // frames of the old session: their entries are all in the outbox
    this._log(`sending ${this._outbox.size} unacked/queued message(s) again`);
    if (!this._v2) {
      // The server no longer speaks v2: send them as v1 frames, without acks.
      for (const e of Array.from(this._outbox.values())) {
        this._outbox.delete(e.cmid);
        try { this._sendV1(e.to, e.payload); e.resolve(null); } catch (err) { e.reject(err); }
      }
      return;
    }
    for (const e of this._outbox.values()) e.sent = false;
    this._startPump();
  }

  // Sends the outbox's unsent entries in order (_pump), paced by the server's rate limits
  // (welcome `rate`), so that what piled up during an outage or a hold is not refused as
  // rate_limited: half a burst at once, then 90 % of the rate.
  _startPump() {
    const r = this._rate;
    const lim = (rate, burst) => (Number(rate) > 0 ? { rate: rate * 0.9, cap: Math.max(1, (Number(burst) || rate) / 2) } : null);
    this._pace = r ? { m: lim(r.messages, r.message_burst), b: lim(r.bytes, r.byte_burst), at: Date.now() } : { m: null, b: null, at: Date.now() };
    if (this._pace.m) this._pace.m.tokens = this._pace.m.cap;
    if (this._pace.b) this._pace.b.tokens = this._pace.b.cap;
    this._flushing = true;
    this._pump();
  }

  _pump() {
    if (this._pumpTimer) { clearTimeout(this._pumpTimer); this._pumpTimer = null; }
    if (this._holding) return;
    const s = this._session;
    if (!this._flushing || !s || !s.dc || s.dc.readyState !== 'open' || this._status !== STATUS.CONNECTED) return;
    if (this._ackStalled()) { this._hold(); return; } // a long paced flush meets a stall too
    const pace = this._pace;
    const now = Date.now();
    const dt = (now - pace.at) / 1000;
    pace.at = now;
    for (const l of [pace.m, pace.b]) if (l) l.tokens = Math.min(l.cap, l.tokens + l.rate * dt);
    for (const e of this._outbox.values()) {
      if (e.sent) continue;
      const bytes = e.size + 16;
      if ((pace.m && pace.m.tokens < 1) || (pace.b && pace.b.tokens < Math.min(bytes, pace.b.cap))) {
        this._pumpTimer = setTimeout(() => { this._pumpTimer = null; this._pump(); }, DRAIN_POLL_MS);
        return;
      }
      if (pace.m) pace.m.tokens -= 1;
      if (pace.b) pace.b.tokens -= bytes;
      this._sendEntry(e);
    }
    this._flushing = false; // caught up: sends go straight out again
  }

  // ---------------------------------------------------------------- protocol v2: resume state

  _loadState() {
    if (!this._storage) return;
    try {
      const raw = this._storage.getItem(this._storageKey);
      if (!raw) return;
      const st = JSON.parse(raw);
      if (typeof st.token === 'string' && st.token) this._token = st.token;
      if (typeof st.epoch === 'string' && st.epoch) this._epoch = st.epoch;
      if (Number.isSafeInteger(st.seq) && st.seq >= 0) this._lastSeq = st.seq;
      if (Number.isSafeInteger(st.cmid) && st.cmid >= 0) this._cmid = this._cmidStored = st.cmid;
    } catch (e) {
      this._log('stored resume state unreadable (ignored):', e && e.message);
    }
  }

  // Writes the resume state now.
  _saveState() {
    if (this._saveTimer !== null) { clearTimeout(this._saveTimer); this._saveTimer = null; }
    if (!this._storage || !this._token) return;
    if (this._cmid >= this._cmidStored) this._cmidStored = this._cmid + CMID_BLOCK;
    try {
      this._storage.setItem(this._storageKey, JSON.stringify({ token: this._token, epoch: this._epoch, seq: this._lastSeq, cmid: this._cmidStored }));
    } catch { /* quota or privacy mode: resume within this page still works */ }
  }

  // After a message (a new last seq): written within STATE_SAVE_MS, and at once on pagehide.
  // A page that dies without pagehide resumes from up to STATE_SAVE_MS earlier: the server
  // replays those messages to the new page (whose application state is new too).
  _saveStateSoon() {
    if (!this._storage || this._saveTimer !== null) return;
    if (!this._pageHideHooked && typeof globalThis.addEventListener === 'function') {
      this._pageHideHooked = true;
      this._onPageHide = () => { if (this._saveTimer !== null) this._saveState(); };
      globalThis.addEventListener('pagehide', this._onPageHide);
    }
    this._saveTimer = setTimeout(() => { this._saveTimer = null; this._saveState(); }, STATE_SAVE_MS);
    if (typeof this._saveTimer === 'object' && typeof this._saveTimer.unref === 'function') this._saveTimer.unref();
  }

  _clearState() {
    if (this._saveTimer !== null) { clearTimeout(this._saveTimer); this._saveTimer = null; }
    if (this._onPageHide && typeof globalThis.removeEventListener === 'function') {
      globalThis.removeEventListener('pagehide', this._onPageHide);
      this._pageHideHooked = false;
      this._onPageHide = null;
    }
    if (!this._storage) return;
    try { this._storage.removeItem(this._storageKey); } catch { /* ignore */ }
  }

  // The v1 client frame for `message` to `to` (null: the room), size-checked: v1 sends and the
  // volatile lane.
  _frame(to, message) {
    if (typeof message === 'string') {
      this._checkSize(utf8Length(message));
      return to === null ? 'm' + message : 'd' + to + '\n' + message;
    }
    const bytes = toBytes(message);
    if (!bytes) throw new TypeError('message must be a string, an ArrayBuffer or an ArrayBufferView');
    this._checkSize(bytes.byteLength);
    if (to === null) {
      const out = new Uint8Array(1 + bytes.byteLength);
      out[0] = 0x01;
      out.set(bytes, 1);
      return out.buffer;
    }
    const id = utf8Bytes(to);
    const out = new Uint8Array(2 + id.length + bytes.byteLength);
    out[0] = 0x02;
    out[1] = id.length;
    out.set(id, 2);
    out.set(bytes, 2 + id.length);
    return out.buffer;
  }

  _checkSize(size) {
    if (size > this._maxPayload) {
      throw new PeerRTCError(`message too large: ${size} bytes, the server accepts at most ${this._maxPayload} bytes per message`, { code: 'too_large' });
    }
  }

  _sendFrame(frame, approxBytes) {
    const dc = this._session && this._session.dc;
    // Never call send() on a channel that is not open: a torn-down session's channel (closed
    // with its RTCPeerConnection) must not be touched (libwebrtc in Node, @roamhq/wrtc, crashes
    // in RTCDataChannel::Send on one; browsers throw). The caller keeps the message for later.
    if (!dc || dc.readyState !== 'open') throw new PeerRTCError('send failed: the data channel is not open');
    if (this._queue.length === 0 && (dc.bufferedAmount || 0) <= HIGH_WATER) {
      try {
        dc.send(frame);
      } catch (e) {
        throw new PeerRTCError(`send failed: ${e && e.message ? e.message : e}`, { cause: e });
      }
      return;
    }
    this._queue.push([frame, approxBytes]);
    this._queuedBytes += approxBytes;
    this._scheduleDrain();
  }

  _scheduleDrain() {
    if (this._drainTimer !== null) return;
    this._drainTimer = setTimeout(() => { this._drainTimer = null; this._drain(); }, DRAIN_POLL_MS);
  }

  _drain() {
    const s = this._session;
    if (!s || !s.dc || s.dc.readyState !== 'open' || this._status !== STATUS.CONNECTED) return; // kept for after a reconnect
    const dc = s.dc;
    try {
      while (this._queue.length && (dc.bufferedAmount || 0) <= HIGH_WATER) {
        const [frame, n] = this._queue[0];
        dc.send(frame);
        this._queue.shift();
        this._queuedBytes -= n;
      }
    } catch (e) {
      this._log('send from the queue failed:', e && e.message);
      return; // the channel is going down; the close handler takes over
    }
    if (this._queue.length) this._scheduleDrain();
  }

  _dropQueue() {
    if (this._drainTimer !== null) { clearTimeout(this._drainTimer); this._drainTimer = null; }
    if (this._queue.length) this._log(`dropping ${this._queue.length} queued message(s)`);
    this._queue = [];
    this._queuedBytes = 0;
  }

  // ---------------------------------------------------------------- connecting

  // One connection attempt: GET /config (unless iceServers were given), POST /offer, wait for
  // open + welcome.
  async _attempt(isReconnect) {
    const gen = ++this._gen;
    const session = {
      gen, pc: null, dc: null, vdc: null, opened: false, welcomed: false, iceTimer: null, restart: null, failed: null,
      iceErrors: [], candidates: 0, gathered: false, historyLeft: 0, historyTs: [],
      v2: false, replayLeft: 0, replayTo: 0, carriedLeft: 0, nextEpoch: null,
    };
    this._session = session;
    const RTCPC = this._RTCPeerConnection;
    if (typeof RTCPC !== 'function') throw new PeerRTCError('no RTCPeerConnection: pass options.RTCPeerConnection (e.g. from @roamhq/wrtc in Node)');
    if (typeof this._fetch !== 'function') throw new PeerRTCError('no fetch: pass options.fetch');

    // The join token (if any) of this attempt: GET /config needs it too on a server with
    // --join-secret, so it is asked for once and used for both.
    let joinToken = null;
    if (this._joinToken !== null) {
      joinToken = typeof this._joinToken === 'function' ? await this._joinToken() : this._joinToken;
      this._checkCurrent(session);
      if (typeof joinToken !== 'string') throw new PeerRTCError('joinToken() must give a string');
    }
    let iceServers = this._iceServers;
    if (iceServers === undefined) {
      iceServers = await this._loadIceServers(joinToken);
      this._checkCurrent(session);
    }
    const pc = new RTCPC({ iceServers, iceTransportPolicy: this.iceTransportPolicy });
    session.pc = pc;
    const dc = pc.createDataChannel(CHANNEL_LABEL, { ordered: true });
    session.dc = dc;
    dc.binaryType = 'arraybuffer';
    if (this.volatile) {
      session.vdc = pc.createDataChannel(VOLATILE_LABEL, { ordered: false, maxRetransmits: 0 });
      session.vdc.binaryType = 'arraybuffer';
    }

    let settle;
    const ready = new Promise((resolve, reject) => { settle = { resolve, reject }; });
    ready.catch(() => {}); // observed below; a failure before that must not be "unhandled"
    session.settle = settle;
    session.fail = (err) => {
      if (session.welcomed) return;
      settle.reject(err);
    };
    this._wire(session);

    const timeout = setTimeout(() => session.fail(new PeerRTCError(
      `timed out after ${this.connectTimeout} ms waiting for the ${session.opened ? 'server\'s welcome' : 'data channel to open'}${this._iceErrorText(session)}`)), this.connectTimeout);
    try {
      // ICE-lite server: it learns our address from our STUN checks, so the offer goes out
      // without waiting for ICE gathering and candidates are not trickled. The SDP is the one
      // createOffer() made: reading pc.localDescription while gathering adds candidates to it
      // crashed @roamhq/wrtc (SIGSEGV in webrtc::SdpSerialize, seen twice in CI).
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      this._checkCurrent(session);
      const body = { room: this.room, peer_id: this.peerId, offer: { sdp: offer.sdp, type: 'offer' } };
      if (this._token) body.token = this._token;
      if (this.protocol >= 2) {
        body.protocol = 2;
        if (this._token && this._epoch) body.resume = { epoch: this._epoch, seq: this._lastSeq };
      }
      if (joinToken !== null) body.join_token = joinToken;
      this._log(`POST /offer (${isReconnect ? 'reconnect' : 'connect'})`);
      const answer = await Promise.race([this._post('/offer', body, this._attemptTimeout(isReconnect)), ready]);
      this._checkCurrent(session);
      if (!answer || answer.type !== 'answer' || typeof answer.sdp !== 'string') {
        throw new PeerRTCError(`bad answer from POST /offer: ${JSON.stringify(answer).slice(0, 200)}`);
      }
      if (typeof answer.token === 'string' && answer.token) this._token = answer.token;
      session.v2 = answer.protocol === 2;
      this._saveState();
      if (Number.isInteger(answer.max_message_size) && answer.max_message_size > 0) this._maxPayload = answer.max_message_size;
      await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
      this._checkCurrent(session);
      await ready;
      this._checkCurrent(session);
    } catch (err) {
      if (this._session === session) {
        this._session = null;
        this._teardown(session, 'connect attempt failed');
      }
      throw err;
    } finally {
      clearTimeout(timeout);
    }
  }

  _attemptTimeout(isReconnect) {
    const resuming = isReconnect && this._v2 && this._lostAt !== null && Date.now() - this._lostAt < RESUME_RETRY_FOR_MS;
    return resuming ? Math.min(this.requestTimeout, this.resumeRequestTimeout) : this.requestTimeout;
  }

  _checkCurrent(session) {
    if (this._closed) throw new PeerRTCError('connection closed by closeConnection()');
    if (this._session !== session) throw new PeerRTCError('connect attempt superseded');
  }

  // GET /config for one attempt (with the join token, which a server with --join-secret asks
  // for). A failure is not fatal: the server is ICE-lite and usually reachable without
  // STUN/TURN, so the attempt goes on without ICE servers.
  async _loadIceServers(joinToken = null) {
    try {
      const query = `peer_id=${encodeURIComponent(this.peerId)}&room=${encodeURIComponent(this.room)}`;
      const headers = joinToken !== null ? { authorization: `Bearer ${joinToken}` } : undefined;
      const res = await this._request('GET', `/config?${query}`, undefined,
        this._attemptTimeout(this._status === STATUS.RECONNECTING), false, headers);
      if (res && Array.isArray(res.iceServers)) return res.iceServers;
      this._log('GET /config answered without an iceServers array, using no ICE servers');
    } catch (e) {
      this._log('GET /config failed, using no ICE servers:', e.message);
    }
    return [];
  }

  // " (ICE server errors: ...)" for a failure message: why a STUN/TURN server gave no candidate
  // (e.g. a TURN server's 401 for credentials it does not accept). Empty when there were none.
  _iceErrorText(session) {
    if (!session.iceErrors.length) return '';
    return ` (ICE server errors: ${session.iceErrors.join('; ')})`;
  }

  _wire(session) {
    const { pc, dc } = session;
    const current = () => this._session === session;
    dc.onopen = () => {
      if (!current()) return;
      session.opened = true;
      this._log('data channel open');
    };
    dc.onmessage = (ev) => { if (current()) this._onFrame(session, ev.data); };
    if (session.vdc) {
      // The volatile lane's channel: its frames go to onVolatile; its closing ends only the lane.
      session.vdc.onmessage = (ev) => { if (current()) this._onVolatileFrame(ev.data); };
      session.vdc.onclose = () => { if (current()) this._log('volatile channel closed'); };
    }
    dc.onclose = () => { if (current()) this._lost(session, 'data channel closed'); };
    dc.onerror = (ev) => {
      if (!current()) return;
      const e = ev && (ev.error || ev);
      this._log('data channel error:', e && e.message ? e.message : e);
    };
    pc.onicecandidateerror = (ev) => {
      if (!current()) return;
      const text = `${ev.url || 'ICE server'}: ${ev.errorCode}${ev.errorText ? ' ' + ev.errorText : ''}`;
      this._log('ICE candidate error:', text);
      // libwebrtc reports "address is incompatible" for each local interface of the other
      // address family than the server's: not a reason for anything to fail.
      if (/incompatible/i.test(ev.errorText || '')) return;
      // The same error comes once per local network interface; keep each one once, a few at most.
      if (!session.iceErrors.includes(text) && session.iceErrors.length < 4) session.iceErrors.push(text);
    };
    // Relay-only and no relay candidate once gathering is over (the TURN server refused the
    // credentials, or none answered): nothing can connect, so fail now, not at the timeout.
    // Only for 'relay': without it, zero signalled candidates proves nothing, since browsers
    // may keep host candidates to themselves (mDNS obfuscation that cannot register, e.g. when
    // multicast is blocked) and still check from them; an ICE-lite server learns the address
    // from the checks.
    const gathered = () => {
      if (session.gathered || !current()) return;
      session.gathered = true;
      this._log(`ICE gathering complete: ${session.candidates} candidate(s)`);
      if (session.candidates === 0 && this.iceTransportPolicy === 'relay') {
        session.fail(new PeerRTCError('no ICE candidates: iceTransportPolicy is \'relay\' and no TURN server ' +
          `gave a relay address${this._iceErrorText(session)}`));
      }
    };
    pc.onicecandidate = (ev) => {
      if (!current()) return;
      if (ev.candidate && ev.candidate.candidate) session.candidates++;
      else if (!ev.candidate) gathered();
    };
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') gathered(); };
    pc.oniceconnectionstatechange = () => {
      if (!current()) return;
      const st = pc.iceConnectionState;
      this._log('ice:', st);
      if (st === 'closed') this._lost(session, 'ICE closed');
      else if (st === 'failed') this._restartIceOrLose(session, 'ICE failed');
      else if (st === 'disconnected') {
        if (session.iceTimer === null) {
          // A short grace before an ICE restart (Wi-Fi blips recover by themselves); without
          // restarts, the longer one before a full reconnect.
          const wait = this._canRestartIce(session) ? this.iceRestartDelay : this.disconnectTimeout;
          session.iceTimer = setTimeout(() => {
            session.iceTimer = null;
            if (current() && pc.iceConnectionState === 'disconnected') this._restartIceOrLose(session, `ICE disconnected for ${wait} ms`);
          }, wait);
        }
      } else {
        if (session.iceTimer !== null) {
          clearTimeout(session.iceTimer);
          session.iceTimer = null;
        }
        if ((st === 'connected' || st === 'completed') && session.restart && session.restart.answered) this._iceRestarted(session);
      }
    };
    pc.onconnectionstatechange = () => {
      if (!current()) return;
      this._log('connection:', pc.connectionState);
      if (pc.connectionState === 'failed') this._restartIceOrLose(session, 'peer connection failed');
    };
  }

  _onFrame(session, data) {
    if (typeof data === 'string') {
      const tag = data.charCodeAt(0);
      if (tag === 0x7b /* { */) return this._onEvent(session, data);
      if (tag === 0x4d /* M */ || tag === 0x44 /* D */) {
        // v2: M<seq> <from>\n<text>
        const sp = data.indexOf(' ');
        const nl = data.indexOf('\n', sp + 1);
        if (sp < 2 || nl < sp + 2) return this._log('bad v2 text frame:', data.slice(0, 80));
        const seq = Number(data.slice(1, sp));
        return this._deliver(session, seq, data.slice(sp + 1, nl), data.slice(nl + 1), tag === 0x44, false);
      }
      if (tag === 0x41 /* A */) return this._onAcks(data);
      if (tag === 0x6d /* m */ || tag === 0x64 /* d */) {
        const nl = data.indexOf('\n');
        if (nl < 1) return this._log('bad text frame (no sender):', data.slice(0, 80));
        const from = data.slice(1, nl);
        this._call('onMessage', from, data.slice(nl + 1), this._messageInfo(session, tag === 0x64, false));
        return;
      }
      this._log('unknown text frame:', data.slice(0, 80));
      return;
    }
    let buf = data;
    if (ArrayBuffer.isView(buf)) buf = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    if (!(buf instanceof ArrayBuffer) && !(buf && typeof buf.byteLength === 'number' && typeof buf.slice === 'function')) {
      this._log('unexpected binary message type (binaryType not arraybuffer?)');
      return;
    }
    const u8 = new Uint8Array(buf);
    if (u8[0] === 0x11 || u8[0] === 0x12) {
      // v2: 0x11 <seq:u64 BE> <len:u8> <from> <payload>
      if (u8.length < 10 || u8[9] < 1 || 10 + u8[9] > u8.length) return this._log(`bad v2 binary frame (${u8.length} bytes)`);
      const dv = new DataView(buf);
      const seq = dv.getUint32(1) * 0x100000000 + dv.getUint32(5);
      const len = u8[9];
      return this._deliver(session, seq, utf8String(u8.subarray(10, 10 + len)), buf.slice(10 + len), u8[0] === 0x12, true);
    }
    if (u8.length < 2 || (u8[0] !== 0x01 && u8[0] !== 0x02) || u8[1] < 1 || 2 + u8[1] > u8.length) {
      this._log(`bad binary frame (${u8.length} bytes)`);
      return;
    }
    const len = u8[1];
    const from = utf8String(u8.subarray(2, 2 + len));
    this._call('onMessage', from, buf.slice(2 + len), this._messageInfo(session, u8[0] === 0x02, true));
  }

  // A v2 message: handed to onMessage once, in seq order (a seq at or below the last one handed
  // over is a repeat and dropped; the server never sends one, this is belt and braces).
  _deliver(session, seq, from, message, direct, binary) {
    if (!Number.isSafeInteger(seq) || seq <= this._lastSeq) {
      this._log(`message seq ${seq} already handed over (last ${this._lastSeq}): dropped`);
    } else {
      this._lastSeq = seq;
      this._saveStateSoon();
      this._call('onMessage', from, message, { direct, binary, seq });
    }
    if (session.carriedLeft > 0 && --session.carriedLeft === 0) this._enterEpoch(session);
    if (session.replayLeft > 0 && --session.replayLeft === 0) this._replayDone(session);
  }

  // Resumed across an epoch change (welcome `carried`): the old epoch's messages are handed
  // over; from here on the seqs are the new epoch's, from 0.
  _enterEpoch(session) {
    this._epoch = session.nextEpoch;
    this._lastSeq = 0;
    this._saveState();
  }

  _replayDone(session) {
    // The replay is complete: nothing up to the welcome's seq is owed any more.
    if (session.replayTo > this._lastSeq) { this._lastSeq = session.replayTo; this._saveStateSoon(); }
  }

  // A frame of the volatile lane: the server's message frames (docs/protocol.md), to onVolatile.
  _onVolatileFrame(data) {
    let from;
    let message;
    let direct;
    let binary = false;
    if (typeof data === 'string') {
      const nl = data.indexOf('\n');
      if ((data[0] !== 'm' && data[0] !== 'd') || nl < 2) return this._log('bad volatile frame:', data.slice(0, 80));
      from = data.slice(1, nl);
      message = data.slice(nl + 1);
      direct = data[0] === 'd';
    } else {
      let buf = data;
      if (ArrayBuffer.isView(buf)) buf = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
      const u8 = new Uint8Array(buf);
      if (u8.length < 2 || (u8[0] !== 0x01 && u8[0] !== 0x02) || u8[1] < 1 || 2 + u8[1] > u8.length) {
        return this._log(`bad volatile binary frame (${u8.length} bytes)`);
      }
      from = utf8String(u8.subarray(2, 2 + u8[1]));
      message = buf.slice(2 + u8[1]);
      direct = u8[0] === 0x02;
      binary = true;
    }
    this._volatileReceived++;
    this._call('onVolatile', from, message, { direct, binary, volatile: true });
  }

  // {direct, binary}, plus {history: true, ts} for the messages a `history` event announced.
  _messageInfo(session, direct, binary) {
    if (session.historyLeft > 0 && !direct) {
      const i = session.historyTs.length - session.historyLeft;
      session.historyLeft--;
      const info = { direct, binary, history: true };
      if (Number.isFinite(session.historyTs[i])) info.ts = session.historyTs[i];
      return info;
    }
    return { direct, binary };
  }

  _onEvent(session, text) {
    let ev;
    try { ev = JSON.parse(text); } catch { return this._log('bad JSON event:', text.slice(0, 120)); }
    if (!ev || typeof ev !== 'object') return;
    this._log('event:', text.length > 300 ? text.slice(0, 300) + '...' : text);
    switch (ev.type) {
      case 'welcome': {
        if (Number.isInteger(ev.max_message_size) && ev.max_message_size > 0) this._maxPayload = ev.max_message_size;
        const now = new Set((Array.isArray(ev.peers) ? ev.peers : []).filter((p) => typeof p === 'string' && p !== this.peerId));
        const before = this._peers;
        const reconnect = this._everConnected;
        this._peers = now;
        if (session.welcomed) return; // a second welcome: just refresh the list
        session.welcomed = true;
        this._onWelcomeV2(session, ev);
        this._everConnected = true;
        this._reconnectAttempt = 0;
        this._setStatus(STATUS.CONNECTED);
        session.settle.resolve();
        if (reconnect) {
          // What changed while we were away.
          for (const p of before) if (!now.has(p)) this._call('onPeerLeft', p);
          for (const p of now) if (!before.has(p)) this._call('onPeerJoined', p);
        }
        this._call('onOpen');
        this._resendOutbox();
        if (this._queue.length) this._drain();
        return;
      }
      case 'peer_away':
        if (typeof ev.peer_id === 'string' && ev.peer_id !== this.peerId) this._call('onPeerAway', ev.peer_id);
        return;
      case 'peer_back':
        if (typeof ev.peer_id === 'string' && ev.peer_id !== this.peerId) this._call('onPeerBack', ev.peer_id);
        return;
      case 'resume_gap':
        this._log('resume gap:', JSON.stringify(ev));
        this._call('onResumeGap', ev);
        return;
      case 'moved':
        // The room is served by another node now: re-offer at once (with `resume`).
        this._moved = true;
        this._lost(session, `moved: ${ev.reason ?? ''}`);
        return;
      case 'peer_joined':
        if (typeof ev.peer_id === 'string' && ev.peer_id !== this.peerId) {
          this._peers.add(ev.peer_id);
          this._call('onPeerJoined', ev.peer_id);
        }
        return;
      case 'peer_left':
        if (typeof ev.peer_id === 'string' && ev.peer_id !== this.peerId) {
          this._peers.delete(ev.peer_id);
          this._call('onPeerLeft', ev.peer_id);
        }
        return;
      case 'error':
        if (Number.isSafeInteger(ev.cmid) && this._outbox.has(ev.cmid)) {
          this._settle(this._outbox.get(ev.cmid), null,
            new PeerRTCError(`message ${ev.cmid} refused by the server: ${ev.error ?? ev.code}`, { code: ev.code }));
        }
        this._call('onServerError', ev);
        return;
      case 'history': {
        // The next `count` room messages are the room's history, oldest first.
        const count = Number.isInteger(ev.count) && ev.count > 0 ? ev.count : 0;
        session.historyLeft = count;
        session.historyTs = Array.isArray(ev.ts) && ev.ts.length === count ? ev.ts : new Array(count).fill(undefined);
        return;
      }
      case 'kicked':
        // The backend removed this peer; the server closes the connection next: no reconnect.
        this._kicked = typeof ev.reason === 'string' ? ev.reason : '';
        this._call('onKicked', this._kicked);
        return;
      default:
        this._log('unknown event type ignored:', ev.type);
    }
  }

  // A welcome's v2 part: the negotiated protocol, the room's epoch, where this peer stands.
  _onWelcomeV2(session, ev) {
    this._v2 = session.v2 && ev.protocol === 2;
    // The room moved to another node, which read its last epoch back from the Redis Stream
    // (docs/protocol.md "Cluster resume"): `carried.replay` messages of our epoch follow, then
    // `replay` of the new one; our cmids up to `carried.cmid` are known there (sent again, they
    // are relayed once).
    const c = ev.carried;
    const carried = this._v2 && ev.resumed !== true && c && typeof c === 'object' && c.epoch === this._epoch &&
      Number.isSafeInteger(c.replay) && c.replay >= 0 && typeof ev.epoch === 'string' ? c : null;
    if (!(this._v2 && ev.resumed === true)) this._dropUnknownOutcomes(carried && Number.isSafeInteger(c.cmid) ? c.cmid : 0);
    if (!this._v2) return;
    const seq = Number.isSafeInteger(ev.seq) ? ev.seq : 0;
    if (carried) {
      session.nextEpoch = ev.epoch;
      session.carriedLeft = carried.replay;
      session.replayTo = seq;
      session.replayLeft = carried.replay + (Number.isSafeInteger(ev.replay) ? ev.replay : 0);
      this._rate = ev.rate && typeof ev.rate === 'object' ? ev.rate : null;
      if (session.carriedLeft === 0) this._enterEpoch(session);
      if (session.replayLeft === 0) this._replayDone(session);
      this._saveState();
      return;
    }
    if (ev.resumed === true) {
      // What was missed follows (ev.replay messages), then live ones.
      session.replayTo = seq;
      session.replayLeft = Number.isSafeInteger(ev.replay) ? ev.replay : 0;
      if (session.replayLeft === 0) this._replayDone(session);
    } else {
      // A fresh membership: only what comes after the welcome is this peer's.
      this._lastSeq = seq;
    }
    this._epoch = typeof ev.epoch === 'string' ? ev.epoch : null;
    this._rate = ev.rate && typeof ev.rate === 'object' ? ev.rate : null;
    this._saveState();
  }

  // ---------------------------------------------------------------- ICE restart
  //
  // The session's path is gone (ICE failed, or disconnected past the grace): the same
  // RTCPeerConnection restarts ICE (new ufrag/pwd, same DTLS certificate and SCTP port) and
  // POSTs /offer with the token and `restart: true`; the server answers with new ICE
  // credentials and keeps the DTLS and SCTP association, the membership and every queue, so the
  // data channel stays open, what was sent meanwhile is retransmitted by SCTP and the room sees
  // no leave. Any failure (HTTP error, timeout, ICE not connected within iceRestartTimeout)
  // falls back to the full reconnect (_lost).

  _canRestartIce(session) {
    return this.iceRestart && !this._closed && session.welcomed && !!this._token && !!session.pc &&
      typeof session.pc.createOffer === 'function';
  }

  _restartIceOrLose(session, why) {
    if (this._session !== session || this._closed) return;
    if (session.restart) return; // one at a time: its own timeout falls back
    if (!this._canRestartIce(session)) { this._lost(session, why); return; }
    const r = { why, answered: false, timer: null };
    session.restart = r;
    this._log(`ICE restart (${why})`);
    const fail = (text) => {
      if (session.restart !== r) return;
      session.restart = null;
      clearTimeout(r.timer);
      this._log('ICE restart failed:', text);
      this._lost(session, `${why}; ICE restart failed: ${text}`);
    };
    r.timer = setTimeout(() => fail(`not connected within ${this.iceRestartTimeout} ms`), this.iceRestartTimeout);
    const pc = session.pc;
    (async () => {
      if (typeof pc.restartIce === 'function') pc.restartIce();
      const offer = await pc.createOffer({ iceRestart: true });
      if (session.restart !== r) return;
      await pc.setLocalDescription(offer);
      if (session.restart !== r) return;
      const body = { room: this.room, peer_id: this.peerId, offer: { sdp: offer.sdp, type: 'offer' }, token: this._token, restart: true };
      if (this._joinToken !== null) {
        const jt = typeof this._joinToken === 'function' ? await this._joinToken() : this._joinToken;
        if (typeof jt !== 'string') throw new PeerRTCError('joinToken() must give a string');
        body.join_token = jt;
      }
      this._log('POST /offer (ICE restart)');
      // The address just changed: fetch may send this on a keep-alive connection from the old
      // address, which hangs (its packets have no way back) until the timeout; or the network is
      // still away, and a new connection's SYNs back off (1 s, 2 s, 4 s) past the network's
      // return. So the first try gets a third of the budget, and while a try gets no HTTP answer
      // (a network error or its timeout) the POST is made again, on a new connection (the aborted
      // one is gone), each try at most RESTART_RETRY_MS, until the budget is spent: the first try
      // after the network's return gets through. A repeat is harmless: the server answers the
      // same offer again with the same credentials. An HTTP answer (an error status) stands.
      const budget = Math.min(this.requestTimeout, this.iceRestartTimeout);
      const t0 = Date.now();
      const left = () => budget - (Date.now() - t0);
      let answer;
      for (let attempt = 0; ; attempt++) {
        const tryMs = Math.min(left(), attempt === 0 ? Math.max(2000, Math.floor(budget / 3)) : RESTART_RETRY_MS);
        const started = Date.now();
        try {
          answer = await this._post('/offer', body, tryMs);
          break;
        } catch (e) {
          if (session.restart !== r || (e && e.status) || left() <= 0) throw e;
          this._log(`POST /offer (ICE restart) got no answer (${e.message}); again on a new connection`);
          // A quick failure (unreachable) waits out the rest of a short beat before the next try.
          const beat = Math.min(left(), 250 - (Date.now() - started));
          if (beat > 0) await new Promise((res) => setTimeout(res, beat));
          if (session.restart !== r) return;
          if (left() <= 0) throw e;
        }
      }
      if (session.restart !== r) return;
      if (!answer || answer.type !== 'answer' || typeof answer.sdp !== 'string') {
        throw new PeerRTCError(`bad answer from POST /offer: ${JSON.stringify(answer).slice(0, 200)}`);
      }
      await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
      if (session.restart !== r) return;
      r.answered = true;
      const st = pc.iceConnectionState;
      if (st === 'connected' || st === 'completed') this._iceRestarted(session);
    })().catch((e) => fail(e && e.message ? e.message : String(e)));
  }

  _iceRestarted(session) {
    const r = session.restart;
    if (!r) return;
    session.restart = null;
    clearTimeout(r.timer);
    this._iceRestarts++;
    this._log(`ICE restart done (${r.why}); the session goes on`);
  }

  // The connection of `session` went away without closeConnection().
  _lost(session, why) {
    if (this._session !== session || this._closed) return;
    this._log('connection lost:', why);
    if (!session.welcomed) {
      // Still connecting: fail the attempt (connect() or the reconnect loop handles it).
      session.fail(new PeerRTCError(`connection failed before the server's welcome: ${why}${this._iceErrorText(session)}`));
      return;
    }
    this._session = null;
    this._lostAt = Date.now();
    if (this._pumpTimer) { clearTimeout(this._pumpTimer); this._pumpTimer = null; }
    this._teardown(session, why);
    if (this._kicked !== undefined && this._kicked !== null) {
      this._setStatus(STATUS.DISCONNECTED);
      this._dropQueue();
      this._failOutbox('closed', 'the connection ended');
      this._call('onClose');
      return;
    }
    if (this.reconnect) {
      this._setStatus(STATUS.RECONNECTING);
      this._scheduleReconnect();
    } else {
      this._setStatus(STATUS.DISCONNECTED);
      this._dropQueue();
      this._failOutbox('closed', 'the connection ended');
      this._call('onClose');
    }
  }

  _scheduleReconnect() {
    if (this._closed || this._reconnectTimer !== null) return;
    if (this._reconnectAttempt >= this.maxReconnectAttempts) {
      this._setStatus(STATUS.DISCONNECTED);
      this._dropQueue();
      this._failOutbox('closed', 'gave up reconnecting');
      this._emitError(new PeerRTCError(`gave up reconnecting after ${this._reconnectAttempt} attempts`));
      this._call('onClose');
      return;
    }
    // Exponential backoff with "equal jitter": 0.5 s, 1 s, 2 s, ... capped at 10 s, each
    // randomised within [half, full].
    // Under v2, while the server may still hold this peer's place (its resume window, 120 s by
    // default), retry at least every second: the first message should follow the network's
    // return within a few seconds.
    const cap = this._v2 && this._lostAt !== null && Date.now() - this._lostAt < RESUME_RETRY_FOR_MS ? RESUME_BACKOFF_MAX_MS : BACKOFF_MAX_MS;
    const base = Math.min(cap, BACKOFF_MIN_MS * 2 ** Math.min(this._reconnectAttempt, 16));
    // A `moved` room re-offers at once (the new node is ready); anything else backs off.
    const delay = this._moved ? 0 : base / 2 + Math.random() * (base / 2);
    this._moved = false;
    this._reconnectAttempt++;
    this._log(`reconnect attempt ${this._reconnectAttempt} in ${Math.round(delay)} ms`);
    this._reconnectTimer = setTimeout(async () => {
      this._reconnectTimer = null;
      if (this._closed) return;
      try {
        await this._attempt(true);
        this._log('reconnected');
      } catch (err) {
        if (this._closed) return;
        if (err instanceof PeerRTCError && [400, 401, 403, 404, 409].includes(err.status)) {
          // The server will not take this peer back (bad token, id taken, bad request).
          this._setStatus(STATUS.DISCONNECTED);
          this._dropQueue();
          this._failOutbox('closed', 'the server refused the reconnect');
          this._emitError(err);
          this._call('onClose');
          return;
        }
        this._emitError(err); // status is still 'reconnecting': another attempt follows
        this._scheduleReconnect();
      }
    }, delay);
  }

  _clearReconnect() {
    if (this._reconnectTimer !== null) { clearTimeout(this._reconnectTimer); this._reconnectTimer = null; }
  }

  _teardown(session, why) {
    if (!session) return;
    if (session.iceTimer !== null) { clearTimeout(session.iceTimer); session.iceTimer = null; }
    if (session.restart) { clearTimeout(session.restart.timer); session.restart = null; }
    if (session.settle) session.fail(new PeerRTCError(`connection closed: ${why}`));
    const { pc, dc, vdc } = session;
    if (dc) { dc.onopen = dc.onmessage = dc.onclose = dc.onerror = null; try { dc.close(); } catch { /* already closed */ } }
    if (vdc) { vdc.onmessage = vdc.onclose = null; try { vdc.close(); } catch { /* already closed */ } }
    if (pc) {
      pc.oniceconnectionstatechange = pc.onconnectionstatechange = pc.onicecandidateerror = null;
      pc.onicecandidate = pc.onicegatheringstatechange = null;
      try { pc.close(); } catch { /* already closed */ }
    }
  }

  // ---------------------------------------------------------------- HTTP

  _post(path, body, timeoutMs, keepalive = false) {
    return this._request('POST', path, body, timeoutMs, keepalive);
  }

  async _request(method, path, body, timeoutMs, keepalive = false, headers = undefined) {
    const url = this.serverUrl + path;
    const ctl = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = ctl ? setTimeout(() => ctl.abort(), timeoutMs) : null;
    let res;
    let text;
    try {
      const init = { method, signal: ctl ? ctl.signal : undefined };
      if (headers) init.headers = { ...headers };
      if (body !== undefined) {
        init.headers = { ...init.headers, 'content-type': 'application/json' };
        init.body = JSON.stringify(body);
      }
      if (keepalive) init.keepalive = true;
      res = await this._fetch(url, init);
      text = await res.text();
    } catch (e) {
      if (e && e.name === 'AbortError') throw new PeerRTCError(`${method} ${url} timed out after ${timeoutMs} ms`, { cause: e });
      throw new PeerRTCError(`${method} ${url} failed: ${e && e.message ? e.message : e}`, { cause: e });
    } finally {
      if (timer) clearTimeout(timer);
    }
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    if (!res.ok) {
      const msg = json && typeof json.error === 'string' ? json.error : (text || res.statusText || 'no body').slice(0, 200);
      throw new PeerRTCError(`${method} ${path}: HTTP ${res.status}: ${msg}`, { status: res.status });
    }
    if (json === undefined) throw new PeerRTCError(`${method} ${path}: HTTP ${res.status} with a body that is not JSON`, { status: res.status });
    return json;
  }

  // ---------------------------------------------------------------- helpers

  _setStatus(st) {
    if (this._status === st) return;
    this._log('status:', this._status, '->', st);
    this._status = st;
    this._call('onStatusChange', st);
  }

  _emitError(err) { this._call('onError', err); }

  _call(name, ...args) {
    const fn = this[name];
    if (typeof fn !== 'function') return;
    try {
      fn.apply(this, args);
    } catch (e) {
      // A throwing callback must not break the connection's state machine.
      console.error(`[peerrtc ${this.peerId}] ${name} callback threw:`, e);
    }
  }

  _log(...args) {
    if (this.debug) console.debug(`[peerrtc ${this.room}/${this.peerId}]`, ...args);
  }
}

export default WebRTCConnection;
