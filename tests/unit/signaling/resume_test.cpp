// Protocol v2 (docs/protocol.md "v2"): the resume buffer, the cmid log, the v2 frames, and the
// relay's acks, repeats, away/back/left, resume replay and gaps, with fake peers (as in
// relay_test.cpp: a PeerLink whose close() calls Relay::on_closed before it returns).
#include <gtest/gtest.h>

#include <thread>

#include <map>

#include "signaling/frames.hpp"
#include "signaling/relay.hpp"
#include "signaling/resume_buffer.hpp"

using namespace peerrtc;
using namespace peerrtc::signaling;
using namespace std::chrono_literals;

namespace {

BufferedMessage msg(uint64_t seq, std::string sender = "a", std::string to = "", std::string data = "x") {
  return BufferedMessage{seq, std::move(sender), std::move(to), std::move(data), false, Clock::now()};
}

TEST(ResumeBuffer, HoldsContiguousSeqsAndSaysWhatIsLost) {
  ResumeBuffer b;
  for (uint64_t s = 1; s <= 5; ++s) b.push(msg(s), 3, 1000);
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(b.lost_through(), 2u);  // 1 and 2 fell out of the 3-message bound
  EXPECT_EQ(b.entries().front().seq, 3u);
  EXPECT_EQ(b.index_after(0), 0u);
  EXPECT_EQ(b.index_after(3), 1u);
  EXPECT_EQ(b.index_after(5), 3u);
  EXPECT_EQ(b.index_after(99), 3u);
  // The byte bound: cost = data + sender + to.
  ResumeBuffer c;
  c.push(msg(1, "a", "", std::string(10, 'x')), 100, 25);
  c.push(msg(2, "a", "", std::string(10, 'x')), 100, 25);
  c.push(msg(3, "a", "", std::string(10, 'x')), 100, 25);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.lost_through(), 1u);
  // Too large on its own: not kept, and everything before it counts as lost (no holes).
  c.push(msg(4, "a", "", std::string(100, 'x')), 100, 25);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.lost_through(), 4u);
  c.push(msg(5), 100, 25);
  EXPECT_EQ(c.index_after(4), 0u);
  EXPECT_EQ(c.entries().front().seq, 5u);
}

TEST(ResumeBuffer, SkipsAndHolesAndAge) {
  ResumeBuffer b;
  b.push(msg(1), 10, 1000);
  b.skip(2);  // stamped while no v2 peer was there
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.lost_through(), 2u);
  b.push(msg(7), 10, 1000);  // a hole since 2: 3..6 are lost
  EXPECT_EQ(b.lost_through(), 6u);
  b.push(msg(9), 10, 1000);  // another hole
  EXPECT_EQ(b.lost_through(), 8u);
  EXPECT_EQ(b.size(), 1u);
  auto old = msg(10);
  old.at = Clock::now() - 1h;
  ResumeBuffer a;
  a.push(old, 10, 1000);
  a.push(msg(11), 10, 1000);
  a.expire(Clock::now() - 1min);
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(a.lost_through(), 10u);
}

TEST(CmidLog, RepeatsAndOutcomes) {
  CmidLog log;
  EXPECT_FALSE(log.is_repeat(0));
  EXPECT_FALSE(log.is_repeat(1));
  log.record(1, 10);
  log.record(2, 0, "filtered");
  log.record(5, 12);
  EXPECT_TRUE(log.is_repeat(1));
  EXPECT_TRUE(log.is_repeat(4));  // below the highest: a repeat even if never seen
  EXPECT_FALSE(log.is_repeat(6));
  ASSERT_NE(log.find(1), nullptr);
  EXPECT_EQ(log.find(1)->seq, 10u);
  EXPECT_STREQ(log.find(2)->code, "filtered");
  EXPECT_EQ(log.find(4), nullptr);
  for (uint64_t c = 6; c < 6 + CmidLog::kKeep; ++c) log.record(c, c);
  EXPECT_EQ(log.find(5), nullptr);  // bounded: the oldest are forgotten
  EXPECT_NE(log.find(6 + CmidLog::kKeep - 1), nullptr);
}

