// The relay with fake peers: a PeerLink whose peers have a queue with a cap, and whose close()
// calls Relay::on_closed before it returns, as the engine does. Covers what a real network makes
// hard to reach on purpose: a peer closed in the middle of a fan-out, pause and release,
// reconnects, slow and fast server-side participants, several hooks.
#include "signaling/relay.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "signaling/frames.hpp"

using namespace peerrtc;
using namespace peerrtc::signaling;
using namespace std::chrono_literals;

namespace {

struct FakePeer {
  std::vector<std::string> frames;  // text frames and binary frames as bytes
  size_t buffered = 0;
  size_t full_at = SIZE_MAX;  // send returns BufferFull once buffered would pass this
  bool paused = false;
  bool closed = false;
  size_t outstanding = 0;  // bytes unacknowledged (the volatile lane's congestion signal)
  std::vector<uint16_t> streams;  // the stream of each frame in `frames`
  std::string close_reason;
};

struct FakeLink : PeerLink {
  std::map<PeerId, FakePeer> peers;
  Relay* relay = nullptr;
  rtc::SendStatus send(PeerId id, uint16_t stream, ByteView frame, bool) override {
    auto& p = peers[id];
    if (p.closed) return rtc::SendStatus::NotOpen;
    if (p.buffered + frame.size() > p.full_at) return rtc::SendStatus::BufferFull;
    p.streams.push_back(stream);
    p.frames.emplace_back(as_chars(frame));
    p.buffered += frame.size();
    return rtc::SendStatus::Ok;
  }
  size_t buffered_amount(PeerId id) override { return peers[id].buffered; }
  void set_receive_paused(PeerId id, bool paused) override { peers[id].paused = paused; }
  size_t bytes_outstanding(PeerId id) override { return peers[id].outstanding; }
  void close(PeerId id, const std::string& reason) override {
    auto& p = peers[id];
    if (p.closed) return;
    p.closed = true;
    p.close_reason = reason;
    relay->on_closed(id, reason);  // synchronously, like rtc::PeerConnection::close
  }
};

class RelayTest : public ::testing::Test {
 protected:
  RelayTest()
      : registry(unlimited()),
        hooks(1, 10),
        relay(config(), registry, link, hooks, [this](std::function<void()> fn) {
          std::lock_guard lock(mu);
          posted.push_back(std::move(fn));
          cv.notify_all();
          return true;
        }) {
    link.relay = &relay;
  }
  ~RelayTest() override { hooks.executor().stop(); }

  static RegistryLimits unlimited() {
    RegistryLimits l;
    l.message_rate = 0;  // no per-peer rate limit: these tests send bursts
    l.byte_rate = 0;
    return l;
  }
  static RelayConfig config() {
    RelayConfig c;
    c.high_water = 1000;
    c.max_queue = 10000;
    return c;
  }

  // A remote peer that opened its channel (joined).
  PeerId add(const std::string& room, const std::string& name) {
    const PeerId id = next_id++;
    registry.add_peer(room, name, id);
    link.peers[id];
    relay.on_channel_open(id, 1, "peerrtc");
    return id;
  }
  // A message from a peer, as its `m<text>` frame arrives.
  void from(PeerId id, const std::string& text) {
    const std::string f = "m" + text;
    relay.on_message(id, 1, false, as_bytes(f));
  }
  size_t count(PeerId id, const std::string& frame) {
    size_t n = 0;
    for (auto& f : link.peers[id].frames) n += f == frame;
    return n;
  }
  bool has_event(PeerId id, const std::string& type, const std::string& peer) {
    for (auto& f : link.peers[id].frames) {
      if (f.empty() || f[0] != '{') continue;
      auto j = json::parse(f);
      if (j["type"] == type && (peer.empty() || j.value("peer_id", "") == peer)) return true;
    }
    return false;
  }
  // Runs what hook threads posted to the "network thread" (this one), waiting up to `t` for
  // at least `n` tasks.
  void run_posted(size_t n = 0, std::chrono::milliseconds t = 2s) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, t, [&] { return posted.size() >= n; });
    auto tasks = std::move(posted);
    posted.clear();
    lock.unlock();
    for (auto& f : tasks) f();
  }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::function<void()>> posted;
  FakeLink link;
  RoomRegistry registry;
  Hooks hooks;
  Relay relay;
  PeerId next_id = 1;
};

