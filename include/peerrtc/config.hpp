// Configuration of a SignalingManager. Every limit has a default; all are documented in
// docs/limits (README) and enforced with a clear error or a counted, logged drop.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace peerrtc {

struct Config {
  bool debug = false;  // debug logging of the library

  // Network (one UDP port for every peer).
  std::string udp_bind = "0.0.0.0";
  uint16_t udp_port = 0;                 // 0 = ephemeral
  std::vector<std::string> public_ips;   // announced host candidates (behind NAT); empty = bound/interface addresses

  // ICE over TCP (RFC 6544) for clients whose network drops UDP: answers list the UDP host
  // candidates, then a `tcptype passive` candidate per address on the UDP port's number. The
  // manager listens on that TCP port itself, unless ice_tcp_handoff is set: then the
  // application's own server on that port (peerrtc-server's HTTP) hands over the connections
  // that start like ICE (SignalingManager::accept_tcp), so one port carries HTTP, UDP and TCP.
  bool ice_tcp = true;
  bool ice_tcp_handoff = false;
  size_t ice_tcp_max_connections = 1000;  // held at once; more are refused
  size_t ice_tcp_max_per_ip = 20;         // from one client address
  // A connection whose first frame is not a valid STUN Binding request for a live peer is
  // closed at once; one that sends nothing valid within this time is closed too.
  std::chrono::milliseconds ice_tcp_stun_timeout{5000};

  // ICE servers handed to clients by GET /config (SignalingManager::ice_config). None are
  // needed to reach an ICE-lite server that is reachable; see docs/deploy.md.
  // STUN servers (stun:/stuns: URLs) only: a TURN server needs credentials and goes below.
  std::vector<std::string> ice_servers;  // e.g. "stun:stun.example.org:3478"
  // TURN relays for clients whose network reaches this server over neither UDP nor TCP. Every
  // GET /config lists them with credentials: freshly minted from turn_secret (the TURN REST API
  // scheme of coturn's use-auth-secret/static-auth-secret: username "<expiry>:<peer id>",
  // valid turn_ttl), or the static turn_username/turn_password. turn_urls needs exactly one of
  // the two; the SignalingManager constructor throws std::invalid_argument otherwise.
  std::vector<std::string> turn_urls;  // e.g. "turn:turn.example.org:3478?transport=udp"
  std::string turn_secret;
  std::string turn_username;
  std::string turn_password;
  std::chrono::seconds turn_ttl{86400};  // 60 s .. 30 days; only with turn_secret

  // Limits.
  size_t max_rooms = 10000;
  size_t max_peers_per_room = 500;
  size_t max_peers = 10000;
  size_t max_pending_handshakes = 1000;
  std::chrono::milliseconds consent_timeout{30000};
  std::chrono::milliseconds connect_timeout{30000};
  // SCTP streams offered in and out per peer: each data channel uses one stream id, the
  // association settles on the smaller of both sides' counts, and a channel on a higher id is
  // refused (the browser's createDataChannel() fails; RTCSctpTransport.maxChannels is this
  // number; usrsctp drops DATA on such a stream). Every stream costs ~100 bytes in every
  // association, used or not (1024 streams: ~100 KiB per peer; 64: ~7 KiB). The protocol uses
  // one channel ('peerrtc'). 2..65535; see docs/architecture.md.
  uint16_t sctp_streams = 64;
  // Bundling wait (0 .. 5000 us): when the network thread has read every datagram waiting and
  // holds small relayed messages, and datagrams have been arriving closer together than this,
  // it sleeps out the rest of this window and then reads what came, so messages from several
  // senders share one SCTP packet, DTLS record and datagram per receiver: fewer datagrams for
  // every client and less server CPU, at up to this much latency per wake-up; a quiet room
  // never waits. 8 libwebrtc peers at 600 msg/s each: 1.18 -> 0.59 UDP datagrams per delivery
  // (pion: 1.23), server CPU per delivery -36 %, p50 +1 ms (bench/RESULTS.md). 0 = off.
  std::chrono::microseconds bundle_wait{1000};

