#include "signaling/hooks.hpp"

#include <algorithm>

namespace peerrtc::signaling {

bool Hooks::remove(uint64_t id) {
  std::lock_guard lock(mu_);
  auto drop = [id](auto& list) {
    auto it = std::find_if(list.begin(), list.end(), [id](const auto& s) { return s.id == id; });
    if (it == list.end()) return false;
    list.erase(it);
    return true;
  };
  return drop(messages_) || drop(joined_) || drop(left_) || drop(relayed_);
}

bool Hooks::wants(const std::vector<Sub<MessageFn>>& list) const {
  std::lock_guard lock(mu_);
  return !list.empty();
}

void Hooks::post(const std::vector<Sub<MessageFn>>& list, Message m) {
  std::vector<MessageFn> fns;
  {
    std::lock_guard lock(mu_);
    for (auto& s : list) fns.push_back(s.fn);
  }
  if (fns.empty()) return;
  executor_.post([fns = std::move(fns), m = std::move(m)] {
    for (auto& fn : fns) fn(m);
  });
}

void Hooks::presence(bool joined, const std::string& room, const std::string& peer_id, json info) {
  std::vector<PresenceFn> fns;
  {
    std::lock_guard lock(mu_);
    for (auto& s : joined ? joined_ : left_) fns.push_back(s.fn);
  }
  if (fns.empty()) return;
  executor_.post([fns = std::move(fns), room, peer_id, info = std::move(info)] {
    for (auto& fn : fns) fn(room, peer_id, info);
  });
}

}  // namespace peerrtc::signaling
