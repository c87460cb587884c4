// A room's message history (Config::history): the last N relayed room-wide messages, bounded in
// count and in bytes (the oldest go first when either bound is passed). Pure; the relay keeps one
// per room on the network thread and replays it to a peer that joins (docs/protocol.md `history`).
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

namespace peerrtc::signaling {

struct HistoryEntry {
  std::string sender;
  std::string data;  // text (UTF-8) or raw bytes
  bool binary = false;
  int64_t ts_ms = 0;  // when the server relayed it (Unix ms)
};

class HistoryRing {
 public:
  HistoryRing(size_t max_messages, size_t max_bytes) : max_messages_(max_messages), max_bytes_(max_bytes) {}

  // Keeps `e` as the newest entry. An entry larger than max_bytes on its own is not kept (and
  // does not push the others out).
  void push(HistoryEntry e) {
    const size_t n = cost(e);
    if (max_messages_ == 0 || n > max_bytes_) return;
    entries_.push_back(std::move(e));
    bytes_ += n;
    while (entries_.size() > max_messages_ || bytes_ > max_bytes_) {
      bytes_ -= cost(entries_.front());
      entries_.pop_front();
    }
  }

  const std::deque<HistoryEntry>& entries() const { return entries_; }  // oldest first
  size_t size() const { return entries_.size(); }
  size_t bytes() const { return bytes_; }
  bool empty() const { return entries_.empty(); }

  // What an entry counts against max_bytes: its payload and sender id.
  static size_t cost(const HistoryEntry& e) { return e.data.size() + e.sender.size(); }

 private:
  size_t max_messages_, max_bytes_;
  std::deque<HistoryEntry> entries_;
  size_t bytes_ = 0;
};

}  // namespace peerrtc::signaling
