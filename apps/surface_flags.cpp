// See surface_flags.hpp.
#include "surface_flags.hpp"

#include <boost/asio/ip/address.hpp>

#include "common/log.hpp"

namespace peerrtc::apps {

void add_surface_flags(CLI::App& cli, server::Options& o) {
  cli.add_option("--metrics-key", o.metrics_key,
                 "GET /stats and /metrics also accept 'Authorization: Bearer <key>' with this key (a Prometheus "
                 "scrape credential that is not the API key); set, it closes them even without --api-key. Prefer the "
                 "environment variable")
      ->envname("PEERRTC_METRICS_KEY")
      ->check(CLI::Validator([](std::string& s) { return s.empty() ? std::string("must not be empty") : std::string(); },
                             "TEXT"));
  cli.add_option("--cors-origin", o.cors_origins,
                 "an origin (scheme://host[:port]) whose pages may call this server from another origin; repeatable; "
                 "'*' = any. Default: none (same-origin only)")
      ->envname("PEERRTC_CORS_ORIGIN")
      ->delimiter(',')
      ->check(CLI::Validator(
          [](std::string& s) {
            if (s == "*") return std::string();
            const bool scheme = s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
            const size_t host = s.find("://") + 3;
            if (!scheme || s.size() <= host || s.find('/', host) != std::string::npos || s.back() == '/')
              return "not an origin (scheme://host[:port], no path): " + s;
            return std::string();
          },
          "ORIGIN"));
  cli.add_option("--rate-limit", o.rate_limit,
                 "requests/s one remote address may make to POST /offer, /candidate and GET /config together (a "
                 "token bucket; beyond it 429 with Retry-After, counted in /stats); 0 = off. Loopback clients are "
                 "exempt unless --rate-limit-loopback")
      ->envname("PEERRTC_RATE_LIMIT")->check(CLI::Range(0.0, 1e6))->capture_default_str();
  cli.add_option("--rate-burst", o.rate_burst, "burst of --rate-limit (requests at once after a quiet spell)")
      ->envname("PEERRTC_RATE_BURST")->check(CLI::Range(1.0, 1e6))->capture_default_str();
  cli.add_flag("--rate-limit-loopback", o.rate_limit_loopback,
               "apply --rate-limit to loopback clients too (by default exempt: tools and tests on this machine; "
               "behind a reverse proxy on this machine every client is loopback: limit at the proxy)")
      ->envname("PEERRTC_RATE_LIMIT_LOOPBACK");
}

void warn_if_open(const std::string& host, const server::Options& o, const std::string& join_secret) {
  if (!o.api_key.empty() || !join_secret.empty()) return;
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(host, ec);
  if (!ec && addr.is_loopback()) return;
  log().warn(
      "peerrtc-server: listening on {} with the listing open: anyone who can reach it can list rooms and members "
      "(GET /rooms, /rooms/peers), read /stats and /metrics and fetch TURN credentials (/config). Set --api-key "
      "and/or --join-secret to close them (docs/deploy.md \"What is public\")",
      host);
}

}  // namespace peerrtc::apps