TEST(FramesV2, ClientFramesRoundTrip) {
  auto t = client_text_frame_v2(42, as_bytes(std::string("hi")));
  EXPECT_EQ(t, "M42 hi");
  auto f = parse_client_frame(as_bytes(t), false, nullptr, true);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->cmid, 42u);
  EXPECT_EQ(as_chars(f->payload), "hi");
  auto d = client_text_frame_v2(7, as_bytes(std::string("x\ny")), "bob");
  EXPECT_EQ(d, "D7 bob\nx\ny");
  f = parse_client_frame(as_bytes(d), false, nullptr, true);
  ASSERT_TRUE(f);
  EXPECT_EQ(*f->to, "bob");
  EXPECT_EQ(as_chars(f->payload), "x\ny");
  auto b = client_binary_frame_v2(uint64_t{1} << 40, as_bytes(std::string("\x01\x02", 2)), "bob");
  f = parse_client_frame(as_bytes(b), true, nullptr, true);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->cmid, uint64_t{1} << 40);
  EXPECT_EQ(*f->to, "bob");
  EXPECT_EQ(f->payload.size(), 2u);
  // v1 forms stay valid from a v2 client (no cmid); v2 forms are unknown tags in v1.
  f = parse_client_frame(as_bytes(std::string("mhello")), false, nullptr, true);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->cmid, 0u);
  FrameError e{};
  EXPECT_FALSE(parse_client_frame(as_bytes(t), false, &e, false));
  EXPECT_EQ(e, FrameError::UnknownTag);
}

TEST(FramesV2, BadCmids) {
  for (std::string bad : {"M hi", "M0 hi", "M01 hi", "Mx hi", "M12", "M12345678901234567 hi", "M9007199254740992 x"}) {
    FrameError e{};
    EXPECT_FALSE(parse_client_frame(as_bytes(bad), false, &e, true)) << bad;
    EXPECT_EQ(e, FrameError::BadCmid) << bad;
  }
  EXPECT_TRUE(parse_client_frame(as_bytes(std::string("M9007199254740991 x")), false, nullptr, true));
  FrameError e{};
  EXPECT_FALSE(parse_client_frame(as_bytes(std::string("D5 bad\x01name\nx")), false, &e, true));
  EXPECT_EQ(e, FrameError::BadTarget);
  std::string zero("\x11\0\0\0\0\0\0\0\0x", 10);
  EXPECT_FALSE(parse_client_frame(as_bytes(zero), true, &e, true));
  EXPECT_EQ(e, FrameError::BadCmid);
  std::string short_frame("\x11\0\0", 3);
  EXPECT_FALSE(parse_client_frame(as_bytes(short_frame), true, &e, true));
  std::string bad_len("\x12\0\0\0\0\0\0\0\x01\x09" "ab", 12);
  EXPECT_FALSE(parse_client_frame(as_bytes(bad_len), true, &e, true));
  EXPECT_EQ(e, FrameError::BadTarget);
}

TEST(FramesV2, ServerFramesAndAcks) {
  EXPECT_EQ(server_text_frame_v2(1234, "alice", as_bytes(std::string("hi")), false), "M1234 alice\nhi");
  EXPECT_EQ(server_text_frame_v2(1, "alice", as_bytes(std::string("")), true), "D1 alice\n");
  auto b = server_binary_frame_v2(258, "al", as_bytes(std::string("z")), true);
  EXPECT_EQ(b, std::string("\x12\0\0\0\0\0\0\x01\x02\x02" "alz", 13));
  std::string acks;
  append_ack(acks, 3, 17);
  append_nack(acks, 4, "rate_limited");
  append_ack(acks, 5, 0);
  EXPECT_EQ(acks, "A3:17,4!rate_limited,5:0");
  std::vector<AckEntry> out;
  ASSERT_TRUE(parse_ack_frame(acks, out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].seq, 17u);
  EXPECT_EQ(out[1].code, "rate_limited");
  EXPECT_EQ(out[2].cmid, 5u);
  for (std::string bad : {"A", "A1", "A:1", "A1:", "A1!", "Ax:1", "A1:2,,"}) {
    std::vector<AckEntry> o;
    EXPECT_FALSE(parse_ack_frame(bad, o)) << bad;
  }
}

