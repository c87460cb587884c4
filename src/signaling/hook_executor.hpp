// Runs backend hooks off the network thread: a bounded FIFO queue served by N threads. When the
// queue is full the oldest task is dropped (counted) so a slow hook can never grow memory or
// stall the relay. With one thread (the default) tasks run in the order they were queued.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace peerrtc::signaling {

class HookExecutor {
 public:
  HookExecutor(unsigned threads, size_t capacity);
  ~HookExecutor();  // stop(): runs nothing more, joins
  HookExecutor(const HookExecutor&) = delete;
  HookExecutor& operator=(const HookExecutor&) = delete;

  void post(std::function<void()> task);  // never blocks
  void stop();
  uint64_t executed() const { return executed_.load(); }
  uint64_t dropped() const { return dropped_.load(); }
  size_t queued() const;

 private:
  void run();
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
  std::atomic<uint64_t> executed_{0}, dropped_{0};
};

}  // namespace peerrtc::signaling
