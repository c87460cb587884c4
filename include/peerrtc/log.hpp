// The library's log (stderr, spdlog's logger "peerrtc").
#pragma once
#include <string>

namespace peerrtc {

// Sets the log level: "trace", "debug", "info", "warn", "error", "critical" or "off".
// Throws std::invalid_argument for anything else. (Config::debug turns debug on as well.)
void set_log_level(const std::string& level);

}  // namespace peerrtc