// A participant's inbox, observable from the test thread.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Message> messages;
  std::vector<json> events;
  std::function<void()> gate;  // runs before each message is recorded (a slow backend)
  // hold(): messages wait in the callback (a backend that is stuck) until release().
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool held = false;
  void hold() {
    held = true;
    gate = [this] {
      std::unique_lock l(gate_mu);
      gate_cv.wait(l, [&] { return !held; });
    };
  }
  void release() {
    {
      std::lock_guard l(gate_mu);
      held = false;
    }
    gate_cv.notify_all();
  }
  std::shared_ptr<ParticipantInbox> make(const std::string& room, const std::string& name) {
    auto in = std::make_shared<ParticipantInbox>();
    in->room = room;
    in->name = name;
    in->on_message = [this](const Message& m) {
      if (gate) gate();
      std::lock_guard l(mu);
      messages.push_back(m);
      cv.notify_all();
    };
    in->on_event = [this](const json& e) {
      std::lock_guard l(mu);
      events.push_back(e);
      cv.notify_all();
    };
    return in;
  }
  template <typename P>
  bool wait(P pred, std::chrono::milliseconds t = 5s) {
    std::unique_lock l(mu);
    return cv.wait_for(l, t, pred);
  }
};

}  // namespace

// Defect 1 (issue 10): a send that finds a receiver's queue full disconnects it, and the engine
// runs on_closed inside close(); the member used to be erased while the fan-out iterated the
// room (a use-after-free under ASan). Now its removal waits for the fan-out's end.
TEST_F(RelayTest, PeerClosedInTheMiddleOfAFanOut) {
  const PeerId a = add("r", "a"), b = add("r", "b"), c = add("r", "c"), d = add("r", "d");
  link.peers[c].full_at = link.peers[c].buffered;  // c is stuck: its next send is BufferFull
  relay.send("r", "server", as_bytes(std::string("hello")), false, std::nullopt, false);
  EXPECT_TRUE(link.peers[c].closed);
  EXPECT_NE(link.peers[c].close_reason.find("too slow"), std::string::npos);
  for (PeerId id : {a, b, d}) {
    EXPECT_EQ(count(id, "mserver\nhello"), 1u) << id;
    EXPECT_TRUE(has_event(id, "peer_left", "c")) << id;
  }
  EXPECT_EQ(registry.find("r", "c"), nullptr);
  EXPECT_EQ(relay.counters().slow_receivers_disconnected, 1u);
  EXPECT_EQ(relay.counters().deliveries, 3u);
}

// The same when the stuck member is the room's last: the room itself used to be erased under
// the loop.
TEST_F(RelayTest, LastMemberClosedDuringABroadcastTakesTheRoomAfterIt) {
  const PeerId x = add("solo", "x");
  link.peers[x].full_at = link.peers[x].buffered;
  EXPECT_EQ(relay.send("solo", "server", as_bytes(std::string("hi")), false, std::nullopt, false), 0u);
  EXPECT_TRUE(link.peers[x].closed);
  EXPECT_EQ(registry.room("solo"), nullptr);
}

// A peer's message whose fan-out disconnects two receivers, one of them by a direct message
// afterwards: every action is taken once, in order, after the turn.
TEST_F(RelayTest, SeveralClosesInOneTurnRunOnceInOrder) {
  const PeerId a = add("r", "a"), b = add("r", "b"), c = add("r", "c");
  link.peers[b].full_at = link.peers[b].buffered;
  link.peers[c].full_at = link.peers[c].buffered;
  from(a, "x");
  EXPECT_TRUE(link.peers[b].closed && link.peers[c].closed);
  EXPECT_TRUE(has_event(a, "peer_left", "b"));
  EXPECT_TRUE(has_event(a, "peer_left", "c"));
  EXPECT_EQ(relay.counters().slow_receivers_disconnected, 2u);
  ASSERT_NE(registry.room("r"), nullptr);
  EXPECT_EQ(registry.room("r")->members.size(), 1u);
}

