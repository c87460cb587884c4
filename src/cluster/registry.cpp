// See registry.hpp.
#include "cluster/registry.hpp"

#include <algorithm>
#include <charconv>
#include <random>
#include <stdexcept>
#include <tuple>

namespace peerrtc::cluster {

namespace {

std::string registry_dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool is_wildcard(const std::string& host) { return host == "0.0.0.0" || host == "::" || host == "[::]" || host.empty(); }

// KEYS: the ZSET, the record key; ARGV: id, record, ttl ms. Expired entries are pruned here too,
// so the set stays the size of the live cluster.
constexpr const char* kRegisterScript = R"(local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1)";

// KEYS: the ZSET; ARGV: the prefix. The records of the entries not yet expired.
constexpr const char* kListScript = R"(local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
local out = {}
for i, id in ipairs(ids) do
  local r = redis.call('GET', ARGV[1] .. 'node:' .. id)
  if r then out[#out + 1] = r end
end
return out)";

}  // namespace

std::string node_key(std::string_view prefix, std::string_view node_id) {
  return std::string(prefix) + "node:" + std::string(node_id);
}
std::string room_key(std::string_view prefix, std::string_view room) {
  return std::string(prefix) + "room:" + std::string(room);
}
std::string fence_key(std::string_view prefix, std::string_view room) {
  return std::string(prefix) + "fence:" + std::string(room);
}
std::string fence_counter_key(std::string_view prefix) { return std::string(prefix) + "fence"; }
std::string nodes_key(std::string_view prefix) { return std::string(prefix) + "nodes"; }

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


Reply register_node(Redis& redis, std::string_view prefix, const NodeInfo& n, std::chrono::milliseconds ttl,
                    std::chrono::milliseconds timeout) {
  return redis.command_sync({"EVAL", kRegisterScript, "2", nodes_key(prefix), node_key(prefix, n.id), n.id,
                             registry_dump(to_json(n)), std::to_string(ttl.count())},
                            timeout);
}

std::vector<NodeInfo> list_nodes(Redis& redis, std::string_view prefix, std::chrono::milliseconds timeout) {
  Reply r = redis.command_sync({"EVAL", kListScript, "1", nodes_key(prefix), std::string(prefix)}, timeout);
  if (!r.ok() || r.type != Reply::Type::Array)
    throw std::runtime_error("cannot list the nodes in Redis: " + (r.ok() ? std::string("bad reply") : r.str));
  std::vector<NodeInfo> out;
  for (auto& e : r.elements)
    if (e.type == Reply::Type::String)
      if (auto n = node_from_json(e.str)) out.push_back(std::move(*n));
  std::sort(out.begin(), out.end(), [](const NodeInfo& a, const NodeInfo& b) { return a.id < b.id; });
  return out;
}

void deregister_node(Redis& redis, std::string_view prefix, std::string_view id, std::chrono::milliseconds timeout) {
  // The last node out also deletes the fencing counter: a cluster that stopped cleanly leaves no
  // key behind (tokens stay monotonic without it: they never go below Redis' clock, leases.hpp).
  static constexpr const char* kScript = R"(local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[3]) end
return 1)";
  redis.command_sync({"EVAL", kScript, "3", nodes_key(prefix), node_key(prefix, id), fence_counter_key(prefix),
                      std::string(id)},
                     timeout);
}

}  // namespace peerrtc::cluster
