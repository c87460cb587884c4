// The message stream of every room in Redis (peerrtc-server --redis-stream N): each relayed
// message is appended to the Stream `<prefix>stream:<room>` with XADD MAXLEN ~ N, fields
//   room, sender, data (bytes as sent), binary ("0"/"1"), ts (Unix ms), and to (direct only),
// so workers anywhere can read it with consumer groups (XREADGROUP). With --history the Stream
// is also the history's memory across nodes: a room that comes to this node (new, or after its
// node died) is seeded from the Stream's last entries (XREVRANGE) before its first peer's
// welcome.
//
// Fencing (cluster mode, leases.hpp): with a fence source set, each append is a script that
// XADDs only if the room's fencing token in Redis is the one this node holds, so a node that lost
// the room (paused past its lease, cut off from Redis) cannot write into its history; refused
// appends, and appends for a room this node holds no proven lease on, are counted
// (`refused_stale`) and dropped. With a ttl, the Stream expires that long after its last append.
//
// Threads: appends are issued from the manager's hook thread (on_relayed) with the async
// Redis::command, never waited for, and never on the network thread; seed() runs on an HTTP
// thread (before a local offer) and waits for Redis at most StreamOptions::timeout.
#pragma once
#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/redis.hpp"
#include "peerrtc/signaling_manager.hpp"

namespace peerrtc::cluster {

std::string stream_key(std::string_view prefix, std::string_view room);

// The XADD argv of one message (pure).
std::vector<std::string> xadd_argv(std::string_view prefix, size_t maxlen, const Message& m, int64_t ts_ms);
// The same append as one fenced script (EVAL): refused ("STALE ...") unless the room's fencing
// token is `token`; with ttl_ms > 0 the Stream's expiry is pushed back to ttl_ms from now (pure).
std::vector<std::string> fenced_xadd_argv(std::string_view prefix, size_t maxlen, const Message& m, int64_t ts_ms,
                                          const std::string& token, int64_t ttl_ms);
// The history items (oldest first, direct messages left out) of an XREVRANGE reply (pure;
// malformed entries are skipped).
std::vector<SignalingManager::HistoryItem> history_from_xrevrange(const Reply& reply);

// The relayed messages (oldest first) of the newest epoch in an XREVRANGE reply, for
// SignalingManager::seed_resume: entries with seq and epoch, direct ones included, none older
// than min_ts_ms (pure; malformed entries and entries without a seq are skipped).
std::vector<Message> resume_items_from_xrevrange(const Reply& reply, int64_t min_ts_ms);

struct StreamOptions {
  std::string prefix = "peerrtc:";
  size_t maxlen = 1000;   // MAXLEN ~ maxlen
  size_t history = 0;     // Config::history: entries read back to seed a room (0 = no seeding)
  std::chrono::milliseconds timeout{1000};  // seed's wait for Redis
  std::chrono::milliseconds ttl{0};         // the Stream expires this long after its last append (0 = never)
  // Cluster resume (docs/protocol.md "Cluster resume"): entries read back (newest first, at most
  // this many) to seed a room's earlier epoch for v2 resumes; 0 = off. Entries older than
  // resume_window are left out.
  size_t resume = 0;
  std::chrono::milliseconds resume_window{120000};
};

class RedisStream {
 public:
  // Subscribes to manager.on_relayed. Both must outlive this object.
  RedisStream(Redis& redis, SignalingManager& manager, StreamOptions options);
  ~RedisStream();  // unsubscribes
  RedisStream(const RedisStream&) = delete;
  RedisStream& operator=(const RedisStream&) = delete;

  // Before a local offer for `room` (HTTP thread): if seeding is on and the room is not on this
  // node, gives it the Stream's last `history` messages, and (resume > 0) its last epoch's
  // messages within the resume window for v2 resumes (SignalingManager::seed_resume). Never throws; a Redis error is logged
  // and the room starts without history.
  void seed(const std::string& room);

  // The room's fencing token while this node holds it (Node::fence_token). Set once, before
  // messages flow; without it appends are plain XADDs.
  using FenceSource = std::function<std::optional<std::string>(const std::string& room)>;
  void set_fence(FenceSource source);

  uint64_t appended() const { return counters_->appended.load(); }
  uint64_t refused_stale() const { return counters_->refused_stale.load(); }
  uint64_t failed() const { return counters_->failed.load(); }

 private:
  Redis& redis_;
  SignalingManager& manager_;
  StreamOptions opts_;
  SignalingManager::HandlerId handler_ = 0;
  // Shared with the Redis callbacks, which may outlive this object (they run on the Redis thread).
  struct Counters {
    std::atomic<uint64_t> appended{0}, failed{0}, refused_stale{0};
    std::mutex m;
    FenceSource fence;  // under m
    std::atomic<bool> failing{false};  // logs a failure once until an append succeeds again
  };
  std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
};

}  // namespace peerrtc::cluster
