// See node.hpp.
#include "cluster/node.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include "common/log.hpp"
#include "http/http.hpp"

namespace peerrtc::cluster {

using Clock = std::chrono::steady_clock;

namespace {

// KEYS: room keys; ARGV: node id, lease ms. Per key: 1 = held by this node (renewed, or taken
// because it had expired, e.g. after Redis restarted), 0 = another node holds it.
constexpr const char* kRenewScript = R"(local out = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v == false then
    redis.call('SET', k, ARGV[1], 'PX', ARGV[2]); out[i] = 1
  elseif v == ARGV[1] then
    redis.call('PEXPIRE', k, ARGV[2]); out[i] = 1
  else
    out[i] = 0
  end
end
return out)";

// KEYS: room keys; ARGV: node id. Deletes each key that still names this node.
constexpr const char* kReleaseScript = R"(local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k); n = n + 1 end
end
return n)";

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool is_wildcard(const std::string& host) { return host == "0.0.0.0" || host == "::" || host == "[::]" || host.empty(); }

}  // namespace

std::string node_key(std::string_view prefix, std::string_view node_id) {
  return std::string(prefix) + "node:" + std::string(node_id);
}
std::string room_key(std::string_view prefix, std::string_view room) {
  return std::string(prefix) + "room:" + std::string(room);
}

json to_json(const NodeInfo& n) {
  return json{{"id", n.id}, {"url", n.url}, {"udp", n.udp}, {"rooms", n.rooms}, {"peers", n.peers},
              {"started_ms", n.started_ms}};
}

std::optional<NodeInfo> node_from_json(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto str = [&](const char* k) -> const json* {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? &*it : nullptr;
  };
  auto num = [&](const char* k) -> const json* {
    auto it = j.find(k);
    return it != j.end() && it->is_number_integer() ? &*it : nullptr;
  };
  const json *id = str("id"), *url = str("url"), *udp = num("udp"), *rooms = num("rooms"), *peers = num("peers");
  if (!id || !url || !udp || !rooms || !peers) return std::nullopt;
  NodeInfo n;
  n.id = id->get<std::string>();
  n.url = url->get<std::string>();
  auto u = udp->get<int64_t>(), r = rooms->get<int64_t>(), p = peers->get<int64_t>();
  if (n.id.empty() || u < 0 || u > 65535 || r < 0 || p < 0) return std::nullopt;
  n.udp = static_cast<uint16_t>(u);
  n.rooms = static_cast<size_t>(r);
  n.peers = static_cast<size_t>(p);
  if (const json* s = num("started_ms")) n.started_ms = s->get<int64_t>();
  return n;
}

std::optional<size_t> choose_node(const std::vector<NodeInfo>& nodes) {
  if (nodes.empty()) return std::nullopt;
  size_t best = 0;
  for (size_t i = 1; i < nodes.size(); ++i) {
    const auto& a = nodes[i];
    const auto& b = nodes[best];
    if (std::tie(a.peers, a.rooms, a.id) < std::tie(b.peers, b.rooms, b.id)) best = i;
  }
  return best;
}

std::optional<HttpAddress> parse_http_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) return std::nullopt;
  std::string_view rest = url.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#@") != std::string_view::npos) return std::nullopt;
  HttpAddress a;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') return std::nullopt;
    a.host = std::string(rest.substr(0, close + 1));  // keeps the brackets: http::request takes them
    port = rest.substr(close + 2);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    a.host = std::string(rest.substr(0, colon));
    port = rest.substr(colon + 1);
  }
  if (a.host.empty() || a.host == "[]") return std::nullopt;
  unsigned n = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || n == 0 || n > 65535) return std::nullopt;
  a.port = static_cast<uint16_t>(n);
  return a;
}

std::string default_advertise_url(const std::string& host, uint16_t port) {
  std::string h = is_wildcard(host) ? "127.0.0.1" : host;
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";
  return "http://" + h + ":" + std::to_string(port);
}

std::string check_node_id(std::string_view id) {
  if (id.empty()) return "a node id must not be empty";
  if (id.size() > 64) return "a node id has at most 64 characters";
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return "a node id is made of letters, digits, '.', '_' and '-'";
  }
  return "";
}

std::string random_node_id() {
  std::random_device rd;
  std::uniform_int_distribution<unsigned> d(0, 15);
  std::string id = "n-";
  for (int i = 0; i < 10; ++i) id.push_back("0123456789abcdef"[d(rd)]);
  return id;
}