// --- the relay ----------------------------------------------------------------------------------

struct FakePeer {
  std::vector<std::string> frames;
  bool closed = false;
};

struct FakeLink : PeerLink {
  std::map<PeerId, FakePeer> peers;
  Relay* relay = nullptr;
  rtc::SendStatus send(PeerId id, uint16_t, ByteView frame, bool) override {
    auto& p = peers[id];
    if (p.closed) return rtc::SendStatus::NotOpen;
    p.frames.emplace_back(as_chars(frame));
    return rtc::SendStatus::Ok;
  }
  size_t buffered_amount(PeerId) override { return 0; }
  void set_receive_paused(PeerId, bool) override {}
  void close(PeerId id, const std::string& reason) override {
    auto& p = peers[id];
    if (p.closed) return;
    p.closed = true;
    relay->on_closed(id, reason);
  }
};

class RelayV2 : public ::testing::Test {
 protected:
  RelayV2() : RelayV2(config()) {}
  explicit RelayV2(RelayConfig c)
      : registry(unlimited()), hooks(1, 10), relay(c, registry, link, hooks, [](std::function<void()>) { return true; }) {
    link.relay = &relay;
  }
  ~RelayV2() override { hooks.executor().stop(); }
  static RegistryLimits unlimited() {
    RegistryLimits l;
    l.message_rate = 0;
    l.byte_rate = 0;
    return l;
  }
  static RelayConfig config() {
    RelayConfig c;
    c.resume_window = 60s;
    c.ack_delay = 0ms;  // acks at once: these tests are about their content and order
    return c;
  }
  PeerId add(const std::string& name, int protocol = 2, const std::string& room = "r") {
    const PeerId id = next_id++;
    registry.add_peer(room, name, id, protocol);
    link.peers[id];
    relay.on_channel_open(id, 1, "peerrtc");
    return id;
  }
  // The member's re-offer with its token (RoomRegistry::admit found it) and `resume`.
  PeerId resume(const std::string& name, std::optional<Member::ResumeFrom> from, const std::string& room = "r") {
    const PeerId id = next_id++;
    link.peers[id];
    const PeerId old = registry.replace_session(room, name, id);
    relay.session_replaced(room, name, old, std::move(from));
    relay.on_channel_open(id, 1, "peerrtc");
    return id;
  }
  void send(PeerId id, const std::string& frame, bool binary = false) { relay.on_message(id, 1, binary, as_bytes(frame)); }
  std::vector<std::string> messages(PeerId id) {  // message and ack frames, in order
    std::vector<std::string> out;
    for (auto& f : link.peers[id].frames)
      if (!f.empty() && f[0] != '{') out.push_back(f);
    return out;
  }
  std::vector<json> events(PeerId id, const std::string& type) {
    std::vector<json> out;
    for (auto& f : link.peers[id].frames) {
      if (f.empty() || f[0] != '{') continue;
      auto j = json::parse(f);
      if (j["type"] == type) out.push_back(j);
    }
    return out;
  }
  void tick(Clock::time_point t = Clock::now()) { relay.tick(t); }
  std::string epoch(const std::string& room = "r") { return registry.room(room)->epoch; }

  FakeLink link;
  RoomRegistry registry;
  Hooks hooks;
  Relay relay;
  PeerId next_id = 1;
};

