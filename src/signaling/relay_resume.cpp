// Protocol v2 parts of the Relay (docs/protocol.md "v2"; docs/architecture.md "Protocol v2"):
// acks, away members, the resume welcome with its gap and replay, and evicting a room that moved.
// Same class and rules as relay.cpp (every entry point runs as a turn); split off to keep each
// file legible.
#include <algorithm>
#include <utility>

#include "common/log.hpp"
#include "peerrtc/limits.hpp"
#include "signaling/frames.hpp"
#include "signaling/relay.hpp"

namespace peerrtc::signaling {

void Relay::mark_ack_pending(Member& m, Clock::time_point now) {
  if (!m.acks.empty()) return;
  ack_pending_.push_back(m.engine_id);
  m.acks_since = now;
}

// The v2 frame of a buffered message: the one the fan-out built, or one made from a PriorEpoch
// entry's payload (into `scratch`).
static const std::string& replay_frame(const BufferedMessage& e, std::string& scratch) {
  if (e.framed) return e.data;
  const bool direct = !e.to.empty();
  scratch = e.binary ? server_binary_frame_v2(e.seq, e.sender, as_bytes(e.data), direct)
                     : server_text_frame_v2(e.seq, e.sender, as_bytes(e.data), direct);
  return scratch;
}

void Relay::ack(Member& m, uint64_t cmid, uint64_t seq, Clock::time_point now) {
  mark_ack_pending(m, now);
  append_ack(m.acks, cmid, seq);
}

void Relay::nack(Member& m, uint64_t cmid, const char* code) {
  m.cmids.record(cmid, 0, code);
  mark_ack_pending(m, Clock::now());
  append_nack(m.acks, cmid, code);
}

// Every tick: one frame per sender with the acks that did not ride on a delivery to it, once the
// oldest has waited RelayConfig::ack_delay (younger ones wait for the next tick). The frame goes
// on the sender's ordered channel after every message stamped before it, so a client that reads
// the ack of seq S has been handed every message up to S meant for it. Acks for a session that
// is gone are dropped: the client sends those messages again after its resume, and the repeat is
// acked from the member's CmidLog.
void Relay::flush_acks(Clock::time_point now) {
  if (ack_pending_.empty()) return;
  auto pending = std::move(ack_pending_);
  ack_pending_.clear();
  // An id is listed again when its acks rode on a delivery and new ones came: once is enough.
  std::sort(pending.begin(), pending.end());
  pending.erase(std::unique(pending.begin(), pending.end()), pending.end());
  for (PeerId id : pending) {
    auto ref = registry_.by_engine(id);
    if (!ref) continue;
    Member& m = *ref->member;
    if (m.acks.empty()) continue;  // they rode on a delivery (or the member went away)
    if (now - m.acks_since < cfg_.ack_delay) {
      ack_pending_.push_back(id);
      continue;
    }
    std::string frame = std::move(m.acks);
    m.acks.clear();
    if (!m.joined || m.away || m.stream == 0xFFFF) continue;
    link_.send(m.engine_id, m.stream, as_bytes(frame), false);
  }
}

void Relay::go_away(const std::string& room_name, const std::string& name, Member& m, const std::string& reason) {
  release_senders(room_name, m);
  m.blocked_by = 0;
  m.acks.clear();
  if (!m.away) {
    m.away = true;
    m.away_until = Clock::now() + cfg_.resume_window;
  }
  m.away_reason = reason;
  m.resume_from.reset();
  m.resumed = false;
  if (m.away_announced) return;
  m.away_announced = true;
  log().info("peer {} in room {} is away ({}); its place is kept for {} s", name, room_name, reason,
             cfg_.resume_window.count());
  if (Room* room = registry_.room(room_name)) announce(*room, name, {{"type", "peer_away"}, {"peer_id", name}});
}

size_t Relay::max_payload_for(const Room& room, const Member* sender) const {
  return (room.v2_members > 0 || (sender && sender->protocol >= 2)) ? kMaxPayloadV2 : kMaxPayload;
}

void Relay::fresh_join_resume(const std::string& room, const std::string& peer_id, Member::ResumeFrom from) {
  if (Member* m = registry_.find(room, peer_id)) m->resume_from = std::move(from);
}

void Relay::seed_resume(const std::string& room, PriorEpoch prior) {
  if (cfg_.resume_window.count() == 0 || prior.entries.empty() || registry_.room(room)) return;
  if (priors_.size() >= kMaxSeeds && !priors_.count(room)) priors_.erase(priors_.begin());
  prior.at = Clock::now();
  priors_[room] = std::move(prior);
}

// A fresh join whose resume names `prior`'s epoch (the room lived on another node): the peer
// gets the prior epoch's messages after `after` that the Stream holds, then this epoch's that it
// would have had as a member (the room's buffer up to now), each gap said with counts; its cmids
// found in the Stream count as seen (a message it sends again is relayed once).
json Relay::carry_over(Room& room, const std::string& name, Member& m, const PriorEpoch& prior, uint64_t after,
                       std::vector<const BufferedMessage*>& replay, std::vector<json>& gaps) {
  auto wanted = [&](const BufferedMessage& e) { return e.sender != name && (e.to.empty() || e.to == name); };
  const size_t first = prior.index_after(after);
  size_t carried = 0;
  for (size_t i = first; i < prior.entries.size(); ++i)
    if (wanted(prior.entries[i])) {
      replay.push_back(&prior.entries[i]);
      ++carried;
    }
  const uint64_t max_seq = prior.max_seq();
  const uint64_t held = prior.entries.size() - first;
  if (max_seq > after && max_seq - after > held)
    gaps.push_back({{"missed", max_seq - after - held},
                    {"from_seq", after + 1},
                    {"to_seq", max_seq},
                    {"epoch", prior.epoch},
                    {"reason", "stream_gap"}});
  // What the old node stamped after the Stream's last entry (appends in flight when it died) is
  // unknowable here: said, without a count.
  gaps.push_back({{"missed", nullptr},
                  {"from_seq", std::max(max_seq, after) + 1},
                  {"to_seq", nullptr},
                  {"epoch", prior.epoch},
                  {"reason", "moved"}});
  // This epoch so far: the buffer holds (lost_through, room.seq].
  const auto& entries = room.buffer.entries();
  for (const auto& e : entries)
    if (wanted(e)) replay.push_back(&e);
  if (room.buffer.lost_through() > 0)
    gaps.push_back({{"missed", room.buffer.lost_through()},
                    {"from_seq", 1},
                    {"to_seq", room.buffer.lost_through()},
                    {"epoch", room.epoch},
                    {"reason", cfg_.resume_window.count() == 0 ? "no_buffer" : "buffer_overflow"}});
  for (const auto& e : prior.entries)
    if (e.sender == name && e.cmid) m.cmids.record(e.cmid, 0);  // seq 0: not a seq of this epoch
  return {{"epoch", prior.epoch}, {"replay", carried}, {"cmid", m.cmids.highest()}};
}

// A v2 welcome, then (a resume) resume_gap if some of the missed messages are gone, then the
// missed ones in order; all in this turn, so no live message comes between them.
void Relay::welcome_v2(Room& room, const std::string& room_name, const std::string& name, Member& m, bool resumed,
                       std::optional<Member::ResumeFrom> from, bool reconnect) {
  json gap, carried;
  std::vector<const BufferedMessage*> carried_replay;
  std::vector<json> carried_gaps;
  const auto& entries = room.buffer.entries();
  size_t first = entries.size();
  size_t count = 0;
  auto wanted = [&](const BufferedMessage& e) { return e.sender != name && (e.to.empty() || e.to == name); };
  if (resumed && from) {
    if (from->epoch != room.epoch) {
      gap = {{"missed", nullptr}, {"from_seq", from->seq + 1}, {"to_seq", nullptr}, {"reason", "restarted"}};
    } else {
      const uint64_t after = std::min(from->seq, room.seq);
      if (after < room.buffer.lost_through())
        gap = {{"missed", room.buffer.lost_through() - after},
               {"from_seq", after + 1},
               {"to_seq", room.buffer.lost_through()},
               {"reason", cfg_.resume_window.count() == 0 ? "no_buffer" : "buffer_overflow"}};
      first = room.buffer.index_after(after);
      for (size_t i = first; i < entries.size(); ++i) count += wanted(entries[i]);
    }
  } else if (auto p = from ? priors_.find(room_name) : priors_.end();
             p != priors_.end() && p->second.epoch == from->epoch && from->epoch != room.epoch) {
    carried = carry_over(room, name, m, p->second, from->seq, carried_replay, carried_gaps);
  } else if (from) {
    // A fresh join that asked to resume: the server does not know its token.
    const bool same_boot = from->epoch.rfind(boot_id() + ".", 0) == 0;
    if (from->epoch == room.epoch)
      gap = {{"missed", room.seq > from->seq ? room.seq - from->seq : 0},
             {"from_seq", from->seq + 1},
             {"to_seq", room.seq},
             {"reason", "window_expired"}};
    else
      gap = {{"missed", nullptr},
             {"from_seq", from->seq + 1},
             {"to_seq", nullptr},
             {"reason", same_boot ? "window_expired" : "restarted"}};
  }
  json welcome{{"type", "welcome"},
               {"room", room_name},
               {"peer_id", name},
               {"peers", registry_.joined_names(room, name)},
               {"max_message_size", kMaxPayloadV2},
               {"protocol", 2},
               {"epoch", room.epoch},
               {"seq", room.seq},
               {"resumed", resumed && from && from->epoch == room.epoch},
               // The sender's rate limits (0 = none): a client paces what it queued while away.
               {"rate", {{"messages", cfg_.message_rate},
                         {"message_burst", cfg_.message_burst},
                         {"bytes", cfg_.byte_rate},
                         {"byte_burst", cfg_.byte_burst}}}};
  if (resumed && from) welcome["replay"] = count;
  if (!carried.is_null()) {
    // Across an epoch change: carried.replay frames of the old epoch, then `replay` of this one.
    welcome["carried"] = carried;
    welcome["replay"] = carried_replay.size() - carried["replay"].get<size_t>();
    ++counters_.resumes;
  }
  send_event(m, welcome);
  if (!gap.is_null()) carried_gaps.insert(carried_gaps.begin(), std::move(gap));
  for (auto& g : carried_gaps) {
    ++counters_.resume_gaps;
    g["type"] = "resume_gap";
    log().info("peer {} in {}: resume gap ({})", name, room_name, g.dump());
    send_event(m, g);
  }
  if (resumed && from) ++counters_.resumes;
  std::string scratch;
  for (const BufferedMessage* e : carried_replay) {
    auto st = link_.send(m.engine_id, m.stream, as_bytes(replay_frame(*e, scratch)), e->binary);
    if (st != rtc::SendStatus::Ok) {
      ++counters_.dropped_send;
      if (st == rtc::SendStatus::BufferFull) disconnect_slow(room_name, name, m, "resume replay overflowed its queue");
      return;
    }
    ++counters_.deliveries;
  }
  if (reconnect && resumed) {
    for (size_t i = first; i < entries.size(); ++i) {
      const auto& e = entries[i];
      if (!wanted(e)) continue;
      auto st = link_.send(m.engine_id, m.stream, as_bytes(replay_frame(e, scratch)), e.binary);
      if (st != rtc::SendStatus::Ok) {
        // The queue is full: the peer is disconnected as too slow and resumes again from the
        // last message it got.
        ++counters_.dropped_send;
        if (st == rtc::SendStatus::BufferFull) disconnect_slow(room_name, name, m, "resume replay overflowed its queue");
        return;
      }
      ++counters_.deliveries;
    }
  }
}

size_t Relay::evict_room(const std::string& room_name, const std::string& reason) {
  Turn t(*this);
  Room* room = registry_.room(room_name);
  if (!room) return 0;
  const json event{{"type", "moved"}, {"reason", reason}};
  std::vector<std::string> names;
  std::vector<PeerId> sessions;
  for (auto& [id, m] : room->members) {
    names.push_back(id);
    if (m.is_participant()) {
      if (m.inbox) post_inbox(m.inbox, event, 0, true);
    } else if (!m.away) {
      send_event(m, event);
      sessions.push_back(m.engine_id);
    }
  }
  log().info("room {} moved away from this node ({}): {} member(s) told", room_name, reason, names.size());
  for (auto& n : names) registry_.remove(room_name, n);  // the sessions no longer own a member
  history_.erase(room_name);
  // `moved` is the last frame on each channel; the connection closes once the peer has
  // acknowledged it and everything before it (a backlog after a process pause), or ABORTs at
  // the deadline. Their on_closed finds nothing.
  for (PeerId id : sessions) link_.close_after_flush(id, "moved: " + reason, cfg_.final_event_timeout);
  return names.size();
}

}  // namespace peerrtc::signaling
