// Protocol v2 parts of the Relay (docs/protocol.md "v2"; docs/architecture.md "Protocol v2"):
// acks, away members, the resume welcome with its gap and replay, and evicting a room that moved.
// Same class and rules as relay.cpp (every entry point runs as a turn); split off to keep each
// file legible.
#include <utility>

#include "common/log.hpp"
#include "peerrtc/limits.hpp"
#include "signaling/frames.hpp"
#include "signaling/relay.hpp"

namespace peerrtc::signaling {

void Relay::ack(Member& m, uint64_t cmid, uint64_t seq) {
  if (m.acks.empty()) ack_pending_.push_back(m.engine_id);
  append_ack(m.acks, cmid, seq);
}

void Relay::nack(Member& m, uint64_t cmid, const char* code) {
  m.cmids.record(cmid, 0, code);
  if (m.acks.empty()) ack_pending_.push_back(m.engine_id);
  append_nack(m.acks, cmid, code);
}

// Every tick: one frame per sender with the acks that did not ride on a delivery to it. The
// frame goes on the sender's ordered channel after every message stamped before it, so a client
// that reads the ack of seq S has been handed every message up to S meant for it. Acks for a
// session that is gone are dropped: the client sends those messages again after its resume, and
// the repeat is acked from the member's CmidLog.
void Relay::flush_acks() {
  if (ack_pending_.empty()) return;
  auto pending = std::move(ack_pending_);
  ack_pending_.clear();
  for (PeerId id : pending) {
    auto ref = registry_.by_engine(id);
    if (!ref) continue;
    Member& m = *ref->member;
    std::string frame = std::move(m.acks);
    m.acks.clear();
    if (frame.empty() || !m.joined || m.away || m.stream == 0xFFFF) continue;
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

// A v2 welcome, then (a resume) resume_gap if some of the missed messages are gone, then the
// missed ones in order; all in this turn, so no live message comes between them.
void Relay::welcome_v2(Room& room, const std::string& room_name, const std::string& name, Member& m, bool resumed,
                       std::optional<Member::ResumeFrom> from, bool reconnect) {
  json gap;
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
  send_event(m, welcome);
  if (!gap.is_null()) {
    ++counters_.resume_gaps;
    gap["type"] = "resume_gap";
    log().info("peer {} in {}: resume gap ({})", name, room_name, gap.dump());
    send_event(m, gap);
  }
  if (resumed && from) ++counters_.resumes;
  if (reconnect && resumed) {
    for (size_t i = first; i < entries.size(); ++i) {
      const auto& e = entries[i];
      if (!wanted(e)) continue;
      const bool direct = !e.to.empty();
      const std::string frame = e.binary ? server_binary_frame_v2(e.seq, e.sender, as_bytes(e.data), direct)
                                         : server_text_frame_v2(e.seq, e.sender, as_bytes(e.data), direct);
      auto st = link_.send(m.engine_id, m.stream, as_bytes(frame), e.binary);
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
