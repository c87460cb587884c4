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

bool Hooks::wants_messages() const {
  std::lock_guard lock(mu_);
  return !messages_.empty();
}

void Hooks::message(Message m) {
  std::vector<MessageFn> fns;
  {
    std::lock_guard lock(mu_);
    for (auto& s : messages_) fns.push_back(s.fn);
  }
  if (fns.empty()) return;
  executor_.post([fns = std::move(fns), m = std::move(m)] {
    for (auto& fn : fns) fn(m);
  });
}

bool Hooks::wants_relayed() const {
  std::lock_guard lock(mu_);
  return !relayed_.empty();
}

void Hooks::relayed(Message m) {
  std::vector<MessageFn> fns;
  {
    std::lock_guard lock(mu_);
    for (auto& s : relayed_) fns.push_back(s.fn);
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