TEST_F(RelayV2, WelcomeAndFramesPerProtocolAndBatchedAcks) {
  auto a = add("a");
  auto b = add("b");
  auto c = add("c", 1);  // a v1 peer in the same room
  auto w = events(b, "welcome");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0]["protocol"], 2);
  EXPECT_EQ(w[0]["seq"], 0);
  EXPECT_EQ(w[0]["resumed"], false);
  EXPECT_EQ(w[0]["max_message_size"], kMaxPayloadV2);
  EXPECT_EQ(w[0]["epoch"], epoch());
  EXPECT_FALSE(events(c, "welcome")[0].contains("protocol"));  // v1 unchanged
  send(a, "M1 hello");
  send(a, "D2 c\nto c");
  send(c, "mfrom v1");
  EXPECT_EQ(messages(b), (std::vector<std::string>{"M1 a\nhello", "M3 c\nfrom v1"}));
  EXPECT_EQ(messages(c), (std::vector<std::string>{"ma\nhello", "da\nto c"}));
  // The acks ride along with the next message to a (same turn), after it.
  EXPECT_EQ(messages(a), (std::vector<std::string>{"M3 c\nfrom v1", "A1:1,2:2"}));
  tick();
  EXPECT_EQ(messages(a).size(), 2u);  // nothing more to ack
  send(a, "M3 quiet room");
  EXPECT_EQ(messages(a).size(), 2u);  // no ack before the tick when nothing else goes to a
  tick();
  EXPECT_EQ(messages(a).back(), "A3:4");
}

// RelayConfig::ack_delay: an ack waits for company, so a sender of many messages gets one ack
// frame per few messages (each frame is an SCTP message of its own), riding on a delivery to it
// or sent at a tick, but only once the oldest pending ack has waited the delay.
TEST(RelayV2AckDelay, AcksWaitTheDelayThenRideOrGoAtATick) {
  FakeLink link;
  RegistryLimits l;
  l.message_rate = 0;
  l.byte_rate = 0;
  RoomRegistry registry(l);
  Hooks hooks(1, 10);
  RelayConfig c;
  c.resume_window = 60s;
  c.ack_delay = 50ms;
  Relay relay(c, registry, link, hooks, [](std::function<void()>) { return true; });
  link.relay = &relay;
  auto add = [&](const std::string& name, PeerId id) {
    registry.add_peer("r", name, id, 2);
    link.peers[id];
    relay.on_channel_open(id, 1, "peerrtc");
  };
  add("a", 1);
  add("b", 2);
  auto frames = [&](PeerId id) {
    std::vector<std::string> out;
    for (auto& f : link.peers[id].frames)
      if (!f.empty() && f[0] == 'A') out.push_back(f);
    return out;
  };
  const auto t0 = Clock::now();
  relay.on_message(1, 1, false, as_bytes(std::string("M1 one")));
  relay.on_message(1, 1, false, as_bytes(std::string("M2 two")));
  relay.on_message(2, 1, false, as_bytes(std::string("M1 from b")));  // a delivery to a: too soon to ride
  EXPECT_TRUE(frames(1).empty());
  relay.tick(t0 + 10ms);  // younger than the delay: they wait
  EXPECT_TRUE(frames(1).empty());
  relay.tick(t0 + 60ms);
  EXPECT_EQ(frames(1), (std::vector<std::string>{"A1:1,2:2"}));
  EXPECT_EQ(frames(2).size(), 1u);  // b's ack too, in its own frame
  relay.tick(t0 + 200ms);
  EXPECT_EQ(frames(1).size(), 1u);  // nothing more
  // Past the delay, the next delivery to a carries its ack (same turn, after the message).
  relay.on_message(1, 1, false, as_bytes(std::string("M3 three")));
  std::this_thread::sleep_for(60ms);
  relay.on_message(2, 1, false, as_bytes(std::string("M2 again from b")));
  EXPECT_EQ(frames(1), (std::vector<std::string>{"A1:1,2:2", "A3:4"}));
  EXPECT_EQ(link.peers[1].frames.back(), "A3:4");
  hooks.executor().stop();
}

TEST_F(RelayV2, ARepeatedCmidIsRelayedOnceAndAckedWithItsSeq) {
  auto a = add("a");
  auto b = add("b");
  send(a, "M1 one");
  send(a, "M2 two");
  send(a, "M1 one");  // sent again after a drop
  send(a, "M2 two");
  send(a, "M3 three");
  tick();
  EXPECT_EQ(messages(b), (std::vector<std::string>{"M1 a\none", "M2 a\ntwo", "M3 a\nthree"}));
  EXPECT_EQ(messages(a), (std::vector<std::string>{"A1:1,2:2,1:1,2:2,3:3"}));
  EXPECT_EQ(relay.counters().repeats_dropped, 2u);
  // A refused cmid is refused again, with the same code.
  relay.filter = [](const Message& m) { return m.data == "bad" ? FilterResult::drop("no") : FilterResult::pass(); };
  send(a, "M4 bad");
  auto errs = events(a, "error");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0]["cmid"], 4);
  EXPECT_EQ(errs[0]["code"], "filtered");
  send(a, "M4 bad");
  tick();
  EXPECT_EQ(messages(a).back(), "A4!filtered");
  EXPECT_EQ(messages(b).size(), 3u);
}

