// The PeerPyRTC API in C++: rooms of WebRTC DataChannel peers, relayed by the server.
//
//   peerrtc::SignalingManager manager;
//   manager.on_message([](const peerrtc::Message& m) { db.save(m.room, m.sender, m.data); });
//   // in any HTTP framework:
//   json answer = manager.offer(body["room"], body["peer_id"], body["offer"]);
//
// Thread safety: every method may be called from any thread. The manager owns one network
// thread (all WebRTC state) and hook threads (on_message, on_peer_joined, on_peer_left, and
// server-side participants' callbacks). A call from another thread waits for the network thread
// at most Config::api_timeout, then throws ApiError(503); so does any call once shutdown() has
// begun. The filter runs on the network thread and must be fast; calls made from it run inline,
// and shutdown() from it throws std::logic_error (it would wait for itself).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "peerrtc/config.hpp"
#include "peerrtc/limits.hpp"

namespace peerrtc {

using json = nlohmann::json;

// An API call that the client got wrong (or a limit): carries the HTTP status to answer with.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// One relayed message as the backend sees it.
struct Message {
  std::string room;
  std::string sender;  // peer id, or a server-side participant's name, or "server"
  std::string data;    // text (UTF-8 as sent) or raw bytes
  bool binary = false;
  std::optional<std::string> to;  // set for a direct message
  // Protocol v2 (docs/protocol.md "v2"): the room's seq this message was stamped with and the
  // room's epoch then; the sender's client message id (0: none, a v1 peer or the backend). Set
  // for on_relayed (the Redis Stream keeps them so that another node can resume the room);
  // seq 0 / empty epoch elsewhere (on_message, filters, participants).
  uint64_t seq = 0;
  std::string epoch;
  uint64_t cmid = 0;
};

// What the filter decides for a message before it is relayed.
struct FilterResult {
  enum class Action { Pass, Drop, Replace } action = Action::Pass;
  std::string replacement;  // the new data for Replace (same kind: text stays text)
  std::string reason;       // for Drop: told to the sender in an `error` event (code "filtered")
  static FilterResult pass() { return {}; }
  static FilterResult drop(std::string why = "message rejected") { return {Action::Drop, {}, std::move(why)}; }
  static FilterResult replace(std::string data) { return {Action::Replace, std::move(data), {}}; }
};

// A fixed-bucket histogram of durations, kept by the network thread without a lock or an
// allocation (observe() is a few compares and adds) and copied out by stats(). bounds_ns are
// the buckets' upper bounds (inclusive, ascending, in nanoseconds); counts[i] is the number of
// samples in bucket i alone (not cumulative): bounds_ns[i-1] < v <= bounds_ns[i], and
// counts[N] those above the last bound (Prometheus' +Inf bucket). GET /metrics turns them
// into Prometheus histograms (in seconds, cumulative), GET /stats shows them as they are.
template <size_t N>
struct DurationHistogram {
  std::array<uint64_t, N> bounds_ns{};
  std::array<uint64_t, N + 1> counts{};
  uint64_t count = 0;
  uint64_t sum_ns = 0;
  void observe(uint64_t ns) {
    size_t i = 0;
    while (i < N && ns > bounds_ns[i]) ++i;
    ++counts[i];
    ++count;
    sum_ns += ns;
  }
};

// Relay latency: from a peer's message handed up by its SCTP association to the fan-out's
// last send handed to the receivers' SCTP associations (participants' queues): 1 us .. 100 ms.
inline constexpr std::array<uint64_t, 16> kRelayLatencyBoundsNs{
    1'000,     2'500,     5'000,     10'000,     25'000,     50'000,     100'000,    250'000,
    500'000,   1'000'000, 2'500'000, 5'000'000, 10'000'000, 25'000'000, 50'000'000, 100'000'000};
// Handshake time: from the offer accepted (the answer made) to the peer's `peerrtc` channel
// open (the peer joined: ICE, DTLS, SCTP and DCEP done): 5 ms .. 30 s.
inline constexpr std::array<uint64_t, 12> kHandshakeBoundsNs{
    5'000'000,   10'000'000,  25'000'000,    50'000'000,    100'000'000,   250'000'000,
    500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000, 30'000'000'000};

// SCTP (usrsctp) counters of the whole process: every association, every manager in it (usrsctp
// is one stack per process). Packets are SCTP packets (one DTLS record each); chunks DATA chunks.
struct SctpStats {
  uint64_t packets_in = 0, packets_out = 0;
  uint64_t packets_bundled = 0;  // usrsctp's packets sent inside another of the same turn
  uint64_t data_chunks_in = 0, data_chunks_out = 0;  // retransmissions included
  uint64_t sacks_in = 0, sacks_out = 0;
  // Retransmissions and their cause: DATA chunks sent again (any cause); of them, by fast
  // retransmit (SACKs reported them missing); T3-rtx timeouts (no SACK within the RTO, the
  // >= 1 s stalls) and the chunks those timeouts marked for resending.
  uint64_t retransmitted_chunks = 0, fast_retransmits = 0, t3_timeouts = 0, t3_marked_chunks = 0;
  uint64_t duplicate_data_in = 0;      // DATA chunks received again (our SACK lost or late)
  uint64_t delayed_sack_timeouts = 0;  // SACKs sent by the delayed-SACK timer
  uint64_t window_probes = 0;          // sent while a peer's receive window was zero
  uint64_t data_dropped_no_room = 0;   // incoming DATA dropped: our receive window or chunk limit
  uint64_t packets_dropped = 0;        // incoming packets usrsctp discarded (short, bad tag, no association)
  // A peer's path came back (a valid ICE check after a silence, or a new selected address) while
  // data waited for its acknowledgement: a HEARTBEAT went out at once (path_returns); the
  // HEARTBEAT-ACKs received (their arrival resets the backed-off timer); the packets of a
  // retransmission timeout sent again at such a return (docs/architecture.md "SCTP timers").
  uint64_t path_returns = 0, heartbeat_acks_in = 0, path_return_resends = 0;
  // Server-side closes that send a last event (moved, kicked) wait for the peer to acknowledge
  // what was queued, then SHUTDOWN: begun, and ABORTed at their 2-s deadline.
  uint64_t graceful_closes = 0, graceful_close_timeouts = 0;
  // Our last DATA chunk sent again (flagged SACK-immediately) because a peer kept sending DATA
  // without a SACK while ours waited for one: a stall only the T3-rtx timeout would have ended
  // (docs/architecture.md "SCTP timers").
  uint64_t loss_probes = 0;
};

struct Stats {
  size_t rooms = 0, peers = 0, pending = 0;
  uint64_t messages_relayed = 0;   // frames received from peers and relayed (not the dropped or refused)
  uint64_t deliveries = 0;         // frames sent to receivers
  uint64_t dropped_too_large = 0, dropped_bad_frame = 0, dropped_filtered = 0,
           dropped_unknown_peer = 0, dropped_send = 0, dropped_rate_limited = 0;
  // The wire (logged at debug): datagrams from unknown addresses or with unknown ufrags, bad
  // STUN for a known peer, DTLS from unauthenticated addresses, bad DCEP / unknown streams.
  uint64_t dropped_datagrams = 0, dropped_stun = 0, dropped_dtls = 0, dropped_sctp_messages = 0;
  uint64_t datagrams_in = 0, datagrams_out = 0;  // on the UDP port (deliveries/datagrams_out = bundling)
  uint64_t senders_paused = 0;               // times a sender was paused for a slow receiver
  uint64_t slow_receivers_disconnected = 0;  // receivers dropped as too slow
  uint64_t ice_restarts = 0;                 // ICE restarts: a live connection took new ICE credentials
  // Datagrams and ICE-TCP frames whose handling threw (a bug, or a callback that threw): each
  // was dropped and logged (error), and every other peer went on.
  uint64_t receive_errors = 0;
  // The volatile lane (docs/protocol.md "Volatile lane"): messages relayed on it, frames sent to
  // receivers, and frames not sent, by cause: the receiver was congested, had no volatile
  // channel open, or the send failed.
  uint64_t volatile_relayed = 0, volatile_deliveries = 0;
  uint64_t volatile_dropped_congested = 0, volatile_dropped_no_channel = 0, volatile_dropped_send = 0;
  uint64_t hook_events = 0, hook_dropped = 0;
  // Protocol v2: peers that came back within their resume window, resumes and fresh joins that
  // were told of a gap (resume_gap), and messages sent again (a repeated cmid) not relayed twice.
  uint64_t resumes = 0, resume_gaps = 0, repeats_dropped = 0;
  // Config::HookOverflow::Backpressure: times a peer was paused because the hook queue was full.
  uint64_t hook_backpressure_pauses = 0;
  // ICE-TCP connections: taken, refused (limits), closed for sending no valid STUN request in
  // time or a bad frame first, frames each way, packets dropped at a full write queue, open now.
  uint64_t tcp_accepted = 0, tcp_refused = 0, tcp_closed_no_stun = 0, tcp_closed_bad_frame = 0;
  uint64_t tcp_frames_in = 0, tcp_frames_out = 0, tcp_dropped_send = 0;
  // Peers whose selected ICE-TCP connection closed and that went on over another path they had
  // proven (a UDP address) instead of ending.
  uint64_t tcp_path_fallbacks = 0;
  size_t tcp_open = 0;
  // One sample per relayed message (count == messages_relayed) and per peer joined.
  DurationHistogram<kRelayLatencyBoundsNs.size()> relay_latency{kRelayLatencyBoundsNs};
  DurationHistogram<kHandshakeBoundsNs.size()> handshake{kHandshakeBoundsNs};
  SctpStats sctp;
};

// Stats as JSON (GET /stats, the Python module): every counter under its field's name, the
// ICE-TCP ones in an object "ice_tcp", the SCTP ones in an object "sctp", and the histograms as
// {"le_us": [upper bounds in microseconds], "counts": [per bucket, not cumulative; one more
// than le_us: the last is above the last bound], "count", "sum_us"} under "relay_latency" and
// "handshake".
json to_json(const Stats& s);

class Participant;

class SignalingManager {
 public:
  explicit SignalingManager(Config config = {});
  ~SignalingManager();  // closes every peer, stops the threads
  SignalingManager(const SignalingManager&) = delete;
  SignalingManager& operator=(const SignalingManager&) = delete;

  // Rooms and peer ids, here and below, are names (docs/protocol.md "Names"): 1 to 64 bytes of
  // UTF-8, no control characters, no white space at either end, compared byte for byte (no
  // normalisation: pass NFC); anything else throws ApiError(400) quoting the name.
  // PeerPyRTC's three calls. `offer` is {"sdp": ..., "type": "offer"}. Throws ApiError.
  // Returns {"sdp", "type": "answer", "peer_id", "room", "token", "max_message_size"}.
  // With Config::join_secret, `join_token` must be a valid join token for (room, peer_id):
  // ApiError(401) when it is empty, ApiError(403) when it is expired, forged or for another
  // room or peer; nothing is created then.
  // `fields`: the offer body's optional fields (docs/protocol.md): protocol v2's
  // {"protocol": 2, "resume": {"epoch", "seq"}} ("v2"; the answer then says "protocol": 2) and
  // {"restart": true} ("ICE restart"); ApiError(400) when malformed. An offer with the member's
  // token from its live connection's DTLS endpoint (same fingerprint) is an ICE restart: that
  // connection keeps its DTLS and SCTP state, membership and queues and gets new ICE
  // credentials; the answer adds "restart": true. `restart: true` insists on one: ApiError(409)
  // when the offer cannot be one.
  json offer(const std::string& room, const std::string& peer_id, const json& offer,
             const std::string& token = {}, const std::string& join_token = {}, const json& fields = {});
  void candidate(const std::string& room, const std::string& peer_id, const json& candidate,
                 const std::string& token = {});
  void leave(const std::string& room, const std::string& peer_id, const std::string& token = {});

  // Any framework in three lines: route POST /offer, /candidate, /leave bodies here.
  // `action` is "offer", "candidate" or "leave"; returns {status, body}; never throws for bad input.
  std::pair<int, json> handle(const std::string& action, const std::string& body);

  json rooms_info() const;                      // {"rooms": [{"room", "peers": [...]}]}
  json room_peers(const std::string& room) const;  // {"room", "peers"}; ApiError 404 if none

  // Hooks, run on the hook threads (bounded queue: when it is full the oldest event is dropped
  // and counted in Stats::hook_dropped). Each call adds a subscriber (several may listen: an
  // example's echo and the application's own tap) and returns its id for remove_handler().
  using HandlerId = uint64_t;
  HandlerId on_message(std::function<void(const Message&)> fn);
  HandlerId on_peer_joined(std::function<void(const std::string& room, const std::string& peer_id, const json& info)> fn);
  HandlerId on_peer_left(std::function<void(const std::string& room, const std::string& peer_id, const json& info)> fn);
  // Every relayed message: the peers' and participants' (as on_message) and also the backend's
  // own (broadcast, send_to: sender "server"); direct ones carry `to`. For mirrors of a room's
  // message stream (peerrtc-server --redis-stream). Same threads and queue as on_message.
  HandlerId on_relayed(std::function<void(const Message&)> fn);
  bool remove_handler(HandlerId id);  // false if no such subscriber
  // Runs on the network thread for every message before relay; must be fast and not block.
  void set_filter(std::function<FilterResult(const Message&)> fn);

  // Server-sent messages (sender "server"). Return how many peers it was queued to. Data larger
  // than the largest payload (262078 bytes) throws ApiError(413).
  size_t broadcast(const std::string& room, const std::string& data, bool binary = false);
  bool send_to(const std::string& room, const std::string& peer_id, const std::string& data,
               bool binary = false);

  // Config::history: gives `room` the history of an earlier life (oldest first; e.g. read back
  // from a Redis Stream after the room moved to this process) unless it has one already. A room
  // that does not exist yet keeps it for its first peer's welcome (for a minute at most).
  struct HistoryItem {
    std::string sender;
    std::string data;
    bool binary = false;
    int64_t ts_ms = 0;  // Unix ms
  };
  void seed_history(const std::string& room, std::vector<HistoryItem> items);
  // Protocol v2 across nodes (docs/protocol.md "Cluster resume"): gives `room`, if it is not
  // here yet, the relayed messages of its last epoch elsewhere (e.g. read back from a Redis
  // Stream; Message::seq, epoch and cmid set; items of another epoch than the last item's are
  // ignored). A v2 peer whose offer resumes that epoch gets them after its welcome, and its
  // cmids among them count as seen. Kept for the resume window, at most Config::resume_buffer
  // messages and resume_buffer_bytes (the newest). No-op without a window.
  void seed_resume(const std::string& room, std::vector<Message> items);

  // Cluster: this node no longer serves `room` (its lease was lost). Every peer is told
  // {"type":"moved","reason"} and closed (the JS client re-offers at once with `resume` and
  // lands on the room's new node), participants get the same event last; nobody sees a
  // peer_left and no presence hook runs; the room is dropped here. Returns how many members it
  // had (0: no such room).
  size_t evict_room(const std::string& room, const std::string& reason);
  // Removes a peer (or participant) from a room: it gets {"type":"kicked","reason"} and its
  // connection is closed; the others see peer_left with reason "kicked[: <reason>]". False if
  // no such member. `reason`: at most 256 bytes of UTF-8 (else ApiError 400).
  bool kick(const std::string& room, const std::string& peer_id, const std::string& reason = {});

  // A server-side participant: joins `room` as `name` (a peer id), gets the room's messages and
  // presence, and sends to it. Leaves when the returned object is destroyed or leave() is called.
  std::shared_ptr<Participant> join(const std::string& room, const std::string& name,
                                    std::function<void(const Message&)> on_message,
                                    std::function<void(const json& event)> on_event = {});

  // ICE-TCP through another server's port (Config::ice_tcp_handoff): hands over an accepted
  // TCP connection, by its descriptor, whose first bytes (already read from it) are
  // `first_bytes`. The manager owns the descriptor from the call on, and closes it if ICE-TCP
  // is off, a limit is reached or the manager is stopping. Thread-safe; returns at once.
  void accept_tcp(int fd, std::string first_bytes);
  // True when a connection's first bytes start like ICE-TCP (an RFC 4571 frame holding a STUN
  // Binding request); HTTP requests never do. Needs 4 bytes.
  static bool looks_like_ice_tcp(std::string_view first_bytes);

  Stats stats() const;
  uint16_t udp_port() const;
  const Config& config() const;
  // The body of GET /config: {"iceServers": [RTCIceServer...]} in the W3C shape, plus "ttl"
  // (seconds) when the TURN credentials were minted from Config::turn_secret. Each call mints
  // fresh ones for `peer_id` (empty: a random id); a peer_id that is not a valid peer id
  // throws ApiError(400).
  json ice_config(const std::string& peer_id = "") const;
  void shutdown();           // closes every peer (they see the connection end); idempotent

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

class Participant {
 public:
  ~Participant();
  const std::string& room() const { return room_; }
  const std::string& name() const { return name_; }
  bool send(const std::string& data, bool binary = false);  // to everyone else in the room
  bool send_to(const std::string& peer_id, const std::string& data, bool binary = false);
  void leave();

 private:
  friend class SignalingManager;
  Participant(std::weak_ptr<SignalingManager::Impl> impl, std::string room, std::string name)
      : impl_(std::move(impl)), room_(std::move(room)), name_(std::move(name)) {}
  std::weak_ptr<SignalingManager::Impl> impl_;
  std::string room_, name_;
  bool left_ = false;
};

}  // namespace peerrtc