  // Per-peer rate limits on what a peer sends (token buckets; 0 = unlimited). A message over the
  // limit is dropped, counted, and the sender told with an `error` event (code rate_limited,
  // at most one such event per second).
  double peer_message_rate = 500;           // messages per second
  double peer_message_burst = 1000;
  double peer_byte_rate = 16 * 1024 * 1024;  // bytes per second
  double peer_byte_burst = 32 * 1024 * 1024;

  // Backpressure. When a receiver has more than relay_high_water bytes waiting to be sent to it,
  // the senders whose messages it is waiting for stop being read (their SCTP window closes, so
  // their browsers buffer) until it drains. A receiver congested for longer than
  // slow_receiver_grace, or whose queue reaches max_peer_queue, is disconnected as too slow:
  // the channel is reliable, so the server never drops a message for it silently.
  size_t relay_high_water = 1024 * 1024;
  size_t max_peer_queue = 8 * 1024 * 1024;
  std::chrono::milliseconds slow_receiver_grace{10000};

  // The volatile lane (docs/protocol.md "Volatile lane"): a receiver with more than this many
  // bytes sent to it and not yet acknowledged (in the SCTP stack, in flight or waiting, and in
  // our own send queue) is congested, and the volatile frames for it are dropped and counted
  // (Stats::volatile_dropped_congested) rather than queued behind what it already waits for.
  size_t volatile_max_queue = 64 * 1024;

  // Backend hooks: on_message / on_peer_joined / on_peer_left run on this many threads, fed by a
  // bounded queue. What happens when it is full (hook_queue_capacity events waiting):
  //   DropOldest    the oldest event is dropped and counted (Stats::hook_dropped): a slow hook
  //                 never slows the room, but it misses events;
  //   Backpressure  nothing is dropped: the peers whose messages fill it are paused (their SCTP
  //                 receive window closes, as for a slow receiver) until it has drained to half
  //                 (Stats::hook_backpressure_pauses), so a message handler that persists
  //                 messages gets every one, and the room goes at the handler's pace. Events that
  //                 no peer sends (presence, the backend's own broadcasts, participants) are never
  //                 paused: they may take the queue past its capacity.
  enum class HookOverflow { DropOldest, Backpressure };
  unsigned hook_threads = 1;
  size_t hook_queue_capacity = 10000;
  HookOverflow hook_overflow = HookOverflow::DropOldest;

  // Whether leave() needs the peer's token (the one its offer's answer carried). A wrong token
  // is always a 403; a missing one is a 403 only when this is true. PeerPyRTC's clients leave
  // without a token, so the Python module defaults to false; candidate() never needs one.
  bool require_leave_token = true;

  // Join tokens (include/peerrtc/join_token.hpp): when set, every offer must carry a join token
  // (an HS256 JWT signed with this secret, for the offer's room and peer id, not expired);
  // without one the offer is refused with 401, with a bad one 403, and nothing is created.
  std::string join_secret;

  // History: a room keeps its last `history` room-wide messages (not direct ones; at most
  // history_bytes of payload) in memory, and a peer that joins gets them right after `welcome`
  // (docs/protocol.md, the `history` event). 0 = off. The history lives as long as the room.
  size_t history = 0;
  size_t history_bytes = 1024 * 1024;

  // Protocol v2 resume (docs/protocol.md "v2"): a v2 peer whose connection ends without a leave
  // stays in its room as away for resume_window (others get peer_away; peer_left only when the
  // window ends), and a re-offer with its token and `resume` gets every message it missed from
  // the room's resume buffer (at most resume_buffer messages and resume_buffer_bytes of payload
  // per room, kept no longer than the window). 0 = v1 behaviour: a drop is a leave.
  std::chrono::seconds resume_window{120};
  size_t resume_buffer = 10000;
  size_t resume_buffer_bytes = 16 * 1024 * 1024;

  // How long a thread calling the API waits for the network thread.
  std::chrono::milliseconds api_timeout{5000};
};

}  // namespace peerrtc
