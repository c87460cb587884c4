#include "stun/stun.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>
#include <stdexcept>
#include <string>

namespace peerrtc::stun {
namespace {

Bytes from_hex(std::string_view hex) {
  Bytes out;
  int hi = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v = c - 'A' + 10;
    else
      continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

// RFC 5769 §2: shared by the first three vectors.
constexpr std::string_view kPassword = "VOkJxbRl1RmTxUk/WvJxBt";
const TransactionId kTid = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

// RFC 5769 §2.1 Sample Request. Note the USERNAME padding is 0x20, not zero.
const Bytes kSampleRequest = from_hex(R"(
  00 01 00 58  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
  80 22 00 10  53 54 55 4e  20 74 65 73  74 20 63 6c  69 65 6e 74
  00 24 00 04  6e 00 01 ff
  80 29 00 08  93 2f f9 b1  51 26 3b 36
  00 06 00 09  65 76 74 6a  3a 68 36 76  59 20 20 20
  00 08 00 14  9a ea a7 0c  bf d8 cb 56  78 1e f2 b5  b2 d3 f2 49  c1 b5 71 a2
  80 28 00 04  e5 7a 3b cf)");

// RFC 5769 §2.2 Sample IPv4 Response.
const Bytes kSampleIpv4Response = from_hex(R"(
  01 01 00 3c  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
  80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
  00 20 00 08  00 01 a1 47  e1 12 a6 43
  00 08 00 14  2b 91 f5 99  fd 9e 90 c3  8c 74 89 f9  2a f9 ba 53  f0 6b e7 d7
  80 28 00 04  c0 7d 4c 96)");

// RFC 5769 §2.3 Sample IPv6 Response.
const Bytes kSampleIpv6Response = from_hex(R"(
  01 01 00 48  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
  80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
  00 20 00 14  00 02 a1 47  01 13 a9 fa  a5 d3 f1 79  bc 25 f4 b5  be d2 b9 d9
  00 08 00 14  a3 82 95 4e  4b e6 7b f1  17 84 c9 7c  82 92 c2 75  bf e3 ed 41
  80 28 00 04  c8 fb 0b 4c)");

// RFC 5769 §2.4 Sample Request with Long-Term Authentication (no FINGERPRINT).
const Bytes kSampleLongTermRequest = from_hex(R"(
  00 01 00 60  21 12 a4 42  78 ad 34 33  c6 ad 72 c0  29 da 41 2e
  00 06 00 12  e3 83 9e e3  83 88 e3 83  aa e3 83 83  e3 82 af e3  82 b9 00 00
  00 15 00 1c  66 2f 2f 34  39 39 6b 39  35 34 64 36  4f 4c 33 34  6f 4c 39 46
               53 54 76 79  36 34 73 41
  00 14 00 0b  65 78 61 6d  70 6c 65 2e  6f 72 67 00
  00 08 00 14  f6 70 24 65  6d d6 4a 3e  02 b8 e0 71  2e 85 c9 a2  8c a8 96 66)");

Address v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  Address x;
  x.ip = {a, b, c, d};
  x.port = port;
  return x;
}

Address v6(std::string_view hex, uint16_t port) {
  Address x;
  x.ipv6 = true;
  const Bytes b = from_hex(hex);
  std::copy(b.begin(), b.end(), x.ip.begin());
  x.port = port;
  return x;
}

std::optional<Message> parse_ok(const Bytes& b) {
  ParseError err = ParseError::None;
  auto m = parse(b, &err);
  EXPECT_TRUE(m.has_value()) << to_string(err);
  EXPECT_EQ(err, ParseError::None);
  return m;
}

ParseError parse_error(ByteView b) {
  ParseError err = ParseError::None;
  EXPECT_FALSE(parse(b, &err).has_value());
  return err;
}

// Header + raw attribute bytes with a matching length field (no integrity, no fingerprint).
Bytes raw_message(const Bytes& attrs, uint16_t type = 0x0001) {
  Bytes out(20, 0);
  store_be16(out.data(), type);
  store_be16(out.data() + 2, static_cast<uint16_t>(attrs.size()));
  store_be32(out.data() + 4, kMagicCookie);
  std::copy(kTid.begin(), kTid.end(), out.begin() + 8);
  out.insert(out.end(), attrs.begin(), attrs.end());
  return out;
}

Message full_request() {
  Message m;
  m.transaction_id = kTid;
  m.username = "abcd:efgh";
  m.priority = 0x6e0001ff;
  m.use_candidate = true;
  m.ice_controlling = 0x0123456789abcdefULL;
  m.software = "peerrtc test";
  return m;
}

void expect_same_content(const Message& a, const Message& b) {
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.cls, b.cls);
  EXPECT_EQ(a.transaction_id, b.transaction_id);
  EXPECT_EQ(a.username, b.username);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.use_candidate, b.use_candidate);
  EXPECT_EQ(a.ice_controlling, b.ice_controlling);
  EXPECT_EQ(a.ice_controlled, b.ice_controlled);
  EXPECT_EQ(a.xor_mapped_address, b.xor_mapped_address);
  EXPECT_EQ(a.error_code, b.error_code);
  EXPECT_EQ(a.error_reason, b.error_reason);
  EXPECT_EQ(a.software, b.software);
  EXPECT_EQ(a.unknown_attributes, b.unknown_attributes);
}

