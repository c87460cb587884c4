#include "dcep/dcep.hpp"

#include <gtest/gtest.h>

#include <random>
#include <stdexcept>

namespace peerrtc::dcep {
namespace {

constexpr ChannelType kAllTypes[] = {
    ChannelType::Reliable,
    ChannelType::ReliableUnordered,
    ChannelType::PartialReliableRexmit,
    ChannelType::PartialReliableRexmitUnordered,
    ChannelType::PartialReliableTimed,
    ChannelType::PartialReliableTimedUnordered,
};

bool is_reliable(ChannelType t) {
  return t == ChannelType::Reliable || t == ChannelType::ReliableUnordered;
}

void expect_equal(const Open& a, const Open& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.reliability, b.reliability);
  EXPECT_EQ(a.label, b.label);
  EXPECT_EQ(a.protocol, b.protocol);
}

Open sample() {
  Open o;
  o.type = ChannelType::PartialReliableRexmit;
  o.priority = 0x0102;
  o.reliability = 0x03040506;
  o.label = "ab";
  o.protocol = "xyz";
  return o;
}

TEST(Dcep, ExactByteLayout) {
  // RFC 8832 §5.1.
  const Bytes expected = {
      0x03,                    // Message Type: DATA_CHANNEL_OPEN
      0x01,                    // Channel Type: PARTIAL_RELIABLE_REXMIT
      0x01, 0x02,              // Priority
      0x03, 0x04, 0x05, 0x06,  // Reliability Parameter
      0x00, 0x02,              // Label Length
      0x00, 0x03,              // Protocol Length
      'a',  'b',               // Label
      'x',  'y',  'z',         // Protocol
  };
  EXPECT_EQ(encode_open(sample()), expected);
  auto o = decode_open(expected);
  ASSERT_TRUE(o);
  expect_equal(*o, sample());
}

TEST(Dcep, ChannelTypeValues) {
  // RFC 8832 §8.2.2 registry values.
  EXPECT_EQ(static_cast<uint8_t>(ChannelType::Reliable), 0x00);
  EXPECT_EQ(static_cast<uint8_t>(ChannelType::ReliableUnordered), 0x80);
  EXPECT_EQ(static_cast<uint8_t>(ChannelType::PartialReliableRexmit), 0x01);
  EXPECT_EQ(static_cast<uint8_t>(ChannelType::PartialReliableRexmitUnordered), 0x81);
  EXPECT_EQ(static_cast<uint8_t>(ChannelType::PartialReliableTimed), 0x02);
  EXPECT_EQ(static_cast<uint8_t>(ChannelType::PartialReliableTimedUnordered), 0x82);
  EXPECT_FALSE(is_unordered(ChannelType::Reliable));
  EXPECT_TRUE(is_unordered(ChannelType::ReliableUnordered));
  EXPECT_FALSE(is_unordered(ChannelType::PartialReliableTimed));
  EXPECT_TRUE(is_unordered(ChannelType::PartialReliableRexmitUnordered));
}

TEST(Dcep, PpidValues) {
  // RFC 8831 §8.
  EXPECT_EQ(ppid::kDcep, 50u);
  EXPECT_EQ(ppid::kString, 51u);
  EXPECT_EQ(ppid::kBinary, 53u);
  EXPECT_EQ(ppid::kStringEmpty, 56u);
  EXPECT_EQ(ppid::kBinaryEmpty, 57u);
}

TEST(Dcep, RoundTripEveryChannelType) {
  for (ChannelType t : kAllTypes) {
    Open o;
    o.type = t;
    o.priority = 512;
    o.reliability = 1500;
    o.label = "chat";
    o.protocol = "json";
    const Bytes b = encode_open(o);
    EXPECT_EQ(b[1], static_cast<uint8_t>(t));
    auto d = decode_open(b);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->type, t);
    EXPECT_EQ(d->priority, 512);
    // RFC 8832 §5.1: reliable channels send 0 and receivers ignore the field.
    EXPECT_EQ(d->reliability, is_reliable(t) ? 0u : 1500u);
    EXPECT_EQ(load_be32(b.data() + 4), is_reliable(t) ? 0u : 1500u);
    EXPECT_EQ(d->label, "chat");
    EXPECT_EQ(d->protocol, "json");
  }
}

TEST(Dcep, ReliabilityIgnoredOnReceiveForReliableTypes) {
  Bytes b = encode_open(Open{});
  store_be32(b.data() + 4, 0xDEADBEEF);
  auto d = decode_open(b);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reliability, 0u);
}

