// Logging: spdlog, one named logger "peerrtc". Protocol code logs drops at debug.
#pragma once
#include <spdlog/spdlog.h>

namespace peerrtc {
spdlog::logger& log();
}
