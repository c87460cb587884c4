// A peerrtc-server process as a node of a cluster on Redis (docs/architecture.md, "Cluster").
//
//   peerrtc::cluster::Redis redis(url);  redis.start(...);
//   peerrtc::cluster::Node node(redis, manager, {.advertise_url = "http://10.0.0.5:8080", .secret = s});
//   node.start();                                  // registers; throws std::runtime_error if it can't
//   options.router = node.router();                // peerrtc::server::RoomRouter: forwards to the room's node
//   ...
//   node.stop();                                   // deregisters, releases the leases it holds
//
// What lives in Redis: registry.hpp (the nodes), leases.hpp (the rooms' fenced leases).
// Threads (none of them the network thread or the Redis thread):
//   heartbeat  registers the node, renews its leases, steps down from the rooms it cannot prove
//              (never waits for the network thread: it reads the last snapshot)
//   local      takes the manager's snapshot (rooms_info, stats) every heartbeat and evicts the
//              rooms the node stepped down from (SignalingManager::evict_room): the two calls
//              that wait for the network thread
//   HTTP       the router (router.cpp): claims, placement, forwarding (forward.hpp)
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/forward.hpp"
#include "cluster/redis.hpp"
#include "cluster/registry.hpp"
#include "peerrtc/signaling_manager.hpp"
#include "server/app.hpp"

namespace peerrtc::cluster {

// Shortest cluster secret accepted (bytes).
inline constexpr size_t kMinClusterSecret = 16;

// A RoomRouter that hands every call to another one set later (null: everything local). The
// HTTP app needs its router before it binds; the node needs the bound port.
class DeferredRouter : public server::RoomRouter {
 public:
  void set(std::shared_ptr<server::RoomRouter> target);
  std::optional<http::Response> route(const std::string& room, Intent intent, const http::Request& req) override;
  std::optional<http::Response> rooms(const http::Request& req) override;
  std::optional<http::Response> room_peers(const std::string& room, const http::Request& req) override;
  std::optional<http::Response> cluster_nodes(const http::Request& req) override;
  json counters() override;
  std::optional<http::Response> node_stats(const std::string& node, const http::Request& req) override;
  bool from_node(const http::Request& req, bool consume) override;
  std::optional<http::Response> refuse_forged(const http::Request& req) override;

 private:
  std::shared_ptr<server::RoomRouter> get() const;
  mutable std::mutex m_;
  std::shared_ptr<server::RoomRouter> target_;
};

struct NodeOptions {
  std::string prefix = "peerrtc:";
  std::string id;             // empty = random
  std::string advertise_url;  // how other nodes reach this one; required
  std::string secret;         // the cluster secret (forward.hpp); required, at least kMinClusterSecret bytes
  uint16_t udp_port = 0;      // announced in the node record
  std::chrono::milliseconds ttl{3000};  // node record and room lease lifetime; heartbeat = ttl / 3
  std::chrono::milliseconds redis_timeout{1000};    // one Redis round trip from an HTTP thread
  std::chrono::milliseconds forward_timeout{6000};  // one node-to-node request
  std::chrono::milliseconds connect_timeout{500};   // ... of which connecting
  size_t max_forwards = 8;    // node-to-node requests in flight at once (then 503 busy); < HTTP threads
  // A room offered to this node keeps its lease this long even if no peer of it shows up in
  // the manager's rooms (the offer failed, or is still being handled): then it is released.
  std::chrono::milliseconds pending_hold{10000};
  // Signatures remembered against replay (forward.hpp ReplayCache); past it, 503 replay_cache_full.
  size_t replay_cache_max = 100000;
};

class Node {
 public:
  Node(Redis& redis, SignalingManager& manager, NodeOptions options);
  ~Node();  // stop()
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  void start();  // first registration (throws std::runtime_error if Redis refuses), threads
  void stop();   // idempotent: threads stopped, node record deleted, leases released
  const std::string& id() const;
  const NodeOptions& options() const;
  std::shared_ptr<server::RoomRouter> router();

  // The live nodes as Redis has them now (sorted by id); throws std::runtime_error if Redis
  // cannot be asked.
  std::vector<NodeInfo> live_nodes();
  // The room's fencing token while this node holds a proven lease on it (stream appends).
  std::optional<std::string> fence_token(const std::string& room) const;
  // Counters: {"leases", "stepped_down", "forward": {...}, "forged_refused", "replayed_refused",
  // "replay_cache_full", "replay_cache"}.
  json counters() const;
  // More counters for GET /cluster/nodes' "counters" (e.g. the Stream's), under `name`.
  void add_counters(std::string name, std::function<json()> fn);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  std::shared_ptr<server::RoomRouter> router_;
};

}  // namespace peerrtc::cluster
