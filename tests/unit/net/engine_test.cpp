// End to end in one process over real loopback UDP: the server Engine and native ClientPeers on
// one Loop, through ICE-lite, DTLS, SCTP and DCEP.
#include "net/engine.hpp"

#include <gtest/gtest.h>

#include "run_until.hpp"

#include <boost/asio/io_context.hpp>
#include <random>

#include "net/client.hpp"
#include "sctp/sctp.hpp"

using namespace peerrtc;
using namespace std::chrono_literals;

namespace {

struct ServerPeer {
  bool connected = false;
  std::string closed;
  std::vector<std::pair<bool, Bytes>> messages;
  std::vector<rtc::ChannelInfo> channels;
};

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : loop(io) {}

  template <typename Pred>
  bool run_until(Pred pred, std::chrono::milliseconds timeout = 5s) {
    return test::run_until(io, pred, timeout);
  }

  net::Engine& engine(net::EngineConfig cfg = {}) {
    if (!engine_) engine_ = std::make_unique<net::Engine>(loop, cfg);
    return *engine_;
  }

  // Server side echoes every message back; records everything.
  net::Engine::CallbackFactory echo_factory() {
    return [this](net::PeerId id) {
      rtc::PeerConnection::Callbacks cb;
      cb.on_connected = [this, id] { server[id].connected = true; };
      cb.on_channel_open = [this, id](const rtc::ChannelInfo& ch) { server[id].channels.push_back(ch); };
      cb.on_message = [this, id](uint16_t s, bool bin, ByteView m) {
        server[id].messages.emplace_back(bin, Bytes(m.begin(), m.end()));
        engine_->peer(id)->send(s, m, bin);
      };
      cb.on_closed = [this, id](const std::string& r) { server[id].closed = r; };
      return cb;
    };
  }

  struct Client {
    std::unique_ptr<net::ClientPeer> peer;
    bool connected = false;
    std::string closed;
    std::vector<std::pair<bool, Bytes>> messages;
    std::vector<rtc::ChannelInfo> opened;
    net::PeerId server_id = 0;
  };

  std::unique_ptr<Client> connect(rtc::Config cfg = {}) {
    auto c = std::make_unique<Client>();
    auto* raw = c.get();
    rtc::PeerConnection::Callbacks cb;
    cb.on_connected = [raw] { raw->connected = true; };
    cb.on_message = [raw](uint16_t, bool bin, ByteView m) { raw->messages.emplace_back(bin, Bytes(m.begin(), m.end())); };
    cb.on_channel_open = [raw](const rtc::ChannelInfo& ch) { raw->opened.push_back(ch); };
    cb.on_closed = [raw](const std::string& r) { raw->closed = r; };
    c->peer = std::make_unique<net::ClientPeer>(loop, cfg, std::move(cb), engine().certificate());
    auto accepted = engine().accept_offer(c->peer->offer(), echo_factory());
    EXPECT_TRUE(accepted) << (accepted ? "" : accepted.error());
    if (!accepted) return c;
    c->server_id = accepted->id;
    auto ok = c->peer->set_answer(accepted->answer);
    EXPECT_TRUE(ok) << (ok ? "" : ok.error());
    EXPECT_TRUE(run_until([&] { return raw->connected && server[raw->server_id].connected; }));
    return c;
  }

  boost::asio::io_context io;
  net::Loop loop;
  std::unique_ptr<net::Engine> engine_;
  std::map<net::PeerId, ServerPeer> server;
};

TEST_F(EngineTest, ConnectsAndEchoesTextAndBinaryAllSizes) {
  auto c = connect();
  ASSERT_TRUE(c->connected);
  rtc::ChannelInit init;
  init.label = "chat";
  init.protocol = "json";
  auto s = c->peer->pc().open_channel(init);
  ASSERT_TRUE(s);
  ASSERT_TRUE(run_until([&] { return server[c->server_id].channels.size() == 1; }));
  EXPECT_EQ(server[c->server_id].channels[0].init.label, "chat");
  EXPECT_EQ(server[c->server_id].channels[0].init.protocol, "json");
  size_t expected = 0;
  for (size_t size : {0u, 1u, 1200u, 16384u, 65536u, 262144u}) {
    for (bool binary : {false, true}) {
      Bytes msg(size);
      for (size_t i = 0; i < size; ++i) msg[i] = static_cast<uint8_t>(binary ? i * 7 : 'a' + i % 26);
      ASSERT_EQ(c->peer->pc().send(*s, msg, binary), rtc::SendStatus::Ok);
      ++expected;
      ASSERT_TRUE(run_until([&] { return c->messages.size() == expected; })) << size;
      EXPECT_EQ(c->messages.back().first, binary);
      EXPECT_EQ(c->messages.back().second, msg) << size;
    }
  }
  EXPECT_EQ(c->peer->pc().send(*s, Bytes(262145), true), rtc::SendStatus::TooLarge);
}

