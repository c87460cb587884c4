// Node-to-node requests (docs/architecture.md, "Cluster"): authenticated, bounded, quick to fail.
//
// Trust. A request one node sends another carries
//   X-PeerRTC-Forwarded: <sender node id>
//   X-PeerRTC-Signature: v1 t=<unix ms> sig=<hex HMAC-SHA256>
// over "peerrtc-forward-v1\n<node>\n<METHOD>\n<target?query>\n<hex SHA-256 of the body>\n<t>"
// with the cluster secret (--cluster-secret). A receiver accepts it within `window` of its own
// clock (30 s) and refuses anything else with 401 `bad_forward_auth` before any Redis work: a
// client cannot pin rooms or create one on a node that does not hold it. (A captured request
// can be replayed within the window, to the same path with the same body: what that can do
// is what the original did.)
//
// Bounds. At most `max_in_flight` forwards at once per node (each waits on an HTTP thread);
// past it the answer is at once 503 `busy`, so a stalled node can hold at most that many of
// another node's HTTP threads, and the rest stay free for its own requests, the requests other
// nodes forward to it, and /health. Connecting is bounded apart (500 ms).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "http/http.hpp"

namespace peerrtc::cluster {

inline constexpr const char* kForwardedHeader = "X-PeerRTC-Forwarded";
inline constexpr const char* kSignatureHeader = "X-PeerRTC-Signature";

// The signature header's value (pure).
std::string sign_forward(std::string_view secret, std::string_view node, std::string_view method,
                         std::string_view target, std::string_view body, int64_t unix_ms);
// "" when `signature` (the header's value) is right for the rest, at `now_ms`, within `window`;
// else why not. Constant-time comparison. Never throws.
std::string verify_forward(std::string_view secret, std::string_view node, std::string_view signature,
                           std::string_view method, std::string_view target, std::string_view body, int64_t now_ms,
                           std::chrono::milliseconds window = std::chrono::seconds(30));

// What a request says about where it comes from.
struct ForwardOrigin {
  enum class Kind { Client, Node, Forged } kind = Kind::Client;
  std::string node;  // Node: the verified sender
  std::string why;   // Forged: why it was refused
};
ForwardOrigin forward_origin(std::string_view secret, const http::Request& req);
// The 401 a forged forward gets.
http::Response forged_response(const ForwardOrigin& o);

struct ForwardOptions {
  std::string node_id;
  std::string secret;
  size_t max_in_flight = 4;
  std::chrono::milliseconds connect_timeout{500};
};

class Forwarder {
 public:
  explicit Forwarder(ForwardOptions o) : opts_(std::move(o)) {}
  // Sends `method target` with `body` to host:port, signed. nullopt: no slot free (busy), nothing
  // sent. Throws std::runtime_error (http::request's) when the node cannot be reached in time.
  std::optional<http::ClientResponse> send(const std::string& host, uint16_t port, const std::string& method,
                                           const std::string& target, const std::string& body,
                                           std::chrono::milliseconds timeout,
                                           std::map<std::string, std::string> headers = {});
  uint64_t sent() const { return sent_.load(); }
  uint64_t busy() const { return busy_.load(); }
  uint64_t failed() const { return failed_.load(); }
  size_t in_flight() const { return in_flight_.load(); }
  const ForwardOptions& options() const { return opts_; }

 private:
  ForwardOptions opts_;
  std::atomic<size_t> in_flight_{0};
  std::atomic<uint64_t> sent_{0}, busy_{0}, failed_{0};
};

int64_t unix_ms_now();

}  // namespace peerrtc::cluster