// ---------------------------------------------------------------------------------------------

class RedisRouter;

struct Node::Impl : std::enable_shared_from_this<Node::Impl> {
  Impl(Redis& r, SignalingManager& m, NodeOptions o) : redis(r), manager(m), opts(std::move(o)) {}

  Redis& redis;
  SignalingManager& manager;
  NodeOptions opts;
  int64_t started_ms = unix_ms();

  std::mutex m;
  std::condition_variable cv;
  bool stopping = false;
  std::thread heartbeat;
  // Rooms this node holds the lease of (renewed every heartbeat), and when a request last
  // placed or touched each one here (a room with no joined peer yet is held for pending_hold).
  std::set<std::string> held;
  std::map<std::string, Clock::time_point> touched;
  std::vector<NodeInfo> nodes_cache;  // the live nodes at the last heartbeat (placement)
  bool registered_logged = false, unregistered_logged = false;
  size_t last_rooms = 0, last_peers = 0;  // the manager's, at the last heartbeat

  Reply cmd(std::vector<std::string> argv) { return redis.command_sync(std::move(argv), opts.redis_timeout); }

  void touch(const std::string& room) {
    std::lock_guard lock(m);
    touched[room] = Clock::now();
    held.insert(room);
  }

  bool holds_locally(const std::string& room) {
    std::lock_guard lock(m);
    return held.count(room) > 0;
  }

  // The record with the loads of the last snapshot: refreshing it never waits for the network
  // thread, so a busy relay cannot make its node look dead.
  std::string record() {
    NodeInfo n;
    n.id = opts.id;
    n.url = opts.advertise_url;
    n.udp = opts.udp_port;
    {
      std::lock_guard lock(m);
      n.rooms = last_rooms;
      n.peers = last_peers;
    }
    n.started_ms = started_ms;
    return dump(to_json(n));
  }

  // Throws std::runtime_error when Redis cannot be asked.
  std::vector<NodeInfo> fetch_nodes() {
    std::vector<std::string> keys;
    std::string cursor = "0";
    int rounds = 0;
    do {
      Reply r = cmd({"SCAN", cursor, "MATCH", node_key(opts.prefix, "*"), "COUNT", "1000"});
      if (!r.ok() || r.type != Reply::Type::Array || r.elements.size() != 2)
        throw std::runtime_error("cannot list the nodes in Redis: " + (r.ok() ? std::string("bad SCAN reply") : r.str));
      cursor = r.elements[0].str;
      for (auto& k : r.elements[1].elements) keys.push_back(k.str);
    } while (cursor != "0" && ++rounds < 1000);
    std::vector<NodeInfo> out;
    if (keys.empty()) return out;
    std::vector<std::string> argv{"MGET"};
    argv.insert(argv.end(), keys.begin(), keys.end());
    Reply r = cmd(argv);
    if (!r.ok() || r.type != Reply::Type::Array)
      throw std::runtime_error("cannot read the nodes in Redis: " + (r.ok() ? std::string("bad MGET reply") : r.str));
    for (auto& e : r.elements)
      if (e.type == Reply::Type::String)
        if (auto n = node_from_json(e.str)) out.push_back(std::move(*n));
    std::sort(out.begin(), out.end(), [](const NodeInfo& a, const NodeInfo& b) { return a.id < b.id; });
    return out;
  }

  bool register_once() {
    Reply r = cmd({"SET", node_key(opts.prefix, opts.id), record(), "PX", std::to_string(opts.ttl.count())});
    std::lock_guard lock(m);
    if (!r.ok()) {
      if (!unregistered_logged) log().warn("cluster: node {} cannot refresh its record in Redis: {}", opts.id, r.str);
      unregistered_logged = true;
      registered_logged = false;
      return false;
    }
    if (unregistered_logged) log().warn("cluster: node {} registered again in Redis", opts.id);
    unregistered_logged = false;
    registered_logged = true;
    return true;
  }

  // KEYS = the rooms' keys; returns false if Redis did not answer.
  bool run_script(const char* script, const std::vector<std::string>& rooms, bool with_ttl) {
    constexpr size_t kBatch = 500;
    for (size_t i = 0; i < rooms.size(); i += kBatch) {
      size_t n = std::min(kBatch, rooms.size() - i);
      std::vector<std::string> argv{"EVAL", script, std::to_string(n)};
      for (size_t k = i; k < i + n; ++k) argv.push_back(room_key(opts.prefix, rooms[k]));
      argv.push_back(opts.id);
      if (with_ttl) argv.push_back(std::to_string(opts.ttl.count()));
      Reply r = cmd(argv);
      if (!r.ok()) {
        log().debug("cluster: lease script failed: {}", r.str);
        return false;
      }
      if (with_ttl)
        for (size_t k = 0; k < r.elements.size() && k < n; ++k)
          if (r.elements[k].integer == 0)
            log().warn("cluster: room '{}' is here on node {} but its lease names another node", rooms[i + k], opts.id);
    }
    return true;
  }

