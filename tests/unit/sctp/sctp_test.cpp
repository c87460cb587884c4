// usrsctp glue: two associations wired back to back in one process (sctp_pair.hpp).
#include "sctp/sctp.hpp"
#include "sctp_pair.hpp"

#include <gtest/gtest.h>
#include <malloc.h>
#include <usrsctp.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace peerrtc;
using namespace peerrtc::sctp;
using namespace peerrtc::sctp::test;


TEST(SctpTest, ConnectBothSidesSimultaneousOpen) {
  size_t before = Stack::associations();
  {
    Pair p;
    EXPECT_EQ(Stack::associations(), before + 2);
    EXPECT_FALSE(p.a.assoc->connected());
    ASSERT_TRUE(p.connect());
    EXPECT_EQ(p.a.connected, 1);
    EXPECT_EQ(p.b.connected, 1);
    EXPECT_TRUE(p.a.assoc->connected());
    EXPECT_TRUE(p.b.assoc->connected());
    EXPECT_TRUE(p.a.closed.empty());
    EXPECT_TRUE(p.b.closed.empty());
  }
  EXPECT_EQ(Stack::associations(), before);
}

TEST(SctpTest, ConnectWithDifferentPorts) {
  Association::Config ca, cb;
  ca.local_port = 5000;
  ca.remote_port = 5001;
  cb.local_port = 5001;
  cb.remote_port = 5000;
  Pair p(ca, cb);
  ASSERT_TRUE(p.connect());
}

TEST(SctpTest, MessagesOfAllSizesBothDirections) {
  Pair p;
  ASSERT_TRUE(p.connect());
  const std::vector<size_t> sizes = {1, 1024, 16 * 1024, 64 * 1024, 256 * 1024};
  std::vector<Msg> sent_a, sent_b;
  uint16_t stream = 1;
  for (size_t n : sizes) {
    Msg ma{stream, 53, pattern(n, static_cast<uint8_t>(stream))};
    Msg mb{static_cast<uint16_t>(stream + 40), 51, pattern(n, static_cast<uint8_t>(stream + 7))};
    ASSERT_EQ(p.a.assoc->send(ma.stream, ma.ppid, ma.data, {}), SendStatus::Ok) << n;
    ASSERT_EQ(p.b.assoc->send(mb.stream, mb.ppid, mb.data, {}), SendStatus::Ok) << n;
    sent_a.push_back(std::move(ma));
    sent_b.push_back(std::move(mb));
    stream += 2;
  }
  ASSERT_TRUE(p.run_until([&] {
    return p.b.messages.size() == sizes.size() && p.a.messages.size() == sizes.size();
  }));
  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(p.b.messages[i].stream, sent_a[i].stream);
    EXPECT_EQ(p.b.messages[i].ppid, sent_a[i].ppid);
    EXPECT_EQ(p.b.messages[i].data, sent_a[i].data) << "a->b size " << sizes[i];
    EXPECT_EQ(p.a.messages[i].stream, sent_b[i].stream);
    EXPECT_EQ(p.a.messages[i].ppid, sent_b[i].ppid);
    EXPECT_EQ(p.a.messages[i].data, sent_b[i].data) << "b->a size " << sizes[i];
  }
  EXPECT_EQ(p.a.assoc->dropped(), 0u);
  EXPECT_EQ(p.b.assoc->dropped(), 0u);
}

TEST(SctpTest, WireFormatCrcPpidAndMtu) {
  Pair p;
  ASSERT_TRUE(p.connect());
  ASSERT_EQ(p.a.assoc->send(0, 0x01020304u, pattern(5000, 1), {}), SendStatus::Ok);
  ASSERT_TRUE(p.run_until([&] { return p.b.messages.size() == 1; }));
  EXPECT_GT(p.stats_ab.packets, 3u);
  EXPECT_EQ(p.stats_ab.bad_crc, 0u) << "outgoing packets must carry a valid CRC32c";
  EXPECT_EQ(p.stats_ba.bad_crc, 0u);
  ASSERT_FALSE(p.stats_ab.data_ppids.empty());
  for (uint32_t ppid : p.stats_ab.data_ppids) EXPECT_EQ(ppid, 0x01020304u) << "PPID big-endian on the wire";
  EXPECT_EQ(p.b.messages[0].ppid, 0x01020304u);
  EXPECT_LE(p.stats_ab.max_size, size_t{Association::Config{}.mtu});
  EXPECT_GT(p.stats_ab.max_size, 1000u) << "fragments should fill the MTU";
}

TEST(SctpTest, PacketWithBadCrcStillAccepted) {
  // CRC checking is off on receive (DTLS protects packets): corrupt only the checksum field.
  Pair p;
  p.a.assoc->connect();
  p.b.assoc->connect();
  for (int i = 0; i < 1000 && !(p.a.connected && p.b.connected); ++i) {
    for (auto& pkt : p.a.outbox) pkt[8] ^= 0xff;
    for (auto& pkt : p.b.outbox) pkt[9] ^= 0x55;
    auto fa = std::move(p.a.outbox);
    p.a.outbox.clear();
    auto fb = std::move(p.b.outbox);
    p.b.outbox.clear();
    for (auto& pkt : fa) p.b.assoc->receive(pkt);
    for (auto& pkt : fb) p.a.assoc->receive(pkt);
    if (fa.empty() && fb.empty()) Stack::handle_timers(10);
  }
  EXPECT_TRUE(p.a.connected && p.b.connected);
}

