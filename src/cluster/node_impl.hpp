// Node::Impl, shared by node.cpp (heartbeat, local thread) and router.cpp (HTTP threads).
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "cluster/forward.hpp"
#include "cluster/leases.hpp"
#include "cluster/node.hpp"

namespace peerrtc::cluster {

struct Node::Impl : std::enable_shared_from_this<Node::Impl> {
  Impl(Redis& r, SignalingManager& m, NodeOptions o);

  Redis& redis;
  SignalingManager& manager;
  NodeOptions opts;
  std::chrono::milliseconds beat;  // ttl / 3
  int64_t started_ms;
  LeaseTable leases;
  Forwarder forwarder;
  ReplayCache replays{opts.replay_cache_max};  // signatures accepted in the last window (forward.hpp)

  std::mutex m;
  std::condition_variable cv;        // heartbeat's sleep
  std::condition_variable local_cv;  // the local thread's sleep
  bool stopping = false;
  std::thread heartbeat, local;

  // The manager's rooms and loads, as of the local thread's last snapshot.
  struct Snapshot {
    bool valid = false;
    Clock::time_point at;
    std::set<std::string> rooms;
    size_t rooms_n = 0, peers_n = 0;
  } snap;  // under m
  std::deque<std::pair<std::string, std::string>> evictions;  // (room, reason), under m
  std::vector<NodeInfo> nodes_cache;  // the live nodes at the last look (placement), under m
  bool unregistered_logged = false;   // heartbeat thread only

  std::vector<std::pair<std::string, std::function<json()>>> extra_counters;  // under m
  json counters();
  std::atomic<uint64_t> stepped_down{0}, forged_refused{0}, evicted_members{0}, replayed_refused{0},
      replay_cache_full{0};

  Reply cmd(std::vector<std::string> argv) { return redis.command_sync(std::move(argv), opts.redis_timeout); }
  NodeInfo self_info();
  std::vector<NodeInfo> fetch_nodes() { return list_nodes(redis, opts.prefix, opts.redis_timeout); }
  // Placement: the least-loaded live node (this node counts its own placements at once).
  std::string place();
  // Stops serving `room` at once: its lease is dropped from the table and its members evicted
  // (on the local thread).
  void step_down(const std::string& room, const std::string& reason);
  void beat_once();
  void run_heartbeat();
  void run_local();
};

}  // namespace peerrtc::cluster
