// The ICE servers of GET /config (docs/protocol.md, docs/deploy.md): the check of Config's ICE
// and TURN settings and the body of an answer. Pure: the caller passes the time and the user.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/result.hpp"
#include "peerrtc/config.hpp"

namespace peerrtc::signaling {

constexpr int64_t kMinTurnTtl = 60;                // seconds
constexpr int64_t kMaxTurnTtl = 30LL * 24 * 3600;  // 30 days

// ice_servers: valid stun:/stuns: URLs (a turn: URL there is refused: it needs credentials);
// turn_urls: valid turn:/turns: URLs with exactly one of turn_secret or
// turn_username + turn_password; turn_ttl in range. The error names the Config field.
Result<bool> check_ice_config(const Config& cfg);

// {"iceServers": [{"urls": [stun...]}, {"urls": [turn...], "username", "credential"}], "ttl"?}
// for `user` (a peer id or a random id) at `now_unix`; "ttl" only with turn_secret.
// `cfg` must have passed check_ice_config.
nlohmann::json ice_config_body(const Config& cfg, std::string_view user, int64_t now_unix);

}  // namespace peerrtc::signaling
