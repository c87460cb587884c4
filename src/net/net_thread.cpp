#include "net/net_thread.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "common/log.hpp"

namespace peerrtc::net {

namespace asio = boost::asio;

NetThread::~NetThread() { stop(); }

void NetThread::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) throw std::logic_error("NetThread::start: already started or stopped");
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& e) {
        log().error("network thread: exception escaped a handler: {}", e.what());
      }
    }
  });
  id_ = thread_.get_id();
}

bool NetThread::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

bool NetThread::post(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  asio::post(io_, std::move(fn));
  return true;
}

uint64_t NetThread::enqueue(std::function<void()> run, std::function<void()> abandon) {
  std::lock_guard lock(mu_);
  if (stopping_) return 0;
  const uint64_t ticket = next_ticket_++;
  abandon_.emplace(ticket, std::move(abandon));
  asio::post(io_, [this, ticket, run = std::move(run)]() mutable {
    {
      std::lock_guard l(mu_);
      if (abandon_.erase(ticket) == 0) return;  // already answered by stop()
    }
    run();
  });
  return ticket;
}

void NetThread::stop(std::function<void()> last) {
  if (on_thread()) throw std::logic_error("NetThread::stop from the network thread (it would wait for itself)");
  std::unique_lock lock(mu_);
  if (stopping_) return;
  stopping_ = true;  // no new work from here on (the check and the post are both under mu_)
  const bool running = thread_.joinable();
  lock.unlock();
  if (running) {
    // FIFO: `last` runs after every task queued before stopping_ was set.
    std::promise<void> done;
    asio::post(io_, [&last, &done] {
      try {
        if (last) last();
      } catch (const std::exception& e) {
        log().error("network thread: shutdown task failed: {}", e.what());
      }
      done.set_value();
    });
    done.get_future().wait();
    // One more turn, so what `last` sent (ABORTs, close_notify) leaves before the loop stops.
    std::promise<void> flushed;
    asio::post(io_, [&flushed] { flushed.set_value(); });
    flushed.get_future().wait();
  }
  io_.stop();
  if (running) thread_.join();
  lock.lock();
  auto left = std::move(abandon_);
  abandon_.clear();
  lock.unlock();
  for (auto& [ticket, answer] : left) answer();
}

}  // namespace peerrtc::net
