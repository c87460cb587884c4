// sctp::LossProbe on hand-built packets and a fake clock: when a peer's DATA without a SACK asks
// for a probe, and what the probe is.
#include "sctp/loss_probe.hpp"

#include <gtest/gtest.h>

#include <initializer_list>

using namespace peerrtc;
using namespace peerrtc::sctp;
using namespace std::chrono_literals;

namespace {

using T = LossProbe::Clock::time_point;
const T t0 = T{} + 1h;

Bytes packet(std::initializer_list<Bytes> chunks) {
  Bytes p(12, 0);
  store_be16(&p[0], 5000);
  store_be16(&p[2], 5000);
  store_be32(&p[4], 0x11223344);
  p[8] = 0xAA;
  for (const auto& c : chunks) p.insert(p.end(), c.begin(), c.end());
  return p;
}
Bytes data(uint32_t tsn, size_t payload = 5) {
  Bytes c(16 + payload, 0x5A);
  c[0] = 0;
  c[1] = 0x03;  // B and E
  store_be16(&c[2], static_cast<uint16_t>(16 + payload));
  store_be32(&c[4], tsn);
  c.resize((c.size() + 3) & ~size_t{3}, 0);
  return c;
}
Bytes sack(uint32_t cum) {
  Bytes c(16, 0);
  c[0] = 3;
  store_be16(&c[2], 16);
  store_be32(&c[4], cum);
  return c;
}

}  // namespace

TEST(LossProbe, PeerDataWithoutSackWhileOursIsUnackedAsksForTheLastChunk) {
  LossProbe lp;
  lp.on_sent(packet({sack(7), data(100), data(101, 9)}), t0);
  // Too soon: the peer's packet may have left before ours reached it.
  EXPECT_FALSE(lp.due(packet({data(8)}), t0 + 5ms));
  EXPECT_TRUE(lp.due(packet({data(9)}), t0 + LossProbe::kMinDelay));
  EXPECT_TRUE(lp.confirm(t0 + LossProbe::kMinDelay, 1ms));
  EXPECT_FALSE(lp.confirm(t0 + LossProbe::kMinDelay, 20ms));  // 2 x SRTT not yet passed
  EXPECT_TRUE(lp.confirm(t0 + 40ms, 20ms));
  // The probes: the header (checksum zeroed) and one DATA chunk each, oldest first, I bit set;
  // no SACK.
  ASSERT_EQ(lp.probes(), 2u);
  for (uint32_t i = 0; i < 2; ++i) {
    const Bytes want = packet({data(100 + i, i ? 9 : 5)});
    const Bytes p = lp.probe(i);
    ASSERT_EQ(p.size(), want.size());
    EXPECT_TRUE(std::equal(p.begin(), p.begin() + 8, want.begin()));
    EXPECT_EQ(load_be32(&p[8]), 0u);
    EXPECT_EQ(p[12], 0);             // DATA
    EXPECT_EQ(p[13], 0x03 | 0x08);  // B, E and I (RFC 7053)
    EXPECT_EQ(load_be32(&p[16]), 100 + i);
    EXPECT_TRUE(std::equal(p.begin() + 14, p.end(), want.begin() + 14));
  }
}

TEST(LossProbe, KeepsTheLastThreeChunksSentAcrossPackets) {
  LossProbe lp;
  lp.on_sent(packet({data(1), data(2), data(3), data(4), data(5)}), t0);
  ASSERT_EQ(lp.probes(), LossProbe::kChunks);
  EXPECT_EQ(load_be32(&lp.probe(0)[16]), 3u);
  EXPECT_EQ(load_be32(&lp.probe(2)[16]), 5u);
  lp.on_sent(packet({sack(0), data(6)}), t0);
  lp.on_sent(packet({sack(0)}), t0);  // no DATA: nothing changes
  EXPECT_EQ(load_be32(&lp.probe(0)[16]), 4u);
  EXPECT_EQ(load_be32(&lp.probe(1)[16]), 5u);
  EXPECT_EQ(load_be32(&lp.probe(2)[16]), 6u);
  EXPECT_EQ(lp.probe(3).size(), 12u);  // out of range: the header alone
}

