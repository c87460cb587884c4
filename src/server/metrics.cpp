// See metrics.hpp.
#include "server/metrics.hpp"

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>
#include <prometheus/text_serializer.h>

#include <limits>
#include <map>
#include <set>

#include "common/log.hpp"

namespace peerrtc::server {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// One sample: the /stats JSON field it comes from ("ice_tcp.open" for a nested one) and the
// label that tells it apart within its family (none when `label` is empty).
struct Sample {
  const char* field;
  const char* label = "";
  const char* value = "";
};

struct FamilySpec {
  const char* name;
  MetricType type;
  const char* help;
  std::vector<Sample> samples;
};

// Every field of to_json(Stats) but the histograms, each under one family (+ label).
const std::vector<FamilySpec>& families() {
  static const std::vector<FamilySpec> table = {
      {"peerrtc_rooms", MetricType::Gauge, "Rooms open on this node.", {{"rooms"}}},
      {"peerrtc_peers", MetricType::Gauge, "WebRTC peer connections held by this node (not server-side participants).",
       {{"peers"}}},
      {"peerrtc_pending_handshakes", MetricType::Gauge, "Peers whose offer was accepted and that are not connected yet.",
       {{"pending"}}},
      {"peerrtc_messages_relayed_total", MetricType::Counter,
       "Messages received from peers and relayed to their room (not the dropped or refused ones).",
       {{"messages_relayed"}}},
      {"peerrtc_deliveries_total", MetricType::Counter, "Messages handed to a receiver (one per receiver).",
       {{"deliveries"}}},
      {"peerrtc_messages_dropped_total", MetricType::Counter,
       "Messages dropped by the relay, by reason (send: a receiver's queue refused it).",
       {{"dropped_too_large", "reason", "too_large"},
        {"dropped_bad_frame", "reason", "bad_frame"},
        {"dropped_filtered", "reason", "filtered"},
        {"dropped_unknown_peer", "reason", "unknown_peer"},
        {"dropped_send", "reason", "send"},
        {"dropped_rate_limited", "reason", "rate_limited"}}},
      {"peerrtc_wire_dropped_total", MetricType::Counter,
       "Packets dropped below the relay, by layer: UDP datagrams from unknown addresses or ufrags, bad STUN "
       "for a known peer, DTLS from unauthenticated addresses, bad DCEP or SCTP messages on unknown streams.",
       {{"dropped_datagrams", "layer", "udp"},
        {"dropped_stun", "layer", "stun"},
        {"dropped_dtls", "layer", "dtls"},
        {"dropped_sctp_messages", "layer", "sctp"}}},
      {"peerrtc_datagrams_received_total", MetricType::Counter, "UDP datagrams received on the WebRTC port.",
       {{"datagrams_in"}}},
      {"peerrtc_datagrams_sent_total", MetricType::Counter, "UDP datagrams sent from the WebRTC port.",
       {{"datagrams_out"}}},
      {"peerrtc_senders_paused_total", MetricType::Counter, "Times a sender was paused for a slow receiver.",
       {{"senders_paused"}}},
      {"peerrtc_slow_receivers_disconnected_total", MetricType::Counter, "Receivers disconnected as too slow.",
       {{"slow_receivers_disconnected"}}},
      {"peerrtc_ice_restarts_total", MetricType::Counter,
       "ICE restarts: a peer's live connection took new ICE credentials (same DTLS and SCTP association).",
       {{"ice_restarts"}}},
      {"peerrtc_receive_errors_total", MetricType::Counter,
       "Datagrams and ICE-TCP frames whose handling threw: dropped and logged, the rest went on.",
       {{"receive_errors"}}},
      {"peerrtc_volatile_messages_relayed_total", MetricType::Counter,
       "Messages relayed on the volatile lane (unordered, no retransmissions).", {{"volatile.relayed"}}},
      {"peerrtc_volatile_deliveries_total", MetricType::Counter, "Volatile frames sent to receivers.",
       {{"volatile.deliveries"}}},
      {"peerrtc_volatile_dropped_total", MetricType::Counter,
       "Volatile frames not sent, by cause (congested: the receiver's SCTP association was congested; "
       "no_channel: it had no volatile channel open; send: the send failed).",
       {{"volatile.dropped_congested", "cause", "congested"},
        {"volatile.dropped_no_channel", "cause", "no_channel"},
        {"volatile.dropped_send", "cause", "send"}}},
      {"peerrtc_hook_events_total", MetricType::Counter, "Hook events run (on_message, on_peer_joined, on_peer_left).",
       {{"hook_events"}}},
      {"peerrtc_hook_events_dropped_total", MetricType::Counter,
       "Hook events dropped because the hook queue was full.", {{"hook_dropped"}}},
      {"peerrtc_resumes_total", MetricType::Counter,
       "Protocol v2 peers that resumed after a drop (replayed what they missed).", {{"resumes"}}},
      {"peerrtc_resume_gaps_total", MetricType::Counter,
       "Resumes and fresh joins told of messages that could not be given back (resume_gap).", {{"resume_gaps"}}},
      {"peerrtc_repeats_dropped_total", MetricType::Counter,
       "Protocol v2 messages sent again after a drop (a cmid already seen): acked, not relayed twice.",
       {{"repeats_dropped"}}},
      {"peerrtc_hook_backpressure_pauses_total", MetricType::Counter,
       "Times a peer was paused because the hook queue was full (hook_overflow backpressure).",
       {{"hook_backpressure_pauses"}}},
      {"peerrtc_ice_tcp_connections_accepted_total", MetricType::Counter, "ICE-TCP connections accepted.",
       {{"ice_tcp.accepted"}}},
      {"peerrtc_ice_tcp_connections_refused_total", MetricType::Counter,
       "ICE-TCP connections refused at a limit.", {{"ice_tcp.refused"}}},
      {"peerrtc_ice_tcp_connections_closed_total", MetricType::Counter,
       "ICE-TCP connections closed by the server, by reason (no_stun: no valid STUN request in time; "
       "bad_frame: a bad first frame).",
       {{"ice_tcp.closed_no_stun", "reason", "no_stun"}, {"ice_tcp.closed_bad_frame", "reason", "bad_frame"}}},
      {"peerrtc_ice_tcp_path_fallbacks_total", MetricType::Counter,
       "Peers whose selected ICE-TCP connection closed and that went on over another path they had proven.",
       {{"ice_tcp.path_fallbacks"}}},
      {"peerrtc_ice_tcp_connections_open", MetricType::Gauge, "ICE-TCP connections open now.", {{"ice_tcp.open"}}},
      {"peerrtc_ice_tcp_frames_received_total", MetricType::Counter, "RFC 4571 frames received over ICE-TCP.",
       {{"ice_tcp.frames_in"}}},
      {"peerrtc_ice_tcp_frames_sent_total", MetricType::Counter, "RFC 4571 frames sent over ICE-TCP.",
       {{"ice_tcp.frames_out"}}},
      {"peerrtc_ice_tcp_frames_dropped_total", MetricType::Counter,
       "ICE-TCP packets dropped at a full write queue.", {{"ice_tcp.dropped_send"}}},
      // usrsctp's own counters: the whole process (every association of every manager in it).
      {"peerrtc_sctp_packets_total", MetricType::Counter, "SCTP packets (one DTLS record each), by direction.",
       {{"sctp.packets_in", "direction", "in"}, {"sctp.packets_out", "direction", "out"}}},
      {"peerrtc_sctp_packets_bundled_total", MetricType::Counter,
       "Packets usrsctp made that were sent inside another packet of the same turn (a SACK or a "
       "first message bundled with the turn's other messages).",
       {{"sctp.packets_bundled"}}},
      {"peerrtc_sctp_data_chunks_total", MetricType::Counter,
       "SCTP DATA chunks, by direction (retransmissions included).",
       {{"sctp.data_chunks_in", "direction", "in"}, {"sctp.data_chunks_out", "direction", "out"}}},
      {"peerrtc_sctp_sacks_total", MetricType::Counter, "SCTP SACK chunks, by direction.",
       {{"sctp.sacks_in", "direction", "in"}, {"sctp.sacks_out", "direction", "out"}}},
      {"peerrtc_sctp_retransmitted_chunks_total", MetricType::Counter, "SCTP DATA chunks sent again (any cause).",
       {{"sctp.retransmitted_chunks"}}},
      {"peerrtc_sctp_fast_retransmits_total", MetricType::Counter,
       "SCTP DATA chunks retransmitted because SACKs reported them missing.", {{"sctp.fast_retransmits"}}},
      {"peerrtc_sctp_t3_timeouts_total", MetricType::Counter,
       "SCTP T3-rtx timeouts (no SACK within the retransmission timeout: the stalls).", {{"sctp.t3_timeouts"}}},
      {"peerrtc_sctp_t3_marked_chunks_total", MetricType::Counter,
       "SCTP DATA chunks marked for resending by T3-rtx timeouts.", {{"sctp.t3_marked_chunks"}}},
      {"peerrtc_sctp_duplicate_data_total", MetricType::Counter,
       "SCTP DATA chunks received again (a SACK of ours lost or late).", {{"sctp.duplicate_data_in"}}},
      {"peerrtc_sctp_delayed_sack_timeouts_total", MetricType::Counter, "SACKs sent by the delayed-SACK timer.",
       {{"sctp.delayed_sack_timeouts"}}},
      {"peerrtc_sctp_window_probes_total", MetricType::Counter,
       "SCTP window probes sent while a peer's receive window was zero.", {{"sctp.window_probes"}}},
      {"peerrtc_sctp_data_dropped_no_room_total", MetricType::Counter,
       "Incoming SCTP DATA chunks dropped for lack of room (receive window or chunk limit).",
       {{"sctp.data_dropped_no_room"}}},
      {"peerrtc_sctp_packets_dropped_total", MetricType::Counter,
       "Incoming SCTP packets usrsctp discarded (short, bad tag, no association).", {{"sctp.packets_dropped"}}},
      {"peerrtc_sctp_path_returns_total", MetricType::Counter,
       "A peer's path came back while data waited for its acknowledgement: a HEARTBEAT went out at "
       "once, whose ACK resets the backed-off retransmission timer and retransmits.",
       {{"sctp.path_returns"}}},
      {"peerrtc_sctp_path_return_resends_total", MetricType::Counter,
       "Packets of an SCTP retransmission timeout sent again at once when the peer's path came back.",
       {{"sctp.path_return_resends"}}},
      {"peerrtc_sctp_loss_probes_total", MetricType::Counter,
       "SCTP loss probes: the last DATA chunk sent again because a peer sent DATA without a SACK "
       "while ours waited for one.",
       {{"sctp.loss_probes"}}},
      {"peerrtc_sctp_heartbeat_acks_total", MetricType::Counter, "SCTP HEARTBEAT-ACK chunks received.",
       {{"sctp.heartbeat_acks_in"}}},
      {"peerrtc_sctp_graceful_closes_total", MetricType::Counter,
       "Server-side closes with a last event (moved, kicked) that waited for the queue to be acknowledged.",
       {{"sctp.graceful_closes"}}},
      {"peerrtc_sctp_graceful_close_timeouts_total", MetricType::Counter,
       "Graceful closes ABORTed at their deadline (the peer did not acknowledge the queue in time).",
       {{"sctp.graceful_close_timeouts"}}},
  };
  return table;
}

// The histograms of to_json, exported from Stats directly (in seconds).
const std::set<std::string>& histogram_fields() {
  static const std::set<std::string> f = {"relay_latency", "handshake"};
  return f;
}

// "ice_tcp.open" -> j["ice_tcp"]["open"]; nullptr if absent or not a number.
const json* field(const json& j, const std::string& path) {
  const json* cur = &j;
  size_t start = 0;
  for (;;) {
    size_t dot = path.find('.', start);
    auto it = cur->find(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur->is_number() ? cur : nullptr;
}

template <size_t N>
MetricFamily histogram_family(const char* name, const char* help, const DurationHistogram<N>& h) {
  ClientMetric m;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= N; ++i) {
    cumulative += h.counts[i];
    m.histogram.bucket.push_back(
        {cumulative, i < N ? static_cast<double>(h.bounds_ns[i]) / 1e9 : std::numeric_limits<double>::infinity()});
  }
  // Copied from the network thread's counters in one go, so the +Inf bucket equals the count.
  m.histogram.sample_count = h.count;
  m.histogram.sample_sum = static_cast<double>(h.sum_ns) / 1e9;
  return MetricFamily{name, help, MetricType::Histogram, {m}};
}

void collect_fields(const json& j, const std::string& prefix, std::vector<std::string>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string path = prefix + it.key();
    if (prefix.empty() && histogram_fields().count(path)) continue;
    if (it->is_object())
      collect_fields(*it, path + ".", out);
    else
      out.push_back(path);
  }
}

}  // namespace