TEST(SctpTest, SendLimitsAndErrors) {
  Pair p;
  Bytes one(1, 0x42);
  EXPECT_EQ(p.a.assoc->send(0, 51, one, {}), SendStatus::NotConnected);
  ASSERT_TRUE(p.connect());
  Bytes too_big(262144 + 1, 1);
  EXPECT_EQ(p.a.assoc->send(0, 53, too_big, {}), SendStatus::TooLarge);
  EXPECT_EQ(p.a.assoc->send(0, 53, ByteView{}, {}), SendStatus::Error) << "SCTP can't carry 0 bytes";
  const uint16_t streams = Association::Config{}.streams;
  EXPECT_EQ(p.a.assoc->streams_out(), streams);
  EXPECT_EQ(p.a.assoc->send(streams, 53, one, {}), SendStatus::Error) << "stream beyond negotiated";
  EXPECT_EQ(p.a.assoc->send(streams - 1, 53, one, {}), SendStatus::Ok);
  ASSERT_TRUE(p.run_until([&] { return p.b.messages.size() == 1; }));
  EXPECT_EQ(p.b.messages[0].stream, streams - 1);
  EXPECT_STREQ(to_string(SendStatus::TooLarge), "too large");
}

TEST(SctpTest, UnorderedAndPartiallyReliableSends) {
  Pair p;
  ASSERT_TRUE(p.connect());
  Reliability unordered;
  unordered.ordered = false;
  Reliability rtx;
  rtx.ordered = false;
  rtx.max_retransmits = 0;
  Reliability ttl;
  ttl.max_lifetime_ms = 500;
  EXPECT_EQ(p.a.assoc->send(1, 51, pattern(100, 1), unordered), SendStatus::Ok);
  EXPECT_EQ(p.a.assoc->send(2, 51, pattern(20000, 2), rtx), SendStatus::Ok);
  EXPECT_EQ(p.a.assoc->send(3, 53, pattern(3000, 3), ttl), SendStatus::Ok);
  ASSERT_TRUE(p.run_until([&] { return p.b.messages.size() == 3; }));
  size_t total = 0;
  for (auto& m : p.b.messages) {
    total += m.data.size();
    EXPECT_EQ(m.data, pattern(m.data.size(), static_cast<uint8_t>(m.stream)));
  }
  EXPECT_EQ(total, 23100u);
}

TEST(SctpTest, UnreliableMessagesMayBeLostButReliableOnesArrive) {
  Pair p;
  ASSERT_TRUE(p.connect());
  p.drop_ab = [](size_t n, const Bytes&) { return n % 3 == 0; };
  Reliability rtx0;
  rtx0.ordered = false;
  rtx0.max_retransmits = 0;
  for (int i = 0; i < 30; ++i) ASSERT_EQ(p.a.assoc->send(1, 53, pattern(2000, 1), rtx0), SendStatus::Ok);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(p.a.assoc->send(2, 53, pattern(2000, 2), {}), SendStatus::Ok);
  auto reliable = [&] {
    size_t n = 0;
    for (auto& m : p.b.messages) n += m.stream == 2;
    return n;
  };
  ASSERT_TRUE(p.run_until_real([&] { return reliable() == 5; }));
  size_t unreliable = p.b.messages.size() - 5;
  EXPECT_LE(unreliable, 30u);
  EXPECT_TRUE(p.a.closed.empty());
  EXPECT_TRUE(p.b.closed.empty());
}

TEST(SctpTest, QueueBeyondSocketBufferDeliversAllInOrder) {
  Pair p;
  ASSERT_TRUE(p.connect());
  const int count = 64;
  size_t max_buffered = 0;
  for (int i = 0; i < count; ++i) {
    Bytes m = pattern(64 * 1024, static_cast<uint8_t>(i));
    ASSERT_EQ(p.a.assoc->send(7, 53, m, {}), SendStatus::Ok) << i;
    max_buffered = std::max(max_buffered, p.a.assoc->buffered_amount());
  }
  EXPECT_GT(max_buffered, 0u) << "4 MiB should exceed usrsctp's buffer and use our queue";
  ASSERT_TRUE(p.run_until([&] { return p.b.messages.size() == count; }));
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(p.b.messages[i].data, pattern(64 * 1024, static_cast<uint8_t>(i))) << "message " << i;
  }
  EXPECT_EQ(p.a.assoc->buffered_amount(), 0u);
  EXPECT_GE(p.a.buffered_low, 1);
}

TEST(SctpTest, BufferFullWhenOwnQueueExceedsCap) {
  Association::Config c;
  c.max_buffered = 256 * 1024;
  Pair p(c, {});
  ASSERT_TRUE(p.connect());
  SendStatus last = SendStatus::Ok;
  int accepted = 0;
  for (int i = 0; i < 200 && last == SendStatus::Ok; ++i) {
    last = p.a.assoc->send(0, 53, pattern(64 * 1024, static_cast<uint8_t>(i)), {});
    if (last == SendStatus::Ok) ++accepted;
  }
  EXPECT_EQ(last, SendStatus::BufferFull);
  EXPECT_LE(p.a.assoc->buffered_amount(), c.max_buffered);
  ASSERT_TRUE(p.run_until([&] { return p.b.messages.size() == static_cast<size_t>(accepted); }));
  for (int i = 0; i < accepted; ++i) EXPECT_EQ(p.b.messages[i].data, pattern(64 * 1024, static_cast<uint8_t>(i)));
  // Space again after draining.
  EXPECT_EQ(p.a.assoc->send(0, 53, pattern(10, 0), {}), SendStatus::Ok);
}

TEST(SctpTest, StreamResetReachesPeerBothWays) {
  Pair p;
  ASSERT_TRUE(p.connect());
  ASSERT_EQ(p.a.assoc->send(3, 51, pattern(10, 3), {}), SendStatus::Ok);
  ASSERT_TRUE(p.run_until([&] { return p.b.messages.size() == 1; }));
  // WebRTC closing: a resets its outgoing stream; b sees it and resets its own.
  p.b.on_reset_hook = [&](uint16_t s) { p.b.assoc->reset_stream(s); };
  p.a.assoc->reset_stream(3);
  ASSERT_TRUE(p.run_until([&] { return !p.b.resets.empty() && !p.a.resets.empty(); }, 10000));
  EXPECT_EQ(p.b.resets, std::vector<uint16_t>{3});
  EXPECT_EQ(p.a.resets, std::vector<uint16_t>{3});
  // The stream can be reused afterwards.
  ASSERT_EQ(p.a.assoc->send(3, 51, pattern(10, 4), {}), SendStatus::Ok);
  ASSERT_TRUE(p.run_until([&] { return p.b.messages.size() == 2; }));
  EXPECT_TRUE(p.a.closed.empty());
}

