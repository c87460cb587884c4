// The protocol's size limits, defined once: the SDP's a=max-message-size, the names' length,
// and the largest payload a frame can carry (docs/protocol.md).
#pragma once
#include <cstddef>

namespace peerrtc {

inline constexpr std::size_t kMaxMessageSize = 262144;  // a=max-message-size, advertised and accepted
inline constexpr std::size_t kMaxNameBytes = 64;        // room names and peer ids
// A frame is a 1-byte kind, the sender or recipient id and its 1-byte length or '\n', then the
// payload: the largest payload fits a=max-message-size with the longest id.
inline constexpr std::size_t kMaxFrameHeader = 2 + kMaxNameBytes;
inline constexpr std::size_t kMaxPayload = kMaxMessageSize - kMaxFrameHeader;  // 262078

}  // namespace peerrtc
