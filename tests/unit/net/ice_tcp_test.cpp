// The engine's ICE-TCP edge over real loopback TCP: what a connection must send to be kept,
// the limits, and the counters. (Real peers over ICE-TCP: tests/interop/ice-tcp.test.mjs,
// tests/server/ice-tcp.test.mjs, tests/network.)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "run_until.hpp"

#include <boost/asio/io_context.hpp>

#include "net/engine.hpp"
#include "net/rfc4571.hpp"

using namespace peerrtc;
using namespace std::chrono_literals;

namespace {

class IceTcpTest : public ::testing::Test {
 protected:
  IceTcpTest() : loop(io) {}

  template <typename Pred>
  bool run_until(Pred pred, std::chrono::milliseconds timeout = 5s) {
    return test::run_until(io, pred, timeout);
  }

  net::Engine& engine(net::EngineConfig cfg = {}) {
    if (!engine_) engine_ = std::make_unique<net::Engine>(loop, cfg);
    return *engine_;
  }

  // A plain non-blocking TCP client to the engine's port; -1 on failure.
  int dial() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(engine().udp_port());
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);  // EINPROGRESS; loopback completes
    fds_.push_back(fd);
    return fd;
  }
  // True once the server closed `fd` (EOF or reset).
  static bool closed(int fd) {
    char c;
    ssize_t n = ::recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINPROGRESS);
  }
  static void send_frame(int fd, const Bytes& packet) {
    Bytes out;
    net::rfc4571::append_frame(out, packet);
    ASSERT_EQ(::send(fd, out.data(), out.size(), MSG_NOSIGNAL), static_cast<ssize_t>(out.size()));
  }
  static Bytes binding_request(const std::string& username) {
    stun::Message m;
    m.cls = stun::Class::Request;
    m.transaction_id = stun::new_transaction_id();
    m.username = username;
    return stun::build(m, "wrong-password-wrong-password", true);
  }

  ~IceTcpTest() override {
    for (int fd : fds_) ::close(fd);
  }

  boost::asio::io_context io;
  net::Loop loop;
  std::unique_ptr<net::Engine> engine_;
  std::vector<int> fds_;
};

}  // namespace

TEST_F(IceTcpTest, FirstFrameMustBeAStunRequestForALivePeer) {
  auto& e = engine();
  // Not STUN at all.
  int a = dial();
  send_frame(a, Bytes{0x17, 0xfe, 0xfd, 0, 1});
  // STUN, but for no peer.
  int b = dial();
  send_frame(b, binding_request("nosuchufrag:client"));
  // An oversized frame (8193 > 8192).
  int c = dial();
  const uint8_t big[] = {0x20, 0x01, 0, 1};
  ASSERT_EQ(::send(c, big, sizeof big, MSG_NOSIGNAL), 4);
  // An empty frame.
  int d = dial();
  const uint8_t empty[] = {0, 0};
  ASSERT_EQ(::send(d, empty, sizeof empty, MSG_NOSIGNAL), 2);
  ASSERT_TRUE(run_until([&] { return closed(a) && closed(b) && closed(c) && closed(d); }));
  ASSERT_TRUE(run_until([&] { return e.stats().tcp.open == 0; }));
  const auto s = e.stats().tcp;
  EXPECT_EQ(s.accepted, 4u);
  EXPECT_EQ(s.closed_bad_frame, 3u);
  EXPECT_EQ(s.closed_no_stun, 1u);
  EXPECT_EQ(s.refused, 0u);
}

TEST_F(IceTcpTest, SilentConnectionsAreClosedAfterTheStunTimeout) {
  net::EngineConfig cfg;
  cfg.tcp.stun_timeout = 300ms;
  auto& e = engine(cfg);
  int a = dial();
  int b = dial();
  const uint8_t partial[] = {0, 100, 0, 1};  // a frame header and a few bytes, then nothing
  ASSERT_EQ(::send(b, partial, sizeof partial, MSG_NOSIGNAL), 4);
  ASSERT_TRUE(run_until([&] { return e.stats().tcp.open == 2; }));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until([&] { return closed(a) && closed(b); }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
  EXPECT_EQ(e.stats().tcp.closed_no_stun, 2u);
  EXPECT_EQ(e.stats().tcp.open, 0u);
}

TEST_F(IceTcpTest, ConnectionsPerAddressAndInTotalAreCapped) {
  net::EngineConfig cfg;
  cfg.tcp.max_per_ip = 3;
  cfg.tcp.max_connections = 5;
  auto& e = engine(cfg);
  std::vector<int> fds;
  for (int i = 0; i < 5; ++i) fds.push_back(dial());
  ASSERT_TRUE(run_until([&] { return e.stats().tcp.accepted + e.stats().tcp.refused == 5; }));
  EXPECT_EQ(e.stats().tcp.accepted, 3u);
  EXPECT_EQ(e.stats().tcp.refused, 2u);
  EXPECT_EQ(e.stats().tcp.open, 3u);
  EXPECT_TRUE(run_until([&] { return closed(fds[3]) && closed(fds[4]); }));
  EXPECT_FALSE(closed(fds[0]));
  // Closing one makes room for another.
  ::shutdown(fds[0], SHUT_RDWR);
  ASSERT_TRUE(run_until([&] { return e.stats().tcp.open == 2; }));
  dial();
  ASSERT_TRUE(run_until([&] { return e.stats().tcp.accepted == 4; }));
}

TEST_F(IceTcpTest, OffMeansNoListener) {
  net::EngineConfig cfg;
  cfg.tcp.enabled = false;
  auto& e = engine(cfg);
  int fd = dial();
  EXPECT_TRUE(run_until([&] { return closed(fd); }, 2s)) << "nothing listens on TCP";
  EXPECT_EQ(e.stats().tcp.accepted, 0u);
}

// An explicit UDP port whose TCP twin is taken: a clear error at start (with an ephemeral port
// the engine picks another one instead).
TEST_F(IceTcpTest, BusyTcpTwinOfAnExplicitPortIsAClearError) {
  int busy = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ASSERT_EQ(::bind(busy, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(busy, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(busy, reinterpret_cast<sockaddr*>(&a), &len);
  fds_.push_back(busy);
  net::EngineConfig cfg;
  cfg.udp_port = ntohs(a.sin_port);
  try {
    net::Engine e(loop, cfg);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& err) {
    EXPECT_NE(std::string(err.what()).find("cannot listen for ICE-TCP"), std::string::npos) << err.what();
  }
  cfg.tcp.enabled = false;
  net::Engine without(loop, cfg);  // the UDP port itself is free
  EXPECT_EQ(without.udp_port(), cfg.udp_port);
}
