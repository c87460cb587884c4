// See node.hpp. The heartbeat and the local thread; the router is in router.cpp.
#include "cluster/node.hpp"

#include <algorithm>
#include <stdexcept>

#include "cluster/node_impl.hpp"
#include "common/log.hpp"

namespace peerrtc::cluster {

Node::Impl::Impl(Redis& r, SignalingManager& mgr, NodeOptions o)
    : redis(r),
      manager(mgr),
      opts(std::move(o)),
      beat(std::max(std::chrono::milliseconds(100), opts.ttl / 3)),
      started_ms(unix_ms_now()),
      leases(opts.ttl),
      forwarder(ForwardOptions{opts.id, opts.secret, opts.max_forwards, opts.connect_timeout}) {}

NodeInfo Node::Impl::self_info() {
  NodeInfo n;
  n.id = opts.id;
  n.url = opts.advertise_url;
  n.udp = opts.udp_port;
  n.started_ms = started_ms;
  std::lock_guard lock(m);
  n.rooms = snap.rooms_n;
  n.peers = snap.peers_n;
  return n;
}

std::string Node::Impl::place() {
  std::vector<NodeInfo> fresh;
  try {
    fresh = fetch_nodes();
  } catch (const std::exception& e) {
    log().debug("cluster: placing with the last view: {}", e.what());
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

void Node::Impl::step_down(const std::string& room, const std::string& reason) {
  leases.remove(room);
  leases.mark_evicted(room, Clock::now());
  stepped_down.fetch_add(1);
  log().warn("cluster: node {} steps down from room '{}': {}", opts.id, room, reason);
  {
    std::lock_guard lock(m);
    evictions.emplace_back(room, reason);
  }
  local_cv.notify_all();
}

// One heartbeat. The order matters: first the rooms whose lease this node can no longer prove
// (after a pause, before anything else), then the record, then the renewals.
void Node::Impl::beat_once() {
  const auto now = Clock::now();
  for (auto& room : leases.take_expired(now))
    step_down(room, "its lease was not renewed for " + std::to_string(opts.ttl.count()) +
                        " ms (Redis away, or this process paused)");

  NodeInfo me = self_info();
  Reply r = register_node(redis, opts.prefix, me, opts.ttl, beat);
  if (!r.ok()) {
    if (!unregistered_logged) log().warn("cluster: node {} cannot refresh its record in Redis: {}", opts.id, r.str);
    unregistered_logged = true;
  } else if (unregistered_logged) {
    log().warn("cluster: node {} registered again in Redis", opts.id);
    unregistered_logged = false;
  }

  // What to renew: every lease in the table, and every room the manager has that the table has
  // not (Redis restarted empty, or a room this node lost: the renewal says which). A lease no
  // room uses any more, and that no request touched within pending_hold, is released.
  Snapshot s;
  {
    std::lock_guard lock(m);
    s = snap;
  }
  const bool fresh = s.valid && now - s.at < opts.pending_hold;
  std::vector<std::pair<std::string, std::string>> renew;
  const auto table = leases.all();
  for (auto& [room, l] : table) {
    if (fresh && !s.rooms.count(room) && now - l.touched > opts.pending_hold) {
      if (leases.remove(room, l.token)) release_room(redis, opts.prefix, room, opts.id, beat);
      continue;
    }
    renew.emplace_back(room, l.token);
  }
  if (s.valid)
    for (auto& room : s.rooms)
      if (!table.count(room) && !leases.recently_evicted(room, now, opts.ttl * 2)) renew.emplace_back(room, "");
  if (renew.empty()) return;
  const auto sent = Clock::now();
  auto tokens = renew_rooms(redis, opts.prefix, opts.id, opts.ttl, renew, beat);
  if (!tokens) return;  // Redis away: the leases run down, and take_expired steps down in time
  for (size_t i = 0; i < renew.size(); ++i) {
    const auto& [room, sent_token] = renew[i];
    const std::string& t = (*tokens)[i];
    if (t == "0") {
      // Lost. (A room that was not in the table is still stepped down from, since its members
      // are here, unless a request claimed it meanwhile.)
      const bool ours = sent_token.empty() ? !leases.valid(room, Clock::now()) : leases.remove(room, sent_token);
      if (ours) step_down(room, "its lease is held by another node (or under another fencing token)");
    } else if (!leases.proven_by_renewal(room, sent_token, t, sent)) {
      log().debug("cluster: renewal of room '{}' overtaken by a request", room);
    }
  }
}

void Node::Impl::run_heartbeat() {
  std::unique_lock lock(m);
  while (!stopping) {
    cv.wait_for(lock, beat, [&] { return stopping; });
    if (stopping) break;
    lock.unlock();
    try {
      beat_once();
    } catch (const std::exception& e) {
      log().error("cluster: heartbeat failed: {}", e.what());
    }
    lock.lock();
  }
}

void Node::Impl::run_local() {
  std::unique_lock lock(m);
  auto next_snapshot = Clock::now();
  while (!stopping) {
    local_cv.wait_until(lock, next_snapshot, [&] { return stopping || !evictions.empty(); });
    if (stopping) break;
    while (!evictions.empty()) {
      auto [room, reason] = std::move(evictions.front());
      evictions.pop_front();
      lock.unlock();
      try {
        evicted_members.fetch_add(manager.evict_room(room, reason));
      } catch (const std::exception& e) {
        log().warn("cluster: evicting room '{}' failed: {}", room, e.what());
      }
      lock.lock();
    }
    if (Clock::now() < next_snapshot) continue;
    lock.unlock();
    Snapshot s;
    try {
      json info = manager.rooms_info();
      Stats st = manager.stats();
      for (auto& r : info["rooms"])
        if (r.contains("room") && r["room"].is_string()) s.rooms.insert(r["room"].get<std::string>());
      s.rooms_n = st.rooms;
      s.peers_n = st.peers;
      s.valid = true;
      s.at = Clock::now();
    } catch (const std::exception& e) {
      log().debug("cluster: no snapshot of the rooms this time: {}", e.what());
    }
    lock.lock();
    if (s.valid) snap = std::move(s);
    next_snapshot = Clock::now() + beat;
  }
}

// ---------------------------------------------------------------------------------------------

std::shared_ptr<server::RoomRouter> make_router(std::shared_ptr<Node::Impl> impl);  // router.cpp

Node::Node(Redis& redis, SignalingManager& manager, NodeOptions options) {
  if (options.id.empty()) options.id = random_node_id();
  if (auto why = check_node_id(options.id); !why.empty()) throw std::invalid_argument(why + ": " + options.id);
  if (!parse_http_url(options.advertise_url))
    throw std::invalid_argument("the advertise URL must be http://HOST:PORT: " + options.advertise_url);
  if (options.ttl < std::chrono::milliseconds(300)) throw std::invalid_argument("the node ttl must be at least 300 ms");
  if (options.secret.size() < kMinClusterSecret)
    throw std::invalid_argument("the cluster secret must have at least " + std::to_string(kMinClusterSecret) + " bytes");
  if (options.max_forwards == 0) throw std::invalid_argument("max_forwards must be at least 1");
  impl_ = std::make_shared<Impl>(redis, manager, std::move(options));
  router_ = make_router(impl_);  // the router keeps the state alive, not the reverse
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
std::optional<std::string> Node::fence_token(const std::string& room) const {
  return impl_->leases.token(room, Clock::now());
}

json Node::counters() const { return impl_->counters(); }

void Node::add_counters(std::string name, std::function<json()> fn) {
  std::lock_guard lock(impl_->m);
  impl_->extra_counters.emplace_back(std::move(name), std::move(fn));
}

json Node::Impl::counters() {
  json j{{"leases", leases.size()},
         {"stepped_down", stepped_down.load()},
         {"evicted_members", evicted_members.load()},
         {"forged_refused", forged_refused.load()},
         {"replayed_refused", replayed_refused.load()},
         {"replay_cache_full", replay_cache_full.load()},
         {"replay_cache", replays.size()},
         {"forward",
          {{"sent", forwarder.sent()},
           {"busy", forwarder.busy()},
           {"failed", forwarder.failed()},
           {"in_flight", forwarder.in_flight()},
           {"max_in_flight", opts.max_forwards}}}};
  std::lock_guard lock(m);
  for (auto& [name, fn] : extra_counters) j[name] = fn();
  return j;
}

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
  Reply r = register_node(im.redis, im.opts.prefix, im.self_info(), im.opts.ttl, im.opts.redis_timeout);
  if (!r.ok()) throw std::runtime_error("cannot register node " + im.opts.id + " in Redis: " + r.str);
  try {
    im.nodes_cache = im.fetch_nodes();
  } catch (const std::exception&) {
  }
  log().info("cluster: node {} registered ({}), ttl {} ms, {} live node(s)", im.opts.id, im.opts.advertise_url,
             im.opts.ttl.count(), im.nodes_cache.size());
  im.local = std::thread([&im] { im.run_local(); });
  im.heartbeat = std::thread([&im] { im.run_heartbeat(); });
}

void Node::stop() {
  auto& im = *impl_;
  {
    std::lock_guard lock(im.m);
    if (im.stopping) return;
    im.stopping = true;
  }
  im.cv.notify_all();
  im.local_cv.notify_all();
  if (!im.heartbeat.joinable()) return;  // never started
  im.heartbeat.join();
  im.local.join();
  deregister_node(im.redis, im.opts.prefix, im.opts.id, im.opts.redis_timeout);
  for (auto& [room, l] : im.leases.all()) release_room(im.redis, im.opts.prefix, room, im.opts.id, im.opts.redis_timeout);
  log().info("cluster: node {} left the cluster", im.opts.id);
}

}  // namespace peerrtc::cluster
