// Types of peerrtc-client (clients/js/peerrtc-client.js). Wire protocol: docs/protocol.md (v2,
// falling back to v1 with a server that does not answer `protocol: 2`).

/** connecting: first connect() in progress; connected: channel open and `welcome` received;
 *  reconnecting: the connection dropped and the client is re-offering with its token;
 *  disconnected: not connected and not retrying (never connected, connect() failed, a drop with
 *  `reconnect: false`, or the server refused the reconnect); closed: closeConnection() was called. */
export type ConnectionStatus = 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'closed';

export declare const STATUS: Readonly<{
  CONNECTING: 'connecting';
  CONNECTED: 'connected';
  RECONNECTING: 'reconnecting';
  DISCONNECTED: 'disconnected';
  CLOSED: 'closed';
}>;

/** What sendMessage/sendTo accept: text (sent as a WebRTC string) or bytes (sent as binary). */
export type Payload = string | ArrayBuffer | ArrayBufferView;

export interface MessageInfo {
  /** true for a message sent to this peer only (sendTo), false for a room broadcast. */
  direct: boolean;
  /** true when `message` is an ArrayBuffer, false when it is a string. */
  binary: boolean;
  /** true for a message of the room's history, replayed by the server (--history) right after
   *  this peer joined; absent for live messages. */
  history?: true;
  /** For a history message: when the server relayed it (Unix ms). */
  ts?: number;
  /** Protocol v2: the message's sequence number in the room (absent for history and v1). */
  seq?: number;
}

/** Protocol v2 `resume_gap`: messages this peer missed that the server can no longer give
 *  back. `missed` counts the room's messages in the gap (an upper bound of those meant for this
 *  peer), null when unknown (e.g. the server restarted). */
export interface ResumeGapEvent {
  type: 'resume_gap';
  missed: number | null;
  from_seq: number;
  to_seq: number | null;
  reason: 'restarted' | 'window_expired' | 'buffer_overflow' | 'no_buffer' | 'stream_gap' | 'moved' | (string & {});
  /** Which epoch the seqs belong to (a cluster resume from the Redis Stream crosses an epoch
   *  change: docs/protocol.md "Cluster resume"). */
  epoch?: string;
}

/** A protocol `error` event: a frame of this client was dropped by the server. */
export interface ServerErrorEvent {
  type: 'error';
  code: 'too_large' | 'rate_limited' | 'unknown_peer' | 'bad_frame' | 'filtered' | (string & {});
  error: string;
  /** The target of a dropped direct message. */
  to?: string;
  /** Protocol v2: the client message id of the refused message. */
  cmid?: number;
  [key: string]: unknown;
}

/** Constructor of an RTCPeerConnection (the browser's, or e.g. `require('@roamhq/wrtc').RTCPeerConnection`). */
export type RTCPeerConnectionConstructor = new (configuration?: RTCConfiguration) => RTCPeerConnection;

