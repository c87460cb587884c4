#include "net/loop.hpp"

#include <vector>

#include "sctp/sctp.hpp"

namespace peerrtc::net {

Loop::Loop(boost::asio::io_context& io, std::chrono::milliseconds period)
    : io_(io), timer_(io), period_(period), last_(Clock::now()) {
  sctp::Stack::init();
  arm();
}

Loop::~Loop() { timer_.cancel(); }

uint64_t Loop::add_ticker(TickFn fn) {
  uint64_t h = next_handle_++;
  tickers_.emplace(h, std::move(fn));
  return h;
}

void Loop::remove_ticker(uint64_t handle) { tickers_.erase(handle); }

void Loop::stop() {
  stopped_ = true;
  timer_.cancel();
}

void Loop::arm() {
  timer_.expires_after(period_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    auto now = Clock::now();
    // What the timers send in this turn (retransmissions, held messages) is bundled per peer.
    sctp::Stack::Batch batch;
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_);
    if (elapsed.count() > 0) {
      sctp::Stack::handle_timers(static_cast<uint32_t>(elapsed.count()));
      last_ += elapsed;  // the sub-millisecond rest counts next time (last_ = now dropped it every tick)
    }
    // A ticker may remove itself or others: iterate over a snapshot of the handles.
    std::vector<uint64_t> handles;
    handles.reserve(tickers_.size());
    for (auto& [h, fn] : tickers_) handles.push_back(h);
    for (uint64_t h : handles) {
      auto it = tickers_.find(h);
      if (it != tickers_.end()) it->second(now);
    }
    arm();
  });
}

}  // namespace peerrtc::net
