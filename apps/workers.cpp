// See workers.hpp. One thread: a poll() loop over a signalfd (SIGINT, SIGTERM, SIGCHLD) and the
// workers' stdout pipes. Staying single-threaded matters twice: fork() is safe, and
// PR_SET_PDEATHSIG fires when the *thread* that forked a worker ends, which here is the process.
#include "workers.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "common/log.hpp"

namespace peerrtc::workers {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto kReadyTimeout = std::chrono::seconds(30);  // a worker not READY by then is killed
constexpr auto kStopTimeout = std::chrono::seconds(15);   // workers have 10 s of their own
constexpr auto kHealthyAfter = std::chrono::seconds(10);  // a worker up this long resets the backoff
constexpr unsigned kFirstBackoffMs = 100;
constexpr size_t kMaxLine = 64 * 1024;

struct Worker {
  unsigned index = 0;
  pid_t pid = -1;
  int out = -1;  // read end of its stdout
  std::string buf;
  bool ready = false;
  nlohmann::json ready_info;  // its READY JSON
  unsigned restarts = 0;      // how many times it was restarted
  uint16_t last_port = 0;     // its own port when it was last ready (ephemeral own ports)
  unsigned backoff_ms = 0;    // the next restart's delay
  Clock::time_point started{};
  std::optional<Clock::time_point> restart_at;  // dead, restart due then
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return std::string("was killed by SIG") + (name ? name : std::to_string(WTERMSIG(status)).c_str());
  }
  return "ended (status " + std::to_string(status) + ")";
}

// Parses host into a socket address with `port`.
bool make_sockaddr(const std::string& host_in, uint16_t port, sockaddr_storage& ss, socklen_t& len) {
  std::string host = host_in;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::memset(&ss, 0, sizeof ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

// Binds a TCP socket to host:port (SO_REUSEADDR, and SO_REUSEPORT if asked) without listening.
// Returns the fd and sets `bound`, or -1 with `error`.
int bind_tcp(const std::string& host, uint16_t port, bool reuse_port, uint16_t& bound, std::string& error) {
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!make_sockaddr(host, port, ss, len)) {
    error = "not an IP address: " + host;
    return -1;
  }
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::strerror(errno);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    error = std::strerror(errno);
    ::close(fd);
    return -1;
  }
  socklen_t sl = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl);
  bound = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                        : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return fd;
}

// Takes the public port for the workers: first a plain bind (fails if anything holds the port,
// including another SO_REUSEPORT group of this user, which would otherwise silently share our
// traffic), then the SO_REUSEPORT bind that is kept, never listening, for the supervisor's life.
int hold_public_port(const std::string& host, uint16_t port, uint16_t& bound, std::string& error) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    uint16_t probe_port = 0;
    const int probe = bind_tcp(host, port, false, probe_port, error);
    if (probe < 0) return -1;
    ::close(probe);
    const int fd = bind_tcp(host, probe_port, true, bound, error);
    if (fd >= 0 || port != 0) return fd;  // an ephemeral number taken in between: pick another
  }
  return -1;
}

class Supervisor {
 public:
  Supervisor(const SupervisorConfig& config, const sigset_t& signals) : config_(config), signals_(signals) {}

  int run() {
    std::string error;
    public_fd_ = hold_public_port(config_.host, config_.public_port, public_port_, error);
    if (public_fd_ < 0) {
      std::cerr << "peerrtc-server: cannot listen on " << config_.host << ":" << config_.public_port << ": " << error
                << std::endl;
      return 1;
    }
    sigset_t mask = signals_;
    sigaddset(&mask, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    sigfd_ = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd_ < 0) {
      std::cerr << "peerrtc-server: signalfd: " << std::strerror(errno) << std::endl;
      return 1;
    }
    log().info("peerrtc-server: supervisor (pid {}) starting {} workers, HTTP {}:{} shared", ::getpid(),
               config_.workers, config_.host, public_port_);
    workers_.resize(config_.workers);
    for (unsigned i = 0; i < config_.workers; ++i) {
      workers_[i].index = i;
      workers_[i].backoff_ms = kFirstBackoffMs;
      if (!spawn(workers_[i])) return abort_start(1);
    }
    const int rc = loop();
    ::close(sigfd_);
    ::close(public_fd_);
    return rc;
  }