export interface WebRTCConnectionOptions {
  /** This peer's name in the room: any name the server accepts (see nameError), not "server";
   *  normalised to NFC. Default: random `peer-xxxxxxxx`. */
  peerId?: string;
  /** Base URL of the server, e.g. "https://rtc.example.org". Default '' (same origin). */
  serverUrl?: string;
  /** console.debug logging. Default false. */
  debug?: boolean;
  /** ICE servers for the RTCPeerConnection, used for every attempt. Default (undefined or null):
   *  GET serverUrl + '/config?peer_id=' + peerId + '&room=' + room before every connection
   *  attempt (with `Authorization: Bearer <joinToken>` when a joinToken is set: a server with
   *  --join-secret asks for it), so TURN
   *  credentials minted by the server are fresh for each reconnect; a failed /config means no
   *  ICE servers (logged with `debug`), not a failed connect. */
  iceServers?: RTCIceServer[] | null;
  /** 'relay': use only TURN relays (no direct path), e.g. to test a TURN set-up or to hide the
   *  client's addresses. Default 'all'. */
  iceTransportPolicy?: 'all' | 'relay';
  /** Reconnect after an unexpected drop. Default true. */
  reconnect?: boolean;
  /** Default globalThis.RTCPeerConnection. */
  RTCPeerConnection?: RTCPeerConnectionConstructor;
  /** Default globalThis.fetch. */
  fetch?: typeof fetch;
  /** ms for one attempt from the offer to channel open + welcome. Default 20000. */
  connectTimeout?: number;
  /** ms for each HTTP request (/config, /offer, /leave). Default 10000 (/leave: at most 3000). */
  requestTimeout?: number;
  /** ms that ICE may stay 'disconnected' before the connection counts as lost (when ICE
   *  restarts are off or not possible). Default 5000. */
  disconnectTimeout?: number;
  /** On ICE 'failed', or 'disconnected' for iceRestartDelay ms, restart ICE on the same
   *  RTCPeerConnection and re-offer with the token and `restart: true`: the server keeps the
   *  session (DTLS, SCTP, membership, queues), nothing sent is lost and the room sees no leave.
   *  If that fails or is not connected within iceRestartTimeout, a full reconnect follows.
   *  Default true. */
  iceRestart?: boolean;
  /** ms of ICE 'disconnected' before an ICE restart. Default 1000. */
  iceRestartDelay?: number;
  /** ms an ICE restart may take (offer, answer, checks) before the full reconnect. Default 15000. */
  iceRestartTimeout?: number;
  /** Give up (status 'disconnected', onClose) after this many failed reconnect attempts. Default Infinity. */
  maxReconnectAttempts?: number;
  /** A join token for servers started with --join-secret (sent as `join_token` with every
   *  offer): the string, or a function giving one (or a Promise of one), called before every
   *  offer so a reconnect can fetch a fresh token from the backend. A refused token (401/403)
   *  fails connect() and ends reconnecting. */
  joinToken?: string | (() => string | Promise<string>) | null;
  /** The protocol asked for: 2 (default: resume with replay, acked sends) or 1. A server that
   *  does not answer `protocol: 2` is spoken to in v1. */
  protocol?: 1 | 2;
  /** Protocol v2: most messages waiting (sent and not acked, or queued while reconnecting);
   *  past it a send made while reconnecting is rejected with code 'queue_full'. Default 1000. */
  maxQueuedMessages?: number;
  /** Protocol v2: when the oldest sent message has had no ack for this many ms, later sends
   *  wait (in order, not on the wire) until acks come back or the connection is replaced, so
   *  that a dead connection (a cluster node killed) swallows at most this long of messages
   *  whose outcome is then unknown. 0 = never wait. Default 1000. */
  ackStallMs?: number;
  /** Protocol v2: ms each request of a reconnect attempt may take while the resume window may
   *  be open (2 min after the drop), so that an attempt begun while the network was down gives
   *  way to a fresh one soon after it returns. Default 2500 (at most requestTimeout). */
  resumeRequestTimeout?: number;
  /** Keep the resume state (token, epoch, last seq, last cmid) in sessionStorage so that a
   *  page reload resumes (key `peerrtc:["<room>","<peerId>"]`). Default true where
   *  sessionStorage exists. */
  persist?: boolean;
  /** A Storage to keep the resume state in instead of sessionStorage (null: none). */
  storage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null;
  /** Open the volatile lane's channel (`peerrtc-volatile`: unordered, no retransmissions) for
   *  sendVolatile() / onVolatile. Default true. */
  volatile?: boolean;
}

/** Errors of this library: signaling failures (with the HTTP status), timeouts, misuse. */
export declare class PeerRTCError extends Error {
  name: 'PeerRTCError';
  /** HTTP status of a failed signaling request; 0 otherwise. */
  status: number;
  /** 'too_large' when a payload exceeds the server's maximum; for a refused v2 send the server's
   *  reason ('too_large', 'rate_limited', 'filtered', 'unknown_peer', 'bad_frame'), or
   *  'queue_full' / 'closed' / 'outcome_unknown' from this client. */
  code?: string;
  constructor(message: string, options?: { status?: number; code?: string; cause?: unknown });
}

export declare class WebRTCConnection {
  /** Throws a TypeError (quoting the name and saying what is wrong) for a room or peerId that,
   *  once normalised to NFC, the server would refuse. */
  constructor(room: string, options?: WebRTCConnectionOptions);

  /** The room as sent to the server: the constructor's, in NFC. */
  readonly room: string;
  /** This peer's id as sent to the server: the option's (or a random one), in NFC. */
  readonly peerId: string;
  readonly serverUrl: string;
  debug: boolean;
  reconnect: boolean;
  connectTimeout: number;
  requestTimeout: number;
  disconnectTimeout: number;
  iceRestart: boolean;
  iceRestartDelay: number;
  iceRestartTimeout: number;
  /** ICE restarts that kept the session since this object was made. */
  readonly iceRestarts: number;
  maxReconnectAttempts: number;
  readonly iceTransportPolicy: 'all' | 'relay';

  /** The current status. */
  readonly status: ConnectionStatus;
  /** The token from the last answer (null before the first). */
  readonly token: string | null;
  /** Largest payload in bytes (UTF-8 bytes for text) that sendMessage/sendTo accept (262061 under protocol v2, the default; 262078 under v1). */
  readonly maxMessageSize: number;
  /** Bytes accepted by send calls and not yet handed to the network (client queue + channel buffer). */
  readonly bufferedAmount: number;

