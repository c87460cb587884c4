// The relay's history (Config::history), kick and seeds, with fake peers (as relay_test.cpp).
#include <gtest/gtest.h>

#include <map>

#include "signaling/frames.hpp"
#include "signaling/relay.hpp"

using namespace peerrtc;
using namespace peerrtc::signaling;

namespace {

struct Link : PeerLink {
  struct P {
    std::vector<std::string> frames;
    bool closed = false;
    std::string reason;
  };
  std::map<PeerId, P> peers;
  Relay* relay = nullptr;
  rtc::SendStatus send(PeerId id, uint16_t, ByteView frame, bool) override {
    if (peers[id].closed) return rtc::SendStatus::NotOpen;
    peers[id].frames.emplace_back(as_chars(frame));
    return rtc::SendStatus::Ok;
  }
  size_t buffered_amount(PeerId) override { return 0; }
  void set_receive_paused(PeerId, bool) override {}
  void close(PeerId id, const std::string& reason) override {
    if (peers[id].closed) return;
    peers[id].closed = true;
    peers[id].reason = reason;
    relay->on_closed(id, reason);
  }
};

class RelayHistory : public ::testing::Test {
 protected:
  RelayHistory() : registry(limits()), hooks(1, 100), relay(config(), registry, link, hooks, [](auto) { return true; }) {
    link.relay = &relay;
  }
  ~RelayHistory() override { hooks.executor().stop(); }
  static RegistryLimits limits() {
    RegistryLimits l;
    l.message_rate = 0;
    l.byte_rate = 0;
    return l;
  }
  static RelayConfig config() {
    RelayConfig c;
    c.history = 3;
    c.history_bytes = 1000;
    return c;
  }
  PeerId add(const std::string& room, const std::string& name) {
    const PeerId id = next++;
    registry.add_peer(room, name, id);
    link.peers[id];
    relay.on_channel_open(id, 1, "peerrtc");
    return id;
  }
  void text(PeerId id, const std::string& frame) { relay.on_message(id, 1, false, as_bytes(frame)); }
  // The frames after `welcome`.
  std::vector<std::string> after_welcome(PeerId id) {
    auto& f = link.peers[id].frames;
    EXPECT_FALSE(f.empty());
    EXPECT_EQ(json::parse(f[0])["type"], "welcome");
    return std::vector<std::string>(f.begin() + 1, f.end());
  }

  RoomRegistry registry;
  Link link;
  Hooks hooks;
  Relay relay;
  PeerId next = 1;
};

}  // namespace

TEST_F(RelayHistory, ReplaysTheLastNRoomMessagesAfterWelcome) {
  PeerId a = add("r", "alice"), b = add("r", "bob");
  text(a, "m1");
  text(a, "dbob\nsecret");  // direct: not kept
  text(b, "m2");
  relay.send("r", "server", as_bytes(std::string("3")), false, std::nullopt, false);
  text(a, "m4");
  PeerId c = add("r", "carol");
  auto f = after_welcome(c);
  ASSERT_EQ(f.size(), 4u);
  auto h = json::parse(f[0]);
  EXPECT_EQ(h["type"], "history");
  EXPECT_EQ(h["count"], 3);
  EXPECT_EQ(h["ts"].size(), 3u);
  EXPECT_EQ(f[1], "mbob\n2");
  EXPECT_EQ(f[2], "mserver\n3");
  EXPECT_EQ(f[3], "malice\n4");
  ASSERT_NE(relay.history("r"), nullptr);
  EXPECT_EQ(relay.history("r")->size(), 3u);
}

TEST_F(RelayHistory, GoesWithTheRoom) {
  PeerId a = add("r", "alice");
  text(a, "mx");
  EXPECT_NE(relay.history("r"), nullptr);
  relay.leave("r", "alice", "left");
  EXPECT_EQ(relay.history("r"), nullptr);
  PeerId b = add("r", "bob");
  EXPECT_TRUE(after_welcome(b).empty());
}

TEST_F(RelayHistory, SeedWaitsForTheRoomsFirstPeer) {
  relay.seed_history("r", {{"old", "a", false, 1}, {"old", std::string("\x00\x01", 2), true, 2}});
  EXPECT_EQ(relay.history("r"), nullptr);  // no room yet
  PeerId a = add("r", "alice");
  auto f = after_welcome(a);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(json::parse(f[0])["ts"], json::array({1, 2}));
  EXPECT_EQ(f[1], "mold\na");
  EXPECT_EQ(f[2], server_binary_frame("old", as_bytes(std::string("\x00\x01", 2)), false));
  // A room that has its own history ignores a later seed.
  relay.seed_history("r", {{"late", "z", false, 3}});
  EXPECT_EQ(relay.history("r")->entries().front().sender, "old");
}

TEST_F(RelayHistory, KickTellsClosesAndAnnounces) {
  PeerId a = add("r", "alice"), m = add("r", "mallory");
  EXPECT_TRUE(relay.kick("r", "mallory", "spam"));
  auto& mf = link.peers[m].frames;
  ASSERT_FALSE(mf.empty());
  EXPECT_EQ(json::parse(mf.back()), (json{{"type", "kicked"}, {"reason", "spam"}}));
  EXPECT_TRUE(link.peers[m].closed);
  EXPECT_EQ(link.peers[m].reason, "kicked: spam");
  EXPECT_EQ(registry.find("r", "mallory"), nullptr);
  auto last = json::parse(link.peers[a].frames.back());
  EXPECT_EQ(last["type"], "peer_left");
  EXPECT_EQ(last["reason"], "kicked: spam");
  EXPECT_FALSE(relay.kick("r", "mallory", ""));
  EXPECT_FALSE(relay.kick("nowhere", "alice", ""));
}

TEST(RelayHistoryBudget, ReplaysOnlyTheNewestThatFitHalfTheQueueLimit) {
  RegistryLimits l;
  l.message_rate = 0;
  l.byte_rate = 0;
  RoomRegistry registry(l);
  Link link;
  Hooks hooks(1, 10);
  RelayConfig c;
  c.history = 10;
  c.max_queue = 60;  // budget 30: frames of "m<from>\n<text>" count sender + text + 2
  Relay relay(c, registry, link, hooks, [](auto) { return true; });
  link.relay = &relay;
  auto add = [&](PeerId id, const std::string& name) {
    registry.add_peer("r", name, id);
    link.peers[id];
    relay.on_channel_open(id, 1, "peerrtc");
  };
  add(1, "al");
  for (const char* t : {"m0123456789", "m0123456789", "mabcdefghij"}) relay.on_message(1, 1, false, as_bytes(std::string(t)));
  add(2, "bo");
  auto& f = link.peers[2].frames;
  ASSERT_EQ(f.size(), 4u);  // welcome, history, two entries (14 bytes each; a third would pass 30)
  EXPECT_EQ(json::parse(f[1])["count"], 2);
  EXPECT_EQ(f[2], "mal\n0123456789");
  EXPECT_EQ(f[3], "mal\nabcdefghij");
  hooks.executor().stop();
}
