// RateLimiter: the bucket's arithmetic, Retry-After, and the bounded table (src/server/rate_limit.hpp).
#include "server/rate_limit.hpp"

#include <gtest/gtest.h>

using peerrtc::server::RateLimit;
using peerrtc::server::RateLimiter;
using namespace std::chrono_literals;

TEST(RateLimiter, BurstThenRefusedWithRetryAfterThenRefilled) {
  RateLimiter rl({.rate = 2, .burst = 3});
  const auto t0 = RateLimiter::Clock::time_point{} + 1h;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rl.take("1.2.3.4", t0), 0u) << i;
  EXPECT_EQ(rl.take("1.2.3.4", t0), 1u);    // one token back in 0.5 s: rounded up to 1 s
  EXPECT_EQ(rl.take("5.6.7.8", t0), 0u);    // another address has its own bucket
  EXPECT_EQ(rl.take("1.2.3.4", t0 + 499ms), 1u);
  EXPECT_EQ(rl.take("1.2.3.4", t0 + 500ms), 0u);  // 2 tokens/s
  EXPECT_EQ(rl.take("1.2.3.4", t0 + 500ms), 1u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rl.take("1.2.3.4", t0 + 10s), 0u) << i;  // never above the burst
  EXPECT_EQ(rl.take("1.2.3.4", t0 + 10s), 1u);
}

TEST(RateLimiter, SlowRateGivesLongerRetryAfter) {
  RateLimiter rl({.rate = 0.1, .burst = 1});
  const auto t0 = RateLimiter::Clock::time_point{} + 1h;
  EXPECT_EQ(rl.take("a", t0), 0u);
  EXPECT_EQ(rl.take("a", t0), 10u);
}

TEST(RateLimiter, OffTakesNothing) {
  RateLimiter rl({.rate = 0, .burst = 0});
  EXPECT_FALSE(rl.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(rl.take("a"), 0u);
  EXPECT_EQ(rl.addresses(), 0u);
}

TEST(RateLimiter, TableIsBoundedAndEvictsIdleFirst) {
  RateLimiter rl({.rate = 1, .burst = 2, .max_addresses = 4});
  const auto t0 = RateLimiter::Clock::time_point{} + 1h;
  // "busy" empties its bucket; the others take one token and are idle (full) again 1 s later.
  EXPECT_EQ(rl.take("busy", t0), 0u);
  EXPECT_EQ(rl.take("busy", t0), 0u);
  for (const char* a : {"x", "y", "z"}) EXPECT_EQ(rl.take(a, t0), 0u);
  EXPECT_EQ(rl.addresses(), 4u);
  EXPECT_EQ(rl.take("busy", t0 + 100ms), 1u);  // most recently used now; still empty
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(rl.take("new" + std::to_string(i), t0 + 2s), 0u);
    EXPECT_LE(rl.addresses(), 4u);
  }
  // Thousands of addresses later the table is still bounded, and a refused address that comes
  // back after its bucket was evicted starts full: the bound costs at most one burst.
  EXPECT_LE(rl.addresses(), 4u);
}

TEST(RateLimiter, EvictionKeepsABusyRecentAddressLimited) {
  RateLimiter rl({.rate = 0.001, .burst = 1, .max_addresses = 8});
  const auto t0 = RateLimiter::Clock::time_point{} + 1h;
  EXPECT_EQ(rl.take("attacker", t0), 0u);
  // A few other addresses (fewer than the table holds): the attacker's empty bucket stays.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rl.take("other" + std::to_string(i), t0), 0u);
  EXPECT_GT(rl.take("attacker", t0), 0u);
}

// The bucket key: IPv4 as it is, IPv4-mapped IPv6 as its IPv4 (one client, one bucket, whatever
// the listener), other IPv6 by /64 (a host with a /64 gets one bucket, not 2^64).
TEST(RateLimiter, KeysAreIPv4OrTheIPv6Slash64) {
  using peerrtc::server::rate_key;
  EXPECT_EQ(rate_key("203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(rate_key("::ffff:203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(rate_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(rate_key("2001:db8:1:2::1"), rate_key("2001:db8:1:2:ffff::9"));
  EXPECT_NE(rate_key("2001:db8:1:2::1"), rate_key("2001:db8:1:3::1"));
  EXPECT_EQ(rate_key("not an address"), "not an address");
  // Every address of one /64 shares one bucket.
  RateLimiter l(RateLimit{1, 2});
  const auto t0 = RateLimiter::Clock::now();
  EXPECT_EQ(l.take(rate_key("2001:db8::1"), t0), 0u);
  EXPECT_EQ(l.take(rate_key("2001:db8::2"), t0), 0u);
  EXPECT_GT(l.take(rate_key("2001:db8::3"), t0), 0u);
  EXPECT_EQ(l.take(rate_key("2001:db8:0:1::1"), t0), 0u);
}

TEST(RateLimiter, LoopbackIncludesIPv4MappedAndNothingElse) {
  using peerrtc::server::is_loopback_ip;
  for (const char* ip : {"127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"}) EXPECT_TRUE(is_loopback_ip(ip)) << ip;
  for (const char* ip : {"128.0.0.1", "10.0.0.1", "::2", "::ffff:10.0.0.1", "::127.0.0.1", "fe80::1", "127.0.0.1.evil", "", "localhost"})
    EXPECT_FALSE(is_loopback_ip(ip)) << ip;
}