  // One heartbeat: the record and the leases first (no wait for the network thread), then a
  // snapshot of the manager's rooms decides which leases to take and to release.
  void beat() {
    if (!register_once()) return;
    std::vector<std::string> held_now;
    {
      std::lock_guard lock(m);
      held_now.assign(held.begin(), held.end());
    }
    if (!run_script(kRenewScript, held_now, true)) return;

    std::set<std::string> local;
    size_t peers = 0;
    try {
      json info = manager.rooms_info();
      for (auto& r : info["rooms"]) local.insert(r["room"].get<std::string>());
      peers = manager.stats().peers;
    } catch (const std::exception& e) {
      log().debug("cluster: no snapshot of the rooms this time: {}", e.what());
      return;
    }
    std::vector<std::string> added, released;
    {
      std::lock_guard lock(m);
      last_rooms = local.size();
      last_peers = peers;
      const auto now = Clock::now();
      for (auto it = touched.begin(); it != touched.end();)
        it = now - it->second > opts.pending_hold ? touched.erase(it) : std::next(it);
      for (auto& r : local)
        if (held.insert(r).second) added.push_back(r);
      for (auto it = held.begin(); it != held.end();) {
        if (local.count(*it) || touched.count(*it)) {
          ++it;
        } else {
          released.push_back(*it);
          it = held.erase(it);
        }
      }
    }
    run_script(kRenewScript, added, true);
    if (!released.empty() && run_script(kReleaseScript, released, false))
      log().debug("cluster: released {} room lease(s)", released.size());
    try {
      auto nodes = fetch_nodes();
      std::lock_guard lock(m);
      nodes_cache = std::move(nodes);
    } catch (const std::exception& e) {
      log().debug("cluster: {}", e.what());
    }
  }

  void run() {
    const auto interval = std::max(opts.ttl / 3, std::chrono::milliseconds(50));
    std::unique_lock lock(m);
    while (!stopping) {
      cv.wait_for(lock, interval, [&] { return stopping; });
      if (stopping) break;
      lock.unlock();
      try {
        beat();
      } catch (const std::exception& e) {
        log().error("cluster: heartbeat failed: {}", e.what());
      }
      lock.lock();
    }
  }

  // Placement: the least-loaded live node, from a fresh list of the live nodes (their loads
  // are as of their last heartbeat). Each placement counts at once in this node's view (until
  // its next heartbeat), so a burst of new rooms spreads too.
  std::string place() {
    std::vector<NodeInfo> fresh;
    try {
      fresh = fetch_nodes();
    } catch (const std::exception& e) {
      log().debug("cluster: placing with the last heartbeat's view: {}", e.what());
    }
    std::lock_guard lock(m);
    if (!fresh.empty()) {
      for (auto& n : fresh)
        for (auto& c : nodes_cache)
          if (c.id == n.id) {
            n.rooms = std::max(n.rooms, c.rooms);
            n.peers = std::max(n.peers, c.peers);
          }
      nodes_cache = std::move(fresh);
    }
    auto i = choose_node(nodes_cache);
    if (!i) return opts.id;
    nodes_cache[*i].rooms += 1;
    nodes_cache[*i].peers += 1;
    return nodes_cache[*i].id;
  }

  bool release_if(const std::string& room, const std::string& owner) {
    Reply r = cmd({"EVAL", kReleaseScript, "1", room_key(opts.prefix, room), owner});
    return r.ok() && r.integer == 1;
  }
};

namespace {

http::Response error(int status, const std::string& msg) { return http::Response::error(status, msg); }

std::string quote(const std::string& s) { return "'" + s + "'"; }

}  // namespace

class RedisRouter : public server::RoomRouter {
 public:
  explicit RedisRouter(std::shared_ptr<Node::Impl> node) : n_(std::move(node)) {}