// ---------------------------------------------------------------------------------------
// RFC 5769 test vectors

TEST(StunRfc5769, SampleRequest) {
  auto m = parse_ok(kSampleRequest);
  ASSERT_TRUE(m);
  EXPECT_TRUE(is_stun(kSampleRequest));
  EXPECT_EQ(m->method, kMethodBinding);
  EXPECT_EQ(m->cls, Class::Request);
  EXPECT_EQ(m->transaction_id, kTid);
  EXPECT_EQ(m->software, "STUN test client");
  EXPECT_EQ(m->priority, 0x6e0001ffu);
  EXPECT_EQ(m->ice_controlled, 0x932ff9b151263b36ULL);
  EXPECT_FALSE(m->ice_controlling);
  EXPECT_EQ(m->username, "evtj:h6vY");
  EXPECT_FALSE(m->use_candidate);
  EXPECT_FALSE(m->xor_mapped_address);
  EXPECT_TRUE(m->unknown_attributes.empty());
  EXPECT_TRUE(m->has_integrity);
  EXPECT_EQ(m->integrity_offset, 76u);
  EXPECT_TRUE(m->has_fingerprint);
  EXPECT_EQ(m->fingerprint_offset, 100u);
  EXPECT_TRUE(verify_integrity(kSampleRequest, *m, kPassword));
  EXPECT_FALSE(verify_integrity(kSampleRequest, *m, "VOkJxbRl1RmTxUk/WvJxBT"));
}

TEST(StunRfc5769, SampleIpv4Response) {
  auto m = parse_ok(kSampleIpv4Response);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->method, kMethodBinding);
  EXPECT_EQ(m->cls, Class::SuccessResponse);
  EXPECT_EQ(m->transaction_id, kTid);
  EXPECT_EQ(m->software, "test vector");
  EXPECT_EQ(m->xor_mapped_address, v4(192, 0, 2, 1, 32853));
  EXPECT_TRUE(m->has_integrity);
  EXPECT_EQ(m->integrity_offset, 48u);
  EXPECT_TRUE(m->has_fingerprint);
  EXPECT_EQ(m->fingerprint_offset, 72u);
  EXPECT_TRUE(verify_integrity(kSampleIpv4Response, *m, kPassword));
  EXPECT_FALSE(verify_integrity(kSampleIpv4Response, *m, "wrong"));
}

TEST(StunRfc5769, SampleIpv6Response) {
  auto m = parse_ok(kSampleIpv6Response);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->cls, Class::SuccessResponse);
  EXPECT_EQ(m->software, "test vector");
  EXPECT_EQ(m->xor_mapped_address, v6("20010db8 12345678 00112233 44556677", 32853));
  EXPECT_TRUE(m->has_fingerprint);
  EXPECT_TRUE(verify_integrity(kSampleIpv6Response, *m, kPassword));
  EXPECT_FALSE(verify_integrity(kSampleIpv6Response, *m, "wrong"));
}

TEST(StunRfc5769, SampleLongTermRequest) {
  auto m = parse_ok(kSampleLongTermRequest);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->cls, Class::Request);
  // U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9
  const std::string username =
      "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
  EXPECT_EQ(m->username, username);
  // REALM and NONCE are understood (not listed as unknown) but not surfaced.
  EXPECT_TRUE(m->unknown_attributes.empty());
  EXPECT_TRUE(m->has_integrity);
  EXPECT_FALSE(m->has_fingerprint);

  // RFC 8489 §9.2.2: key = MD5(username ":" OpaqueString(realm) ":" OpaqueString(password));
  // the RFC 5769 password "The<U+00AD>M<U+00AA>tr<U+2168>" prepares to "TheMatrIX".
  const std::string input = username + ":example.org:TheMatrIX";
  unsigned char md5[16];
  unsigned int md5_len = 0;
  ASSERT_EQ(EVP_Digest(input.data(), input.size(), md5, &md5_len, EVP_md5(), nullptr), 1);
  const std::string key(reinterpret_cast<const char*>(md5), md5_len);
  EXPECT_TRUE(verify_integrity(kSampleLongTermRequest, *m, key));
  EXPECT_FALSE(verify_integrity(kSampleLongTermRequest, *m, "TheMatrIX"));
}

