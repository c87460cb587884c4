// The PeerRTC HTTP application: a SignalingManager behind an http::Server.
//
//   peerrtc::SignalingManager manager(config);
//   peerrtc::server::App app(manager, {.host = "127.0.0.1", .http_port = 8080, .static_root = root});
//   app.start();                       // throws std::runtime_error if the port can't be bound
//   ...
//   app.stop(); manager.shutdown();
//
// Routes (docs/protocol.md): POST /offer /candidate /leave (SignalingManager::handle),
// GET /rooms, /rooms/peers?room=R, /config, /health, /stats, /metrics (server/metrics.hpp),
// /cluster/nodes and /cluster/stats?node=ID (404 unless a router says otherwise); the server API
// under /api/ (api.hpp, with Options::api_key). Who may call which: server/policy.hpp (with
// api_key or the manager's join secret the listings and counters need the key, /config a join
// token); /offer, /candidate and /config are rate-limited per address (server/rate_limit.hpp).
// App's answers carry security_headers() and CORS only for Options::cors_origins. Static: the dashboard at /dashboard/ from
// <static_root>/clients/dashboard; /peerrtc-client.js and
// /peerrtc-client.d.ts from <static_root>/clients/js; in examples mode the web examples from
// <static_root>/examples/web (chat at /, whiteboard at /whiteboard/, echo at /echo/) and the echo
// hook (a message in a room whose name starts with `echo_room_prefix` is sent back to its
// sender: text as "echo: <text>", binary unchanged).
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.hpp"
#include "http/http.hpp"
#include "peerrtc/signaling_manager.hpp"