TEST(Dcep, ExtremeFieldValues) {
  Open o;
  o.type = ChannelType::PartialReliableTimedUnordered;
  o.priority = 0xFFFF;
  o.reliability = 0xFFFFFFFF;
  o.label = std::string(0xFFFF, 'L');
  o.protocol = std::string(0xFFFF, 'P');
  const Bytes b = encode_open(o);
  EXPECT_EQ(b.size(), 12u + 2 * 0xFFFF);
  auto d = decode_open(b);
  ASSERT_TRUE(d);
  expect_equal(*d, o);
}

TEST(Dcep, EmptyLabelAndProtocol) {
  const Open o;
  const Bytes b = encode_open(o);
  const Bytes expected = {0x03, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};  // priority 256
  EXPECT_EQ(b, expected);
  auto d = decode_open(b);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->label.empty());
  EXPECT_TRUE(d->protocol.empty());

  Open only_label;
  only_label.label = "x";
  d = decode_open(encode_open(only_label));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->label, "x");
  EXPECT_TRUE(d->protocol.empty());

  Open only_protocol;
  only_protocol.protocol = "y";
  d = decode_open(encode_open(only_protocol));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->label.empty());
  EXPECT_EQ(d->protocol, "y");
}

TEST(Dcep, Utf8Label) {
  Open o;
  o.label = "\xec\xb1\x84\xeb\x84\x90 \xf0\x9f\x9a\x80 caf\xc3\xa9";  // "채널 🚀 café"
  o.protocol = "\xe2\x82\xac";                                        // "€"
  const Bytes b = encode_open(o);
  EXPECT_EQ(load_be16(b.data() + 8), o.label.size());  // lengths are bytes, not characters
  EXPECT_EQ(load_be16(b.data() + 10), 3);
  auto d = decode_open(b);
  ASSERT_TRUE(d);
  expect_equal(*d, o);
}

TEST(Dcep, InvalidUtf8Rejected) {
  const char* bad[] = {
      "\x80",              // lone continuation
      "\xc0\x80",          // overlong NUL
      "\xc1\xbf",          // overlong
      "\xe0\x80\x80",      // overlong 3-byte
      "\xed\xa0\x80",      // UTF-16 surrogate
      "\xf0\x80\x80\x80",  // overlong 4-byte
      "\xf4\x90\x80\x80",  // above U+10FFFF
      "\xf5\x80\x80\x80",  // invalid lead
      "\xff",              // invalid byte
      "\xe2\x82",          // truncated sequence
      "a\xe2\x82",         // truncated at end
      "\xe2\x28\xa1",      // bad continuation
  };
  for (const char* s : bad) {
    Bytes b = encode_open(Open{});
    const std::string label(s);
    store_be16(b.data() + 8, static_cast<uint16_t>(label.size()));
    b.insert(b.end(), label.begin(), label.end());
    EXPECT_FALSE(decode_open(b)) << "label";
    store_be16(b.data() + 8, 0);
    store_be16(b.data() + 10, static_cast<uint16_t>(label.size()));
    EXPECT_FALSE(decode_open(b)) << "protocol";

    Open o;
    o.label = label;
    EXPECT_THROW(encode_open(o), std::invalid_argument);
  }
  // Boundary code points that are valid.
  for (const char* s : {"\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf",
                        "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"}) {
    Open o;
    o.label = s;
    auto d = decode_open(encode_open(o));
    ASSERT_TRUE(d) << s;
    EXPECT_EQ(d->label, s);
  }
  // An embedded NUL is valid UTF-8 and preserved.
  Open o;
  o.label = std::string("a\0b", 3);
  auto d = decode_open(encode_open(o));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->label, o.label);
}

TEST(Dcep, EveryTruncationRejected) {
  const Bytes full = encode_open(sample());
  for (size_t n = 0; n < full.size(); ++n) {
    EXPECT_FALSE(decode_open(ByteView(full).first(n))) << n;
  }
}

TEST(Dcep, TrailingBytesRejected) {
  Bytes b = encode_open(sample());
  b.push_back('!');
  EXPECT_FALSE(decode_open(b));
}