TEST_F(RelayTest, PauseAndRelease) {
  const PeerId a = add("r", "a"), b = add("r", "b");
  link.peers[b].buffered = 990;  // near the high water (1000)
  from(a, std::string(100, 'z'));
  EXPECT_TRUE(link.peers[a].paused) << "b is over the high water: its sender waits";
  EXPECT_EQ(relay.counters().senders_paused, 1u);
  // b drains: a goes on. Inside a turn the resume waits for the turn's end.
  link.peers[b].buffered = 0;
  relay.on_buffered_low(b);
  EXPECT_FALSE(link.peers[a].paused);
}

// News that a receiver drained, arriving inside a turn, waits for the turn's end; if the turn
// filled the receiver again meanwhile, nobody is released (the news is stale), and the senders
// go on only when it really drains.
TEST_F(RelayTest, StaleDrainNewsInsideATurnReleasesNobody) {
  const PeerId a = add("r", "a"), b = add("r", "b"), c = add("r", "c");
  link.peers[b].buffered = 990;
  from(a, std::string(100, 'z'));  // b holds a
  ASSERT_TRUE(link.peers[a].paused);
  link.peers[b].buffered = 0;
  relay.filter = [&](const Message&) {
    relay.on_buffered_low(b);      // arrives inside c's turn: queued
    link.peers[b].buffered = 995;  // and c's message takes b over the high water again
    return FilterResult::pass();
  };
  from(c, std::string(100, 'y'));
  relay.filter = nullptr;
  EXPECT_TRUE(link.peers[c].paused) << "b holds c now";
  EXPECT_TRUE(link.peers[a].paused) << "b is still over the high water: a stays held";
  link.peers[b].buffered = 0;
  relay.on_buffered_low(b);
  EXPECT_FALSE(link.peers[a].paused);
  EXPECT_FALSE(link.peers[c].paused);
}

TEST_F(RelayTest, ReconnectReplacesTheSessionWithoutLeaveOrJoin) {
  const PeerId a = add("r", "a"), b = add("r", "b");
  const size_t frames_before = link.peers[a].frames.size();
  const PeerId b2 = next_id++;
  link.peers[b2];
  const PeerId old = registry.replace_session("r", "b", b2);
  ASSERT_EQ(old, b);
  relay.session_replaced("r", "b", old);
  EXPECT_TRUE(link.peers[b].closed);
  EXPECT_EQ(link.peers[b].close_reason, "replaced by a reconnect");
  relay.on_channel_open(b2, 1, "peerrtc");
  EXPECT_TRUE(has_event(b2, "welcome", "b"));
  EXPECT_EQ(link.peers[a].frames.size(), frames_before) << "a saw no leave and no join";
  from(a, "again");
  EXPECT_EQ(count(b2, "ma\nagain"), 1u);
  EXPECT_EQ(count(b, "ma\nagain"), 0u);
}

// A sender that a congested receiver holds, and that then reconnects (a resume or a v1
// reconnect: session_replaced starts its new session unpaused), must be paused again by that
// receiver while it is still congested. It stayed in the receiver's waiting_senders, so the
// receiver took it for held already and let the new session send on (issue 19).
TEST_F(RelayTest, AResumedSenderIsPausedAgainByAReceiverStillCongested) {
  const PeerId a = add("r", "a"), c = add("r", "c");
  link.peers[c].buffered = 990;  // c is slow: over the high water (1000) with the next message
  from(a, std::string(100, 'z'));
  ASSERT_TRUE(link.peers[a].paused);
  const PeerId a2 = next_id++;
  link.peers[a2];
  relay.session_replaced("r", "a", registry.replace_session("r", "a", a2));
  relay.on_channel_open(a2, 1, "peerrtc");
  EXPECT_FALSE(link.peers[a2].paused) << "the new session starts unpaused";
  from(a2, std::string(100, 'y'));  // c is still over the high water
  EXPECT_TRUE(link.peers[a2].paused) << "c pauses the resumed sender again";
  EXPECT_EQ(relay.counters().senders_paused, 2u);
  link.peers[c].buffered = 0;
  relay.on_buffered_low(c);
  EXPECT_FALSE(link.peers[a2].paused) << "and lets it go once it drains";
}