TEST(StunRfc5769, BuiltXorMappedAddressMatchesVectors) {
  Message m;
  m.cls = Class::SuccessResponse;
  m.transaction_id = kTid;
  m.xor_mapped_address = v4(192, 0, 2, 1, 32853);
  Bytes b = build(m, "", false);
  EXPECT_EQ(b, from_hex("01 01 00 0c 2112a442 b7e7a701 bc34d686 fa87dfae"
                        "0020 0008 0001 a147 e112a643"));

  m.xor_mapped_address = v6("20010db8 12345678 00112233 44556677", 32853);
  b = build(m, "", false);
  EXPECT_EQ(b, from_hex("01 01 00 18 2112a442 b7e7a701 bc34d686 fa87dfae"
                        "0020 0014 0002 a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9"));
}

// The vectors re-built in our attribute order (with zero padding) must verify too.
TEST(StunRfc5769, RebuiltVectorsVerify) {
  for (const Bytes* v : {&kSampleRequest, &kSampleIpv4Response, &kSampleIpv6Response}) {
    auto m = parse_ok(*v);
    ASSERT_TRUE(m);
    const Bytes b = build(*m, kPassword, true);
    auto again = parse_ok(b);
    ASSERT_TRUE(again);
    expect_same_content(*m, *again);
    EXPECT_TRUE(verify_integrity(b, *again, kPassword));
  }
}

// ---------------------------------------------------------------------------------------
// Build / round trip

TEST(StunBuild, MinimalBindingRequestLayout) {
  Message m;
  m.transaction_id = kTid;
  EXPECT_EQ(build(m, "", false), from_hex("0001 0000 2112a442 b7e7a701bc34d686fa87dfae"));
}

TEST(StunBuild, AttributeOrderAndLayout) {
  Message m = full_request();
  m.xor_mapped_address = v4(10, 0, 0, 1, 0x1234);
  const Bytes b = build(m, "", false);
  const Bytes expected = from_hex(R"(
    0001 0044 2112a442 b7e7a701bc34d686fa87dfae
    0006 0009 61626364 3a656667 68000000
    802a 0008 01234567 89abcdef
    0024 0004 6e0001ff
    0025 0000
    0020 0008 0001 3326 2b12a443
    8022 000c 70656572 72746320 74657374)");
  EXPECT_EQ(b, expected);
}

TEST(StunBuild, ErrorCodeLayoutAndUnknownAttributes) {
  Message m;
  m.cls = Class::ErrorResponse;
  m.transaction_id = kTid;
  m.error_code = 420;
  m.error_reason = "Unknown Attribute";
  m.unknown_attributes = {0x0003, 0x7777, 0x0042};
  const Bytes b = build(m, "", false);
  // Binding error response type is 0x0111; class 4, number 20; the three types + 2 pad.
  const Bytes expected = from_hex(R"(
    0111 0028 2112a442 b7e7a701bc34d686fa87dfae
    0009 0015 0000 04 14 556e6b6e 6f776e20 41747472 69627574 65000000
    000a 0006 0003 7777 0042 0000)");
  EXPECT_EQ(b, expected);
  auto p = parse_ok(b);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->error_code, 420);
  EXPECT_EQ(p->error_reason, "Unknown Attribute");
  EXPECT_EQ(p->unknown_attributes, (std::vector<uint16_t>{0x0003, 0x7777, 0x0042}));
}

TEST(StunBuild, ErrorCodesRoundTrip) {
  for (uint16_t code : {300, 400, 401, 420, 437, 487, 499, 500, 699}) {
    Message m;
    m.cls = Class::ErrorResponse;
    m.error_code = code;
    m.error_reason = "x";
    const Bytes b = build(m, "", true);
    EXPECT_EQ(b[24 + 2], code / 100);
    EXPECT_EQ(b[24 + 3], code % 100);
    auto p = parse_ok(b);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->error_code, code);
  }
}

TEST(StunBuild, UnknownAttributesOnlyInErrorResponses) {
  Message m;
  m.cls = Class::SuccessResponse;
  m.unknown_attributes = {0x0003};
  EXPECT_EQ(build(m, "", false).size(), 20u);
}

TEST(StunBuild, RoundTripWithIntegrityAndFingerprint) {
  Message m = full_request();
  const Bytes b = build(m, "secret-password-123456", true);
  EXPECT_TRUE(is_stun(b));
  auto p = parse_ok(b);
  ASSERT_TRUE(p);
  expect_same_content(m, *p);
  EXPECT_TRUE(p->has_integrity);
  EXPECT_TRUE(p->has_fingerprint);
  EXPECT_EQ(p->fingerprint_offset, b.size() - 8);
  EXPECT_EQ(p->integrity_offset, b.size() - 8 - 24);
  EXPECT_TRUE(verify_integrity(b, *p, "secret-password-123456"));
}

