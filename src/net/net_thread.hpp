// The network thread: one io_context run by one thread, and the one way other threads get work
// done on it. Everything the network thread owns (the Loop, the Engine, rooms) is touched only
// from tasks run here; other threads call invoke() and wait with a deadline.
//
//   invoke(fn, timeout): fn (moved into the task, with whatever it captured by value) runs on the
//   network thread; its result or exception comes back. A call that times out has no effect:
//   the task moves from pending to running with a compare-and-swap, and at the deadline the
//   caller tries to move it from pending to abandoned. If that wins, fn never runs and the
//   caller gets Unavailable "did not answer within N ms"; if the task is already running, the
//   caller waits for it to finish and gets its result (tasks on the network thread are short).
//   So an offer answered 503 never admits its peer later, and a retried API call does not run
//   twice. The task owns its inputs and its result, so nothing dangles either way.
//   Capture by value: a task that outlives its caller must not reference the caller's frame.
//   From the network thread itself invoke() runs fn inline.
//   Once stop() has begun, invoke() and post() refuse work (Unavailable "shutting down"), and any
//   task still queued when the thread ends is answered with that error instead of hanging.
#pragma once
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>

namespace peerrtc::net {

class NetThread {
 public:
  // The network thread could not do the work: stopping, or no answer before the deadline.
  struct Unavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
  };

  NetThread() = default;
  ~NetThread();  // stop()
  NetThread(const NetThread&) = delete;
  NetThread& operator=(const NetThread&) = delete;

  boost::asio::io_context& io() { return io_; }
  void start();  // runs the io_context on a new thread (until stop())
  bool on_thread() const { return std::this_thread::get_id() == id_; }
  bool stopping() const;

  // Queues fn; false (fn dropped) once stopping.
  bool post(std::function<void()> fn);

  template <typename F>
  auto invoke(F fn, std::chrono::milliseconds timeout) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    if (on_thread()) return fn();
    auto promise = std::make_shared<std::promise<R>>();
    auto future = promise->get_future();
    auto state = std::make_shared<std::atomic<int>>(kPending);
    const uint64_t ticket = enqueue(
        [promise, state, fn = std::move(fn)]() mutable {
          int expected = kPending;
          if (!state->compare_exchange_strong(expected, kRunning)) return;  // its caller gave up: not run
          fulfil(*promise, fn);
        },
        [promise] { promise->set_exception(std::make_exception_ptr(Unavailable("server is shutting down"))); });
    if (ticket == 0) throw Unavailable("server is shutting down");
    if (future.wait_for(timeout) != std::future_status::ready) {
      int expected = kPending;
      if (state->compare_exchange_strong(expected, kAbandoned))
        throw Unavailable("the network thread did not answer within " + std::to_string(timeout.count()) +
                          " ms (the call was not carried out)");
      future.wait();  // running already: its effect happens, so its answer is given
    }
    return future.get();
  }

  // Refuses new work, runs `last` on the network thread (if it runs), lets the tasks already
  // queued before it run, stops the io_context and joins. Tasks queued but not run are answered
  // Unavailable. Idempotent. Must not be called from the network thread (std::logic_error).
  void stop(std::function<void()> last = {});

 private:
  static constexpr int kPending = 0, kRunning = 1, kAbandoned = 2;
  template <typename R, typename F>
  static void fulfil(std::promise<R>& p, F& fn) {
    try {
      if constexpr (std::is_void_v<R>) {
        fn();
        p.set_value();
      } else {
        p.set_value(fn());
      }
    } catch (...) {
      p.set_exception(std::current_exception());
    }
  }
  // Queues `run`; `abandon` answers its caller if it never runs. 0 when refused.
  uint64_t enqueue(std::function<void()> run, std::function<void()> abandon);

  mutable std::mutex mu_;
  bool stopping_ = false;
  uint64_t next_ticket_ = 1;
  std::map<uint64_t, std::function<void()>> abandon_;  // tasks queued and not yet run
  boost::asio::io_context io_;
  std::thread thread_;
  std::thread::id id_;
};

}  // namespace peerrtc::net
