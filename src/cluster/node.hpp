// A peerrtc-server process as a node of a cluster on Redis (docs/architecture.md, "Cluster").
//
//   peerrtc::cluster::Redis redis(url);  redis.start(...);
//   peerrtc::cluster::Node node(redis, manager, {.advertise_url = "http://10.0.0.5:8080"});
//   node.start();                                  // registers; throws std::runtime_error if it can't
//   options.router = node.router();                // peerrtc::server::RoomRouter: forwards to the room's node
//   ...
//   node.stop();                                   // deregisters, releases the leases it holds
//
// What lives in Redis (prefix `peerrtc:` by default):
//   <prefix>node:<id>  JSON {"id","url","udp","rooms","peers","started_ms"}, SET PX ttl, refreshed
//                      every heartbeat (ttl/3)
//   <prefix>room:<room> the id of the node that holds the room: SET NX PX ttl by whoever places it,
//                      renewed by the holder every heartbeat while the room exists (or was offered
//                      to within the connect timeout), compare-and-deleted when it empties.
// Threads: a heartbeat thread of its own (it calls the manager, which waits for the network
// thread, and Redis with command_sync); the router runs on HTTP threads. Neither ever runs on
// the network thread or the Redis thread.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/redis.hpp"
#include "peerrtc/signaling_manager.hpp"
#include "server/app.hpp"

namespace peerrtc::cluster {

// The header of a request one node sends another; its value is the sender's node id. A request
// carrying it is handled locally, never forwarded again.
inline constexpr const char* kForwardedHeader = "X-PeerRTC-Forwarded";

std::string node_key(std::string_view prefix, std::string_view node_id);
std::string room_key(std::string_view prefix, std::string_view room);

struct NodeInfo {
  std::string id;
  std::string url;  // http://host:port
  uint16_t udp = 0;
  size_t rooms = 0, peers = 0;
  int64_t started_ms = 0;  // Unix ms
};
json to_json(const NodeInfo& n);
// Never throws: nullopt for anything that is not a node record.
std::optional<NodeInfo> node_from_json(std::string_view text);

// Where a new room goes: the live node with the fewest peers, then the fewest rooms, then the
// smallest id (so every node picks the same one from the same view). nullopt if `nodes` is empty.
std::optional<size_t> choose_node(const std::vector<NodeInfo>& nodes);

// http://HOST:PORT (no path); nullopt otherwise.
struct HttpAddress {
  std::string host;
  uint16_t port = 0;
};
std::optional<HttpAddress> parse_http_url(std::string_view url);
// http://<host>:<port>, with a wildcard host (0.0.0.0, ::) replaced by 127.0.0.1: fine for nodes
// on one machine; nodes on several machines need --advertise-url.
std::string default_advertise_url(const std::string& host, uint16_t port);
// A node id given by the operator: 1..64 of [A-Za-z0-9._-]. "" if fine, else why not.
std::string check_node_id(std::string_view id);
std::string random_node_id();

// A RoomRouter that hands every call to another one set later (null: everything local). The
// HTTP app needs its router before it binds; the node needs the bound port.
class DeferredRouter : public server::RoomRouter {
 public:
  void set(std::shared_ptr<server::RoomRouter> target);
  std::optional<http::Response> route(const std::string& room, Intent intent, const http::Request& req) override;
  std::optional<http::Response> rooms(const http::Request& req) override;
  std::optional<http::Response> room_peers(const std::string& room, const http::Request& req) override;
  std::optional<http::Response> cluster_nodes(const http::Request& req) override;

 private:
  std::shared_ptr<server::RoomRouter> get() const;
  mutable std::mutex m_;
  std::shared_ptr<server::RoomRouter> target_;
};

struct NodeOptions {
  std::string prefix = "peerrtc:";
  std::string id;             // empty = random
  std::string advertise_url;  // how other nodes reach this one; required
  uint16_t udp_port = 0;      // announced in the node record
  std::chrono::milliseconds ttl{3000};  // node record and room lease lifetime; heartbeat = ttl / 3
  std::chrono::milliseconds redis_timeout{1000};    // one Redis round trip from an HTTP thread
  std::chrono::milliseconds forward_timeout{10000};  // one node-to-node request
  // A room offered to this node keeps its lease this long even if no peer of it shows up in
  // rooms_info() (the offer failed, or is still being handled): then it is released.
  std::chrono::milliseconds pending_hold{10000};
};

class Node {
 public:
  Node(Redis& redis, SignalingManager& manager, NodeOptions options);
  ~Node();  // stop()
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  void start();  // first registration (throws std::runtime_error if Redis refuses), heartbeat thread
  void stop();   // idempotent: heartbeat stopped, node record deleted, leases released
  const std::string& id() const;
  const NodeOptions& options() const;
  std::shared_ptr<server::RoomRouter> router();

  // The live nodes as Redis has them now (sorted by id); throws std::runtime_error if Redis
  // cannot be asked.
  std::vector<NodeInfo> live_nodes();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  std::shared_ptr<server::RoomRouter> router_;
};

}  // namespace peerrtc::cluster
