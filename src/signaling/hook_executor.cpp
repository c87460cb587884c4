#include "signaling/hook_executor.hpp"

#include <utility>

#include "common/log.hpp"

namespace peerrtc::signaling {

HookExecutor::HookExecutor(unsigned threads, size_t capacity, bool lossless) : s_(std::make_shared<State>()) {
  s_->capacity = capacity ? capacity : 1;
  s_->lossless = lossless;
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([s = s_] { run(s); });
}

HookExecutor::~HookExecutor() { stop(); }

void HookExecutor::post(std::function<void()> task) { push(std::move(task), true); }
void HookExecutor::post_always(std::function<void()> task) { push(std::move(task), false); }

void HookExecutor::push(std::function<void()> task, bool droppable) {
  auto& s = *s_;
  {
    std::lock_guard lock(s.mu);
    if (s.stopping) return;
    if (droppable && !s.lossless && s.droppable >= s.capacity) {
      for (auto it = s.queue.begin(); it != s.queue.end(); ++it) {
        if (!it->droppable) continue;
        s.queue.erase(it);
        --s.droppable;
        break;
      }
      uint64_t n = ++s.dropped;
      if ((n & (n - 1)) == 0)  // log at 1, 2, 4, 8, ... drops
        log().warn("hooks: queue full ({} tasks), dropped the oldest ({} dropped so far)", s.capacity, n);
    }
    s.queue.push_back(Task{std::move(task), droppable});
    if (droppable) ++s.droppable;
  }
  s.cv.notify_one();
}

bool HookExecutor::above(size_t high, size_t low, std::function<void()> on_drained) {
  std::lock_guard lock(s_->mu);
  if (s_->stopping || s_->droppable < high) return false;
  if (!s_->on_drained) {
    s_->on_drained = std::move(on_drained);
    s_->drained_at = low;
  }
  return true;
}

void HookExecutor::stop() {
  {
    std::lock_guard lock(s_->mu);
    s_->stopping = true;
    s_->queue.clear();
    s_->droppable = 0;
    s_->on_drained = nullptr;
  }
  s_->cv.notify_all();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(threads_mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) {
    if (!t.joinable()) continue;
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();  // we are running on it: it ends once this hook returns (it owns its State)
    } else {
      t.join();
    }
  }
}

size_t HookExecutor::queued() const {
  std::lock_guard lock(s_->mu);
  return s_->queue.size();
}

void HookExecutor::run(const std::shared_ptr<State>& s) {
  for (;;) {
    Task task;
    std::function<void()> drained;
    {
      std::unique_lock lock(s->mu);
      s->cv.wait(lock, [&] { return s->stopping || !s->queue.empty(); });
      if (s->stopping) return;
      task = std::move(s->queue.front());
      s->queue.pop_front();
      if (task.droppable) --s->droppable;
      if (s->on_drained && s->droppable <= s->drained_at) drained = std::exchange(s->on_drained, nullptr);
    }
    if (drained) {
      try {
        drained();
      } catch (const std::exception& e) {
        log().error("hooks: the drain callback threw: {}", e.what());
      }
    }
    try {
      task.fn();
    } catch (const std::exception& e) {
      log().error("hooks: a hook threw: {}", e.what());
    } catch (...) {
      log().error("hooks: a hook threw a non-exception");
    }
    ++s->executed;
  }
}

}  // namespace peerrtc::signaling