TEST_F(EngineTest, ChannelsBeyondTheServersStreamCountAreRefusedClearly) {
  net::EngineConfig ec;
  ec.peer.sctp_streams = 4;  // ids 0..3: the client (DTLS client, even ids) gets 0 and 2
  engine(ec);
  rtc::Config client_cfg;
  client_cfg.sctp_streams = 1024;  // offers more; the association settles on the server's 4
  auto c = connect(client_cfg);
  ASSERT_TRUE(c->connected);
  rtc::ChannelInit init;
  init.label = "a";
  auto s0 = c->peer->pc().open_channel(init);
  auto s2 = c->peer->pc().open_channel(init);
  ASSERT_TRUE(s0 && s2);
  EXPECT_EQ(*s0, 0);
  EXPECT_EQ(*s2, 2);
  auto s4 = c->peer->pc().open_channel(init);
  ASSERT_FALSE(s4) << "stream " << *s4;
  EXPECT_NE(s4.error().find("no free SCTP stream"), std::string::npos) << s4.error();
  ASSERT_TRUE(run_until([&] { return server[c->server_id].channels.size() == 2; }));
  ASSERT_EQ(c->peer->pc().send_text(*s2, "on stream 2"), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return c->messages.size() == 1; }));
  EXPECT_TRUE(c->closed.empty());
}

// aiortc 1.4, a DTLS client, opens its first channel on stream 1 (the server's parity under RFC
// 8832 §6). The parity rule binds the ids a side chooses itself, so the server accepts any free
// stream, as libwebrtc does, and refuses only one in use.
TEST_F(EngineTest, RemoteOpenOnAnyFreeStreamIsAcceptedAndAStreamInUseIsNot) {
  auto c = connect();
  auto* spc = engine().peer(c->server_id);
  ASSERT_NE(spc, nullptr);
  rtc::ChannelInit init;
  init.label = "odd";
  init.id = 1;
  auto s1 = c->peer->pc().open_channel(init);
  ASSERT_TRUE(s1) << s1.error();
  EXPECT_EQ(*s1, 1);
  ASSERT_TRUE(run_until([&] { return server[c->server_id].channels.size() == 1; }));
  EXPECT_EQ(server[c->server_id].channels[0].stream, 1);
  EXPECT_EQ(server[c->server_id].channels[0].init.label, "odd");
  ASSERT_EQ(c->peer->pc().send_text(1, "on stream 1"), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return c->messages.size() == 1; }));
  EXPECT_EQ(std::string(c->messages[0].second.begin(), c->messages[0].second.end()), "on stream 1");

  // Our own next id skips the stream the remote took (the server's parity is odd: 3, not 1).
  rtc::ChannelInit mine;
  mine.label = "server";
  auto s = spc->open_channel(mine);
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(*s, 3);
  ASSERT_TRUE(run_until([&] { return c->opened.size() == 1; }));

  // Locally: an id in use or past the count is refused with a clear error.
  auto again = c->peer->pc().open_channel(init);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().find("stream 1 is in use"), std::string::npos) << again.error();
  init.id = 64;
  auto past = c->peer->pc().open_channel(init);
  ASSERT_FALSE(past);
  EXPECT_NE(past.error().find("past the negotiated count"), std::string::npos) << past.error();

  // Remotely: both sides open stream 5 at once (glare). Each side's OPEN then arrives on a
  // stream in use there, and is dropped and counted (dcep_bad); both peers keep working.
  const auto bad_before = spc->counters().dcep_bad;
  init.id = 5;
  init.label = "client5";
  mine.id = 5;
  ASSERT_TRUE(c->peer->pc().open_channel(init));
  ASSERT_TRUE(spc->open_channel(mine));
  ASSERT_TRUE(run_until([&] {
    return spc->counters().dcep_bad == bad_before + 1 && c->peer->pc().counters().dcep_bad == 1;
  }));
  EXPECT_EQ(server[c->server_id].channels.size(), 1u);
  ASSERT_EQ(c->peer->pc().send_text(1, "still here"), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return c->messages.size() == 2; }));
  EXPECT_TRUE(c->closed.empty());
}

