// Reaches for a private header through the public target: must NOT compile (src/ is private).
#include <peerrtc/peerrtc.hpp>

#include "net/engine.hpp"

int main() { return sizeof(peerrtc::net::EngineConfig) > 0 ? 0 : 1; }
