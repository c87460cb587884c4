// Runs backend hooks off the network thread: a bounded FIFO queue served by N threads. When the
// queue is full the oldest task is dropped (counted) so a slow hook can never grow memory or
// stall the relay. With one thread (the default) tasks run in the order they were queued.
//
// stop() may be called from one of the executor's own threads (a hook that shuts the server
// down): that thread is detached rather than joined, and the state it still touches when its
// task returns is shared with it, so destroying the executor under it is safe.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace peerrtc::signaling {

class HookExecutor {
 public:
  // lossless: post() never drops (Config::HookOverflow::Backpressure); the caller keeps the
  // queue bounded by pausing its producers while above() says so.
  HookExecutor(unsigned threads, size_t capacity, bool lossless = false);
  ~HookExecutor();  // stop(): runs nothing more, joins
  HookExecutor(const HookExecutor&) = delete;
  HookExecutor& operator=(const HookExecutor&) = delete;

  void post(std::function<void()> task);  // never blocks; drops the oldest task when full (unless lossless)
  // Backpressure: whether at least `high` droppable tasks wait. If so, `on_drained` is armed
  // (unless one already is; it is kept then) and runs once, on a hook thread, when `low` or fewer
  // wait. The check and the arming are atomic, so a drain is never missed.
  bool above(size_t high, size_t low, std::function<void()> on_drained);
  // Never dropped: for work whose count the caller bounds itself (a participant's drain task,
  // at most one per participant at a time).
  void post_always(std::function<void()> task);
  void stop();
  uint64_t executed() const { return s_->executed.load(); }
  uint64_t dropped() const { return s_->dropped.load(); }
  size_t queued() const;

 private:
  struct Task {
    std::function<void()> fn;
    bool droppable;
  };
  struct State {
    size_t capacity;
    bool lossless = false;
    size_t drained_at = 0;              // above(): the low water
    std::function<void()> on_drained;   // armed by above()
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Task> queue;
    size_t droppable = 0;  // how many queued tasks count against capacity
    bool stopping = false;
    std::atomic<uint64_t> executed{0}, dropped{0};
  };
  static void run(const std::shared_ptr<State>& s);
  void push(std::function<void()> task, bool droppable);

  std::shared_ptr<State> s_;
  std::vector<std::thread> threads_;
  std::mutex threads_mu_;
};

}  // namespace peerrtc::signaling
