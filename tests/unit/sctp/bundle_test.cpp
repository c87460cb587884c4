// sctp::bundle_packets on hand-built packets: what may share a packet, in which order, and
// everything else left alone.
#include "sctp/bundle.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <vector>

using namespace peerrtc;
using namespace peerrtc::sctp;

namespace {

constexpr uint32_t kTag = 0x11223344;

Bytes header(uint32_t vtag = kTag, uint16_t src = 5000, uint16_t dst = 5000) {
  Bytes p(12, 0);
  store_be16(&p[0], src);
  store_be16(&p[2], dst);
  store_be32(&p[4], vtag);
  p[8] = 0xAA;  // a checksum: the result must carry zero there
  return p;
}

// A chunk of `type` with `body` bytes after its 4-byte header, padded to 4 unless `pad` is off.
Bytes chunk(uint8_t type, size_t body, uint8_t fill, bool pad = true) {
  Bytes c(4 + body, fill);
  c[0] = type;
  c[1] = 0x03;
  store_be16(&c[2], static_cast<uint16_t>(4 + body));
  if (pad) c.resize((c.size() + 3) & ~size_t{3}, 0);
  return c;
}
Bytes data(size_t payload, uint8_t fill, bool pad = true) { return chunk(0, 12 + payload, fill, pad); }
Bytes sack(uint8_t fill) { return chunk(3, 12, fill); }

Bytes packet(std::initializer_list<Bytes> chunks, uint32_t vtag = kTag) {
  Bytes p = header(vtag);
  for (const auto& c : chunks) p.insert(p.end(), c.begin(), c.end());
  return p;
}

struct Seen {
  uint8_t type;
  uint8_t fill;  // the first body byte: which chunk this was
  size_t length;
};

std::vector<Seen> chunks_of(const Bytes& p) {
  std::vector<Seen> out;
  size_t off = 12;
  while (off + 4 <= p.size()) {
    const size_t len = load_be16(&p[off + 2]);
    if (len < 4 || off + len > p.size()) break;
    out.push_back({p[off], len > 4 ? p[off + 4] : uint8_t{0}, len});
    off += (len + 3) & ~size_t{3};
  }
  return out;
}

}  // namespace

TEST(BundleTest, DataAfterDataSharesOnePacketInOrder) {
  Bytes held = packet({data(100, 1)});
  const Bytes next = packet({data(100, 2), data(100, 3)});
  ASSERT_TRUE(bundle_packets(held, next, 1200));
  const auto c = chunks_of(held);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].fill, 1);
  EXPECT_EQ(c[1].fill, 2);
  EXPECT_EQ(c[2].fill, 3);
  EXPECT_EQ(held.size(), 12u + 3 * 116);  // 16-byte DATA header + 100 bytes, each
  EXPECT_EQ(load_be32(&held[4]), kTag);
  EXPECT_EQ(load_be32(&held[8]), 0u) << "the caller computes the checksum";
}

TEST(BundleTest, SackGoesFirstAndTheNewerOneWins) {
  {
    // A SACK alone, then DATA: the SACK leads.
    Bytes held = packet({sack(7)});
    ASSERT_TRUE(bundle_packets(held, packet({data(50, 1)}), 1200));
    const auto c = chunks_of(held);
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[0].type, 3);
    EXPECT_EQ(c[1].type, 0);
  }
  {
    // DATA then a SACK: still SACK first (control chunks before DATA).
    Bytes held = packet({data(50, 1)});
    ASSERT_TRUE(bundle_packets(held, packet({sack(7)}), 1200));
    const auto c = chunks_of(held);
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[0].type, 3);
    EXPECT_EQ(c[1].fill, 1);
  }
  {
    // Two SACKs: only the later one stays.
    Bytes held = packet({sack(7), data(50, 1)});
    ASSERT_TRUE(bundle_packets(held, packet({sack(8), data(50, 2)}), 1200));
    const auto c = chunks_of(held);
    ASSERT_EQ(c.size(), 3u);
    EXPECT_EQ(c[0].type, 3);
    EXPECT_EQ(c[0].fill, 8);
    EXPECT_EQ(c[1].fill, 1);
    EXPECT_EQ(c[2].fill, 2);
  }
}

