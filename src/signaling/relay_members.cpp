// Membership parts of the Relay: a member's welcome and its leaving, the history replayed to a
// newcomer, and the engine's and the API's membership calls (a channel opens or closes, a peer
// closes, a session is replaced, participants join, leave, kick). Same class and rules as
// relay.cpp (every entry point runs as a turn); split off to keep each file legible.
#include <utility>

#include "common/log.hpp"
#include "peerrtc/limits.hpp"
#include "signaling/frames.hpp"
#include "signaling/relay.hpp"

namespace peerrtc::signaling {

namespace {
constexpr const char* kChannelLabel = "peerrtc";
constexpr const char* kVolatileLabel = "peerrtc-volatile";  // the volatile lane (relay_volatile.cpp)
}  // namespace

// --- welcome and leaving ----------------------------------------------------------------------------

void Relay::member_joined(const std::string& room_name, const std::string& name, bool reconnect) {
  Room* room = registry_.room(room_name);
  Member* m = registry_.find(room_name, name);
  if (!room || !m) return;
  const bool resumed = std::exchange(m->resumed, false);
  auto from = std::exchange(m->resume_from, std::nullopt);
  const bool announced_away = std::exchange(m->away_announced, false);
  m->away = false;
  m->joined = true;
  if (m->protocol >= 2) {
    welcome_v2(*room, room_name, name, *m, resumed, std::move(from), reconnect);
    if (announced_away) {
      log().info("peer {} is back in room {}", name, room_name);
      announce(*room, name, {{"type", "peer_back"}, {"peer_id", name}});
    }
    if (reconnect) return;
    replay_history(room_name, *m);
    announce(*room, name, {{"type", "peer_joined"}, {"peer_id", name}});
    hooks_.presence(true, room_name, name, {{"peers", registry_.joined_names(*room)}});
    return;
  }
  send_event(*m, {{"type", "welcome"},
                  {"room", room_name},
                  {"peer_id", name},
                  {"peers", registry_.joined_names(*room, name)},
                  {"max_message_size", kMaxPayload}});
  if (reconnect) return;  // the room never saw this peer leave
  replay_history(room_name, *m);
  announce(*room, name, {{"type", "peer_joined"}, {"peer_id", name}});
  hooks_.presence(true, room_name, name, {{"peers", registry_.joined_names(*room)}});
}

void Relay::member_left(const std::string& room_name, const std::string& name, const std::string& reason) {
  Member* m = registry_.find(room_name, name);
  if (!m) return;
  release_senders(room_name, *m);
  forget_held_sender(room_name, name);  // a later member of that name starts unheld
  if (m->inbox) {
    std::lock_guard lock(m->inbox->mu);
    m->inbox->accepting = false;  // what was queued before still arrives (unless it left itself)
    if (reason == "left") m->inbox->discard = true;
  }
  const bool was_joined = registry_.remove(room_name, name);
  Room* room = registry_.room(room_name);
  if (was_joined && room) announce(*room, name, {{"type", "peer_left"}, {"peer_id", name}, {"reason", reason}});
  if (was_joined)
    hooks_.presence(false, room_name, name,
                    {{"reason", reason}, {"peers", room ? registry_.joined_names(*room) : std::vector<std::string>{}}});
  if (!room) {
    history_.erase(room_name);
    log().debug("room {} is empty and removed", room_name);
  }
}

// --- history --------------------------------------------------------------------------------------

HistoryRing& Relay::ring(const std::string& room) {
  auto it = history_.try_emplace(room, cfg_.history, cfg_.history_bytes).first;
  // A seed waiting for this room (seed_history before its first peer) goes in first.
  if (auto s = seeds_.find(room); s != seeds_.end()) {
    if (it->second.empty())
      for (auto& e : s->second.entries) it->second.push(std::move(e));
    seeds_.erase(s);
  }
  return it->second;
}

void Relay::remember(const std::string& room, const std::string& sender, ByteView payload, bool binary) {
  if (cfg_.history == 0) return;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  ring(room).push(HistoryEntry{sender, std::string(as_chars(payload)), binary, now_ms});
}

// Right after `welcome`: {"type":"history","count":K,"ts":[...]} and then the K messages, oldest
// first, as ordinary room-message frames. All in one turn on the network thread, so nothing
// relayed meanwhile can come between them. Participants (server-side) get no replay.
void Relay::replay_history(const std::string& room, Member& m) {
  if (m.is_participant() || !m.joined || cfg_.history == 0) return;
  const HistoryRing& h = ring(room);
  if (h.empty()) return;
  const auto& entries = h.entries();
  // The newest entries whose frames fit in half the peer's queue limit: a replay never gets a
  // peer disconnected as too slow, and `count` is what will arrive.
  size_t first = entries.size(), budget = cfg_.max_queue / 2;
  while (first > 0) {
    const auto& e = entries[first - 1];
    const size_t n = e.data.size() + e.sender.size() + 2;
    if (n > budget) break;
    budget -= n;
    --first;
  }
  if (first == entries.size()) return;
  json ts = json::array();
  for (size_t i = first; i < entries.size(); ++i) ts.push_back(entries[i].ts_ms);
  send_event(m, {{"type", "history"}, {"count", entries.size() - first}, {"ts", std::move(ts)}});
  for (size_t i = first; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const std::string frame = e.binary ? server_binary_frame(e.sender, as_bytes(e.data), false)
                                       : server_text_frame(e.sender, as_bytes(e.data), false);
    auto st = link_.send(m.engine_id, m.stream, as_bytes(frame), e.binary);
    if (st != rtc::SendStatus::Ok) {
      ++counters_.dropped_send;
      log().debug("history replay to {} in {} stopped: {}", m.engine_id, room, rtc::to_string(st));
      return;
    }
    ++counters_.deliveries;
  }
}

const HistoryRing* Relay::history(const std::string& room) const {
  auto it = history_.find(room);
  return it == history_.end() ? nullptr : &it->second;
}

void Relay::seed_history(const std::string& room, std::vector<HistoryEntry> entries) {
  if (cfg_.history == 0 || entries.empty()) return;
  if (auto it = history_.find(room); it != history_.end() && !it->second.empty()) return;  // it has its own
  if (registry_.room(room)) {
    auto& h = ring(room);
    if (h.empty())
      for (auto& e : entries) h.push(std::move(e));
    return;
  }
  // Not here yet: kept until its first member arrives (or dropped by tick after a while).
  if (seeds_.size() >= kMaxSeeds) seeds_.erase(seeds_.begin());
  seeds_[room] = Seed{std::move(entries), Clock::now()};
}

// --- membership -------------------------------------------------------------------------------------

void Relay::on_channel_open(PeerId id, uint16_t stream, const std::string& label) {
  run_or_defer([this, id, stream, label] {
    auto ref = registry_.by_engine(id);
    if (!ref) return;
    if (label == kVolatileLabel && ref->member->volatile_stream == 0xFFFF) {
      ref->member->volatile_stream = stream;  // frames on it take the volatile lane
      return;
    }
    if (label != kChannelLabel || ref->member->stream != 0xFFFF) {
      log().debug("peer {}: extra channel '{}' ignored", ref->name, label);
      return;
    }
    ref->member->stream = stream;
    if (auto offered = std::exchange(ref->member->offered_at, std::nullopt))
      counters_.handshake.observe(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - *offered).count()));
    const bool reconnect = ref->member->joined;  // a re-offer replaced a joined session
    member_joined(ref->room, ref->name, reconnect);
  });
}