// The same for a sender that left and joined again under its name (a fresh join).
TEST_F(RelayTest, ASenderThatLeftAndJoinedAgainIsPausedAgain) {
  const PeerId a = add("r", "a"), c = add("r", "c");
  link.peers[c].buffered = 990;
  from(a, std::string(100, 'z'));
  ASSERT_TRUE(link.peers[a].paused);
  relay.leave("r", "a", "left");
  ASSERT_EQ(registry.find("r", "a"), nullptr);
  const PeerId a2 = add("r", "a");
  from(a2, std::string(100, 'y'));
  EXPECT_TRUE(link.peers[a2].paused) << "c pauses the new member a";
  link.peers[c].buffered = 0;
  relay.on_buffered_low(c);
  EXPECT_FALSE(link.peers[a2].paused);
}

// Defect 4 (issue 10): participants received through the lossy hook queue (oldest dropped when
// full) while being counted as deliveries. Now each has its own lossless queue: 2,000 messages
// through a hook queue of 10 all arrive, in order.
TEST_F(RelayTest, ParticipantsGetEveryMessageInOrder) {
  Inbox in;
  relay.join_participant("r", "bot", in.make("r", "bot"));
  const PeerId a = add("r", "a");
  for (int i = 0; i < 2000; ++i) from(a, std::to_string(i));
  ASSERT_TRUE(in.wait([&] { return in.messages.size() == 2000; })) << in.messages.size();
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(in.messages[i].data, std::to_string(i));
  EXPECT_EQ(hooks.executor().dropped(), 0u);
  EXPECT_EQ(relay.counters().deliveries, 2000u);
}

// A slow participant holds its senders back like a slow peer, and lets them go once drained.
TEST_F(RelayTest, SlowParticipantPausesSendersUntilItDrains) {
  Inbox in;
  in.hold();
  relay.join_participant("r", "bot", in.make("r", "bot"));
  const PeerId a = add("r", "a");
  for (int i = 0; i < 12; ++i) from(a, std::string(100, 'a' + i));  // 1,200 bytes > high water
  EXPECT_TRUE(link.peers[a].paused);
  in.release();
  ASSERT_TRUE(in.wait([&] { return in.messages.size() == 12; }));
  run_posted(1);  // the drained participant tells the network thread
  EXPECT_FALSE(link.peers[a].paused);
}

// Past the maximum a participant is removed as too slow, told so, and counted; what it was
// given before still arrives.
TEST_F(RelayTest, ParticipantOverItsMaximumIsRemovedAndTold) {
  Inbox in;
  in.hold();
  relay.join_participant("r", "bot", in.make("r", "bot"));
  // 10,000 bytes fit; the drain task may or may not have taken the first message out already.
  for (int i = 0; i < 12; ++i)
    relay.send("r", "server", as_bytes(std::string(1000, static_cast<char>('a' + i))), false, std::nullopt, false);
  EXPECT_EQ(registry.find("r", "bot"), nullptr);
  EXPECT_EQ(relay.counters().slow_receivers_disconnected, 1u);
  EXPECT_EQ(relay.send("r", "server", as_bytes(std::string("after")), false, std::nullopt, false), 0u);
  in.release();
  ASSERT_TRUE(in.wait([&] {
    for (auto& e : in.events)
      if (e["type"] == "error" && e["code"] == "too_slow") return true;
    return false;
  }));
  // Everything queued before the removal arrived, in order, and nothing after it.
  std::lock_guard l(in.mu);
  const uint64_t delivered = relay.counters().deliveries;
  EXPECT_TRUE(delivered == 10u || delivered == 11u) << delivered;
  ASSERT_EQ(in.messages.size(), delivered) << "every delivery counted arrived";
  for (size_t i = 0; i < delivered; ++i) EXPECT_EQ(in.messages[i].data, std::string(1000, static_cast<char>('a' + i)));
}

// A message read while a turn runs (a sender resumed inside it) is copied and relayed right
// after the turn, in order; it is not lost and does not loop.
TEST_F(RelayTest, MessageArrivingInsideATurnIsRelayedAfterIt) {
  const PeerId a = add("r", "a"), b = add("r", "b"), c = add("r", "c");
  relay.filter = [&](const Message& m) {
    if (m.data == "outer") from(c, "inner");  // arrives while a's message is being relayed
    return FilterResult::pass();
  };
  from(a, "outer");
  relay.filter = nullptr;
  ASSERT_EQ(count(b, "ma\nouter"), 1u);
  ASSERT_EQ(count(b, "mc\ninner"), 1u);
  auto& fb = link.peers[b].frames;
  EXPECT_LT(std::find(fb.begin(), fb.end(), "ma\nouter"), std::find(fb.begin(), fb.end(), "mc\ninner"));
  EXPECT_EQ(count(a, "mc\ninner"), 1u);
}

