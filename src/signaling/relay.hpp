// The relay: everything that happens on the network thread when a peer's frame arrives, a peer
// opens its channel, drains, closes, or the backend (broadcast, server-side participants)
// speaks. It reaches peers only through PeerLink (the Engine in production, fakes in
// tests/unit/signaling/relay_test.cpp), rooms through the RoomRegistry, and the backend through
// Hooks.
//
// Re-entrancy, by construction: a send can synchronously close a peer (a full queue disconnects
// a slow receiver, and the engine runs on_closed inside close), and closing or resuming a peer
// changes rooms. So every entry point runs as a *turn*; callbacks that change membership or
// resume a paused sender (on_closed, on_channel_closed, on_buffered_low, releasing senders,
// disconnecting a slow receiver's member) are queued while a turn is running and run, in order,
// when the outermost turn ends. A fan-out therefore never sees its room change under it.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/bytes.hpp"
#include "peerrtc/signaling_manager.hpp"
#include "rtc/peer_connection.hpp"
#include "signaling/history.hpp"
#include "signaling/hooks.hpp"
#include "signaling/room_registry.hpp"

namespace peerrtc::signaling {

// How the relay reaches a remote peer. close() may call Relay::on_closed before it returns.
class PeerLink {
 public:
  virtual ~PeerLink() = default;
  virtual rtc::SendStatus send(PeerId id, uint16_t stream, ByteView frame, bool binary) = 0;
  virtual size_t buffered_amount(PeerId id) = 0;
  virtual void set_receive_paused(PeerId id, bool paused) = 0;
  virtual void close(PeerId id, const std::string& reason) = 0;
  // Closes once what was sent to the peer has arrived (its last event, e.g. `moved`, `kicked`),
  // or at `timeout` (then at once, counted). on_closed may come much later, or inside the call.
  virtual void close_after_flush(PeerId id, const std::string& reason, std::chrono::milliseconds timeout) {
    (void)timeout;
    close(id, reason);
  }
  // The volatile lane's congestion signal: bytes sent to the peer and not yet acknowledged, in
  // the SCTP stack and our queue (rtc::PeerConnection::bytes_outstanding).
  virtual size_t bytes_outstanding(PeerId id) { return buffered_amount(id); }
};

// A server-side participant's lossless queue: the network thread appends messages and events,
// one drain task at a time (HookExecutor::post_always) hands them to its callbacks on a hook
// thread. It is subject to the same backpressure as a peer's SCTP queue: past the high water
// the senders are paused, at the maximum the participant is removed as too slow (told by an
// `error` event with code too_slow); nothing is dropped silently.
struct ParticipantInbox {
  std::string room, name;
  std::function<void(const Message&)> on_message;
  std::function<void(const json&)> on_event;
  std::mutex mu;
  std::deque<std::variant<Message, json>> items;
  size_t bytes = 0;
  bool draining = false;
  bool accepting = true;  // false once it left or was removed: nothing more is queued
  bool discard = false;   // it left by itself: what is still queued is not delivered either
  bool signal_drained = false;  // the relay waits to hear when bytes fall under low water
};

struct RelayConfig {
  size_t high_water = 1024 * 1024;
  size_t max_queue = 8 * 1024 * 1024;
  std::chrono::milliseconds slow_receiver_grace{10000};
  double message_rate = 500, byte_rate = 16 * 1024 * 1024;  // for the rate_limited text
  double message_burst = 1000, byte_burst = 32 * 1024 * 1024;  // told to v2 clients (welcome `rate`)
  // Config::history / history_bytes: room-wide messages kept per room and replayed to a peer
  // that joins (0 = none).
  size_t history = 0;
  size_t history_bytes = 1024 * 1024;
  // How long a server-side close that sends a last event (moved, kicked) waits for the peer to
  // acknowledge what was queued before it ABORTs (PeerLink::close_after_flush).
  std::chrono::milliseconds final_event_timeout{2000};
  // Protocol v2: an ack waits this long for more acks to the same sender before it goes (riding
  // on a delivery to it, or at a tick): one ack frame per ~4 messages at 200 msg/s instead of one
  // per message, each an SCTP message of its own. (The client's ackStallMs is 1 s.)
  std::chrono::milliseconds ack_delay{20};
  // Protocol v2 resume (Config::resume_window, resume_buffer, resume_buffer_bytes).
  std::chrono::seconds resume_window{120};
  size_t resume_buffer = 10000;
  size_t resume_buffer_bytes = 16 * 1024 * 1024;
  // Config::HookOverflow::Backpressure: a peer whose message leaves at least hook_high_water
  // hook tasks waiting is paused until they fall to hook_low_water (0 = off).
  size_t hook_high_water = 0;
  size_t hook_low_water = 0;
  // The volatile lane: a receiver with more than this many bytes sent to it and not yet
  // acknowledged (PeerLink::bytes_outstanding) is congested: its volatile frames are dropped
  // (counted) instead of queued (Config::volatile_max_queue).
  size_t volatile_max_queue = 64 * 1024;
};

class Relay {
 public:
  // post_to_net: queues a task on the network thread (a drained participant tells the relay).
  Relay(RelayConfig config, RoomRegistry& registry, PeerLink& link, Hooks& hooks,
        std::function<bool(std::function<void()>)> post_to_net);
  ~Relay();