TEST(StunBuild, RoundTripIntegrityWithoutFingerprint) {
  const Bytes b = build(full_request(), "k", false);
  auto p = parse_ok(b);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->has_integrity);
  EXPECT_FALSE(p->has_fingerprint);
  EXPECT_EQ(p->integrity_offset, b.size() - 24);
  EXPECT_TRUE(verify_integrity(b, *p, "k"));
}

TEST(StunBuild, RoundTripFingerprintWithoutIntegrity) {
  const Bytes b = build(full_request(), "", true);
  auto p = parse_ok(b);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->has_integrity);
  EXPECT_TRUE(p->has_fingerprint);
  EXPECT_FALSE(verify_integrity(b, *p, "k"));
}

TEST(StunBuild, ResponsesRoundTrip) {
  Message m;
  m.cls = Class::SuccessResponse;
  m.transaction_id = new_transaction_id();
  for (const Address& a : {v4(0, 0, 0, 0, 0), v4(255, 255, 255, 255, 65535),
                           v6("fe800000 00000000 02000000 00000001", 9),
                           v6("ffffffff ffffffff ffffffff ffffffff", 65535)}) {
    m.xor_mapped_address = a;
    const Bytes b = build(m, "pw", true);
    auto p = parse_ok(b);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->xor_mapped_address, a);
    EXPECT_TRUE(verify_integrity(b, *p, "pw"));
  }
}

TEST(StunBuild, MethodAndClassEncoding) {
  struct Case {
    uint16_t method;
    Class cls;
    uint16_t type;
  };
  // RFC 8489 §5 / §6.3 examples: Binding request 0x0001, indication 0x0011, success 0x0101,
  // error 0x0111.
  for (const Case& c :
       {Case{0x001, Class::Request, 0x0001}, Case{0x001, Class::Indication, 0x0011},
        Case{0x001, Class::SuccessResponse, 0x0101}, Case{0x001, Class::ErrorResponse, 0x0111},
        Case{0x003, Class::Request, 0x0003}, Case{0xFFF, Class::ErrorResponse, 0x3FFF},
        Case{0xFFF, Class::Request, 0x3EEF}}) {
    Message m;
    m.method = c.method;
    m.cls = c.cls;
    const Bytes b = build(m, "", false);
    EXPECT_EQ(load_be16(b.data()), c.type);
    auto p = parse_ok(b);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->method, c.method);
    EXPECT_EQ(p->cls, c.cls);
  }
  for (uint16_t method = 0; method <= 0xFFF; ++method) {
    for (int cls = 0; cls < 4; ++cls) {
      Message m;
      m.method = method;
      m.cls = static_cast<Class>(cls);
      auto p = parse(build(m, "", false));
      ASSERT_TRUE(p);
      ASSERT_EQ(p->method, method);
      ASSERT_EQ(p->cls, m.cls);
    }
  }
}

TEST(StunBuild, PaddingIsZeroAndLengthsAligned) {
  for (size_t n = 0; n <= 9; ++n) {
    Message m;
    m.username = std::string(n, 'u');
    const Bytes b = build(m, "", false);
    EXPECT_EQ(b.size() % 4, 0u);
    EXPECT_EQ(load_be16(b.data() + 22), n);
    for (size_t i = 24 + n; i < b.size(); ++i) EXPECT_EQ(b[i], 0) << n;
    auto p = parse_ok(b);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->username, m.username);
  }
}

TEST(StunBuild, RejectsUnencodableMessages) {
  Message m;
  m.method = 0x1000;
  EXPECT_THROW(build(m, "", false), std::invalid_argument);
  m = Message{};
  m.username = std::string(513, 'a');
  EXPECT_THROW(build(m, "", false), std::invalid_argument);
  m = Message{};
  m.software = std::string(764, 'a');
  EXPECT_THROW(build(m, "", false), std::invalid_argument);
  m = Message{};
  m.error_code = 700;
  EXPECT_THROW(build(m, "", false), std::invalid_argument);
  m.error_code = 299;
  EXPECT_THROW(build(m, "", false), std::invalid_argument);
  m = Message{};
  m.cls = Class::ErrorResponse;
  m.unknown_attributes.assign(40000, 0x0003);
  EXPECT_THROW(build(m, "", false), std::invalid_argument);
}

TEST(StunBuild, Maximal420Response) {
  // A maximal request: 16383 distinct zero-length comprehension-required attributes.
  Bytes attrs;
  for (uint16_t t = 0x4000; attrs.size() + 4 <= 0xFFFF; ++t) {
    append_be16(attrs, t);
    append_be16(attrs, 0);
  }
  auto req = parse_ok(raw_message(attrs));
  ASSERT_TRUE(req);
  EXPECT_EQ(req->unknown_attributes.size(), 16383u);
  Message resp;
  resp.cls = Class::ErrorResponse;
  resp.transaction_id = req->transaction_id;
  resp.error_code = 420;
  resp.error_reason = "Unknown Attribute";
  resp.unknown_attributes = req->unknown_attributes;
  const Bytes b = build(resp, "pw", true);
  auto p = parse_ok(b);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->unknown_attributes, req->unknown_attributes);
  EXPECT_TRUE(verify_integrity(b, *p, "pw"));
}

