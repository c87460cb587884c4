// Test helper: runs an io_context in 5 ms slices until pred() holds or the timeout passes.
#pragma once
#include <boost/asio/io_context.hpp>
#include <chrono>

namespace peerrtc::test {

template <typename Pred>
bool run_until(boost::asio::io_context& io, Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace peerrtc::test