  std::optional<http::Response> route(const std::string& room, Intent intent, const http::Request& req) override {
    auto& n = *n_;
    const std::string key = room_key(n.opts.prefix, room);
    if (auto from = forwarded_from(req)) {
      Reply owner = n.cmd({"GET", key});
      if (!owner.ok()) {  // Redis away: serve it, the lease is retaken when Redis is back
        n.touch(room);
        return std::nullopt;
      }
      if (owner.is_nil() && intent == Intent::Create) {
        Reply set = n.cmd({"SET", key, n.opts.id, "NX", "PX", std::to_string(n.opts.ttl.count())});
        if (set.ok() && set.is_nil()) owner = n.cmd({"GET", key});
        else if (set.ok()) owner.type = Reply::Type::String, owner.str = n.opts.id;
      }
      if (owner.type == Reply::Type::String && owner.str != n.opts.id) {
        json body{{"error", "room " + quote(room) + " is held by node " + owner.str + ", not by this node (" + n.opts.id +
                                "); forwarded by " + *from},
                  {"code", "wrong_node"},
                  {"node", owner.str}};
        return http::Response::json(409, dump(body));
      }
      n.touch(room);
      return std::nullopt;
    }

    for (int attempt = 0; attempt < 3; ++attempt) {
      Reply owner = n.cmd({"GET", key});
      if (!owner.ok()) {
        if (n.holds_locally(room)) return std::nullopt;  // keeps serving the rooms it holds
        return error(503, "the cluster's Redis is unavailable (" + owner.str + "); try again");
      }
      if (owner.is_nil()) {
        if (intent == Intent::Existing) return std::nullopt;  // no such room: the local answer (404)
        const std::string target = n.place();
        Reply set = n.cmd({"SET", key, target, "NX", "PX", std::to_string(n.opts.ttl.count())});
        if (!set.ok()) return error(503, "the cluster's Redis is unavailable (" + set.str + "); try again");
        if (set.is_nil()) continue;  // another node placed it first: ask again
        log().debug("cluster: room '{}' placed on node {}", room, target);
        owner.type = Reply::Type::String;
        owner.str = target;
      }
      if (owner.type != Reply::Type::String) return error(500, "unexpected lease value in Redis for room " + quote(room));
      if (owner.str == n.opts.id) {
        n.touch(room);
        return std::nullopt;
      }
      Reply rec = n.cmd({"GET", node_key(n.opts.prefix, owner.str)});
      if (!rec.ok()) return error(503, "the cluster's Redis is unavailable (" + rec.str + "); try again");
      std::optional<NodeInfo> info = rec.type == Reply::Type::String ? node_from_json(rec.str) : std::nullopt;
      if (!info) {  // the holder is dead (its record expired): free the room, place it anew
        if (n.release_if(room, owner.str))
          log().info("cluster: room '{}' freed: its node {} is gone", room, owner.str);
        continue;
      }
      auto addr = parse_http_url(info->url);
      if (!addr) return error(502, "node " + owner.str + " of room " + quote(room) + " has a bad url: " + info->url);
      std::string target = req.target + (req.query.empty() ? "" : "?" + req.query);
      try {
        std::map<std::string, std::string> headers{{kForwardedHeader, n.opts.id}};
        // The server API's key goes along: the room's node checks it again.
        if (auto auth = req.headers.find("authorization"); auth != req.headers.end())
          headers["Authorization"] = auth->second;
        auto r = http::request(addr->host, addr->port, req.method, target, req.body, n.opts.forward_timeout, headers);
        if (r.status == 409 && is_wrong_node(r.body)) {  // the lease moved meanwhile: ask again
          log().debug("cluster: node {} no longer holds room '{}'", owner.str, room);
          continue;
        }
        http::Response out;
        out.status = r.status;
        out.body = std::move(r.body);
        return out;
      } catch (const std::exception& e) {
        const std::string what = e.what();
        // Nothing reached it: if it died meanwhile, free the room and place it anew.
        bool not_sent = what.find("cannot connect") != std::string::npos || what.find("during connect") != std::string::npos;
        if (not_sent) {
          Reply again = n.cmd({"GET", node_key(n.opts.prefix, owner.str)});
          if (again.ok() && again.is_nil()) {
            if (n.release_if(room, owner.str))
              log().info("cluster: room '{}' freed: its node {} is gone", room, owner.str);
            continue;
          }
        }
        log().warn("cluster: forwarding {} for room '{}' to node {} failed: {}", req.target, room, owner.str, what);
        return error(502, "the node of room " + quote(room) + " (" + owner.str + ", " + info->url +
                              ") is unreachable: " + what);
      }
    }
    return error(503, "could not place room " + quote(room) + " (the cluster is changing); try again");
  }