TEST(BundleTest, TheLimitIsThePacketAsSent) {
  const Bytes first = packet({data(500, 1)});   // 12 + 516
  const Bytes second = packet({data(656, 2)});  // 12 + 672: together 12 + 1,188
  Bytes held = first;
  EXPECT_TRUE(bundle_packets(held, second, 1200));
  EXPECT_EQ(held.size(), 1200u);
  held = first;
  EXPECT_FALSE(bundle_packets(held, second, 1199));
  EXPECT_EQ(held, first) << "unchanged when refused";
}

TEST(BundleTest, AnUnpaddedLastChunkIsReadAndPaddedInTheResult) {
  Bytes held = packet({data(5, 1, /*pad=*/false)});  // 21-byte chunk, no padding after it
  ASSERT_EQ(held.size(), 33u);
  ASSERT_TRUE(bundle_packets(held, packet({data(5, 2, false)}), 1200));
  const auto c = chunks_of(held);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].length, 21u);
  EXPECT_EQ(c[1].length, 21u);
  EXPECT_EQ(held.size(), 12u + 24 + 24);
  EXPECT_EQ(held[12 + 21], 0) << "padding is zeros";
}

TEST(BundleTest, OtherAssociationsAndOtherChunksAreLeftAlone) {
  const Bytes base = packet({data(50, 1)});
  auto refused = [&](const Bytes& next) {
    Bytes held = base;
    const bool merged = bundle_packets(held, next, 1200);
    EXPECT_EQ(held, base);
    return !merged;
  };
  EXPECT_TRUE(refused(packet({data(50, 2)}, kTag + 1))) << "another verification tag";
  Bytes ports = packet({data(50, 2)});
  store_be16(&ports[0], 5001);
  EXPECT_TRUE(refused(ports)) << "other ports";
  // INIT 1, INIT ACK 2, HEARTBEAT 4, ABORT 6, SHUTDOWN 7, COOKIE ECHO 10, RE-CONFIG 130,
  // FORWARD-TSN 192, I-DATA 64: never moved.
  for (uint8_t type : {1, 2, 4, 5, 6, 7, 8, 10, 11, 14, 64, 130, 192}) {
    EXPECT_TRUE(refused(packet({chunk(type, 16, 9)}))) << int{type};
    EXPECT_TRUE(refused(packet({data(50, 2), chunk(type, 16, 9)}))) << int{type};
    Bytes held = packet({chunk(type, 16, 9)});
    const Bytes before = held;
    EXPECT_FALSE(bundle_packets(held, base, 1200)) << int{type};
    EXPECT_EQ(held, before);
  }
  EXPECT_TRUE(refused(packet({sack(1), sack(2)}))) << "two SACKs in one packet";
}

TEST(BundleTest, MalformedPacketsAreRefusedWithoutReadingPastTheEnd) {
  const Bytes base = packet({data(50, 1)});
  std::vector<Bytes> bad;
  bad.push_back(header());                            // no chunk
  bad.push_back(Bytes(5, 0));                         // shorter than a header
  Bytes p = packet({data(50, 2)});
  store_be16(&p[14], 3);                              // chunk length < 4
  bad.push_back(p);
  p = packet({data(50, 2)});
  store_be16(&p[14], 2000);                           // past the end
  bad.push_back(p);
  p = packet({data(50, 2)});
  p.resize(p.size() - 4);                             // cut inside the chunk (not only its padding)
  bad.push_back(p);
  p = packet({data(50, 2)});
  p.push_back(0);                                     // 1-3 stray bytes after the last chunk
  bad.push_back(p);
  p = packet({data(5, 2, false), data(5, 3)});        // an unpadded chunk that is not the last
  bad.push_back(p);
  bad.push_back(packet({chunk(0, 8, 2)}));            // a DATA chunk shorter than its header
  for (size_t i = 0; i < bad.size(); ++i) {
    Bytes held = base;
    EXPECT_FALSE(bundle_packets(held, bad[i], 1200)) << i;
    EXPECT_EQ(held, base) << i;
    Bytes h2 = bad[i];
    EXPECT_FALSE(bundle_packets(h2, base, 1200)) << i;
    EXPECT_EQ(h2, bad[i]) << i;
  }
}
