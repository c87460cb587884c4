// The cluster's RoomRouter (HTTP threads): which node serves a room, and forwarding there.
// See node.hpp, leases.hpp, forward.hpp and docs/architecture.md "Cluster".
#include <algorithm>
#include <condition_variable>
#include <future>
#include <map>

#include "cluster/node_impl.hpp"
#include "common/log.hpp"
#include "http/http.hpp"

namespace peerrtc::cluster {

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
http::Response error(int status, const std::string& msg) { return http::Response::error(status, msg); }
http::Response coded(int status, const std::string& code, const std::string& msg) {
  return http::Response::json(status, dump(json{{"error", msg}, {"code", code}}));
}
std::string quote(const std::string& s) { return "'" + s + "'"; }
std::string full_target(const http::Request& req) { return req.target + (req.query.empty() ? "" : "?" + req.query); }

bool is_wrong_node(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  return j.is_object() && j.contains("code") && j["code"] == "wrong_node";
}

}  // namespace

class RedisRouter : public server::RoomRouter {
 public:
  explicit RedisRouter(std::shared_ptr<Node::Impl> node) : n_(std::move(node)) {}

  std::optional<http::Response> route(const std::string& room, Intent intent, const http::Request& req) override {
    auto& n = *n_;
    const ForwardOrigin origin = forward_origin(n.opts.secret, req, &n.replays);
    if (refused(origin)) return forged(origin, req);
    if (origin.kind == ForwardOrigin::Kind::Node) return route_forwarded(room, intent, origin.node);

    for (int attempt = 0; attempt < 3; ++attempt) {
      auto sent = Clock::now();
      Claim c = claim_room(n.redis, n.opts.prefix, room, n.opts.id, n.opts.ttl, false, n.opts.redis_timeout);
      if (!c.ok) return redis_away(room, c.error);
      if (c.holder == n.opts.id) {
        n.leases.proven_by_request(room, c.token, sent);
        return std::nullopt;
      }
      if (c.holder.empty()) {
        if (intent == Intent::Existing) return std::nullopt;  // no such room: the local answer (404)
        const std::string target = n.place();
        if (target == n.opts.id) {
          sent = Clock::now();
          Claim mine = claim_room(n.redis, n.opts.prefix, room, n.opts.id, n.opts.ttl, true, n.opts.redis_timeout);
          if (!mine.ok) return redis_away(room, mine.error);
          if (mine.holder != n.opts.id) continue;  // another node placed it first
          log().debug("cluster: room '{}' placed here", room);
          n.leases.proven_by_request(room, mine.token, sent);
          return std::nullopt;
        }
        Claim placed = place_room(n.redis, n.opts.prefix, room, target, n.opts.ttl, n.opts.redis_timeout);
        if (!placed.ok) return redis_away(room, placed.error);
        if (placed.holder != target) continue;  // another node placed it first: ask again
        log().debug("cluster: room '{}' placed on node {}", room, target);
        c.holder = target;
      }
      auto r = forward(room, c.holder, req);
      if (!r) continue;  // the holder is gone or no longer holds it: ask again
      return r;
    }
    return coded(503, "cluster_changing", "could not place room " + quote(room) + " (the cluster is changing); try again");
  }

  std::optional<http::Response> rooms(const http::Request& req) override {
    auto& n = *n_;
    const ForwardOrigin origin = forward_origin(n.opts.secret, req, &n.replays);
    if (refused(origin)) return forged(origin, req);
    if (origin.kind == ForwardOrigin::Kind::Node) return std::nullopt;  // this node's own
    // One fan-out at a time: a request that arrives while one runs waits for it and shares its
    // answer. Anyone may ask, as often as they like; the cluster sees at most one round of
    // GET /rooms per node at a time from this node.
    std::unique_lock lock(cache_m_);
    if (fanning_out_) {
      const uint64_t gen = generation_;
      cache_cv_.wait(lock, [&] { return generation_ != gen; });
      return cached_;
    }
    fanning_out_ = true;
    lock.unlock();
    http::Response out;
    try {
      out = fan_out(req);
    } catch (...) {
      lock.lock();
      fanning_out_ = false;
      ++generation_;
      cached_ = http::Response::error(500, "GET /rooms failed");
      cache_cv_.notify_all();
      throw;
    }
    lock.lock();
    cached_ = out;
    fanning_out_ = false;
    ++generation_;
    cache_cv_.notify_all();
    return out;
  }

