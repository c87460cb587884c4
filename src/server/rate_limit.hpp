// Per-address token buckets for the signaling routes (POST /offer, /candidate, GET /config):
// each remote address has a bucket of `burst` tokens refilled at `rate` per second; a request
// takes one, and one that finds the bucket empty is refused (429 with Retry-After, counted).
//
// The table is bounded: at most `max_addresses` buckets. An idle bucket (full again) is the same
// as a new one, so it is dropped first; when every bucket is in use the least recently used one
// is evicted (an attacker with many addresses gains nothing from that: each would get a fresh
// bucket anyway). Thread-safe (one mutex; a take is a hash lookup and a little arithmetic).
// Pure apart from the lock: the time comes in as an argument.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace peerrtc::server {

// The bucket key of a remote address as the HTTP server reports it: an IPv4 address as it is;
// an IPv4-mapped IPv6 address (a dual-stack listener, "::ffff:1.2.3.4") as its IPv4 address;
// any other IPv6 address as its /64 ("2001:db8:1:2::/64": one host commonly holds a whole /64,
// so a key per address would give it 2^64 buckets). Anything unparsable as it is.
std::string rate_key(const std::string& ip);
// 127.0.0.0/8, ::1, and IPv4-mapped 127.0.0.0/8 ("::ffff:127.0.0.1", from a dual-stack listener).
bool is_loopback_ip(const std::string& ip);

struct RateLimit {
  double rate = 0;   // tokens per second; 0 = no limit
  double burst = 0;  // bucket size (at least 1 when rate > 0)
  size_t max_addresses = 10000;
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateLimiter(RateLimit limit);

  bool enabled() const { return limit_.rate > 0; }
  // 0: allowed (a token taken). Otherwise refused: the seconds until a token is back (>= 1,
  // rounded up: the Retry-After value).
  uint32_t take(const std::string& address, Clock::time_point now = Clock::now());
  size_t addresses() const;
  const RateLimit& limit() const { return limit_; }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point at;
    std::list<std::string>::iterator lru;
  };
  void refill(Bucket& b, Clock::time_point now) const;
  RateLimit limit_;
  mutable std::mutex m_;
  std::unordered_map<std::string, Bucket> buckets_;
  std::list<std::string> lru_;  // most recent first
};

}  // namespace peerrtc::server
