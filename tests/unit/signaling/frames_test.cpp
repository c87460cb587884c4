#include "signaling/frames.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace peerrtc;
using namespace peerrtc::signaling;

TEST(Frames, Names) {  // the rule itself: names_test.cpp
  EXPECT_TRUE(valid_name("alice"));
  EXPECT_TRUE(valid_name("A-z_0.9:@"));
  EXPECT_TRUE(valid_name(std::string(64, 'x')));
  EXPECT_TRUE(valid_name("a b"));
  EXPECT_TRUE(valid_name("a/b"));
  EXPECT_TRUE(valid_name("caf\xc3\xa9"));
  EXPECT_FALSE(valid_name(""));
  EXPECT_FALSE(valid_name(std::string(65, 'x')));
  EXPECT_FALSE(valid_name("a\nb"));
  EXPECT_FALSE(valid_name("caf\xe9"));
}

TEST(Frames, ClientTextBroadcastAndDirect) {
  auto f = client_text_frame(as_bytes("hello"));
  EXPECT_EQ(f, "mhello");
  auto p = parse_client_frame(as_bytes(f), false);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->to);
  EXPECT_EQ(as_chars(p->payload), "hello");

  auto d = client_text_frame(as_bytes("hi\nthere"), "bob");
  EXPECT_EQ(d, "dbob\nhi\nthere");
  p = parse_client_frame(as_bytes(d), false);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p->to, "bob");
  EXPECT_EQ(as_chars(p->payload), "hi\nthere");

  p = parse_client_frame(as_bytes("m"), false);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->payload.empty());
}

TEST(Frames, ClientBinaryBroadcastAndDirect) {
  std::string payload("\x00\x01\xff", 3);
  auto f = client_binary_frame(as_bytes(payload));
  auto p = parse_client_frame(as_bytes(f), true);
  ASSERT_TRUE(p);
  EXPECT_EQ(as_chars(p->payload), payload);
  auto d = client_binary_frame(as_bytes(payload), "carol");
  p = parse_client_frame(as_bytes(d), true);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p->to, "carol");
  EXPECT_EQ(as_chars(p->payload), payload);
}

TEST(Frames, BadClientFrames) {
  FrameError e{};
  EXPECT_FALSE(parse_client_frame({}, false, &e));
  EXPECT_EQ(e, FrameError::Empty);
  EXPECT_FALSE(parse_client_frame(as_bytes("xhello"), false, &e));
  EXPECT_EQ(e, FrameError::UnknownTag);
  EXPECT_FALSE(parse_client_frame(as_bytes("dbob"), false, &e));  // no newline
  EXPECT_EQ(e, FrameError::BadTarget);
  EXPECT_FALSE(parse_client_frame(as_bytes("d\nhi"), false, &e));  // empty target
  EXPECT_FALSE(parse_client_frame(as_bytes("d bob\nhi"), false, &e));  // leading space
  EXPECT_FALSE(parse_client_frame(as_bytes(std::string("\x02", 1)), true, &e));
  EXPECT_FALSE(parse_client_frame(as_bytes(std::string("\x02\x05" "ab", 4)), true, &e));
  EXPECT_FALSE(parse_client_frame(as_bytes(std::string("\x07xyz", 4)), true, &e));
  EXPECT_EQ(e, FrameError::UnknownTag);
}

TEST(Frames, ServerFramesCarryTheSender) {
  EXPECT_EQ(server_text_frame("alice", as_bytes("hi"), false), "malice\nhi");
  EXPECT_EQ(server_text_frame("alice", as_bytes("hi"), true), "dalice\nhi");
  auto b = server_binary_frame("bob", as_bytes("xy"), false);
  EXPECT_EQ(b, std::string("\x01\x03" "bobxy", 7));
}

TEST(Frames, LargestPayloadFitsTheFrameLimitWithTheLongestIds) {
  std::string id(kMaxName, 'i');
  std::string payload(kMaxPayload, 'p');
  EXPECT_EQ(client_text_frame(as_bytes(payload), id).size(), kMaxFrame);
  EXPECT_EQ(client_binary_frame(as_bytes(payload), id).size(), kMaxFrame);
  EXPECT_EQ(server_text_frame(id, as_bytes(payload), true).size(), kMaxFrame);
  EXPECT_EQ(server_binary_frame(id, as_bytes(payload), true).size(), kMaxFrame);
}

TEST(Frames, RandomInputNeverCrashes) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    Bytes b(rng() % 80);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    if (!b.empty() && i % 2) b[0] = "md\x01\x02"[rng() % 4];
    auto p = parse_client_frame(b, i % 3 == 0);
    if (p) {
      EXPECT_LE(p->payload.size(), b.size());
      if (p->to) {
        EXPECT_TRUE(valid_name(*p->to));
      }
    }
  }
}
