// peerrtc-testserver: the engine behind a tiny HTTP API, for the interop suite
// (tests/interop/README.md describes the protocol). It answers offers, echoes every message on
// every channel, opens/closes channels on command, and records events.
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/log.hpp"
#include "http/http.hpp"
#include "net/engine.hpp"
#include "net/net_thread.hpp"
#include "sctp/sctp.hpp"

using json = nlohmann::json;
namespace asio = boost::asio;
using namespace peerrtc;

namespace {

struct PeerState {
  std::string peer_id;
  std::map<uint16_t, std::string> labels;  // stream -> label
};

class TestServer {
 public:
  TestServer(net::NetThread& net, net::Loop& loop, net::EngineConfig cfg)
      : net_(net), engine_(loop, std::move(cfg)) {}

  http::Response offer(const http::Request& req) {
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return http::Response::error(400, "body is not a JSON object");
    for (const char* field : {"room", "peer_id"})
      if (!body.contains(field) || !body[field].is_string() || body[field].get<std::string>().empty())
        return http::Response::error(400, std::string("missing or empty string field '") + field + "'");
    if (!body.contains("offer") || !body["offer"].is_object())
      return http::Response::error(400, "missing object field 'offer'");
    const json& o = body["offer"];
    if (!o.contains("sdp") || !o["sdp"].is_string())
      return http::Response::error(400, "missing string field 'offer.sdp'");
    if (!o.contains("type") || o["type"] != "offer")
      return http::Response::error(400, "field 'offer.type' must be \"offer\"");
    std::string peer_id = body["peer_id"];
    std::string sdp = body["offer"]["sdp"];
    Result<std::string> answer = Error{""};
    try {  // the task owns its inputs: it may run after a timed-out request has returned
      answer = net_.invoke([this, peer_id, sdp] { return accept(peer_id, sdp); }, kApiTimeout);
    } catch (const net::NetThread::Unavailable& e) {
      return http::Response::error(503, e.what());
    }
    if (!answer) return http::Response::error(400, answer.error());
    return http::Response::json(200, json{{"sdp", *answer}, {"type", "answer"}}.dump());
  }

  http::Response events() {
    std::lock_guard lock(mu_);
    return http::Response::json(200, json{{"events", events_}}.dump());
  }

  // Wire counters, read on the network thread.
  http::Response stats() {
    json j;
    try {
      j = net_.invoke([this] {
        auto s = engine_.stats();
        return json{{"datagrams_in", s.datagrams_in},
                    {"datagrams_out", s.datagrams_out},
                    {"gso_runs", s.gso_runs},
                    {"dcep_bad", s.dcep_bad},
                    {"messages_dropped", s.messages_dropped},
                    {"ice_tcp", json{{"accepted", s.tcp.accepted},
                                     {"open", s.tcp.open},
                                     {"refused", s.tcp.refused},
                                     {"closed_no_stun", s.tcp.closed_no_stun},
                                     {"closed_bad_frame", s.tcp.closed_bad_frame},
                                     {"frames_in", s.tcp.frames_in},
                                     {"frames_out", s.tcp.frames_out},
                                     {"dropped_send", s.tcp.dropped_send},
                                     {"path_fallbacks", s.tcp.path_fallbacks}}},
                    {"sctp_retransmitted_chunks", sctp::Stack::retransmitted_chunks()}};
      }, kApiTimeout);
    } catch (const net::NetThread::Unavailable& e) {
      return http::Response::error(503, e.what());
    }
    return http::Response::json(200, j.dump());
  }

  void shutdown() { engine_.close_all("server shutting down"); }
  uint16_t udp_port() const { return engine_.udp_port(); }

 private:
  void event(json e) {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(e));
  }

  static json channel_event(const std::string& peer_id, const rtc::ChannelInfo& ch, bool by_server) {
    return json{{"type", "channel_open"},
                {"peer_id", peer_id},
                {"label", ch.init.label},
                {"protocol", ch.init.protocol},
                {"ordered", ch.init.ordered},
                {"maxRetransmits", ch.init.max_retransmits ? json(*ch.init.max_retransmits) : json()},
                {"maxPacketLifeTime",
                 ch.init.max_packet_lifetime_ms ? json(*ch.init.max_packet_lifetime_ms) : json()},
                {"opened_by", by_server ? "server" : "client"}};
  }

  Result<std::string> accept(const std::string& peer_id, const std::string& sdp) {
    auto r = engine_.accept_offer(sdp, [this, peer_id](net::PeerId id) {
      peers_[id].peer_id = peer_id;
      rtc::PeerConnection::Callbacks cb;
      cb.on_connected = [this, peer_id] { event({{"type", "peer_connected"}, {"peer_id", peer_id}}); };
      cb.on_channel_open = [this, id, peer_id](const rtc::ChannelInfo& ch) {
        peers_[id].labels[ch.stream] = ch.init.label;
        event(channel_event(peer_id, ch, false));
      };
      cb.on_message = [this, id](uint16_t stream, bool binary, ByteView msg) {
        on_message(id, stream, binary, msg);
      };
      cb.on_channel_closed = [this, id, peer_id](uint16_t stream) {
        auto& labels = peers_[id].labels;
        event({{"type", "channel_closed"}, {"peer_id", peer_id}, {"label", labels[stream]}});
        labels.erase(stream);
      };
      cb.on_closed = [this, id, peer_id](const std::string& reason) {
        event({{"type", "peer_closed"}, {"peer_id", peer_id}, {"reason", reason}});
        peers_.erase(id);
      };
      return cb;
    });
    if (!r) return Error{r.error()};
    return r->answer;
  }

