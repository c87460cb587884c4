// Batched UDP I/O on real loopback sockets: GSO runs, GRO splitting, truncation, order.
#include "net/udp_io.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

using namespace peerrtc;
using namespace peerrtc::net;

namespace {

struct Sock {
  int fd = -1;
  stun::Address addr;
  Sock() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    sockaddr_storage ss{};
    std::memcpy(&ss, &sa, sizeof sa);
    addr = to_address(ss);
  }
  ~Sock() { ::close(fd); }
};

Bytes datagram(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed * 7 + i);
  return b;
}

// Reads until `want` datagrams arrived (or 2 s).
std::vector<std::pair<Bytes, stun::Address>> read_all(DatagramReader& r, int fd, size_t want) {
  std::vector<std::pair<Bytes, stun::Address>> got;
  for (int i = 0; i < 200 && got.size() < want; ++i) {
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, 10);
    r.read(fd, 1000, [&](ByteView d, const stun::Address& from) { got.emplace_back(Bytes(d.begin(), d.end()), from); });
  }
  return got;
}

}  // namespace

TEST(UdpIoTest, AddressRoundTripV4AndV6) {
  stun::Address a;
  a.port = 4242;
  a.ip[0] = 127;
  a.ip[3] = 9;
  sockaddr_storage ss;
  EXPECT_EQ(to_sockaddr(a, ss), sizeof(sockaddr_in));
  EXPECT_EQ(to_address(ss), a);
  stun::Address b;
  b.ipv6 = true;
  b.port = 1;
  b.ip[15] = 1;
  EXPECT_EQ(to_sockaddr(b, ss), sizeof(sockaddr_in6));
  EXPECT_EQ(to_address(ss), b);
  // A v4-mapped v6 address (dual-stack socket) reads back as plain v4.
  sockaddr_in6 m{};
  m.sin6_family = AF_INET6;
  m.sin6_port = htons(4242);
  inet_pton(AF_INET6, "::ffff:127.0.0.9", &m.sin6_addr);
  std::memcpy(&ss, &m, sizeof m);
  EXPECT_EQ(to_address(ss), a);
}

TEST(UdpIoTest, BatchedRunsArriveWholeAndInOrderWithAndWithoutGro) {
  for (bool gro : {false, true}) {
    Sock tx, rx1, rx2;
    if (gro) {
      DatagramReader::enable_gro(rx1.fd);
      DatagramReader::enable_gro(rx2.fd);
    }
    DatagramWriter w;
    std::vector<Bytes> to1, to2;
    w.begin_batch();
    for (int i = 0; i < 20; ++i) {  // a GSO run: 19 full + a short last one
      to1.push_back(datagram(i == 19 ? 300 : 1200, static_cast<uint8_t>(i)));
      EXPECT_TRUE(w.send(tx.fd, to1.back(), rx1.addr));
    }
    for (int i = 0; i < 5; ++i) {  // interleaved destinations and sizes
      to2.push_back(datagram(100 + static_cast<size_t>(i), static_cast<uint8_t>(50 + i)));
      EXPECT_TRUE(w.send(tx.fd, to2.back(), rx2.addr));
      to1.push_back(datagram(1200, static_cast<uint8_t>(80 + i)));
      EXPECT_TRUE(w.send(tx.fd, to1.back(), rx1.addr));
    }
    EXPECT_EQ(w.sent(), 0u) << "held until the batch ends";
    w.end_batch(tx.fd);
    EXPECT_EQ(w.sent(), to1.size() + to2.size());
    EXPECT_EQ(w.failed(), 0u);
    EXPECT_GE(w.gso_runs(), 1u) << "the 20-datagram run should leave as one GSO send (Linux >= 4.18)";

    DatagramReader r;
    auto got1 = read_all(r, rx1.fd, to1.size());
    auto got2 = read_all(r, rx2.fd, to2.size());
    ASSERT_EQ(got1.size(), to1.size()) << "gro=" << gro;
    ASSERT_EQ(got2.size(), to2.size()) << "gro=" << gro;
    for (size_t i = 0; i < to1.size(); ++i) {
      EXPECT_EQ(got1[i].first, to1[i]) << "gro=" << gro << " #" << i;
      EXPECT_EQ(got1[i].second, tx.addr);
    }
    for (size_t i = 0; i < to2.size(); ++i) EXPECT_EQ(got2[i].first, to2[i]) << "gro=" << gro << " #" << i;
  }
}

TEST(UdpIoTest, OutsideABatchSendsAtOnce) {
  Sock tx, rx;
  DatagramWriter w;
  EXPECT_TRUE(w.send(tx.fd, datagram(10, 1), rx.addr));
  EXPECT_EQ(w.sent(), 1u);
  DatagramReader r;
  auto got = read_all(r, rx.fd, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, datagram(10, 1));
}

TEST(UdpIoTest, OversizedDatagramIsDroppedAndCounted) {
  Sock tx, rx;
  DatagramWriter w;
  w.send(tx.fd, datagram(500, 1), rx.addr);
  w.send(tx.fd, datagram(50, 2), rx.addr);
  DatagramReader r(4, 256);
  auto got = read_all(r, rx.fd, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, datagram(50, 2));
  EXPECT_EQ(r.truncated(), 1u);
}

TEST(UdpIoTest, SendErrorsAreCountedNotThrown) {
  Sock tx;
  DatagramWriter w;
  stun::Address nowhere;  // 0.0.0.0:0 is not a valid destination
  w.begin_batch();
  w.send(tx.fd, datagram(10, 1), nowhere);
  w.end_batch(tx.fd);
  EXPECT_EQ(w.failed(), 1u);
  EXPECT_EQ(w.sent(), 0u);
}

TEST(UdpIoTest, SmallDtlsRecordsForOnePeerLeaveAsDatagramsOfTheirOwn) {
  // One record per datagram: aiortc reads only the first record of a datagram.
  Sock tx, rx;
  auto record = [](size_t n, uint8_t tag) {
    Bytes b(n, tag);
    b[0] = 23;  // DTLS application data
    return b;
  };
  DatagramWriter w;
  w.begin_batch();
  for (uint8_t t : {1, 2, 3}) w.send(tx.fd, record(100, t), rx.addr);
  w.end_batch(tx.fd);
  EXPECT_EQ(w.sent(), 3u);
  DatagramReader r;
  auto got = read_all(r, rx.fd, 3);
  ASSERT_EQ(got.size(), 3u);
  for (uint8_t t : {1, 2, 3}) EXPECT_EQ(got[t - 1].first, record(100, t)) << int(t);
}