std::vector<MetricFamily> metric_families(const Stats& s, double uptime_s) {
  const json j = to_json(s);
  std::vector<MetricFamily> out;
  for (const auto& spec : families()) {
    MetricFamily fam{spec.name, spec.help, spec.type, {}};
    for (const auto& sample : spec.samples) {
      const json* v = field(j, sample.field);
      if (!v) {  // the table names a field to_json no longer has: a bug, but never a failed scrape
        log().error("metrics: /stats has no numeric field {}", sample.field);
        continue;
      }
      ClientMetric m;
      if (*sample.label) m.label.push_back({sample.label, sample.value});
      (spec.type == MetricType::Gauge ? m.gauge.value : m.counter.value) = v->get<double>();
      fam.metric.push_back(std::move(m));
    }
    out.push_back(std::move(fam));
  }
  ClientMetric up;
  up.gauge.value = uptime_s;
  out.push_back(MetricFamily{"peerrtc_uptime_seconds", "Seconds since the server started.", MetricType::Gauge, {up}});
  out.push_back(histogram_family(
      "peerrtc_relay_latency_seconds",
      "Time inside the server from a peer's message received (handed up by SCTP) to the last receiver's send "
      "(handed to its SCTP association), per relayed message.",
      s.relay_latency));
  out.push_back(histogram_family("peerrtc_handshake_duration_seconds",
                                 "Time from an offer accepted (answer made) to the peer's data channel open.",
                                 s.handshake));
  return out;
}

