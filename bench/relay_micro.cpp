// peerrtc-relay-micro: the relay layer alone (signaling::Relay with a link that only counts the
// bytes it is handed), protocol v1 against v2, side by side in one process. It answers "what do
// seqs, acks, the cmid log and the resume buffer cost per delivery" without the noise of a
// loaded machine's scheduler, SCTP bundling and the clients (bench/wrtc_ab.sh measures the whole
// server with libwebrtc clients; this measures the part of it that v2 changes in our code).
//
//   peerrtc-relay-micro [--peers 8] [--messages 200000] [--size 100] [--rounds 7]
//
// A room of N members (all v1, or all v2 with acks, seqs and the resume buffer at its defaults:
// 120-s window, 10,000 messages); member i sends message k in turn, as `m<text>` (v1) or
// `M<cmid> <text>` (v2) frames; a tick runs every 32 messages (20 ms at 8 x 200 msg/s), as the
// server's loop ticks. Rounds alternate v1 and v2; the output is ns per delivery per round and the median
// of each, and v2/v1. Not part of the test suite.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "signaling/relay.hpp"

using namespace peerrtc;
using namespace peerrtc::signaling;

namespace {

struct CountingLink : PeerLink {
  size_t frames = 0, bytes = 0, acks = 0;
  rtc::SendStatus send(PeerId, uint16_t, ByteView frame, bool) override {
    ++frames;
    bytes += frame.size();
    if (!frame.empty() && frame[0] == 'A') ++acks;
    return rtc::SendStatus::Ok;
  }
  size_t buffered_amount(PeerId) override { return 0; }
  void set_receive_paused(PeerId, bool) override {}
  void close(PeerId, const std::string&) override {}
};

struct RunResult {
  double ns_per_delivery = 0;
  size_t deliveries = 0, acks = 0, bytes = 0;
};

RunResult run(int protocol, int peers, size_t messages, size_t size) {
  CountingLink link;
  RegistryLimits limits;
  limits.message_rate = 0;
  limits.byte_rate = 0;
  RoomRegistry registry(limits);
  Hooks hooks(1, 10);
  RelayConfig cfg;
  cfg.message_rate = 0;
  cfg.byte_rate = 0;
  Relay relay(cfg, registry, link, hooks, [](std::function<void()>) { return true; });
  for (int i = 0; i < peers; ++i) {
    registry.add_peer("room", "peer-" + std::to_string(i), static_cast<PeerId>(i + 1), protocol);
    relay.on_channel_open(static_cast<PeerId>(i + 1), 1, "peerrtc");
  }
  const std::string pad(size, 'x');
  std::vector<uint64_t> cmid(static_cast<size_t>(peers), 0);
  std::string frame;
  // The room's clock: a tick per 32 messages (20 ms at 8 x 200 msg/s), so each sender's acks go
  // about 4 to a frame, as RelayConfig::ack_delay (20 ms) makes them at that rate.
  auto now = Clock::now();
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t k = 0; k < messages; ++k) {
    const int from = static_cast<int>(k % static_cast<size_t>(peers));
    frame.clear();
    if (protocol >= 2) {
      frame = "M" + std::to_string(++cmid[static_cast<size_t>(from)]) + " ";
    } else {
      frame = "m";
    }
    frame += pad;
    relay.on_message(static_cast<PeerId>(from + 1), 1, false, as_bytes(frame));
    if (k % 32 == 31) {
      now += std::chrono::milliseconds(20);
      relay.tick(std::max(now, Clock::now()));
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  RunResult r;
  r.deliveries = relay.counters().deliveries;
  r.acks = link.acks;
  r.bytes = link.bytes;
  r.ns_per_delivery = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()) /
                      static_cast<double>(std::max<size_t>(1, r.deliveries));
  hooks.executor().stop();
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"peerrtc-relay-micro: the relay layer's cost per delivery, protocol v1 against v2"};
  int peers = 8, rounds = 7, only = 0;
  size_t messages = 200000, size = 100;
  app.add_option("--peers", peers, "members of the room")->check(CLI::Range(2, 1000));
  app.add_option("--messages", messages, "messages per round")->check(CLI::Range(1000, 100000000));
  app.add_option("--size", size, "payload bytes")->check(CLI::Range(1, 60000));
  app.add_option("--rounds", rounds, "rounds of each protocol, alternating")->check(CLI::Range(1, 100));
  app.add_option("--only", only, "run only this protocol (1 or 2), e.g. under perf")->check(CLI::Range(1, 2));
  CLI11_PARSE(app, argc, argv);
  if (only) {
    for (int i = 0; i < rounds; ++i)
      std::printf("round %d: v%d %.1f ns/delivery\n", i + 1, only, run(only, peers, messages, size).ns_per_delivery);
    return 0;
  }
  std::vector<double> v1, v2;
  RunResult last1, last2;
  for (int i = 0; i < rounds; ++i) {
    last1 = run(1, peers, messages, size);
    v1.push_back(last1.ns_per_delivery);
    last2 = run(2, peers, messages, size);
    v2.push_back(last2.ns_per_delivery);
    std::printf("round %d: v1 %.1f ns/delivery, v2 %.1f ns/delivery\n", i + 1, v1.back(), v2.back());
  }
  // The minimum too: on a shared machine the fastest round is the one least disturbed.
  const double min1 = *std::min_element(v1.begin(), v1.end()), min2 = *std::min_element(v2.begin(), v2.end());
  std::printf("median: v1 %.1f ns, v2 %.1f ns per delivery: v2/v1 %.3f (+%.1f ns); minimum: v1 %.1f, v2 %.1f (+%.1f ns); "
              "v2 ack frames per delivery %.4f, bytes per delivery v1 %.1f v2 %.1f\n",
              median(v1), median(v2), median(v2) / median(v1), median(v2) - median(v1), min1, min2, min2 - min1,
              static_cast<double>(last2.acks) / static_cast<double>(last2.deliveries),
              static_cast<double>(last1.bytes) / static_cast<double>(last1.deliveries),
              static_cast<double>(last2.bytes) / static_cast<double>(last2.deliveries));
  return 0;
}
