// HTTP/1.1 server and blocking client on Boost.Beast. See http.hpp.
#include "http/http.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <unistd.h>

#pragma GCC diagnostic push
// g++ 12 false positive on boost::optional inside Beast's parser (seen with -fsanitize).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

#include <nlohmann/json.hpp>

#include "common/log.hpp"

namespace peerrtc::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// ---------------------------------------------------------------------------------------------
// Response helpers

Response Response::json(int status, const std::string& body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body;
  return r;
}

Response Response::error(int status, const std::string& message) {
  nlohmann::json j = {{"error", message}};
  // `replace` so a message carrying invalid UTF-8 (e.g. a raw request path) can't throw.
  return json(status, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

namespace {

constexpr std::size_t kHeaderLimit = 8 * 1024;
constexpr auto kWriteTimeout = std::chrono::seconds(30);
// After an error response on a connection we are closing, keep reading (and discarding) what
// the client still sends for a little while, so the kernel doesn't answer the unread bytes
// with a RST that could destroy the response before the client reads it.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr std::size_t kLingerMaxBytes = 16 * 1024 * 1024;

bool starts_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string to_lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes a URL path. Returns nullopt on a malformed escape.
std::optional<std::string> url_decode_path(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

std::string content_type_for(const std::string& path) {
  struct Entry {
    const char* ext;
    const char* type;
  };
  static const Entry kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".map", "application/json"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".d.ts", "text/plain; charset=utf-8"},
      {".ts", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"},
  };
  const std::string lower = to_lower(path);
  for (const auto& e : kTypes) {
    if (ends_with(lower, e.ext)) return e.type;
  }
  return "application/octet-stream";
}

bool is_json(const std::string& content_type) { return starts_with(to_lower(content_type), "application/json"); }

bool body_forbidden(int status) { return (status >= 100 && status < 200) || status == 204 || status == 304; }

struct StaticMount {
  std::string prefix;  // "/" or "/something" (no trailing slash)
  std::filesystem::path directory;
};

std::string normalize_prefix(std::string prefix) {
  if (prefix.empty() || prefix[0] != '/') prefix.insert(prefix.begin(), '/');
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  return prefix;
}

// Relative part of `path` under the mount, or nullopt if the path isn't under it.
std::optional<std::string> mount_relative(const StaticMount& m, const std::string& path) {
  if (m.prefix == "/") return path.substr(1);
  if (path == m.prefix) return std::string();
  if (starts_with(path, m.prefix) && path[m.prefix.size()] == '/') return path.substr(m.prefix.size() + 1);
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Server internals

namespace {
class Session;

struct ServerCore {
  explicit ServerCore(ServerConfig c) : config(std::move(c)) {}

  ServerConfig config;

  // Routing table: path -> method -> handler. Guarded by routes_mutex (routes may be added
  // while serving, though normally they're all added before start()).
  mutable std::shared_mutex routes_mutex;
  std::map<std::string, std::map<std::string, Handler>> routes;
  std::vector<StaticMount> mounts;  // longest prefix first
  std::optional<Server::Diversion> diversion;  // set before start()

  // Live connections, so stop() can close them.
  std::mutex sessions_mutex;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
  bool stopping = false;  // guarded by sessions_mutex

  std::mutex lifecycle_mutex;  // serializes start()/stop()
  bool running = false;
  std::vector<std::thread> threads;

  // Declared after the state above, so destroyed before it: destroying the io_context destroys
  // pending handlers and thus Sessions, whose destructors use sessions_mutex/sessions.
  asio::io_context ioc;
  struct Acceptor {
    std::unique_ptr<tcp::acceptor> socket;
    bool divert = false;  // the main listener: Server::divert applies
    std::atomic<uint16_t> port{0};
  };
  // [0] the main listener, then config.more_listeners; sized once in the constructor.
  std::vector<std::unique_ptr<Acceptor>> acceptors;

  Response dispatch(const Request& req);
  std::optional<Response> serve_static_file(const Request& req, bool& path_known);
  std::string allowed_methods(const std::string& path, bool& known) const;
  bool cors() const { return !config.cors_origins.empty(); }
  // The Access-Control-Allow-Origin for a request from `origin`: "" for none.
  std::string cors_allow(const std::string& origin) const {
    for (const auto& o : config.cors_origins) {
      if (o == "*") return "*";
      if (!origin.empty() && o == origin) return origin;
    }
    return {};
  }

  void do_accept(Acceptor& a);
  void on_accept(Acceptor& a, beast::error_code ec, tcp::socket socket);
  bool register_session(const std::shared_ptr<Session>& s);
  void unregister_session(Session* s);
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerCore& server, tcp::socket&& socket, bool divert)
      : server_(server), stream_(std::move(socket)), divert_(divert && server.diversion) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      auto addr = ep.address();
      if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
        addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
      }
      remote_ip_ = addr.to_string();
    }
  }

  ~Session() { server_.unregister_session(this); }

  void start() {
    asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

  asio::any_io_executor stream_executor() { return stream_.get_executor(); }

  // Called (via post on our strand) by Server::stop().
  void force_close() {
    closed_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void do_read() {
    if (closed_) return;
    if (!sniffed_ && divert_) return sniff();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(kHeaderLimit));
    parser_->body_limit(static_cast<std::uint64_t>(server_.config.max_body_bytes));
    stream_.expires_after(server_.config.read_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  // The first bytes of the connection decide whether it is HTTP at all (Server::divert). They
  // stay in buffer_, where the HTTP parser finds them.
  void sniff() {
    stream_.expires_after(std::min<std::chrono::steady_clock::duration>(server_.diversion->sniff_timeout,
                                                                        server_.config.read_timeout));
    stream_.async_read_some(buffer_.prepare(512), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      if (ec) return self->on_read_error(ec);
      self->buffer_.commit(n);
      auto& d = *self->server_.diversion;
      const auto data = self->buffer_.data();
      const std::string_view head(static_cast<const char*>(data.data()), data.size());
      if (head.size() < d.sniff_bytes) return self->sniff();
      self->sniffed_ = true;
      if (!d.match || !d.match(head)) return self->do_read();
      const int fd = ::dup(self->stream_.socket().native_handle());
      std::string bytes(head);
      self->closed_ = true;
      self->stream_.close();
      if (fd < 0) {
        log().warn("http: cannot hand over a connection: dup failed");
        return;
      }
      d.take(fd, std::move(bytes));
    });
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    const auto& req = parser_->get();
    auto expect = req[bhttp::field::expect];
    if (!parser_->is_done() && beast::iequals(expect, "100-continue")) {
      // curl & co. wait for this before sending a body.
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(kWriteTimeout);
      asio::async_write(stream_, asio::buffer(kContinue),
                        [self = shared_from_this()](beast::error_code wec, std::size_t) {
                          if (wec) return self->close_now();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    if (closed_) return;
    if (parser_->is_done()) return handle_request();
    stream_.expires_after(server_.config.read_timeout);
    bhttp::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    handle_request();
  }

  void on_read_error(beast::error_code ec) {
    if (closed_ || ec == asio::error::operation_aborted) return close_now();
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == bhttp::error::partial_message) {
      return close_now();
    }
    if (ec == bhttp::error::body_limit) {
      std::string msg;
      auto len = parser_->content_length();
      if (len) {
        msg = "request body too large (" + std::to_string(*len) + " bytes, max " +
              std::to_string(server_.config.max_body_bytes) + ")";
      } else {
        msg = "request body too large (more than " + std::to_string(server_.config.max_body_bytes) +
              " bytes, max " + std::to_string(server_.config.max_body_bytes) + ")";
      }
      return send(Response::error(413, msg), false, false);
    }
    if (ec == bhttp::error::header_limit) {
      return send(Response::error(431, "request header too large (max " + std::to_string(kHeaderLimit) + " bytes)"),
                  false, false);
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
      return send(Response::error(400, "bad request: " + ec.message()), false, false);
    }
    // Socket-level error (reset, broken pipe, ...).
    close_now();
  }

  void handle_request() {
    auto& msg = parser_->get();
    Request req;
    req.method = std::string(msg.method_string());
    std::string target(msg.target());
    auto q = target.find('?');
    if (q != std::string::npos) {
      req.query = target.substr(q + 1);
      target.resize(q);
    }
    auto hash = target.find('#');
    if (hash != std::string::npos) target.resize(hash);
    req.target = std::move(target);
    for (const auto& f : msg) {
      std::string name = to_lower(std::string(f.name_string()));
      auto [it, inserted] = req.headers.emplace(name, std::string(f.value()));
      if (!inserted) it->second += ", " + std::string(f.value());
    }
    req.body = std::move(msg.body());
    req.remote_ip = remote_ip_;
    auto origin = req.headers.find("origin");
    origin_ = origin == req.headers.end() ? std::string() : origin->second;
    const bool keep_alive = msg.keep_alive();
    const bool head = msg.method() == bhttp::verb::head;
    const unsigned version = msg.version();

    Response res;
    try {
      res = server_.dispatch(req);
    } catch (const std::exception& e) {  // handler exceptions are caught inside; this is the rest
      log().error("http: {} {} failed: {}", req.method, req.target, e.what());
      res = Response::error(500, "internal error");
    }
    send(std::move(res), keep_alive, head, version);
  }

  void send(Response r, bool keep_alive, bool head, unsigned version = 11) {
    if (closed_) return;
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
    res->version(version == 10 ? 10 : 11);
    res->result(static_cast<unsigned>(r.status));
    res->set(bhttp::field::server, "peerrtc");
    const bool no_body = body_forbidden(r.status);
    if (!no_body && !r.content_type.empty()) res->set(bhttp::field::content_type, r.content_type);
    if (is_json(r.content_type) && !no_body) res->set(bhttp::field::cache_control, "no-store");
    if (auto allow = server_.cors_allow(origin_); !allow.empty())
      res->set(bhttp::field::access_control_allow_origin, allow);
    // An allow-list: the answer depends on Origin, whether it was allowed or not (caches).
    if (server_.cors() && server_.cors_allow("") != "*") res->set(bhttp::field::vary, "Origin");
    for (const auto& [name, value] : server_.config.default_headers)
      if (r.headers.find(name) == r.headers.end()) res->set(name, value);
    for (const auto& [name, value] : r.headers) {
      // No header injection through handler-supplied names/values.
      if (name.empty() || name.find_first_of("\r\n: ") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos) {
        log().warn("http: dropping invalid response header \"{}\"", name);
        continue;
      }
      res->set(name, value);
    }
    if (no_body) {
      res->body().clear();
      res->erase(bhttp::field::content_length);
    } else if (head) {
      res->content_length(r.body.size());  // HEAD: headers of the GET, no body
      res->body().clear();
    } else {
      res->body() = std::move(r.body);
      res->content_length(res->body().size());
    }
    res->keep_alive(keep_alive);
    stream_.expires_after(kWriteTimeout);
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res, keep_alive](beast::error_code ec, std::size_t) {
                         if (ec) return self->close_now();
                         if (keep_alive) return self->do_read();
                         self->linger_close();
                       });
  }

  // Half-close, then drain whatever the client still sends until it closes (or a timeout).
  void linger_close() {
    if (closed_) return close_now();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close_now();
    stream_.expires_after(kLingerTimeout);
    drain();
  }

  void drain() {
    if (closed_) return close_now();
    drain_buf_.resize(16 * 1024);
    stream_.async_read_some(asio::buffer(drain_buf_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kLingerMaxBytes) return self->close_now();
                              self->drain();
                            });
  }

  void close_now() {
    closed_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  ServerCore& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string remote_ip_;
  std::string origin_;  // the current request's Origin header (CORS)
  std::vector<char> drain_buf_;
  std::size_t drained_ = 0;
  bool closed_ = false;
  const bool divert_;     // accepted on the main listener, and a diversion is set
  bool sniffed_ = false;  // the first bytes were looked at (Server::divert)
};
}  // namespace

bool ServerCore::register_session(const std::shared_ptr<Session>& s) {
  std::lock_guard lock(sessions_mutex);
  if (stopping) return false;
  sessions.emplace(s.get(), s);
  return true;
}

void ServerCore::unregister_session(Session* s) {
  std::lock_guard lock(sessions_mutex);
  sessions.erase(s);
}

void ServerCore::do_accept(Acceptor& a) {
  a.socket->async_accept(asio::make_strand(ioc), [this, &a](beast::error_code ec, tcp::socket socket) {
    on_accept(a, ec, std::move(socket));
  });
}

void ServerCore::on_accept(Acceptor& a, beast::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !a.socket->is_open()) return;
  if (!ec) {
    auto s = std::make_shared<Session>(*this, std::move(socket), a.divert);
    if (register_session(s)) {
      s->start();
    } else {
      s->force_close();
      return;
    }
  } else {
    log().debug("http: accept failed: {}", ec.message());
    if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
      // Out of fds: back off briefly instead of spinning.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  do_accept(a);
}

std::string ServerCore::allowed_methods(const std::string& path, bool& known) const {
  std::shared_lock lock(routes_mutex);
  std::vector<std::string> methods;
  known = false;
  if (auto it = routes.find(path); it != routes.end()) {
    known = true;
    for (const auto& [m, h] : it->second) methods.push_back(m);
  } else {
    for (const auto& m : mounts) {
      if (mount_relative(m, path)) {
        known = true;
        methods = {"GET", "HEAD"};
        break;
      }
    }
  }
  if (cors() && known && std::find(methods.begin(), methods.end(), "OPTIONS") == methods.end()) {
    methods.push_back("OPTIONS");
  }
  std::string out;
  for (const auto& m : methods) {
    if (!out.empty()) out += ", ";
    out += m;
  }
  return out;
}

Response ServerCore::dispatch(const Request& req) {
  // 1. Exact routes.
  Handler handler;
  bool path_has_routes = false;
  {
    std::shared_lock lock(routes_mutex);
    if (auto it = routes.find(req.target); it != routes.end()) {
      path_has_routes = true;
      if (auto h = it->second.find(req.method); h != it->second.end()) handler = h->second;
    }
  }
  if (handler) {
    try {
      return handler(req);
    } catch (const std::exception& e) {
      log().error("http: handler for {} {} threw: {}", req.method, req.target, e.what());
    } catch (...) {
      log().error("http: handler for {} {} threw a non-std exception", req.method, req.target);
    }
    return Response::error(500, "internal error");
  }

  // 2. CORS preflight.
  if (req.method == "OPTIONS" && cors()) {
    bool known = false;
    std::string allow = allowed_methods(req.target, known);
    if (!known) return Response::error(404, "not found: " + req.target);
    Response r;
    r.status = 204;
    r.content_type.clear();
    r.headers["Allow"] = allow;
    r.headers["Access-Control-Allow-Methods"] = allow;
    auto h = req.headers.find("access-control-request-headers");
    r.headers["Access-Control-Allow-Headers"] = h != req.headers.end() ? h->second : "Content-Type";
    r.headers["Access-Control-Max-Age"] = "600";
    return r;
  }

  // 3. Static files.
  if (!path_has_routes) {
    bool path_known = false;
    if (auto r = serve_static_file(req, path_known)) return *r;
    if (!path_known) return Response::error(404, "not found: " + req.target);
  }

  // 4. Known path, wrong method.
  bool known = false;
  std::string allow = allowed_methods(req.target, known);
  Response r = Response::error(405, "method not allowed: " + req.method + " " + req.target);
  r.headers["Allow"] = allow;
  return r;
}

// Returns a response if the request maps to a static mount and is GET/HEAD (file or 4xx);
// nullopt if no mount covers the path (path_known=false) or the method isn't GET/HEAD
// (path_known=true, caller answers 405).
std::optional<Response> ServerCore::serve_static_file(const Request& req, bool& path_known) {
  path_known = false;
  std::vector<StaticMount> ms;
  {
    std::shared_lock lock(routes_mutex);
    ms = mounts;
  }
  for (const auto& m : ms) {
    auto rel_raw = mount_relative(m, req.target);
    if (!rel_raw) continue;
    path_known = true;
    if (req.method != "GET" && req.method != "HEAD") return std::nullopt;

    auto rel = url_decode_path(*rel_raw);
    if (!rel) return Response::error(400, "bad path: " + req.target);
    if (rel->find('\0') != std::string::npos || rel->find('\\') != std::string::npos) {
      return Response::error(400, "bad path: " + req.target);
    }
    // Reject any ".." segment (and absolute paths after decoding, e.g. "//etc").
    std::vector<std::string> segments;
    {
      std::string seg;
      std::istringstream ss(*rel);
      while (std::getline(ss, seg, '/')) {
        if (seg == "..") return Response::error(400, "bad path: " + req.target);
        if (seg.empty() || seg == ".") continue;
        segments.push_back(seg);
      }
    }
    std::filesystem::path p = m.directory;
    for (const auto& s : segments) p /= s;
    std::error_code fec;
    if (segments.empty() || std::filesystem::is_directory(p, fec)) p /= "index.html";
    if (!std::filesystem::is_regular_file(p, fec)) return Response::error(404, "not found: " + req.target);

    std::ifstream in(p, std::ios::binary);
    if (!in) return Response::error(404, "not found: " + req.target);
    std::ostringstream content;
    content << in.rdbuf();
    if (in.bad()) return Response::error(500, "internal error");
    Response r;
    r.status = 200;
    r.content_type = content_type_for(p.filename().string());
    r.body = std::move(content).str();
    if (!is_json(r.content_type)) r.headers["Cache-Control"] = "no-cache";
    return r;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Server

struct Server::Impl : ServerCore {
  explicit Impl(ServerConfig c) : ServerCore(std::move(c)) {
    for (size_t i = 0; i <= config.more_listeners.size(); ++i) acceptors.push_back(std::make_unique<Acceptor>());
    acceptors[0]->divert = true;
  }
};

Server::Server(ServerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Server::~Server() {
  try {
    stop();
  } catch (...) {
  }
}

void Server::route(const std::string& method, const std::string& path, Handler handler) {
  std::unique_lock lock(impl_->routes_mutex);
  impl_->routes[path][method] = std::move(handler);
}

void Server::serve_static(const std::string& prefix, const std::string& directory) {
  std::unique_lock lock(impl_->routes_mutex);
  StaticMount m{normalize_prefix(prefix), std::filesystem::path(directory)};
  auto& ms = impl_->mounts;
  ms.erase(std::remove_if(ms.begin(), ms.end(), [&](const StaticMount& x) { return x.prefix == m.prefix; }),
           ms.end());
  ms.push_back(std::move(m));
  std::stable_sort(ms.begin(), ms.end(),
                   [](const StaticMount& a, const StaticMount& b) { return a.prefix.size() > b.prefix.size(); });
}

void Server::divert(Diversion diversion) {
  std::unique_lock lock(impl_->routes_mutex);
  impl_->diversion = std::move(diversion);
}

namespace {
// A listening socket on host:port, or a clear std::runtime_error.
std::unique_ptr<tcp::acceptor> listen_on(asio::io_context& ioc, std::string host, uint16_t port, bool reuse_port) {
  const std::string where = host + ":" + std::to_string(port);
  beast::error_code ec;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto addr = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) throw std::runtime_error("cannot listen on " + where + ": invalid address (" + ec.message() + ")");
  tcp::endpoint ep(addr, port);
  auto acc = std::make_unique<tcp::acceptor>(asio::make_strand(ioc));
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && reuse_port) {
    using reuse_port_option = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
    acc->set_option(reuse_port_option(true), ec);
  }
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
  return acc;
}
}  // namespace

void Server::start() {
  auto& im = *impl_;
  std::lock_guard lc(im.lifecycle_mutex);
  if (im.running) throw std::runtime_error("http server already started");
  const auto& cfg = im.config;

  im.ioc.restart();
  try {
    for (size_t i = 0; i < im.acceptors.size(); ++i) {
      auto& a = *im.acceptors[i];
      const bool main = i == 0;
      a.socket = main ? listen_on(im.ioc, cfg.host, cfg.port, cfg.reuse_port)
                      : listen_on(im.ioc, cfg.more_listeners[i - 1].host, cfg.more_listeners[i - 1].port,
                                  cfg.more_listeners[i - 1].reuse_port);
      a.port = a.socket->local_endpoint().port();
    }
  } catch (...) {
    for (auto& a : im.acceptors) a->socket.reset();
    throw;
  }
  {
    std::lock_guard lock(im.sessions_mutex);
    im.stopping = false;
  }
  for (auto& a : im.acceptors) im.do_accept(*a);

  const unsigned n = std::max(1u, cfg.threads);
  try {
    for (unsigned i = 0; i < n; ++i) {
      im.threads.emplace_back([&im] {
        for (;;) {
          try {
            im.ioc.run();
            return;
          } catch (const std::exception& e) {
            log().error("http: exception escaped io_context: {}", e.what());
          }
        }
      });
    }
  } catch (...) {
    // Couldn't spawn a thread: tear down what we have.
    {
      std::lock_guard lock(im.sessions_mutex);
      im.stopping = true;
    }
    im.ioc.stop();
    for (auto& t : im.threads) t.join();
    im.threads.clear();
    for (auto& a : im.acceptors) a->socket.reset();
    throw;
  }
  im.running = true;
}

void Server::stop() {
  auto& im = *impl_;
  std::lock_guard lc(im.lifecycle_mutex);
  if (!im.running) return;
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(im.sessions_mutex);
    im.stopping = true;
    for (auto& [ptr, weak] : im.sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  // Close each acceptor on its strand (no concurrent access with a pending async_accept).
  for (auto& a : im.acceptors) {
    asio::post(a->socket->get_executor(), [&a = *a] {
      beast::error_code ec;
      a.socket->close(ec);
    });
  }
  for (auto& s : live) {
    asio::post(s->stream_executor(), [s] { s->force_close(); });
  }
  live.clear();
  for (auto& t : im.threads) {
    if (t.joinable()) t.join();
  }
  im.threads.clear();
  for (auto& a : im.acceptors) a->socket.reset();
  im.running = false;
}

uint16_t Server::port() const { return impl_->acceptors[0]->port.load(); }

uint16_t Server::listener_port(size_t i) const {
  if (i + 1 >= impl_->acceptors.size()) throw std::out_of_range("http::Server::listener_port: no listener " + std::to_string(i));
  return impl_->acceptors[i + 1]->port.load();
}

// ---------------------------------------------------------------------------------------------
// Blocking client

ClientResponse request(const std::string& host, uint16_t port, const std::string& method,
                       const std::string& target, const std::string& body, std::chrono::milliseconds timeout,
                       const std::map<std::string, std::string>& headers, std::chrono::milliseconds connect_timeout) {
  const std::string where = host + ":" + std::to_string(port);
  const std::string what = "http " + method + " " + where + target;
  asio::io_context ioc;
  tcp::socket socket(ioc);
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + timeout;
  const auto connect_deadline =
      connect_timeout.count() > 0 ? std::min(deadline, started + connect_timeout) : deadline;
  bool connecting = true;  // resolve and connect answer to connect_deadline

  // Runs the io_context until `done` or the deadline; on timeout closes the socket and throws.
  auto run = [&](bool& done, const char* stage) {
    ioc.restart();
    const auto until = connecting ? connect_deadline : deadline;
    while (!done) {
      auto now = std::chrono::steady_clock::now();
      if (now >= until) break;
      ioc.run_one_for(until - now);
    }
    if (!done) {
      beast::error_code ignored;
      socket.close(ignored);
      ioc.restart();
      ioc.run_for(std::chrono::milliseconds(100));  // let aborted handlers finish
      throw std::runtime_error(what + " failed: timed out during " + stage + " after " +
                               std::to_string((connecting && connect_timeout.count() > 0 ? std::min(connect_timeout, timeout)
                                                                                          : timeout)
                                                  .count()) +
                               " ms");
    }
  };

  // Resolve.
  tcp::resolver resolver(ioc);
  tcp::resolver::results_type endpoints;
  {
    bool done = false;
    beast::error_code ec;
    std::string h = host;
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    resolver.async_resolve(h, std::to_string(port),
                           [&](beast::error_code e, tcp::resolver::results_type r) {
                             ec = e;
                             endpoints = std::move(r);
                             done = true;
                           });
    try {
      run(done, "resolve");
    } catch (...) {
      resolver.cancel();
      throw;
    }
    if (ec) throw std::runtime_error(what + " failed: cannot resolve " + host + ": " + ec.message());
  }

  // Connect.
  {
    bool done = false;
    beast::error_code ec;
    asio::async_connect(socket, endpoints, [&](beast::error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    run(done, "connect");
    if (ec) throw std::runtime_error(what + " failed: cannot connect to " + where + ": " + ec.message());
    connecting = false;
  }

  // Send.
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  if (req.method() == bhttp::verb::unknown) req.method_string(method);
  req.set(bhttp::field::host, port == 80 ? host : where);
  req.set(bhttp::field::user_agent, "peerrtc");
  for (const auto& [name, value] : headers) req.set(name, value);
  if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
  req.body() = body;
  req.keep_alive(false);
  req.prepare_payload();
  beast::error_code write_ec;
  {
    bool done = false;
    bhttp::async_write(socket, req, [&](beast::error_code e, std::size_t) {
      write_ec = e;
      done = true;
    });
    run(done, "send");
  }

  // Read (even if the write failed: the server may have answered early, e.g. 413).
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(std::uint64_t{256} * 1024 * 1024);
  parser.header_limit(64 * 1024);
  if (req.method() == bhttp::verb::head) parser.skip(true);
  beast::error_code read_ec;
  {
    bool done = false;
    bhttp::async_read(socket, buffer, parser, [&](beast::error_code e, std::size_t) {
      read_ec = e;
      done = true;
    });
    run(done, "receive");
  }
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
  if (read_ec) {
    if (write_ec) throw std::runtime_error(what + " failed: send: " + write_ec.message());
    throw std::runtime_error(what + " failed: receive: " + read_ec.message());
  }
  ClientResponse out;
  out.status = static_cast<int>(parser.get().result_int());
  out.body = std::move(parser.get().body());
  return out;
}

}  // namespace peerrtc::http