TEST_F(RelayV2, AwayThenResumeReplaysWhatWasMissedInOrder) {
  auto a = add("a");
  auto b = add("b");
  auto v1 = add("old", 1);
  send(a, "M1 before");
  tick();
  link.close(b, "consent timeout");  // b's network is gone
  EXPECT_EQ(events(a, "peer_away").size(), 1u);
  EXPECT_TRUE(events(a, "peer_left").empty());
  EXPECT_TRUE(events(v1, "peer_left").empty());
  send(a, "M2 m2");
  send(a, "D3 b\nfor b");       // direct to an away peer: accepted and kept
  send(v1, "mfrom old");
  send(a, "D4 old\nnot for b");  // not b's
  EXPECT_TRUE(events(a, "error").empty());
  auto b2 = resume("b", Member::ResumeFrom{epoch(), 1});
  auto w = events(b2, "welcome");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0]["resumed"], true);
  EXPECT_EQ(w[0]["replay"], 3);
  EXPECT_EQ(w[0]["seq"], 5);
  EXPECT_EQ(messages(b2), (std::vector<std::string>{"M2 a\nm2", "D3 a\nfor b", "M4 old\nfrom old"}));
  EXPECT_TRUE(events(b2, "resume_gap").empty());
  EXPECT_EQ(events(a, "peer_back").size(), 1u);
  send(a, "M5 live");
  EXPECT_EQ(messages(b2).back(), "M6 a\nlive");
  EXPECT_EQ(relay.counters().resumes, 1u);
}

// The room's buffer keeps the v2 frame the fan-out built (no second copy of the payload), and a
// replay sends exactly the bytes a member that stayed got: text, direct and binary.
TEST_F(RelayV2, TheBufferKeepsTheFrameAndTheReplayIsByteForByteTheLiveOne) {
  auto a = add("a");
  auto b = add("b");
  auto c = add("c");
  link.close(b, "consent timeout");
  const std::string bin = client_binary_frame_v2(1, as_bytes(std::string("\0\xff\x01", 3)), std::nullopt);
  send(a, bin, true);
  send(a, "M2 text");
  send(a, "D3 b\nto b");
  const auto& entries = registry.room("r")->buffer.entries();
  ASSERT_EQ(entries.size(), 3u);
  for (const auto& e : entries) EXPECT_TRUE(e.framed) << e.seq;
  const std::string want_bin = server_binary_frame_v2(1, "a", as_bytes(std::string("\0\xff\x01", 3)), false);
  EXPECT_EQ(entries[0].data, want_bin);
  EXPECT_TRUE(entries[0].binary);
  EXPECT_EQ(entries[1].data, "M2 a\ntext");
  EXPECT_EQ(entries[2].data, "D3 a\nto b");
  EXPECT_EQ(entries[2].to, "b");
  // c stayed: it got the two room-wide frames live; b gets the same bytes, and its direct one.
  EXPECT_EQ(messages(c), (std::vector<std::string>{want_bin, "M2 a\ntext"}));
  auto b2 = resume("b", Member::ResumeFrom{epoch(), 0});
  EXPECT_EQ(messages(b2), (std::vector<std::string>{want_bin, "M2 a\ntext", "D3 a\nto b"}));
}

