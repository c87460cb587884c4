#include "common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace peerrtc {
spdlog::logger& log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::get("peerrtc");
    if (!l) l = spdlog::stderr_color_mt("peerrtc");
    return l;
  }();
  return *logger;
}
}  // namespace peerrtc

#include <stdexcept>

#include "peerrtc/log.hpp"

namespace peerrtc {
void set_log_level(const std::string& level) {
  for (const char* known : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    if (level == known) {
      log().set_level(spdlog::level::from_str(level));
      return;
    }
  }
  throw std::invalid_argument("unknown log level '" + level + "' (trace, debug, info, warn, error, critical, off)");
}
}  // namespace peerrtc