  // Runs on the network thread before relay; pass / drop / replace. Must be fast.
  std::function<FilterResult(const Message&)> filter;
  Stats& counters() { return counters_; }

  // From the engine, for a peer session `id` (network thread).
  void on_channel_open(PeerId id, uint16_t stream, const std::string& label);
  void on_message(PeerId id, uint16_t stream, bool binary, ByteView data);
  void on_buffered_low(PeerId id);
  void on_channel_closed(PeerId id, uint16_t stream);
  void on_closed(PeerId id, const std::string& reason);

  // A reconnect's new session took the member's slot (RoomRegistry::replace_session); the old
  // session, if any, is closed without a leave. `resume` (a v2 offer's `resume`): the new
  // session gets every message after it once its channel opens (docs/protocol.md "v2").
  void session_replaced(const std::string& room, const std::string& peer_id, PeerId old_session,
                        std::optional<Member::ResumeFrom> resume = {});
  // A new v2 member's offer asked to resume (the server did not know its token): its welcome is
  // followed by a resume_gap saying why nothing could be replayed.
  void fresh_join_resume(const std::string& room, const std::string& peer_id, Member::ResumeFrom from);
  // The room's messages of an earlier epoch, from the Redis Stream (a room that came to this node
  // after its node failed or lost its lease): a fresh join whose `resume` names that epoch gets
  // them (docs/protocol.md "Cluster resume"). Kept for the resume window (+10 s); replaces an
  // earlier one unless the room is here already.
  void seed_resume(const std::string& room, PriorEpoch prior);

  // The room is no longer served here (a cluster node lost its lease): every peer gets
  // {"type":"moved","reason"} and is closed, participants get the event last; nobody sees a
  // peer_left and no presence hook runs; the room and its buffers are dropped. Returns how many
  // members it had (0: no such room).
  size_t evict_room(const std::string& room, const std::string& reason);

  // The backend speaks as `sender` ("server", or a participant's name). Returns the number of
  // members it was queued to. `hook`: the message hooks see it too (participants' messages).
  size_t send(const std::string& room, const std::string& sender, ByteView payload, bool binary,
              std::optional<std::string_view> to, bool hook);
  // A server-side participant joins / leaves (or a peer is told to leave: API /leave).
  void join_participant(const std::string& room, const std::string& name, std::shared_ptr<ParticipantInbox> inbox);
  void leave(const std::string& room, const std::string& name, const std::string& reason);
  // The backend removes a member: a peer is told ({"type":"kicked","reason"}) and its connection
  // closed; a participant gets the event last. The others see peer_left with reason
  // "kicked[: reason]". False if no such member.
  bool kick(const std::string& room, const std::string& name, const std::string& reason);

  // A room's history (null if none is kept for it). seed_history gives a room that has no
  // history yet the entries (oldest first) of an earlier life (e.g. from a Redis Stream).
  const HistoryRing* history(const std::string& room) const;
  void seed_history(const std::string& room, std::vector<HistoryEntry> entries);

  // Periodic (network thread): disconnects receivers congested for longer than the grace.
  void tick(Clock::time_point now);

  RoomRegistry& registry() { return registry_; }

 private:
  struct Turn {
    explicit Turn(Relay& r) : r(r) { ++r.depth_; }
    ~Turn() {
      if (--r.depth_ == 0) r.run_deferred();
    }
    Relay& r;
  };
  template <typename F>
  void run_or_defer(F&& f) {
    if (depth_ > 0) {
      deferred_.emplace_back(std::forward<F>(f));
    } else {
      Turn t(*this);
      f();
    }
  }
  void run_deferred();
  // `received`: when the SCTP association handed the message up (Stats::relay_latency).
  void handle_message(PeerId id, uint16_t stream, bool binary, ByteView data, Clock::time_point received);

