// Builds against the public API alone (target peerrtc): must compile and link.
#include <peerrtc/peerrtc.hpp>

int main() {
  peerrtc::Config c;
  return c.max_rooms > 0 && peerrtc::kMaxPayload == 262078 ? 0 : 1;
}
