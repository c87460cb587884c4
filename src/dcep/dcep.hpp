// DCEP, the Data Channel Establishment Protocol (RFC 8832), and the WebRTC PPIDs
// (RFC 8831 §8). Pure: bytes in, bytes out; decoders never throw.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "common/bytes.hpp"

namespace peerrtc::dcep {

// SCTP payload protocol identifiers.
namespace ppid {
constexpr uint32_t kDcep = 50;
constexpr uint32_t kString = 51;
constexpr uint32_t kBinaryPartial = 52;  // deprecated
constexpr uint32_t kBinary = 53;
constexpr uint32_t kStringPartial = 54;  // deprecated
constexpr uint32_t kStringEmpty = 56;
constexpr uint32_t kBinaryEmpty = 57;
}  // namespace ppid

constexpr uint8_t kMessageOpen = 0x03;
constexpr uint8_t kMessageAck = 0x02;

// RFC 8832 §5.1 channel types.
enum class ChannelType : uint8_t {
  Reliable = 0x00,
  ReliableUnordered = 0x80,
  PartialReliableRexmit = 0x01,
  PartialReliableRexmitUnordered = 0x81,
  PartialReliableTimed = 0x02,
  PartialReliableTimedUnordered = 0x82,
};
inline bool is_unordered(ChannelType t) { return (static_cast<uint8_t>(t) & 0x80) != 0; }

struct Open {
  ChannelType type = ChannelType::Reliable;
  uint16_t priority = 256;
  uint32_t reliability = 0;  // retransmits or lifetime in ms, per type
  std::string label;
  std::string protocol;
};

Bytes encode_open(const Open& open);
Bytes encode_ack();
// nullopt for anything that is not a well-formed DATA_CHANNEL_OPEN.
std::optional<Open> decode_open(ByteView payload);
// A DATA_CHANNEL_ACK: the message type 0x02 first. RFC 8832 §5.2 makes it 1 byte, but
// pion/datachannel (1.5, under pion/webrtc 3.1) sends 4 (0x02 0 0 0); like libwebrtc, any
// length is accepted, so pion's ACK is not taken for a malformed message.
bool is_ack(ByteView payload);

}  // namespace peerrtc::dcep
