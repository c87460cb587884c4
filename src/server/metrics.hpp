// GET /metrics (Prometheus' text exposition format, written by prometheus-cpp's TextSerializer)
// and GET /dashboard/ (the live charts of clients/dashboard).
//
// Nothing here runs on the network thread: the relay keeps plain counters and fixed-bucket
// histograms in its own Stats (no lock, no prometheus-cpp call per message); a scrape copies
// them with SignalingManager::stats() on an HTTP thread and converts them to metric families
// here. docs/deploy.md lists the names.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "http/http.hpp"
#include "peerrtc/signaling_manager.hpp"

namespace peerrtc::server {

// The content type of the text format, version 0.0.4.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Every counter and gauge of to_json(stats) (by a table: each JSON field has its metric), the
// uptime, and the two histograms in seconds.
std::vector<prometheus::MetricFamily> metric_families(const Stats& stats, double uptime_s);

// The fields of to_json(Stats{}) ("ice_tcp.open" for nested ones) that no metric exports:
// empty unless a counter was added to Stats without its metric (a unit test checks).
std::vector<std::string> unexported_stats_fields();

// metric_families serialized by prometheus::TextSerializer.
std::string metrics_text(const Stats& stats, double uptime_s);

// A prometheus-cpp Collectable over a manager, for a program that has its own
// prometheus::Registry / Exposer: registry.Register(std::make_shared<StatsCollector>(...)).
class StatsCollector : public prometheus::Collectable {
 public:
  explicit StatsCollector(const SignalingManager& manager,
                          std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now())
      : manager_(manager), started_(started) {}
  std::vector<prometheus::MetricFamily> Collect() const override;  // throws ApiError(503) as stats() does

 private:
  const SignalingManager& manager_;
  std::chrono::steady_clock::time_point started_;
};

// The HTTP layer's own counters (not the manager's Stats): requests refused by the per-address
// rate limit (server/rate_limit.hpp), by route. In GET /stats as "http_rate_limited" and in
// /metrics as peerrtc_http_rate_limited_total{route}.
struct HttpCounters {
  static constexpr std::array<const char*, 3> kRoutes = {"offer", "candidate", "config"};
  std::array<std::atomic<uint64_t>, 3> rate_limited{};
  json to_json() const;
};
std::vector<prometheus::MetricFamily> http_metric_families(const HttpCounters& c);

// Registers GET /metrics and the dashboard's static files at /dashboard/ (from
// `dashboard_dir`, which holds index.html). `gate` (may be empty) answers a request to /metrics
// that may not have them (the surface policy); `counters` (may be null) are exported too;
// `extra` (may be empty): more families appended to every scrape (the cluster's, app.cpp).
void install_metrics(http::Server& http, const SignalingManager& manager, const std::string& dashboard_dir,
                     std::chrono::steady_clock::time_point started,
                     std::function<std::optional<http::Response>(const http::Request&)> gate = {},
                     std::shared_ptr<const HttpCounters> counters = nullptr,
                     std::function<std::vector<prometheus::MetricFamily>()> extra = {});

}  // namespace peerrtc::server