TEST(SctpTest, SeveralStreamResetsInARow) {
  Pair p;
  ASSERT_TRUE(p.connect());
  for (uint16_t s : {1, 2, 5, 9}) p.a.assoc->reset_stream(s);
  ASSERT_TRUE(p.run_until([&] { return p.b.resets.size() == 4; }, 20000));
  std::sort(p.b.resets.begin(), p.b.resets.end());
  EXPECT_EQ(p.b.resets, (std::vector<uint16_t>{1, 2, 5, 9}));
}

TEST(SctpTest, StreamResetWaitsForQueuedMessages) {
  Pair p;
  ASSERT_TRUE(p.connect());
  for (int i = 0; i < 40; ++i) ASSERT_EQ(p.a.assoc->send(4, 53, pattern(64 * 1024, static_cast<uint8_t>(i)), {}), SendStatus::Ok);
  ASSERT_GT(p.a.assoc->buffered_amount(), 0u);
  p.a.assoc->reset_stream(4);
  ASSERT_TRUE(p.run_until([&] { return !p.b.resets.empty(); }));
  EXPECT_EQ(p.b.messages.size(), 40u) << "all data on the stream arrives before its reset";
  EXPECT_EQ(p.b.resets, std::vector<uint16_t>{4});
}

TEST(SctpTest, ShutdownClosesBothSides) {
  Pair p;
  ASSERT_TRUE(p.connect());
  ASSERT_EQ(p.a.assoc->send(0, 51, pattern(1000, 0), {}), SendStatus::Ok);
  p.a.assoc->shutdown();
  EXPECT_EQ(p.a.assoc->send(0, 51, pattern(10, 0), {}), SendStatus::NotConnected);
  ASSERT_TRUE(p.run_until([&] { return !p.b.closed.empty() && !p.a.closed.empty(); }, 10000));
  EXPECT_EQ(p.b.messages.size(), 1u) << "data sent before shutdown is delivered";
  EXPECT_EQ(p.b.closed.size(), 1u);
  EXPECT_EQ(p.a.closed.size(), 1u);
  EXPECT_FALSE(p.b.assoc->connected());
  EXPECT_EQ(p.b.assoc->send(0, 51, pattern(10, 0), {}), SendStatus::NotConnected);
  // Nothing more happens later.
  p.run_until([] { return false; }, 2000, 100);
  EXPECT_EQ(p.b.closed.size(), 1u);
  EXPECT_EQ(p.a.closed.size(), 1u);
}

// A server-side close with a last event (moved, kicked): everything accepted, including what
// waits in our own queue beyond usrsctp's buffer, arrives; then SHUTDOWN. shutdown() and abort()
// (the control) drop our queue.
TEST(SctpTest, ShutdownAfterFlushDeliversTheBacklog) {
  for (bool graceful : {true, false}) {
    Pair p;
    ASSERT_TRUE(p.connect());
    const int n = 40;
    for (int i = 0; i < n; ++i) ASSERT_EQ(p.a.assoc->send(0, 51, pattern(60000, static_cast<uint8_t>(i)), {}), SendStatus::Ok);
    ASSERT_GT(p.a.assoc->buffered_amount(), 0u) << "a backlog in our own queue";
    const auto before = Stack::counters();
    if (graceful) p.a.assoc->shutdown_after_flush();
    else p.a.assoc->shutdown();
    EXPECT_EQ(p.a.assoc->send(0, 51, pattern(10, 0), {}), SendStatus::NotConnected) << "nothing new after it";
    p.run_until([&] { return !p.b.closed.empty() && !p.a.closed.empty(); }, 20000);
    if (graceful) {
      EXPECT_EQ(p.b.messages.size(), size_t(n)) << "every message accepted before the close";
      for (int i = 0; i < std::min<int>(n, int(p.b.messages.size())); ++i)
        EXPECT_EQ(p.b.messages[i].data, pattern(60000, static_cast<uint8_t>(i))) << i;
      EXPECT_EQ(p.a.closed, std::vector<std::string>{"shutdown complete"});
      EXPECT_EQ(Stack::counters().graceful_closes, before.graceful_closes + 1);
    } else {
      EXPECT_LT(p.b.messages.size(), size_t(n)) << "the control: shutdown() drops our queue";
    }
  }
}

TEST(SctpTest, GiveUpShutdownAborts) {
  Pair p;
  ASSERT_TRUE(p.connect());
  for (int i = 0; i < 20; ++i) ASSERT_EQ(p.a.assoc->send(0, 51, pattern(60000, static_cast<uint8_t>(i)), {}), SendStatus::Ok);
  p.a.assoc->shutdown_after_flush();
  const auto before = Stack::counters();
  p.a.assoc->give_up_shutdown();
  EXPECT_EQ(Stack::counters().graceful_close_timeouts, before.graceful_close_timeouts + 1);
  ASSERT_TRUE(p.run_until([&] { return !p.b.closed.empty(); }, 5000));
  EXPECT_EQ(p.b.closed[0], "aborted by peer");
  EXPECT_TRUE(p.a.closed.empty());
}