TEST(StunBuild, NewTransactionIdsDiffer) {
  EXPECT_NE(new_transaction_id(), new_transaction_id());
}

// ---------------------------------------------------------------------------------------
// Integrity and fingerprint failures

TEST(StunIntegrity, WrongKeyFails) {
  const Bytes b = build(full_request(), "right", true);
  auto p = parse_ok(b);
  ASSERT_TRUE(p);
  EXPECT_TRUE(verify_integrity(b, *p, "right"));
  EXPECT_FALSE(verify_integrity(b, *p, "wrong"));
  EXPECT_FALSE(verify_integrity(b, *p, "righ"));
  EXPECT_FALSE(verify_integrity(b, *p, "right "));
  EXPECT_FALSE(verify_integrity(b, *p, ""));
}

TEST(StunIntegrity, TamperedBodyFailsIntegrity) {
  const Bytes good = build(full_request(), "key", false);
  auto p = parse_ok(good);
  ASSERT_TRUE(p);
  for (size_t i = 0; i < p->integrity_offset + 24; ++i) {
    Bytes b = good;
    b[i] ^= 0x01;
    auto q = parse(b);
    if (q) {
      EXPECT_FALSE(verify_integrity(b, *q, "key")) << "byte " << i;
    }
  }
}

TEST(StunIntegrity, MessageWithoutIntegrityNeverVerifies) {
  const Bytes b = build(full_request(), "", false);
  auto p = parse_ok(b);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->has_integrity);
  EXPECT_FALSE(verify_integrity(b, *p, "key"));
}

TEST(StunIntegrity, MismatchedParsedMessageIsHandled) {
  auto p = parse_ok(kSampleRequest);
  ASSERT_TRUE(p);
  Message forged = *p;
  for (size_t off : {size_t{0}, size_t{19}, size_t{20}, size_t{77}, size_t{100}, size_t{104},
                     size_t{108}, size_t{1u << 20}, SIZE_MAX}) {
    forged.integrity_offset = off;
    EXPECT_FALSE(verify_integrity(kSampleRequest, forged, kPassword)) << off;
  }
  EXPECT_FALSE(verify_integrity(ByteView{}, *p, kPassword));
  EXPECT_FALSE(verify_integrity(ByteView(kSampleRequest).first(90), *p, kPassword));
}

