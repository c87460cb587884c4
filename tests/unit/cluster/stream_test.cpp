// The pure parts of the Redis Stream mirror (src/cluster/stream.hpp): the XADD argv and the
// history read back from an XREVRANGE reply.
#include "cluster/stream.hpp"

#include <gtest/gtest.h>

using namespace peerrtc;
using namespace peerrtc::cluster;

namespace {
Reply str(std::string s) {
  Reply r;
  r.type = Reply::Type::String;
  r.str = std::move(s);
  return r;
}
Reply arr(std::vector<Reply> e) {
  Reply r;
  r.type = Reply::Type::Array;
  r.elements = std::move(e);
  return r;
}
Reply entry(const std::string& id, std::vector<std::string> kv) {
  std::vector<Reply> f;
  for (auto& s : kv) f.push_back(str(s));
  return arr({str(id), arr(std::move(f))});
}
}  // namespace

TEST(Stream, XaddArgv) {
  Message m{"général", "José", std::string("a\0b", 3), true, std::nullopt};
  auto argv = xadd_argv("peerrtc:", 500, m, 1700000000123);
  std::vector<std::string> want{"XADD", "peerrtc:stream:général", "MAXLEN", "~", "500", "*", "room", "général",
                                "sender", "José", "data", std::string("a\0b", 3), "binary", "1", "ts", "1700000000123"};
  EXPECT_EQ(argv, want);
  m.to = "bob";
  m.binary = false;
  argv = xadd_argv("x:", 10, m, 1);
  ASSERT_EQ(argv.size(), want.size() + 2);
  EXPECT_EQ(argv[13], "0");
  EXPECT_EQ(argv[argv.size() - 2], "to");
  EXPECT_EQ(argv.back(), "bob");
  EXPECT_EQ(argv[1], "x:stream:général");
}

TEST(Stream, HistoryFromXrevrangeIsOldestFirstWithoutDirectOnes) {
  Reply r = arr({
      entry("3-0", {"room", "r", "sender", "carol", "data", "third", "binary", "0", "ts", "30"}),
      entry("2-0", {"room", "r", "sender", "bob", "data", "psst", "binary", "0", "ts", "20", "to", "alice"}),
      entry("1-5", {"room", "r", "sender", "alice", "data", std::string("\x00\xff", 2), "binary", "1", "ts", "10"}),
      entry("1-0", {"room", "r", "data", "no sender"}),  // malformed: skipped
      str("junk"),
  });
  auto h = history_from_xrevrange(r);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].sender, "alice");
  EXPECT_TRUE(h[0].binary);
  EXPECT_EQ(h[0].data, std::string("\x00\xff", 2));
  EXPECT_EQ(h[0].ts_ms, 10);
  EXPECT_EQ(h[1].sender, "carol");
  EXPECT_EQ(h[1].data, "third");
  EXPECT_EQ(h[1].ts_ms, 30);
  EXPECT_TRUE(history_from_xrevrange(Reply::error("ERR")).empty());
  EXPECT_TRUE(history_from_xrevrange(Reply{}).empty());
}