TEST(SctpTest, AbortClosesPeerOnly) {
  Pair p;
  ASSERT_TRUE(p.connect());
  p.a.assoc->abort();
  EXPECT_FALSE(p.a.assoc->connected());
  ASSERT_TRUE(p.run_until([&] { return !p.b.closed.empty(); }, 5000));
  EXPECT_EQ(p.b.closed.size(), 1u);
  EXPECT_EQ(p.b.closed[0], "aborted by peer");
  EXPECT_TRUE(p.a.closed.empty()) << "no on_closed for a local abort";
  EXPECT_EQ(p.a.assoc->send(0, 51, pattern(1, 0), {}), SendStatus::NotConnected);
  p.a.assoc->abort();  // idempotent
  p.a.assoc->shutdown();
}

TEST(SctpTest, ReliableDeliveryWithPacketLoss) {
  Pair p;
  ASSERT_TRUE(p.connect());
  // Every 5th packet a->b is lost. With a zero-latency pump the sender's repeated fast
  // retransmit of one TSN falls into the dropped slot every time (lockstep), and usrsctp
  // aborts after sctp_max_retran_chunk (30) transmissions of one chunk; no real path behaves
  // like that, so a given TSN is lost at most twice (a lost retransmission, then T3 recovery).
  std::map<uint32_t, int> losses;
  p.drop_ab = [&losses](size_t n, const Bytes& pkt) {
    if (n % 5 != 4) return false;
    for (uint32_t tsn : data_tsns(pkt))
      if (losses[tsn] >= 2) return false;
    for (uint32_t tsn : data_tsns(pkt)) ++losses[tsn];
    return true;
  };
  std::vector<Bytes> sent;
  for (int i = 0; i < 40; ++i) {
    size_t n = (i % 4 == 0) ? 64 * 1024 : 1 + static_cast<size_t>(i) * 300;
    sent.push_back(pattern(n, static_cast<uint8_t>(i)));
    ASSERT_EQ(p.a.assoc->send(static_cast<uint16_t>(i % 3), 53, sent.back(), {}), SendStatus::Ok);
  }
  bool ok = p.run_until_real([&] { return p.b.messages.size() == sent.size(); });
  ASSERT_TRUE(ok) << "got " << p.b.messages.size() << " closed a=" << p.a.closed.size() << " b=" << p.b.closed.size()
                  << " now=" << p.now_ms << " packets=" << p.n_ab << "/" << p.n_ba
                  << (p.a.closed.empty() ? "" : p.a.closed[0]) << (p.b.closed.empty() ? "" : p.b.closed[0]);
  // Ordered per stream; all streams here carry an interleaving of the same sequence.
  for (uint16_t s = 0; s < 3; ++s) {
    std::vector<Bytes> want, got;
    for (size_t i = 0; i < sent.size(); ++i)
      if (i % 3 == s) want.push_back(sent[i]);
    for (auto& m : p.b.messages)
      if (m.stream == s) got.push_back(m.data);
    EXPECT_EQ(got, want) << "stream " << s;
  }
  EXPECT_TRUE(p.b.closed.empty());
}

TEST(SctpTest, RandomLossBothDirections) {
  Pair p;
  ASSERT_TRUE(p.connect());
  std::mt19937 rng(42);
  std::bernoulli_distribution lose(0.1);
  p.drop_ab = [&](size_t, const Bytes&) { return lose(rng); };
  p.drop_ba = [&](size_t, const Bytes&) { return lose(rng); };
  std::vector<Bytes> to_b, to_a;
  for (int i = 0; i < 12; ++i) {
    to_b.push_back(pattern(1000 + static_cast<size_t>(i) * 9000, static_cast<uint8_t>(i)));
    to_a.push_back(pattern(500 + static_cast<size_t>(i) * 4000, static_cast<uint8_t>(i + 50)));
    ASSERT_EQ(p.a.assoc->send(5, 53, to_b.back(), {}), SendStatus::Ok);
    ASSERT_EQ(p.b.assoc->send(6, 53, to_a.back(), {}), SendStatus::Ok);
  }
  ASSERT_TRUE(p.run_until_real([&] { return p.b.messages.size() == to_b.size() && p.a.messages.size() == to_a.size(); }));
  for (size_t i = 0; i < to_b.size(); ++i) {
    EXPECT_EQ(p.b.messages[i].data, to_b[i]);
    EXPECT_EQ(p.a.messages[i].data, to_a[i]);
  }
  EXPECT_TRUE(p.a.closed.empty());
  EXPECT_TRUE(p.b.closed.empty());
}

TEST(SctpTest, LossBothDirectionsDuringHandshake) {
  Pair p;
  p.drop_ab = [](size_t n, const Bytes&) { return n == 0 || n % 5 == 4; };
  p.drop_ba = [](size_t n, const Bytes&) { return n == 1 || n % 7 == 6; };
  p.a.assoc->connect();
  p.b.assoc->connect();
  ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 120000, 50));
  ASSERT_EQ(p.b.assoc->send(1, 51, pattern(30000, 9), {}), SendStatus::Ok);
  ASSERT_TRUE(p.run_until_real([&] { return p.a.messages.size() == 1; }));
  EXPECT_EQ(p.a.messages[0].data, pattern(30000, 9));
}

TEST(SctpTest, SendFromInsideCallbacks) {
  Pair p;
  // b echoes every message from inside on_message (send re-entering from a usrsctp callback).
  p.b.on_message_hook = [&](const Msg& m) {
    EXPECT_EQ(p.b.assoc->send(m.stream, m.ppid, m.data, {}), SendStatus::Ok);
  };
  p.a.assoc->connect();
  p.b.assoc->connect();
  ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }));
  for (int i = 0; i < 10; ++i) ASSERT_EQ(p.a.assoc->send(2, 51, pattern(5000 * i + 1, static_cast<uint8_t>(i)), {}), SendStatus::Ok);
  ASSERT_TRUE(p.run_until([&] { return p.a.messages.size() == 10; }));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(p.a.messages[i].data, pattern(5000 * i + 1, static_cast<uint8_t>(i)));
}

