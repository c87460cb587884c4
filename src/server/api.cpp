// See api.hpp.
#include "server/api.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <cctype>
#include <chrono>
#include <functional>
#include <optional>
#include <variant>

#include "common/base64.hpp"
#include "common/log.hpp"
#include "peerrtc/join_token.hpp"
#include "peerrtc/limits.hpp"
#include "server/app.hpp"
#include "signaling/names.hpp"
#include "signaling/requests.hpp"

namespace peerrtc::server {

namespace {

constexpr const char* kApiRealm = R"(Bearer realm="peerrtc-api")";
constexpr int64_t kDefaultTokenTtl = 600;
constexpr int64_t kMaxTokenTtl = 366LL * 86400;
constexpr size_t kMaxReason = 256;

http::Response api_reply(int status, const json& j) {
  return http::Response::json(status, j.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::array<unsigned char, 32> sha256(std::string_view s) {
  std::array<unsigned char, 32> d{};
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), d.data(), &n, EVP_sha256(), nullptr);
  return d;
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

// A bad body: the answer to give.
struct Bad {
  int status;
  std::string error;
};

// The JSON object of a request body, or why not.
std::variant<json, Bad> body_object(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    if (auto at = signaling::invalid_utf8_at(body); at != std::string_view::npos)
      return Bad{400, "body is not valid JSON: invalid UTF-8 at byte " + std::to_string(at)};
    return Bad{400, "body is not valid JSON"};
  }
  if (!j.is_object()) return Bad{400, "body must be a JSON object"};
  return j;
}

// A required name field ("room", "peer_id"), checked by the names rule.
std::variant<std::string, Bad> name_field(const json& j, const char* key, bool peer) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Bad{400, std::string("missing field '") + key + "'"};
  if (!it->is_string()) return Bad{400, std::string("field '") + key + "' must be a string"};
  std::string v = it->get<std::string>();
  if (auto ok = signaling::check_name(key, v, peer); !ok) return Bad{400, ok.error()};
  return v;
}

struct Payload {
  std::string data;
  bool binary = false;
};

// "data" (text) or "data_base64" (binary), exactly one.
std::variant<Payload, Bad> payload_field(const json& j) {
  auto text = j.find("data");
  auto b64 = j.find("data_base64");
  const bool has_text = text != j.end() && !text->is_null();
  const bool has_b64 = b64 != j.end() && !b64->is_null();
  if (has_text == has_b64) return Bad{400, "give exactly one of 'data' (text) and 'data_base64' (binary)"};
  if (has_text) {
    if (!text->is_string()) return Bad{400, "field 'data' must be a string (binary: 'data_base64')"};
    Payload p{text->get<std::string>(), false};
    if (p.data.size() > kMaxPayload)
      return Bad{413, "message of " + std::to_string(p.data.size()) + " bytes exceeds the maximum of " +
                          std::to_string(kMaxPayload)};
    return p;
  }
  if (!b64->is_string()) return Bad{400, "field 'data_base64' must be a string"};
  auto bytes = base64_decode(b64->get_ref<const std::string&>());
  if (!bytes) return Bad{400, "field 'data_base64' is not valid base64 (RFC 4648, with padding)"};
  if (bytes->size() > kMaxPayload)
    return Bad{413, "message of " + std::to_string(bytes->size()) + " bytes exceeds the maximum of " +
                        std::to_string(kMaxPayload)};
  return Payload{std::move(*bytes), true};
}

http::Response bad(const Bad& b) { return http::Response::error(b.status, b.error); }

// The "room" and "peer_id" fields of a call about one peer, both checked by the names rule.
struct PeerTarget {
  std::string room, peer;
};
std::variant<PeerTarget, Bad> peer_target(const json& j) {
  auto room = name_field(j, "room", false);
  if (auto* b = std::get_if<Bad>(&room)) return *b;
  auto peer = name_field(j, "peer_id", true);
  if (auto* b = std::get_if<Bad>(&peer)) return *b;
  return PeerTarget{std::move(std::get<std::string>(room)), std::move(std::get<std::string>(peer))};
}

http::Response no_peer(const PeerTarget& t) {
  return http::Response::error(404, "no peer " + signaling::quote_name(t.peer) + " in room " +
                                        signaling::quote_name(t.room));
}

// 404 unless the peer is a joined member of the room (which must exist: 404 otherwise).
std::optional<http::Response> need_peer(SignalingManager& manager, const PeerTarget& t) {
  json peers = manager.room_peers(t.room)["peers"];  // ApiError 404 if no such room
  for (const auto& p : peers)
    if (p.is_string() && p.get_ref<const std::string&>() == t.peer) return std::nullopt;
  return no_peer(t);
}

// Idempotency: a broadcast, send or kick may carry `"id"` (1..128 bytes). The node that carries
// the call out (the room's node) remembers its answer for kIdemTtl, at most kIdemMax of them; the
// same call with the same id again gets that answer, and nothing is done twice. A call still
// under way with that id: 409 `in_progress`. 5xx answers are not kept (a call that timed out had
// no effect: NetThread::invoke), so a retry runs it.
constexpr auto kIdemTtl = std::chrono::seconds(120);
constexpr size_t kIdemMax = 10000;
constexpr size_t kMaxIdemId = 128;

class Idempotency {
 public:
  template <class F>
  http::Response run(const std::string& call, const std::string& id, F&& f) {
    const std::string key = call + '\n' + id;
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(m_);
      prune(now);
      auto it = done_.find(key);
      if (it != done_.end()) {
        if (!it->second.answer) {
          return http::Response::json(409, json{{"error", "a call with id '" + id + "' is under way"},
                                                {"code", "in_progress"}}.dump(-1, ' ', false, json::error_handler_t::replace));
        }
        http::Response r = *it->second.answer;
        r.headers["Idempotent-Replayed"] = "true";
        return r;
      }
      if (done_.size() >= kIdemMax) return http::Response::error(503, "too many calls with an id under way; try again");
      done_[key] = Entry{now + kIdemTtl, std::nullopt};
      order_.push_back({now + kIdemTtl, key});
    }
    http::Response r;
    try {
      r = f();
    } catch (...) {
      std::lock_guard lock(m_);
      done_.erase(key);
      throw;
    }
    std::lock_guard lock(m_);
    if (r.status >= 500) done_.erase(key);
    else done_[key].answer = r;
    return r;
  }