// Stats::relay_latency: one sample per relayed message (not for the refused or dropped ones),
// timed from the message's arrival, so a message deferred behind a turn counts its wait too.
TEST_F(RelayTest, RelayLatencyHasOneSamplePerRelayedMessage) {
  const PeerId a = add("r", "a"), b = add("r", "b"), c = add("r", "c");
  for (int i = 0; i < 5; ++i) from(a, "hello " + std::to_string(i));
  const std::string nobody = "dnobody\nx", bad = "x";
  relay.on_message(a, 1, false, as_bytes(nobody));  // refused: unknown_peer
  relay.on_message(a, 1, false, as_bytes(bad));     // dropped: bad_frame
  relay.filter = [&](const Message& m) {
    if (m.data == "outer") {
      from(c, "inner");  // deferred behind this turn
      std::this_thread::sleep_for(3ms);
    }
    return FilterResult::pass();
  };
  from(b, "outer");
  relay.filter = nullptr;
  const Stats& s = relay.counters();
  EXPECT_EQ(s.messages_relayed, 7u);
  EXPECT_EQ(s.relay_latency.count, s.messages_relayed);
  uint64_t in_buckets = 0;
  for (uint64_t n : s.relay_latency.counts) in_buckets += n;
  EXPECT_EQ(in_buckets, 7u);
  // "outer" and "inner" both waited >= 3 ms: two samples above 2.5 ms.
  uint64_t above = 0;
  for (size_t i = 0; i < s.relay_latency.bounds_ns.size(); ++i)
    if (s.relay_latency.bounds_ns[i] > 2'500'000) above += s.relay_latency.counts[i];
  above += s.relay_latency.counts.back();
  EXPECT_EQ(above, 2u);
  EXPECT_GE(s.relay_latency.sum_ns, 6'000'000u);
}

