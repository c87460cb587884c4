// GET /metrics' text (src/server/metrics.cpp): every /stats field exported, names, types, HELP,
// values, and histograms that Prometheus accepts (cumulative, monotonic, +Inf == _count).
#include "server/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace peerrtc::server {
namespace {

// A Stats whose counters all differ, so a sample shows which field it came from.
Stats distinct_stats() {
  Stats s;
  uint64_t v = 101;
  s.rooms = v++;
  s.peers = v++;
  s.pending = v++;
  for (uint64_t* c : {&s.messages_relayed, &s.deliveries, &s.dropped_too_large, &s.dropped_bad_frame,
                      &s.dropped_filtered, &s.dropped_unknown_peer, &s.dropped_send, &s.dropped_rate_limited,
                      &s.dropped_datagrams, &s.dropped_stun, &s.dropped_dtls, &s.dropped_sctp_messages,
                      &s.datagrams_in, &s.datagrams_out, &s.senders_paused, &s.slow_receivers_disconnected,
                      &s.ice_restarts, &s.receive_errors, &s.volatile_relayed, &s.volatile_deliveries,
                      &s.volatile_dropped_congested, &s.volatile_dropped_no_channel, &s.volatile_dropped_send,
                      &s.hook_events, &s.hook_dropped, &s.hook_backpressure_pauses, &s.resumes, &s.resume_gaps,
                      &s.repeats_dropped, &s.tcp_accepted, &s.tcp_refused, &s.tcp_closed_no_stun,
                      &s.tcp_closed_bad_frame, &s.tcp_frames_in, &s.tcp_frames_out, &s.tcp_dropped_send,
                      &s.tcp_path_fallbacks})
    *c = v++;
  s.tcp_open = v++;
  return s;
}

struct Parsed {
  std::map<std::string, std::string> help, type;  // by family name
  std::map<std::string, double> samples;           // "name{labels}" -> value
  std::vector<std::string> order;                  // sample keys in order
};

// A strict reader of the text format 0.0.4: every line is a HELP, a TYPE or a sample of a
// family whose HELP and TYPE came before it.
Parsed parse(const std::string& text) {
  Parsed p;
  static const std::regex help_re(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$)");
  static const std::regex type_re(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  static const std::regex sample_re(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? ([^ ]+)$)");
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (std::regex_match(line, m, help_re)) {
      EXPECT_FALSE(p.help.count(m[1])) << "HELP twice: " << line;
      p.help[m[1]] = m[2];
    } else if (std::regex_match(line, m, type_re)) {
      EXPECT_TRUE(p.help.count(m[1])) << "TYPE before HELP: " << line;
      p.type[m[1]] = m[2];
    } else if (std::regex_match(line, m, sample_re)) {
      std::string name = m[1];
      std::string family = name;
      for (const char* suffix : {"_bucket", "_count", "_sum"}) {
        const std::string sfx = suffix;
        if (!p.type.count(family) && name.size() > sfx.size() && name.ends_with(sfx))
          family = name.substr(0, name.size() - sfx.size());
      }
      EXPECT_TRUE(p.type.count(family)) << "sample without TYPE: " << line;
      const std::string v = m[4];
      double value = v == "+Inf" ? INFINITY : std::stod(v);
      const std::string key = name + std::string(m[2]);
      EXPECT_FALSE(p.samples.count(key)) << "sample twice: " << line;
      p.samples[key] = value;
      p.order.push_back(key);
    } else {
      ADD_FAILURE() << "not the text format: '" << line << "'";
    }
  }
  return p;
}

TEST(Metrics, EveryStatsFieldIsExported) {
  EXPECT_EQ(unexported_stats_fields(), std::vector<std::string>{})
      << "a /stats field has no metric: add it to families() in src/server/metrics.cpp";
}

TEST(Metrics, NamesTypesHelpAndValues) {
  const Stats s = distinct_stats();
  const Parsed p = parse(metrics_text(s, 12.5));

  for (auto& [name, type] : p.type) {
    EXPECT_TRUE(name.starts_with("peerrtc_")) << name;
    EXPECT_GT(p.help.at(name).size(), 10u) << name;  // a real sentence
    EXPECT_EQ(type == "counter", name.ends_with("_total")) << name << " (" << type << ")";
  }
  const std::map<std::string, std::string> types = {
      {"peerrtc_rooms", "gauge"},
      {"peerrtc_peers", "gauge"},
      {"peerrtc_pending_handshakes", "gauge"},
      {"peerrtc_ice_tcp_connections_open", "gauge"},
      {"peerrtc_uptime_seconds", "gauge"},
      {"peerrtc_messages_relayed_total", "counter"},
      {"peerrtc_deliveries_total", "counter"},
      {"peerrtc_messages_dropped_total", "counter"},
      {"peerrtc_wire_dropped_total", "counter"},
      {"peerrtc_relay_latency_seconds", "histogram"},
      {"peerrtc_handshake_duration_seconds", "histogram"},
  };
  for (auto& [name, type] : types) {
    ASSERT_TRUE(p.type.count(name)) << name;
    EXPECT_EQ(p.type.at(name), type) << name;
  }

  // Each field's distinct value, under its name and label.
  const std::map<std::string, double> expect = {
      {"peerrtc_rooms", static_cast<double>(s.rooms)},
      {"peerrtc_peers", static_cast<double>(s.peers)},
      {"peerrtc_pending_handshakes", static_cast<double>(s.pending)},
      {"peerrtc_messages_relayed_total", static_cast<double>(s.messages_relayed)},
      {"peerrtc_deliveries_total", static_cast<double>(s.deliveries)},
      {"peerrtc_messages_dropped_total{reason=\"too_large\"}", static_cast<double>(s.dropped_too_large)},
      {"peerrtc_messages_dropped_total{reason=\"bad_frame\"}", static_cast<double>(s.dropped_bad_frame)},
      {"peerrtc_messages_dropped_total{reason=\"filtered\"}", static_cast<double>(s.dropped_filtered)},
      {"peerrtc_messages_dropped_total{reason=\"unknown_peer\"}", static_cast<double>(s.dropped_unknown_peer)},
      {"peerrtc_messages_dropped_total{reason=\"send\"}", static_cast<double>(s.dropped_send)},
      {"peerrtc_messages_dropped_total{reason=\"rate_limited\"}", static_cast<double>(s.dropped_rate_limited)},
      {"peerrtc_wire_dropped_total{layer=\"udp\"}", static_cast<double>(s.dropped_datagrams)},
      {"peerrtc_wire_dropped_total{layer=\"stun\"}", static_cast<double>(s.dropped_stun)},
      {"peerrtc_wire_dropped_total{layer=\"dtls\"}", static_cast<double>(s.dropped_dtls)},
      {"peerrtc_wire_dropped_total{layer=\"sctp\"}", static_cast<double>(s.dropped_sctp_messages)},
      {"peerrtc_datagrams_received_total", static_cast<double>(s.datagrams_in)},
      {"peerrtc_datagrams_sent_total", static_cast<double>(s.datagrams_out)},
      {"peerrtc_senders_paused_total", static_cast<double>(s.senders_paused)},
      {"peerrtc_slow_receivers_disconnected_total", static_cast<double>(s.slow_receivers_disconnected)},
      {"peerrtc_ice_restarts_total", static_cast<double>(s.ice_restarts)},
      {"peerrtc_receive_errors_total", static_cast<double>(s.receive_errors)},
      {"peerrtc_volatile_messages_relayed_total", static_cast<double>(s.volatile_relayed)},
      {"peerrtc_volatile_deliveries_total", static_cast<double>(s.volatile_deliveries)},
      {"peerrtc_volatile_dropped_total{cause=\"congested\"}", static_cast<double>(s.volatile_dropped_congested)},
      {"peerrtc_volatile_dropped_total{cause=\"no_channel\"}", static_cast<double>(s.volatile_dropped_no_channel)},
      {"peerrtc_volatile_dropped_total{cause=\"send\"}", static_cast<double>(s.volatile_dropped_send)},
      {"peerrtc_hook_events_total", static_cast<double>(s.hook_events)},
      {"peerrtc_hook_events_dropped_total", static_cast<double>(s.hook_dropped)},
      {"peerrtc_resumes_total", static_cast<double>(s.resumes)},
      {"peerrtc_resume_gaps_total", static_cast<double>(s.resume_gaps)},
      {"peerrtc_repeats_dropped_total", static_cast<double>(s.repeats_dropped)},
      {"peerrtc_hook_backpressure_pauses_total", static_cast<double>(s.hook_backpressure_pauses)},
      {"peerrtc_ice_tcp_connections_accepted_total", static_cast<double>(s.tcp_accepted)},
      {"peerrtc_ice_tcp_connections_refused_total", static_cast<double>(s.tcp_refused)},
      {"peerrtc_ice_tcp_connections_closed_total{reason=\"no_stun\"}", static_cast<double>(s.tcp_closed_no_stun)},
      {"peerrtc_ice_tcp_connections_closed_total{reason=\"bad_frame\"}", static_cast<double>(s.tcp_closed_bad_frame)},
      {"peerrtc_ice_tcp_path_fallbacks_total", static_cast<double>(s.tcp_path_fallbacks)},
      {"peerrtc_ice_tcp_connections_open", static_cast<double>(s.tcp_open)},
      {"peerrtc_ice_tcp_frames_received_total", static_cast<double>(s.tcp_frames_in)},
      {"peerrtc_ice_tcp_frames_sent_total", static_cast<double>(s.tcp_frames_out)},
      {"peerrtc_ice_tcp_frames_dropped_total", static_cast<double>(s.tcp_dropped_send)},
      {"peerrtc_uptime_seconds", 12.5},
  };
  for (auto& [key, value] : expect) {
    ASSERT_TRUE(p.samples.count(key)) << key;
    EXPECT_EQ(p.samples.at(key), value) << key;
  }
  // No value twice: each counter of distinct_stats() went to exactly one sample.
  std::set<double> seen;
  for (auto& [key, value] : p.samples)
    if (key.find("_bucket") == std::string::npos && !key.ends_with("_count") && !key.ends_with("_sum") && value != 0) {
      EXPECT_TRUE(seen.insert(value).second) << key << " repeats " << value;
    }
}

TEST(Metrics, DurationHistogramBuckets) {
  DurationHistogram<3> h{{10, 20, 30}};
  for (uint64_t v : {0, 10, 11, 20, 30, 31, 1000}) h.observe(v);
  EXPECT_EQ(h.counts, (std::array<uint64_t, 4>{2, 2, 1, 2}));  // upper bounds inclusive
  EXPECT_EQ(h.count, 7u);
  EXPECT_EQ(h.sum_ns, 0u + 10 + 11 + 20 + 30 + 31 + 1000);
}

TEST(Metrics, HistogramsAreCumulativeAndMonotonic) {
  Stats s;
  // 3 relays of 3 us, 1 of 40 us, 1 of 2 s (past the last bound); handshakes of 80 ms and 1 s.
  for (uint64_t ns : {3'000ULL, 3'000ULL, 3'000ULL, 40'000ULL, 2'000'000'000ULL}) s.relay_latency.observe(ns);
  for (uint64_t ns : {80'000'000ULL, 1'000'000'000ULL}) s.handshake.observe(ns);
  const Parsed p = parse(metrics_text(s, 1));

  struct Case {
    std::string name;
    size_t bounds;
    uint64_t count;
    double sum;
  };
  for (const Case& c : {Case{"peerrtc_relay_latency_seconds", kRelayLatencyBoundsNs.size(), 5, 2.000049},
                        Case{"peerrtc_handshake_duration_seconds", kHandshakeBoundsNs.size(), 2, 1.08}}) {
    std::vector<std::pair<double, double>> buckets;  // (le, cumulative count) in text order
    for (auto& key : p.order) {
      if (!key.starts_with(c.name + "_bucket{le=\"")) continue;
      const std::string le = key.substr(c.name.size() + 12, key.size() - c.name.size() - 14);
      buckets.emplace_back(le == "+Inf" ? INFINITY : std::stod(le), p.samples.at(key));
    }
    ASSERT_EQ(buckets.size(), c.bounds + 1) << c.name;
    for (size_t i = 1; i < buckets.size(); ++i) {
      EXPECT_LT(buckets[i - 1].first, buckets[i].first) << c.name << " le not ascending at " << i;
      EXPECT_LE(buckets[i - 1].second, buckets[i].second) << c.name << " counts not monotonic at " << i;
    }
    EXPECT_TRUE(std::isinf(buckets.back().first)) << c.name;
    EXPECT_EQ(buckets.back().second, static_cast<double>(c.count)) << c.name;
    EXPECT_EQ(p.samples.at(c.name + "_count"), static_cast<double>(c.count)) << c.name;
    EXPECT_NEAR(p.samples.at(c.name + "_sum"), c.sum, 1e-9) << c.name;
  }
  // Where the samples fell: 3 us is in (2.5 us, 5 us]; 40 us in (25 us, 50 us].
  auto bucket = [&](const std::string& name, const std::string& le) {
    return p.samples.at(name + "_bucket{le=\"" + le + "\"}");
  };
  EXPECT_EQ(bucket("peerrtc_relay_latency_seconds", "2.5e-06"), 0);
  EXPECT_EQ(bucket("peerrtc_relay_latency_seconds", "5e-06"), 3);
  EXPECT_EQ(bucket("peerrtc_relay_latency_seconds", "2.5e-05"), 3);
  EXPECT_EQ(bucket("peerrtc_relay_latency_seconds", "5e-05"), 4);
  EXPECT_EQ(bucket("peerrtc_relay_latency_seconds", "0.1"), 4);
  EXPECT_EQ(bucket("peerrtc_handshake_duration_seconds", "0.05"), 0);
  EXPECT_EQ(bucket("peerrtc_handshake_duration_seconds", "0.1"), 1);
  EXPECT_EQ(bucket("peerrtc_handshake_duration_seconds", "1"), 2);
}

TEST(Metrics, StatsJsonCarriesTheHistograms) {
  Stats s;
  s.relay_latency.observe(7'000);
  const json j = to_json(s);
  EXPECT_EQ(j["relay_latency"]["count"], 1);
  EXPECT_EQ(j["relay_latency"]["sum_us"], 7.0);
  EXPECT_EQ(j["relay_latency"]["le_us"].size(), kRelayLatencyBoundsNs.size());
  EXPECT_EQ(j["relay_latency"]["le_us"][0], 1.0);
  EXPECT_EQ(j["relay_latency"]["counts"].size(), kRelayLatencyBoundsNs.size() + 1);
  EXPECT_EQ(j["relay_latency"]["counts"][3], 1);  // (5 us, 10 us]
  EXPECT_EQ(j["handshake"]["count"], 0);
}

}  // namespace
}  // namespace peerrtc::server
