// Join tokens: HS256 JWTs (include/peerrtc/join_token.hpp). The vectors were computed with
// Python's hmac/hashlib/base64 (an implementation independent of this one).
#include "peerrtc/join_token.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using peerrtc::check_join_token;
using peerrtc::make_join_token;
using S = peerrtc::JoinTokenCheck::Status;

namespace {
constexpr const char* kSecret = "shh-secret";
constexpr int64_t kNow = 1700000000;
// {"alg":"HS256","typ":"JWT"} . {"exp":1700000600,"iat":1700000000,"room":"lobby","sub":"alice"}
constexpr const char* kAlice =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3MDAwMDA2MDAsImlhdCI6MTcwMDAwMDAwMCwicm9vbSI6ImxvYmJ5Iiwic3ViIj"
    "oiYWxpY2UifQ.j2BoBgEq7AltJkvJBcv6ZCeBSchotjt7hheShQYelkg";
// Minted elsewhere: other header order, claims {"sub":"José","room":"général","exp":...,"iss":...}, no iat.
constexpr const char* kForeign =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJKb3PDqSIsInJvb20iOiJnw6luw6lyYWwiLCJleHAiOjE3MDAwMDA2MDAsImlzcy"
    "I6ImJhY2tlbmQifQ.pPmI7T8iERwMEx--I_cLa3uCrWxchNGP2rvG1AhYkvw";

std::string b64url(const std::string& s) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= s.size(); i += 3) {
    unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8 | (unsigned char)s[i + 2];
    for (int k = 18; k >= 0; k -= 6) out += a[(v >> k) & 63];
  }
  unsigned v = 0;
  if (s.size() - i == 1) {
    v = (unsigned char)s[i] << 16;
    out += a[v >> 18 & 63], out += a[v >> 12 & 63];
  } else if (s.size() - i == 2) {
    v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8;
    out += a[v >> 18 & 63], out += a[v >> 12 & 63], out += a[v >> 6 & 63];
  }
  return out;
}
}  // namespace

TEST(JoinToken, MintsTheReferenceVector) {
  EXPECT_EQ(make_join_token(kSecret, "lobby", "alice", std::chrono::seconds(600), kNow), kAlice);
}

TEST(JoinToken, AcceptsValidTokensIncludingForeignOnes) {
  EXPECT_TRUE(check_join_token(kSecret, kAlice, "lobby", "alice", kNow).ok());
  EXPECT_TRUE(check_join_token(kSecret, kAlice, "lobby", "alice", kNow + 599).ok());
  auto f = check_join_token(kSecret, kForeign, "général", "José", kNow);
  EXPECT_TRUE(f.ok()) << f.error;
  // A fresh one, now.
  auto t = make_join_token("k", "会议室 3", "🦊", std::chrono::seconds(5));
  EXPECT_TRUE(check_join_token("k", t, "会议室 3", "🦊").ok());
}

TEST(JoinToken, Refusals) {
  auto expect = [](peerrtc::JoinTokenCheck c, S s, int http) {
    EXPECT_EQ(c.status, s) << c.error;
    EXPECT_EQ(c.http_status(), http);
    EXPECT_FALSE(c.error.empty());
  };
  expect(check_join_token(kSecret, "", "lobby", "alice", kNow), S::Missing, 401);
  expect(check_join_token(kSecret, kAlice, "lobby", "alice", kNow + 600), S::Expired, 403);
  expect(check_join_token("other-secret", kAlice, "lobby", "alice", kNow), S::BadSignature, 403);
  expect(check_join_token(kSecret, kAlice, "lobby2", "alice", kNow), S::WrongRoom, 403);
  expect(check_join_token(kSecret, kAlice, "lobby", "bob", kNow), S::WrongIdentity, 403);
  // Names compare byte for byte: NFD José is another identity.
  expect(check_join_token(kSecret, kForeign, "général", "Jose\xCC\x81", kNow), S::WrongIdentity, 403);
  expect(check_join_token(kSecret, "abc", "lobby", "alice", kNow), S::Malformed, 403);
  expect(check_join_token(kSecret, "a.b.c.d", "lobby", "alice", kNow), S::Malformed, 403);
  expect(check_join_token(kSecret, "!!.??.**", "lobby", "alice", kNow), S::Malformed, 403);
  expect(check_join_token(kSecret, std::string(5000, 'a'), "lobby", "alice", kNow), S::Malformed, 403);
  // A payload changed (room swapped) under the old signature.
  std::string t = kAlice;
  const size_t d1 = t.find('.'), d2 = t.rfind('.');
  std::string forged = t.substr(0, d1) + "." +
                       b64url(R"({"exp":1700000600,"iat":1700000000,"room":"vip","sub":"alice"})") + t.substr(d2);
  expect(check_join_token(kSecret, forged, "vip", "alice", kNow), S::BadSignature, 403);
  // alg "none" with no signature, and an HS512 header: refused before any MAC.
  std::string none = b64url(R"({"alg":"none"})") + "." + t.substr(d1 + 1, d2 - d1 - 1) + ".";
  expect(check_join_token(kSecret, none, "lobby", "alice", kNow), S::Malformed, 403);
  std::string hs512 = b64url(R"({"alg":"HS512"})") + "." + t.substr(d1 + 1, d2 - d1 - 1) + t.substr(d2);
  expect(check_join_token(kSecret, hs512, "lobby", "alice", kNow), S::Malformed, 403);
  // Truncated signature.
  expect(check_join_token(kSecret, t.substr(0, t.size() - 4), "lobby", "alice", kNow), S::BadSignature, 403);
}

TEST(JoinToken, ClaimsMustBeThere) {
  // Correctly signed (Python) but without exp: {"alg":"HS256"} . {"room":"lobby","sub":"alice"}
  const char* no_exp =
      "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoibG9iYnkiLCJzdWIiOiJhbGljZSJ9.ME7kSin4wJBOTq4DXaR7VYYCEIg4EYqA-TG8bx8Su18";
  auto c = check_join_token(kSecret, no_exp, "lobby", "alice", kNow);
  EXPECT_EQ(c.status, S::Malformed) << c.error;
  EXPECT_NE(c.error.find("exp"), std::string::npos);
}

TEST(JoinToken, MisuseThrows) {
  EXPECT_THROW(make_join_token("", "lobby", "alice", std::chrono::seconds(60)), std::invalid_argument);
  EXPECT_THROW(make_join_token("k", "lobby", "alice", std::chrono::seconds(0)), std::invalid_argument);
  EXPECT_THROW(make_join_token("k", "", "alice", std::chrono::seconds(60)), std::invalid_argument);
  EXPECT_THROW(make_join_token("k", "lobby", "server", std::chrono::seconds(60)), std::invalid_argument);
  EXPECT_THROW(make_join_token("k", "lobby", " x", std::chrono::seconds(60)), std::invalid_argument);
}