 private:
  struct Entry {
    std::chrono::steady_clock::time_point expires;
    std::optional<http::Response> answer;  // nullopt: under way
  };
  void prune(std::chrono::steady_clock::time_point now) {
    while (!order_.empty() && order_.front().first <= now) {
      auto it = done_.find(order_.front().second);
      if (it != done_.end() && it->second.expires <= now && it->second.answer) done_.erase(it);
      order_.pop_front();
    }
  }
  std::mutex m_;
  std::map<std::string, Entry> done_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> order_;
};

// The optional "id" of a call: nullopt if absent.
std::variant<std::optional<std::string>, Bad> idem_field(const json& j) {
  auto it = j.find("id");
  if (it == j.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string() || it->get_ref<const std::string&>().empty() || it->get_ref<const std::string&>().size() > kMaxIdemId)
    return Bad{400, "field 'id' must be a string of 1.." + std::to_string(kMaxIdemId) + " bytes"};
  return std::optional<std::string>{it->get<std::string>()};
}

// A call about an existing room: forwarded to the room's node in a cluster, else `local()`
// here; anything either throws becomes a JSON error (guarded).
// With an idempotency `id`, `local` runs at most once per id (Idempotency).
template <class F>
http::Response room_call(const char* what, RoomRouter* router, const std::string& room, const http::Request& req,
                         F&& local, Idempotency& idem) {
  auto j = body_object(req.body);
  std::optional<std::string> id;
  if (auto* o = std::get_if<json>(&j)) {
    auto f = idem_field(*o);
    if (auto* b = std::get_if<Bad>(&f)) return bad(*b);
    id = std::get<std::optional<std::string>>(f);
  }
  return guarded(what, [&] {
    if (!id) return routed(router, room, RoomRouter::Intent::Existing, req, local);
    return routed(router, room, RoomRouter::Intent::Existing, req,
                  [&] { return idem.run(what, *id, [&] { return guarded(what, local); }); });
  });
}

}  // namespace

std::optional<http::Response> check_bearer(std::string_view authorization, std::string_view key) {
  auto unauthorized = [](const std::string& why) {
    http::Response r = http::Response::error(401, why);
    r.headers["WWW-Authenticate"] = kApiRealm;
    return r;
  };
  if (authorization.empty()) return unauthorized("missing 'Authorization: Bearer <api key>'");
  if (!iequals_prefix(authorization, "Bearer "))
    return unauthorized("the Authorization header must be 'Bearer <api key>'");
  std::string_view sent = authorization.substr(7);
  while (!sent.empty() && sent.front() == ' ') sent.remove_prefix(1);
  while (!sent.empty() && sent.back() == ' ') sent.remove_suffix(1);
  if (sent.empty()) return unauthorized("the Authorization header carries no key");
  // Digests first: equal length whatever was sent, so CRYPTO_memcmp's time says nothing.
  const auto a = sha256(sent), b = sha256(key);
  if (CRYPTO_memcmp(a.data(), b.data(), a.size()) != 0) return http::Response::error(403, "wrong API key");
  return std::nullopt;
}

