// Timer policy (sctp.hpp kRtoMaxMs, kMaxRetransmits, Association::path_returned()): after an
// outage the first retransmission comes within the backoff cap, the association outlives many
// timeouts (the ICE consent timeout ends a dead peer, not SCTP), and a path reported back
// retransmits what waits at once. Two associations back to back (sctp_pair.hpp); outages are
// real time where data must be retransmitted (usrsctp's T3-rtx only re-marks chunks older than
// the RTO by the wall clock).
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "sctp/sctp.hpp"
#include "sctp_pair.hpp"

using namespace peerrtc;
using namespace peerrtc::sctp;
using namespace peerrtc::sctp::test;

namespace {

using Ms = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

long long ms_since(SteadyClock::time_point t) {
  return std::chrono::duration_cast<Ms>(SteadyClock::now() - t).count();
}

// A pair whose links can be cut both ways. A sends `count` messages into the cut, the cut
// lasts `outage_ms` of real time, then the links come back (on_return runs right then).
// Returns the ms from the return until B has every message, or -1 if not within max_ms.
struct Outage {
  Pair p;
  bool cut = false;
  explicit Outage(Association::Config ca, Association::Config cb = {}) : p(ca, cb) {
    p.drop_ab = [this](size_t, const Bytes&) { return cut; };
    p.drop_ba = [this](size_t, const Bytes&) { return cut; };
  }
  long long run(uint32_t outage_ms, size_t count, const std::function<void()>& on_return = {},
                uint64_t max_ms = 15000) {
    cut = true;
    for (size_t i = 0; i < count; ++i)
      EXPECT_EQ(p.a.assoc->send(1, 51, pattern(100, static_cast<uint8_t>(i)), {}), SendStatus::Ok);
    p.run_until_real([] { return false; }, outage_ms);
    EXPECT_TRUE(p.b.messages.empty()) << "the cut must hold";
    cut = false;
    auto back = SteadyClock::now();
    if (on_return) on_return();
    if (!p.run_until_real([&] { return p.b.messages.size() >= count; }, max_ms)) return -1;
    return ms_since(back);
  }
};

}  // namespace

TEST(SctpTimersTest, DefaultsAreTheDocumentedPolicy) {
  Association::Config c;
  EXPECT_EQ(c.rto_max_ms, 3000u);
  EXPECT_EQ(kRtoMaxMs, 3000u);
  // kRtoMaxMs * kMaxRetransmits must outlast ICE's consent timeout (30 s) many times over.
  EXPECT_GE(uint64_t{kRtoMaxMs} * kMaxRetransmits, 10u * 30000u);
}

// RTO.min is 220 ms and the in-process round trip ~0, so the timeouts double from 220 ms:
// 0.22, 0.66, 1.54, then +1 s each with a 1 s cap (2.54, 3.54, 4.54), against 3.30 and 6.82 s
// without it. Cut for 4 s: the next timeout is <= 1 s after the return with the cap, 2.8 s
// without. The bound is the cap plus 600 ms for a loaded machine.
TEST(SctpTimersTest, BackoffIsCappedSoTheFirstRetransmissionFollowsTheReturnWithinTheCap) {
  constexpr uint32_t kCap = 1000;
  Association::Config ca;
  ca.rto_max_ms = kCap;
  Outage o(ca);
  ASSERT_TRUE(o.p.connect());
  const auto t3_before = Stack::counters().t3_timeouts;
  long long ms = o.run(4000, 5);
  ASSERT_GE(ms, 0) << "not delivered";
  EXPECT_LE(ms, kCap + 600) << "first delivery " << ms << " ms after the return";
  EXPECT_GE(Stack::counters().t3_timeouts - t3_before, 4u);
  EXPECT_TRUE(o.p.a.closed.empty());
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(o.p.b.messages[i].data, pattern(100, static_cast<uint8_t>(i)));
}

// The control of the test above: usrsctp's RTO.max of 60 s leaves the same outage waiting
// ~2.8 s after the return (so the test above can fail).
TEST(SctpTimersTest, ControlWithoutTheCapTheSameOutageWaitsLonger) {
  Association::Config ca;
  ca.rto_max_ms = 60000;
  Outage o(ca);
  ASSERT_TRUE(o.p.connect());
  long long ms = o.run(4000, 5);
  ASSERT_GE(ms, 0) << "not delivered";
  EXPECT_GT(ms, 1600) << "first delivery " << ms << " ms after the return";
}

