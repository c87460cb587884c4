// The backend's hooks: several subscribers each for messages, peer joined and peer left (each
// subscription has an id to remove it), run on the HookExecutor's threads off the network
// thread. Adding and removing are thread-safe; a hook sees the subscribers of the moment its
// event was queued.
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "peerrtc/signaling_manager.hpp"
#include "signaling/hook_executor.hpp"

namespace peerrtc::signaling {

class Hooks {
 public:
  using MessageFn = std::function<void(const Message&)>;
  using PresenceFn = std::function<void(const std::string& room, const std::string& peer_id, const json& info)>;

  Hooks(unsigned threads, size_t capacity, bool lossless = false) : executor_(threads, capacity, lossless) {}

  uint64_t add_message(MessageFn fn) { return add(messages_, std::move(fn)); }
  uint64_t add_joined(PresenceFn fn) { return add(joined_, std::move(fn)); }
  uint64_t add_left(PresenceFn fn) { return add(left_, std::move(fn)); }
  // Every relayed message, the backend's own included (on_relayed).
  uint64_t add_relayed(MessageFn fn) { return add(relayed_, std::move(fn)); }
  bool remove(uint64_t id);

  bool wants_messages() const { return wants(messages_); }
  // Queues one task for every current message subscriber.
  void message(Message m) { post(messages_, std::move(m)); }
  bool wants_relayed() const { return wants(relayed_); }
  void relayed(Message m) { post(relayed_, std::move(m)); }
  void presence(bool joined, const std::string& room, const std::string& peer_id, json info);

  HookExecutor& executor() { return executor_; }

 private:
  template <typename Fn>
  struct Sub {
    uint64_t id;
    Fn fn;
  };
  template <typename Fn>
  uint64_t add(std::vector<Sub<Fn>>& list, Fn fn) {
    std::lock_guard lock(mu_);
    list.push_back({next_id_, std::move(fn)});
    return next_id_++;
  }

  bool wants(const std::vector<Sub<MessageFn>>& list) const;
  void post(const std::vector<Sub<MessageFn>>& list, Message m);

  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  std::vector<Sub<MessageFn>> messages_, relayed_;
  std::vector<Sub<PresenceFn>> joined_, left_;
  HookExecutor executor_;  // last: its threads stop before the lists go
};

}  // namespace peerrtc::signaling
