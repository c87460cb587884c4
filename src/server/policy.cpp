// See policy.hpp.
#include "server/policy.hpp"

#include <cctype>

#include "peerrtc/join_token.hpp"
#include "server/api.hpp"
#include "server/app.hpp"

namespace peerrtc::server {

namespace {

constexpr const char* kRealm = R"(Bearer realm="peerrtc")";

http::Response unauthorized(const std::string& why) {
  http::Response r = http::Response::error(401, why);
  r.headers["WWW-Authenticate"] = kRealm;
  return r;
}

std::string_view header(const http::Request& req, const char* name) {
  auto it = req.headers.find(name);
  return it == req.headers.end() ? std::string_view{} : std::string_view(it->second);
}

// The bearer credential, trimmed; empty if none.
std::string_view bearer(std::string_view authorization) {
  if (authorization.size() < 7) return {};
  for (size_t i = 0; i < 7; ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != "bearer "[i]) return {};
  std::string_view v = authorization.substr(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return v;
}

bool matches(std::string_view authorization, const std::string& key) {
  return !key.empty() && !check_bearer(authorization, key).has_value();
}

}  // namespace

Need listing_need(const Surface& s) { return s.is_private() ? Need::ApiKey : Need::Public; }
Need stats_need(const Surface& s) { return s.is_private() || !s.metrics_key.empty() ? Need::StatsKey : Need::Public; }
Need config_need(const Surface& s) { return s.join_secret.empty() ? Need::Public : Need::JoinToken; }

std::optional<http::Response> check_access(Need need, const Surface& s, const http::Request& req,
                                           std::string_view what, RoomRouter* router) {
  if (need == Need::Public) return std::nullopt;
  if (router && req.headers.count("x-peerrtc-forwarded")) {
    // A node's: it checked the client. The listing routes (ApiKey) check the signature again in
    // the router and remember it there; the other routes have only this check.
    if (router->from_node(req, /*consume=*/need != Need::ApiKey)) return std::nullopt;
    if (auto refused = router->refuse_forged(req)) return refused;       // claims to be one and is not
  }
  const std::string_view auth = header(req, "authorization");
  const std::string route(what);
  if (need == Need::ApiKey || need == Need::StatsKey) {
    if (matches(auth, s.api_key) || (need == Need::StatsKey && matches(auth, s.metrics_key))) return std::nullopt;
    std::string keys = need == Need::StatsKey ? "the API key or the metrics key" : "the API key";
    const bool none = s.api_key.empty() && (need == Need::ApiKey || s.metrics_key.empty());
    if (none)
      keys += " (this server has none: start it with --api-key" +
              std::string(need == Need::StatsKey ? " or --metrics-key" : "") + ")";
    if (auth.empty()) return unauthorized(route + " needs " + keys + ": 'Authorization: Bearer <key>'");
    if (bearer(auth).empty()) return unauthorized("the Authorization header must be 'Bearer <key>'");
    return http::Response::error(403, route + ": wrong key; it needs " + keys);
  }
  // JoinToken: a join token for the query's room and peer_id, or the API key.
  if (matches(auth, s.api_key)) return std::nullopt;
  if (auth.empty())
    return unauthorized(route + " needs a join token (this server has --join-secret): 'Authorization: Bearer <join token>' "
                                "with ?room=R&peer_id=P");
  const std::string_view token = bearer(auth);
  if (token.empty()) return unauthorized("the Authorization header must be 'Bearer <join token>'");
  auto q = parse_query(req.query);
  if (!q) return http::Response::error(400, "bad query string (invalid %-escape)");
  auto room = q->find("room"), peer = q->find("peer_id");
  if (room == q->end() || room->second.empty() || peer == q->end() || peer->second.empty())
    return http::Response::error(400, route + " with a join token needs ?room=R&peer_id=P (the token's room and peer)");
  auto v = check_join_token(s.join_secret, token, room->second, peer->second);
  if (!v.ok()) return http::Response::error(403, route + ": " + v.error);
  return std::nullopt;
}

std::map<std::string, std::string> security_headers() {
  return {
      // The pages (examples, dashboard) load their scripts and styles from this server only, have
      // no inline script or style, and call only this server.
      {"Content-Security-Policy",
       "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
  };
}

}  // namespace peerrtc::server
