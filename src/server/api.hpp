// The server API for backends (docs/protocol.md "Server API"): under /api/, behind
// `Authorization: Bearer <key>` (Options::api_key; without a key the API is off and every /api/
// route answers 404 saying so). Room-scoped calls go through the RoomRouter, so in a cluster any
// node answers them.
//
//   POST /api/broadcast {room, data | data_base64}          -> {"delivered": N}
//   POST /api/send      {room, peer_id, data | data_base64} -> {"delivered": 1}
//   POST /api/kick      {room, peer_id, reason?}            -> {"status": "ok"}
//   GET  /api/rooms                                         -> {"rooms": [{room, peers}]}
//   POST /api/tokens    {room, peer_id, ttl?}               -> {"token", "room", "peer_id", "expires_at"}
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "http/http.hpp"
#include "peerrtc/signaling_manager.hpp"

namespace peerrtc::server {

class RoomRouter;

// Registers the /api/ routes on `http`. `api_key` empty: the API is off. `router` may be null.
void install_api(http::Server& http, SignalingManager& manager, const std::string& api_key, RoomRouter* router);

// The bearer check, pure: nullopt if `authorization` (the header's value, empty if absent)
// carries `key`; else the 401 (no or malformed credentials, with WWW-Authenticate) or 403
// (a wrong key) response. The comparison takes the same time whatever the key sent.
std::optional<http::Response> check_bearer(std::string_view authorization, std::string_view key);

}  // namespace peerrtc::server