  std::optional<http::Response> room_peers(const std::string& room, const http::Request& req) override {
    auto& n = *n_;
    const ForwardOrigin origin = forward_origin(n.opts.secret, req, &n.replays);
    if (refused(origin)) return forged(origin, req);
    if (origin.kind == ForwardOrigin::Kind::Node) return std::nullopt;
    Reply owner = n.cmd({"GET", room_key(n.opts.prefix, room)});
    if (!owner.ok() || owner.type != Reply::Type::String || owner.str == n.opts.id) return std::nullopt;
    Reply rec = n.cmd({"GET", node_key(n.opts.prefix, owner.str)});
    std::optional<NodeInfo> info = rec.type == Reply::Type::String ? node_from_json(rec.str) : std::nullopt;
    if (!info) return std::nullopt;  // its node is gone: the room is nowhere (404 from here)
    auto addr = parse_http_url(info->url);
    if (!addr) return error(502, "node " + owner.str + " has a bad url: " + info->url);
    try {
      auto r = n.forwarder.send(addr->host, addr->port, "GET", full_target(req), {}, std::chrono::milliseconds(2000));
      if (!r) return busy(owner.str);
      return http::Response::json(r->status, r->body);
    } catch (const std::exception& e) {
      return error(502, "the node of room " + quote(room) + " (" + owner.str + ") is unreachable: " + e.what());
    }
  }

  json counters() override { return n_->counters(); }

  std::optional<http::Response> cluster_nodes(const http::Request& req) override {
    auto& n = *n_;
    const ForwardOrigin origin = forward_origin(n.opts.secret, req, &n.replays);
    if (refused(origin)) return forged(origin, req);
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
    json counters = n.counters();
    return http::Response::json(200, dump(json{{"nodes", list}, {"self", n.opts.id}, {"counters", counters}}));
  }

  std::optional<http::Response> node_stats(const std::string& node, const http::Request& req) override {
    auto& n = *n_;
    const ForwardOrigin origin = forward_origin(n.opts.secret, req, &n.replays);
    if (refused(origin)) return forged(origin, req);
    Reply rec = n.cmd({"GET", node_key(n.opts.prefix, node)});
    if (!rec.ok()) return coded(503, "redis_unavailable", "the cluster's Redis is unavailable (" + rec.str + "); try again");
    std::optional<NodeInfo> info = rec.type == Reply::Type::String ? node_from_json(rec.str) : std::nullopt;
    if (!info) return error(404, "no node " + quote(node) + " in the cluster");
    auto addr = parse_http_url(info->url);
    if (!addr) return error(502, "node " + node + " has a bad url: " + info->url);
    try {
      auto r = n.forwarder.send(addr->host, addr->port, "GET", "/stats", {}, std::chrono::milliseconds(2000));
      if (!r) return busy(node);
      return http::Response::json(r->status, r->body);
    } catch (const std::exception& e) {
      return error(502, "node " + node + " (" + info->url + ") is unreachable: " + e.what());
    }
  }

  bool from_node(const http::Request& req, bool consume) override {
    return forward_origin(n_->opts.secret, req, &n_->replays, !consume).kind == ForwardOrigin::Kind::Node;
  }

  std::optional<http::Response> refuse_forged(const http::Request& req) override {
    const ForwardOrigin origin = forward_origin(n_->opts.secret, req, &n_->replays, /*peek=*/true);
    if (refused(origin)) return forged(origin, req);
    return std::nullopt;
  }

 private:
  static bool refused(const ForwardOrigin& o) {
    return o.kind != ForwardOrigin::Kind::Client && o.kind != ForwardOrigin::Kind::Node;
  }