  /** Resolves when the data channel is open and the server's welcome arrived. Rejects with a
   *  PeerRTCError: the server's HTTP error, a network error, or a timeout. */
  connect(): Promise<void>;
  /** To every other peer of the room. Throws PeerRTCError when not connected (under v2 a send
   *  while reconnecting is queued instead) or when the payload is larger than maxMessageSize
   *  (code 'too_large'); TypeError for other types. The Promise resolves with the message's seq
   *  once the server relayed it (null with a v1 server), or rejects with a PeerRTCError whose
   *  code says why (the server's reason, 'queue_full', 'closed', 'outcome_unknown': sent before a drop the server could not resume, not sent again). Ignoring it is safe. */
  sendMessage(message: Payload): Promise<number | null>;
  /** To one peer of the room (an unknown peer is reported by onServerError, code 'unknown_peer').
   *  A name that peers() lists is used as it is; any other is normalised to NFC first. Throws a
   *  TypeError for a name the server would refuse. */
  sendTo(peerId: string, message: Payload): Promise<number | null>;
  /** Protocol v2: the room's epoch and the last seq handed to onMessage (null before a v2 welcome). */
  readonly resumePoint: { epoch: string; seq: number } | null;
  /** Protocol v2: messages sent and not yet acked, queued ones included. */
  readonly unackedCount: number;
  /** Protocol v2: times sends waited because acks stalled (ackStallMs). */
  readonly ackHolds: number;
  protocol: 1 | 2;
  maxQueuedMessages: number;
  /** The volatile lane (cursors, pointers, game state): to every other peer, or with `to` one
   *  peer, on the unordered channel without retransmissions. Never queued: false (and counted in
   *  volatileStats.dropped) when not connected, the channel is not open, or more than 16 KiB wait
   *  in it. Arrives at the others' onVolatile, maybe out of order or not at all; the server drops
   *  it for a congested receiver. Never in hooks or history. Throws as sendMessage does for a
   *  payload that is too large or of the wrong type. */
  sendVolatile(message: Payload, options?: { to?: string | null }): boolean;
  /** The volatile lane here: sent, dropped before sending, received. */
  readonly volatileStats: { sent: number; dropped: number; received: number };
  /** POST /leave, close the connection, no more reconnects. Never rejects. */
  closeConnection(): Promise<void>;
  isConnected(): boolean;
  /** Stats of the current connection's RTCPeerConnection (null when there is none); the
   *  transport's selected candidate pair shows the path (local candidateType 'relay' = TURN). */
  getStats(): Promise<RTCStatsReport | null>;
  /** The room's other peers, as of the last welcome / peer_joined / peer_left. */
  peers(): string[];

  onMessage: ((senderId: string, message: string | ArrayBuffer, info: MessageInfo) => void) | null;
  onOpen: (() => void) | null;
  onClose: (() => void) | null;
  onError: ((error: Error) => void) | null;
  onStatusChange: ((status: ConnectionStatus) => void) | null;
  onPeerJoined: ((peerId: string) => void) | null;
  onPeerLeft: ((peerId: string) => void) | null;
  onServerError: ((event: ServerErrorEvent) => void) | null;
  /** The backend removed this peer (POST /api/kick): the server closes the connection next,
   *  and the client does not reconnect (status 'disconnected', then onClose). */
  onKicked: ((reason: string) => void) | null;
  /** Protocol v2: some messages missed during a drop cannot be given back (the server
   *  restarted, the resume window ended, the room's buffer overflowed). Loss is never silent. */
  onResumeGap: ((event: ResumeGapEvent) => void) | null;
  /** Protocol v2: a peer's connection dropped; it keeps its place for the resume window. */
  onPeerAway: ((peerId: string) => void) | null;
  /** Protocol v2: an away peer resumed. */
  onPeerBack: ((peerId: string) => void) | null;
  /** A message another peer sent with sendVolatile() (never one of sendMessage/sendTo). */
  onVolatile: ((senderId: string, message: string | ArrayBuffer, info: { direct: boolean; binary: boolean; volatile: true }) => void) | null;
}

/** UTF-8 length of a string as the data channel sends it (lone surrogates count 3, as U+FFFD). */
export declare function utf8Length(text: string): number;

/** The longest room name or peer id, in UTF-8 bytes: 64. */
export declare const MAX_NAME_BYTES: 64;

/** What is wrong with `name` as a room name or peer id (docs/protocol.md "Names"), or null:
 *  the server's rule on the name exactly as given — 1 to 64 bytes of UTF-8, no control character
 *  (C0, DEL, C1), no Unicode White_Space at either end; a lone surrogate is refused. E.g.
 *  "too long: 66 bytes (at most 64 bytes of UTF-8)", "control character U+000A at byte 3",
 *  "leading whitespace (U+0020)". ("server" is a valid name, but not a peer id.) */
export declare function nameError(name: unknown): string | null;

/** nameError(name) === null. */
export declare function isValidName(name: unknown): name is string;

/** `name.normalize('NFC')`: the form in which this client sends the names it is given. */
export declare function normalizeName(name: string): string;

export default WebRTCConnection;