// Stats::handshake: a sample when the channel of a session whose offer was accepted opens,
// once (a second open of the channel counts nothing); participants and peers added without an
// offer time count nothing.
TEST_F(RelayTest, HandshakeIsTimedFromTheOfferToTheChannelOpen) {
  add("r", "a");
  EXPECT_EQ(relay.counters().handshake.count, 0u);
  const PeerId id = next_id++;
  registry.add_peer("r", "b", id).offered_at = Clock::now() - 120ms;
  link.peers[id];
  relay.on_channel_open(id, 1, "peerrtc");
  relay.on_channel_open(id, 1, "peerrtc");  // ignored (its stream is set), and not timed again
  const auto& h = relay.counters().handshake;
  ASSERT_EQ(h.count, 1u);
  EXPECT_GE(h.sum_ns, 120'000'000u);
  EXPECT_LT(h.sum_ns, 10'000'000'000u);
  EXPECT_EQ(h.counts[5], 1u) << "in (100 ms, 250 ms]";
}

// A direct message to a peer that is not in the room is refused: the sender is told, nothing is
// counted as relayed or delivered, and the hooks never see it (an echo hook answered it before).
TEST_F(RelayTest, DirectMessageToNobodyIsNotRelayedNorHooked) {
  std::mutex hm;
  std::condition_variable hcv;
  std::vector<std::string> hooked;
  hooks.add_message([&](const Message& m) {
    std::lock_guard l(hm);
    hooked.push_back(m.data);
    hcv.notify_all();
  });
  const PeerId a = add("r", "a");
  add("r", "b");
  const std::string frame = "dnobody\nhello?";
  relay.on_message(a, 1, false, as_bytes(frame));
  EXPECT_TRUE(has_event(a, "error", ""));
  EXPECT_EQ(relay.counters().messages_relayed, 0u);
  EXPECT_EQ(relay.counters().deliveries, 0u);
  EXPECT_EQ(relay.counters().dropped_unknown_peer, 1u);
  from(a, "marker");  // the hook thread runs tasks in order: once the marker is hooked, so was all before it
  std::unique_lock l(hm);
  ASSERT_TRUE(hcv.wait_for(l, 2s, [&] { return !hooked.empty() && hooked.back() == "marker"; }));
  EXPECT_EQ(hooked, std::vector<std::string>{"marker"}) << "only the marker reached the hook";
}

TEST_F(RelayTest, SeveralMessageHooksAndRemoval) {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> one, two;
  auto id1 = hooks.add_message([&](const Message& msg) {
    std::lock_guard l(m);
    one.push_back(msg.data);
    cv.notify_all();
  });
  hooks.add_message([&](const Message& msg) {
    std::lock_guard l(m);
    two.push_back(msg.data);
    cv.notify_all();
  });
  const PeerId a = add("r", "a");
  add("r", "b");
  from(a, "first");
  {
    std::unique_lock l(m);
    ASSERT_TRUE(cv.wait_for(l, 2s, [&] { return one.size() == 1 && two.size() == 1; }));
  }
  EXPECT_TRUE(hooks.remove(id1));
  EXPECT_FALSE(hooks.remove(id1));
  from(a, "second");
  {
    std::unique_lock l(m);
    ASSERT_TRUE(cv.wait_for(l, 2s, [&] { return two.size() == 2; }));
  }
  std::lock_guard l(m);
  EXPECT_EQ(one, std::vector<std::string>{"first"});
  EXPECT_EQ(two, (std::vector<std::string>{"first", "second"}));
}

// Config::HookOverflow::Backpressure: a hook that cannot keep up pauses the peer whose messages
// fill its queue (its reads stop, as for a slow receiver) until the queue drains to the low
// water; nothing is dropped and the hook sees every message in order. The control: the same
// traffic with the default drop_oldest queue drops and counts.
namespace {
struct HookBackpressureRun {
  std::vector<std::string> seen;  // what the hook saw
  bool paused_while_full = false;
  bool paused_after_drain = true;
  uint64_t pauses = 0, dropped = 0;
  size_t delivered = 0;  // frames the other peer got
};

HookBackpressureRun run_slow_hook(bool backpressure) {
  HookBackpressureRun out;
  RegistryLimits limits;
  limits.message_rate = 0;
  limits.byte_rate = 0;
  RoomRegistry registry(limits);
  Hooks hooks(1, 4, backpressure);
  FakeLink link;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::function<void()>> posted;
  RelayConfig rc;
  if (backpressure) {
    rc.hook_high_water = 4;
    rc.hook_low_water = 2;
  }
  Relay relay(rc, registry, link, hooks, [&](std::function<void()> fn) {
    std::lock_guard lock(mu);
    posted.push_back(std::move(fn));
    cv.notify_all();
    return true;
  });
  link.relay = &relay;
  std::mutex hm;
  std::condition_variable hcv;
  bool open = false;
  hooks.add_message([&](const Message& m) {
    std::unique_lock l(hm);
    hcv.wait(l, [&] { return open; });  // a stuck database write, until the test opens it
    out.seen.push_back(m.data);
    hcv.notify_all();
  });
  registry.add_peer("r", "a", 1);
  link.peers[1];
  relay.on_channel_open(1, 1, "peerrtc");
  registry.add_peer("r", "b", 2);
  link.peers[2];
  relay.on_channel_open(2, 1, "peerrtc");
  for (int i = 0; i < 10; ++i) {
    const std::string f = "m" + std::to_string(i);
    relay.on_message(1, 1, false, as_bytes(f));
  }
  out.paused_while_full = link.peers[1].paused;
  out.pauses = relay.counters().hook_backpressure_pauses;
  {
    std::lock_guard l(hm);
    open = true;
  }
  hcv.notify_all();
  const size_t expect = backpressure ? 10 : 10 - hooks.executor().dropped();
  {
    std::unique_lock l(hm);
    hcv.wait_for(l, 5s, [&] { return out.seen.size() >= expect; });
  }
  // The drain callback posted the release to the "network thread" (this one).
  if (backpressure) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, 2s, [&] { return !posted.empty(); });
    auto tasks = std::move(posted);
    posted.clear();
    lock.unlock();
    for (auto& f : tasks) f();
  }
  out.paused_after_drain = link.peers[1].paused;
  out.dropped = hooks.executor().dropped();
  for (auto& f : link.peers[2].frames) out.delivered += f.rfind("ma\n", 0) == 0;
  hooks.executor().stop();
  std::lock_guard l(hm);
  return out;
}
}  // namespace

