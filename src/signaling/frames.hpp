// Data channel frames of the PeerRTC protocol (docs/protocol.md). Pure; parse never throws.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
  uint64_t cmid = 0;                   // v2: the client message id (0: a v1 form, no ack)
};

enum class FrameError { None, Empty, UnknownTag, BadTarget, BadCmid };
const char* to_string(FrameError e);

// Parses a frame a client sent. The views point into `frame`. `v2`: the client negotiated
// protocol 2, whose frames also carry a cmid (M/D text, 0x11/0x12 binary); v1 forms stay valid.
std::optional<ClientFrame> parse_client_frame(ByteView frame, bool binary, FrameError* error = nullptr,
                                              bool v2 = false);

// Server -> client frames.
std::string server_text_frame(std::string_view from, ByteView payload, bool direct);
std::string server_binary_frame(std::string_view from, ByteView payload, bool direct);

// Protocol v2 server -> client message frames: they carry the room's sequence number.
//   text   M<seq> <from>\n<text>            D<seq> <from>\n<text>   (seq in decimal)
//   binary 0x11 <seq:u64 BE> <len:u8> <from> <payload>   0x12 ... (direct)
std::string server_text_frame_v2(uint64_t seq, std::string_view from, ByteView payload, bool direct);
std::string server_binary_frame_v2(uint64_t seq, std::string_view from, ByteView payload, bool direct);

// A v2 client's acks, many in one text frame: `A` then entries separated by ',':
// `<cmid>:<seq>` relayed as <seq> (0: relayed before, its seq no longer known), `<cmid>!<code>`
// refused. append_ack adds one entry to `out` (which starts empty).
void append_ack(std::string& out, uint64_t cmid, uint64_t seq);
void append_nack(std::string& out, uint64_t cmid, std::string_view code);
// Reads an ack frame (tests, native clients): false if malformed.
struct AckEntry {
  uint64_t cmid = 0, seq = 0;
  std::string code;  // non-empty: refused
};
bool parse_ack_frame(std::string_view frame, std::vector<AckEntry>& out);

// Client -> server frames (for native clients and tests).
std::string client_text_frame(ByteView payload, std::optional<std::string_view> to = {});
std::string client_binary_frame(ByteView payload, std::optional<std::string_view> to = {});
// v2: M<cmid> <text> / D<cmid> <to>\n<text>; 0x11 <cmid:u64 BE> <payload> / 0x12 <cmid:8> <len> <to> <payload>.
std::string client_text_frame_v2(uint64_t cmid, ByteView payload, std::optional<std::string_view> to = {});
std::string client_binary_frame_v2(uint64_t cmid, ByteView payload, std::optional<std::string_view> to = {});
// Largest seq / cmid (2^53 - 1: exact in a JS number).
constexpr uint64_t kMaxSeq = (uint64_t{1} << 53) - 1;

}  // namespace peerrtc::signaling