void Relay::on_buffered_low(PeerId id) {
  run_or_defer([this, id] {
    auto ref = registry_.by_engine(id);
    if (!ref || (!ref->member->congested_since && ref->member->waiting_senders.empty())) return;
    // Queued behind a turn, the news may be stale: sends after it can have filled the queue again.
    if (link_.buffered_amount(id) > cfg_.high_water) return;
    release_senders(ref->room, *ref->member);
  });
}

void Relay::on_channel_closed(PeerId id, uint16_t stream) {
  run_or_defer([this, id, stream] {
    auto ref = registry_.by_engine(id);
    if (ref && ref->member->volatile_stream == stream) ref->member->volatile_stream = 0xFFFF;  // the lane only
    else if (ref && ref->member->stream == stream) link_.close(id, "channel closed");
  });
}

void Relay::on_closed(PeerId id, const std::string& reason) {
  run_or_defer([this, id, reason] {
    auto ref = registry_.by_engine(id);
    registry_.forget_session(id);
    if (!ref) return;  // a replaced session (reconnect) no longer owns the member slot
    Member& m = *ref->member;
    if (m.protocol >= 2 && cfg_.resume_window.count() > 0 && !m.leaving && m.joined && !m.is_participant()) {
      go_away(ref->room, ref->name, m, reason);
      return;
    }
    log().info("peer {} left room {}: {}", ref->name, ref->room, reason);
    member_left(ref->room, ref->name, reason);
  });
}

