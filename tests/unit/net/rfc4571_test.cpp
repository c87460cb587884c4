// The ICE-TCP frame reader (RFC 4571): frames across arbitrary splits, limits, bad frames.
#include "net/rfc4571.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace peerrtc;
using namespace peerrtc::net;

namespace {
Bytes frames_of(const std::vector<std::string>& packets) {
  Bytes out;
  for (const auto& p : packets) rfc4571::append_frame(out, as_bytes(p));
  return out;
}
}  // namespace

TEST(Rfc4571, FramesSurviveEverySplit) {
  const std::vector<std::string> packets = {"a", std::string(300, 'b'), "cd", std::string(8192, 'e')};
  const Bytes stream = frames_of(packets);
  for (size_t chunk : {1, 2, 3, 7, 301, 4096, 100000}) {
    rfc4571::Reader r(8192);
    std::vector<std::string> got;
    for (size_t i = 0; i < stream.size(); i += chunk) {
      auto st = r.feed(ByteView(stream).subspan(i, std::min(chunk, stream.size() - i)),
                       [&](ByteView f) { got.emplace_back(as_chars(f)); });
      ASSERT_EQ(st, rfc4571::Reader::Status::Ok);
    }
    EXPECT_EQ(got, packets) << "chunk " << chunk;
    EXPECT_EQ(r.buffered(), 0u);
  }
}

TEST(Rfc4571, OversizedAndEmptyFramesEndTheStream) {
  rfc4571::Reader r(100);
  std::vector<std::string> got;
  Bytes s = frames_of({"ok"});
  s.push_back(0);
  s.push_back(101);  // 101 > 100
  EXPECT_EQ(r.feed(s, [&](ByteView f) { got.emplace_back(as_chars(f)); }), rfc4571::Reader::Status::TooLarge);
  EXPECT_EQ(got, std::vector<std::string>{"ok"}) << "the whole frame before the bad one still counts";
  EXPECT_EQ(r.feed(frames_of({"later"}), [&](ByteView f) { got.emplace_back(as_chars(f)); }),
            rfc4571::Reader::Status::TooLarge);
  EXPECT_EQ(got.size(), 1u) << "nothing is read after a bad frame";

  rfc4571::Reader e(100);
  const uint8_t empty[] = {0, 0};
  EXPECT_EQ(e.feed(ByteView(empty, 2), [](ByteView) {}), rfc4571::Reader::Status::Empty);
  // A header split across feeds is checked once whole.
  rfc4571::Reader h(100);
  const uint8_t hi[] = {0x01}, lo[] = {0x00};
  EXPECT_EQ(h.feed(ByteView(hi, 1), [](ByteView) {}), rfc4571::Reader::Status::Ok);
  EXPECT_EQ(h.feed(ByteView(lo, 1), [](ByteView) {}), rfc4571::Reader::Status::TooLarge);
}

TEST(Rfc4571, TellsIceTcpFromHttp) {
  const Bytes stun = frames_of({std::string("\x00\x01\x00\x00\x21\x12\xa4\x42", 8) + std::string(12, 'x')});
  EXPECT_TRUE(rfc4571::starts_like_stun_binding(stun));
  EXPECT_FALSE(rfc4571::starts_like_stun_binding(ByteView(stun).first(3)));
  for (const char* m : {"GET / HTTP/1.1", "POST /offer", "OPTIONS *", "HEAD /", "PUT x", "DELETE"})
    EXPECT_FALSE(rfc4571::starts_like_stun_binding(as_bytes(m))) << m;
  // A STUN response or indication is not how a client starts a connection.
  const Bytes resp = frames_of({std::string("\x01\x01\x00\x00", 4)});
  EXPECT_FALSE(rfc4571::starts_like_stun_binding(resp));
}
