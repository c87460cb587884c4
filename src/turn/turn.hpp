// TURN for clients: the ICE server URLs handed out by GET /config and the time-limited
// credentials of the "TURN REST API" scheme that coturn implements with `use-auth-secret`
// (docs/deploy.md). Pure functions: no clock, no randomness, no I/O; never throw on input.
//
//   auto c = turn::rest_credentials(secret, "alice", /*expiry_unix=*/now + 86400);
//   // c.username == "<expiry>:alice", c.credential == base64(HMAC-SHA1(secret, c.username))
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace peerrtc::turn {

enum class Scheme { Stun, Stuns, Turn, Turns };

// A parsed ICE server URL (RFC 7064 stun:/stuns:, RFC 7065 turn:/turns:).
struct IceUrl {
  Scheme scheme = Scheme::Stun;
  std::string host;       // as written; an IPv6 literal keeps its brackets
  uint16_t port = 0;      // 0 = not given (3478, or 5349 for stuns:/turns:)
  std::string transport;  // "", "udp" or "tcp" (turn:/turns: only)
  bool is_turn() const { return scheme == Scheme::Turn || scheme == Scheme::Turns; }
};

// `scheme:host[:port][?transport=udp|tcp]` as browsers accept it: the scheme in lower case,
// no "//", no user info or path, a host name (letters, digits, '-', '.'), an IPv4 address or a
// bracketed IPv6 address, a port 1..65535, and a transport only on turn:/turns:. The error
// says what is wrong with the URL.
Result<IceUrl> parse_ice_url(std::string_view url);

// HMAC-SHA1(key, message) (RFC 2104), 20 bytes.
Bytes hmac_sha1(std::string_view key, std::string_view message);

struct Credentials {
  std::string username;
  std::string credential;
};

// The TURN REST API username: "<expiry_unix>:<user>" (coturn reads the number before the first
// ':' as the time the credential expires, so `user` may contain ':').
std::string rest_username(int64_t expiry_unix, std::string_view user);
// The password for `username`: base64(HMAC-SHA1(secret, username)).
std::string rest_credential(std::string_view secret, std::string_view username);
// Both, for `user` until `expiry_unix`.
Credentials rest_credentials(std::string_view secret, std::string_view user, int64_t expiry_unix);

}  // namespace peerrtc::turn
