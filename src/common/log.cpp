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
