// Node-to-node requests (docs/architecture.md, "Cluster"): authenticated, bounded, quick to fail.
//
// Trust. A request one node sends another carries
//   X-PeerRTC-Forwarded: <sender node id>
//   X-PeerRTC-Signature: v2 t=<unix ms> n=<nonce, 32 hex> sig=<hex HMAC-SHA256>
// over "peerrtc-forward-v2\n<node>\n<METHOD>\n<target?query>\n<hex SHA-256 of the body>\n<t>\n<n>"
// with the cluster secret (--cluster-secret). A receiver accepts it within `window` of its own
// clock (30 s) and refuses anything else with 401 `bad_forward_auth` before any Redis work: a
// client cannot pin rooms or create one on a node that does not hold it.
//
// Replay. Each node remembers every signature it accepted until its time leaves the window
// (ReplayCache); the same signature again is refused with 401 `replayed_forward`. The cache is
// bounded: when it is full of live entries, a new signed request is refused (503
// `replay_cache_full`, counted) rather than let through unremembered: fail closed. The old v1
// signature (no nonce) is refused.
//
// Bounds. At most `max_in_flight` forwards at once per node (each waits on an HTTP thread);
// past it the answer is at once 503 `busy`, so a stalled node can hold at most that many of
// another node's HTTP threads, and the rest stay free for its own requests, the requests other
// nodes forward to it, and /health. Connecting is bounded apart (500 ms).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/http.hpp"

namespace peerrtc::cluster {

inline constexpr const char* kForwardedHeader = "X-PeerRTC-Forwarded";
inline constexpr const char* kSignatureHeader = "X-PeerRTC-Signature";

inline constexpr std::chrono::milliseconds kForwardWindow{30000};

// The signature header's value (pure). `nonce`: 32 hex digits, fresh per request (random_nonce()).
std::string sign_forward(std::string_view secret, std::string_view node, std::string_view method,
                         std::string_view target, std::string_view body, int64_t unix_ms, std::string_view nonce);
std::string random_nonce();  // 16 random bytes (OpenSSL RAND_bytes), hex
// "" when `signature` (the header's value) is right for the rest, at `now_ms`, within `window`;
// else why not. Constant-time comparison. Never throws. On success, `*time_ms` (if given) is the
// signature's time.
std::string verify_forward(std::string_view secret, std::string_view node, std::string_view signature,
                           std::string_view method, std::string_view target, std::string_view body, int64_t now_ms,
                           std::chrono::milliseconds window = kForwardWindow, int64_t* time_ms = nullptr);

// The signatures a node has accepted, each until its time + window (after that verify_forward
// refuses it anyway). Thread-safe (HTTP threads). At most `max_entries` live entries.
class ReplayCache {
 public:
  enum class Result { Fresh, Replayed, Full };
  explicit ReplayCache(size_t max_entries = 100000, std::chrono::milliseconds window = kForwardWindow)
      : max_(max_entries), window_(window.count()) {}
  // Remembers `key` (a verified signature) signed at `t_ms`; Replayed if it was seen already,
  // Full (not remembered) if `max_entries` live entries are held.
  Result check(std::string_view key, int64_t t_ms, int64_t now_ms);
  // True if `key` is remembered (a look that remembers nothing: see forward_origin's `peek`).
  bool seen(std::string_view key, int64_t now_ms) const;
  size_t size() const;

 private:
  void purge(int64_t now_ms);  // under m_
  size_t max_;
  int64_t window_;
  mutable std::mutex m_;
  std::unordered_map<std::string, int64_t> seen_;  // key -> expiry (unix ms)
  std::priority_queue<std::pair<int64_t, std::string>, std::vector<std::pair<int64_t, std::string>>,
                      std::greater<>>
      expiry_;
};

// What a request says about where it comes from.
struct ForwardOrigin {
  // Replayed: a right signature seen before; CacheFull: right, but the replay cache is full.
  enum class Kind { Client, Node, Forged, Replayed, CacheFull } kind = Kind::Client;
  std::string node;  // Node: the verified sender
  std::string why;   // Forged: why it was refused
};
// With `replays`, a right signature is also checked against (and entered in) the cache; with
// `peek` as well, only checked: for a gate in front of a route that checks it again and enters it
// (the surface policy before the listing routes), so that the route does not take the request
// for a replay of itself.
ForwardOrigin forward_origin(std::string_view secret, const http::Request& req, ReplayCache* replays = nullptr,
                             bool peek = false);
// The answer a refused forward gets: 401 bad_forward_auth / replayed_forward, 503 replay_cache_full.
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