  http::Response forged(const ForwardOrigin& o, const http::Request& req) {
    if (o.kind == ForwardOrigin::Kind::Replayed)
      n_->replayed_refused.fetch_add(1);
    else if (o.kind == ForwardOrigin::Kind::CacheFull)
      n_->replay_cache_full.fetch_add(1);
    else
      n_->forged_refused.fetch_add(1);
    log().warn("cluster: refused {} {} from {} claiming to be node '{}': {}", req.method, req.target, req.remote_ip,
               o.node, o.why);
    return forged_response(o);
  }

  http::Response busy(const std::string& node) {
    return coded(503, "busy",
                 "this node has " + std::to_string(n_->opts.max_forwards) +
                     " requests to other nodes under way already (node " + node + " may be slow); try again");
  }

  // Redis did not answer: only a room whose lease this node can still prove is served.
  std::optional<http::Response> redis_away(const std::string& room, const std::string& why) {
    if (n_->leases.valid(room, Clock::now())) return std::nullopt;
    return coded(503, "redis_unavailable", "the cluster's Redis is unavailable (" + why + "); try again");
  }

  // A request another node forwarded here (its signature checked): served here only if this node
  // holds the room (or, for an offer, takes it now); never forwarded again.
  std::optional<http::Response> route_forwarded(const std::string& room, Intent intent, const std::string& from) {
    auto& n = *n_;
    const auto sent = Clock::now();
    Claim c = claim_room(n.redis, n.opts.prefix, room, n.opts.id, n.opts.ttl, intent == Intent::Create,
                         n.opts.redis_timeout);
    if (!c.ok) return redis_away(room, c.error);
    if (c.holder == n.opts.id) {
      n.leases.proven_by_request(room, c.token, sent);
      return std::nullopt;
    }
    if (c.holder.empty()) return std::nullopt;  // no such room (Existing): 404 here
    json body{{"error", "room " + quote(room) + " is held by node " + c.holder + ", not by this node (" + n.opts.id +
                            "); forwarded by " + from},
              {"code", "wrong_node"},
              {"node", c.holder}};
    return http::Response::json(409, dump(body));
  }

  // Sends the request to `holder`. nullopt: ask Redis again (the holder is gone, or no longer
  // holds the room).
  std::optional<http::Response> forward(const std::string& room, const std::string& holder, const http::Request& req) {
    auto& n = *n_;
    Reply rec = n.cmd({"GET", node_key(n.opts.prefix, holder)});
    if (!rec.ok()) return coded(503, "redis_unavailable", "the cluster's Redis is unavailable (" + rec.str + "); try again");
    std::optional<NodeInfo> info = rec.type == Reply::Type::String ? node_from_json(rec.str) : std::nullopt;
    if (!info) {  // the holder is dead (its record expired): free the room, place it anew
      if (release_room(n.redis, n.opts.prefix, room, holder, n.opts.redis_timeout))
        log().info("cluster: room '{}' freed: its node {} is gone", room, holder);
      return std::nullopt;
    }
    auto addr = parse_http_url(info->url);
    if (!addr) return error(502, "node " + holder + " of room " + quote(room) + " has a bad url: " + info->url);
    try {
      std::map<std::string, std::string> headers;
      // The server API's key goes along: the room's node checks it again.
      if (auto auth = req.headers.find("authorization"); auth != req.headers.end()) headers["Authorization"] = auth->second;
      auto r = n.forwarder.send(addr->host, addr->port, req.method, full_target(req), req.body, n.opts.forward_timeout,
                                std::move(headers));
      if (!r) return busy(holder);
      if (r->status == 409 && is_wrong_node(r->body)) {  // the lease moved meanwhile: ask again
        log().debug("cluster: node {} no longer holds room '{}'", holder, room);
        return std::nullopt;
      }
      http::Response out;
      out.status = r->status;
      out.body = std::move(r->body);
      return out;
    } catch (const std::exception& e) {
      const std::string what = e.what();
      // Nothing reached it: if it died meanwhile, free the room and place it anew.
      bool not_sent = what.find("cannot connect") != std::string::npos || what.find("during connect") != std::string::npos;
      if (not_sent) {
        Reply again = n.cmd({"GET", node_key(n.opts.prefix, holder)});
        if (again.ok() && again.is_nil()) {
          if (release_room(n.redis, n.opts.prefix, room, holder, n.opts.redis_timeout))
            log().info("cluster: room '{}' freed: its node {} is gone", room, holder);
          return std::nullopt;
        }
      }
      log().warn("cluster: forwarding {} for room '{}' to node {} failed: {}", req.target, room, holder, what);
      return coded(502, "node_unreachable",
                   "the node of room " + quote(room) + " (" + holder + ", " + info->url + ") is unreachable: " + what);
    }
  }

