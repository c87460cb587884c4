// See app.hpp.
#include "server/app.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "common/log.hpp"
#include "peerrtc/join_token.hpp"
#include "server/api.hpp"
#include "signaling/requests.hpp"
#include "server/metrics.hpp"
#include "server/policy.hpp"
#include "server/rate_limit.hpp"

namespace peerrtc::server {

namespace fs = std::filesystem;

namespace {

std::string dump(const json& j) {
  // `replace`: a name echoed back in a message must never make the answer throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

http::Response reply(int status, const json& j) { return http::Response::json(status, dump(j)); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A file read per request, so a rebuilt client shows up without a restart.
http::Response file_response(const fs::path& path, const std::string& content_type) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    log().warn("server: {} not found (set --static-root)", path.string());
    return http::Response::error(404, "not found: " + path.filename().string());
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  if (!in && !in.eof()) return http::Response::error(500, "cannot read " + path.filename().string());
  http::Response r;
  r.status = 200;
  r.content_type = content_type;
  r.body = std::move(content).str();
  r.headers["Cache-Control"] = "no-cache";
  return r;
}

void route_file(http::Server& http, const std::string& url, fs::path path, const std::string& content_type) {
  auto h = [path = std::move(path), content_type](const http::Request&) { return file_response(path, content_type); };
  http.route("GET", url, h);
  http.route("HEAD", url, h);
}

// The chat example lives in examples/web/chat/ (or directly in examples/web/ if that has an
// index.html and no chat/ directory).
fs::path chat_dir(const fs::path& examples) {
  std::error_code ec;
  if (!fs::is_directory(examples / "chat", ec) && fs::is_regular_file(examples / "index.html", ec)) return examples;
  return examples / "chat";
}

json stats_json(const Stats& s, double uptime_s) {
  json j = to_json(s);
  j["uptime_s"] = uptime_s;
  return j;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
  return static_cast<double>(ms) / 1000.0;
}

// The "room" of a signaling body, if it has one (a bad body is the local handler's to refuse).
std::optional<std::string> room_of_body(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto it = j.find("room");
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// The surface policy and the rate limit around the routes (server/policy.hpp, rate_limit.hpp).
struct Gatekeeper {
  Surface surface;
  RoomRouter* router = nullptr;
  std::unique_ptr<RateLimiter> limiter;
  bool limit_loopback = false;
  std::shared_ptr<HttpCounters> counters = std::make_shared<HttpCounters>();

  std::optional<http::Response> access(Need need, const http::Request& req, std::string_view what) const {
    return check_access(need, surface, req, what, router);
  }
  // 429 with Retry-After when the remote address has used up its bucket (route: an index into
  // HttpCounters::kRoutes). Node-to-node requests were counted at the node they came to.
  std::optional<http::Response> rate(size_t route, const http::Request& req) const {
    if (!limiter || !limiter->enabled()) return std::nullopt;
    if (!limit_loopback && is_loopback_ip(req.remote_ip)) return std::nullopt;
    if (router && req.headers.count("x-peerrtc-forwarded") && router->from_node(req, /*consume=*/false)) return std::nullopt;
    const uint32_t wait = limiter->take(rate_key(req.remote_ip));
    if (wait == 0) return std::nullopt;
    counters->rate_limited[route].fetch_add(1, std::memory_order_relaxed);
    const auto& l = limiter->limit();
    http::Response r = http::Response::error(
        429, "too many requests from " + req.remote_ip + " (at most " + number(l.rate) + "/s, burst " + number(l.burst) +
                 ", on /offer, /candidate and /config together); retry in " + std::to_string(wait) + " s");
    r.headers["Retry-After"] = std::to_string(wait);
    return r;
  }
};

}  // namespace

// The cluster's refused node-to-node requests, by reason (none without a router or counters).
static std::vector<prometheus::MetricFamily> cluster_metric_families(RoomRouter* router) {
  std::vector<prometheus::MetricFamily> out;
  if (!router) return out;
  json c = router->counters();
  if (!c.is_object()) return out;
  prometheus::MetricFamily f{"peerrtc_cluster_forward_refused_total",
                             "Requests claiming to come from another node that were refused, by reason (forged: bad "
                             "or missing signature; replayed: a signature seen before; replay_cache_full).",
                             prometheus::MetricType::Counter,
                             {}};
  for (auto [field, reason] : {std::pair{"forged_refused", "forged"}, std::pair{"replayed_refused", "replayed"},
                               std::pair{"replay_cache_full", "replay_cache_full"}}) {
    prometheus::ClientMetric m;
    m.label.push_back({"reason", reason});
    m.counter.value = c.value(field, 0.0);
    f.metric.push_back(std::move(m));
  }
  out.push_back(std::move(f));
  return out;
}

http::Response routed(RoomRouter* router, const std::string& room, RoomRouter::Intent intent,
                      const http::Request& req, const std::function<http::Response()>& local) {
  if (router) {
    if (auto r = router->route(room, intent, req)) return std::move(*r);
  }
  return local();
}

std::optional<std::string> url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::map<std::string, std::string>> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    auto key = url_decode(part.substr(0, eq));
    auto value = url_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
    if (!key || !value) return std::nullopt;
    out.emplace(std::move(*key), std::move(*value));  // first one wins
  }
  return out;
}

Options resolve(Options o) {
  fs::path root = o.static_root.empty() ? fs::path(".") : fs::path(o.static_root);
  if (o.client_dir.empty()) o.client_dir = (root / "clients" / "js").string();
  if (o.examples_dir.empty()) o.examples_dir = (root / "examples" / "web").string();
  if (o.dashboard_dir.empty()) o.dashboard_dir = (root / "clients" / "dashboard").string();
  return o;
}

void install_echo(SignalingManager& manager, const std::string& room_prefix) {
  // Hooks run on the manager's hook threads, where send_to may wait for the network thread.
  manager.on_message([&manager, room_prefix](const Message& m) {
    if (m.room.compare(0, room_prefix.size(), room_prefix) != 0 || m.sender == "server") return;
    std::string data = m.binary ? m.data : "echo: " + m.data;
    try {
      if (!manager.send_to(m.room, m.sender, data, m.binary))
        log().debug("server: echo to {}/{} not sent (peer gone)", m.room, m.sender);
    } catch (const std::exception& e) {  // e.g. ApiError 413: the text plus "echo: " is too large
      log().debug("server: echo to {}/{} not sent: {}", m.room, m.sender, e.what());
    }
  });
}

namespace {
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

void install_moderation(SignalingManager& manager, std::vector<std::string> block_words,
                        std::vector<std::string> mask_words) {
  std::erase_if(block_words, [](const std::string& w) { return w.empty(); });
  std::erase_if(mask_words, [](const std::string& w) { return w.empty(); });
  if (block_words.empty() && mask_words.empty()) return;
  for (auto& w : block_words) w = lower(w);
  for (auto& w : mask_words) w = lower(w);
  // Runs on the network thread for every message: a few substring searches, no allocation for
  // a clean message beyond the lower-cased copy.
  manager.set_filter([block_words, mask_words](const Message& m) {
    if (m.binary) return FilterResult::pass();
    const std::string text = lower(m.data);
    for (const auto& w : block_words)
      if (text.find(w) != std::string::npos) return FilterResult::drop("message blocked by the moderator");
    std::string out;
    for (const auto& w : mask_words) {
      for (size_t pos = text.find(w); pos != std::string::npos; pos = text.find(w, pos + w.size())) {
        if (out.empty()) out = m.data;
        out.replace(pos, w.size(), std::string(w.size(), '*'));
      }
    }
    return out.empty() ? FilterResult::pass() : FilterResult::replace(std::move(out));
  });
}

void install(http::Server& http, SignalingManager& manager, const Options& opts,
             std::chrono::steady_clock::time_point started) {
  const Options o = resolve(opts);

  // One port for everything: ICE-TCP connections reach the HTTP port, and are handed over.
  if (manager.config().ice_tcp && manager.config().ice_tcp_handoff) {
    http.divert({4, manager.config().ice_tcp_stun_timeout, &SignalingManager::looks_like_ice_tcp,
                 [&manager](int fd, std::string first) { manager.accept_tcp(fd, std::move(first)); }});
  }

  RoomRouter* router = o.router.get();
  auto gk = std::make_shared<Gatekeeper>();
  gk->surface = Surface{o.api_key, o.metrics_key, manager.config().join_secret};
  gk->router = router;
  gk->limiter = std::make_unique<RateLimiter>(RateLimit{o.rate_limit, o.rate_burst});
  gk->limit_loopback = o.rate_limit_loopback;
  for (const char* action : {"offer", "candidate", "leave"}) {
    http.route("POST", std::string("/") + action,
               [&manager, router, gk, name = std::string(action), before_offer = o.before_offer](const http::Request& req) {
                 if (name != "leave") {
                   if (auto limited = gk->rate(name == "offer" ? 0 : 1, req)) return std::move(*limited);
                 }
                 auto handle = [&] {
                   return guarded(name.c_str(), [&] {
                     auto [status, body] = manager.handle(name, req.body);
                     return reply(status, body);
                   });
                 };
                 auto local = [&] {
                   if (before_offer && name == "offer") {
                     if (auto r = room_of_body(req.body)) before_offer(*r);
                   }
                   return handle();
                 };
                 if (!router) return local();
                 // In a cluster a request is checked before the router does any Redis or
                 // forwarding work for it: a bad body is refused here (the manager's answer), and
                 // so is an offer without a valid join token.
                 auto parsed = signaling::parse_request(name, req.body);
                 if (!parsed) return handle();
                 if (name == "offer" && !manager.config().join_secret.empty()) {
                   auto v = check_join_token(manager.config().join_secret, parsed->join_token, parsed->room,
                                             parsed->peer_id);
                   if (!v.ok()) return reply(v.http_status(), json{{"error", v.error}});
                 }
                 auto room = std::optional<std::string>(parsed->room);
                 return guarded(name.c_str(), [&] {
                   return routed(router, *room,
                                 name == "offer" ? RoomRouter::Intent::Create : RoomRouter::Intent::Existing, req,
                                 local);
                 });
               });
  }

  http.route("GET", "/rooms", [&manager, router, gk](const http::Request& req) {
    if (auto denied = gk->access(listing_need(gk->surface), req, "GET /rooms")) return std::move(*denied);
    return guarded("rooms", [&] {
      if (router) {
        if (auto r = router->rooms(req)) return std::move(*r);
      }
      return reply(200, manager.rooms_info());
    });
  });

  http.route("GET", "/rooms/peers", [&manager, router, gk](const http::Request& req) {
    if (auto denied = gk->access(listing_need(gk->surface), req, "GET /rooms/peers")) return std::move(*denied);
    auto q = parse_query(req.query);
    if (!q) return http::Response::error(400, "bad query string (invalid %-escape)");
    auto it = q->find("room");
    if (it == q->end()) return http::Response::error(400, "missing query parameter 'room'");
    if (it->second.empty()) return http::Response::error(400, "query parameter 'room' is empty");
    const std::string room = it->second;
    return guarded("room_peers", [&] {
      if (router) {
        if (auto r = router->room_peers(room, req)) return std::move(*r);
      }
      return reply(200, manager.room_peers(room));
    });
  });

  http.route("GET", "/cluster/nodes", [router, gk](const http::Request& req) {
    if (auto denied = gk->access(listing_need(gk->surface), req, "GET /cluster/nodes")) return std::move(*denied);
    return guarded("cluster_nodes", [&] {
      if (router) {
        if (auto r = router->cluster_nodes(req)) return std::move(*r);
      }
      return http::Response::error(404, "not in a cluster (start peerrtc-server with --redis)");
    });
  });

  // Another node's /stats through this one (the dashboard's cluster view).
  http.route("GET", "/cluster/stats", [router, gk](const http::Request& req) {
    if (auto denied = gk->access(listing_need(gk->surface), req, "GET /cluster/stats")) return std::move(*denied);
    auto q = parse_query(req.query);
    if (!q) return http::Response::error(400, "bad query string (invalid %-escape)");
    auto it = q->find("node");
    if (it == q->end() || it->second.empty()) return http::Response::error(400, "missing query parameter 'node'");
    const std::string node = it->second;
    return guarded("cluster_stats", [&] {
      if (router) {
        if (auto r = router->node_stats(node, req)) return std::move(*r);
      }
      return http::Response::error(404, "not in a cluster (start peerrtc-server with --redis)");
    });
  });

  // ICE servers for clients, with TURN credentials minted for this request (for the peer named
  // by ?peer_id=, else a random id): never cached by the browser or a proxy.
  http.route("GET", "/config", [&manager, gk](const http::Request& req) {
    if (auto limited = gk->rate(2, req)) return std::move(*limited);
    if (auto denied = gk->access(config_need(gk->surface), req, "GET /config")) return std::move(*denied);
    auto q = parse_query(req.query);
    if (!q) return http::Response::error(400, "bad query string (invalid %-escape)");
    std::string peer_id;
    if (auto it = q->find("peer_id"); it != q->end()) {
      if (it->second.empty()) return http::Response::error(400, "query parameter 'peer_id' is empty");
      peer_id = it->second;
    }
    return guarded("config", [&] {
      http::Response r = reply(200, manager.ice_config(peer_id));
      r.headers["Cache-Control"] = "no-store";
      return r;
    });
  });

  http.route("GET", "/health", [&manager, started, extra = o.health_extra](const http::Request&) {
    return guarded("health", [&] {
      Stats s = manager.stats();
      json j{{"status", "ok"}, {"rooms", s.rooms}, {"peers", s.peers}, {"uptime_s", seconds_since(started)}};
      if (extra.is_object()) j.update(extra);
      return reply(200, j);
    });
  });

  http.route("GET", "/stats", [&manager, started, gk, router = o.router.get()](const http::Request& req) {
    if (auto denied = gk->access(stats_need(gk->surface), req, "GET /stats")) return std::move(*denied);
    return guarded("stats", [&] {
      Stats s = manager.stats();
      json j = stats_json(s, seconds_since(started));
      j["http_rate_limited"] = gk->counters->to_json();
      if (router)
        if (json c = router->counters(); c.is_object()) j["cluster"] = std::move(c);
      return reply(200, j);
    });
  });

  // GET /metrics, /dashboard/
  install_metrics(
      http, manager, o.dashboard_dir, started,
      [gk](const http::Request& req) { return gk->access(stats_need(gk->surface), req, "GET /metrics"); },
      gk->counters, [router = o.router.get()] { return cluster_metric_families(router); });
  install_api(http, manager, o.api_key, router);

  // The JS client.
  const fs::path client(o.client_dir);
  route_file(http, "/peerrtc-client.js", client / "peerrtc-client.js", "text/javascript; charset=utf-8");
  route_file(http, "/peerrtc-client.d.ts", client / "peerrtc-client.d.ts", "text/plain; charset=utf-8");

  install_moderation(manager, o.block_words, o.mask_words);

  if (o.examples) {
    const fs::path ex(o.examples_dir);
    http.serve_static("/", chat_dir(ex).string());
    http.serve_static("/whiteboard", (ex / "whiteboard").string());
    http.serve_static("/echo", (ex / "echo").string());
    install_echo(manager, o.echo_room_prefix);
  } else {
    http.route("GET", "/", [](const http::Request&) {
      return reply(200, json{{"name", "peerrtc-server"},
                             {"endpoints",
                              {"POST /offer", "POST /candidate", "POST /leave", "GET /rooms",
                               "GET /rooms/peers?room=R", "GET /config", "GET /health", "GET /stats",
                               "GET /cluster/nodes", "GET /cluster/stats?node=ID",
                               "GET /metrics", "GET /dashboard/", "GET /peerrtc-client.js", "/api/ (with --api-key)"}}});
    });
  }
}

App::App(SignalingManager& manager, Options options) : options_(resolve(std::move(options))) {
  http::ServerConfig hc;
  hc.host = options_.host;
  hc.port = options_.http_port;
  hc.max_body_bytes = options_.max_body_bytes;
  hc.threads = options_.http_threads == 0 ? 1 : options_.http_threads;
  hc.cors_origins = options_.cors_origins;
  hc.default_headers = security_headers();
  if (options_.shared_http_port) hc.more_listeners.push_back({options_.host, *options_.shared_http_port, true});
  http_ = std::make_unique<http::Server>(hc);
  install(*http_, manager, options_);
}

App::~App() {
  try {
    stop();
  } catch (...) {
  }
}

void App::start() { http_->start(); }
void App::stop() { http_->stop(); }
uint16_t App::port() const { return http_->port(); }
uint16_t App::shared_port() const { return options_.shared_http_port ? http_->listener_port(0) : 0; }

}  // namespace peerrtc::server
