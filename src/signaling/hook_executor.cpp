#include "signaling/hook_executor.hpp"

#include "common/log.hpp"

namespace peerrtc::signaling {

HookExecutor::HookExecutor(unsigned threads, size_t capacity) : capacity_(capacity ? capacity : 1) {
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

HookExecutor::~HookExecutor() { stop(); }

void HookExecutor::post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (queue_.size() >= capacity_) {
      queue_.pop_front();
      uint64_t n = ++dropped_;
      if ((n & (n - 1)) == 0)  // log at 1, 2, 4, 8, ... drops
        log().warn("hooks: queue full ({} tasks), dropped the oldest ({} dropped so far)", capacity_, n);
    }
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void HookExecutor::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    else if (t.joinable()) t.detach();
  threads_.clear();
}

size_t HookExecutor::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void HookExecutor::run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      task();
    } catch (const std::exception& e) {
      log().error("hooks: a hook threw: {}", e.what());
    } catch (...) {
      log().error("hooks: a hook threw a non-exception");
    }
    ++executed_;
  }
}

}  // namespace peerrtc::signaling