  http::Response fan_out(const http::Request&) {
    auto& n = *n_;
    std::vector<NodeInfo> nodes;
    try {
      nodes = n.fetch_nodes();
    } catch (const std::exception& e) {
      log().debug("cluster: /rooms is local only: {}", e.what());
      return http::Response::json(200, dump(n.manager.rooms_info()));
    }
    std::vector<std::future<std::pair<std::string, std::optional<json>>>> answers;
    for (auto& node : nodes) {
      if (node.id == n.opts.id) continue;
      answers.push_back(std::async(std::launch::async, [&n, node]() -> std::pair<std::string, std::optional<json>> {
        auto addr = parse_http_url(node.url);
        if (!addr) return {node.id, std::nullopt};
        try {
          auto r = n.forwarder.send(addr->host, addr->port, "GET", "/rooms", {}, std::chrono::milliseconds(1500));
          if (!r) return {node.id, std::nullopt};
          json j = json::parse(r->body, nullptr, false);
          if (r->status != 200 || !j.is_object() || !j.contains("rooms") || !j["rooms"].is_array())
            return {node.id, std::nullopt};
          return {node.id, std::move(j)};
        } catch (const std::exception& e) {
          log().debug("cluster: /rooms of node {}: {}", node.id, e.what());
          return {node.id, std::nullopt};
        }
      }));
    }
    // room -> (nodes, peers). A room seen on two nodes is listed once, with every node that
    // serves it in "nodes" and its name in the answer's "split" list: a split stays visible.
    std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> merged;
    auto add = [&](const std::string& node, const json& j) {
      for (auto& r : j["rooms"]) {
        if (!r.is_object() || !r.contains("room") || !r["room"].is_string()) continue;
        auto& slot = merged[r["room"].get<std::string>()];
        slot.first.push_back(node);
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
    json rooms = json::array(), split = json::array();
    for (auto& [name, v] : merged) {
      json r{{"room", name}, {"peers", v.second}, {"node", v.first.front()}};
      if (v.first.size() > 1) {
        r["nodes"] = v.first;
        split.push_back(name);
      }
      rooms.push_back(std::move(r));
    }
    json out{{"rooms", rooms}};
    if (!unreachable.empty()) out["unreachable"] = unreachable;
    if (!split.empty()) out["split"] = split;
    return http::Response::json(200, dump(out));
  }

  std::shared_ptr<Node::Impl> n_;
  std::mutex cache_m_;
  std::condition_variable cache_cv_;
  bool fanning_out_ = false;
  uint64_t generation_ = 0;
  http::Response cached_;
};

std::shared_ptr<server::RoomRouter> make_router(std::shared_ptr<Node::Impl> impl) {
  return std::make_shared<RedisRouter>(std::move(impl));
}

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
json DeferredRouter::counters() {
  auto t = get();
  return t ? t->counters() : json(nullptr);
}
std::optional<http::Response> DeferredRouter::node_stats(const std::string& node, const http::Request& req) {
  auto t = get();
  return t ? t->node_stats(node, req) : std::nullopt;
}
bool DeferredRouter::from_node(const http::Request& req, bool consume) {
  auto t = get();
  return t && t->from_node(req, consume);
}
std::optional<http::Response> DeferredRouter::refuse_forged(const http::Request& req) {
  auto t = get();
  return t ? t->refuse_forged(req) : std::nullopt;
}

}  // namespace peerrtc::cluster