TEST(LossProbe, NoProbeOnceAcknowledgedOrWhileSacksComeOrWithoutPeerData) {
  LossProbe lp;
  lp.on_sent(packet({data(100)}), t0);
  // A SACK restarts the wait; one acknowledging everything ends it.
  EXPECT_FALSE(lp.due(packet({sack(99), data(5)}), t0 + 20ms));
  EXPECT_FALSE(lp.due(packet({data(6)}), t0 + 25ms));  // 5 ms after that SACK
  EXPECT_TRUE(lp.due(packet({data(7)}), t0 + 30ms));
  // Only DATA tells that the peer is sending and would have bundled a SACK it owed.
  EXPECT_FALSE(lp.due(packet({}), t0 + 40ms));
  Bytes hb = packet({});
  hb.insert(hb.end(), {4, 0, 0, 8, 0, 1, 0, 4});  // HEARTBEAT
  EXPECT_FALSE(lp.due(hb, t0 + 40ms));
  EXPECT_FALSE(lp.due(packet({sack(100)}), t0 + 50ms));
  EXPECT_FALSE(lp.due(packet({data(8)}), t0 + 100ms));
  // New data outstanding again; a probe restarts the delay, doubled while no SACK answers.
  lp.on_sent(packet({data(101)}), t0 + 100ms);
  EXPECT_TRUE(lp.due(packet({data(9)}), t0 + 110ms));
  lp.probed(t0 + 110ms);
  EXPECT_FALSE(lp.due(packet({data(10)}), t0 + 125ms));
  EXPECT_TRUE(lp.due(packet({data(11)}), t0 + 130ms));
  lp.probed(t0 + 130ms);
  EXPECT_FALSE(lp.due(packet({data(12)}), t0 + 165ms));
  EXPECT_TRUE(lp.due(packet({data(13)}), t0 + 170ms));
  for (int i = 0; i < 10; ++i) lp.probed(t0 + 170ms);  // at most 16 x kMinDelay
  EXPECT_FALSE(lp.due(packet({data(14)}), t0 + 320ms));
  EXPECT_TRUE(lp.due(packet({data(15)}), t0 + 330ms));
  // A SACK (not acknowledging everything) resets the backoff.
  EXPECT_FALSE(lp.due(packet({sack(100)}), t0 + 330ms));
  EXPECT_TRUE(lp.due(packet({data(16)}), t0 + 340ms));
}

TEST(LossProbe, SerialArithmeticAndMalformedInput) {
  LossProbe lp;
  EXPECT_FALSE(lp.due(packet({data(1)}), t0));  // nothing sent yet
  lp.on_sent(packet({data(0xFFFFFFFFu)}), t0);
  lp.on_sent(packet({data(1)}), t0);  // wrapped: 1 is above 0xFFFFFFFF
  EXPECT_FALSE(lp.due(packet({sack(0xFFFFFFFFu)}), t0 + 1ms));
  EXPECT_TRUE(lp.due(packet({data(2)}), t0 + 20ms));  // TSN 1 still unacknowledged
  EXPECT_FALSE(lp.due(packet({sack(1)}), t0 + 30ms));
  EXPECT_FALSE(lp.due(packet({data(3)}), t0 + 50ms));
  // Truncated chunks and packets shorter than a header: no probe, no crash.
  lp.on_sent(packet({data(2)}), t0 + 50ms);
  Bytes bad = packet({data(4)});
  bad.resize(bad.size() - 6);
  EXPECT_FALSE(lp.due(bad, t0 + 100ms));
  EXPECT_FALSE(lp.due(Bytes(5, 0), t0 + 100ms));
  lp.on_sent(Bytes(3, 0), t0 + 100ms);
  lp.on_sent(bad, t0 + 100ms);
  EXPECT_EQ(load_be32(&lp.probe(lp.probes() - 1)[16]), 2u);  // unchanged by what it could not read
}
