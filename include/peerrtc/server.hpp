// The embeddable PeerRTC HTTP server: the signaling routes of docs/protocol.md (POST /offer,
// /candidate, /leave), GET /config, /rooms, /health, /stats, /metrics, the JS client, the
// dashboard and, in examples mode, the web examples, served for a SignalingManager of yours,
// plus routes of your own. The same HTTP application as `peerrtc-server`, on Boost.Beast.
//
//   peerrtc::SignalingManager manager(config);
//   peerrtc::Server server(manager, {.host = "127.0.0.1", .port = 8080, .static_root = root});
//   server.route("GET", "/hello", [](const peerrtc::HttpRequest& req) {
//     return peerrtc::HttpResponse::json(200, {{"hello", req.query}});
//   });
//   server.start();                     // throws std::runtime_error (e.g. the port is in use)
//   ...
//   server.stop(); manager.shutdown();  // the manager must outlive the server
//
// Thread safety: route handlers run on the server's HTTP threads (ServerOptions::threads), several
// at once; they may call the manager (which waits for its network thread). route() and
// serve_static() may be called from any thread, before or after start(). docs/embedding.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "peerrtc/log.hpp"
#include "peerrtc/signaling_manager.hpp"

namespace peerrtc {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string
  std::string query;   // after '?', raw (not decoded)
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string remote_ip;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;  // extra headers
  static HttpResponse json(int status, const peerrtc::json& body);
  static HttpResponse error(int status, const std::string& message);  // {"error": message}
  static HttpResponse text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
};

// A route's handler. What it throws is answered for it: ApiError with its status, anything else
// with 500 (logged).
using RouteHandler = std::function<HttpResponse(const HttpRequest&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback by default; "0.0.0.0" serves the network
  uint16_t port = 8080;            // HTTP; 0 = ephemeral (Server::port() tells which)
  // Directory holding clients/js, clients/dashboard and examples/web (a source checkout or
  // where you installed them). Empty = the current directory.
  std::string static_root;
  // Serve the web examples (chat at /, /whiteboard/, /echo/) and install the echo hook (rooms
  // named echo...). false: GET / lists the endpoints, and nothing is added to the manager.
  bool examples = true;
  unsigned threads = 4;  // HTTP threads (a handler may wait for the network thread)
  size_t max_body_bytes = 64 * 1024;
  // The server API under /api/ for `Authorization: Bearer <api_key>` (docs/protocol.md);
  // empty = off. With it (or with the manager's Config::join_secret) the listing and
  // counter endpoints need the key: docs/deploy.md has the table.
  std::string api_key;
  // Moderation: text messages containing a blocked word (case-insensitive) are dropped and the
  // sender told; masked words are replaced by asterisks. Empty: no filter is installed.
  std::vector<std::string> block_words, mask_words;
  // GET /stats and /metrics also take `Authorization: Bearer <metrics_key>` (a scrape credential
  // that can do nothing else); set, it closes them even without api_key. Empty: none.
  std::string metrics_key;
  // Origins allowed to call the server from another page (CORS); "*" = any. Empty (the
  // default): same-origin only, no CORS headers.
  std::vector<std::string> cors_origins;
  // Per remote address, on POST /offer, /candidate and GET /config together: a token bucket of
  // `rate_limit` requests a second, `rate_burst` deep; past it, 429 with Retry-After. 0 = off.
  // Loopback addresses are exempt unless rate_limit_loopback (behind a local reverse proxy
  // every client is loopback: limit at the proxy).
  double rate_limit = 20;
  double rate_burst = 60;
  bool rate_limit_loopback = false;
};

class Server {
 public:
  // Registers every built-in route on a new server (not listening yet). `manager` must outlive it.
  Server(SignalingManager& manager, ServerOptions options = {});
  ~Server();  // stops
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Your own route: exact method and path. A built-in path given again is replaced by yours.
  void route(const std::string& method, const std::string& path, RouteHandler handler);
  // Serves the files under `directory` at URL prefix `prefix` (GET/HEAD, no "..", content types
  // by extension, "/" maps to index.html). The longest prefix wins.
  void serve_static(const std::string& prefix, const std::string& directory);

  void start();  // binds and serves; throws std::runtime_error with a clear message
  void stop();   // idempotent
  uint16_t port() const;  // the bound HTTP port (after start())

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace peerrtc
