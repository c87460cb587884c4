// See rate_limit.hpp.
#include "server/rate_limit.hpp"

#include <algorithm>
#include <cmath>

namespace peerrtc::server {

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
