// Data channel frames of the PeerRTC protocol (docs/protocol.md). Pure; parse never throws.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.hpp"
#include "peerrtc/limits.hpp"
#include "signaling/names.hpp"  // valid_name: the rule for direct-message targets

namespace peerrtc::signaling {

using peerrtc::kMaxPayload;
constexpr size_t kMaxFrame = kMaxMessageSize;
constexpr size_t kMaxHeader = kMaxFrameHeader;

struct ClientFrame {
  bool binary = false;
  std::optional<std::string_view> to;  // direct message target
  ByteView payload;                    // points into the frame
};

enum class FrameError { None, Empty, UnknownTag, BadTarget };
const char* to_string(FrameError e);

// Parses a frame a client sent. The views point into `frame`.
std::optional<ClientFrame> parse_client_frame(ByteView frame, bool binary, FrameError* error = nullptr);

// Server -> client frames.
std::string server_text_frame(std::string_view from, ByteView payload, bool direct);
std::string server_binary_frame(std::string_view from, ByteView payload, bool direct);

// Client -> server frames (for native clients and tests).
std::string client_text_frame(ByteView payload, std::optional<std::string_view> to = {});
std::string client_binary_frame(ByteView payload, std::optional<std::string_view> to = {});

}  // namespace peerrtc::signaling
