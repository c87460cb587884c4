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
// Protocol v2 frames also carry a sequence number or client message id (docs/protocol.md "v2"):
// at most 16 decimal digits and a space in text frames (8 bytes in binary ones), so a v2
// header is at most 83 bytes and a v2 payload at most 262061 bytes.
inline constexpr std::size_t kMaxSeqDigits = 16;  // seq and cmid are below 2^53 (JS safe integers)
inline constexpr std::size_t kMaxFrameHeaderV2 = kMaxFrameHeader + kMaxSeqDigits + 1;
inline constexpr std::size_t kMaxPayloadV2 = kMaxMessageSize - kMaxFrameHeaderV2;  // 262061

}  // namespace peerrtc