void Relay::session_replaced(const std::string& room, const std::string& peer_id, PeerId old_session,
                             std::optional<Member::ResumeFrom> resume) {
  Turn t(*this);
  Member* m = registry_.find(room, peer_id);
  if (!m) return;
  m->blocked_by = 0;
  m->hook_held = false;  // the new session starts unpaused (hooks_drained skips it)
  forget_held_sender(room, peer_id);  // and a receiver still congested pauses it again
  release_senders(room, *m);
  if (m->protocol >= 2) {
    // Until the new channel opens, messages for it wait in the buffer (it is away, silently
    // unless it was announced already); the channel's welcome replays them.
    m->resumed = true;
    m->resume_from = std::move(resume);
    m->acks.clear();
    if (!m->away && cfg_.resume_window.count() > 0) {
      m->away = true;
      m->away_until = Clock::now() + cfg_.resume_window;
      m->away_reason = "timeout";
    }
  }
  if (old_session) link_.close(old_session, "replaced by a reconnect");
}

void Relay::join_participant(const std::string& room, const std::string& name, std::shared_ptr<ParticipantInbox> inbox) {
  Turn t(*this);
  registry_.add_participant(room, name, std::move(inbox));
  member_joined(room, name, false);
}

void Relay::leave(const std::string& room, const std::string& name, const std::string& reason) {
  Turn t(*this);
  Member* m = registry_.find(room, name);
  if (!m) return;
  if (m->is_participant() || m->away) {
    // An away member has no connection (or only a resume's pending one, closed too): it leaves now.
    m->leaving = true;
    run_or_defer([this, room, name, reason] { member_left(room, name, reason); });
    if (!m->is_participant()) link_.close(m->engine_id, reason);
  } else {
    m->leaving = true;
    link_.close(m->engine_id, reason);
  }
}

bool Relay::kick(const std::string& room, const std::string& name, const std::string& reason) {
  Turn t(*this);
  Member* m = registry_.find(room, name);
  if (!m) return false;
  const json event{{"type", "kicked"}, {"reason", reason}};
  const std::string why = reason.empty() ? "kicked" : "kicked: " + reason;
  log().info("{} {} kicked from room {}{}", m->is_participant() ? "participant" : "peer", name, room,
             reason.empty() ? "" : ": " + reason);
  if (m->is_participant()) {
    if (m->inbox) post_inbox(m->inbox, event, 0, true);
    run_or_defer([this, room, name, why] { member_left(room, name, why); });
  } else {
    // The member leaves now (after this turn: the others see peer_left). The event goes last on
    // its channel and the connection closes once the peer has acknowledged everything queued
    // before it, so `kicked` is never lost behind a backlog (an ABORT would discard the queue);
    // the session's on_closed finds no member then. An away member has no connection.
    m->leaving = true;
    run_or_defer([this, room, name, why] { member_left(room, name, why); });
    if (m->away) {
      link_.close(m->engine_id, why);
      return true;
    }
    send_event(*m, event);
    link_.close_after_flush(m->engine_id, why, cfg_.final_event_timeout);
  }
  return true;
}

}  // namespace peerrtc::signaling
