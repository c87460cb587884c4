// See ice_config.hpp.
#include "signaling/ice_config.hpp"

#include <string>

#include "turn/turn.hpp"

namespace peerrtc::signaling {

using nlohmann::json;

Result<bool> check_ice_config(const Config& cfg) {
  for (const auto& url : cfg.ice_servers) {
    auto u = turn::parse_ice_url(url);
    if (!u) return Error{"ice_servers: " + u.error()};
    if (u->is_turn())
      return Error{
          "ice_servers: " + url +
          " is a TURN server, which needs credentials (browsers refuse one without): put it in "
          "turn_urls with turn_secret or turn_username/turn_password"};
  }
  const bool secret = !cfg.turn_secret.empty();
  const bool user = !cfg.turn_username.empty() || !cfg.turn_password.empty();
  for (const auto& url : cfg.turn_urls) {
    auto u = turn::parse_ice_url(url);
    if (!u) return Error{"turn_urls: " + u.error()};
    if (!u->is_turn())
      return Error{"turn_urls: " + url +
                   " is not a turn:/turns: URL (STUN servers go in ice_servers)"};
  }
  if (secret && user)
    return Error{"turn_secret and turn_username/turn_password exclude each other"};
  if (user && (cfg.turn_username.empty() || cfg.turn_password.empty()))
    return Error{"turn_username and turn_password go together"};
  if (cfg.turn_username.size() > 512) return Error{"turn_username longer than 512 bytes"};
  if (!cfg.turn_urls.empty() && !secret && !user)
    return Error{
        "turn_urls need credentials: turn_secret (TURN REST API, coturn use-auth-secret) or "
        "turn_username and turn_password"};
  if (cfg.turn_urls.empty() && (secret || user)) return Error{"TURN credentials without turn_urls"};
  const int64_t ttl = cfg.turn_ttl.count();
  if (ttl < kMinTurnTtl || ttl > kMaxTurnTtl)
    return Error{"turn_ttl must be " + std::to_string(kMinTurnTtl) + " to " +
                 std::to_string(kMaxTurnTtl) + " seconds (got " + std::to_string(ttl) + ")"};
  return true;
}

json ice_config_body(const Config& cfg, std::string_view user, int64_t now_unix) {
  json servers = json::array();
  if (!cfg.ice_servers.empty()) servers.push_back({{"urls", cfg.ice_servers}});
  json out;
  if (!cfg.turn_urls.empty()) {
    json turn = {{"urls", cfg.turn_urls}};
    if (!cfg.turn_secret.empty()) {
      auto c = turn::rest_credentials(cfg.turn_secret, user, now_unix + cfg.turn_ttl.count());
      turn["username"] = c.username;
      turn["credential"] = c.credential;
      out["ttl"] = cfg.turn_ttl.count();
    } else {
      turn["username"] = cfg.turn_username;
      turn["credential"] = cfg.turn_password;
    }
    servers.push_back(std::move(turn));
  }
  out["iceServers"] = std::move(servers);
  return out;
}

}  // namespace peerrtc::signaling
