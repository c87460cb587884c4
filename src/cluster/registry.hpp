// The cluster's node registry and key names (docs/architecture.md, "Cluster"): the pure parts
// (node records, placement, URLs, ids) and the Redis side (a sorted set scored by expiry, so
// listing the live nodes never scans the keyspace).
//
//   <prefix>nodes       ZSET node id -> expiry (Redis' own clock, ms): ZADD every heartbeat,
//                       listed with ZRANGEBYSCORE now +inf, pruned of the expired ones
//   <prefix>node:<id>   JSON {"id","url","udp","rooms","peers","started_ms"}, SET PX ttl
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/redis.hpp"
#include "peerrtc/signaling_manager.hpp"

namespace peerrtc::cluster {

std::string node_key(std::string_view prefix, std::string_view node_id);
std::string room_key(std::string_view prefix, std::string_view room);
std::string fence_key(std::string_view prefix, std::string_view room);  // the room's fencing token
std::string fence_counter_key(std::string_view prefix);                  // where tokens come from
std::string nodes_key(std::string_view prefix);                          // the registry's ZSET

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

// The Redis side. Each is one script (one round trip), on Redis' clock.
// Adds or refreshes a node: its ZSET entry and its record, both for `ttl`. Returns the reply.
Reply register_node(Redis& redis, std::string_view prefix, const NodeInfo& n, std::chrono::milliseconds ttl,
                    std::chrono::milliseconds timeout);
// The live nodes (sorted by id). Throws std::runtime_error if Redis cannot be asked.
std::vector<NodeInfo> list_nodes(Redis& redis, std::string_view prefix, std::chrono::milliseconds timeout);
// Takes a node out (clean stop).
void deregister_node(Redis& redis, std::string_view prefix, std::string_view id, std::chrono::milliseconds timeout);

}  // namespace peerrtc::cluster
