// Who is in which room: members (remote peers and server-side participants), their tokens, the
// room limits, and the map from engine peer ids to members. Pure data and rules, no network and
// no threads (the network thread owns it), so it is unit-tested alone
// (tests/unit/signaling/room_registry_test.cpp). Rule violations throw ApiError with the HTTP
// status the API answers (docs/protocol.md).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "signaling/resume_buffer.hpp"
#include "signaling/token_bucket.hpp"

namespace peerrtc::signaling {

using PeerId = uint64_t;  // the engine's id of a remote peer; 0 for a server-side participant
using Clock = std::chrono::steady_clock;

struct ParticipantInbox;  // relay.hpp

struct Member {
  PeerId engine_id = 0;
  uint16_t stream = 0xFFFF;  // a peer's `peerrtc` channel once open
  uint16_t volatile_stream = 0xFFFF;  // its `peerrtc-volatile` channel (the volatile lane) once open
  bool joined = false;       // channel open (or participant added) and announced
  std::string token;
  // Backpressure (docs/architecture.md): senders paused because this receiver is congested,
  // since when it is congested, and how many receivers hold this member back as a sender.
  std::vector<std::string> waiting_senders;
  std::optional<Clock::time_point> congested_since;
  int blocked_by = 0;
  bool hook_held = false;  // one of blocked_by: paused while the hook queue is full
  TokenBucket message_rate, byte_rate;
  Clock::time_point last_rate_error{};
  std::shared_ptr<ParticipantInbox> inbox;  // participants only
  // When its current session's offer was accepted, until its channel opens (Stats::handshake).
  std::optional<Clock::time_point> offered_at;
  // Protocol v2 (docs/protocol.md "v2"). A v2 peer whose connection ended without a leave is
  // `away` until away_until (its resume window); `away_reason` is what its peer_left will say.
  int protocol = 1;
  bool away = false, away_announced = false;
  Clock::time_point away_until{};
  std::string away_reason;
  // The pending session's offer asked to resume after this seq (with the room's epoch then).
  struct ResumeFrom {
    std::string epoch;
    uint64_t seq = 0;
  };
  std::optional<ResumeFrom> resume_from;
  bool resumed = false;       // the pending session took over this member (right token)
  bool leaving = false;       // closed by a leave or a kick: no away
  CmidLog cmids;
  std::string acks;           // acks not yet sent (Relay::flush_acks, or riding on a delivery)
  Clock::time_point acks_since{};  // when `acks` stopped being empty
  bool is_participant() const { return engine_id == 0; }
};

struct Room {
  std::map<std::string, Member> members;  // by peer id / participant name
  // Protocol v2: the room's life on this server (new each time it is made) and its last seq.
  std::string epoch;
  uint64_t seq = 0;
  size_t v2_members = 0;  // peers that negotiated v2 (the buffer is kept only while there are)
  ResumeBuffer buffer;
};

// A new room epoch: `<server boot id>.<random>`, both 8 hex digits; the boot part tells a
// resume whether the server restarted.
std::string new_epoch();
const std::string& boot_id();

struct RegistryLimits {
  size_t max_rooms = 10000;
  size_t max_peers_per_room = 500;
  double message_rate = 500, message_burst = 1000;
  double byte_rate = 16 * 1024 * 1024, byte_burst = 32 * 1024 * 1024;
};

class RoomRegistry {
 public:
  explicit RoomRegistry(RegistryLimits limits) : limits_(limits) {}

  // An offer for (room, peer_id) with `token`: returns the member it reconnects (right token),
  // or nullptr when it would be a new member and the limits allow one. Throws 409 (the id is
  // taken: by a participant, or by a peer and no token), 403 (wrong token), 503 (room limit,
  // room full). Changes nothing.
  Member* admit(const std::string& room, const std::string& peer_id, const std::string& token);
  // A new remote peer (after admit() returned nullptr), with a fresh token and rate limits.
  Member& add_peer(const std::string& room, const std::string& peer_id, PeerId engine_id, int protocol = 1);
  // A reconnect: `m` (from admit()) now belongs to `engine_id`; returns the engine id it had.
  PeerId replace_session(const std::string& room, const std::string& peer_id, PeerId engine_id);
  // A server-side participant; throws 409 if the name is taken, 503 at the room limit.
  Member& add_participant(const std::string& room, const std::string& name, std::shared_ptr<ParticipantInbox> inbox);

  // The member that `token` proves (leave, candidate): 404 no such room / peer, 403 a
  // participant or a wrong token; a missing (empty) token is a 403 unless `allow_missing`.
  Member& authorize(const std::string& room, const std::string& peer_id, const std::string& token,
                    bool allow_missing = false);

  Room* room(const std::string& name);
  Member* find(const std::string& room, const std::string& name);
  // The member a remote peer's session is, if that session still owns the slot.
  struct Ref {
    std::string room, name;
    Member* member;
  };
  std::optional<Ref> by_engine(PeerId id);
  // Forgets an engine session (closed); the member stays if a newer session owns it.
  void forget_session(PeerId id);

  // Removes the member; the room goes when it is empty. Returns whether it was joined.
  bool remove(const std::string& room, const std::string& name);

  std::vector<std::string> joined_names(const Room& room, const std::string& except = {}) const;
  const std::unordered_map<std::string, Room>& rooms() const { return rooms_; }
  std::unordered_map<std::string, Room>& rooms() { return rooms_; }
  size_t sessions() const { return sessions_.size(); }

 private:
  RegistryLimits limits_;
  std::unordered_map<std::string, Room> rooms_;
  struct Session {
    std::string room, name;
  };
  std::unordered_map<PeerId, Session> sessions_;  // engine id -> member
};

}  // namespace peerrtc::signaling
