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
  Message m{"général", "José", std::string("a\0b", 3), true, std::nullopt, 0, {}, 0};
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

// Protocol v2 (docs/protocol.md "Cluster resume"): seq, epoch and cmid go into the entry, in
// the plain and the fenced form alike, so that another node can resume the room from it.
TEST(Stream, XaddArgvCarriesSeqEpochAndCmid) {
  Message m{"r", "alice", "hi", false, std::nullopt, 42, "0badf00d.12345678", 7};
  auto argv = xadd_argv("p:", 10, m, 5);
  std::vector<std::string> want{"XADD", "p:stream:r", "MAXLEN", "~",    "10",  "*",     "room",
                                "r",    "sender",     "alice",  "data", "hi",  "binary", "0",
                                "ts",   "5",          "seq",    "42",   "epoch", "0badf00d.12345678",
                                "cmid", "7"};
  EXPECT_EQ(argv, want);
  auto fenced = fenced_xadd_argv("p:", 10, m, 5, "99", 1000);
  ASSERT_GE(fenced.size(), 8u);
  EXPECT_EQ(std::vector<std::string>(fenced.begin() + 8, fenced.end()),
            std::vector<std::string>(want.begin() + 6, want.end()));
  m.cmid = 0;  // the backend's own message: a seq, no cmid
  argv = xadd_argv("p:", 10, m, 5);
  EXPECT_EQ(argv.size(), want.size() - 2);
  EXPECT_EQ(argv.back(), "0badf00d.12345678");
  m.seq = 0;  // not stamped: neither
  EXPECT_EQ(xadd_argv("p:", 10, m, 5).size(), want.size() - 6);
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

// Cluster resume: the newest epoch's entries (direct ones too), oldest first; an older epoch,
// entries older than the window, and entries without a seq end or are skipped.
TEST(Stream, ResumeItemsFromXrevrangeKeepTheNewestEpoch) {
  Reply r = arr({
      entry("9-0", {"room", "r", "sender", "bob", "data", "late", "binary", "0", "ts", "100", "seq", "7", "epoch", "E2",
                    "cmid", "3"}),
      entry("8-0", {"room", "r", "sender", "carol", "data", "psst", "binary", "1", "ts", "99", "to", "bob", "seq", "5",
                    "epoch", "E2"}),
      entry("7-0", {"room", "r", "sender", "x", "data", "no seq", "binary", "0", "ts", "98"}),          // skipped
      entry("6-0", {"room", "r", "sender", "x", "data", "bad", "ts", "98", "seq", "z", "epoch", "E2"}),  // skipped
      entry("5-0", {"room", "r", "sender", "alice", "data", "first", "ts", "97", "seq", "4", "epoch", "E2"}),
      entry("4-0", {"room", "r", "sender", "alice", "data", "old life", "ts", "96", "seq", "40", "epoch", "E1"}),
      entry("3-0", {"room", "r", "sender", "alice", "data", "older", "ts", "95", "seq", "3", "epoch", "E2"}),
  });
  auto items = resume_items_from_xrevrange(r, 0);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].seq, 4u);
  EXPECT_EQ(items[0].sender, "alice");
  EXPECT_EQ(items[1].seq, 5u);
  EXPECT_EQ(items[1].to, std::optional<std::string>("bob"));
  EXPECT_TRUE(items[1].binary);
  EXPECT_EQ(items[2].seq, 7u);
  EXPECT_EQ(items[2].cmid, 3u);
  for (auto& m : items) EXPECT_EQ(m.epoch, "E2");
  // The window: ts 99 and later only.
  items = resume_items_from_xrevrange(r, 99);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].seq, 5u);
  EXPECT_TRUE(resume_items_from_xrevrange(Reply::error("ERR"), 0).empty());
}
