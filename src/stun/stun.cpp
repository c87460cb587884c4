#include "stun/stun.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <bitset>
#include <memory>
#include <stdexcept>

namespace peerrtc::stun {
namespace {

constexpr size_t kHeaderSize = 20;                // RFC 8489 §5
constexpr size_t kAttrHeaderSize = 4;             // RFC 8489 §14: type(16) + length(16)
constexpr size_t kIntegritySize = 20;             // RFC 8489 §14.5: HMAC-SHA1
constexpr size_t kFingerprintSize = 4;            // RFC 8489 §14.7: CRC-32
constexpr uint32_t kFingerprintXor = 0x5354554e;  // RFC 8489 §14.7: "STUN"
constexpr size_t kMaxUsername = 512;              // RFC 5389 §15.3: fewer than 513 bytes
constexpr size_t kMaxText = 763;                  // RFC 8489 §14.8 reason, §14.14 SOFTWARE
constexpr uint8_t kFamilyV4 = 0x01;               // RFC 8489 §14.1
constexpr uint8_t kFamilyV6 = 0x02;
constexpr size_t kMaxBody = 0xFFFF;  // 16-bit message length

size_t padded(size_t n) {
  return (n + 3) & ~size_t{3};
}

// CRC-32 (ISO/IEEE 802.3, reflected polynomial 0xEDB88320), RFC 8489 §14.7.
constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = make_crc_table();

uint32_t crc32(ByteView data) {
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t b : data) c = kCrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t fingerprint_of(ByteView message_before_fingerprint) {
  return crc32(message_before_fingerprint) ^ kFingerprintXor;
}

// HMAC-SHA1 over `prefix` (which starts with the STUN header) with the header length
// field replaced by `length_field`, RFC 8489 §14.5.
bool hmac_sha1(ByteView prefix, uint16_t length_field, std::string_view key,
               std::array<uint8_t, kIntegritySize>& out) {
  if (prefix.size() < kHeaderSize) return false;
  std::array<uint8_t, kHeaderSize> header;
  std::copy(prefix.begin(), prefix.begin() + kHeaderSize, header.begin());
  store_be16(header.data() + 2, length_field);

  // Fetched once; EVP_MAC objects are immutable and safe to share across threads.
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!mac) return false;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  if (!ctx) return false;
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx_owner(ctx, &EVP_MAC_CTX_free);

  char digest[] = "SHA1";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                         OSSL_PARAM_construct_end()};
  // A zero-length key still needs a valid pointer.
  static const uint8_t kEmpty = 0;
  const uint8_t* key_ptr = key.empty() ? &kEmpty : reinterpret_cast<const uint8_t*>(key.data());
  size_t out_len = 0;
  ByteView rest = prefix.subspan(kHeaderSize);
  return EVP_MAC_init(ctx, key_ptr, key.size(), params) == 1 &&
         EVP_MAC_update(ctx, header.data(), header.size()) == 1 &&
         (rest.empty() || EVP_MAC_update(ctx, rest.data(), rest.size()) == 1) &&
         EVP_MAC_final(ctx, out.data(), &out_len, out.size()) == 1 && out_len == out.size();
}