TEST(SctpTest, DestroyMidTransfer) {
  size_t before = Stack::associations();
  {
    Pair p;
    ASSERT_TRUE(p.connect());
    for (int i = 0; i < 20; ++i) ASSERT_EQ(p.a.assoc->send(0, 53, pattern(256 * 1024, static_cast<uint8_t>(i)), {}), SendStatus::Ok);
    for (int i = 0; i < 20; ++i) ASSERT_EQ(p.b.assoc->send(0, 53, pattern(64 * 1024, static_cast<uint8_t>(i)), {}), SendStatus::Ok);
    // Move only part of the traffic, then drop a while packets are still in flight.
    for (int round = 0; round < 3; ++round) {
      auto fa = std::move(p.a.outbox);
      p.a.outbox.clear();
      for (auto& pkt : fa) p.b.assoc->receive(pkt);
      auto fb = std::move(p.b.outbox);
      p.b.outbox.clear();
      for (auto& pkt : fb) p.a.assoc->receive(pkt);
    }
    EXPECT_LT(p.b.messages.size(), 20u);
    p.a.assoc.reset();
    EXPECT_EQ(Stack::associations(), before + 1);
    // b learns about it from the ABORT the destructor sent; stale packets to a are ignored.
    ASSERT_TRUE(p.run_until([&] { return !p.b.closed.empty(); }, 5000));
    // Timers keep running without reaching the destroyed object.
    p.run_until([] { return false; }, 5000, 100);
    p.b.assoc.reset();
    EXPECT_EQ(Stack::associations(), before);
    Stack::handle_timers(60000);
  }
  EXPECT_EQ(Stack::associations(), before);
}

TEST(SctpTest, DestroyWithoutConnectingOrBeforeHandshakeCompletes) {
  size_t before = Stack::associations();
  {
    Pair p;  // never connected
  }
  {
    Pair p;
    p.a.assoc->connect();  // INIT sent, never delivered
    p.a.assoc.reset();
    p.b.assoc->connect();
    p.run_until([] { return false; }, 3000, 100);
    EXPECT_EQ(p.b.connected, 0);
  }
  Stack::handle_timers(120000);
  EXPECT_EQ(Stack::associations(), before);
}

TEST(SctpTest, GarbagePacketsAreDropped) {
  Pair p;
  ASSERT_TRUE(p.connect());
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> len(0, 1500);
  for (int i = 0; i < 2000; ++i) {
    Bytes g(len(rng));
    for (auto& x : g) x = static_cast<uint8_t>(byte(rng));
    if (i % 2 == 0 && g.size() >= 16) {
      // Plausible header: right ports, then random chunks.
      store_be16(&g[0], 5000);
      store_be16(&g[2], 5000);
    }
    p.b.assoc->receive(g);
  }
  p.b.assoc->receive(ByteView{});
  // Truncated copies of real packets.
  ASSERT_EQ(p.a.assoc->send(0, 51, pattern(3000, 1), {}), SendStatus::Ok);
  for (auto& pkt : p.a.outbox) {
    for (size_t cut : {size_t{1}, size_t{11}, size_t{13}, pkt.size() / 2}) {
      if (cut < pkt.size()) p.b.assoc->receive(ByteView(pkt.data(), cut));
    }
  }
  p.a.outbox.clear();  // lost: retransmission will fix it
  // Still works afterwards, unless the garbage happened to be a valid ABORT (vtag is random,
  // so practically never).
  ASSERT_EQ(p.a.assoc->send(0, 51, pattern(100, 2), {}), SendStatus::Ok);
  bool ok = p.run_until_real([&] { return p.b.messages.size() == 2; });
  ASSERT_TRUE(ok) << "got " << p.b.messages.size() << " closed a=" << p.a.closed.size() << " b=" << p.b.closed.size()
                  << " now=" << p.now_ms << (p.a.closed.empty() ? "" : p.a.closed[0]) << (p.b.closed.empty() ? "" : p.b.closed[0]);
  EXPECT_EQ(p.b.messages[0].data, pattern(3000, 1));
  EXPECT_EQ(p.b.messages[1].data, pattern(100, 2));
  EXPECT_TRUE(p.b.closed.empty());
  EXPECT_GT(p.b.assoc->dropped(), 0u) << "packets shorter than the common header are counted";
}

TEST(SctpTest, OversizedIncomingMessageIsDroppedAndCounted) {
  Association::Config small;
  small.max_message_size = 16 * 1024;
  Pair p({}, small);  // b accepts at most 16 KiB
  ASSERT_TRUE(p.connect());
  ASSERT_EQ(p.a.assoc->send(1, 53, pattern(200 * 1024, 1), {}), SendStatus::Ok);
  ASSERT_EQ(p.a.assoc->send(1, 53, pattern(1000, 2), {}), SendStatus::Ok);
  ASSERT_TRUE(p.run_until([&] { return p.b.messages.size() == 1; }));
  EXPECT_EQ(p.b.messages[0].data, pattern(1000, 2));
  EXPECT_EQ(p.b.assoc->dropped(), 1u);
  EXPECT_TRUE(p.b.closed.empty());
}

