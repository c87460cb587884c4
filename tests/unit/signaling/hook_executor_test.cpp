// HookExecutor: bounded and lossy for hooks, never lossy for post_always, and stop() from one of
// its own threads (a hook that shuts the server down) leaves no thread on freed state.
#include "signaling/hook_executor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

using namespace peerrtc::signaling;
using namespace std::chrono_literals;

TEST(HookExecutor, FullQueueDropsTheOldestHookButNeverAnAlwaysTask) {
  HookExecutor ex(1, 2);
  std::mutex mu;
  std::condition_variable cv;
  bool open = false, started = false;
  std::vector<int> ran;
  ex.post([&] {
    std::unique_lock l(mu);
    started = true;
    cv.notify_all();
    cv.wait(l, [&] { return open; });
  });
  {
    std::unique_lock l(mu);
    ASSERT_TRUE(cv.wait_for(l, 2s, [&] { return started; }));  // the thread is busy from here on
  }
  for (int i = 1; i <= 10; ++i) ex.post_always([&, i] { std::lock_guard l(mu); ran.push_back(100 + i); });
  for (int i = 1; i <= 4; ++i) ex.post([&, i] { std::lock_guard l(mu); ran.push_back(i); });
  {
    std::lock_guard l(mu);
    open = true;
  }
  cv.notify_all();
  for (int i = 0; i < 400 && ex.executed() < 13; ++i) std::this_thread::sleep_for(5ms);
  std::lock_guard l(mu);
  ASSERT_EQ(ran.size(), 12u);  // 10 always + the 2 newest hooks
  for (int i = 0; i < 10; ++i) EXPECT_EQ(ran[i], 101 + i);
  EXPECT_EQ(ran[10], 3);
  EXPECT_EQ(ran[11], 4);
  EXPECT_EQ(ex.dropped(), 2u);
}

// Under ASan this was a heap-use-after-free: the detached thread went on using the destroyed
// executor's mutex and counters after its hook returned.
TEST(HookExecutor, StopAndDestroyFromOneOfItsOwnThreads) {
  auto ex = std::make_unique<HookExecutor>(2, 10);
  std::atomic<bool> done{false};
  ex->post([&] {
    ex->stop();
    ex.reset();  // the executor is gone while this hook is still running on its thread
    done = true;
  });
  for (int i = 0; i < 400 && !done; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(done);
  std::this_thread::sleep_for(50ms);  // the detached thread finishes on its own state
}

// Lossless (Config::HookOverflow::Backpressure): nothing is dropped past the capacity, and
// above() arms one drain callback that runs once the queue is down to the low water.
TEST(HookExecutor, LosslessNeverDropsAndAboveCallsBackOnceDrained) {
  HookExecutor ex(1, 3, /*lossless=*/true);
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  std::vector<int> ran;
  std::atomic<int> drained{0};
  std::atomic<size_t> left_at_drain{SIZE_MAX};
  for (int i = 1; i <= 8; ++i)
    ex.post([&, i] {
      std::unique_lock l(mu);
      cv.wait(l, [&] { return open; });
      ran.push_back(i);
    });
  // The first task is running (blocked) or about to: at least 7 wait, above the 3 of capacity.
  EXPECT_FALSE(ex.above(100, 1, [] {}));  // not that many
  ASSERT_TRUE(ex.above(3, 2, [&] {
    left_at_drain = ex.queued();
    ++drained;
  }));
  EXPECT_TRUE(ex.above(3, 0, [&] { drained += 100; }));  // still full; the armed callback stays
  EXPECT_EQ(drained, 0);
  {
    std::lock_guard l(mu);
    open = true;
  }
  cv.notify_all();
  for (int i = 0; i < 400 && ex.executed() < 8; ++i) std::this_thread::sleep_for(5ms);
  std::lock_guard l(mu);
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(ex.dropped(), 0u);
  EXPECT_EQ(drained, 1);
  EXPECT_LE(left_at_drain, 2u);
}
