// PeerPyRTC's Broadcaster: the backend sends to a room (sender "server") or to one peer.
#pragma once
#include "peerrtc/signaling_manager.hpp"

namespace peerrtc {

class Broadcaster {
 public:
  explicit Broadcaster(SignalingManager& manager) : manager_(manager) {}
  size_t broadcast(const std::string& room, const std::string& message, bool binary = false) {
    return manager_.broadcast(room, message, binary);
  }
  bool send(const std::string& room, const std::string& peer_id, const std::string& message,
            bool binary = false) {
    return manager_.send_to(room, peer_id, message, binary);
  }

 private:
  SignalingManager& manager_;
};

}  // namespace peerrtc