TEST(SctpTest, StreamCountIsTheSmallerOfferAndStreamsBeyondItAreRefused) {
  Association::Config many, few;
  many.streams = 1024;
  few.streams = 16;
  Pair p(many, few);
  ASSERT_TRUE(p.connect());
  EXPECT_EQ(p.a.assoc->streams_out(), 16);
  EXPECT_EQ(p.a.assoc->streams_in(), 16);
  EXPECT_EQ(p.b.assoc->streams_out(), 16);
  EXPECT_EQ(p.b.assoc->streams_in(), 16);
  // Beyond the negotiated count: a clear error on both sides, nothing sent, still connected.
  EXPECT_EQ(p.a.assoc->send(16, 51, pattern(10, 1), {}), SendStatus::Error) << "remote accepts 16";
  EXPECT_EQ(p.a.assoc->send(1000, 51, pattern(10, 1), {}), SendStatus::Error);
  EXPECT_EQ(p.b.assoc->send(16, 51, pattern(10, 1), {}), SendStatus::Error) << "own limit";
  ASSERT_EQ(p.a.assoc->send(15, 51, pattern(10, 2), {}), SendStatus::Ok);
  ASSERT_EQ(p.b.assoc->send(15, 51, pattern(10, 3), {}), SendStatus::Ok);
  ASSERT_TRUE(p.run_until([&] { return p.a.messages.size() == 1 && p.b.messages.size() == 1; }));
  EXPECT_EQ(p.b.messages[0].stream, 15);
  EXPECT_EQ(p.b.messages[0].data, pattern(10, 2));
  EXPECT_EQ(p.a.messages[0].data, pattern(10, 3));
  EXPECT_TRUE(p.a.closed.empty() && p.b.closed.empty());
}

TEST(SctpTest, MemoryPerConnectedPair) {
  const int pairs = 100;
  struct mallinfo2 before = mallinfo2();
  std::vector<std::unique_ptr<Pair>> v;
  for (int i = 0; i < pairs; ++i) {
    v.push_back(std::make_unique<Pair>());
    ASSERT_TRUE(v.back()->connect());
  }
  struct mallinfo2 after = mallinfo2();
  double per_assoc = static_cast<double>(after.uordblks - before.uordblks) / (2.0 * pairs);
  std::printf("[ memory ] %d connected pairs: %.1f KiB heap per association (%d streams)\n", pairs,
              per_assoc / 1024.0, int{Association::Config{}.streams});
  RecordProperty("bytes_per_association", static_cast<int>(per_assoc));
  EXPECT_LT(per_assoc, 2.0 * 1024 * 1024);
  v.clear();
  Stack::handle_timers(1000);
}

TEST(SctpTest, PausedReceiverClosesItsWindowAndResumeDeliversEverythingInOrder) {
  Pair p;
  ASSERT_TRUE(p.connect());
  p.b.assoc->set_receive_paused(true);
  const int count = 64;  // 4 MiB: far more than the receiver's 1 MiB socket buffer
  for (int i = 0; i < count; ++i)
    ASSERT_EQ(p.a.assoc->send(3, 53, pattern(64 * 1024, static_cast<uint8_t>(i)), {}), SendStatus::Ok) << i;
  // Time passes; nothing is delivered and the sender is held back by the closed window.
  p.run_until([] { return false; }, 500);
  EXPECT_TRUE(p.b.messages.empty());
  EXPECT_GT(p.a.assoc->buffered_amount(), 2u * 1024 * 1024) << "the sender keeps what the window refused";
  EXPECT_TRUE(p.a.assoc->connected() && p.b.assoc->connected());
  p.b.assoc->set_receive_paused(false);
  ASSERT_TRUE(p.run_until([&] { return p.b.messages.size() == count; }));
  for (int i = 0; i < count; ++i)
    ASSERT_EQ(p.b.messages[i].data, pattern(64 * 1024, static_cast<uint8_t>(i))) << "message " << i;
}

// A message's view must stay valid through its callback even when the callback makes another
// association read (the relay resumes a paused sender while it delivers a message): each nesting
// level reads into a buffer of its own. Before, every association read into one static buffer.
TEST(SctpTest, NestedReadOfAnotherAssociationKeepsTheOuterMessageIntact) {
  Pair x, y;
  ASSERT_TRUE(x.connect());
  ASSERT_TRUE(y.connect());
  y.b.assoc->set_receive_paused(true);
  const Bytes ybytes = pattern(3000, 7), xbytes = pattern(3000, 99);
  ASSERT_EQ(y.a.assoc->send(1, 51, ybytes, {}), SendStatus::Ok);
  y.pump();  // at y.b, unread while paused
  ASSERT_TRUE(y.b.messages.empty());
  bool checked = false;
  x.b.on_raw_message = [&](ByteView m) {
    const Bytes before(m.begin(), m.end());
    y.b.assoc->set_receive_paused(false);  // y.b reads y's message now, inside x's delivery
    checked = true;
    EXPECT_TRUE(std::equal(m.begin(), m.end(), before.begin(), before.end()))
        << "the outer message's bytes changed under it";
  };
  ASSERT_EQ(x.a.assoc->send(1, 51, xbytes, {}), SendStatus::Ok);
  x.pump();
  ASSERT_TRUE(checked);
  ASSERT_EQ(x.b.messages.size(), 1u);
  EXPECT_EQ(x.b.messages[0].data, xbytes);
  ASSERT_EQ(y.b.messages.size(), 1u);
  EXPECT_EQ(y.b.messages[0].data, ybytes);
}

TEST(SctpTest, ChecksumMatchesUsrsctpForAllLengths) {
  std::mt19937 rng(7);
  for (size_t n = 0; n < 1300; n += (n < 64 ? 1 : 37)) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    Bytes copy = b;
    EXPECT_EQ(checksum(b), usrsctp_crc32c(copy.data(), copy.size())) << n;
  }
}

namespace {
size_t data_chunks(const WireStats& st) { return st.data_ppids.size(); }
}  // namespace