  std::optional<http::Response> rooms(const http::Request& req) override {
    auto& n = *n_;
    if (forwarded_from(req)) return std::nullopt;
    std::vector<NodeInfo> nodes;
    try {
      nodes = n.fetch_nodes();
    } catch (const std::exception& e) {
      log().debug("cluster: /rooms is local only: {}", e.what());
      return std::nullopt;
    }
    std::vector<std::future<std::pair<std::string, std::optional<json>>>> answers;
    for (auto& node : nodes) {
      if (node.id == n.opts.id) continue;
      answers.push_back(std::async(std::launch::async, [&n, node]() -> std::pair<std::string, std::optional<json>> {
        auto addr = parse_http_url(node.url);
        if (!addr) return {node.id, std::nullopt};
        try {
          auto r = http::request(addr->host, addr->port, "GET", "/rooms", {}, std::chrono::milliseconds(2000),
                                 {{kForwardedHeader, n.opts.id}});
          json j = json::parse(r.body, nullptr, false);
          if (r.status != 200 || !j.is_object() || !j.contains("rooms") || !j["rooms"].is_array())
            return {node.id, std::nullopt};
          return {node.id, std::move(j)};
        } catch (const std::exception& e) {
          log().debug("cluster: /rooms of node {}: {}", node.id, e.what());
          return {node.id, std::nullopt};
        }
      }));
    }
    // room -> (node, peers); a room seen on two nodes (a moment during failover) is listed once.
    std::map<std::string, std::pair<std::string, std::vector<std::string>>> merged;
    auto add = [&](const std::string& node, const json& j) {
      for (auto& r : j["rooms"]) {
        if (!r.is_object() || !r.contains("room") || !r["room"].is_string()) continue;
        auto& slot = merged[r["room"].get<std::string>()];
        if (slot.first.empty()) slot.first = node;
        if (r.contains("peers") && r["peers"].is_array())
          for (auto& p : r["peers"])
            if (p.is_string() && std::find(slot.second.begin(), slot.second.end(), p.get<std::string>()) == slot.second.end())
              slot.second.push_back(p.get<std::string>());
      }
    };
    add(n.opts.id, n.manager.rooms_info());
    json unreachable = json::array();
    for (auto& f : answers) {
      auto [id, j] = f.get();
      if (j) add(id, *j);
      else unreachable.push_back(id);
    }
    json rooms = json::array();
    for (auto& [name, v] : merged) rooms.push_back({{"room", name}, {"peers", v.second}, {"node", v.first}});
    json out{{"rooms", rooms}};
    if (!unreachable.empty()) out["unreachable"] = unreachable;
    return http::Response::json(200, dump(out));
  }

  std::optional<http::Response> room_peers(const std::string& room, const http::Request& req) override {
    auto& n = *n_;
    if (forwarded_from(req)) return std::nullopt;
    Reply owner = n.cmd({"GET", room_key(n.opts.prefix, room)});
    if (!owner.ok() || owner.type != Reply::Type::String || owner.str == n.opts.id) return std::nullopt;
    Reply rec = n.cmd({"GET", node_key(n.opts.prefix, owner.str)});
    std::optional<NodeInfo> info = rec.type == Reply::Type::String ? node_from_json(rec.str) : std::nullopt;
    if (!info) return std::nullopt;  // its node is gone: the room is nowhere (404 from here)
    auto addr = parse_http_url(info->url);
    if (!addr) return error(502, "node " + owner.str + " has a bad url: " + info->url);
    try {
      auto r = http::request(addr->host, addr->port, "GET", req.target + "?" + req.query, {}, std::chrono::milliseconds(2000),
                             {{kForwardedHeader, n.opts.id}});
      return http::Response::json(r.status, r.body);
    } catch (const std::exception& e) {
      return error(502, "the node of room " + quote(room) + " (" + owner.str + ") is unreachable: " + e.what());
    }
  }

  std::optional<http::Response> cluster_nodes(const http::Request&) override {
    auto& n = *n_;
    std::vector<NodeInfo> nodes;
    try {
      nodes = n.fetch_nodes();
    } catch (const std::exception& e) {
      return error(503, std::string(e.what()));
    }
    json list = json::array();
    for (auto& node : nodes) {
      json j = to_json(node);
      j["self"] = node.id == n.opts.id;
      list.push_back(std::move(j));
    }
    return http::Response::json(200, dump(json{{"nodes", list}, {"self", n.opts.id}}));
  }