TEST(RelayHookBackpressure, AFullHookQueuePausesTheSenderUntilItDrainsAndLosesNothing) {
  auto r = run_slow_hook(true);
  EXPECT_TRUE(r.paused_while_full);
  EXPECT_EQ(r.pauses, 1u);  // held once, not once per message
  EXPECT_FALSE(r.paused_after_drain);
  EXPECT_EQ(r.dropped, 0u);
  std::vector<std::string> want;
  for (int i = 0; i < 10; ++i) want.push_back(std::to_string(i));
  EXPECT_EQ(r.seen, want);
  EXPECT_EQ(r.delivered, 10u);
}

TEST(RelayHookBackpressure, ControlDropOldestDropsAndNeverPauses) {
  auto r = run_slow_hook(false);
  EXPECT_FALSE(r.paused_while_full);
  EXPECT_EQ(r.pauses, 0u);
  EXPECT_GT(r.dropped, 0u);
  EXPECT_LT(r.seen.size(), 10u);
  EXPECT_EQ(r.delivered, 10u);
}

// The volatile lane (relay_volatile.cpp): a frame on a peer's `peerrtc-volatile` channel goes
// only to the other peers' volatile channels; a receiver without one, or congested, is skipped
// and counted; no hook, no history, no participant sees it.
TEST_F(RelayTest, VolatileFramesTakeOnlyTheVolatileChannelsAndAreDroppedWhereCongested) {
  std::atomic<int> hooked{0};
  hooks.add_message([&](const Message&) { ++hooked; });
  hooks.add_relayed([&](const Message&) { ++hooked; });
  const PeerId a = add("r", "a");
  const PeerId b = add("r", "b");
  const PeerId c = add("r", "c");
  const PeerId d = add("r", "d");  // no volatile channel
  Inbox in;
  relay.join_participant("r", "p", in.make("r", "p"));
  for (PeerId id : {a, b, c}) relay.on_channel_open(id, 3, "peerrtc-volatile");
  for (auto& [id, p] : link.peers) {
    p.frames.clear();
    p.streams.clear();
  }
  link.peers[c].outstanding = 1'000'000;  // c's association is congested
  const std::string f = "mcursor 1";
  relay.on_message(a, 3, false, as_bytes(f));
  ASSERT_EQ(link.peers[b].frames, std::vector<std::string>{"ma\ncursor 1"});
  EXPECT_EQ(link.peers[b].streams, std::vector<uint16_t>{3});  // on its volatile channel
  EXPECT_TRUE(link.peers[c].frames.empty());
  EXPECT_TRUE(link.peers[d].frames.empty());
  EXPECT_TRUE(link.peers[a].frames.empty());
  auto& st = relay.counters();
  EXPECT_EQ(st.volatile_relayed, 1u);
  EXPECT_EQ(st.volatile_deliveries, 1u);
  EXPECT_EQ(st.volatile_dropped_congested, 1u);
  EXPECT_EQ(st.volatile_dropped_no_channel, 1u);
  EXPECT_EQ(st.messages_relayed, 0u);
  // A direct volatile frame; then c is no longer congested and gets the next one.
  link.peers[c].outstanding = 0;
  const std::string g = "dc\nto c";
  relay.on_message(a, 3, false, as_bytes(g));
  EXPECT_EQ(link.peers[c].frames, std::vector<std::string>{"da\nto c"});
  // A bad one is refused on the reliable channel (stream 1), like any bad frame.
  const std::string bad = "dnobody\nx";
  relay.on_message(a, 3, false, as_bytes(bad));
  ASSERT_EQ(link.peers[a].frames.size(), 1u);
  EXPECT_EQ(link.peers[a].streams[0], 1);
  EXPECT_NE(link.peers[a].frames[0].find("unknown_peer"), std::string::npos);
  // Closing the volatile channel ends the lane, not the peer.
  relay.on_channel_closed(b, 3);
  EXPECT_FALSE(link.peers[b].closed);
  relay.on_message(a, 3, false, as_bytes(f));
  EXPECT_EQ(st.volatile_dropped_no_channel, 3u);  // d and now b
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(hooked, 0);
  std::lock_guard l(in.mu);
  EXPECT_TRUE(in.messages.empty());
}
