#include "turn/turn.hpp"

#include "common/base64.hpp"

#include <gtest/gtest.h>

#include <string>

namespace peerrtc::turn {
namespace {

// --- HMAC-SHA1: RFC 2202 §3 test vectors ----------------------------------------------------

TEST(HmacSha1, Rfc2202Vectors) {
  // Test case 1: key = 0x0b x 20, data = "Hi There".
  EXPECT_EQ(to_hex(hmac_sha1(std::string(20, '\x0b'), "Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00");
  // Test case 2: key = "Jefe".
  EXPECT_EQ(to_hex(hmac_sha1("Jefe", "what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  // Test case 6: a key longer than the block size (0xaa x 80) is hashed first.
  EXPECT_EQ(to_hex(hmac_sha1(std::string(80, '\xaa'),
                             "Test Using Larger Than Block-Size Key - Hash Key First")),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}

TEST(HmacSha1, EmptyKey) {
  // python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b'', b'1:x',
  // hashlib.sha1).digest()).decode())"
  EXPECT_EQ(base64_encode(hmac_sha1("", "1:x")), "wBVqeCkzFfbJeptoGEftON2+Q7I=");
}

// --- TURN REST credentials ------------------------------------------------------------------

TEST(RestCredentials, UsernameIsExpiryColonUser) {
  EXPECT_EQ(rest_username(1796050236, "probe"), "1796050236:probe");
  EXPECT_EQ(rest_username(0, "x"), "0:x");
  // Peer ids may contain ':'; coturn takes the number before the first ':' as the expiry.
  EXPECT_EQ(rest_username(1700000000, "relay:alice@example"), "1700000000:relay:alice@example");
}

TEST(RestCredentials, CredentialIsBase64HmacSha1OfTheUsername) {
  // Each expected value computed independently with OpenSSL's command line:
  //   printf '%s' '<username>' | openssl dgst -sha1 -hmac '<secret>' -binary | base64
  EXPECT_EQ(rest_credential("s3cret", "1796050236:probe"), "DYySmvIN0TCRdEu31LYmAIAzQqY=");
  EXPECT_EQ(rest_credential("north-wind", "1700000000:relay:alice@example"),
            "lWXgLVj38/cxZAcjA7Tt/JSpS3g=");
  // One changed letter of the secret gives an unrelated credential.
  EXPECT_EQ(rest_credential("s3creT", "1796050236:probe"), "gBzwknwrsZvjTXPBI8BrO9lj8Y8=");
  // RFC 2202 test case 2 through the same path: base64 of effcdf6a...7c79 (xxd -r -p | base64).
  EXPECT_EQ(rest_credential("Jefe", "what do ya want for nothing?"),
            "7/zfauXrL6LSdBbV8YTfnCWafHk=");
}

TEST(RestCredentials, BothTogether) {
  Credentials c = rest_credentials("s3cret", "probe", 1796050236);
  EXPECT_EQ(c.username, "1796050236:probe");
  EXPECT_EQ(c.credential, "DYySmvIN0TCRdEu31LYmAIAzQqY=");
  EXPECT_EQ(c.credential.size(), 28u);  // 20 bytes of HMAC-SHA1 in base64
  EXPECT_NE(rest_credentials("s3cret", "probe", 1796050237).credential, c.credential);
  EXPECT_NE(rest_credentials("s3cret", "probf", 1796050236).credential, c.credential);
}

// --- ICE server URLs ------------------------------------------------------------------------

TEST(IceUrl, ValidTurnUrls) {
  auto u = parse_ice_url("turn:127.0.0.1:3478?transport=udp");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->scheme, Scheme::Turn);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 3478);
  EXPECT_EQ(u->transport, "udp");
  EXPECT_TRUE(u->is_turn());

  u = parse_ice_url("turns:turn.example.org:443?transport=tcp");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->scheme, Scheme::Turns);
  EXPECT_EQ(u->host, "turn.example.org");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->transport, "tcp");

  u = parse_ice_url("turn:turn.example.org");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->port, 0);
  EXPECT_EQ(u->transport, "");

  u = parse_ice_url("turn:[2001:db8::1]:3478?transport=tcp");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->host, "[2001:db8::1]");
  EXPECT_EQ(u->port, 3478);

  u = parse_ice_url("turn:[::1]");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->port, 0);

  for (const char* ok :
       {"turn:a", "turn:x-1.example.org:65535", "turn:localhost:1", "turns:10.0.0.1"}) {
    EXPECT_TRUE(parse_ice_url(ok)) << ok << ": " << parse_ice_url(ok).error();
  }
}

TEST(IceUrl, ValidStunUrls) {
  auto u = parse_ice_url("stun:stun.example.org:19302");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->scheme, Scheme::Stun);
  EXPECT_FALSE(u->is_turn());
  EXPECT_EQ(u->port, 19302);
  u = parse_ice_url("stuns:stun.example.org");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->scheme, Scheme::Stuns);
}

TEST(IceUrl, MalformedUrlsSayWhatIsWrong) {
  struct Case {
    const char* url;
    const char* says;
  } cases[] = {
      {"", "empty"},
      {"turn.example.org:3478", "scheme"},
      {"http://turn.example.org", "scheme"},
      {"TURN:turn.example.org", "lower case"},
      {"turn://turn.example.org:3478", "'//'"},
      {"turn:", "no host"},
      {"turn::3478", "no host"},
      {"turn:host:", "empty port"},
      {"turn:host:0", "out of range"},
      {"turn:host:65536", "out of range"},
      {"turn:host:123456", "out of range"},
      {"turn:host:34x", "number"},
      {"turn:host:3478:1", "more than one ':'"},
      {"turn:2001:db8::1", "more than one ':'"},
      {"turn:[2001:db8::1", "without ']'"},
      {"turn:[nope]:3478", "IPv6"},
      {"turn:[]", "IPv6"},
      {"turn:[::1]3478", "':port'"},
      {"turn:host?transport=sctp", "?transport=udp or ?transport=tcp"},
      {"turn:host?transport=", "?transport=udp or ?transport=tcp"},
      {"turn:host?foo=bar", "?transport=udp or ?transport=tcp"},
      {"stun:host?transport=udp", "no '?' parameters"},
      {"turn:user@host", "user info"},
      {"turn:host/path", "path"},
      {"turn:ho_st", "invalid character"},
      {"turn:ho st", "invalid character"},
      {"turn:-host", "'-'"},
      {"turn:host..example", "empty label"},
      {"turn:host.", "empty label"},
      {"turn:256.1.1.1", "IPv4"},
      {"turn:1.2.3", "IPv4"},
      {"turn:01.2.3.4", "IPv4"},
  };
  for (const auto& c : cases) {
    auto r = parse_ice_url(c.url);
    EXPECT_FALSE(r) << c.url;
    if (!r) {
      EXPECT_NE(r.error().find(c.says), std::string::npos) << c.url << " -> " << r.error();
    }
  }
  EXPECT_FALSE(parse_ice_url("turn:" + std::string(2000, 'a')));
  EXPECT_FALSE(parse_ice_url("turn:" + std::string(64, 'a') + ".org"));  // a 64-character label
}

TEST(IceUrl, ErrorsShowOnlyPrintableCharacters) {
  auto r = parse_ice_url(std::string("turn:ho\x01st\n"));
  ASSERT_FALSE(r);
  for (char c : r.error()) EXPECT_TRUE(c >= 0x20 && c <= 0x7e) << static_cast<int>(c);
}

}  // namespace
}  // namespace peerrtc::turn
