#include "signaling/frames.hpp"

namespace peerrtc::signaling {

const char* to_string(FrameError e) {
  switch (e) {
    case FrameError::None: return "none";
    case FrameError::Empty: return "empty frame";
    case FrameError::UnknownTag: return "unknown frame tag";
    case FrameError::BadTarget: return "malformed direct-message target";
  }
  return "?";
}

std::optional<ClientFrame> parse_client_frame(ByteView frame, bool binary, FrameError* error) {
  auto fail = [&](FrameError e) -> std::optional<ClientFrame> {
    if (error) *error = e;
    return std::nullopt;
  };
  if (frame.empty()) return fail(FrameError::Empty);
  ClientFrame f;
  f.binary = binary;
  const uint8_t tag = frame[0];
  if (!binary) {
    if (tag == 'm') {
      f.payload = frame.subspan(1);
      return f;
    }
    if (tag == 'd') {
      auto rest = as_chars(frame.subspan(1));
      auto nl = rest.find('\n');
      if (nl == std::string_view::npos || !valid_name(rest.substr(0, nl))) return fail(FrameError::BadTarget);
      f.to = rest.substr(0, nl);
      f.payload = frame.subspan(1 + nl + 1);
      return f;
    }
    return fail(FrameError::UnknownTag);
  }
  if (tag == 0x01) {
    f.payload = frame.subspan(1);
    return f;
  }
  if (tag == 0x02) {
    if (frame.size() < 2) return fail(FrameError::BadTarget);
    size_t len = frame[1];
    if (frame.size() < 2 + len) return fail(FrameError::BadTarget);
    auto to = as_chars(frame.subspan(2, len));
    if (!valid_name(to)) return fail(FrameError::BadTarget);
    f.to = to;
    f.payload = frame.subspan(2 + len);
    return f;
  }
  return fail(FrameError::UnknownTag);
}

std::string server_text_frame(std::string_view from, ByteView payload, bool direct) {
  std::string out;
  out.reserve(2 + from.size() + payload.size());
  out.push_back(direct ? 'd' : 'm');
  out.append(from);
  out.push_back('\n');
  out.append(as_chars(payload));
  return out;
}

std::string server_binary_frame(std::string_view from, ByteView payload, bool direct) {
  std::string out;
  out.reserve(2 + from.size() + payload.size());
  out.push_back(direct ? '\x02' : '\x01');
  out.push_back(static_cast<char>(from.size()));
  out.append(from);
  out.append(as_chars(payload));
  return out;
}

std::string client_text_frame(ByteView payload, std::optional<std::string_view> to) {
  std::string out;
  if (to) {
    out.push_back('d');
    out.append(*to);
    out.push_back('\n');
  } else {
    out.push_back('m');
  }
  out.append(as_chars(payload));
  return out;
}

std::string client_binary_frame(ByteView payload, std::optional<std::string_view> to) {
  std::string out;
  if (to) {
    out.push_back('\x02');
    out.push_back(static_cast<char>(to->size()));
    out.append(*to);
  } else {
    out.push_back('\x01');
  }
  out.append(as_chars(payload));
  return out;
}

}  // namespace peerrtc::signaling
