// See rate_limit.hpp.
#include "server/rate_limit.hpp"

#include <arpa/inet.h>

#include <cstring>

#include <algorithm>
#include <array>
#include <cmath>

namespace peerrtc::server {

namespace {
// The 16 bytes of an IPv6 address, or of an IPv4 address as IPv4-mapped IPv6; false if neither.
bool parse_ip(const std::string& ip, std::array<unsigned char, 16>& out) {
  in_addr v4{};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    out.fill(0);
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return true;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, ip.c_str(), &v6) != 1) return false;
  std::memcpy(out.data(), &v6, 16);
  return true;
}
bool v4_mapped(const std::array<unsigned char, 16>& a) {
  return std::all_of(a.begin(), a.begin() + 10, [](unsigned char c) { return c == 0; }) && a[10] == 0xff && a[11] == 0xff;
}
}  // namespace

std::string rate_key(const std::string& ip) {
  std::array<unsigned char, 16> a{};
  if (!parse_ip(ip, a)) return ip;
  char text[INET6_ADDRSTRLEN] = {};
  if (v4_mapped(a)) {
    inet_ntop(AF_INET, a.data() + 12, text, sizeof text);
    return text;
  }
  std::fill(a.begin() + 8, a.end(), 0);
  inet_ntop(AF_INET6, a.data(), text, sizeof text);
  return std::string(text) + "/64";
}

bool is_loopback_ip(const std::string& ip) {
  std::array<unsigned char, 16> a{};
  if (!parse_ip(ip, a)) return false;
  if (v4_mapped(a)) return a[12] == 127;
  return std::all_of(a.begin(), a.begin() + 15, [](unsigned char c) { return c == 0; }) && a[15] == 1;
}

RateLimiter::RateLimiter(RateLimit limit) : limit_(limit) {
  if (limit_.rate < 0) limit_.rate = 0;
  limit_.burst = std::max(1.0, limit_.burst);
  limit_.max_addresses = std::max<size_t>(1, limit_.max_addresses);
}

void RateLimiter::refill(Bucket& b, Clock::time_point now) const {
  if (now <= b.at) return;
  const double dt = std::chrono::duration<double>(now - b.at).count();
  b.tokens = std::min(limit_.burst, b.tokens + dt * limit_.rate);
  b.at = now;
}

uint32_t RateLimiter::take(const std::string& address, Clock::time_point now) {
  if (!enabled()) return 0;
  std::lock_guard lock(m_);
  auto it = buckets_.find(address);
  if (it == buckets_.end()) {
    if (buckets_.size() >= limit_.max_addresses) {
      // Full: drop idle (refilled, so no different from new) buckets from the least recently
      // used end, down to half the table; if the least recently used one is in use, evict it.
      size_t dropped = 0;
      while (!lru_.empty() && buckets_.size() > limit_.max_addresses / 2) {
        auto b = buckets_.find(lru_.back());
        refill(b->second, now);
        if (b->second.tokens < limit_.burst && dropped > 0) break;
        buckets_.erase(b);
        lru_.pop_back();
        ++dropped;
      }
    }
    lru_.push_front(address);
    it = buckets_.emplace(address, Bucket{limit_.burst, now, lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    refill(it->second, now);
  }
  Bucket& b = it->second;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  const double wait = (1.0 - b.tokens) / limit_.rate;
  return static_cast<uint32_t>(std::max(1.0, std::ceil(wait)));
}

size_t RateLimiter::addresses() const {
  std::lock_guard lock(m_);
  return buckets_.size();
}

}  // namespace peerrtc::server