TEST(Dcep, LengthFieldsPastTheEnd) {
  const Bytes good = encode_open(sample());  // label 2, protocol 3
  auto with_lengths = [&](uint16_t label, uint16_t protocol) {
    Bytes b = good;
    store_be16(b.data() + 8, label);
    store_be16(b.data() + 10, protocol);
    return b;
  };
  EXPECT_TRUE(decode_open(with_lengths(2, 3)));
  EXPECT_TRUE(decode_open(with_lengths(5, 0)));  // same total: label "abxyz"
  EXPECT_TRUE(decode_open(with_lengths(0, 5)));
  EXPECT_FALSE(decode_open(with_lengths(3, 3)));
  EXPECT_FALSE(decode_open(with_lengths(2, 4)));
  EXPECT_FALSE(decode_open(with_lengths(6, 0)));
  EXPECT_FALSE(decode_open(with_lengths(0, 6)));
  EXPECT_FALSE(decode_open(with_lengths(0xFFFF, 0)));
  EXPECT_FALSE(decode_open(with_lengths(0, 0xFFFF)));
  EXPECT_FALSE(decode_open(with_lengths(0xFFFF, 0xFFFF)));
  // Wrap-around bait: 0xFFFF + 6 would be 5 in 16-bit arithmetic.
  EXPECT_FALSE(decode_open(with_lengths(0xFFFF, 6)));
  EXPECT_FALSE(decode_open(with_lengths(1, 1)));
}

TEST(Dcep, WrongMessageTypeRejected) {
  for (int t = 0; t < 256; ++t) {
    Bytes b = encode_open(sample());
    b[0] = static_cast<uint8_t>(t);
    EXPECT_EQ(decode_open(b).has_value(), t == kMessageOpen) << t;
  }
}

TEST(Dcep, UnknownChannelTypeRejected) {
  for (int t = 0; t < 256; ++t) {
    Bytes b = encode_open(sample());
    b[1] = static_cast<uint8_t>(t);
    const bool known = t == 0x00 || t == 0x80 || t == 0x01 || t == 0x81 || t == 0x02 || t == 0x82;
    EXPECT_EQ(decode_open(b).has_value(), known) << t;
  }
  Open o;
  o.type = static_cast<ChannelType>(0x03);
  EXPECT_THROW(encode_open(o), std::invalid_argument);
}

TEST(Dcep, EncodeRejectsOverlongFields) {
  Open o;
  o.label = std::string(0x10000, 'a');
  EXPECT_THROW(encode_open(o), std::invalid_argument);
  o.label.clear();
  o.protocol = std::string(0x10000, 'a');
  EXPECT_THROW(encode_open(o), std::invalid_argument);
}

TEST(Dcep, Ack) {
  EXPECT_EQ(encode_ack(), Bytes{0x02});
  EXPECT_TRUE(is_ack(encode_ack()));
  EXPECT_FALSE(is_ack(ByteView{}));
  EXPECT_FALSE(is_ack(Bytes{0x03}));
  // pion/datachannel 1.5's ACK is 4 bytes; libwebrtc, too, looks only at the first byte.
  EXPECT_TRUE(is_ack(Bytes{0x02, 0x00, 0x00, 0x00}));
  EXPECT_TRUE(is_ack(Bytes{0x02, 0x00}));
  EXPECT_FALSE(is_ack(encode_open(sample())));
  EXPECT_FALSE(decode_open(encode_ack()));
}

TEST(Dcep, RandomGarbageNeverCrashes) {
  std::mt19937 rng(8832);
  int decoded = 0;
  for (int i = 0; i < 5000; ++i) {
    Bytes b(std::uniform_int_distribution<size_t>(0, 64)(rng));
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    // Half the time make the header plausible to reach the length and UTF-8 checks.
    if (i % 2 == 0 && b.size() >= 12) {
      b[0] = kMessageOpen;
      b[1] = static_cast<uint8_t>(kAllTypes[rng() % 6]);
      const size_t body = b.size() - 12;
      const uint16_t label = static_cast<uint16_t>(rng() % (body + 1));
      store_be16(b.data() + 8, label);
      store_be16(b.data() + 10, static_cast<uint16_t>(body - label + rng() % 2));
      for (size_t k = 12; k < b.size(); ++k) b[k] &= 0x7F;
    }
    (void)is_ack(b);
    auto o = decode_open(b);
    if (o) {
      ++decoded;
      auto again = decode_open(encode_open(*o));
      ASSERT_TRUE(again);
      expect_equal(*o, *again);
    }
  }
  EXPECT_GT(decoded, 0);
}

}  // namespace
}  // namespace peerrtc::dcep