TEST(StunFingerprint, EveryCorruptedFingerprintBitIsRejected) {
  for (const Bytes* v : {&kSampleRequest, &kSampleIpv4Response, &kSampleIpv6Response}) {
    for (size_t bit = 0; bit < 32; ++bit) {
      Bytes b = *v;
      b[b.size() - 4 + bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      EXPECT_EQ(parse_error(b), ParseError::BadFingerprint);
    }
  }
}

TEST(StunFingerprint, CorruptedBodyIsRejectedByFingerprint) {
  // Flipping a payload bit before FINGERPRINT (outside any length/structure field).
  Bytes b = kSampleIpv4Response;
  b[30] ^= 0x01;  // inside the SOFTWARE value
  EXPECT_EQ(parse_error(b), ParseError::BadFingerprint);
  b = kSampleRequest;
  b[8] ^= 0x80;  // transaction id
  EXPECT_EQ(parse_error(b), ParseError::BadFingerprint);
}

TEST(StunFingerprint, WrongLengthOrNotLast) {
  // FINGERPRINT with an 8-byte value.
  Bytes attrs = from_hex("8028 0008 00000000 00000000");
  EXPECT_EQ(parse_error(raw_message(attrs)), ParseError::BadAttribute);
  // Anything after a valid FINGERPRINT.
  Message m;
  Bytes b = build(m, "", true);
  b.insert(b.end(), {0x80, 0x22, 0x00, 0x00});
  store_be16(b.data() + 2, static_cast<uint16_t>(b.size() - 20));
  EXPECT_EQ(parse_error(b), ParseError::BadAttribute);
}

// ---------------------------------------------------------------------------------------
// Malformed input

TEST(StunParse, TruncatedAtEveryLength) {
  for (const Bytes* v :
       {&kSampleRequest, &kSampleIpv4Response, &kSampleIpv6Response, &kSampleLongTermRequest}) {
    for (size_t n = 0; n < v->size(); ++n) {
      const ByteView cut = ByteView(*v).first(n);
      EXPECT_FALSE(is_stun(cut));
      EXPECT_EQ(parse_error(cut), n < 20 ? ParseError::TooShort : ParseError::BadLength) << n;
    }
  }
}

TEST(StunParse, TruncatedWithLengthFieldRewritten) {
  // The header claims exactly what remains: cuts inside an attribute must fail as
  // BadAttribute; cuts on an attribute boundary parse and lose the tail.
  for (const Bytes* v : {&kSampleRequest, &kSampleIpv4Response, &kSampleIpv6Response}) {
    for (size_t n = 20; n < v->size(); n += 4) {
      Bytes b(v->begin(), v->begin() + static_cast<std::ptrdiff_t>(n));
      store_be16(b.data() + 2, static_cast<uint16_t>(n - 20));
      ParseError err;
      auto m = parse(b, &err);
      if (m) {
        EXPECT_FALSE(m->has_fingerprint);
      } else {
        EXPECT_EQ(err, ParseError::BadAttribute) << n;
      }
    }
  }
  // Cutting exactly before FINGERPRINT leaves a valid, verifiable message... except that the
  // MESSAGE-INTEGRITY was computed with the old length - it still verifies, because §14.5
  // adjusts the length to end at MESSAGE-INTEGRITY.
  Bytes b(kSampleRequest.begin(), kSampleRequest.end() - 8);
  store_be16(b.data() + 2, static_cast<uint16_t>(b.size() - 20));
  auto m = parse_ok(b);
  ASSERT_TRUE(m);
  EXPECT_TRUE(verify_integrity(b, *m, kPassword));
}

TEST(StunParse, HeaderChecks) {
  Bytes b = build(Message{}, "", false);
  EXPECT_TRUE(parse(b));
  Bytes bad = b;
  bad[4] ^= 0x01;  // magic cookie
  EXPECT_EQ(parse_error(bad), ParseError::NotStun);
  EXPECT_FALSE(is_stun(bad));
  for (uint8_t top : {0x40, 0x80, 0xC0}) {
    bad = b;
    bad[0] |= top;
    EXPECT_EQ(parse_error(bad), ParseError::NotStun);
  }
  bad = b;
  bad.insert(bad.end(), {0, 0, 0, 0});  // datagram longer than the header says
  EXPECT_EQ(parse_error(bad), ParseError::BadLength);
  bad = b;
  bad.insert(bad.end(), {0, 0});
  store_be16(bad.data() + 2, 2);  // not a multiple of 4
  EXPECT_EQ(parse_error(bad), ParseError::BadLength);
  bad = b;
  store_be16(bad.data() + 2, 0xFFFC);  // longer than the datagram
  EXPECT_EQ(parse_error(bad), ParseError::BadLength);
}

TEST(StunParse, AttributeLengthOverrun) {
  // Last attribute claims more than remains, by every amount incl. the padding-only case.
  for (uint16_t claimed : {5, 8, 9, 12, 100, 0xFFFF}) {
    Bytes attrs = from_hex("0006 0000 61626364");
    store_be16(attrs.data() + 2, claimed);
    ParseError err;
    auto m = parse(raw_message(attrs), &err);
    if (claimed <= 4) {
      EXPECT_TRUE(m);
    } else {
      EXPECT_FALSE(m) << claimed;
      EXPECT_EQ(err, ParseError::BadAttribute) << claimed;
    }
  }
  // A lone 4-byte header claiming a value.
  EXPECT_EQ(parse_error(raw_message(from_hex("0006 0004"))), ParseError::BadAttribute);
  // Overrun in the middle of a message, hiding the next attribute.
  EXPECT_EQ(parse_error(raw_message(from_hex("0006 0010 61626364 0024 0004 00000001"))),
            ParseError::BadAttribute);
}

TEST(StunParse, PaddingContentIsIgnored) {
  auto m = parse_ok(raw_message(from_hex("0006 0003 616263ff")));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->username, "abc");
}

TEST(StunParse, AttributesAfterMessageIntegrity) {
  Bytes b = build(full_request(), "key", false);
  const Bytes after_username = from_hex("0006 0004 61626364");
  b.insert(b.end(), after_username.begin(), after_username.end());
  store_be16(b.data() + 2, static_cast<uint16_t>(b.size() - 20));
  EXPECT_EQ(parse_error(b), ParseError::AttributeAfterIntegrity);

  // Comprehension-optional attributes are not allowed after it either.
  b = build(full_request(), "key", false);
  const Bytes after_software = from_hex("8022 0000");
  b.insert(b.end(), after_software.begin(), after_software.end());
  store_be16(b.data() + 2, static_cast<uint16_t>(b.size() - 20));
  EXPECT_EQ(parse_error(b), ParseError::AttributeAfterIntegrity);

  // A second MESSAGE-INTEGRITY.
  b = build(full_request(), "key", false);
  const Bytes mi(b.end() - 24, b.end());
  b.insert(b.end(), mi.begin(), mi.end());
  store_be16(b.data() + 2, static_cast<uint16_t>(b.size() - 20));
  EXPECT_EQ(parse_error(b), ParseError::AttributeAfterIntegrity);

  // FINGERPRINT after it is fine (that is what build() emits).
  EXPECT_TRUE(parse(build(full_request(), "key", true)));
}

