// A token bucket (rate per second, burst capacity). Pure: time is passed in.
#pragma once
#include <algorithm>
#include <chrono>

namespace peerrtc::signaling {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket() = default;
  TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}

  // Takes `n` tokens if there are enough; rate 0 means unlimited.
  bool take(double n, Clock::time_point now) {
    if (rate_ <= 0) return true;
    if (last_ != Clock::time_point{}) {
      double elapsed = std::chrono::duration<double>(now - last_).count();
      tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    }
    last_ = now;
    if (tokens_ < n) return false;
    tokens_ -= n;
    return true;
  }

 private:
  double rate_ = 0, burst_ = 0, tokens_ = 0;
  Clock::time_point last_{};
};

}  // namespace peerrtc::signaling
