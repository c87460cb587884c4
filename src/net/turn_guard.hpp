// A loop turn is a batch (docs/architecture.md, "A loop turn is a batch"): the UDP writer queues
// the turn's datagrams and SCTP holds its small messages, until the turn ends. The end must run
// whatever happens under the turn: if a throw skipped it, SCTP's batch depth stayed above zero
// and every association's messages were held for ever (the data plane wedged with no error).
// Every reader of the network thread (the Engine's UDP socket, each ICE-TCP connection, a
// ClientPeer) brackets its turn with this guard.
#pragma once
#include <exception>
#include <functional>

#include "common/log.hpp"

namespace peerrtc::net {

// turn(true) begins a turn, turn(false) ends it (nesting is counted by what it drives).
using TurnFn = std::function<void(bool begin)>;

class TurnGuard {
 public:
  // `turn` must outlive the guard; an empty function makes a guard that does nothing.
  explicit TurnGuard(const TurnFn& turn) : turn_(turn) {
    if (turn_) turn_(true);
    open_ = static_cast<bool>(turn_);
  }
  ~TurnGuard() { end(); }
  TurnGuard(const TurnGuard&) = delete;
  TurnGuard& operator=(const TurnGuard&) = delete;

  // Ends the turn so far and begins the next (a burst limit in the middle of a read).
  void restart() {
    end();
    if (turn_) {
      turn_(true);
      open_ = true;
    }
  }

 private:
  void end() noexcept {
    if (!open_) return;
    open_ = false;
    try {
      turn_(false);
    } catch (const std::exception& e) {  // the flush itself failed: say so, never terminate
      log().error("net: ending a loop turn threw: {}", e.what());
    } catch (...) {
      log().error("net: ending a loop turn threw");
    }
  }
  const TurnFn& turn_;
  bool open_ = false;
};

}  // namespace peerrtc::net
