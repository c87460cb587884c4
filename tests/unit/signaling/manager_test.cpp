// SignalingManager through its public API with server-side participants (no WebRTC peers: the
// wire is covered by tests/client and tests/interop). One manager per process at a time.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "peerrtc/peerrtc.hpp"

using namespace peerrtc;
using namespace std::chrono_literals;

namespace {

struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Message> messages;
  std::vector<json> events;
  void add(const Message& m) {
    std::lock_guard l(mu);
    messages.push_back(m);
    cv.notify_all();
  }
  void add(const json& e) {
    std::lock_guard l(mu);
    events.push_back(e);
    cv.notify_all();
  }
  template <typename P>
  bool wait(P pred, std::chrono::milliseconds t = 3s) {
    std::unique_lock l(mu);
    return cv.wait_for(l, t, pred);
  }
};

std::shared_ptr<Participant> join(SignalingManager& m, const std::string& room, const std::string& name, Inbox& in) {
  return m.join(room, name, [&in](const Message& msg) { in.add(msg); }, [&in](const json& e) { in.add(e); });
}

Config local() {
  Config c;
  c.udp_bind = "127.0.0.1";
  return c;
}

TEST(Manager, OnlyOnePerProcess) {
  SignalingManager a(local());
  EXPECT_THROW(SignalingManager b(local()), std::logic_error);
}

TEST(Manager, SctpStreamCountBelowTwoIsRefused) {
  Config c = local();
  c.sctp_streams = 1;
  EXPECT_THROW(SignalingManager m(c), std::invalid_argument);
  c.sctp_streams = 2;
  SignalingManager ok(c);  // the failed one did not count as the process's manager
}

TEST(Manager, IceSettingsAreCheckedAtConstruction) {
  Config c = local();
  c.ice_servers = {"turn:turn.example.org:3478"};  // TURN without credentials
  EXPECT_THROW(SignalingManager m(c), std::invalid_argument);
  c.ice_servers.clear();
  c.turn_urls = {"turn:turn.example.org:3478"};
  EXPECT_THROW(SignalingManager m(c), std::invalid_argument);
  c.turn_secret = "s3cret";
  SignalingManager ok(c);
}

TEST(Manager, IceConfigMintsPerPeerAndRefusesBadPeerIds) {
  Config c = local();
  c.turn_urls = {"turn:127.0.0.1:3478?transport=udp"};
  c.turn_secret = "s3cret";
  c.turn_ttl = std::chrono::seconds(3600);
  SignalingManager m(c);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  json a = m.ice_config("alice");
  EXPECT_EQ(a["ttl"], 3600);
  const std::string user = a["iceServers"][0]["username"];
  ASSERT_NE(user.find(':'), std::string::npos);
  EXPECT_EQ(user.substr(user.find(':')), ":alice");
  const long long expiry = std::stoll(user.substr(0, user.find(':')));
  EXPECT_GE(expiry, now + 3600);
  EXPECT_LE(expiry, now + 3600 + 5);
  // No peer id: a random one, different each time.
  json r1 = m.ice_config(), r2 = m.ice_config();
  EXPECT_NE(r1["iceServers"][0]["username"], r2["iceServers"][0]["username"]);
  for (const char* bad : {" leading space", "server", "x\ny", "caf\xe9"}) {
    try {
      m.ice_config(bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400) << bad;
    }
  }
}