TEST_F(RelayV2, AFastReconnectIsSilentAndStillReplaysWhatWasInFlight) {
  auto a = add("a");
  auto b = add("b");
  send(a, "M1 one");
  send(a, "M2 two");
  // b got only seq 1 before its path died; the server has not noticed and b re-offers.
  auto b2 = resume("b", Member::ResumeFrom{epoch(), 1});
  send(a, "M3 three");  // b's new channel is open
  EXPECT_EQ(messages(b2), (std::vector<std::string>{"M2 a\ntwo", "M3 a\nthree"}));
  EXPECT_TRUE(events(a, "peer_away").empty());
  EXPECT_TRUE(events(a, "peer_back").empty());
  EXPECT_TRUE(link.peers[b].closed);  // the old session is closed without a leave
  EXPECT_TRUE(events(a, "peer_left").empty());
}

TEST_F(RelayV2, MessagesForAPendingResumeWaitInTheBuffer) {
  auto a = add("a");
  auto b = add("b");
  const PeerId id = next_id++;
  link.peers[id];
  const PeerId old = registry.replace_session("r", "b", id);
  relay.session_replaced("r", "b", old, Member::ResumeFrom{epoch(), 0});
  send(a, "M1 during the handshake");
  EXPECT_EQ(relay.counters().dropped_send, 0u);
  relay.on_channel_open(id, 1, "peerrtc");
  EXPECT_EQ(messages(id), (std::vector<std::string>{"M1 a\nduring the handshake"}));
  (void)b;
}

TEST_F(RelayV2, TheWindowEndsWithPeerLeft) {
  auto a = add("a");
  auto b = add("b");
  link.close(b, "consent timeout");
  tick(Clock::now() + 30s);
  EXPECT_TRUE(events(a, "peer_left").empty());
  tick(Clock::now() + 61s);
  auto left = events(a, "peer_left");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["reason"], "consent timeout");
  EXPECT_EQ(registry.find("r", "b"), nullptr);
}

TEST_F(RelayV2, ARoomOfAwayMembersStaysUntilTheLastWindowEnds) {
  auto a = add("a");
  auto b = add("b");
  link.close(a, "x");
  link.close(b, "y");
  ASSERT_NE(registry.room("r"), nullptr);
  tick(Clock::now() + 61s);
  EXPECT_EQ(registry.room("r"), nullptr);
}

TEST_F(RelayV2, LeaveAndKickOfAnAwayMemberAreImmediate) {
  auto a = add("a");
  auto b = add("b");
  auto c = add("c");
  link.close(b, "gone");
  link.close(c, "gone");
  relay.leave("r", "b", "left");
  EXPECT_TRUE(relay.kick("r", "c", "spam"));
  auto left = events(a, "peer_left");
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0]["reason"], "left");
  EXPECT_EQ(left[1]["reason"], "kicked: spam");
  // A connected v2 member that leaves is not away.
  auto d = add("d");
  relay.leave("r", "d", "left");
  EXPECT_EQ(events(a, "peer_away").size(), 2u);
  EXPECT_EQ(events(a, "peer_left").size(), 3u);
  (void)d;
}

TEST_F(RelayV2, AResumeFromAWrongEpochOrUnknownTokenIsAGap) {
  auto a = add("a");
  auto b = add("b");
  send(a, "M1 x");
  // b's token is unknown here (e.g. the server restarted): a fresh join that asked to resume.
  const PeerId id = next_id++;
  registry.add_peer("r", "newcomer", id, 2);
  link.peers[id];
  relay.fresh_join_resume("r", "newcomer", Member::ResumeFrom{"deadbeef.00000000", 7});
  relay.on_channel_open(id, 1, "peerrtc");
  auto g = events(id, "resume_gap");
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0]["reason"], "restarted");
  EXPECT_TRUE(g[0]["missed"].is_null());
  EXPECT_EQ(g[0]["from_seq"], 8);
  EXPECT_EQ(events(id, "welcome")[0]["resumed"], false);
  EXPECT_EQ(events(a, "peer_joined").size(), 2u);  // b, then newcomer: a fresh join
  // Same server, same room life, but the window ended: window_expired with a count.
  const PeerId id2 = next_id++;
  registry.add_peer("r", "late", id2, 2);
  link.peers[id2];
  relay.fresh_join_resume("r", "late", Member::ResumeFrom{epoch(), 0});
  relay.on_channel_open(id2, 1, "peerrtc");
  g = events(id2, "resume_gap");
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0]["reason"], "window_expired");
  EXPECT_EQ(g[0]["missed"], 1);
  EXPECT_EQ(relay.counters().resume_gaps, 2u);
  (void)b;
}

