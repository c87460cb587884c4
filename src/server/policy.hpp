// The surface policy (docs/deploy.md "What is public"): who may call which route.
//
// A server started with --api-key or --join-secret is private: the routes that list rooms and
// members (GET /rooms, /rooms/peers, /cluster/nodes, /cluster/stats) need the API key, and so do
// the counters (GET /stats, /metrics), which also take the metrics key (--metrics-key, for a
// Prometheus scrape that should not hold the API key). GET /config (fresh TURN credentials)
// needs a join token for (room, peer_id) when --join-secret is set (or the API key). Without
// those flags everything is open, for development and the embedded quick start. A request
// another node of the cluster forwarded (X-PeerRTC-Signature verified by the router) passes:
// the node it came to checked the client.
//
// Credentials travel as `Authorization: Bearer <key or join token>`; a refusal is JSON
// {"error"}: 401 (with WWW-Authenticate) without credentials, 403 with wrong ones.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "http/http.hpp"

namespace peerrtc::server {

class RoomRouter;

struct Surface {
  std::string api_key, metrics_key, join_secret;
  bool is_private() const { return !api_key.empty() || !join_secret.empty(); }
};

enum class Need {
  Public,
  ApiKey,     // the API key (none set: nobody)
  StatsKey,   // the API key or the metrics key
  JoinToken,  // a join token for ?room= and ?peer_id=, or the API key
};

// What each kind of route needs in a server set up like `s`.
Need listing_need(const Surface& s);  // /rooms, /rooms/peers, /cluster/nodes, /cluster/stats
Need stats_need(const Surface& s);    // /stats, /metrics
Need config_need(const Surface& s);   // /config

// nullopt: `req` may go on; else the refusal. `what` names the route in errors ("GET /rooms").
// `router` (may be null) vouches for node-to-node requests.
std::optional<http::Response> check_access(Need need, const Surface& s, const http::Request& req,
                                           std::string_view what, RoomRouter* router);

// The headers every response of peerrtc-server carries (CSP for the pages it serves, nosniff,
// no framing, no referrer): http::ServerConfig::default_headers.
std::map<std::string, std::string> security_headers();

}  // namespace peerrtc::server
