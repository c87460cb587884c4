// The network thread's loop: an Asio io_context plus the one periodic tick that drives usrsctp's
// timers (usrsctp runs without threads, process-wide) and every peer's timers (ICE checks and
// consent, DTLS retransmits). usrsctp is process-global, so a process has exactly one Loop and
// every Engine/ClientPeer in it runs on that Loop's thread.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>

namespace peerrtc::net {

class Loop {
 public:
  using Clock = std::chrono::steady_clock;
  using TickFn = std::function<void(Clock::time_point now)>;

  explicit Loop(boost::asio::io_context& io, std::chrono::milliseconds period = std::chrono::milliseconds(10));
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  boost::asio::io_context& io() { return io_; }
  // Registers a function called every period on the loop thread; returns a handle for remove().
  uint64_t add_ticker(TickFn fn);
  void remove_ticker(uint64_t handle);
  void stop();  // cancels the timer (call on the loop thread)

 private:
  void arm();
  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds period_;
  Clock::time_point last_;
  std::map<uint64_t, TickFn> tickers_;
  uint64_t next_handle_ = 1;
  bool stopped_ = false;
};

}  // namespace peerrtc::net
