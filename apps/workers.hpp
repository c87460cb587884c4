// `peerrtc-server --workers N`: the supervisor process and the worker's side of it.
//
// The supervisor serves nothing itself. It holds the public HTTP port (bound with SO_REUSEPORT,
// never listening, so the number stays ours across worker restarts), starts N copies of this
// binary (fork + exec of /proc/self/exe with the same arguments plus the internal --worker-*
// flags), and each worker listens on
//   * the public port, with SO_REUSEPORT: the kernel spreads new HTTP connections over the
//     workers (HTTP only: an ICE-TCP connection must reach the worker holding its peer);
//   * its own port: UDP of its peers, ICE-TCP and HTTP on one number as a single process does
//     (other nodes forward room requests there; answers list it as the candidates' port).
// Workers are cluster nodes (--redis): a request landing on the wrong worker is forwarded to the
// room's node. The supervisor prints one READY line once every worker printed its own, restarts
// a worker that dies (with backoff), forwards SIGINT/SIGTERM and exits when the workers are done.
// Workers die with it (PR_SET_PDEATHSIG). docs/deploy.md ("Several processes on one machine").
#pragma once
#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

namespace peerrtc::workers {

// The internal flags a worker is started with (hidden from --help).
inline constexpr const char* kIndexFlag = "--worker-index";
inline constexpr const char* kPublicPortFlag = "--worker-public-port";
inline constexpr const char* kRestartsFlag = "--worker-restarts";
inline constexpr const char* kPortFlag = "--worker-port";  // its own port, when not base + index

struct SupervisorConfig {
  unsigned workers = 2;
  std::string host = "127.0.0.1";
  uint16_t public_port = 8080;  // 0 = ephemeral (the supervisor picks it and tells the workers)
  // The workers' own ports are own_base + index; 0 = ephemeral ones, and then a restarted worker
  // asks for the port it had (its node URL stays the same, so the cluster sees the same node).
  uint16_t own_base = 0;
  std::vector<std::string> argv;  // this process's argv: each worker gets it plus the --worker-* flags
  unsigned max_backoff_ms = 5000;  // restart delay: 100 ms doubling to this while a worker keeps dying
};

// Runs the supervisor until SIGINT/SIGTERM (`signals`, already blocked in every thread) and the
// workers' exit. Returns the process's exit code: 0 after a signal once every worker exited, 1 if
// the workers could not start (a worker's error is on stderr) or did not stop in time.
int run_supervisor(const SupervisorConfig& config, const sigset_t& signals);

// The own port of worker `index`: `base + index`, or 0 (ephemeral) when base is 0.
uint16_t worker_port(uint16_t base, unsigned index);

}  // namespace peerrtc::workers
