// STUN (RFC 8489) messages as used by ICE (RFC 8445): parse, verify, build.
// Pure: bytes in, bytes out. parse() never throws; it returns nullopt and a reason.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |0 0|     STUN Message Type     |         Message Length        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                         Magic Cookie                          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                     Transaction ID (96 bits)                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.hpp"

namespace peerrtc::stun {

constexpr uint32_t kMagicCookie = 0x2112A442;
constexpr uint16_t kMethodBinding = 0x001;

enum class Class : uint8_t { Request = 0, Indication = 1, SuccessResponse = 2, ErrorResponse = 3 };

namespace attr {
constexpr uint16_t kMappedAddress = 0x0001;
constexpr uint16_t kUsername = 0x0006;
constexpr uint16_t kMessageIntegrity = 0x0008;
constexpr uint16_t kErrorCode = 0x0009;
constexpr uint16_t kUnknownAttributes = 0x000A;
constexpr uint16_t kRealm = 0x0014;
constexpr uint16_t kNonce = 0x0015;
constexpr uint16_t kXorMappedAddress = 0x0020;
constexpr uint16_t kPriority = 0x0024;
constexpr uint16_t kUseCandidate = 0x0025;
constexpr uint16_t kSoftware = 0x8022;
constexpr uint16_t kFingerprint = 0x8028;
constexpr uint16_t kIceControlled = 0x8029;
constexpr uint16_t kIceControlling = 0x802A;
constexpr uint16_t kMessageIntegritySha256 = 0x001C;
}  // namespace attr

using TransactionId = std::array<uint8_t, 12>;

// A transport address (IPv4 or IPv6) in network byte order.
struct Address {
  bool ipv6 = false;
  std::array<uint8_t, 16> ip{};  // first 4 bytes used for IPv4
  uint16_t port = 0;             // host byte order
  // Not on the wire: set when the address is the far end of an ICE-TCP connection rather than
  // a UDP sender, so the two are different paths even with equal ip and port.
  bool tcp = false;
  bool operator==(const Address&) const = default;
};

struct Message {
  uint16_t method = kMethodBinding;
  Class cls = Class::Request;
  TransactionId transaction_id{};

  std::optional<std::string> username;
  std::optional<uint32_t> priority;
  bool use_candidate = false;
  std::optional<uint64_t> ice_controlling;
  std::optional<uint64_t> ice_controlled;
  std::optional<Address> xor_mapped_address;
  std::optional<uint16_t> error_code;  // e.g. 400, 401, 420, 487
  std::string error_reason;
  std::optional<std::string> software;
  // Comprehension-required attributes (< 0x8000) we do not understand.
  std::vector<uint16_t> unknown_attributes;  // also filled by build() for 420 responses

  // Set by parse(): where MESSAGE-INTEGRITY / FINGERPRINT sit in the packet.
  bool has_integrity = false;
  bool has_fingerprint = false;
  size_t integrity_offset = 0;    // offset of the MESSAGE-INTEGRITY attribute header
  size_t fingerprint_offset = 0;  // offset of the FINGERPRINT attribute header
};

enum class ParseError {
  None,
  TooShort,
  NotStun,            // first two bits not 0, or bad magic cookie
  BadLength,          // header length not a multiple of 4 or beyond the datagram
  BadAttribute,       // attribute runs past the end, or malformed value
  AttributeAfterIntegrity,  // only FINGERPRINT may follow MESSAGE-INTEGRITY
  BadFingerprint,     // FINGERPRINT present and wrong (checked in parse)
};
const char* to_string(ParseError e);

// RFC 7983 demux: first byte 0..3 (STUN). Also checks the magic cookie.
bool is_stun(ByteView datagram);

// Parses one STUN message. Checks FINGERPRINT if present. Never throws.
std::optional<Message> parse(ByteView datagram, ParseError* error = nullptr);

// Checks MESSAGE-INTEGRITY (HMAC-SHA1 over the message up to the attribute, with the
// header length adjusted as RFC 8489 §14.5 says) with a short-term credential key.
bool verify_integrity(ByteView datagram, const Message& parsed, std::string_view key);

// Serialises: attributes in the order USERNAME, ICE-CONTROLLING/ED, PRIORITY, USE-CANDIDATE,
// XOR-MAPPED-ADDRESS, ERROR-CODE, UNKNOWN-ATTRIBUTES, SOFTWARE; then MESSAGE-INTEGRITY when
// integrity_key is non-empty; then FINGERPRINT when add_fingerprint.
Bytes build(const Message& m, std::string_view integrity_key, bool add_fingerprint);

// A new random transaction id.
TransactionId new_transaction_id();

}  // namespace peerrtc::stun