std::vector<std::string> unexported_stats_fields() {
  std::vector<std::string> all;
  collect_fields(to_json(Stats{}), "", all);
  std::set<std::string> exported;
  for (const auto& spec : families())
    for (const auto& sample : spec.samples) exported.insert(sample.field);
  std::vector<std::string> missing;
  for (auto& f : all)
    if (!exported.count(f)) missing.push_back(f);
  return missing;
}

std::string metrics_text(const Stats& s, double uptime_s) {
  return prometheus::TextSerializer().Serialize(metric_families(s, uptime_s));
}

std::vector<MetricFamily> StatsCollector::Collect() const {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_).count();
  return metric_families(manager_.stats(), static_cast<double>(ms) / 1000.0);
}

json HttpCounters::to_json() const {
  json j = json::object();
  for (size_t i = 0; i < kRoutes.size(); ++i) j[kRoutes[i]] = rate_limited[i].load();
  return j;
}

std::vector<MetricFamily> http_metric_families(const HttpCounters& c) {
  MetricFamily fam{"peerrtc_http_rate_limited_total",
                   "Requests refused with 429 by the per-address rate limit (--rate-limit), by route.",
                   MetricType::Counter,
                   {}};
  for (size_t i = 0; i < HttpCounters::kRoutes.size(); ++i) {
    ClientMetric m;
    m.label.push_back({"route", HttpCounters::kRoutes[i]});
    m.counter.value = static_cast<double>(c.rate_limited[i].load());
    fam.metric.push_back(std::move(m));
  }
  return {fam};
}