TEST(StunParse, MessageIntegritySha256) {
  // RFC 8489 §14.6 may follow MESSAGE-INTEGRITY; we do not implement it, so it is unknown.
  Bytes b = build(full_request(), "key", false);
  Bytes sha(36, 0);
  store_be16(sha.data(), attr::kMessageIntegritySha256);
  store_be16(sha.data() + 2, 32);
  b.insert(b.end(), sha.begin(), sha.end());
  store_be16(b.data() + 2, static_cast<uint16_t>(b.size() - 20));
  auto m = parse_ok(b);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->unknown_attributes, std::vector<uint16_t>{attr::kMessageIntegritySha256});
  EXPECT_TRUE(verify_integrity(b, *m, "key"));
  // Nothing but FINGERPRINT may follow it.
  const Bytes tail = from_hex("0024 0004 00000001");
  b.insert(b.end(), tail.begin(), tail.end());
  store_be16(b.data() + 2, static_cast<uint16_t>(b.size() - 20));
  EXPECT_EQ(parse_error(b), ParseError::AttributeAfterIntegrity);
}

TEST(StunParse, UnknownComprehensionRequiredCollected) {
  auto m = parse_ok(raw_message(from_hex(R"(
      0003 0001 ff000000
      7fff 0000
      8123 0004 00000000
      0003 0000
      0006 0001 61000000)")));
  ASSERT_TRUE(m);
  // 0x8123 is comprehension-optional: ignored. Duplicates collapse.
  EXPECT_EQ(m->unknown_attributes, (std::vector<uint16_t>{0x0003, 0x7fff}));
  EXPECT_EQ(m->username, "a");
}

TEST(StunParse, KnownButUnsurfacedAttributesAreNotUnknown) {
  auto m = parse_ok(raw_message(from_hex(R"(
      0001 0008 0001 1234 01020304
      0014 0001 72000000
      0015 0001 6e000000)")));
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->unknown_attributes.empty());
}

TEST(StunParse, UnknownAttributesListIgnoredOutsideErrorResponses) {
  auto m = parse_ok(raw_message(from_hex("000a 0002 0003 0000")));
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->unknown_attributes.empty());
  m = parse_ok(raw_message(from_hex("000a 0002 0003 0000"), 0x0111));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->unknown_attributes, std::vector<uint16_t>{0x0003});
  EXPECT_EQ(parse_error(raw_message(from_hex("000a 0003 000300 00"), 0x0111)),
            ParseError::BadAttribute);
}

TEST(StunParse, FirstOccurrenceWins) {
  auto m = parse_ok(raw_message(from_hex(R"(
      0006 0001 61000000  0006 0001 62000000
      0024 0004 00000001  0024 0004 00000002)")));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->username, "a");
  EXPECT_EQ(m->priority, 1u);
}

TEST(StunParse, MalformedKnownAttributes) {
  const char* cases[] = {
      "0024 0003 00000000",                                       // PRIORITY not 4 bytes
      "0024 0008 00000000 00000000",                              // PRIORITY not 4 bytes
      "0025 0004 00000000",                                       // USE-CANDIDATE with a value
      "802a 0004 00000000",                                       // ICE-CONTROLLING not 8 bytes
      "8029 000c 00000000 00000000 00000000",                     // ICE-CONTROLLED not 8 bytes
      "0020 0008 0003 0000 00000000",                             // XOR-MAPPED-ADDRESS family 3
      "0020 0008 0000 0000 00000000",                             // family 0
      "0020 0014 0001 0000 00000000 00000000 00000000 00000000",  // v4 with v6 length
      "0020 0008 0002 0000 00000000",                             // v6 with v4 length
      "0020 0004 0001 0000",                                      // no address
      "0009 0003 00000400",                                       // ERROR-CODE too short
      "0009 0004 00000214",                                       // class 2
      "0009 0004 00000700",                                       // class 7
      "0009 0004 00000464",                                       // number 100
      "0008 0010 00000000 00000000 00000000 00000000",            // MESSAGE-INTEGRITY not 20 bytes
  };
  for (const char* c : cases) {
    EXPECT_EQ(parse_error(raw_message(from_hex(c))), ParseError::BadAttribute) << c;
  }
  // Size limits.
  Bytes attrs(4, 0);
  store_be16(attrs.data(), attr::kUsername);
  store_be16(attrs.data() + 2, 513);
  attrs.resize(4 + 516, 'a');
  EXPECT_EQ(parse_error(raw_message(attrs)), ParseError::BadAttribute);
  store_be16(attrs.data() + 2, 512);
  attrs.resize(4 + 512);
  EXPECT_TRUE(parse(raw_message(attrs)));
  attrs.assign(4, 0);
  store_be16(attrs.data(), attr::kSoftware);
  store_be16(attrs.data() + 2, 764);
  attrs.resize(4 + 764, 'a');
  EXPECT_EQ(parse_error(raw_message(attrs)), ParseError::BadAttribute);
}

TEST(StunParse, ErrorCodeReservedBitsIgnored) {
  auto m = parse_ok(raw_message(from_hex("0009 0005 fffffc 01 58000000"), 0x0111));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->error_code, 401);
  EXPECT_EQ(m->error_reason, "X");
}

TEST(StunParse, NonStunFirstBytes) {
  const Bytes ok = build(Message{}, "", false);
  for (int first = 0; first < 256; ++first) {
    Bytes b = ok;
    b[0] = static_cast<uint8_t>(first);
    // RFC 7983: only 0..3 is STUN.
    EXPECT_EQ(is_stun(b), first <= 3) << first;
    if (first >= 0x40) {
      EXPECT_EQ(parse_error(b), ParseError::NotStun) << first;
    }
  }
  // Typical RTP / DTLS / ZRTP / TURN-channel datagrams.
  for (const char* hex : {"80 c8 0006 00000055 cea5183a 39cc7d09 23ed1907 00000156",
                          "16 fefd 0000 00000000 0000 0100 00000000 00000000 00",
                          "10 00 00 00 5a525450 00000000 00000000 00000000",
                          "40 00 0004 21 12 a4 42 00000000 00000000 00000000"}) {
    const Bytes b = from_hex(hex);
    EXPECT_FALSE(is_stun(b)) << hex;
    EXPECT_FALSE(parse(b)) << hex;
  }
  EXPECT_FALSE(is_stun(ByteView{}));
  EXPECT_EQ(parse_error(ByteView{}), ParseError::TooShort);
}

TEST(StunParse, ToStringCoversAllErrors) {
  for (ParseError e : {ParseError::None, ParseError::TooShort, ParseError::NotStun,
                       ParseError::BadLength, ParseError::BadAttribute,
                       ParseError::AttributeAfterIntegrity, ParseError::BadFingerprint}) {
    ASSERT_NE(to_string(e), nullptr);
    EXPECT_GT(std::string(to_string(e)).size(), 0u);
  }
}

// Parse -> build -> parse must agree, for any message parse() accepts.
void check_round_trip(const Message& m) {
  const Bytes b = build(m, "fuzz", true);
  auto again = parse(b);
  ASSERT_TRUE(again);
  Message expect = m;
  if (m.cls != Class::ErrorResponse) expect.unknown_attributes.clear();
  expect_same_content(expect, *again);
  EXPECT_TRUE(verify_integrity(b, *again, "fuzz"));
}

TEST(StunParse, RandomGarbageNeverCrashes) {
  std::mt19937 rng(5769);
  std::uniform_int_distribution<int> byte(0, 255);
  int parsed = 0;
  for (int i = 0; i < 4000; ++i) {
    const size_t len = std::uniform_int_distribution<size_t>(0, 160)(rng);
    Bytes b(len);
    for (auto& x : b) x = static_cast<uint8_t>(byte(rng));
    // Half the time give it a plausible header so the attribute walker gets exercised.
    if (i % 2 == 0 && len >= 20) {
      b.resize(20 + (len - 20) / 4 * 4);
      b[0] &= 0x3F;
      store_be16(b.data() + 2, static_cast<uint16_t>(b.size() - 20));
      store_be32(b.data() + 4, kMagicCookie);
    }
    ParseError err = ParseError::None;
    auto m = parse(b, &err);
    (void)is_stun(b);
    if (m) {
      ++parsed;
      EXPECT_EQ(err, ParseError::None);
      (void)verify_integrity(b, *m, "key");
      check_round_trip(*m);
    } else {
      EXPECT_NE(err, ParseError::None);
    }
  }
  EXPECT_GT(parsed, 0);
}

TEST(StunParse, MutatedVectorsNeverCrash) {
  std::mt19937 rng(8489);
  const Bytes* vectors[] = {&kSampleRequest, &kSampleIpv4Response, &kSampleIpv6Response,
                            &kSampleLongTermRequest};
  for (int i = 0; i < 4000; ++i) {
    Bytes b = *vectors[i % 4];
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    auto m = parse(b);
    if (m) {
      (void)verify_integrity(b, *m, kPassword);
      check_round_trip(*m);
    }
  }
}

}  // namespace
}  // namespace peerrtc::stun
