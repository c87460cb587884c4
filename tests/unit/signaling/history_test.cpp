#include "signaling/history.hpp"

#include <gtest/gtest.h>

using peerrtc::signaling::HistoryEntry;
using peerrtc::signaling::HistoryRing;

namespace {
HistoryEntry e(const std::string& data, bool binary = false) { return HistoryEntry{"ab", data, binary, 0}; }
}  // namespace

TEST(HistoryRing, KeepsTheLastNInOrder) {
  HistoryRing h(3, 1 << 20);
  for (int i = 0; i < 5; ++i) h.push(e("m" + std::to_string(i)));
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h.entries()[0].data, "m2");
  EXPECT_EQ(h.entries()[1].data, "m3");
  EXPECT_EQ(h.entries()[2].data, "m4");
  EXPECT_EQ(h.bytes(), 3u * (2 + 2));
}

TEST(HistoryRing, BoundedInBytes) {
  HistoryRing h(100, 30);  // each entry costs 2 (sender) + payload
  h.push(e(std::string(10, 'a')));
  h.push(e(std::string(10, 'b')));
  EXPECT_EQ(h.size(), 2u);
  h.push(e(std::string(10, 'c')));  // 36 > 30: the oldest goes
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h.entries()[0].data[0], 'b');
  EXPECT_LE(h.bytes(), 30u);
  h.push(e(std::string(40, 'x')));  // larger than the bound alone: not kept, nothing evicted
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h.entries()[1].data[0], 'c');
}

TEST(HistoryRing, BinaryKeptAsBytes) {
  HistoryRing h(2, 100);
  h.push(e(std::string("\0\xff\x01", 3), true));
  ASSERT_EQ(h.size(), 1u);
  EXPECT_TRUE(h.entries()[0].binary);
  EXPECT_EQ(h.entries()[0].data, std::string("\0\xff\x01", 3));
}

TEST(HistoryRing, ZeroKeepsNothing) {
  HistoryRing h(0, 100);
  h.push(e("x"));
  EXPECT_TRUE(h.empty());
}