void install_api(http::Server& http, SignalingManager& manager, const std::string& api_key, RoomRouter* router) {
  auto idem_holder = std::make_shared<Idempotency>();  // lives as long as the routes
  using Handler = std::function<http::Response(const http::Request&)>;
  auto add = [&](const char* method, const std::string& path, Handler h) {
    if (api_key.empty()) {
      http.route(method, path, [](const http::Request&) {
        return http::Response::error(404, "the server API is off: start peerrtc-server with --api-key (PEERRTC_API_KEY)");
      });
      return;
    }
    http.route(method, path, [key = api_key, h = std::move(h)](const http::Request& req) {
      auto it = req.headers.find("authorization");
      if (auto denied = check_bearer(it == req.headers.end() ? std::string_view{} : std::string_view(it->second), key))
        return std::move(*denied);
      return h(req);
    });
  };

  add("POST", "/api/broadcast", [&manager, router, idem_holder](const http::Request& req) {
    auto& idem = *idem_holder;
    auto j = body_object(req.body);
    if (auto* b = std::get_if<Bad>(&j)) return bad(*b);
    auto room = name_field(std::get<json>(j), "room", false);
    if (auto* b = std::get_if<Bad>(&room)) return bad(*b);
    auto payload = payload_field(std::get<json>(j));
    if (auto* b = std::get_if<Bad>(&payload)) return bad(*b);
    const auto& r = std::get<std::string>(room);
    return room_call("broadcast", router, r, req, [&] {
      manager.room_peers(r);  // 404 if no such room
      const auto& p = std::get<Payload>(payload);
      return api_reply(200, json{{"delivered", manager.broadcast(r, p.data, p.binary)}});
    }, idem);
  });

  add("POST", "/api/send", [&manager, router, idem_holder](const http::Request& req) {
    auto& idem = *idem_holder;
    auto j = body_object(req.body);
    if (auto* b = std::get_if<Bad>(&j)) return bad(*b);
    auto target = peer_target(std::get<json>(j));
    if (auto* b = std::get_if<Bad>(&target)) return bad(*b);
    auto payload = payload_field(std::get<json>(j));
    if (auto* b = std::get_if<Bad>(&payload)) return bad(*b);
    const auto& t = std::get<PeerTarget>(target);
    return room_call("send", router, t.room, req, [&] {
      if (auto missing = need_peer(manager, t)) return std::move(*missing);
      const auto& pl = std::get<Payload>(payload);
      if (!manager.send_to(t.room, t.peer, pl.data, pl.binary)) return no_peer(t);  // left in between
      return api_reply(200, json{{"delivered", 1}});
    }, idem);
  });

  add("POST", "/api/kick", [&manager, router, idem_holder](const http::Request& req) {
    auto& idem = *idem_holder;
    auto j = body_object(req.body);
    if (auto* b = std::get_if<Bad>(&j)) return bad(*b);
    const json& body = std::get<json>(j);
    auto target = peer_target(body);
    if (auto* b = std::get_if<Bad>(&target)) return bad(*b);
    std::string reason;
    if (auto it = body.find("reason"); it != body.end() && !it->is_null()) {
      if (!it->is_string()) return http::Response::error(400, "field 'reason' must be a string");
      reason = it->get<std::string>();
      if (reason.size() > kMaxReason)
        return http::Response::error(400, "field 'reason' is too long (at most " + std::to_string(kMaxReason) + " bytes)");
    }
    const auto& t = std::get<PeerTarget>(target);
    return room_call("kick", router, t.room, req, [&] {
      manager.room_peers(t.room);  // 404 if no such room
      if (!manager.kick(t.room, t.peer, reason)) return no_peer(t);
      return api_reply(200, json{{"status", "ok"}});
    }, idem);
  });

  add("GET", "/api/rooms", [&manager, router](const http::Request& req) {
    return guarded("rooms", [&] {
      if (router) {
        if (auto r = router->rooms(req)) return std::move(*r);
      }
      return api_reply(200, manager.rooms_info());
    });
  });

  add("POST", "/api/tokens", [&manager](const http::Request& req) {
    const std::string& secret = manager.config().join_secret;
    if (secret.empty())
      return http::Response::error(400, "join tokens are off: start peerrtc-server with --join-secret (PEERRTC_JOIN_SECRET)");
    auto j = body_object(req.body);
    if (auto* b = std::get_if<Bad>(&j)) return bad(*b);
    const json& body = std::get<json>(j);
    auto target = peer_target(body);
    if (auto* b = std::get_if<Bad>(&target)) return bad(*b);
    int64_t ttl = kDefaultTokenTtl;
    if (auto it = body.find("ttl"); it != body.end() && !it->is_null()) {
      if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > kMaxTokenTtl)
        return http::Response::error(400, "field 'ttl' must be a whole number of seconds, 1.." + std::to_string(kMaxTokenTtl));
      ttl = it->get<int64_t>();
    }
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    return guarded("tokens", [&] {
      const auto& t = std::get<PeerTarget>(target);
      return api_reply(200, json{{"token", make_join_token(secret, t.room, t.peer, std::chrono::seconds(ttl), now)},
                             {"room", t.room},
                             {"peer_id", t.peer},
                             {"expires_at", now + ttl}});
    });
  });
}

}  // namespace peerrtc::server