TEST(Manager, PresenceAndRelayBetweenParticipants) {
  Inbox a, b, c;  // outlive the manager: its hook threads deliver to them
  SignalingManager m(local());
  auto pa = join(m, "r1", "alice", a);
  ASSERT_TRUE(a.wait([&] { return !a.events.empty(); }));
  EXPECT_EQ(a.events[0]["type"], "welcome");
  EXPECT_TRUE(a.events[0]["peers"].empty());
  auto pb = join(m, "r1", "bob", b);
  ASSERT_TRUE(b.wait([&] { return !b.events.empty(); }));
  EXPECT_EQ(b.events[0]["peers"], json::array({"alice"}));
  ASSERT_TRUE(a.wait([&] { return a.events.size() == 2; }));
  EXPECT_EQ(a.events[1], (json{{"type", "peer_joined"}, {"peer_id", "bob"}}));

  auto pc = join(m, "r2", "carol", c);  // another room: no cross-talk
  ASSERT_TRUE(pa->send("hello"));
  ASSERT_TRUE(b.wait([&] { return b.messages.size() == 1; }));
  EXPECT_EQ(b.messages[0].sender, "alice");
  EXPECT_EQ(b.messages[0].data, "hello");
  EXPECT_FALSE(b.messages[0].binary);
  // Markers: send() returns once the network thread relayed, and participants' callbacks run
  // in order on the one hook thread, so whatever arrives next was queued after "hello" was.
  ASSERT_TRUE(pb->send(std::string("\x00\xff", 2), true));
  ASSERT_TRUE(a.wait([&] { return !a.messages.empty(); }));
  ASSERT_EQ(a.messages.size(), 1u) << "a sender never receives its own message (it would come first)";
  EXPECT_TRUE(a.messages[0].binary);
  EXPECT_EQ(a.messages[0].sender, "bob");
  EXPECT_EQ(a.messages[0].data, std::string("\x00\xff", 2));
  EXPECT_EQ(m.broadcast("r2", "marker"), 1u);
  ASSERT_TRUE(c.wait([&] { return !c.messages.empty(); }));
  ASSERT_EQ(c.messages.size(), 1u) << "no cross-talk: carol got something of r1 before the marker";
  EXPECT_EQ(c.messages[0].sender, "server");
  EXPECT_EQ(c.messages[0].data, "marker");

  auto info = m.rooms_info();
  ASSERT_EQ(info["rooms"].size(), 2u);
  EXPECT_EQ(m.room_peers("r1")["peers"], json::array({"alice", "bob"}));

  pb->leave();
  ASSERT_TRUE(a.wait([&] { return a.events.size() == 3; }));
  EXPECT_EQ(a.events[2]["type"], "peer_left");
  EXPECT_EQ(a.events[2]["peer_id"], "bob");
  pc.reset();  // destruction leaves
  ASSERT_TRUE(m.rooms_info()["rooms"].size() == 1);
  EXPECT_THROW(m.room_peers("r2"), ApiError);
}

TEST(Manager, UnicodeNamesAreDistinctByteForByte) {
  // docs/protocol.md "Names": any UTF-8; compared as bytes, so case and NFC/NFD differ.
  const std::string room = "g\xc3\xa9n\xc3\xa9ral";    // général
  const std::string nfc = "Jos\xc3\xa9";               // José (U+00E9)
  const std::string lower = "jos\xc3\xa9";             // josé
  const std::string nfd = "Jose\xcc\x81";              // José (e + U+0301)
  const std::string fox = "\xf0\x9f\xa6\x8a";          // 🦊
  Inbox a, b, c, d;
  SignalingManager m(local());
  auto pa = join(m, room, nfc, a);
  auto pb = join(m, room, lower, b);
  auto pc = join(m, room, nfd, c);
  auto pd = join(m, room, fox, d);
  json peers = m.room_peers(room)["peers"];
  ASSERT_EQ(peers.size(), 4u) << peers.dump();
  for (const auto& n : {nfc, lower, nfd, fox}) EXPECT_NE(std::find(peers.begin(), peers.end(), n), peers.end()) << n;
  EXPECT_EQ(m.rooms_info()["rooms"][0]["room"], room);
  // A direct message to each reaches that one only; the sender is stamped byte-exact.
  ASSERT_TRUE(pd->send_to(nfc, "to NFC"));
  ASSERT_TRUE(pd->send_to(lower, "to lower"));
  ASSERT_TRUE(pd->send_to(nfd, "to NFD"));
  ASSERT_TRUE(pa->send_to(fox, "to the fox"));
  for (auto* in : {&a, &b, &c, &d}) ASSERT_TRUE(in->wait([&] { return in->messages.size() == 1; }));
  EXPECT_EQ(a.messages[0].data, "to NFC");
  EXPECT_EQ(b.messages[0].data, "to lower");
  EXPECT_EQ(c.messages[0].data, "to NFD");
  EXPECT_EQ(d.messages[0].data, "to the fox");
  EXPECT_EQ(d.messages[0].sender, nfc);
  EXPECT_EQ(a.messages[0].sender, fox);
  // Taken is taken byte-exact too.
  EXPECT_THROW(m.join(room, nfd, nullptr), ApiError);
}

TEST(Manager, OrderPerSenderIsKept) {
  Inbox a, b;
  SignalingManager m(local());
  auto pa = join(m, "r", "a", a);
  auto pb = join(m, "r", "b", b);
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(pa->send(std::to_string(i)));
  ASSERT_TRUE(b.wait([&] { return b.messages.size() == 500; }));
  for (int i = 0; i < 500; ++i) EXPECT_EQ(b.messages[i].data, std::to_string(i));
}