// Many timeouts in a row (a long outage; synthetic time: timeouts fire without retransmitting,
// which counts the same against the limits): with kMaxRetransmits the association survives 40 s
// of them at the 3 s cap (~15 timeouts plus heartbeat ones) and delivers once the path is back;
// with usrsctp's default of 10 it would have ended ("communication lost").
TEST(SctpTimersTest, AssociationOutlivesAnOutageLongerThanTheConsentTimeout) {
  Outage o(Association::Config{});
  ASSERT_TRUE(o.p.connect());
  o.cut = true;
  ASSERT_EQ(o.p.a.assoc->send(1, 51, pattern(100, 7), {}), SendStatus::Ok);
  const auto t3_before = Stack::counters().t3_timeouts;
  o.p.run_until([] { return false; }, 40000, 50);
  EXPECT_GE(Stack::counters().t3_timeouts - t3_before, 11u) << "more timeouts than usrsctp's default limit";
  EXPECT_TRUE(o.p.a.closed.empty()) << o.p.a.closed.front();
  EXPECT_TRUE(o.p.a.assoc->connected());
  o.cut = false;
  ASSERT_TRUE(o.p.run_until_real([&] { return o.p.b.messages.size() == 1; }, kRtoMaxMs + 2000));
  EXPECT_EQ(o.p.b.messages[0].data, pattern(100, 7));
}

TEST(SctpTimersTest, ControlWithUsrsctpsDefaultLimitTheSameOutageEndsTheAssociation) {
  Association::Config ca;
  ca.max_retransmits = 10;  // usrsctp's sctp_assoc_rtx_max_default
  Outage o(ca);
  ASSERT_TRUE(o.p.connect());
  o.cut = true;
  ASSERT_EQ(o.p.a.assoc->send(1, 51, pattern(100, 7), {}), SendStatus::Ok);
  o.p.run_until([&] { return !o.p.a.closed.empty(); }, 40000, 50);
  ASSERT_EQ(o.p.a.closed.size(), 1u);
  EXPECT_EQ(o.p.a.closed[0], "communication lost");
}

// Without the cap (RTO.max 60 s) the next timeout after a 4 s cut is 2.8 s after the return.
// path_returned() at the return sends again what is outstanding: the packet of the last timeout
// (5 messages: all of them are in it) or that packet and the chunks the timeouts marked (40
// messages, several packets): delivered within a few round trips (a round trip here is the
// pump's 5 ms step; bound 400 ms for a loaded machine). The control test above is the same
// outage without the call.
void path_returned_retransmits_at_once(size_t count) {
  Association::Config ca;
  ca.rto_max_ms = 60000;  // only the notification can make it quick
  Outage o(ca);
  ASSERT_TRUE(o.p.connect());
  EXPECT_FALSE(o.p.a.assoc->path_returned()) << "nothing waits: nothing sent";
  const auto c0 = Stack::counters();
  bool sent = false;
  long long ms = o.run(4000, count, [&] { sent = o.p.a.assoc->path_returned(); });
  EXPECT_TRUE(sent);
  ASSERT_GE(ms, 0) << "not delivered";
  EXPECT_LE(ms, 400) << "first delivery " << ms << " ms after the return";
  const auto c1 = Stack::counters();
  EXPECT_EQ(c1.path_returns - c0.path_returns, 1u);
  EXPECT_EQ(c1.path_return_resends - c0.path_return_resends, 1u);
  EXPECT_GE(c1.heartbeat_acks_in - c0.heartbeat_acks_in, 1u);
  for (size_t i = 0; i < count; ++i) EXPECT_EQ(o.p.b.messages[i].data, pattern(100, static_cast<uint8_t>(i)));
  EXPECT_TRUE(o.p.run_until_real([&] { return o.p.a.assoc->unacked_chunks() == 0; }, 2000));
}

TEST(SctpTimersTest, PathReturnedResendsThePacketOfTheLastTimeoutAtOnce) { path_returned_retransmits_at_once(5); }

TEST(SctpTimersTest, PathReturnedAlsoSendsWhatTheTimeoutsMarkedAtOnce) { path_returned_retransmits_at_once(40); }