TEST(SctpTest, BatchBundlesSmallMessagesIntoFewPackets) {
  Pair p;
  ASSERT_TRUE(p.connect());
  p.pump();
  // Without a batch every message is a packet of its own (SCTP_NODELAY).
  size_t before = p.stats_ab.packets;
  for (int i = 0; i < 30; ++i) ASSERT_EQ(p.a.assoc->send(1, 51, pattern(100, static_cast<uint8_t>(i)), {}), SendStatus::Ok);
  EXPECT_GE(p.stats_ab.packets - before, 30u);
  ASSERT_TRUE(p.run_until([&] { return p.b.messages.size() == 30; }));

  before = p.stats_ab.packets;
  size_t chunks_before = data_chunks(p.stats_ab);
  {
    Stack::Batch batch;
    EXPECT_TRUE(Stack::batching());
    for (int i = 0; i < 30; ++i)
      ASSERT_EQ(p.a.assoc->send(1, 51, pattern(100, static_cast<uint8_t>(100 + i)), {}), SendStatus::Ok);
    EXPECT_EQ(p.stats_ab.packets, before) << "held until the batch ends";
    EXPECT_EQ(p.a.assoc->buffered_amount(), 3000u);
  }
  EXPECT_FALSE(Stack::batching());
  EXPECT_EQ(p.a.assoc->buffered_amount(), 0u);
  // ~10 chunks of 100 B fit a 1200-byte packet: 30 messages in at most 5 packets.
  EXPECT_LE(p.stats_ab.packets - before, 5u);
  EXPECT_EQ(data_chunks(p.stats_ab) - chunks_before, 30u);
  ASSERT_TRUE(p.run_until([&] { return p.b.messages.size() == 60; }));
  for (int i = 0; i < 30; ++i) EXPECT_EQ(p.b.messages[30 + i].data, pattern(100, static_cast<uint8_t>(100 + i))) << i;
}

// usrsctp sends the first message of a burst at once when nothing is in flight (Nagle holds
// only behind unacknowledged data), and the rest together: two packets where one would do. The
// batch bundles the first into the second (sctp/bundle.hpp).
TEST(SctpTest, BatchSendsABurstAsOnePacketWhenNothingIsInFlight) {
  Pair p;
  ASSERT_TRUE(p.connect());
  p.pump();
  const size_t before = p.stats_ab.packets;
  const size_t chunks_before = data_chunks(p.stats_ab);
  const uint64_t bundled_before = Stack::counters().packets_bundled;
  {
    Stack::Batch batch;
    for (int i = 0; i < 7; ++i) ASSERT_EQ(p.a.assoc->send(1, 51, pattern(110, static_cast<uint8_t>(i)), {}), SendStatus::Ok);
  }
  EXPECT_EQ(p.stats_ab.packets - before, 1u) << "7 x 128 bytes of chunks fit one 1,200-byte packet";
  EXPECT_EQ(data_chunks(p.stats_ab) - chunks_before, 7u);
  EXPECT_EQ(p.stats_ab.bad_crc, 0u) << "the bundled packet carries its own checksum";
  EXPECT_LE(p.stats_ab.max_size, size_t{Association::Config{}.mtu});
  EXPECT_GE(Stack::counters().packets_bundled - bundled_before, 1u);
  ASSERT_TRUE(p.run_until([&] { return p.b.messages.size() == 7; }));
  for (int i = 0; i < 7; ++i) EXPECT_EQ(p.b.messages[i].data, pattern(110, static_cast<uint8_t>(i))) << i;
}

// The SACK usrsctp sends as soon as a second DATA packet arrives leaves with what the same turn
// sends back, SACK first.
TEST(SctpTest, ATurnsSackRidesWithItsData) {
  Pair p;
  ASSERT_TRUE(p.connect());
  p.pump();
  ASSERT_EQ(p.a.assoc->send(1, 51, pattern(100, 1), {}), SendStatus::Ok);  // no batch: a packet each
  ASSERT_EQ(p.a.assoc->send(1, 51, pattern(100, 2), {}), SendStatus::Ok);
  auto from_a = std::move(p.a.outbox);
  p.a.outbox.clear();
  ASSERT_EQ(from_a.size(), 2u);
  const size_t before = p.b.outbox.size();
  {
    Stack::Batch turn;
    for (auto& pk : from_a) p.b.assoc->receive(pk);  // the second packet: SACK at once
    ASSERT_EQ(p.b.messages.size(), 2u);
    ASSERT_EQ(p.b.assoc->send(1, 51, pattern(100, 3), {}), SendStatus::Ok);
    EXPECT_EQ(p.b.outbox.size(), before) << "held until the turn ends";
  }
  ASSERT_EQ(p.b.outbox.size() - before, 1u) << "one packet: SACK and DATA";
  EXPECT_EQ(chunk_types(p.b.outbox.back()), (std::vector<uint8_t>{3, 0}));
  ASSERT_TRUE(p.run_until([&] { return p.a.messages.size() == 1; }));
  EXPECT_EQ(p.a.messages[0].data, pattern(100, 3));
}

// An association destroyed inside a turn sends what it held first (then its ABORT).
TEST(SctpTest, DestroyedInsideATurnSendsItsHeldPacketFirst) {
  Pair p;
  ASSERT_TRUE(p.connect());
  p.pump();
  size_t held_at = 0;
  {
    Stack::Batch turn;
    // Large: to usrsctp at once, two fragments, too big to share a packet; the last is held.
    ASSERT_EQ(p.a.assoc->send(1, 51, pattern(2000, 1), {}), SendStatus::Ok);
    held_at = p.a.outbox.size();
    p.a.assoc.reset();
  }
  ASSERT_GE(p.a.outbox.size() - held_at, 2u);
  EXPECT_EQ(chunk_types(p.a.outbox[held_at]).front(), 0) << "the held DATA first";
  EXPECT_EQ(chunk_types(p.a.outbox.back()).front(), 6) << "then the ABORT";
}