// RFC 8489 §5: the 14-bit message type interleaves method M11..M0 and class C1 C0 as
// M11-M7 | C1 | M6-M4 | C0 | M3-M0.
uint16_t method_of(uint16_t type) {
  return static_cast<uint16_t>((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
}
Class class_of(uint16_t type) {
  return static_cast<Class>(((type >> 4) & 0x1) | ((type >> 7) & 0x2));
}
uint16_t message_type(uint16_t method, Class cls) {
  const uint16_t c = static_cast<uint16_t>(cls);
  return static_cast<uint16_t>((method & 0x000F) | ((method & 0x0070) << 1) |
                               ((method & 0x0F80) << 2) | ((c & 0x1) << 4) | ((c & 0x2) << 7));
}

// RFC 8489 §14.2 XOR-MAPPED-ADDRESS:
//   0x00 | Family | X-Port (port ^ cookie>>16) | X-Address (addr ^ cookie [|| txid for v6])
std::array<uint8_t, 16> xor_mask(const TransactionId& tid) {
  std::array<uint8_t, 16> mask{};
  store_be32(mask.data(), kMagicCookie);
  std::copy(tid.begin(), tid.end(), mask.begin() + 4);
  return mask;
}

bool parse_xor_address(ByteView v, const TransactionId& tid, Address& out) {
  if (v.size() < 4) return false;
  const uint8_t family = v[1];
  const size_t addr_len = family == kFamilyV4 ? 4 : family == kFamilyV6 ? 16 : 0;
  if (addr_len == 0 || v.size() != 4 + addr_len) return false;
  const auto mask = xor_mask(tid);
  Address a;
  a.ipv6 = family == kFamilyV6;
  a.port = static_cast<uint16_t>(load_be16(v.data() + 2) ^ (kMagicCookie >> 16));
  for (size_t i = 0; i < addr_len; ++i) a.ip[i] = v[4 + i] ^ mask[i];
  out = a;
  return true;
}

void append_attr(Bytes& out, uint16_t type, ByteView value) {
  if (value.size() > kMaxBody - kAttrHeaderSize)
    throw std::invalid_argument("stun: attribute too long");
  append_be16(out, type);
  append_be16(out, static_cast<uint16_t>(value.size()));
  out.insert(out.end(), value.begin(), value.end());
  out.resize(out.size() + (padded(value.size()) - value.size()), 0);
}

void set_body_length(Bytes& out) {
  const size_t body = out.size() - kHeaderSize;
  if (body > kMaxBody) throw std::invalid_argument("stun: message too long");
  store_be16(out.data() + 2, static_cast<uint16_t>(body));
}

}  // namespace

const char* to_string(ParseError e) {
  switch (e) {
    case ParseError::None:
      return "none";
    case ParseError::TooShort:
      return "shorter than a STUN header";
    case ParseError::NotStun:
      return "not STUN (leading bits or magic cookie)";
    case ParseError::BadLength:
      return "header length inconsistent with datagram";
    case ParseError::BadAttribute:
      return "malformed attribute";
    case ParseError::AttributeAfterIntegrity:
      return "attribute after MESSAGE-INTEGRITY";
    case ParseError::BadFingerprint:
      return "FINGERPRINT mismatch";
  }
  return "unknown";
}

bool is_stun(ByteView d) {
  // RFC 7983 §7: first byte 0..3 is STUN.
  if (d.size() < kHeaderSize || d[0] > 3) return false;
  if (load_be32(d.data() + 4) != kMagicCookie) return false;
  const size_t len = load_be16(d.data() + 2);
  return len % 4 == 0 && kHeaderSize + len == d.size();
}

std::optional<Message> parse(ByteView d, ParseError* error) {
  auto fail = [error](ParseError e) -> std::optional<Message> {
    if (error) *error = e;
    return std::nullopt;
  };
  if (error) *error = ParseError::None;
  if (d.size() < kHeaderSize) return fail(ParseError::TooShort);
  // RFC 8489 §5: the two most significant bits are zero, then the magic cookie.
  if ((d[0] & 0xC0) != 0 || load_be32(d.data() + 4) != kMagicCookie)
    return fail(ParseError::NotStun);
  // RFC 8489 §5: the length excludes the header and is a multiple of 4 (attributes are
  // padded). A datagram carries exactly one message.
  const size_t len = load_be16(d.data() + 2);
  if (len % 4 != 0 || kHeaderSize + len != d.size()) return fail(ParseError::BadLength);

  Message m;
  const uint16_t type = load_be16(d.data());
  m.method = method_of(type);
  m.cls = class_of(type);
  std::copy(d.begin() + 8, d.begin() + kHeaderSize, m.transaction_id.begin());

  std::bitset<0x10000> listed;  // dedup for unknown_attributes
  auto note_unknown = [&](uint16_t t) {
    if (!listed.test(t)) {
      listed.set(t);
      m.unknown_attributes.push_back(t);
    }
  };
  bool seen_integrity_sha256 = false;

  size_t off = kHeaderSize;
  while (off < d.size()) {
    // RFC 8489 §14: Type(16) | Length(16) | Value, padded to 4 bytes.
    if (d.size() - off < kAttrHeaderSize) return fail(ParseError::BadAttribute);
    const uint16_t at = load_be16(d.data() + off);
    const size_t alen = load_be16(d.data() + off + 2);
    if (padded(alen) > d.size() - off - kAttrHeaderSize) return fail(ParseError::BadAttribute);
    const ByteView v = d.subspan(off + kAttrHeaderSize, alen);

    // RFC 8489 §14.7: FINGERPRINT is last. §14.5: after MESSAGE-INTEGRITY only
    // MESSAGE-INTEGRITY-SHA256 and FINGERPRINT; §14.6: after MESSAGE-INTEGRITY-SHA256 only
    // FINGERPRINT.
    if (m.has_fingerprint) return fail(ParseError::BadAttribute);
    if (at != attr::kFingerprint) {
      if (seen_integrity_sha256) return fail(ParseError::AttributeAfterIntegrity);
      if (m.has_integrity && at != attr::kMessageIntegritySha256)
        return fail(ParseError::AttributeAfterIntegrity);
    }

    switch (at) {
      case attr::kUsername:
        if (alen > kMaxUsername) return fail(ParseError::BadAttribute);
        if (!m.username) m.username.emplace(as_chars(v));
        break;
      case attr::kPriority:  // RFC 8445 §16.1: 32-bit
        if (alen != 4) return fail(ParseError::BadAttribute);
        if (!m.priority) m.priority = load_be32(v.data());
        break;
      case attr::kUseCandidate:  // RFC 8445 §16.1: no value
        if (alen != 0) return fail(ParseError::BadAttribute);
        m.use_candidate = true;
        break;
      case attr::kIceControlling:  // RFC 8445 §16.1: 64-bit tie-breaker
      case attr::kIceControlled: {
        if (alen != 8) return fail(ParseError::BadAttribute);
        const uint64_t tie = (uint64_t{load_be32(v.data())} << 32) | load_be32(v.data() + 4);
        auto& field = at == attr::kIceControlling ? m.ice_controlling : m.ice_controlled;
        if (!field) field = tie;
        break;
      }
      case attr::kXorMappedAddress: {
        Address a;
        if (!parse_xor_address(v, m.transaction_id, a)) return fail(ParseError::BadAttribute);
        if (!m.xor_mapped_address) m.xor_mapped_address = a;
        break;
      }
      case attr::kErrorCode: {
        // RFC 8489 §14.8: Reserved(21) | Class(3) | Number(8) | Reason Phrase.
        if (alen < 4 || alen - 4 > kMaxText) return fail(ParseError::BadAttribute);
        const unsigned cls = v[2] & 0x07;
        const unsigned number = v[3];
        if (cls < 3 || cls > 6 || number > 99) return fail(ParseError::BadAttribute);
        if (!m.error_code) {
          m.error_code = static_cast<uint16_t>(cls * 100 + number);
          m.error_reason.assign(as_chars(v.subspan(4)));
        }
        break;
      }
      case attr::kUnknownAttributes:
        // RFC 8489 §14.9: a list of 16-bit types. Only meaningful in error responses.
        if (alen % 2 != 0) return fail(ParseError::BadAttribute);
        if (m.cls == Class::ErrorResponse)
          for (size_t i = 0; i < alen; i += 2) note_unknown(load_be16(v.data() + i));
        break;
      case attr::kSoftware:
        if (alen > kMaxText) return fail(ParseError::BadAttribute);
        if (!m.software) m.software.emplace(as_chars(v));
        break;
      case attr::kMessageIntegrity:
        if (alen != kIntegritySize) return fail(ParseError::BadAttribute);
        m.has_integrity = true;
        m.integrity_offset = off;
        break;
      case attr::kFingerprint:
        if (alen != kFingerprintSize) return fail(ParseError::BadAttribute);
        if (off + kAttrHeaderSize + kFingerprintSize != d.size())
          return fail(ParseError::BadAttribute);
        if (load_be32(v.data()) != fingerprint_of(d.first(off)))
          return fail(ParseError::BadFingerprint);
        m.has_fingerprint = true;
        m.fingerprint_offset = off;
        break;
      // Understood and irrelevant to ICE short-term credentials: accepted, not surfaced.
      case attr::kMappedAddress:
      case attr::kRealm:
      case attr::kNonce:
        break;
      case attr::kMessageIntegritySha256:
        // Not implemented: reported as unknown so a server answers 420 (RFC 8489 §6.3.1.1).
        seen_integrity_sha256 = true;
        note_unknown(at);
        break;
      default:
        // RFC 8489 §14: 0x0000-0x7FFF are comprehension-required.
        if (at < 0x8000) note_unknown(at);
        break;
    }
    off += kAttrHeaderSize + padded(alen);
  }
  return m;
}

bool verify_integrity(ByteView d, const Message& parsed, std::string_view key) {
  if (!parsed.has_integrity || key.empty()) return false;
  const size_t off = parsed.integrity_offset;
  // Defensive: `parsed` might not come from `d`.
  if (off < kHeaderSize || off % 4 != 0 || off > d.size() ||
      d.size() - off < kAttrHeaderSize + kIntegritySize)
    return false;
  if (load_be16(d.data() + off) != attr::kMessageIntegrity ||
      load_be16(d.data() + off + 2) != kIntegritySize)
    return false;
  // RFC 8489 §14.5: the length field counts up to and including MESSAGE-INTEGRITY.
  const size_t adjusted = off + kAttrHeaderSize + kIntegritySize - kHeaderSize;
  if (adjusted > kMaxBody) return false;
  std::array<uint8_t, kIntegritySize> mac;
  if (!hmac_sha1(d.first(off), static_cast<uint16_t>(adjusted), key, mac)) return false;
  return CRYPTO_memcmp(mac.data(), d.data() + off + kAttrHeaderSize, kIntegritySize) == 0;
}

Bytes build(const Message& m, std::string_view integrity_key, bool add_fingerprint) {
  if (m.method > 0x0FFF) throw std::invalid_argument("stun: method exceeds 12 bits");
  if (static_cast<uint8_t>(m.cls) > 3) throw std::invalid_argument("stun: bad class");
  if (m.username && m.username->size() > kMaxUsername)
    throw std::invalid_argument("stun: USERNAME too long");
  if (m.software && m.software->size() > kMaxText)
    throw std::invalid_argument("stun: SOFTWARE too long");
  if (m.error_code && (*m.error_code < 300 || *m.error_code > 699))
    throw std::invalid_argument("stun: error code outside 300..699");
  if (m.error_code && m.error_reason.size() > kMaxText)
    throw std::invalid_argument("stun: error reason too long");

  Bytes out(kHeaderSize, 0);
  out.reserve(128);
  store_be16(out.data(), message_type(m.method, m.cls));
  store_be32(out.data() + 4, kMagicCookie);
  std::copy(m.transaction_id.begin(), m.transaction_id.end(), out.begin() + 8);

  if (m.username) append_attr(out, attr::kUsername, as_bytes(*m.username));
  auto append_u64 = [&out](uint16_t type, uint64_t v) {
    std::array<uint8_t, 8> b;
    store_be32(b.data(), static_cast<uint32_t>(v >> 32));
    store_be32(b.data() + 4, static_cast<uint32_t>(v));
    append_attr(out, type, b);
  };
  if (m.ice_controlling) append_u64(attr::kIceControlling, *m.ice_controlling);
  if (m.ice_controlled) append_u64(attr::kIceControlled, *m.ice_controlled);
  if (m.priority) {
    std::array<uint8_t, 4> b;
    store_be32(b.data(), *m.priority);
    append_attr(out, attr::kPriority, b);
  }
  if (m.use_candidate) append_attr(out, attr::kUseCandidate, {});
  if (m.xor_mapped_address) {
    const Address& a = *m.xor_mapped_address;
    const size_t addr_len = a.ipv6 ? 16 : 4;
    const auto mask = xor_mask(m.transaction_id);
    std::array<uint8_t, 20> v{};
    v[1] = a.ipv6 ? kFamilyV6 : kFamilyV4;
    store_be16(v.data() + 2, static_cast<uint16_t>(a.port ^ (kMagicCookie >> 16)));
    for (size_t i = 0; i < addr_len; ++i) v[4 + i] = a.ip[i] ^ mask[i];
    append_attr(out, attr::kXorMappedAddress, ByteView(v).first(4 + addr_len));
  }
  if (m.error_code) {
    Bytes v(4, 0);
    v[2] = static_cast<uint8_t>(*m.error_code / 100);
    v[3] = static_cast<uint8_t>(*m.error_code % 100);
    v.insert(v.end(), m.error_reason.begin(), m.error_reason.end());
    append_attr(out, attr::kErrorCode, v);
  }
  // RFC 8489 §14.9: only in error responses; a request's unknowns are what the 420 echoes.
  if (m.cls == Class::ErrorResponse && !m.unknown_attributes.empty()) {
    Bytes v;
    v.reserve(m.unknown_attributes.size() * 2);
    for (uint16_t t : m.unknown_attributes) append_be16(v, t);
    append_attr(out, attr::kUnknownAttributes, v);
  }
  if (m.software) append_attr(out, attr::kSoftware, as_bytes(*m.software));

  if (!integrity_key.empty()) {
    const size_t off = out.size();
    const size_t adjusted = off + kAttrHeaderSize + kIntegritySize - kHeaderSize;
    if (adjusted > kMaxBody) throw std::invalid_argument("stun: message too long");
    std::array<uint8_t, kIntegritySize> mac;
    if (!hmac_sha1(out, static_cast<uint16_t>(adjusted), integrity_key, mac))
      throw std::runtime_error("stun: HMAC-SHA1 failed");
    append_attr(out, attr::kMessageIntegrity, mac);
  }
  if (add_fingerprint) {
    // RFC 8489 §14.7: the CRC covers the header with the length including FINGERPRINT.
    const size_t off = out.size();
    out.resize(off + kAttrHeaderSize + kFingerprintSize, 0);
    set_body_length(out);
    const uint32_t fp = fingerprint_of(ByteView(out).first(off));
    store_be16(out.data() + off, attr::kFingerprint);
    store_be16(out.data() + off + 2, kFingerprintSize);
    store_be32(out.data() + off + 4, fp);
  }
  set_body_length(out);
  return out;
}

TransactionId new_transaction_id() {
  TransactionId id;
  random_bytes(id);
  return id;
}

}  // namespace peerrtc::stun