TEST(Manager, DirectMessagesAndBroadcasts) {
  Inbox a, b, c;
  SignalingManager m(local());
  auto pa = join(m, "r", "a", a);
  auto pb = join(m, "r", "b", b);
  auto pc = join(m, "r", "c", c);
  EXPECT_TRUE(pa->send_to("c", "psst"));
  ASSERT_TRUE(c.wait([&] { return c.messages.size() == 1; }));
  EXPECT_EQ(c.messages[0].to, std::optional<std::string>("c"));
  EXPECT_FALSE(pa->send_to("nobody", "x"));
  Broadcaster br(m);
  EXPECT_EQ(br.broadcast("r", "from the backend"), 3u);
  ASSERT_TRUE(a.wait([&] { return a.messages.size() == 1; }));
  EXPECT_EQ(a.messages[0].sender, "server");
  EXPECT_TRUE(br.send("r", "b", "just you"));
  ASSERT_TRUE(b.wait([&] { return b.messages.size() == 2; }));
  EXPECT_EQ(b.messages[1].data, "just you");
  EXPECT_EQ(br.broadcast("no-such-room", "x"), 0u);
  // Marker: c gets nothing of "just you" (to b) nor of the broadcast to another room; what it
  // gets next is the marker, queued after both.
  EXPECT_TRUE(br.send("r", "c", "marker"));
  ASSERT_TRUE(c.wait([&] { return c.messages.size() >= 3; }));
  ASSERT_EQ(c.messages.size(), 3u);
  EXPECT_EQ(c.messages[1].data, "from the backend");
  EXPECT_EQ(c.messages[2].data, "marker");
  EXPECT_EQ(c.messages[2].to, std::optional<std::string>("c"));
  EXPECT_THROW(br.broadcast("r", std::string(300000, 'x')), ApiError);
}

TEST(Manager, HooksSeeMessagesAndPresence) {
  Inbox hook;  // outlives the manager: hooks may still run until it stops
  SignalingManager m(local());
  std::vector<std::string> joined, left;
  m.on_message([&](const Message& msg) { hook.add(msg); });
  m.on_peer_joined([&](const std::string& room, const std::string& id, const json&) {
    hook.add(json{{"joined", room + "/" + id}});
  });
  m.on_peer_left([&](const std::string& room, const std::string& id, const json& info) {
    hook.add(json{{"left", room + "/" + id}, {"reason", info["reason"]}});
  });
  auto pa = m.join("r", "a", nullptr);
  auto pb = m.join("r", "b", nullptr);
  pa->send("saved");
  pb->leave();
  ASSERT_TRUE(hook.wait([&] { return hook.messages.size() == 1 && hook.events.size() == 3; }));
  EXPECT_EQ(hook.messages[0].data, "saved");
  EXPECT_EQ(hook.events[0]["joined"], "r/a");
  EXPECT_EQ(hook.events[1]["joined"], "r/b");
  EXPECT_EQ(hook.events[2]["left"], "r/b");
}

TEST(Manager, SlowHookNeverStallsTheRelayAndDropsAreCounted) {
  Config cfg = local();
  cfg.hook_queue_capacity = 10;
  std::atomic<bool> release{false};  // outlives the manager
  SignalingManager m(cfg);
  m.on_message([&](const Message&) {
    while (!release) std::this_thread::sleep_for(1ms);
  });
  auto pb = m.join("r", "b", [](const Message&) {});
  auto pa = m.join("r", "a", nullptr);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(pa->send("x"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  auto s = m.stats();
  EXPECT_GT(s.hook_dropped, 0u);
  EXPECT_EQ(s.deliveries, 200u) << "the relay went on while the hook was stuck";
  release = true;
}

TEST(Manager, ApiErrorsAreClear) {
  Inbox in;
  SignalingManager m(local());
  auto expect_status = [](int status, auto fn) {
    try {
      fn();
      ADD_FAILURE() << "no error";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), status) << e.what();
      EXPECT_GT(std::string(e.what()).size(), 5u);
    }
  };
  json good = {{"sdp", "v=0"}, {"type", "offer"}};
  expect_status(400, [&] { m.offer("bad room ", "a", good); });  // trailing space
  expect_status(400, [&] { m.offer("r", std::string(65, 'a'), good); });
  expect_status(400, [&] { m.offer("r", "server", good); });
  expect_status(400, [&] { m.offer("r", "a", json::array()); });
  expect_status(400, [&] { m.offer("r", "a", {{"sdp", 5}}); });
  expect_status(400, [&] { m.offer("r", "a", {{"sdp", "v=0"}, {"type", "answer"}}); });
  expect_status(400, [&] { m.offer("r", "a", {{"sdp", "v=0"}}); });  // type is required
  expect_status(400, [&] { m.offer("r", "a", good); });  // not a real offer
  expect_status(404, [&] { m.leave("r", "a", "t"); });
  expect_status(400, [&] { m.candidate("r", "a", 5, "t"); });
  expect_status(400, [&] { m.candidate("r", "a", {{"candidate", "garbage"}}, "t"); });
  expect_status(404, [&] { m.candidate("r", "a", {{"candidate", ""}}, "t"); });
  auto p = join(m, "r", "taken", in);
  expect_status(409, [&] { m.join("r", "taken", nullptr); });
  expect_status(403, [&] { m.leave("r", "taken", "x"); });

  // A name from C++ may be any bytes: the error quotes it as sent, invalid bytes as \xNN.
  try {
    m.offer("g\xe9n\xe9ral", "a", good);
    ADD_FAILURE() << "Latin-1 room accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_STREQ(e.what(), "invalid room \"g\\xE9n\\xE9ral\": invalid UTF-8 at byte 1");
  }
  try {
    m.room_peers("g\xc3\xa9n\xc3\xa9ral");  // valid UTF-8, no such room
    ADD_FAILURE() << "unknown room found";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_STREQ(e.what(), "no room \"g\xc3\xa9n\xc3\xa9ral\"");
  }

  auto [status, body] = m.handle("offer", "{not json");
  EXPECT_EQ(status, 400);
  EXPECT_TRUE(body.contains("error"));
  std::tie(status, body) = m.handle("leave", R"({"room": "r"})");
  EXPECT_EQ(status, 400);
  EXPECT_EQ(body["error"], "missing field 'peer_id'");
  std::tie(status, body) = m.handle("leave", R"({"room": "r", "peer_id": 7})");
  EXPECT_EQ(status, 400);
  std::tie(status, body) = m.handle("offer", R"({"room": "r", "peer_id": "x"})");
  EXPECT_EQ(status, 400);
  EXPECT_EQ(m.stats().peers, 0u) << "no half-created peer";
}

