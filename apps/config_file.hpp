// peerrtc-server's configuration file and installed layout (apps/peerrtc-server.cpp):
//   --config FILE     every flag read from FILE (CLI11's TOML/INI config: `port = 8080`,
//                     `public-ip = ["203.0.113.7"]`); the command line wins over the file
//   --print-config    the file with every flag, each commented out with its description, its
//                     default and its environment variable; the packaged /etc/peerrtc/peerrtc.conf
//                     is this output (generated at build time, so it cannot drift from the flags)
//   --version         the version of the build (VERSION at the top of the source tree)
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace peerrtc::apps {

// The config file of `cli`: every configurable option of a visible group, commented out.
std::string config_template(const CLI::App& cli);

// `v` as the shortest text that reads back as the same double (16777216, 0.5, 1e+300):
// CLI11's own default text of a double has 6 digits (1.67772e+07), which --print-config would
// write into the config file and a later --config would read back as another number.
std::string exact_number(double v);

// Where the web assets are when no --static-root is given: <dir of the binary>/../share/peerrtc
// when it holds the JS client (an installed package: /usr/bin -> /usr/share/peerrtc), else
// `source_dir` (a build tree run in place).
std::string default_static_root(const std::string& source_dir);

}  // namespace peerrtc::apps
