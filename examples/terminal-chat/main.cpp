// terminal-chat: PeerPyRTC's terminal chat in C++. Runs a PeerRTC server (the same HTTP app as
// peerrtc-server: the chat page at /, the JS client, the signaling API) and joins a room itself,
// as a server-side participant, so you chat from the terminal with the people in their browsers.
//
//   terminal-chat                              # http://127.0.0.1:8080, room lobby, as operator
//   terminal-chat --room standup --name ops --port 9000
//
// stdin: a line of text goes to the room; `/to <peer> <text>` to one peer; `/peers` lists who is
// here; `/help`; `/quit` (or EOF, SIGINT, SIGTERM) leaves and exits 0.
// stdout (one line each, flushed): `READY {"http":P,"udp":P}` once listening, then
// `[alice] hello`, `[alice -> you] hi` (direct), `* bob joined`, `* bob left`, `! ...` (errors).
// Logs go to stderr. Only the public API (<peerrtc/...>): the HTTP server is peerrtc::Server.
#include <CLI/CLI.hpp>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include <peerrtc/peerrtc.hpp>
#include <peerrtc/server.hpp>

#ifndef PEERRTC_SOURCE_DIR
#define PEERRTC_SOURCE_DIR "."
#endif

namespace {

std::mutex out_mu;

// One logical line to stdout, flushed (tests and pipes read it as it comes). A message with
// newlines is printed with its continuation lines indented, so every output line starts with
// a recognisable prefix.
void say(const std::string& line) {
  std::string out;
  out.reserve(line.size() + 1);
  for (char c : line) {
    if (c == '\n') {
      out += "\n    ";
    } else if (c != '\r') {
      out.push_back(c);
    }
  }
  std::lock_guard lock(out_mu);
  std::cout << out << std::endl;
}

std::string describe(const peerrtc::Message& m) {
  if (m.binary) return "<binary, " + std::to_string(m.data.size()) + " bytes>";
  return m.data;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// Reads stdin line by line without blocking forever, so a signal can end the program cleanly.
class LineReader {
 public:
  enum class Status { Line, Eof, Stopped };
  Status next(std::string& line, const std::atomic<bool>& stop) {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return Status::Line;
      }
      if (eof_) {
        if (buf_.empty()) return Status::Eof;
        line = std::move(buf_);  // a last line without a newline
        buf_.clear();
        return Status::Line;
      }
      if (stop.load()) return Status::Stopped;
      pollfd p{STDIN_FILENO, POLLIN, 0};
      int r = ::poll(&p, 1, 100);
      if (r < 0 && errno != EINTR) {
        eof_ = true;
        continue;
      }
      if (r <= 0) continue;
      char chunk[4096];
      ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
      if (n > 0) {
        buf_.append(chunk, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        eof_ = true;
      }
    }
  }

 private:
  std::string buf_;
  bool eof_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  // SIGINT/SIGTERM are taken by a signal thread (sigwait) so the main thread shuts down normally.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App cli{"PeerRTC terminal chat: a PeerRTC server that you chat from, with the browsers in the room"};
  std::string host = "127.0.0.1";
  int port = 8080;
  int udp_port = -1;
  std::string room = "lobby";
  std::string name = "operator";
  std::string static_root = PEERRTC_SOURCE_DIR;
  std::string log_level = "warn";
  cli.add_option("--host", host, "address for HTTP and UDP (0.0.0.0 = every interface)")->capture_default_str();
  cli.add_option("--port", port, "HTTP port; 0 = ephemeral")->check(CLI::Range(0, 65535))->capture_default_str();
  cli.add_option("--udp-port", udp_port, "UDP port of the peer connections (default: the HTTP port number)")
      ->check(CLI::Range(0, 65535));
  cli.add_option("--room", room, "room to join")->capture_default_str();
  cli.add_option("--name", name, "your name in the room")->capture_default_str();
  cli.add_option("--static-root", static_root, "directory holding clients/js and examples/web")
      ->capture_default_str();
  cli.add_option("--log-level", log_level, "trace|debug|info|warn|error (to stderr)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = cli.exit(e);
    return rc == 0 ? 0 : 2;
  }
  peerrtc::set_log_level(log_level);

  peerrtc::Config config;
  config.udp_bind = host;
  config.udp_port = static_cast<uint16_t>(udp_port >= 0 ? udp_port : port);

  peerrtc::ServerOptions options;
  options.host = host;
  options.port = static_cast<uint16_t>(port);
  options.static_root = static_root;

  std::unique_ptr<peerrtc::SignalingManager> manager;
  std::unique_ptr<peerrtc::Server> app;
  try {
    manager = std::make_unique<peerrtc::SignalingManager>(config);
    peerrtc::set_log_level(log_level);
    app = std::make_unique<peerrtc::Server>(*manager, options);
    app->start();
  } catch (const std::exception& e) {
    std::cerr << "terminal-chat: cannot start on " << host << ":" << port << ": " << e.what() << std::endl;
    if (manager) manager->shutdown();
    return 1;
  }

  const uint16_t http_port = app->port();
  say("READY " + nlohmann::json{{"http", http_port}, {"udp", manager->udp_port()}}.dump());
  std::cerr << "terminal-chat: open http://" << (host == "0.0.0.0" ? "127.0.0.1" : host) << ":" << http_port
            << "/?room=" << room << " in a browser; type here to talk, /help for commands" << std::endl;

  std::shared_ptr<peerrtc::Participant> me;
  try {
    me = manager->join(
        room, name,
        [](const peerrtc::Message& m) {
          if (m.to) {
            say("[" + m.sender + " -> you] " + describe(m));
          } else {
            say("[" + m.sender + "] " + describe(m));
          }
        },
        [room, name](const nlohmann::json& ev) {
          const std::string type = ev.value("type", "");
          if (type == "peer_joined") {
            say("* " + ev.value("peer_id", "?") + " joined");
          } else if (type == "peer_left") {
            say("* " + ev.value("peer_id", "?") + " left");
          } else if (type == "welcome") {
            std::vector<std::string> peers = ev.value("peers", std::vector<std::string>{});
            say("* you are " + name + " in " + room + "; " +
                (peers.empty() ? std::string("nobody else is here") : "here: " + join_names(peers)));
          } else if (type == "error") {
            say("! " + ev.value("code", std::string("error")) + ": " + ev.value("error", std::string()));
          }
        });
  } catch (const std::exception& e) {
    std::cerr << "terminal-chat: cannot join room '" << room << "' as '" << name << "': " << e.what() << std::endl;
    app->stop();
    manager->shutdown();
    return 2;
  }

  std::atomic<bool> stop{false};
  std::thread signal_thread([&] {
    timespec poll{0, 100 * 1000 * 1000};
    while (!stop.load()) {
      siginfo_t info;
      if (sigtimedwait(&signals, &info, &poll) > 0) {
        std::cerr << "terminal-chat: " << (info.si_signo == SIGINT ? "SIGINT" : "SIGTERM") << ", leaving" << std::endl;
        stop = true;
      }
    }
  });

  LineReader reader;
  std::string line;
  for (;;) {
    auto st = reader.next(line, stop);
    if (st != LineReader::Status::Line) break;
    line = trim(line);
    if (line.empty()) continue;
    try {
      if (line == "/quit" || line == "/exit") {
        break;
      } else if (line == "/help") {
        say("* commands: <text> (to everyone), /to <peer> <text>, /peers, /quit");
      } else if (line == "/peers") {
        std::vector<std::string> others;
        try {
          const auto info = manager->room_peers(room);  // kept alive: the loop ranges over a member
          for (const auto& p : info.at("peers"))
            if (p.get<std::string>() != name) others.push_back(p.get<std::string>());
        } catch (const peerrtc::ApiError&) {
        }
        say(others.empty() ? "* nobody else is here" : "* peers: " + join_names(others));
      } else if (line.rfind("/to ", 0) == 0) {
        std::string rest = trim(line.substr(4));
        size_t sp = rest.find(' ');
        if (sp == std::string::npos || trim(rest.substr(sp + 1)).empty()) {
          say("! usage: /to <peer> <text>");
        } else {
          std::string peer = rest.substr(0, sp), text = trim(rest.substr(sp + 1));
          if (!me->send_to(peer, text)) say("! " + peer + " is not in " + room);
        }
      } else if (line[0] == '/' && line.rfind("//", 0) != 0) {
        say("! unknown command " + line.substr(0, line.find(' ')) + " (/help; start with // to send a line beginning with /)");
      } else {
        if (line.rfind("//", 0) == 0) line.erase(0, 1);
        if (!me->send(line)) say("! not sent (the room is gone?)");
      }
    } catch (const std::exception& e) {
      say(std::string("! ") + e.what());
    }
  }

  stop = true;
  signal_thread.join();
  me->leave();
  me.reset();
  app->stop();
  manager->shutdown();
  app.reset();
  manager.reset();
  return 0;
}
