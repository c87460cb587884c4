// Join tokens (Config::join_secret): the backend decides who may join which room. A join token is
// an HS256 JSON Web Token (RFC 7519) signed with the shared secret, with the claims
//   {"room": <room>, "sub": <peer id>, "iat": <unix s>, "exp": <unix s>}
// An offer carries it (body field "join_token", docs/protocol.md); the SignalingManager checks it
// before it creates anything.
//
//   std::string t = peerrtc::make_join_token(secret, "lobby", "alice", std::chrono::minutes(10));
//
// Any JWT library can mint them too (alg HS256, those claims).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace peerrtc {

// Most bytes of a join token the server reads (a larger one is refused as malformed).
constexpr size_t kMaxJoinTokenBytes = 4096;

// A token for `identity` (a peer id) in `room`, valid for `ttl` from now (or from `now_unix`
// seconds since the epoch). Throws std::invalid_argument for an empty secret, a ttl outside
// 1 s .. 366 days, or a room / identity that is not a valid name (docs/protocol.md "Names").
std::string make_join_token(std::string_view secret, const std::string& room, const std::string& identity,
                            std::chrono::seconds ttl);
std::string make_join_token(std::string_view secret, const std::string& room, const std::string& identity,
                            std::chrono::seconds ttl, int64_t now_unix);

// The verdict on a token presented for (room, identity) at `now_unix`. Never throws.
struct JoinTokenCheck {
  enum class Status { Ok, Missing, Malformed, BadSignature, Expired, NotYetValid, WrongRoom, WrongIdentity };
  Status status = Status::Ok;
  std::string error;  // for people; empty when Ok
  bool ok() const { return status == Status::Ok; }
  // 401 for a missing token, 403 for any other refusal, 200 when ok.
  int http_status() const { return status == Status::Ok ? 200 : status == Status::Missing ? 401 : 403; }
};
JoinTokenCheck check_join_token(std::string_view secret, std::string_view token, std::string_view room,
                                std::string_view identity, int64_t now_unix);
// The same at the current time.
JoinTokenCheck check_join_token(std::string_view secret, std::string_view token, std::string_view room,
                                std::string_view identity);

}  // namespace peerrtc
