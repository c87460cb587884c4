// peerrtc-server: PeerRTC's rooms behind HTTP (docs/protocol.md), plus the JS client and the web
// examples. Prints `READY {"http":<port>,"udp":<port>,"tcp":<port|null>}` on stdout once listening.
//
//   peerrtc-server                          # http://127.0.0.1:8080, UDP 8080
//   peerrtc-server --host 0.0.0.0 --port 8080 --public-ip 203.0.113.7
//
// Every flag has an environment variable (PEERRTC_HOST, PEERRTC_PORT, ...; see --help).
// With --redis URL the process is a node of a cluster (src/cluster, docs/architecture.md).
// With --workers N (and --redis) it supervises N such nodes sharing the HTTP port (workers.hpp).
// Exit codes: 0 after SIGINT/SIGTERM (every peer is told), 1 if it cannot start (port in use,
// Redis unreachable), 2 on bad flags.
#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <pthread.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <openssl/rand.h>

#include "cluster/node.hpp"
#include "cluster/redis.hpp"
#include "cluster/stream.hpp"
#include "config_file.hpp"
#include "common/log.hpp"
#include "peerrtc/peerrtc.hpp"
#include "server/app.hpp"
#include "surface_flags.hpp"
#include "signaling/ice_config.hpp"
#include "turn/turn.hpp"
#include "workers.hpp"

#ifndef PEERRTC_SOURCE_DIR
#define PEERRTC_SOURCE_DIR "."
#endif
#ifndef PEERRTC_VERSION
#define PEERRTC_VERSION "unknown"
#endif