TEST(Manager, ShutdownIsIdempotentAndLaterCallsFailClearly) {
  Inbox in;
  SignalingManager m(local());
  auto p = join(m, "r", "a", in);
  m.shutdown();
  m.shutdown();
  EXPECT_FALSE(p->send("x"));
  EXPECT_THROW(m.rooms_info(), ApiError);
}

}  // namespace

TEST(Manager, EvictRoomTellsMovedAndDropsTheRoomWithoutPresence) {
  Inbox a, b;
  SignalingManager m(local());
  std::atomic<int> left{0};
  m.on_peer_left([&](const std::string&, const std::string&, const json&) { ++left; });
  auto pa = join(m, "moving", "alice", a);
  auto pb = join(m, "moving", "bob", b);
  ASSERT_TRUE(a.wait([&] { return a.events.size() == 2; }));  // welcome, bob joined
  EXPECT_EQ(m.evict_room("moving", "lease lost"), 2u);
  ASSERT_TRUE(a.wait([&] { return a.events.size() == 3; }));
  EXPECT_EQ(a.events[2], (json{{"type", "moved"}, {"reason", "lease lost"}}));
  EXPECT_THROW(m.room_peers("moving"), ApiError);  // gone from this node
  EXPECT_EQ(m.evict_room("moving", "again"), 0u);
  EXPECT_EQ(m.evict_room("nowhere", "x"), 0u);
  EXPECT_THROW(m.evict_room("bad\nname", "x"), ApiError);
  EXPECT_EQ(left.load(), 0) << "no presence hook for a room that moved";
}

TEST(Manager, OfferV2FieldsAreChecked) {
  SignalingManager m(local());
  const json offer{{"sdp", "v=0\r\n"}, {"type", "offer"}};
  // Bad v2 fields are a 400 before the SDP is looked at.
  for (const json& f : {json{{"protocol", 0}}, json{{"protocol", "2"}}, json{{"protocol", 1}, {"resume", {{"epoch", "e"}, {"seq", 1}}}},
                        json{{"protocol", 2}, {"resume", "x"}}, json{{"protocol", 2}, {"resume", {{"epoch", ""}, {"seq", 1}}}},
                        json{{"protocol", 2}, {"resume", {{"epoch", "e"}, {"seq", -1}}}},
                        json{{"protocol", 2}, {"resume", {{"epoch", "e"}, {"seq", 9007199254740992ull}}}}}) {
    try {
      m.offer("r", "p", offer, "", "", f);
      ADD_FAILURE() << f.dump() << " accepted";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400) << f.dump();
      const std::string what = e.what();  // the v2 field's error, not the (bad) SDP's
      EXPECT_TRUE(what.find("protocol") != std::string::npos || what.find("resume") != std::string::npos) << what;
    }
  }
  auto [status, body] = m.handle("offer", R"({"room":"r","peer_id":"p","offer":{"sdp":"v=0\r\n","type":"offer"},"protocol":2,"resume":{"epoch":"e","seq":"1"}})");
  EXPECT_EQ(status, 400);
  EXPECT_NE(body["error"].get<std::string>().find("resume.seq"), std::string::npos) << body.dump();
}
