#include "common/base64.hpp"

#include <gtest/gtest.h>

namespace peerrtc {
namespace {

// RFC 4648 §10 test vectors.
TEST(Base64, Rfc4648VectorsBothWays) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (auto [plain, coded] : vectors) {
    EXPECT_EQ(base64_encode(std::string_view(plain)), coded);
    EXPECT_EQ(base64_decode(coded), std::optional<std::string>(plain)) << coded;
    std::string url(coded);
    while (!url.empty() && url.back() == '=') url.pop_back();
    EXPECT_EQ(base64_encode(std::string_view(plain), Base64::Url), url);
    EXPECT_EQ(base64_decode(url, Base64::Url), std::optional<std::string>(plain)) << url;
  }
}

TEST(Base64, TheTwoAlphabets) {
  const std::string bytes("\xfb\xff\xbf\x00\x10\x83", 6);
  EXPECT_EQ(base64_encode(std::string_view(bytes)), "+/+/ABCD");
  EXPECT_EQ(base64_encode(std::string_view(bytes), Base64::Url), "-_-_ABCD");
  EXPECT_EQ(base64_decode("+/+/ABCD"), bytes);
  EXPECT_EQ(base64_decode("-_-_ABCD", Base64::Url), bytes);
  EXPECT_FALSE(base64_decode("-_-_ABCD"));
  EXPECT_FALSE(base64_decode("+/+/ABCD", Base64::Url));
}

TEST(Base64, StrictDecoding) {
  for (const char* bad : {"Zg=", "Zg", "Z===", "====", "Zg=a", "=Zg=", "Zm 9v", "Zm9v\n", "Zm9v===="})
    EXPECT_FALSE(base64_decode(bad)) << bad;
  for (const char* bad : {"Zg==", "Z", "Zm9vY", "Zm 9v", "Zm+v"}) EXPECT_FALSE(base64_decode(bad, Base64::Url)) << bad;
}

}  // namespace
}  // namespace peerrtc