void install_metrics(http::Server& http, const SignalingManager& manager, const std::string& dashboard_dir,
                     std::chrono::steady_clock::time_point started,
                     std::function<std::optional<http::Response>(const http::Request&)> gate,
                     std::shared_ptr<const HttpCounters> counters,
                     std::function<std::vector<prometheus::MetricFamily>()> extra) {
  auto collector = std::make_shared<StatsCollector>(manager, started);
  auto metrics = [collector, gate, counters, extra](const http::Request& req) {
    if (gate) {
      if (auto denied = gate(req)) return std::move(*denied);
    }
    try {
      http::Response r;
      r.status = 200;
      r.content_type = kMetricsContentType;
      auto families = collector->Collect();
      if (extra)
        for (auto& f : extra()) families.push_back(std::move(f));
      if (counters)
        for (auto& f : http_metric_families(*counters)) families.push_back(std::move(f));
      r.body = prometheus::TextSerializer().Serialize(families);
      r.headers["Cache-Control"] = "no-store";
      return r;
    } catch (const ApiError& e) {  // the network thread did not answer in time, or stopping
      return http::Response::error(e.status(), e.what());
    } catch (const std::exception& e) {
      log().error("server: metrics failed: {}", e.what());
      return http::Response::error(500, std::string("internal error: ") + e.what());
    }
  };
  http.route("GET", "/metrics", metrics);
  http.route("HEAD", "/metrics", metrics);
  http.serve_static("/dashboard", dashboard_dir);
}

}  // namespace peerrtc::server