namespace peerrtc::server {

// The cluster seam. A request that concerns one room (POST /offer, /candidate, /leave, and the
// /api/ calls that name a room) asks the router first: the router answers it itself (the room
// lives on another node, so it forwards it there, or answers an error), or returns nullopt to
// have it handled by this process. GET /rooms and /rooms/peers ask it for the cluster's view.
// Without a router (one process, the default) everything is local. Called on HTTP threads.
class RoomRouter {
 public:
  virtual ~RoomRouter() = default;
  // Create: the call may place a new room (an offer); Existing: the room must exist already.
  enum class Intent { Create, Existing };
  virtual std::optional<http::Response> route(const std::string& room, Intent intent, const http::Request& req) = 0;
  // The whole cluster's {"rooms": [...]} / {"room", "peers"}; nullopt: this process's own.
  virtual std::optional<http::Response> rooms(const http::Request&) { return std::nullopt; }
  virtual std::optional<http::Response> room_peers(const std::string& /*room*/, const http::Request&) {
    return std::nullopt;
  }
  // GET /cluster/nodes: {"nodes": [...]}; nullopt: 404 (not in a cluster).
  virtual std::optional<http::Response> cluster_nodes(const http::Request&) { return std::nullopt; }
  // The cluster's counters, shown in GET /stats as "cluster" and in /metrics
  // (peerrtc_cluster_forward_refused_total); null: none.
  virtual json counters() { return nullptr; }
  // GET /cluster/stats?node=ID: that node's GET /stats, fetched by this node (so the dashboard
  // calls only the node that served it); nullopt: 404 (not in a cluster).
  virtual std::optional<http::Response> node_stats(const std::string& /*node*/, const http::Request&) {
    return std::nullopt;
  }
  // True if `req` is a node-to-node request whose signature checks out and was not seen before
  // (the surface policy lets it through: the node it came to checked the client). `consume`:
  // remember the signature, so that a copy is refused as a replay (for a route nothing checks
  // after the policy); else only look (the route checks and remembers it). Never throws.
  virtual bool from_node(const http::Request&, bool /*consume*/) { return false; }
  // The answer to a request that claims to come from a node and does not prove it (401
  // `bad_forward_auth`, counted and logged); nullopt if it makes no such claim or proves it.
  virtual std::optional<http::Response> refuse_forged(const http::Request&) { return std::nullopt; }
};

// Runs a route's work: an ApiError (a manager call's refusal) answers with its status and
// message, anything else thrown with 500 (logged with `what`).
template <class F>
http::Response guarded(const char* what, F&& f) {
  try {
    return f();
  } catch (const ApiError& e) {
    return http::Response::error(e.status(), e.what());
  } catch (const std::exception& e) {
    log().error("server: {} failed: {}", what, e.what());
    return http::Response::error(500, std::string("internal error: ") + e.what());
  }
}

// `local()`, unless `router` (may be null) takes the request for `room`.
http::Response routed(RoomRouter* router, const std::string& room, RoomRouter::Intent intent,
                      const http::Request& req, const std::function<http::Response()>& local);

struct Options {
  std::string host = "127.0.0.1";  // loopback by default; pass 0.0.0.0 to serve the network
  uint16_t http_port = 8080;       // 0 = ephemeral (App::port() tells which)
  // Directory holding clients/js and examples/web (the source checkout). Empty = the current
  // directory. peerrtc-server passes the source directory baked in at build time.
  std::string static_root;
  std::string client_dir;    // empty = <static_root>/clients/js
  std::string examples_dir;  // empty = <static_root>/examples/web
  std::string dashboard_dir;  // empty = <static_root>/clients/dashboard (GET /dashboard/, always served)
  bool examples = true;      // serve the web examples and install the echo hook
  std::string echo_room_prefix = "echo";
  size_t max_body_bytes = 64 * 1024;  // signaling bodies are a few KiB; larger ones get 413
  unsigned http_threads = 4;  // handlers block while the network thread answers (offers)
  // Moderation (the manager's filter, on the network thread): a text message containing a
  // blocked word (case-insensitive) is dropped and its sender told (`filtered`); masked words
  // are replaced by asterisks before relay. Empty lists install no filter.
  std::vector<std::string> block_words;
  std::vector<std::string> mask_words;
  // The server API under /api/ (src/server/api.hpp), for `Authorization: Bearer <api_key>`;
  // empty = off (every /api/ route answers 404 saying so).
  std::string api_key;
  // GET /stats and /metrics also take `Authorization: Bearer <metrics_key>` (a Prometheus scrape
  // credential); set, it closes them even without api_key. Empty: none (server/policy.hpp).
  std::string metrics_key;
  // CORS allow-list: origins whose pages may call this server; {"*"} = any. Empty (the default):
  // same-origin only, no Access-Control-* headers.
  std::vector<std::string> cors_origins;
  // Per-address token buckets on POST /offer, /candidate and GET /config (server/rate_limit.hpp):
  // requests/s and burst per remote address; rate 0 = off. Loopback clients (127.0.0.0/8, ::1:
  // tools and tests on this machine) are exempt unless rate_limit_loopback.
  double rate_limit = 20;
  double rate_burst = 60;
  bool rate_limit_loopback = false;
  // Called on the HTTP thread with the room of an offer about to be handled by this process
  // (after the router let it through), e.g. to seed a room's history from Redis. May block
  // briefly; must not throw.
  std::function<void(const std::string& room)> before_offer;
  // Cluster mode (see RoomRouter); null = a single process. Must outlive the server.
  std::shared_ptr<RoomRouter> router;
  // A worker of `peerrtc-server --workers N`: HTTP also on this port, shared with the other
  // workers (SO_REUSEPORT; HTTP only, never ICE-TCP). http_port stays this worker's own.
  std::optional<uint16_t> shared_http_port;
  // Merged into GET /health's answer (e.g. {"worker": {"index": 1, "restarts": 0}}).
  json health_extra = json::object();
};

// Options with client_dir / examples_dir filled in from static_root.
Options resolve(Options options);

// Registers the routes and static files on `http` and, in examples mode, adds the echo hook to
// `manager` (one more on_message subscriber: the application's own stay). `http` and `manager` must outlive
// any request. `started` is the reference point of /health's and /stats' uptime_s.
void install(http::Server& http, SignalingManager& manager, const Options& options,
             std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now());

// The echo hook on its own: messages in rooms named `<room_prefix>...` go back to their sender.
void install_echo(SignalingManager& manager, const std::string& room_prefix);

// The moderation filter on its own (see Options::block_words / mask_words).
void install_moderation(SignalingManager& manager, std::vector<std::string> block_words,
                        std::vector<std::string> mask_words);

// URL decoding of a query component ('+' is a space); nullopt on a bad %-escape.
std::optional<std::string> url_decode(std::string_view s);
// Parses "a=1&b=x%20y" (decoded; the first of repeated keys wins); nullopt on a bad %-escape.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view query);

// An http::Server for `options`, with everything installed. start() binds.
class App {
 public:
  App(SignalingManager& manager, Options options);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  void start();  // throws std::runtime_error with a clear message (e.g. port in use)
  void stop();   // idempotent
  uint16_t port() const;
  uint16_t shared_port() const;  // the bound shared_http_port (0 without one)
  const Options& options() const { return options_; }
  http::Server& http() { return *http_; }  // more routes (peerrtc::Server, include/peerrtc/server.hpp)

 private:
  Options options_;
  std::unique_ptr<http::Server> http_;
};

}  // namespace peerrtc::server