  // False when a direct message's recipient is not in the room (the sender is told).
  // Stamps the room's next seq (returned; 0 when refused) and keeps the message for resumes.
  uint64_t relay(Room& room, const std::string& room_name, const std::string& sender, ByteView payload,
                 bool binary, std::optional<std::string_view> to, Member* sender_member, size_t* delivered,
                 uint64_t cmid = 0);
  bool deliver_to_participant(const std::string& room_name, const std::string& id, Member& m,
                              const std::string& sender, Member* sender_member, Message msg);
  void send_event(Member& m, const json& event);
  // After a relay: the on_relayed hooks (with the seq, the room's epoch and the cmid), and the
  // message hooks too when `message_hooks`.
  void notify_hooks(const std::string& room, const std::string& sender, ByteView payload, bool binary,
                    std::optional<std::string_view> to, bool message_hooks, uint64_t seq, uint64_t cmid = 0);
  void announce(Room& room, const std::string& except, const json& event);
  void tell_sender(Member& m, const char* code, const std::string& error, std::optional<std::string_view> to = {},
                   uint64_t cmid = 0);
  // v2: a cmid's outcome, sent in a batch once the oldest pending ack waited ack_delay.
  void ack(Member& m, uint64_t cmid, uint64_t seq, Clock::time_point now = Clock::now());
  // `m` gets its first pending ack: remember when, and flush it later.
  void mark_ack_pending(Member& m, Clock::time_point now);
  void nack(Member& m, uint64_t cmid, const char* code);
  void flush_acks(Clock::time_point now);
  // v2: the connection ended without a leave; the member stays, away, for the resume window.
  void go_away(const std::string& room, const std::string& name, Member& m, const std::string& reason);
  // v2 part of a welcome: resume gap and replay. Returns the replay's entries (indexes).
  void welcome_v2(Room& room, const std::string& room_name, const std::string& name, Member& m, bool resumed,
                  std::optional<Member::ResumeFrom> from, bool reconnect);
  size_t max_payload_for(const Room& room, const Member* sender) const;
  void member_joined(const std::string& room, const std::string& name, bool reconnect);
  void member_left(const std::string& room, const std::string& name, const std::string& reason);
  HistoryRing& ring(const std::string& room);  // made on first use (with a waiting seed)
  void remember(const std::string& room, const std::string& sender, ByteView payload, bool binary);
  void replay_history(const std::string& room, Member& m);
  void hold_sender(Member& receiver, const std::string& sender_name, Member& sender);
  void release_senders(const std::string& room, Member& receiver);
  // `sender` starts over (a new session, or it left): no receiver holds it any longer, so that
  // a congested receiver pauses its new session again (its blocked_by restarts at 0).
  void forget_held_sender(const std::string& room, const std::string& sender);
  void disconnect_slow(const std::string& room, const std::string& name, Member& m, const std::string& why);
  void participant_drained(const std::string& room, const std::string& name);
  // Hook backpressure (RelayConfig::hook_high_water): pause `sender` while the hook queue is full;
  // hooks_drained() (posted by the executor's drain callback) lets every such sender go on.
  void hold_for_hooks(const std::string& room, const std::string& name, Member& sender);
  void hooks_drained();
  // The volatile lane (relay_volatile.cpp): a frame from a peer's `peerrtc-volatile` channel,
  // relayed only to the others' volatile channels, dropped (counted) where it would wait.
  void handle_volatile(const RoomRegistry::Ref& ref, bool binary, ByteView data, Clock::time_point received);
  // The checks both lanes make on what a member sends, in this order. take_rate: its message and
  // byte buckets (`data_size` is the whole frame); over them, counted, a nack for a cmid and at
  // most one `rate_limited` event a second. run_filter: the filter, if any, may drop (counted,
  // `filtered`) or replace the payload (`replaced` then holds it; too large for `limit`:
  // `too_large`). Each returns false when the message is not to be relayed.
  bool take_rate(Member& me, const RoomRegistry::Ref& ref, size_t data_size, Clock::time_point now, uint64_t cmid);
  bool run_filter(Member& me, const RoomRegistry::Ref& ref, ByteView& payload, std::string& replaced, bool binary,
                  std::optional<std::string_view> to, uint64_t cmid, size_t limit, const char* lane);
  bool volatile_congested(const Member& m);
  // Queues an item for a participant (not once it stopped accepting, unless `last`: the event
  // that tells it why it was removed).
  void post_inbox(const std::shared_ptr<ParticipantInbox>& inbox, std::variant<Message, json> item, size_t bytes,
                  bool last = false);

  RelayConfig cfg_;
  RoomRegistry& registry_;
  PeerLink& link_;
  Hooks& hooks_;
  std::function<bool(std::function<void()>)> post_to_net_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  Stats counters_;
  int depth_ = 0;
  bool running_deferred_ = false;
  std::deque<std::function<void()>> deferred_;
  Clock::time_point last_slow_check_{};
  std::unordered_map<std::string, HistoryRing> history_;  // by room; erased with the room
  // Histories given before their room exists (seed_history); taken by the room's ring when it
  // is made, dropped after kSeedLifetime. At most kMaxSeeds.
  struct Seed {
    std::vector<HistoryEntry> entries;
    Clock::time_point at;
  };
  static constexpr std::chrono::seconds kSeedLifetime{60};
  static constexpr size_t kMaxSeeds = 1000;
  std::unordered_map<std::string, Seed> seeds_;
  std::unordered_map<std::string, PriorEpoch> priors_;  // seed_resume, by room; at most kMaxSeeds
  // welcome_v2 for a fresh join that resumes an epoch of the Stream: gaps, cmids, replay.
  json carry_over(Room& room, const std::string& name, Member& m, const PriorEpoch& prior, uint64_t after,
                  std::vector<const BufferedMessage*>& replay, std::vector<json>& gaps);
  std::vector<PeerId> ack_pending_;  // sessions with acks to send (Member::acks)
  std::vector<std::pair<std::string, std::string>> hook_held_;  // (room, name) paused for the hooks
};

}  // namespace peerrtc::signaling