namespace {

constexpr auto kShutdownDeadline = std::chrono::seconds(10);

int wait_for_signal(const sigset_t& set) {
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

}  // namespace

int main(int argc, char** argv) {
  // Block SIGINT/SIGTERM before any thread exists: every thread inherits the mask and the main
  // thread takes them with sigwait, so shutdown runs on a normal thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CLI::App cli{"PeerRTC server: WebRTC DataChannel rooms over HTTP signaling (docs/protocol.md)"};
  std::string host = "127.0.0.1";
  int port = 8080;
  int udp_port = -1;
  std::vector<std::string> public_ips, ice_servers;
  std::string log_level = "info";
  bool debug = false, no_examples = false;
  std::string static_root = peerrtc::apps::default_static_root(PEERRTC_SOURCE_DIR);
  peerrtc::Config config;
  long long consent_ms = config.consent_timeout.count();

  const auto ip_check = CLI::Validator(
      [](std::string& s) {
        boost::system::error_code ec;
        boost::asio::ip::make_address(s, ec);
        return ec ? "not an IP address: " + s : std::string();
      },
      "IP");
  const auto ice_check = CLI::Validator(
      [](std::string& s) {
        auto u = peerrtc::turn::parse_ice_url(s);
        if (!u) return u.error();
        if (u->is_turn())
          return s + " is a TURN server: browsers refuse one without credentials; use --turn-url " + s +
                 " with --turn-secret (or --turn-username and --turn-password)";
        return std::string();
      },
      "STUN-URL");
  const auto turn_check = CLI::Validator(
      [](std::string& s) {
        auto u = peerrtc::turn::parse_ice_url(s);
        if (!u) return u.error();
        if (!u->is_turn()) return s + " is not a turn:/turns: URL (STUN servers go to --ice-server)";
        return std::string();
      },
      "TURN-URL");
  const auto not_empty = CLI::Validator(
      [](std::string& s) { return s.empty() ? std::string("must not be empty") : std::string(); }, "TEXT");

  cli.add_option("--host", host, "address for HTTP and UDP (0.0.0.0 = every interface)")
      ->envname("PEERRTC_HOST")->check(ip_check)->capture_default_str();
  cli.add_option("--port", port, "HTTP port; 0 = ephemeral")
      ->envname("PEERRTC_PORT")->check(CLI::Range(0, 65535))->capture_default_str();
  cli.add_option("--udp-port", udp_port, "UDP port of every peer connection (default: the HTTP port number)")
      ->envname("PEERRTC_UDP_PORT")->check(CLI::Range(0, 65535));
  cli.add_option("--public-ip", public_ips, "address announced in answers (behind NAT); repeatable")
      ->envname("PEERRTC_PUBLIC_IP")->delimiter(',')->check(ip_check);
  cli.add_option("--ice-server", ice_servers,
                 "STUN server listed by GET /config (e.g. stun:stun.example.org:3478); repeatable. TURN servers: --turn-url")
      ->envname("PEERRTC_ICE_SERVER")->delimiter(',')->check(ice_check);
  std::vector<std::string> turn_urls;
  std::string turn_secret, turn_username, turn_password;
  long long turn_ttl = config.turn_ttl.count();
  auto* turn_url_opt =
      cli.add_option("--turn-url", turn_urls,
                     "TURN server listed by GET /config with credentials, for networks where neither UDP nor TCP "
                     "reaches this server (e.g. turns:turn.example.org:443?transport=tcp); repeatable; needs "
                     "--turn-secret or --turn-username/--turn-password (docs/deploy.md)")
          ->envname("PEERRTC_TURN_URL")->delimiter(',')->check(turn_check);
  auto* turn_secret_opt =
      cli.add_option("--turn-secret", turn_secret,
                     "secret shared with the TURN server (coturn: use-auth-secret, static-auth-secret=S): GET /config "
                     "mints credentials per request, username <expiry>:<peer_id>. Prefer the environment variable: a "
                     "command line is visible to every user of the machine")
          ->envname("PEERRTC_TURN_SECRET")->check(not_empty);
  auto* turn_user_opt = cli.add_option("--turn-username", turn_username, "static TURN username (instead of --turn-secret)")
                            ->envname("PEERRTC_TURN_USERNAME")->check(not_empty);
  auto* turn_pass_opt = cli.add_option("--turn-password", turn_password, "static TURN password (with --turn-username)")
                            ->envname("PEERRTC_TURN_PASSWORD")->check(not_empty);
  auto* turn_ttl_opt =
      cli.add_option("--turn-ttl", turn_ttl, "seconds the credentials minted from --turn-secret stay valid")
          ->envname("PEERRTC_TURN_TTL")
          ->check(CLI::Range(static_cast<long long>(peerrtc::signaling::kMinTurnTtl),
                             static_cast<long long>(peerrtc::signaling::kMaxTurnTtl)))
          ->capture_default_str();
  turn_secret_opt->excludes(turn_user_opt)->excludes(turn_pass_opt)->needs(turn_url_opt);
  turn_user_opt->needs(turn_pass_opt)->needs(turn_url_opt);
  turn_pass_opt->needs(turn_user_opt);
  turn_ttl_opt->needs(turn_secret_opt);
  cli.add_option("--log-level", log_level, "trace|debug|info|warn|error")
      ->envname("PEERRTC_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  cli.add_flag("--debug", debug, "debug logging of the library (same as --log-level debug)")->envname("PEERRTC_DEBUG");
  cli.add_option("--static-root", static_root,
                 "directory holding clients/js, clients/dashboard and examples/web (default: <binary>/../share/peerrtc "
                 "when installed, else the source tree of the build)")
      ->envname("PEERRTC_STATIC_ROOT");
  cli.add_flag("--no-examples", no_examples, "don't serve the web examples or run the echo room")
      ->envname("PEERRTC_NO_EXAMPLES");
  cli.add_option("--max-rooms", config.max_rooms, "most rooms at once")
      ->envname("PEERRTC_MAX_ROOMS")->check(CLI::PositiveNumber)->capture_default_str();
  cli.add_option("--max-peers-per-room", config.max_peers_per_room, "most peers in one room")
      ->envname("PEERRTC_MAX_PEERS_PER_ROOM")->check(CLI::PositiveNumber)->capture_default_str();
  cli.add_option("--max-peers", config.max_peers, "most peers at once")
      ->envname("PEERRTC_MAX_PEERS")->check(CLI::PositiveNumber)->capture_default_str();
  cli.add_option("--consent-timeout-ms", consent_ms, "a peer silent this long (no ICE consent) is dropped")
      ->envname("PEERRTC_CONSENT_TIMEOUT_MS")->check(CLI::Range(100LL, 3600LL * 1000))->capture_default_str();
  long long connect_ms = config.connect_timeout.count();
  cli.add_option("--connect-timeout-ms", connect_ms, "a peer not connected this long after its offer is dropped")
      ->envname("PEERRTC_CONNECT_TIMEOUT_MS")->check(CLI::Range(100LL, 3600LL * 1000))->capture_default_str();
  cli.add_option("--sctp-streams", config.sctp_streams,
                 "SCTP streams offered in and out per peer (bounds the data channels of a peer; each costs ~100 B per peer)")
      ->envname("PEERRTC_SCTP_STREAMS")->check(CLI::Range(2, 65535))->capture_default_str();
  cli.add_option("--max-pending", config.max_pending_handshakes, "most handshakes in progress at once (503 beyond)")
      ->envname("PEERRTC_MAX_PENDING")->check(CLI::PositiveNumber)->capture_default_str();
  cli.add_option("--peer-message-rate", config.peer_message_rate, "messages/s a peer may send (0 = unlimited)")
      ->envname("PEERRTC_PEER_MESSAGE_RATE")->check(CLI::NonNegativeNumber)
      ->default_str(peerrtc::apps::exact_number(config.peer_message_rate));
  cli.add_option("--peer-message-burst", config.peer_message_burst, "burst of the message rate")
      ->envname("PEERRTC_PEER_MESSAGE_BURST")->check(CLI::NonNegativeNumber)
      ->default_str(peerrtc::apps::exact_number(config.peer_message_burst));
  cli.add_option("--peer-byte-rate", config.peer_byte_rate, "bytes/s a peer may send (0 = unlimited)")
      ->envname("PEERRTC_PEER_BYTE_RATE")->check(CLI::NonNegativeNumber)
      ->default_str(peerrtc::apps::exact_number(config.peer_byte_rate));
  cli.add_option("--peer-byte-burst", config.peer_byte_burst, "burst of the byte rate")
      ->envname("PEERRTC_PEER_BYTE_BURST")->check(CLI::NonNegativeNumber)
      ->default_str(peerrtc::apps::exact_number(config.peer_byte_burst));
  long long grace_ms = config.slow_receiver_grace.count();
  cli.add_option("--slow-receiver-grace-ms", grace_ms, "a receiver congested this long is disconnected")
      ->envname("PEERRTC_SLOW_RECEIVER_GRACE_MS")->check(CLI::Range(100LL, 3600LL * 1000))->capture_default_str();
  cli.add_option("--max-peer-queue", config.max_peer_queue, "bytes queued to one receiver before it is disconnected")
      ->envname("PEERRTC_MAX_PEER_QUEUE")->check(CLI::Range(size_t{1} << 20, size_t{1} << 30))->capture_default_str();
  std::vector<std::string> block_words, mask_words;
  cli.add_option("--block-words", block_words, "moderation: drop text messages containing these words")
      ->envname("PEERRTC_BLOCK_WORDS")->delimiter(',');
  cli.add_option("--mask-words", mask_words, "moderation: replace these words with asterisks before relay")
      ->envname("PEERRTC_MASK_WORDS")->delimiter(',');
  bool no_ice_tcp = false;
  cli.add_flag("--no-ice-tcp", no_ice_tcp,
               "no ICE over TCP (by default answers also offer TCP on the UDP port's number, shared with HTTP)")
      ->envname("PEERRTC_NO_ICE_TCP");
  cli.add_option("--tcp-max-connections", config.ice_tcp_max_connections, "most ICE-TCP connections at once")
      ->envname("PEERRTC_TCP_MAX_CONNECTIONS")->check(CLI::PositiveNumber)->capture_default_str();
  cli.add_option("--tcp-max-per-ip", config.ice_tcp_max_per_ip, "most ICE-TCP connections from one address")
      ->envname("PEERRTC_TCP_MAX_PER_IP")->check(CLI::PositiveNumber)->capture_default_str();
  long long bundle_wait_us = config.bundle_wait.count();
  cli.add_option("--bundle-wait-us", bundle_wait_us,
                 "after reading every waiting datagram, wait up to this long for more so messages to one receiver share a packet (0 = off)")
      ->envname("PEERRTC_BUNDLE_WAIT_US")->check(CLI::Range(0LL, 5000LL))->capture_default_str();
  long long tcp_stun_ms = config.ice_tcp_stun_timeout.count();
  cli.add_option("--tcp-stun-timeout-ms", tcp_stun_ms, "an ICE-TCP connection without a valid STUN request this long is closed")
      ->envname("PEERRTC_TCP_STUN_TIMEOUT_MS")->check(CLI::Range(100LL, 600LL * 1000))->capture_default_str();
  cli.add_option("--hook-queue", config.hook_queue_capacity, "backend hook queue capacity (oldest dropped beyond)")
      ->envname("PEERRTC_HOOK_QUEUE")->check(CLI::PositiveNumber)->capture_default_str();
  cli.add_option("--volatile-max-queue", config.volatile_max_queue,
                 "volatile lane: a receiver with more bytes than this sent to it and not yet acknowledged is congested, "
                 "and its volatile messages are dropped (counted)")
      ->envname("PEERRTC_VOLATILE_MAX_QUEUE")->check(CLI::PositiveNumber)->capture_default_str();
  std::string hook_overflow = "drop_oldest";
  cli.add_option("--hook-overflow", hook_overflow,
                 "a full hook queue (--redis-stream): drop_oldest (drop and count the oldest event) or backpressure "
                 "(pause the peers whose messages fill it until it drains to half; nothing is dropped)")
      ->envname("PEERRTC_HOOK_OVERFLOW")->check(CLI::IsMember({"drop_oldest", "backpressure"}))->capture_default_str();
  // Cluster mode (docs/deploy.md, "A cluster of nodes").
  std::string redis_url, redis_prefix = "peerrtc:", node_id, advertise_url;
  long long node_ttl_ms = 3000;
  auto* redis_opt =
      cli.add_option("--redis", redis_url,
                     "Redis URL redis://HOST[:PORT][/DB] (or redis://:PASSWORD@HOST..., or Sentinel: "
                     "sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]): this process becomes a node of "
                     "a cluster; rooms are placed on the least-loaded node and any node forwards requests to the room's")
          ->envname("PEERRTC_REDIS")
          ->check(CLI::Validator(
              [](std::string& s) {
                auto u = peerrtc::cluster::parse_redis_url(s);
                return u ? std::string() : u.error;
              },
              "URL"));
  cli.add_option("--redis-prefix", redis_prefix, "prefix of every Redis key of the cluster")
      ->envname("PEERRTC_REDIS_PREFIX")->check(not_empty)->capture_default_str()->needs(redis_opt);
  cli.add_option("--node-id", node_id, "this node's id in the cluster (default: random)")
      ->envname("PEERRTC_NODE_ID")
      ->check(CLI::Validator([](std::string& s) { return peerrtc::cluster::check_node_id(s); }, "ID"))
      ->needs(redis_opt);
  cli.add_option("--advertise-url", advertise_url,
                 "http://HOST:PORT other nodes use to reach this one (default: http://<host>:<port>, with 0.0.0.0 "
                 "as 127.0.0.1: fine on one machine only)")
      ->envname("PEERRTC_ADVERTISE_URL")
      ->check(CLI::Validator(
          [](std::string& s) {
            return peerrtc::cluster::parse_http_url(s) ? std::string() : "not an http://HOST:PORT URL: " + s;
          },
          "URL"))
      ->needs(redis_opt);
  cli.add_option("--node-ttl-ms", node_ttl_ms,
                 "a node silent this long is dead and its rooms are freed (heartbeat every third of it)")
      ->envname("PEERRTC_NODE_TTL_MS")->check(CLI::Range(300LL, 600LL * 1000))->capture_default_str()->needs(redis_opt);
  std::string cluster_secret;
  cli.add_option("--cluster-secret", cluster_secret,
                 "the secret every node of the cluster shares (at least 16 bytes): node-to-node requests carry an "
                 "HMAC of it, and anything claiming to come from a node without one is refused. Required with "
                 "--redis (with --workers, a random one for the workers if not given). Prefer the environment variable")
      ->envname("PEERRTC_CLUSTER_SECRET");  // (ignored without --redis)
  // --workers: a supervisor and N worker processes (apps/workers.hpp, docs/deploy.md).
  unsigned workers = 0;
  cli.add_option("--workers", workers,
                 "run N worker processes (cluster nodes, needs --redis) sharing the HTTP port (SO_REUSEPORT); worker i "
                 "has its own port (UDP, ICE-TCP, node-to-node HTTP): --udp-port + i, or --port + 1 + i; restarted if it "
                 "dies. 0 = one process")
      ->envname("PEERRTC_WORKERS")->check(CLI::Range(0u, 64u))->capture_default_str();
  // Internal: set by the supervisor on the command line of each worker (hidden from --help).
  int worker_index = -1, worker_public_port = 0;
  unsigned worker_restarts = 0;
  cli.add_option(peerrtc::workers::kIndexFlag, worker_index)->group("")->check(CLI::Range(0, 63));
  cli.add_option(peerrtc::workers::kPublicPortFlag, worker_public_port)->group("")->check(CLI::Range(1, 65535));
  cli.add_option(peerrtc::workers::kRestartsFlag, worker_restarts)->group("");
  int worker_own_port = -1;
  cli.add_option(peerrtc::workers::kPortFlag, worker_own_port)->group("")->check(CLI::Range(1, 65535));

  std::string api_key;
  cli.add_option("--api-key", api_key,
                 "turns on the server API under /api/ (broadcast, send, kick, rooms, join tokens) for requests with "
                 "'Authorization: Bearer <key>' (docs/protocol.md). Prefer the environment variable")
      ->envname("PEERRTC_API_KEY")->check(not_empty);
  cli.add_option("--join-secret", config.join_secret,
                 "every offer must carry a join token (HS256 JWT with room, sub = peer_id, exp) signed with this "
                 "secret: minted by POST /api/tokens or peerrtc::make_join_token. Prefer the environment variable")
      ->envname("PEERRTC_JOIN_SECRET")->check(not_empty);
  cli.add_option("--history", config.history,
                 "replay a room's last N room-wide messages to a peer that joins (a `history` event after `welcome`); "
                 "0 = off")
      ->envname("PEERRTC_HISTORY")->check(CLI::Range(size_t{0}, size_t{100000}))->capture_default_str();
  cli.add_option("--history-bytes", config.history_bytes, "most payload bytes of history kept per room")
      ->envname("PEERRTC_HISTORY_BYTES")->check(CLI::Range(size_t{1024}, size_t{64} << 20))->capture_default_str();
  long long resume_window = config.resume_window.count();
  cli.add_option("--resume-window", resume_window,
                 "seconds a protocol 2 peer whose connection dropped stays in its room as away and can resume "
                 "with every message it missed (docs/protocol.md v2); 0 = a drop is a leave")
      ->envname("PEERRTC_RESUME_WINDOW")->check(CLI::Range(0LL, 86400LL))->capture_default_str();
  cli.add_option("--resume-buffer", config.resume_buffer, "most messages a room keeps for resumes")
      ->envname("PEERRTC_RESUME_BUFFER")->check(CLI::Range(size_t{0}, size_t{10000000}))->capture_default_str();
  cli.add_option("--resume-buffer-bytes", config.resume_buffer_bytes, "most payload bytes a room keeps for resumes")
      ->envname("PEERRTC_RESUME_BUFFER_BYTES")->check(CLI::Range(size_t{0}, size_t{1} << 34))->capture_default_str();
  size_t redis_stream = 0;
  cli.add_option("--redis-stream", redis_stream,
                 "append every relayed message of a room to the Redis Stream <prefix>stream:<room> (XADD MAXLEN ~ N; "
                 "fields room, sender, data, binary, ts, to) for consumer groups; with --history a room that comes to "
                 "this node starts with the Stream's last messages")
      ->envname("PEERRTC_REDIS_STREAM")->check(CLI::Range(size_t{1}, size_t{100000000}))->needs(redis_opt);
  long long redis_stream_ttl = 86400;
  cli.add_option("--redis-stream-ttl", redis_stream_ttl,
                 "a room's Stream expires this many seconds after its last message (0 = never)")
      ->envname("PEERRTC_REDIS_STREAM_TTL")->check(CLI::Range(0LL, 3660LL * 86400))->capture_default_str()
      ->needs(redis_opt);

  peerrtc::server::Options options;
  peerrtc::apps::add_surface_flags(cli, options);  // --metrics-key, --cors-origin, --rate-limit ...

  cli.footer(
      "The default --host 127.0.0.1 serves this machine only; use --host 0.0.0.0 (and --public-ip behind NAT)\n"
      "to serve a network. Prints READY {\"http\":<port>,\"udp\":<port>,\"tcp\":<port|null>} once listening.\n"
      "One port number carries HTTP, UDP and ICE-TCP by default: open it for TCP and UDP (docs/deploy.md).\n"
      "Clients on networks that let nothing through but a TURN relay (e.g. only TLS on port 443) need\n"
      "--turn-url with --turn-secret; docs/deploy.md has the ports, NAT and a coturn set-up.\n"
      "GET /metrics (Prometheus) and /dashboard/ (live charts) are always served; with --api-key or --join-secret\n"
      "the listings and counters need the API key (docs/deploy.md \"What is public\").\n"
      "With --redis, processes sharing a Redis form a cluster: any node answers any request (docs/deploy.md).\n"
      "--workers N --redis URL: N processes share the HTTP port, worker i has its own UDP/ICE-TCP port\n"
      "(--udp-port + i, default --port + 1 + i); one READY line with \"workers\":[...] once all are up.\n"
      "Exit: 0 after SIGINT/SIGTERM, 1 if it cannot start (e.g. port in use, Redis unreachable), 2 on bad flags.");
  // --config FILE, --print-config, --version (apps/config_file.hpp).
  cli.set_config("--config", "", "read every flag from this file (TOML/INI: port = 8080); --print-config prints one");
  cli.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt key is an error, not ignored
  bool print_config = false;
  cli.add_flag("--print-config", print_config, "print a config file with every flag, commented out, and exit")
      ->configurable(false);
  cli.set_version_flag("--version", PEERRTC_VERSION);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = cli.exit(e);  // prints help (rc 0) or the error and a hint (stderr)
    return rc == 0 ? 0 : 2;
  }
  if (print_config) {
    std::cout << peerrtc::apps::config_template(cli);
    return 0;
  }
  if (!turn_urls.empty() && turn_secret.empty() && turn_username.empty()) {
    std::cerr << "--turn-url needs credentials: --turn-secret S (the static-auth-secret of a coturn with "
                 "use-auth-secret) or --turn-username U --turn-password P; browsers refuse a TURN server "
                 "without them\nRun with --help for more information." << std::endl;
    return 2;
  }

  auto level = spdlog::level::from_str(log_level);
  if (debug && level > spdlog::level::debug) level = spdlog::level::debug;
  peerrtc::log().set_level(level);

  // (A supervisor without one makes one for its workers, below.)
  const bool supervisor_makes_secret = worker_index < 0 && workers > 0 && cluster_secret.empty();
  if (!redis_url.empty() && !supervisor_makes_secret && cluster_secret.size() < peerrtc::cluster::kMinClusterSecret) {
    std::cerr << "--redis needs --cluster-secret S (or PEERRTC_CLUSTER_SECRET) of at least "
              << peerrtc::cluster::kMinClusterSecret
              << " bytes, the same on every node: node-to-node requests are signed with it (docs/deploy.md)\n"
                 "Run with --help for more information."
              << std::endl;
    return 2;
  }
  // --workers N: this process only supervises (apps/workers.cpp). Each worker's own port number
  // comes from base + index: --udp-port if given, else --port + 1 (0: ephemeral ones).
  const int own_base = udp_port >= 0 ? udp_port : (port == 0 ? 0 : port + 1);
  if (worker_index < 0 && workers > 0) {
    if (redis_url.empty()) {
      std::cerr << "--workers needs --redis URL: the workers are cluster nodes, so that any of them can take a "
                   "request for a room another one holds\nRun with --help for more information." << std::endl;
      return 2;
    }
    if (own_base != 0 && own_base + static_cast<int>(workers) - 1 > 65535) {
      std::cerr << "--workers " << workers << ": the workers' own ports " << own_base << ".." << own_base + workers - 1
                << " go past 65535; pick a lower --udp-port\nRun with --help for more information." << std::endl;
      return 2;
    }
    if (own_base != 0 && port >= own_base && port < own_base + static_cast<int>(workers)) {
      std::cerr << "--workers " << workers << ": the shared HTTP port " << port << " is one of the workers' own ports "
                << own_base << ".." << own_base + workers - 1 << "; pick another --udp-port\nRun with --help for more "
                   "information." << std::endl;
      return 2;
    }
    // The workers' node-to-node requests are signed with the cluster secret; without one, they get a
    // random one of their own (through the environment, never the command line): they can reach
    // each other, and no node of another process can reach them.
    if (cluster_secret.empty()) {
      unsigned char raw[32];
      if (RAND_bytes(raw, sizeof raw) != 1) {
        std::cerr << "peerrtc-server: cannot make a cluster secret (RAND_bytes failed)\n";
        return 1;
      }
      std::string hexed;
      for (unsigned char c : raw) hexed += "0123456789abcdef"[c >> 4], hexed += "0123456789abcdef"[c & 15];
      ::setenv("PEERRTC_CLUSTER_SECRET", hexed.c_str(), 1);
    }
    // Worker i is node <base>-<i>: --node-id, else one random base for the set (kept across
    // restarts, so a restarted worker replaces its own record).
    if (node_id.size() > 61) {
      std::cerr << "--node-id " << node_id << ": at most 61 characters with --workers (worker i is <id>-<i>)\n"
                   "Run with --help for more information." << std::endl;
      return 2;
    }
    peerrtc::workers::SupervisorConfig sc;
    sc.workers = workers;
    sc.host = host;
    sc.public_port = static_cast<uint16_t>(port);
    sc.own_base = static_cast<uint16_t>(own_base);
    sc.argv.assign(argv, argv + argc);
    if (node_id.empty()) sc.argv.insert(sc.argv.end(), {"--node-id", peerrtc::cluster::random_node_id()});
    return peerrtc::workers::run_supervisor(sc, signals);
  }
  std::optional<uint16_t> shared_http_port;
  if (worker_index >= 0) {
    // A worker: HTTP on the shared public port too; its own port carries HTTP, UDP and ICE-TCP.
    shared_http_port = static_cast<uint16_t>(worker_public_port);
    port = worker_own_port > 0
               ? worker_own_port
               : peerrtc::workers::worker_port(static_cast<uint16_t>(own_base), static_cast<unsigned>(worker_index));
    udp_port = -1;
    peerrtc::log().set_pattern("[%Y-%m-%d %H:%M:%S.%e] [peerrtc w" + std::to_string(worker_index) + "] [%^%l%$] %v");
  }

  config.debug = debug;
  config.udp_bind = host;
  config.udp_port = static_cast<uint16_t>(udp_port >= 0 ? udp_port : port);
  config.public_ips = public_ips;
  config.ice_servers = ice_servers;
  config.turn_urls = turn_urls;
  config.turn_secret = turn_secret;
  config.turn_username = turn_username;
  config.turn_password = turn_password;
  config.turn_ttl = std::chrono::seconds(turn_ttl);
  config.resume_window = std::chrono::seconds(resume_window);
  if (auto ok = peerrtc::signaling::check_ice_config(config); !ok) {  // the flags above should have caught it
    std::cerr << "peerrtc-server: " << ok.error() << std::endl;
    return 2;
  }
  config.consent_timeout = std::chrono::milliseconds(consent_ms);
  config.connect_timeout = std::chrono::milliseconds(connect_ms);
  config.slow_receiver_grace = std::chrono::milliseconds(grace_ms);
  config.ice_tcp = !no_ice_tcp;
  config.ice_tcp_stun_timeout = std::chrono::milliseconds(tcp_stun_ms);
  config.bundle_wait = std::chrono::microseconds(bundle_wait_us);
  config.hook_overflow = hook_overflow == "backpressure" ? peerrtc::Config::HookOverflow::Backpressure
                                                         : peerrtc::Config::HookOverflow::DropOldest;
  // HTTP and UDP share a port number unless --udp-port says otherwise; then ICE-TCP shares the
  // HTTP port too (told apart by the first bytes), and one port is all a firewall must open.
  const bool shared_port = udp_port < 0 || (udp_port == port && port != 0);
  config.ice_tcp_handoff = config.ice_tcp && shared_port;

  // Cluster mode: Redis must answer before anything else starts.
  std::unique_ptr<peerrtc::cluster::Redis> redis;
  std::shared_ptr<peerrtc::cluster::DeferredRouter> router;
  if (!redis_url.empty()) {
    redis = std::make_unique<peerrtc::cluster::Redis>(*peerrtc::cluster::parse_redis_url(redis_url).url);
    if (auto err = redis->start(std::chrono::milliseconds(3000)); !err.empty()) {
      std::cerr << "peerrtc-server: cannot start the cluster node: " << err << std::endl;
      redis->stop();
      return 1;
    }
    router = std::make_shared<peerrtc::cluster::DeferredRouter>();
  }

  options.router = router;
  // A node's HTTP threads may wait for another node (forwarding): more of them, and at most half
  // of them forwarding at once (NodeOptions::max_forwards), so the other half always serves this
  // node's own requests, the ones other nodes forward here, and /health.
  if (router) options.http_threads = 16;
  options.block_words = block_words;
  options.mask_words = mask_words;
  options.host = host;
  options.http_port = static_cast<uint16_t>(port);
  options.static_root = static_root;
  options.examples = !no_examples;
  options.api_key = api_key;
  options.shared_http_port = shared_http_port;
  if (worker_index >= 0)
    options.health_extra = {{"worker", {{"index", worker_index}, {"pid", ::getpid()}, {"restarts", worker_restarts}}}};

  std::unique_ptr<peerrtc::SignalingManager> manager;
  std::unique_ptr<peerrtc::cluster::RedisStream> stream;  // --redis-stream; set before HTTP starts
  if (redis && redis_stream > 0)
    options.before_offer = [&stream](const std::string& room) {
      if (stream) stream->seed(room);
    };
  std::unique_ptr<peerrtc::server::App> app;
  // --port 0 with a shared port: the UDP port is picked first and HTTP (with ICE-TCP) takes the
  // same number on TCP. That TCP port can be busy (an outgoing connection's ephemeral port), so
  // a few fresh picks are tried before giving up.
  const int attempts = shared_port && port == 0 ? 20 : 1;
  for (int attempt = 1;; ++attempt) {
    try {
      manager = std::make_unique<peerrtc::SignalingManager>(config);
    } catch (const std::exception& e) {
      std::cerr << "peerrtc-server: cannot start WebRTC on UDP " << host << ":" << config.udp_port << ": " << e.what()
                << std::endl;
      return 1;
    }
    peerrtc::log().set_level(level);  // in case the manager applied its own debug setting
    if (shared_port) options.http_port = manager->udp_port();
    if (redis && redis_stream > 0) {
      peerrtc::cluster::StreamOptions so;
      so.prefix = redis_prefix;
      so.maxlen = redis_stream;
      so.history = config.history;
      so.ttl = std::chrono::seconds(redis_stream_ttl);
      // Cluster resume: the room's last epoch, as far as the resume buffer would have held it.
      if (config.resume_window.count() > 0) so.resume = std::min(config.resume_buffer, redis_stream);
      so.resume_window = config.resume_window;
      stream = std::make_unique<peerrtc::cluster::RedisStream>(*redis, *manager, so);
    }
    try {
      app = std::make_unique<peerrtc::server::App>(*manager, options);
      app->start();
      break;
    } catch (const std::exception& e) {
      app.reset();
      stream.reset();
      manager.reset();
      if (attempt < attempts) {
        peerrtc::log().debug("peerrtc-server: TCP {} is busy, picking another port", options.http_port);
        continue;
      }
      std::cerr << "peerrtc-server: cannot start HTTP on " << host << ":" << options.http_port << ": " << e.what()
                << std::endl;
      return 1;
    }
  }
  const uint16_t http_port = app->port();
  const uint16_t udp = manager->udp_port();
  // Chromium and libwebrtc ignore every remote ICE candidate on a port below 1024 (measured:
  // UDP 80, 443, 1023 never connect, 1024 does; docs/deploy.md "Ports below 1024"): native peers
  // still connect, browsers never would. HTTP may stay on 443; the media port must not.
  if (udp != 0 && udp < 1024)
    peerrtc::log().warn(
        "peerrtc-server: the WebRTC port (UDP and ICE-TCP) is {}, below 1024: browsers (Chromium, libwebrtc) ignore "
        "ICE candidates on such ports and will not connect; give --udp-port a port from 1024 up (HTTP can stay on {})",
        udp, http_port);
  std::unique_ptr<peerrtc::cluster::Node> node;
  if (redis) {
    peerrtc::cluster::NodeOptions no;
    no.prefix = redis_prefix;
    no.id = node_id;
    no.advertise_url = advertise_url.empty() ? peerrtc::cluster::default_advertise_url(host, http_port) : advertise_url;
    if (worker_index >= 0) {
      // A worker: node <base>-<i>, reached on its own port (--advertise-url gives the host).
      no.id = node_id + "-" + std::to_string(worker_index);
      if (!advertise_url.empty())
        no.advertise_url = peerrtc::cluster::default_advertise_url(peerrtc::cluster::parse_http_url(advertise_url)->host,
                                                                   http_port);
    }
    no.udp_port = udp;
    no.ttl = std::chrono::milliseconds(node_ttl_ms);
    no.secret = cluster_secret;
    no.max_forwards = options.http_threads / 2;
    try {
      node = std::make_unique<peerrtc::cluster::Node>(*redis, *manager, no);
      node->start();
    } catch (const std::exception& e) {
      std::cerr << "peerrtc-server: cannot join the cluster: " << e.what() << std::endl;
      node.reset();
      app->stop();
      manager->shutdown();
      app.reset();
      stream.reset();
      manager.reset();
      redis->stop();
      return 1;
    }
    router->set(node->router());
    node->add_counters("redis", [r = redis.get()] {
      return nlohmann::json{{"connected", r->connected()}, {"in_flight", r->in_flight()}, {"dropped", r->dropped()},
                            {"watchdog_trips", r->watchdog_trips()}};
    });
    if (stream) {
      // Appends carry the room's fencing token (docs/architecture.md, "Fenced leases").
      stream->set_fence([n = node.get()](const std::string& room) { return n->fence_token(room); });
      node->add_counters("stream", [s = stream.get()] {
        return nlohmann::json{{"appended", s->appended()}, {"failed", s->failed()}, {"refused_stale", s->refused_stale()}};
      });
    }
  }
  peerrtc::log().info("peerrtc-server: http://{}:{} (UDP {}), static root {}{}", host, http_port, udp,
                      options.static_root, options.examples ? "" : " (examples off)");
  if (!turn_urls.empty())
    peerrtc::log().info("peerrtc-server: GET /config lists {} TURN URL(s) with {}", turn_urls.size(),
                        turn_secret.empty() ? std::string("static credentials")
                                            : "credentials minted per request (ttl " + std::to_string(turn_ttl) + " s)");
  if (!api_key.empty()) peerrtc::log().info("peerrtc-server: server API on /api/");
  if (!config.join_secret.empty()) peerrtc::log().info("peerrtc-server: offers need a join token");
  peerrtc::apps::warn_if_open(host, options, config.join_secret);
  nlohmann::json ready{{"http", http_port}, {"udp", udp}, {"tcp", nullptr}};
  if (config.ice_tcp) ready["tcp"] = udp;  // ICE-TCP: the UDP port's number (shared with HTTP by default)
  if (node) ready["node"] = node->id();
  if (shared_http_port) {
    ready["shared_http"] = app->shared_port();
    peerrtc::log().info("peerrtc-server: worker {} (pid {}), HTTP also on the shared port {}", worker_index, ::getpid(),
                        app->shared_port());
  }
  std::cout << "READY " << ready.dump() << std::endl;

  const int sig = wait_for_signal(signals);
  peerrtc::log().info("peerrtc-server: {} received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");

  // A second signal or a stuck shutdown must not leave the process hanging.
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    const auto deadline = std::chrono::steady_clock::now() + kShutdownDeadline;
    timespec poll{0, 50 * 1000 * 1000};
    while (!done.load()) {
      siginfo_t info;
      if (sigtimedwait(&signals, &info, &poll) > 0) {
        std::cerr << "peerrtc-server: second signal, exiting now" << std::endl;
        _exit(1);
      }
      if (std::chrono::steady_clock::now() > deadline) {
        std::cerr << "peerrtc-server: shutdown took longer than " << kShutdownDeadline.count() << " s, exiting"
                  << std::endl;
        _exit(1);
      }
    }
  });

  if (stream) stream->set_fence([](const std::string&) { return std::optional<std::string>(); });  // no more appends
  if (node) {
    router->set(nullptr);
    node->stop();        // out of the cluster: record deleted, room leases released
  }
  app->stop();           // no new offers
  manager->shutdown();   // every peer is closed (SCTP ABORT + DTLS close_notify)
  app.reset();
  node.reset();
  stream.reset();        // after the manager's hook threads stopped, before Redis
  manager.reset();
  if (redis) redis->stop();
  done = true;
  watchdog.join();
  peerrtc::log().info("peerrtc-server: stopped");
  return 0;
}