 private:
  static bool is_wrong_node(const std::string& body) {
    json j = json::parse(body, nullptr, false);
    return j.is_object() && j.contains("code") && j["code"] == "wrong_node";
  }
  static std::optional<std::string> forwarded_from(const http::Request& req) {
    auto it = req.headers.find("x-peerrtc-forwarded");
    if (it == req.headers.end()) return std::nullopt;
    return it->second.empty() ? std::string("?") : it->second;
  }
  std::shared_ptr<Node::Impl> n_;
};

void DeferredRouter::set(std::shared_ptr<server::RoomRouter> target) {
  std::lock_guard lock(m_);
  target_ = std::move(target);
}
std::shared_ptr<server::RoomRouter> DeferredRouter::get() const {
  std::lock_guard lock(m_);
  return target_;
}
std::optional<http::Response> DeferredRouter::route(const std::string& room, Intent intent, const http::Request& req) {
  auto t = get();
  return t ? t->route(room, intent, req) : std::nullopt;
}
std::optional<http::Response> DeferredRouter::rooms(const http::Request& req) {
  auto t = get();
  return t ? t->rooms(req) : std::nullopt;
}
std::optional<http::Response> DeferredRouter::room_peers(const std::string& room, const http::Request& req) {
  auto t = get();
  return t ? t->room_peers(room, req) : std::nullopt;
}
std::optional<http::Response> DeferredRouter::cluster_nodes(const http::Request& req) {
  auto t = get();
  return t ? t->cluster_nodes(req) : std::nullopt;
}

Node::Node(Redis& redis, SignalingManager& manager, NodeOptions options) {
  if (options.id.empty()) options.id = random_node_id();
  if (auto why = check_node_id(options.id); !why.empty()) throw std::invalid_argument(why + ": " + options.id);
  if (!parse_http_url(options.advertise_url))
    throw std::invalid_argument("the advertise URL must be http://HOST:PORT: " + options.advertise_url);
  if (options.ttl < std::chrono::milliseconds(300)) throw std::invalid_argument("the node ttl must be at least 300 ms");
  impl_ = std::make_shared<Impl>(redis, manager, std::move(options));
  router_ = std::make_shared<RedisRouter>(impl_);  // the router keeps the state alive, not the reverse
}

Node::~Node() {
  try {
    stop();
  } catch (...) {
  }
}

const std::string& Node::id() const { return impl_->opts.id; }
const NodeOptions& Node::options() const { return impl_->opts; }
std::shared_ptr<server::RoomRouter> Node::router() { return router_; }
std::vector<NodeInfo> Node::live_nodes() { return impl_->fetch_nodes(); }

void Node::start() {
  auto& im = *impl_;
  Reply existing = im.cmd({"GET", node_key(im.opts.prefix, im.opts.id)});
  if (!existing.ok()) throw std::runtime_error("cannot register in Redis: " + existing.str);
  if (existing.type == Reply::Type::String) {
    // Our own predecessor (same id and URL: restarted before its record expired) is replaced;
    // another live node with this id is a configuration error.
    auto other = node_from_json(existing.str);
    if (!other || other->url != im.opts.advertise_url)
      throw std::runtime_error("node id " + im.opts.id + " is already taken by a live node: " + existing.str);
  }
  if (!im.register_once()) throw std::runtime_error("cannot register node " + im.opts.id + " in Redis");
  try {
    im.nodes_cache = im.fetch_nodes();
  } catch (const std::exception&) {
  }
  log().info("cluster: node {} registered ({}), ttl {} ms, {} live node(s)", im.opts.id, im.opts.advertise_url,
             im.opts.ttl.count(), im.nodes_cache.size());
  im.heartbeat = std::thread([&im] { im.run(); });
}

void Node::stop() {
  auto& im = *impl_;
  {
    std::lock_guard lock(im.m);
    if (im.stopping) return;
    im.stopping = true;
  }
  im.cv.notify_all();
  if (!im.heartbeat.joinable()) return;  // never started
  im.heartbeat.join();
  std::vector<std::string> held;
  {
    std::lock_guard lock(im.m);
    held.assign(im.held.begin(), im.held.end());
  }
  im.cmd({"DEL", node_key(im.opts.prefix, im.opts.id)});
  im.run_script(kReleaseScript, held, false);
  log().info("cluster: node {} left the cluster", im.opts.id);
}

}  // namespace peerrtc::cluster
