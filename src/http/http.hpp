// A small HTTP/1.1 server and client on Boost.Beast, for JSON APIs and static files.
// The server runs on its own io_context thread(s) (not the network thread): handlers may block
// briefly (e.g. waiting for the network thread to answer an offer).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace peerrtc::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path without the query string
  std::string query;   // after '?', raw
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string remote_ip;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;  // extra headers
  static Response json(int status, const std::string& body);
  static Response error(int status, const std::string& message);  // {"error": message}
};

using Handler = std::function<Response(const Request&)>;

struct ServerConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 = ephemeral
  size_t max_body_bytes = 256 * 1024;
  std::chrono::seconds read_timeout{15};
  unsigned threads = 1;
  // CORS: the origins whose pages may call this server from another origin. {"*"}: any (the
  // header is "*"); a list: a request's Origin that is in it is echoed back (with Vary: Origin);
  // empty: same-origin only (no Access-Control-* headers, no OPTIONS preflight answer).
  std::vector<std::string> cors_origins = {"*"};
  // Added to every response that does not set the header itself (e.g. security headers).
  std::map<std::string, std::string> default_headers;
  // SO_REUSEPORT: other sockets of this user that set it too (other processes: the workers of
  // `peerrtc-server --workers N`) listen on the same port, and the kernel spreads new
  // connections over them.
  bool reuse_port = false;
  // More listeners with the same routes and threads (a worker's shared public port next to its
  // own one). divert() applies to the main listener (host, port) only.
  struct Listener {
    std::string host;
    uint16_t port = 0;  // 0 = ephemeral
    bool reuse_port = false;
  };
  std::vector<Listener> more_listeners;
};

class Server {
 public:
  explicit Server(ServerConfig config);
  ~Server();  // stops
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Routes: exact method + path. Unknown path -> 404 JSON, known path wrong method -> 405 JSON,
  // body over the limit -> 413 JSON, handler exception -> 500 JSON (logged).
  void route(const std::string& method, const std::string& path, Handler handler);
  // Serves files under `directory` at URL prefix `prefix` (GET/HEAD; no "..", content types
  // by extension; "/" maps to index.html).
  void serve_static(const std::string& prefix, const std::string& directory);

  // Shares the port with another protocol: the first bytes of every connection (at least
  // `sniff_bytes`, read within the read timeout) go to `match`; when it says yes, the connection
  // is no longer HTTP: `take` gets its descriptor (a dup; the server closes its own) and the
  // bytes already read, and owns both. Called on an HTTP thread. Set before start().
  struct Diversion {
    size_t sniff_bytes = 4;
    // How long a new connection may take to send them; then it is closed (HTTP clients send at
    // once, so this can be shorter than the read timeout).
    std::chrono::milliseconds sniff_timeout{5000};
    std::function<bool(std::string_view first_bytes)> match;
    std::function<void(int fd, std::string first_bytes)> take;
  };
  void divert(Diversion diversion);

  void start();  // binds (throws std::runtime_error with a clear message on failure), runs threads
  void stop();   // closes the listener and every connection, joins threads
  uint16_t port() const;  // the bound port of the main listener
  // The bound port of more_listeners[i] (0 before start()).
  uint16_t listener_port(size_t i) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Blocking client request (for the C++ client, tests, the benchmark and node-to-node forwarding
// in a cluster). `headers` are added to the request (name: value). `connect_timeout` (0: no
// bound of its own) bounds resolving and connecting, inside `timeout`: a node that does not
// accept quickly is not waited for (cluster forwarding uses 500 ms).
struct ClientResponse {
  int status = 0;
  std::string body;
};
ClientResponse request(const std::string& host, uint16_t port, const std::string& method,
                       const std::string& target, const std::string& body = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(10),
                       const std::map<std::string, std::string>& headers = {},
                       std::chrono::milliseconds connect_timeout = std::chrono::milliseconds(0));

}  // namespace peerrtc::http
