#include "dcep/dcep.hpp"

#include <stdexcept>

namespace peerrtc::dcep {
namespace {

// RFC 8832 §5.1 DATA_CHANNEL_OPEN:
//   Message Type (8) | Channel Type (8) | Priority (16)
//   Reliability Parameter (32)
//   Label Length (16) | Protocol Length (16)
//   Label (Label Length bytes) | Protocol (Protocol Length bytes)
constexpr size_t kOpenHeaderSize = 12;

bool known_channel_type(uint8_t t) {
  switch (static_cast<ChannelType>(t)) {
    case ChannelType::Reliable:
    case ChannelType::ReliableUnordered:
    case ChannelType::PartialReliableRexmit:
    case ChannelType::PartialReliableRexmitUnordered:
    case ChannelType::PartialReliableTimed:
    case ChannelType::PartialReliableTimedUnordered:
      return true;
  }
  return false;
}

// RFC 8832 §5.1: "reliable" types carry reliability 0 and receivers ignore the field.
bool is_reliable(ChannelType t) {
  return t == ChannelType::Reliable || t == ChannelType::ReliableUnordered;
}

// Strict UTF-8 (RFC 3629 §4): no overlongs, no surrogates, nothing above U+10FFFF.
// Label and Protocol are UTF-8 (RFC 8832 §5.1); rejecting bad input here keeps it away
// from JSON encoders and JavaScript further on.
bool valid_utf8(ByteView s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint8_t lo = 0x80, hi = 0xBF;  // bounds of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (s.size() - i - 1 < n) return false;
    if (s[i + 1] < lo || s[i + 1] > hi) return false;
    for (size_t k = 2; k <= n; ++k)
      if ((s[i + k] & 0xC0) != 0x80) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

Bytes encode_open(const Open& open) {
  if (!known_channel_type(static_cast<uint8_t>(open.type)))
    throw std::invalid_argument("dcep: unknown channel type");
  if (open.label.size() > 0xFFFF || open.protocol.size() > 0xFFFF)
    throw std::invalid_argument("dcep: label or protocol longer than 65535 bytes");
  if (!valid_utf8(as_bytes(open.label)) || !valid_utf8(as_bytes(open.protocol)))
    throw std::invalid_argument("dcep: label or protocol is not UTF-8");

  Bytes out;
  out.reserve(kOpenHeaderSize + open.label.size() + open.protocol.size());
  out.push_back(kMessageOpen);
  out.push_back(static_cast<uint8_t>(open.type));
  append_be16(out, open.priority);
  append_be32(out, is_reliable(open.type) ? 0 : open.reliability);
  append_be16(out, static_cast<uint16_t>(open.label.size()));
  append_be16(out, static_cast<uint16_t>(open.protocol.size()));
  out.insert(out.end(), open.label.begin(), open.label.end());
  out.insert(out.end(), open.protocol.begin(), open.protocol.end());
  return out;
}

// RFC 8832 §5.2: DATA_CHANNEL_ACK is the single message-type byte.
Bytes encode_ack() {
  return Bytes{kMessageAck};
}

std::optional<Open> decode_open(ByteView p) {
  if (p.size() < kOpenHeaderSize || p[0] != kMessageOpen) return std::nullopt;
  if (!known_channel_type(p[1])) return std::nullopt;
  const size_t label_len = load_be16(p.data() + 8);
  const size_t protocol_len = load_be16(p.data() + 10);
  if (p.size() - kOpenHeaderSize != label_len + protocol_len) return std::nullopt;
  const ByteView label = p.subspan(kOpenHeaderSize, label_len);
  const ByteView protocol = p.subspan(kOpenHeaderSize + label_len, protocol_len);
  if (!valid_utf8(label) || !valid_utf8(protocol)) return std::nullopt;

  Open o;
  o.type = static_cast<ChannelType>(p[1]);
  o.priority = load_be16(p.data() + 2);
  o.reliability = is_reliable(o.type) ? 0 : load_be32(p.data() + 4);
  o.label.assign(as_chars(label));
  o.protocol.assign(as_chars(protocol));
  return o;
}

bool is_ack(ByteView p) {
  return !p.empty() && p[0] == kMessageAck;
}

}  // namespace peerrtc::dcep