  void on_message(net::PeerId id, uint16_t stream, bool binary, ByteView msg) {
    auto* pc = engine_.peer(id);
    if (!pc) return;
    auto& st = peers_[id];
    if (st.labels[stream] != "control") {
      auto s = pc->send(stream, msg, binary);
      if (s != rtc::SendStatus::Ok) {
        // An event too, so a client can tell "received, echo refused" (e.g. larger than the
        // max-message-size its offer advertised) from "never arrived".
        log().warn("echo failed: {}", rtc::to_string(s));
        event({{"type", "echo_failed"}, {"peer_id", st.peer_id}, {"label", st.labels[stream]},
               {"size", msg.size()}, {"binary", binary}, {"error", rtc::to_string(s)}});
      }
      return;
    }
    json reply;
    json cmd = json::parse(as_chars(msg), nullptr, false);
    if (cmd.is_discarded() || !cmd.is_object() || !cmd.contains("cmd")) {
      reply = {{"ok", false}, {"error", "control message is not a JSON command"}};
    } else if (cmd["cmd"] == "open") {
      rtc::ChannelInit init;
      init.label = cmd.value("label", "");
      init.protocol = cmd.value("protocol", "");
      init.ordered = cmd.value("ordered", true);
      if (cmd.contains("maxRetransmits") && cmd["maxRetransmits"].is_number())
        init.max_retransmits = cmd["maxRetransmits"].get<uint16_t>();
      if (cmd.contains("maxPacketLifeTime") && cmd["maxPacketLifeTime"].is_number())
        init.max_packet_lifetime_ms = cmd["maxPacketLifeTime"].get<uint32_t>();
      auto r = pc->open_channel(init);
      if (r) {
        st.labels[*r] = init.label;
        event(channel_event(st.peer_id, *pc->channel(*r), true));
        reply = {{"ok", true}, {"cmd", "open"}, {"label", init.label}};
      } else {
        reply = {{"ok", false}, {"error", r.error()}};
      }
    } else if (cmd["cmd"] == "close") {
      std::string label = cmd.value("label", "");
      bool found = false;
      for (auto& [s, l] : st.labels)
        if (l == label && s != stream) {
          found = true;
          pc->close_channel(s);  // on_channel_closed erases the label
          break;
        }
      reply = found ? json{{"ok", true}, {"cmd", "close"}, {"label", label}}
                    : json{{"ok", false}, {"error", "no channel labelled " + label}};
    } else {
      reply = {{"ok", false}, {"error", "unknown command"}};
    }
    pc->send_text(stream, reply.dump());
  }

  static constexpr std::chrono::seconds kApiTimeout{5};
  net::NetThread& net_;
  net::Engine engine_;
  std::map<net::PeerId, PeerState> peers_;  // loop thread only
  std::mutex mu_;
  json events_ = json::array();
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"PeerRTC engine test server (echo + control channel)"};
  std::string host = "127.0.0.1";
  uint16_t http_port = 0, udp_port = 0;
  std::string log_level = "info";
  app.add_option("--host", host, "address for HTTP and UDP");
  app.add_option("--http-port", http_port, "HTTP port (0 = ephemeral)");
  app.add_option("--udp-port", udp_port, "UDP port (0 = ephemeral)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error");
  net::EngineConfig cfg;
  bool no_ice_tcp = false;
  long long tcp_stun_ms = cfg.tcp.stun_timeout.count();
  app.add_flag("--no-ice-tcp", no_ice_tcp, "no ICE-TCP (by default it listens on TCP at the UDP port's number)");
  app.add_option("--tcp-max-connections", cfg.tcp.max_connections, "most ICE-TCP connections at once");
  app.add_option("--tcp-max-per-ip", cfg.tcp.max_per_ip, "most ICE-TCP connections from one address");
  app.add_option("--tcp-stun-timeout-ms", tcp_stun_ms, "an ICE-TCP connection without a valid STUN request this long is closed");
  CLI11_PARSE(app, argc, argv);
  cfg.tcp.enabled = !no_ice_tcp;
  cfg.tcp.stun_timeout = std::chrono::milliseconds(tcp_stun_ms);
  log().set_level(spdlog::level::from_str(log_level));

  // The network thread runs the loop; the main thread waits for a signal.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts: all inherit it

  net::NetThread net;
  net::Loop loop(net.io());
  cfg.bind_address = host;
  cfg.udp_port = udp_port;
  std::unique_ptr<TestServer> server;
  std::unique_ptr<http::Server> web;
  try {
    server = std::make_unique<TestServer>(net, loop, cfg);
    http::ServerConfig hc;
    hc.host = host;
    hc.port = http_port;
    web = std::make_unique<http::Server>(hc);
    web->route("POST", "/offer", [&](const http::Request& r) { return server->offer(r); });
    web->route("GET", "/events", [&](const http::Request&) { return server->events(); });
    web->route("GET", "/stats", [&](const http::Request&) { return server->stats(); });
    net.start();
    web->start();
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
  std::cout << "READY "
            << json{{"http", web->port()},
                    {"udp", server->udp_port()},
                    {"tcp", cfg.tcp.enabled ? json(server->udp_port()) : json(nullptr)}}
                   .dump()
            << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  web->stop();  // no new requests
  net.stop([&] {
    server->shutdown();  // ABORTs go out; NetThread::stop lets them leave before it ends
    loop.stop();
  });
  server.reset();
  return 0;
}
