// A loop turn (the writer's and SCTP's batch) must end whatever happens under it. If a throw
// skipped the end, SCTP's batch depth stayed above zero and every association's small messages
// were held for ever: the data plane wedged with no error (issue 21). Here a frame's handling
// throws on the ICE-TCP path and on the UDP path, and a peer on UDP must still be served.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <boost/asio/io_context.hpp>
#include <sstream>

#include "common/log.hpp"
#include "net/client.hpp"
#include "net/engine.hpp"
#include "net/rfc4571.hpp"
#include "net/turn_guard.hpp"
#include "sctp/sctp.hpp"

using namespace peerrtc;
using namespace std::chrono_literals;

namespace {

TEST(TurnGuard, EndsTheTurnWhenTheBodyThrows) {
  int depth = 0, ends = 0;
  net::TurnFn turn = [&](bool begin) {
    depth += begin ? 1 : -1;
    ends += begin ? 0 : 1;
  };
  EXPECT_THROW(
      {
        net::TurnGuard g(turn);
        EXPECT_EQ(depth, 1);
        throw std::runtime_error("under the turn");
      },
      std::runtime_error);
  EXPECT_EQ(depth, 0);
  {
    net::TurnGuard g(turn);
    g.restart();  // ends the turn so far and begins the next (a burst limit mid-read)
    EXPECT_EQ(depth, 1);
  }
  EXPECT_EQ(depth, 0);
  EXPECT_EQ(ends, 3);
}

class ThrowingTurnTest : public ::testing::Test {
 protected:
  ThrowingTurnTest() : loop(io), engine(loop, {}) {
    log_sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text);
    log().sinks().push_back(log_sink);
  }
  ~ThrowingTurnTest() override {
    auto& sinks = log().sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), log_sink), sinks.end());
    for (int fd : fds) ::close(fd);
  }

  // Runs the loop like net::NetThread does: an exception that escapes a handler is logged there
  // and the loop goes on; here it is counted in `escaped`.
  template <typename Pred>
  bool run_until(Pred pred, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      try {
        io.run_for(5ms);
      } catch (const std::exception&) {
        ++escaped;
      }
    }
    return true;
  }

  // A UDP client whose messages the server echoes; connected, with one channel open.
  void connect_client() {
    rtc::PeerConnection::Callbacks cb;
    cb.on_connected = [this] { client_connected = true; };
    cb.on_message = [this](uint16_t, bool, ByteView m) { echoes.emplace_back(m.begin(), m.end()); };
    client = std::make_unique<net::ClientPeer>(loop, rtc::Config{}, std::move(cb), engine.certificate());
    auto accepted = engine.accept_offer(client->offer(), [this](net::PeerId id) {
      rtc::PeerConnection::Callbacks s;
      s.on_message = [this, id](uint16_t stream, bool bin, ByteView m) { engine.peer(id)->send(stream, m, bin); };
      return s;
    });
    ASSERT_TRUE(accepted) << accepted.error();
    ASSERT_TRUE(client->set_answer(accepted->answer));
    ASSERT_TRUE(run_until([&] { return client_connected; }));
    rtc::ChannelInit init;
    init.label = "echo";
    auto s = client->pc().open_channel(init);
    ASSERT_TRUE(s);
    stream = *s;
  }

  // Sends a small message (held by SCTP's batch while a turn is open) and waits for its echo.
  bool echoed(const std::string& text, std::chrono::milliseconds timeout = 2s) {
    const size_t before = echoes.size();
    if (client->pc().send_text(stream, text) != rtc::SendStatus::Ok) return false;
    return run_until([&] { return echoes.size() > before && std::string(echoes.back().begin(), echoes.back().end()) == text; },
                     timeout);
  }

  int dial_tcp() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(engine.udp_port());
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);  // EINPROGRESS; loopback completes
    fds.push_back(fd);
    return fd;
  }

  boost::asio::io_context io;
  net::Loop loop;
  net::Engine engine;
  std::ostringstream log_text;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> log_sink;
  std::unique_ptr<net::ClientPeer> client;
  bool client_connected = false;
  uint16_t stream = 0;
  std::vector<Bytes> echoes;
  std::vector<int> fds;
  int escaped = 0;
};

TEST_F(ThrowingTurnTest, AThrowingIceTcpFrameDoesNotWedgeOtherAssociations) {
  connect_client();
  ASSERT_TRUE(echoed("before"));
  // Every ICE-TCP frame's handling throws from here on (the hook runs under the connection's
  // turn, where a bug in the layers below or a throwing callback would).
  engine.set_receive_hook([](ByteView, const stun::Address& from) {
    if (from.tcp) throw std::runtime_error("test: frame handler threw");
  });
  int fd = dial_tcp();
  Bytes framed;
  net::rfc4571::append_frame(framed, Bytes{0x00, 0x01, 0x00, 0x00});
  ASSERT_TRUE(run_until([&] { return ::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) > 0; }, 2s));
  ASSERT_TRUE(run_until([&] { return engine.stats().tcp.frames_in >= 1; }));
  // The UDP peer's messages still flow: its echo is held by SCTP until the turn ends.
  EXPECT_TRUE(echoed("after a throwing ICE-TCP frame")) << "the data plane wedged";
  EXPECT_FALSE(sctp::Stack::batching()) << "SCTP's batch depth stayed above zero";
  EXPECT_EQ(escaped, 0) << "the throw escaped the engine";
  EXPECT_EQ(engine.stats().receive_errors, 1u);
  EXPECT_NE(log_text.str().find("test: frame handler threw"), std::string::npos) << log_text.str();
  // The ICE-TCP path itself still serves: a connection that sends a non-STUN first frame is
  // closed and counted as before.
  engine.set_receive_hook({});
  int bad = dial_tcp();
  Bytes junk;
  net::rfc4571::append_frame(junk, Bytes{0x17, 0xfe, 0xfd, 0, 1});
  ASSERT_TRUE(run_until([&] { return ::send(bad, junk.data(), junk.size(), MSG_NOSIGNAL) > 0; }, 2s));
  EXPECT_TRUE(run_until([&] { return engine.stats().tcp.closed_bad_frame == 1; }));
}

TEST_F(ThrowingTurnTest, AThrowingDatagramIsDroppedAndCountedAndTheSocketKeepsReading) {
  connect_client();
  bool armed = true;
  engine.set_receive_hook([&](ByteView, const stun::Address& from) {
    if (armed && !from.tcp) {
      armed = false;
      throw std::runtime_error("test: datagram handler threw");
    }
  });
  // The message whose datagram threw is lost to the engine; SCTP sends it again. The socket must
  // still be read (the receive is re-armed) and the turn ended.
  EXPECT_TRUE(echoed("through a throwing datagram", 5s)) << "the data plane wedged";
  EXPECT_FALSE(sctp::Stack::batching());
  EXPECT_EQ(escaped, 0);
  EXPECT_EQ(engine.stats().receive_errors, 1u);
  EXPECT_NE(log_text.str().find("test: datagram handler threw"), std::string::npos) << log_text.str();
  EXPECT_TRUE(echoed("and the next"));
}

}  // namespace