TEST(SctpTest, BatchKeepsOrderAcrossSmallAndLargeMessagesAndNests) {
  Pair p;
  ASSERT_TRUE(p.connect());
  std::vector<Bytes> sent;
  {
    Stack::Batch outer;
    {
      Stack::Batch inner;
      for (size_t n : {10, 5000, 20, 70000, 30}) {
        sent.push_back(pattern(n, static_cast<uint8_t>(n)));
        ASSERT_EQ(p.a.assoc->send(3, 53, sent.back(), {}), SendStatus::Ok);
      }
    }
    EXPECT_TRUE(Stack::batching()) << "an inner batch's end is not the flush";
    EXPECT_GT(p.a.assoc->buffered_amount(), 0u);
  }
  ASSERT_TRUE(p.run_until([&] { return p.b.messages.size() == sent.size(); }));
  for (size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(p.b.messages[i].data, sent[i]) << i;
}

TEST(SctpTest, ShutdownInsideBatchStillDeliversHeldMessages) {
  Pair p;
  ASSERT_TRUE(p.connect());
  {
    Stack::Batch batch;
    for (int i = 0; i < 5; ++i) ASSERT_EQ(p.a.assoc->send(1, 51, pattern(50, static_cast<uint8_t>(i)), {}), SendStatus::Ok);
    p.a.assoc->shutdown();
  }
  ASSERT_TRUE(p.run_until([&] { return !p.a.closed.empty() && !p.b.closed.empty(); }));
  EXPECT_EQ(p.b.messages.size(), 5u);
}

TEST(SctpTest, DestroyedInsideBatchIsSkippedByTheFlush) {
  Pair p;
  ASSERT_TRUE(p.connect());
  {
    Stack::Batch batch;
    ASSERT_EQ(p.a.assoc->send(1, 51, pattern(50, 1), {}), SendStatus::Ok);
    p.a.assoc.reset();  // sends ABORT; the batch's flush must not touch it
  }
  ASSERT_TRUE(p.run_until([&] { return !p.b.closed.empty(); }));
  EXPECT_TRUE(p.b.messages.empty());
}

TEST(SctpTest, BacklogOfLargeMessagesDrainsInBatchesWithoutStalling) {
  // The 12 MB burst shape: a backlog beyond usrsctp's buffer, large and small messages, drained
  // from loop turns: everything arrives, in order, well inside one retransmission timeout.
  Pair p;
  p.batched = true;
  ASSERT_TRUE(p.connect());
  const int count = 24;
  for (int i = 0; i < count; ++i) {
    Stack::Batch turn;
    ASSERT_EQ(p.a.assoc->send(7, 53, pattern(200000, static_cast<uint8_t>(i)), {}), SendStatus::Ok) << i;
    ASSERT_EQ(p.a.assoc->send(7, 51, pattern(100, static_cast<uint8_t>(i)), {}), SendStatus::Ok) << i;
  }
  ASSERT_TRUE(p.run_until([&] { return p.b.messages.size() == 2 * count; }, 500))
      << p.b.messages.size() << " of " << 2 * count << " after 500 ms";
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(p.b.messages[2 * i].data, pattern(200000, static_cast<uint8_t>(i))) << i;
    ASSERT_EQ(p.b.messages[2 * i + 1].data, pattern(100, static_cast<uint8_t>(i))) << i;
  }
}

// usrsctp walks its whole timer list on every usrsctp_handle_timers() call. Stack calls it on
// every tick only while packets arrive (the delayed-SACK timer needs it) and at most every
// kQuietTimerWalkMs otherwise, without losing elapsed time.
TEST(SctpTest, TimerWalksFollowInputAndThinOutWhenQuiet) {
  Pair p;
  ASSERT_TRUE(p.connect());
  // usrsctp acknowledges the first DATA of an association at once; later ones wait.
  ASSERT_EQ(p.a.assoc->send(1, 51, pattern(100, 2), {}), SendStatus::Ok);
  p.pump();
  ASSERT_EQ(p.b.messages.size(), 1u);
  // Settle: nothing in flight for longer than the every-call window after the last input.
  int quiet_calls = 0;
  for (int i = 0; i < 1000 && quiet_calls * 10 <= int{Stack::kInputWalkWindowMs}; ++i) {
    Stack::handle_timers(10);
    quiet_calls = p.pump() == 0 ? quiet_calls + 1 : 0;
  }
  ASSERT_GT(quiet_calls * 10, int{Stack::kInputWalkWindowMs});
  Stack::handle_timers(Stack::kQuietTimerWalkMs);  // a quiet walk: nothing left unwalked
  ASSERT_EQ(p.pump(), 0u);

  const uint64_t w0 = Stack::timer_walks();
  for (uint32_t t = 10; t < Stack::kQuietTimerWalkMs; t += 10) Stack::handle_timers(10);
  EXPECT_EQ(Stack::timer_walks(), w0) << "quiet: no walk before " << Stack::kQuietTimerWalkMs << " ms";
  Stack::handle_timers(10);
  EXPECT_EQ(Stack::timer_walks(), w0 + 1) << "quiet: one walk per " << Stack::kQuietTimerWalkMs << " ms";
  ASSERT_EQ(p.pump(), 0u);

  // One DATA packet reaches b; its SACK waits for the 20 ms delayed-SACK timer.
  const size_t b_packets = p.stats_ba.packets;
  ASSERT_EQ(p.a.assoc->send(1, 51, pattern(100, 3), {}), SendStatus::Ok);
  ASSERT_EQ(p.a.outbox.size(), 1u);
  p.b.assoc->receive(p.a.outbox.front());
  p.a.outbox.clear();
  ASSERT_EQ(p.b.messages.size(), 2u);
  ASSERT_EQ(p.stats_ba.packets, b_packets) << "usrsctp acknowledged the lone packet at once";
  // From here every call walks, and the SACK leaves once 20 ms (+ one tick) have passed.
  for (int i = 1; i <= 3; ++i) {
    Stack::handle_timers(10);
    EXPECT_EQ(Stack::timer_walks(), w0 + 1 + i);
  }
  EXPECT_EQ(p.stats_ba.packets, b_packets + 1) << "the delayed SACK left within 30 ms";
  p.pump();
  EXPECT_TRUE(p.a.closed.empty());
  EXPECT_TRUE(p.b.closed.empty());
}
