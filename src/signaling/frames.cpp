#include "signaling/frames.hpp"

#include <charconv>

namespace peerrtc::signaling {

const char* to_string(FrameError e) {
  switch (e) {
    case FrameError::None: return "none";
    case FrameError::Empty: return "empty frame";
    case FrameError::UnknownTag: return "unknown frame tag";
    case FrameError::BadTarget: return "malformed direct-message target";
    case FrameError::BadCmid: return "malformed client message id (cmid)";
  }
  return "?";
}

namespace {
// Decimal digits up to `stop` at frame[*at...]: 1..16 digits, no leading zero, 1..kMaxSeq.
bool read_decimal(ByteView frame, size_t& at, char stop, uint64_t& out) {
  uint64_t v = 0;
  size_t digits = 0;
  while (at < frame.size() && frame[at] != static_cast<uint8_t>(stop)) {
    const uint8_t c = frame[at];
    if (c < '0' || c > '9' || digits == kMaxSeqDigits || (digits == 0 && c == '0')) return false;
    v = v * 10 + (c - '0');
    ++digits;
    ++at;
  }
  if (digits == 0 || at == frame.size() || v > kMaxSeq) return false;
  ++at;  // the stop byte
  out = v;
  return true;
}

uint64_t read_u64(ByteView b) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | b[i];
  return v;
}

void put_u64(std::string& out, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((v >> (8 * (7 - i))) & 0xFF);
  out.append(buf, 8);
}

// One append (no per-digit capacity check): seqs and cmids go into every v2 frame and ack.
void put_decimal(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}
}  // namespace

std::optional<ClientFrame> parse_client_frame(ByteView frame, bool binary, FrameError* error, bool v2) {
  auto fail = [&](FrameError e) -> std::optional<ClientFrame> {
    if (error) *error = e;
    return std::nullopt;
  };
  if (frame.empty()) return fail(FrameError::Empty);
  ClientFrame f;
  f.binary = binary;
  const uint8_t tag = frame[0];
  if (v2 && !binary && (tag == 'M' || tag == 'D')) {
    size_t at = 1;
    if (!read_decimal(frame, at, ' ', f.cmid)) return fail(FrameError::BadCmid);
    if (tag == 'M') {
      f.payload = frame.subspan(at);
      return f;
    }
    auto rest = as_chars(frame.subspan(at));
    auto nl = rest.find('\n');
    if (nl == std::string_view::npos || !valid_name(rest.substr(0, nl))) return fail(FrameError::BadTarget);
    f.to = rest.substr(0, nl);
    f.payload = frame.subspan(at + nl + 1);
    return f;
  }
  if (v2 && binary && (tag == 0x11 || tag == 0x12)) {
    if (frame.size() < 9) return fail(FrameError::BadCmid);
    f.cmid = read_u64(frame.subspan(1, 8));
    if (f.cmid == 0 || f.cmid > kMaxSeq) return fail(FrameError::BadCmid);
    if (tag == 0x11) {
      f.payload = frame.subspan(9);
      return f;
    }
    if (frame.size() < 10) return fail(FrameError::BadTarget);
    const size_t len = frame[9];
    if (frame.size() < 10 + len) return fail(FrameError::BadTarget);
    auto to = as_chars(frame.subspan(10, len));
    if (!valid_name(to)) return fail(FrameError::BadTarget);
    f.to = to;
    f.payload = frame.subspan(10 + len);
    return f;
  }
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

std::string server_text_frame_v2(uint64_t seq, std::string_view from, ByteView payload, bool direct) {
  std::string out;
  out.reserve(3 + kMaxSeqDigits + from.size() + payload.size());
  out.push_back(direct ? 'D' : 'M');
  put_decimal(out, seq);
  out.push_back(' ');
  out.append(from);
  out.push_back('\n');
  out.append(as_chars(payload));
  return out;
}

std::string server_binary_frame_v2(uint64_t seq, std::string_view from, ByteView payload, bool direct) {
  std::string out;
  out.reserve(10 + from.size() + payload.size());
  out.push_back(direct ? '\x12' : '\x11');
  put_u64(out, seq);
  out.push_back(static_cast<char>(from.size()));
  out.append(from);
  out.append(as_chars(payload));
  return out;
}

void append_ack(std::string& out, uint64_t cmid, uint64_t seq) {
  out.push_back(out.empty() ? 'A' : ',');
  put_decimal(out, cmid);
  out.push_back(':');
  put_decimal(out, seq);
}

void append_nack(std::string& out, uint64_t cmid, std::string_view code) {
  out.push_back(out.empty() ? 'A' : ',');
  put_decimal(out, cmid);
  out.push_back('!');
  out.append(code);
}

bool parse_ack_frame(std::string_view frame, std::vector<AckEntry>& out) {
  if (frame.size() < 2 || frame[0] != 'A') return false;
  size_t at = 1;
  while (at <= frame.size()) {
    size_t end = frame.find(',', at);
    if (end == std::string_view::npos) end = frame.size();
    auto item = frame.substr(at, end - at);
    auto sep = item.find_first_of(":!");
    if (sep == std::string_view::npos || sep == 0) return false;
    AckEntry e;
    for (char c : item.substr(0, sep)) {
      if (c < '0' || c > '9') return false;
      e.cmid = e.cmid * 10 + static_cast<uint64_t>(c - '0');
    }
    auto rest = item.substr(sep + 1);
    if (item[sep] == ':') {
      if (rest.empty()) return false;
      for (char c : rest) {
        if (c < '0' || c > '9') return false;
        e.seq = e.seq * 10 + static_cast<uint64_t>(c - '0');
      }
    } else {
      if (rest.empty()) return false;
      e.code = std::string(rest);
    }
    out.push_back(std::move(e));
    at = end + 1;
  }
  return true;
}

std::string client_text_frame_v2(uint64_t cmid, ByteView payload, std::optional<std::string_view> to) {
  std::string out;
  out.push_back(to ? 'D' : 'M');
  put_decimal(out, cmid);
  out.push_back(' ');
  if (to) {
    out.append(*to);
    out.push_back('\n');
  }
  out.append(as_chars(payload));
  return out;
}

std::string client_binary_frame_v2(uint64_t cmid, ByteView payload, std::optional<std::string_view> to) {
  std::string out;
  out.push_back(to ? '\x12' : '\x11');
  put_u64(out, cmid);
  if (to) {
    out.push_back(static_cast<char>(to->size()));
    out.append(*to);
  }
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