TEST_F(EngineTest, ServerOpensChannelWithReliabilityParameters) {
  auto c = connect();
  auto* pc = engine().peer(c->server_id);
  ASSERT_NE(pc, nullptr);
  rtc::ChannelInit init;
  init.label = "server";
  init.ordered = false;
  init.max_retransmits = 3;
  auto s = pc->open_channel(init);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s % 2, 1) << "the DTLS server uses odd stream ids";
  ASSERT_TRUE(run_until([&] { return c->opened.size() == 1; }));
  EXPECT_EQ(c->opened[0].init.label, "server");
  EXPECT_FALSE(c->opened[0].init.ordered);
  EXPECT_EQ(c->opened[0].init.max_retransmits, std::optional<uint16_t>(3));
  ASSERT_EQ(pc->send_text(*s, "hello"), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return c->messages.size() == 1; }));
  EXPECT_EQ(std::string(c->messages[0].second.begin(), c->messages[0].second.end()), "hello");
}

TEST_F(EngineTest, ClientCloseIsSeenAndEverythingIsFreed) {
  auto c = connect();
  c->peer->pc().close("bye");
  ASSERT_TRUE(run_until([&] { return !server[c->server_id].closed.empty(); }));
  ASSERT_TRUE(run_until([&] { return engine().stats().peers == 0; }));
  c.reset();
  EXPECT_EQ(sctp::Stack::associations(), 0u);
}

TEST_F(EngineTest, VanishedClientTimesOutByConsent) {
  net::EngineConfig cfg;
  cfg.peer.consent_timeout = 1000ms;
  engine(cfg);
  auto c = connect();
  auto id = c->server_id;
  c->peer->set_offline(true);  // the network is cut: not even an ABORT gets out
  c.reset();
  ASSERT_TRUE(run_until([&] { return !server[id].closed.empty(); }, 5s));
  EXPECT_NE(server[id].closed.find("consent"), std::string::npos) << server[id].closed;
  ASSERT_TRUE(run_until([&] { return engine().stats().peers == 0; }));
}

TEST_F(EngineTest, BadOfferIsRefusedClearly) {
  auto r = engine().accept_offer("v=0\r\nnot really sdp\r\n", echo_factory());
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error().empty());
  EXPECT_EQ(engine().stats().peers, 0u);
}

TEST_F(EngineTest, GarbageDatagramsDoNotDisturbAConnectedPeer) {
  auto c = connect();
  rtc::ChannelInit init;
  init.label = "x";
  auto s = c->peer->pc().open_channel(init);
  ASSERT_TRUE(s);
  boost::asio::ip::udp::socket junk(io, boost::asio::ip::udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  boost::asio::ip::udp::endpoint to(boost::asio::ip::make_address("127.0.0.1"), engine().udp_port());
  std::mt19937 rng(1);
  for (int i = 0; i < 500; ++i) {
    Bytes b(1 + rng() % 300);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    if (i % 3 == 0) b[0] = static_cast<uint8_t>(rng() % 4);  // STUN-looking
    if (i % 3 == 1) b[0] = 22;                               // DTLS-looking
    junk.send_to(boost::asio::buffer(b), to);
  }
  ASSERT_EQ(c->peer->pc().send_text(*s, "still here"), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return c->messages.size() == 1; }));
  EXPECT_GT(engine().stats().dropped_unknown, 0u);
}

TEST_F(EngineTest, ManyPeersAtOnce) {
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(connect());
  for (auto& c : clients) ASSERT_TRUE(c->connected);
  EXPECT_EQ(engine().stats().peers, 20u);
  engine().close_all("shutdown");
  for (auto& c : clients) ASSERT_TRUE(run_until([&] { return !c->closed.empty(); }));
  ASSERT_TRUE(run_until([&] { return engine().stats().peers == 0; }));
}

}  // namespace
