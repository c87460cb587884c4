// peerrtc-server's flags of the surface policy (docs/deploy.md "What is public"): the metrics
// key, the CORS allow-list and the per-address rate limit. Kept apart from peerrtc-server.cpp.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "server/app.hpp"

namespace peerrtc::apps {

// Adds --metrics-key, --cors-origin, --rate-limit, --rate-burst, --rate-limit-loopback, writing
// into `options`.
void add_surface_flags(CLI::App& cli, server::Options& options);

// Logs a warning when `host` is not a loopback address and the listing routes are open (no
// --api-key and no --join-secret).
void warn_if_open(const std::string& host, const server::Options& options, const std::string& join_secret);

}  // namespace peerrtc::apps
