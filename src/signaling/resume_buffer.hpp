// Protocol v2 resume (docs/protocol.md "v2"): a room's buffer of relayed messages by sequence
// number, and a member's record of the client message ids it sent. Pure; the relay keeps one
// buffer per room (in Room) and one CmidLog per v2 member, on the network thread.
//
// Why not HistoryRing: the history replays the last N room-wide messages to whoever joins (and
// is seeded from a Redis Stream); the resume buffer must answer "every message after seq S that
// member P would have received, or say exactly which seqs are lost", so it holds direct messages
// too, is indexed by seq, and tracks the highest seq it can no longer give back.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

namespace peerrtc::signaling {

struct BufferedMessage {
  uint64_t seq = 0;
  std::string sender;
  std::string to;    // empty: room-wide
  std::string data;  // text (UTF-8) or raw bytes; or, when `framed`, the whole v2 frame
  bool binary = false;
  std::chrono::steady_clock::time_point at{};
  uint64_t cmid = 0;  // the sender's client message id (PriorEpoch only; 0: none)
  // `data` is the v2 frame the members got (server_*_frame_v2 of seq, sender, payload, direct):
  // the room's buffer keeps the frame the fan-out built, so a relayed message is not copied
  // again, and a replay sends it as it is. PriorEpoch entries hold the payload.
  bool framed = false;
};

// A room's messages from an earlier life of it, on another node or this one, read back from the
// Redis Stream (docs/protocol.md "Cluster resume"): one epoch, in seq order, unique seqs, with
// holes where the Stream lacks a seq (appends dropped or lost with the node). A resume naming
// that epoch is served from it (Relay::welcome_v2).
struct PriorEpoch {
  std::string epoch;
  std::deque<BufferedMessage> entries;
  std::chrono::steady_clock::time_point at{};  // when it was read (dropped after the window)
  uint64_t max_seq() const { return entries.empty() ? 0 : entries.back().seq; }
  // Index of the first entry with seq > after.
  size_t index_after(uint64_t after) const {
    return static_cast<size_t>(std::upper_bound(entries.begin(), entries.end(), after,
                                                [](uint64_t a, const BufferedMessage& e) { return a < e.seq; }) -
                               entries.begin());
  }
};

class ResumeBuffer {
 public:
  // Every seq in (lost_through(), newest] is held, in order. A seq that is not pushed (skip)
  // or that falls out (bounds, age) moves lost_through up: a resume from below it is a gap.
  void push(BufferedMessage m, size_t max_messages, size_t max_bytes) {
    const size_t n = cost(m);
    if (max_messages == 0 || n > max_bytes) {
      skip(m.seq);
      return;
    }
    if (!entries_.empty() && m.seq != entries_.back().seq + 1) skip(m.seq - 1);  // a hole: start over
    if (entries_.empty() && m.seq != lost_through_ + 1) lost_through_ = m.seq - 1;
    entries_.push_back(std::move(m));
    bytes_ += n;
    while (entries_.size() > max_messages || bytes_ > max_bytes) pop_front();
  }
  // `seq` was stamped but not kept (no v2 member to keep it for, or too large).
  void skip(uint64_t seq) {
    entries_.clear();
    bytes_ = 0;
    lost_through_ = std::max(lost_through_, seq);
  }
  // Drops the entries stamped before `before`.
  void expire(std::chrono::steady_clock::time_point before) {
    while (!entries_.empty() && entries_.front().at < before) pop_front();
  }

  uint64_t lost_through() const { return lost_through_; }
  // Index of the first entry with seq > after (entries are contiguous from lost_through + 1).
  size_t index_after(uint64_t after) const {
    if (after <= lost_through_) return 0;
    return static_cast<size_t>(std::min<uint64_t>(after - lost_through_, entries_.size()));
  }
  const std::deque<BufferedMessage>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  size_t bytes() const { return bytes_; }

  static size_t cost(const BufferedMessage& m) { return m.data.size() + m.sender.size() + m.to.size(); }

 private:
  void pop_front() {
    bytes_ -= cost(entries_.front());
    lost_through_ = entries_.front().seq;
    entries_.pop_front();
  }
  std::deque<BufferedMessage> entries_;
  size_t bytes_ = 0;
  uint64_t lost_through_ = 0;
};

// The outcomes of a member's recent cmids, oldest first (cmids increase), so that a message sent
// again after a drop is relayed once and acked again with its first seq.
class CmidLog {
 public:
  static constexpr size_t kKeep = 4096;
  struct Outcome {
    uint64_t cmid = 0;
    uint64_t seq = 0;   // relayed as this seq (0: refused, see code)
    const char* code = nullptr;
  };
  uint64_t highest() const { return highest_; }
  bool is_repeat(uint64_t cmid) const { return cmid != 0 && cmid <= highest_; }
  void record(uint64_t cmid, uint64_t seq, const char* code = nullptr) {
    if (cmid <= highest_) return;
    highest_ = cmid;
    log_.push_back({cmid, seq, code});
    if (log_.size() > kKeep) log_.pop_front();
  }
  // The outcome of an earlier cmid, or null if it is no longer (or never was) known.
  const Outcome* find(uint64_t cmid) const {
    auto it = std::lower_bound(log_.begin(), log_.end(), cmid,
                               [](const Outcome& o, uint64_t c) { return o.cmid < c; });
    return it != log_.end() && it->cmid == cmid ? &*it : nullptr;
  }

 private:
  uint64_t highest_ = 0;
  std::deque<Outcome> log_;
};

}  // namespace peerrtc::signaling