class RelayV2SmallBuffer : public RelayV2 {
 protected:
  static RelayConfig small() {
    RelayConfig c;
    c.resume_window = 60s;
    c.resume_buffer = 2;
    return c;
  }
  RelayV2SmallBuffer() : RelayV2(small()) {}
};

TEST_F(RelayV2SmallBuffer, AnOverflowIsAGapWithCountsThenTheRest) {
  auto a = add("a");
  auto b = add("b");
  link.close(b, "gone");
  for (int i = 1; i <= 5; ++i) send(a, "M" + std::to_string(i) + " n" + std::to_string(i));
  auto b2 = resume("b", Member::ResumeFrom{epoch(), 0});
  auto g = events(b2, "resume_gap");
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0]["reason"], "buffer_overflow");
  EXPECT_EQ(g[0]["missed"], 3);
  EXPECT_EQ(g[0]["from_seq"], 1);
  EXPECT_EQ(g[0]["to_seq"], 3);
  EXPECT_EQ(events(b2, "welcome")[0]["resumed"], true);
  EXPECT_EQ(messages(b2), (std::vector<std::string>{"M4 a\nn4", "M5 a\nn5"}));
}

TEST_F(RelayV2, TooLargeForV2PeersIsRefusedWithItsCmid) {
  auto a = add("a");
  auto v1 = add("old", 1);
  std::string big(kMaxPayloadV2 + 1, 'x');
  send(v1, "m" + big);  // fits v1, not the v2 peer's frames
  auto e = events(v1, "error");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0]["code"], "too_large");
  send(a, "M1 " + big);
  e = events(a, "error");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0]["cmid"], 1);
  send(a, "M2 " + std::string(kMaxPayloadV2, 'y'));
  EXPECT_EQ(messages(v1).size(), 1u);
}

TEST_F(RelayV2, UnknownPeerCarriesTheCmid) {
  auto a = add("a");
  send(a, "D9 nobody\nhi");
  auto e = events(a, "error");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0]["code"], "unknown_peer");
  EXPECT_EQ(e[0]["cmid"], 9);
  EXPECT_EQ(registry.room("r")->seq, 0u);  // not stamped
}

TEST_F(RelayV2, EvictRoomTellsMovedWithoutPeerLeft) {
  auto a = add("a");
  auto b = add("b", 1);
  auto c = add("c");
  link.close(c, "gone");  // away: no connection to tell
  EXPECT_EQ(relay.evict_room("r", "lease lost"), 3u);
  EXPECT_EQ(events(a, "moved").size(), 1u);
  EXPECT_EQ(events(a, "moved")[0]["reason"], "lease lost");
  EXPECT_EQ(events(b, "moved").size(), 1u);
  EXPECT_TRUE(link.peers[a].closed);
  EXPECT_TRUE(link.peers[b].closed);
  EXPECT_TRUE(events(a, "peer_left").empty());
  EXPECT_TRUE(events(b, "peer_left").empty());
  EXPECT_EQ(registry.room("r"), nullptr);
  EXPECT_EQ(relay.evict_room("r", "again"), 0u);
}

TEST_F(RelayV2, ResumeWindowZeroIsV1Behaviour) {
  RelayConfig c;
  c.resume_window = 0s;
  FakeLink l2;
  RoomRegistry reg(unlimited());
  Hooks h(1, 10);
  Relay r(c, reg, l2, h, [](std::function<void()>) { return true; });
  l2.relay = &r;
  reg.add_peer("r", "a", 1, 2);
  l2.peers[1];
  r.on_channel_open(1, 1, "peerrtc");
  reg.add_peer("r", "b", 2, 2);
  l2.peers[2];
  r.on_channel_open(2, 1, "peerrtc");
  l2.close(2, "gone");
  bool left = false;
  for (auto& f : l2.peers[1].frames) left |= f.find("peer_left") != std::string::npos;
  EXPECT_TRUE(left);
  h.executor().stop();
}

}  // namespace
