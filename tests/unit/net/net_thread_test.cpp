// net::NetThread: results and exceptions come back, the deadline is honoured without leaving
// the task on a dead frame, and nothing hangs around stop().
#include "net/net_thread.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

using namespace peerrtc;
using namespace std::chrono_literals;

TEST(NetThread, InvokeReturnsResultsAndExceptions) {
  net::NetThread t;
  t.start();
  EXPECT_EQ(t.invoke([] { return 41 + 1; }, 1s), 42);
  EXPECT_TRUE(t.invoke([&t] { return t.on_thread(); }, 1s));
  EXPECT_FALSE(t.on_thread());
  t.invoke([] {}, 1s);  // void
  EXPECT_THROW(t.invoke([]() -> int { throw std::invalid_argument("bad"); }, 1s), std::invalid_argument);
  // From the network thread itself: inline (no self-deadlock).
  EXPECT_EQ(t.invoke([&t] { return t.invoke([] { return 7; }, 1ms); }, 1s), 7);
}

// The caller gives up at the deadline and returns; the task, still pending then, never runs: a
// call that timed out has no effect. Its inputs are its own (a string moved into it), so under
// ASan a task that referenced the caller's frame would still show here when it is dropped.
TEST(NetThread, DeadlineIsHonouredAndTheAbandonedTaskNeverRuns) {
  net::NetThread t;
  t.start();
  std::atomic<bool> release{false};
  std::atomic<int> ran{0};
  t.post([&] {
    while (!release) std::this_thread::sleep_for(1ms);  // the network thread is busy
  });
  const auto t0 = std::chrono::steady_clock::now();
  {
    std::string input(1000, 'x');
    EXPECT_THROW(t.invoke([input, &ran] { ran += static_cast<int>(input.size()); return input.size(); }, 50ms),
                 net::NetThread::Unavailable);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  release = true;
  EXPECT_EQ(t.invoke([] { return 1; }, 2s), 1);  // FIFO: the late task's turn came before this one
  EXPECT_EQ(ran.load(), 0);
}

// A task already running at the deadline is waited for: its effect happens, so its caller is
// told its result rather than a timeout.
TEST(NetThread, ATaskRunningAtTheDeadlineIsWaitedFor) {
  net::NetThread t;
  t.start();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(t.invoke([] { std::this_thread::sleep_for(200ms); return 5; }, 20ms), 5);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
}

TEST(NetThread, StopRefusesWorkAndAnswersWhatNeverRan) {
  net::NetThread never_started;
  std::atomic<bool> answered{false};
  std::thread caller([&] {
    try {
      never_started.invoke([] { return 1; }, 10s);
    } catch (const net::NetThread::Unavailable& e) {
      answered = std::string(e.what()).find("shutting down") != std::string::npos;
    }
  });
  std::this_thread::sleep_for(50ms);  // the call is queued on a loop that will never run it
  const auto t0 = std::chrono::steady_clock::now();
  never_started.stop();
  caller.join();
  EXPECT_TRUE(answered) << "the queued call is answered at stop(), not after its 10 s deadline";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_THROW(never_started.invoke([] { return 1; }, 1s), net::NetThread::Unavailable);
  EXPECT_FALSE(never_started.post([] {}));

  net::NetThread t;
  t.start();
  bool last_ran = false;
  t.stop([&] { last_ran = true; });
  EXPECT_TRUE(last_ran);
  EXPECT_TRUE(t.stopping());
  EXPECT_THROW(t.invoke([] { return 1; }, 1s), net::NetThread::Unavailable);
  t.stop();  // idempotent
}

TEST(NetThread, StopFromTheNetworkThreadIsRefused) {
  net::NetThread t;
  t.start();
  EXPECT_THROW(t.invoke([&t] { t.stop(); }, 1s), std::logic_error);
}
