#include "signaling/token_bucket.hpp"

#include <gtest/gtest.h>

using peerrtc::signaling::TokenBucket;
using namespace std::chrono_literals;

TEST(TokenBucket, BurstThenRate) {
  TokenBucket b(10, 5);  // 10/s, burst 5
  auto t = TokenBucket::Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.take(1, t));
  EXPECT_FALSE(b.take(1, t));
  EXPECT_FALSE(b.take(1, t + 50ms));  // half a token
  EXPECT_TRUE(b.take(1, t + 100ms));
  EXPECT_FALSE(b.take(1, t + 100ms));
  // Never more than the burst, however long it rested.
  int n = 0;
  while (b.take(1, t + 1h)) ++n;
  EXPECT_EQ(n, 5);
}

TEST(TokenBucket, ZeroRateIsUnlimited) {
  TokenBucket b(0, 0);
  auto t = TokenBucket::Clock::now();
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(b.take(1e6, t));
}

TEST(TokenBucket, LargeRequestsNeedEnoughTokens) {
  TokenBucket b(1000, 2000);
  auto t = TokenBucket::Clock::now();
  EXPECT_FALSE(b.take(2001, t));
  EXPECT_TRUE(b.take(2000, t));
  EXPECT_TRUE(b.take(1000, t + 1s));
}