 private:
  bool spawn(Worker& w) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
      log().error("peerrtc-server: pipe: {}", std::strerror(errno));
      return false;
    }
    std::vector<std::string> args = config_.argv;
    args.insert(args.end(), {kIndexFlag, std::to_string(w.index), kPublicPortFlag, std::to_string(public_port_),
                             kRestartsFlag, std::to_string(w.restarts)});
    if (config_.own_base == 0 && w.last_port != 0) args.insert(args.end(), {kPortFlag, std::to_string(w.last_port)});
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      log().error("peerrtc-server: fork: {}", std::strerror(errno));
      ::close(pipefd[0]);
      ::close(pipefd[1]);
      return false;
    }
    if (pid == 0) {
      // The child: async-signal-safe calls only until exec.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(1);  // the supervisor died before prctl
      ::dup2(pipefd[1], STDOUT_FILENO);       // dup2 clears close-on-exec on the copy
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the worker blocks what it needs itself
      ::execv("/proc/self/exe", cargs.data());
      static const char msg[] = "peerrtc-server: worker: cannot exec /proc/self/exe\n";
      [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
      ::_exit(127);
    }
    ::close(pipefd[1]);
    ::fcntl(pipefd[0], F_SETFL, ::fcntl(pipefd[0], F_GETFL) | O_NONBLOCK);
    w.pid = pid;
    w.out = pipefd[0];
    w.buf.clear();
    w.ready = false;
    w.started = Clock::now();
    w.restart_at.reset();
    log().debug("peerrtc-server: worker {} started (pid {}, restart {})", w.index, pid, w.restarts);
    return true;
  }

  bool all_ready() const {
    return std::all_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.ready; });
  }

  void print_ready() {
    nlohmann::json list = nlohmann::json::array();
    for (auto& w : workers_) list.push_back(worker_json(w));
    nlohmann::json ready{{"http", public_port_}, {"udp", nullptr}, {"tcp", nullptr}, {"pid", ::getpid()},
                         {"workers", list}};
    std::cout << "READY " << ready.dump() << std::endl;
  }

  static nlohmann::json worker_json(const Worker& w) {
    nlohmann::json j{{"index", w.index}, {"pid", w.pid}, {"restarts", w.restarts}};
    for (const char* k : {"http", "udp", "tcp", "node"})
      if (w.ready_info.contains(k)) j[k] = w.ready_info[k];
    return j;
  }

  // Reads what a worker printed; its READY line marks it ready, other lines are passed on.
  void read_output(Worker& w) {
    char chunk[4096];
    for (;;) {
      const ssize_t n = ::read(w.out, chunk, sizeof chunk);
      if (n > 0) {
        w.buf.append(chunk, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {  // EOF: it is exiting; SIGCHLD tells
        ::close(w.out);
        w.out = -1;
      }
      break;
    }
    size_t nl;
    while ((nl = w.buf.find('\n')) != std::string::npos) {
      std::string line = w.buf.substr(0, nl);
      w.buf.erase(0, nl + 1);
      if (!w.ready && line.rfind("READY ", 0) == 0) {
        auto j = nlohmann::json::parse(line.substr(6), nullptr, false);
        if (j.is_object()) {
          w.ready = true;
          w.ready_info = std::move(j);
          if (w.ready_info.contains("http") && w.ready_info["http"].is_number_unsigned())
            w.last_port = w.ready_info["http"].get<uint16_t>();
          on_ready(w);
          continue;
        }
      }
      std::cout << line << std::endl;
    }
    if (w.buf.size() > kMaxLine) w.buf.clear();
  }

  void on_ready(Worker& w) {
    if (!announced_) {
      if (all_ready()) {
        print_ready();
        announced_ = true;
      }
      return;
    }
    log().info("peerrtc-server: worker {} is back (pid {}, restart {})", w.index, w.pid, w.restarts);
    std::cout << "WORKER " << worker_json(w).dump() << std::endl;
  }

  // A child ended: at start-up that is fatal; later it is restarted after its backoff.
  void on_exit(Worker& w, int status) {
    const std::string how = describe_status(status);
    if (w.out >= 0) {
      read_output(w);  // whatever it printed last
      if (w.out >= 0) ::close(w.out);
      w.out = -1;
    }
    w.pid = -1;
    const bool was_ready = w.ready;
    w.ready = false;
    if (stopping_) {
      if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        log().warn("peerrtc-server: worker {} {} while stopping", w.index, how);
        clean_ = false;
      }
      return;
    }
    if (!announced_) {
      start_failed_ = "worker " + std::to_string(w.index) + " " + how + " before it was ready";
      return;
    }
    if (Clock::now() - w.started >= kHealthyAfter) w.backoff_ms = kFirstBackoffMs;
    if (!was_ready) w.last_port = 0;  // it could not take its old port back: a fresh one next time
    ++restarts_total_;
    log().warn("peerrtc-server: worker {} {}{}; restarting it in {} ms (restart {} of this worker, {} in all)",
               w.index, how, was_ready ? "" : " before it was ready", w.backoff_ms, w.restarts + 1, restarts_total_);
    w.restart_at = Clock::now() + milliseconds(w.backoff_ms);
    w.backoff_ms = std::min(w.backoff_ms * 2, std::max(config_.max_backoff_ms, kFirstBackoffMs));
  }

  void reap() {
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return;
      for (auto& w : workers_)
        if (w.pid == pid) on_exit(w, status);
    }
  }

  void signal_all(int sig) {
    for (auto& w : workers_)
      if (w.pid > 0) ::kill(w.pid, sig);
  }

  bool any_alive() const {
    return std::any_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.pid > 0; });
  }

  // Stops everything after a failed start-up: the error was printed by the worker (stderr).
  int abort_start(int rc) {
    stopping_ = true;
    signal_all(SIGTERM);
    wait_all(Clock::now() + kStopTimeout);
    return rc;
  }

  // Waits for every worker to exit (reaping, draining output), SIGKILL at the deadline.
  bool wait_all(Clock::time_point deadline) {
    bool killed = false;
    while (any_alive()) {
      const auto now = Clock::now();
      if (now >= deadline && !killed) {
        log().error("peerrtc-server: workers still running {} s after the signal; killing them",
                    std::chrono::duration_cast<std::chrono::seconds>(kStopTimeout).count());
        signal_all(SIGKILL);
        killed = true;
        deadline = now + std::chrono::seconds(5);
      } else if (now >= deadline) {
        return false;
      }
      poll_once(std::chrono::duration_cast<milliseconds>(deadline - now));
      if (stop_signal_ && second_signal_) {
        signal_all(stop_signal_);  // a second signal is passed on: the workers then exit at once
        second_signal_ = false;
      }
    }
    return !killed;
  }

  // One poll over the signalfd and the pipes; handles what arrived.
  void poll_once(milliseconds timeout) {
    std::vector<pollfd> fds;
    fds.push_back({sigfd_, POLLIN, 0});
    std::vector<Worker*> owners;
    for (auto& w : workers_) {
      if (w.out >= 0) {
        fds.push_back({w.out, POLLIN, 0});
        owners.push_back(&w);
      }
    }
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(0, timeout.count())));
    if (n <= 0) return;
    for (size_t i = 1; i < fds.size(); ++i)
      if (fds[i].revents) read_output(*owners[i - 1]);
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(sigfd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        const int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGCHLD) continue;
        if (stop_signal_) {
          second_signal_ = true;
        } else {
          stop_signal_ = sig;
        }
      }
      reap();  // SIGCHLD (several may have merged into one)
    }
  }

  int loop() {
    const auto start_deadline = Clock::now() + kReadyTimeout;
    for (;;) {
      auto now = Clock::now();
      if (stop_signal_) {
        log().info("peerrtc-server: {} received, stopping {} workers", stop_signal_ == SIGINT ? "SIGINT" : "SIGTERM",
                   config_.workers);
        stopping_ = true;
        signal_all(stop_signal_);
        const bool in_time = wait_all(now + kStopTimeout);
        log().info("peerrtc-server: supervisor stopped");
        return in_time && clean_ ? 0 : 1;
      }
      if (!start_failed_.empty()) {
        std::cerr << "peerrtc-server: " << start_failed_ << "; stopping the others" << std::endl;
        return abort_start(1);
      }
      if (!announced_ && now >= start_deadline) {
        std::cerr << "peerrtc-server: workers not ready after "
                  << std::chrono::duration_cast<std::chrono::seconds>(kReadyTimeout).count() << " s; stopping"
                  << std::endl;
        return abort_start(1);
      }
      // Due restarts; workers stuck before READY.
      auto next = now + std::chrono::seconds(1);
      for (auto& w : workers_) {
        if (w.restart_at) {
          if (*w.restart_at <= now) {
            ++w.restarts;
            if (!spawn(w)) w.restart_at = now + milliseconds(w.backoff_ms);
          } else {
            next = std::min(next, *w.restart_at);
          }
        } else if (announced_ && w.pid > 0 && !w.ready && now - w.started > kReadyTimeout) {
          log().warn("peerrtc-server: worker {} (pid {}) not ready after {} s; killing it", w.index, w.pid,
                     std::chrono::duration_cast<std::chrono::seconds>(kReadyTimeout).count());
          ::kill(w.pid, SIGKILL);
          w.started = now;  // once
        }
      }
      if (!announced_) next = std::min(next, start_deadline);
      poll_once(std::chrono::duration_cast<milliseconds>(next - now) + milliseconds(1));
    }
  }

  SupervisorConfig config_;
  sigset_t signals_;
  int public_fd_ = -1;
  uint16_t public_port_ = 0;
  int sigfd_ = -1;
  std::vector<Worker> workers_;
  bool announced_ = false;   // the READY line is out
  bool stopping_ = false;
  bool clean_ = true;        // every worker exited 0 after the signal
  int stop_signal_ = 0;      // SIGINT or SIGTERM received
  bool second_signal_ = false;
  unsigned restarts_total_ = 0;
  std::string start_failed_;
};

}  // namespace

uint16_t worker_port(uint16_t base, unsigned index) {
  return base == 0 ? 0 : static_cast<uint16_t>(base + index);
}

int run_supervisor(const SupervisorConfig& config, const sigset_t& signals) {
  Supervisor s(config, signals);
  return s.run();
}

}  // namespace peerrtc::workers
