// peerrtc-probe: a native PeerRTC client (net::ClientPeer) speaking the product protocol
// (docs/protocol.md) against peerrtc-server, for fault and load tests (tests/fault).
//
//   --churn N          N sequential join/leave cycles (POST /offer, ICE/DTLS/SCTP, channel
//                      'peerrtc', welcome, POST /leave, close); --parallel P runs P such loops
//   --stuck            join, then stop reading forever (the SCTP receive window closes)
//   --flood N          POST /offer N times with offers that never do ICE; report statuses
//   --send N --size S  join, send N text messages as fast as allowed, count rate_limited events
//   --cut-after-join   join, then cut the network (nothing more leaves; no ABORT, no leave)
//   --exchange         two peers (<peer-id>-a, -b) join one room; presence (b in a's welcome
//                      or peer_joined), then text messages of --sizes both ways (and binary with
//                      --binary), each checked byte for byte, in order and with the sender's id;
//                      b closes, a must see peer_left. Works against peerrtc-server and against
//                      bench/'s aiortc and pion relays (they speak the text frames, no /leave).
//
// Every mode prints one `RESULT {json}` line on stdout when done (stuck and cut-after-join print
// `READY {json}` once joined, then stay until killed or --hold-ms passes). One process has
// exactly one net::Loop thread (usrsctp is process-global); HTTP calls block the main threads.
// Exit 0 when the mode did what it was asked, 1 otherwise, 2 on bad flags.
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unistd.h>

#include "common/log.hpp"
#include "dtls/dtls.hpp"
#include "http/http.hpp"
#include "net/client.hpp"
#include "net/net_thread.hpp"
#include "signaling/frames.hpp"

using json = nlohmann::json;
namespace asio = boost::asio;
using namespace peerrtc;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

double secs_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The loop thread: every ClientPeer lives and dies on it (net::NetThread; a tool waits as long
// as the loop needs, so the deadline is only a guard against a wedged loop).
class LoopThread {
 public:
  LoopThread() : loop_(net_.io()) { net_.start(); }
  template <typename F>
  auto run(F f) {
    return net_.invoke(std::move(f), std::chrono::minutes(10));
  }
  net::Loop& loop() { return loop_; }
  ~LoopThread() {
    net_.stop([this] { loop_.stop(); });
  }

 private:
  net::NetThread net_;
  net::Loop loop_;
};

// One peer of the PeerRTC protocol. Its state is shared between the loop thread (callbacks) and
// the thread driving it (waits).
class Peer {
 public:
  Peer(LoopThread& lt, std::shared_ptr<dtls::Certificate> cert, std::string host, uint16_t port,
       std::string room, std::string peer_id)
      : lt_(lt), cert_(std::move(cert)), host_(std::move(host)), port_(port), room_(std::move(room)),
        peer_id_(std::move(peer_id)) {}
  ~Peer() { destroy(); }

  // POST /offer ... welcome. Returns an empty string on success, else what failed.
  std::string join(std::chrono::milliseconds timeout) {
    std::string offer = lt_.run([this] {
      rtc::PeerConnection::Callbacks cb;
      cb.on_connected = [this] {
        rtc::ChannelInit init;
        init.label = "peerrtc";
        auto s = client_->pc().open_channel(init);
        notify([&] {
          if (s) stream_ = *s;
          else failure_ = "open_channel: " + s.error();
          connected_ = true;
        });
      };
      cb.on_message = [this](uint16_t, bool binary, ByteView m) { on_frame(binary, m); };
      cb.on_closed = [this](const std::string& r) {
        notify([&] { closed_ = true; closed_reason_ = r; });
      };
      client_ = std::make_unique<net::ClientPeer>(lt_.loop(), rtc::Config{}, std::move(cb), cert_);
      return client_->offer();
    });
    json body{{"room", room_}, {"peer_id", peer_id_}, {"offer", {{"sdp", offer}, {"type", "offer"}}}};
    http::ClientResponse res;
    try {
      res = http::request(host_, port_, "POST", "/offer", body.dump());
    } catch (const std::exception& e) {
      return std::string("POST /offer: ") + e.what();
    }
    if (res.status != 200) return "POST /offer: " + std::to_string(res.status) + " " + res.body;
    auto answer = json::parse(res.body, nullptr, false);
    if (!answer.is_object() || !answer.contains("sdp") || !answer.contains("token"))
      return "POST /offer: bad answer " + res.body;
    token_ = answer["token"].get<std::string>();
    std::string sdp = answer["sdp"];
    auto set = lt_.run([&] { return client_->set_answer(sdp); });
    if (!set) return "set_answer: " + set.error();
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return welcomed_ || closed_ || !failure_.empty(); }))
      return connected_ ? "no welcome in time" : "not connected in time";
    if (!failure_.empty()) return failure_;
    if (!welcomed_) return "closed before welcome: " + closed_reason_;
    return {};
  }

  // POST /leave, then wait for the close. Empty string on success.
  std::string leave(std::chrono::milliseconds timeout) {
    json body{{"room", room_}, {"peer_id", peer_id_}, {"token", token_}};
    http::ClientResponse res;
    try {
      res = http::request(host_, port_, "POST", "/leave", body.dump());
    } catch (const std::exception& e) {
      return std::string("POST /leave: ") + e.what();
    }
    if (res.status != 200) return "POST /leave: " + std::to_string(res.status) + " " + res.body;
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return closed_; })) return "not closed after leave";
    return {};
  }

  // Sends one message; waits while the SCTP send buffer is full. False if it cannot be sent.
  bool send_text(const std::string& payload) {
    std::string frame = signaling::client_text_frame(as_bytes(payload));
    auto deadline = Clock::now() + 10s;
    for (;;) {
      auto st = lt_.run([&] { return client_->pc().send(stream_, as_bytes(frame), false); });
      if (st == rtc::SendStatus::Ok) return true;
      if (st != rtc::SendStatus::BufferFull || Clock::now() > deadline) {
        std::cerr << "send: " << rtc::to_string(st) << std::endl;
        return false;
      }
      std::this_thread::sleep_for(1ms);
    }
  }

  void pause_receive() { lt_.run([this] { client_->pc().set_receive_paused(true); return 0; }); }
  void set_offline() { lt_.run([this] { client_->set_offline(true); return 0; }); }
  void destroy() {
    if (client_) lt_.run([this] { client_.reset(); return 0; });
  }

  std::map<std::string, int> error_codes() {
    std::lock_guard lock(mu_);
    return error_codes_;
  }
  bool closed() {
    std::lock_guard lock(mu_);
    return closed_;
  }
  std::string closed_reason() {
    std::lock_guard lock(mu_);
    return closed_reason_;
  }
  const json& welcome() const { return welcome_; }

  // Sends one frame as it is (text or binary); false if it cannot be queued within 10 s.
  bool send_frame(const std::string& frame, bool binary) {
    auto deadline = Clock::now() + 10s;
    for (;;) {
      auto st = lt_.run([&] { return client_->pc().send(stream_, as_bytes(frame), binary); });
      if (st == rtc::SendStatus::Ok) return true;
      if (st != rtc::SendStatus::BufferFull || Clock::now() > deadline) {
        std::cerr << "send: " << rtc::to_string(st) << std::endl;
        return false;
      }
      std::this_thread::sleep_for(1ms);
    }
  }
  // The next frame that is not a JSON event (a relayed message), in arrival order.
  std::optional<std::pair<bool, std::string>> next_frame(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !frames_.empty(); })) return std::nullopt;
    auto f = std::move(frames_.front());
    frames_.pop_front();
    return f;
  }
  // Waits for a presence event {"type": type, "peer_id": peer}.
  bool wait_presence(const std::string& type, const std::string& peer, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      for (auto& [t, p] : presence_)
        if (t == type && p == peer) return true;
      return false;
    });
  }
  uint16_t local_port() const { return client_ ? client_->local_port() : 0; }

 private:
  void on_frame(bool binary, ByteView m) {
    if (binary || m.empty() || m[0] != '{') {
      notify([&] { frames_.emplace_back(binary, std::string(m.begin(), m.end())); });
      return;
    }
    auto ev = json::parse(std::string(m.begin(), m.end()), nullptr, false);
    if (!ev.is_object()) return;
    std::string type = ev.value("type", "");
    notify([&] {
      if (type == "welcome") {
        welcomed_ = true;
        welcome_ = ev;
      } else if (type == "error") {
        ++error_codes_[ev.value("code", "?")];
      } else if (type == "peer_joined" || type == "peer_left") {
        presence_.emplace_back(type, ev.value("peer_id", ""));
      }
    });
  }
  template <typename F>
  void notify(F f) {
    {
      std::lock_guard lock(mu_);
      f();
    }
    cv_.notify_all();
  }

  LoopThread& lt_;
  std::shared_ptr<dtls::Certificate> cert_;
  std::string host_;
  uint16_t port_;
  std::string room_, peer_id_, token_;
  std::unique_ptr<net::ClientPeer> client_;  // loop thread only
  std::mutex mu_;
  std::condition_variable cv_;
  bool connected_ = false, welcomed_ = false, closed_ = false;
  std::string closed_reason_, failure_;
  uint16_t stream_ = 0;
  json welcome_;
  std::map<std::string, int> error_codes_;
  std::deque<std::pair<bool, std::string>> frames_;              // relayed messages
  std::vector<std::pair<std::string, std::string>> presence_;    // (type, peer_id)
};

// A deterministic payload: printable ASCII plus 2-, 3- and 4-byte UTF-8 characters (text), or
// every byte value (binary).
std::string payload_for(size_t size, uint32_t seed, bool binary) {
  std::string out;
  out.reserve(size);
  uint32_t x = seed * 2654435761u + static_cast<uint32_t>(size) + 1;
  auto next = [&] { x ^= x << 13; x ^= x >> 17; x ^= x << 5; return x; };
  static const char* const kWide[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
  while (out.size() < size) {
    uint32_t r = next();
    if (binary) {
      out.push_back(static_cast<char>(r & 0xff));
    } else if (r % 8 == 0 && size - out.size() >= 4) {
      out += kWide[(r >> 3) % 3];
    } else {
      out.push_back(static_cast<char>(' ' + (r >> 3) % 95));
    }
  }
  return out;
}

// --exchange: a and b in one room, messages both ways; returns the RESULT json.
json exchange(LoopThread& lt, std::shared_ptr<dtls::Certificate> cert, const std::string& host,
              uint16_t port, const std::string& room, const std::string& peer_id,
              const std::vector<size_t>& sizes, bool binary, std::chrono::milliseconds timeout) {
  std::vector<std::string> errors;
  auto fail = [&](const std::string& e) {
    if (errors.size() < 20) errors.push_back(e);
  };
  const std::string ida = peer_id + "-a", idb = peer_id + "-b";
  auto a = std::make_unique<Peer>(lt, cert, host, port, room, ida);
  auto b = std::make_unique<Peer>(lt, cert, host, port, room, idb);
  int delivered = 0, sent = 0;
  auto t0 = Clock::now();
  std::string e = a->join(timeout);
  if (!e.empty()) return {{"mode", "exchange"}, {"ok", false}, {"errors", {ida + " join: " + e}}};
  e = b->join(timeout);
  if (!e.empty()) return {{"mode", "exchange"}, {"ok", false}, {"errors", {idb + " join: " + e}}};
  double join_s = secs_since(t0);
  // Presence: b's welcome lists a; a hears b join.
  auto peers = b->welcome().value("peers", json::array());
  if (std::find(peers.begin(), peers.end(), ida) == peers.end())
    fail(idb + "'s welcome does not list " + ida + ": " + b->welcome().dump());
  if (!a->wait_presence("peer_joined", idb, timeout)) fail(ida + " saw no peer_joined for " + idb);

  struct Leg {
    Peer* from;
    Peer* to;
    std::string from_id, to_id;
  };
  for (const Leg& leg : {Leg{a.get(), b.get(), ida, idb}, Leg{b.get(), a.get(), idb, ida}}) {
    for (bool bin : binary ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
      // Send every size back to back, then expect them in order.
      std::vector<std::string> payloads;
      uint32_t seed = 1;
      for (size_t size : sizes) payloads.push_back(payload_for(size, seed++, bin));
      for (const auto& p : payloads) {
        std::string frame = bin ? signaling::client_binary_frame(as_bytes(p))
                                : signaling::client_text_frame(as_bytes(p));
        if (!leg.from->send_frame(frame, bin)) {
          fail(leg.from_id + " could not send a " + std::to_string(p.size()) + "-byte message");
          break;
        }
        ++sent;
      }
      for (const auto& p : payloads) {
        std::string what = std::to_string(p.size()) + "-byte " + (bin ? "binary" : "text") +
                           " message " + leg.from_id + " -> " + leg.to_id;
        auto f = leg.to->next_frame(timeout);
        if (!f) {
          fail(what + ": not received within " + std::to_string(timeout.count()) + " ms");
          break;
        }
        std::string want = bin ? signaling::server_binary_frame(leg.from_id, as_bytes(p), false)
                               : signaling::server_text_frame(leg.from_id, as_bytes(p), false);
        if (f->first != bin || f->second != want) {
          size_t d = 0;
          while (d < want.size() && d < f->second.size() && want[d] == f->second[d]) ++d;
          fail(what + ": received a " + (f->first ? "binary" : "text") + " frame of " +
               std::to_string(f->second.size()) + " bytes, expected " + std::to_string(want.size()) +
               ", first difference at byte " + std::to_string(d));
          continue;
        }
        ++delivered;
      }
    }
  }
  // b goes away without a word (SCTP ABORT, DTLS close_notify); a hears peer_left.
  b.reset();
  if (!a->wait_presence("peer_left", idb, timeout)) fail(ida + " saw no peer_left for " + idb);
  a.reset();
  return {{"mode", "exchange"}, {"ok", errors.empty() && sent > 0 && delivered == sent},
          {"sent", sent}, {"delivered", delivered}, {"join_s", join_s},
          {"seconds", secs_since(t0)}, {"errors", errors}};
}

void print(const char* tag, const json& j) { std::cout << tag << ' ' << j.dump() << std::endl; }

void hold(int hold_ms) {
  if (hold_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
  else for (;;) std::this_thread::sleep_for(1h);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"PeerRTC probe: a native protocol client for fault and load tests"};
  std::string host = "127.0.0.1", room = "probe", peer_id, log_level = "warn";
  uint16_t port = 0;
  int churn = 0, parallel = 1, flood = 0, send = 0, size = 16, hold_ms = 0, linger_ms = 1500,
      timeout_ms = 10000;
  bool stuck = false, cut = false, exchange_mode = false, binary = false;
  std::vector<size_t> sizes = {0, 1, 1024, 16384, 65000};
  app.add_option("--host", host, "server address");
  app.add_option("--port", port, "server HTTP port")->required();
  app.add_option("--room", room, "room (churn: prefix of one room per cycle)");
  app.add_option("--peer-id", peer_id, "peer id (default: probe-<pid>)");
  app.add_option("--log-level", log_level);
  app.add_option("--timeout-ms", timeout_ms, "join / leave timeout");
  auto* m_churn = app.add_option("--churn", churn, "join/leave cycles")->check(CLI::PositiveNumber);
  app.add_option("--parallel", parallel, "churn loops at once")->check(CLI::Range(1, 32));
  auto* m_stuck = app.add_flag("--stuck", stuck, "join, then stop reading");
  auto* m_flood = app.add_option("--flood", flood, "offers that never connect")->check(CLI::PositiveNumber);
  auto* m_send = app.add_option("--send", send, "messages to send")->check(CLI::PositiveNumber);
  app.add_option("--size", size, "bytes per message (--send)")->check(CLI::Range(0, 262078));
  app.add_option("--linger-ms", linger_ms, "--send: wait this long for error events after sending");
  auto* m_cut = app.add_flag("--cut-after-join", cut, "join, then cut the network");
  auto* m_exchange = app.add_flag("--exchange", exchange_mode, "two peers exchange messages both ways");
  app.add_option("--sizes", sizes, "--exchange: payload sizes")->delimiter(',')->check(CLI::Range(0, 262078));
  app.add_flag("--binary", binary, "--exchange: binary messages too (peerrtc-server; the relays speak text)");
  app.add_option("--hold-ms", hold_ms, "--stuck/--cut-after-join: exit after this long (0 = never)");
  m_churn->excludes(m_stuck, m_flood, m_send, m_cut, m_exchange);
  m_stuck->excludes(m_flood, m_send, m_cut, m_exchange);
  m_flood->excludes(m_send, m_cut, m_exchange);
  m_send->excludes(m_cut, m_exchange);
  m_cut->excludes(m_exchange);
  CLI11_PARSE(app, argc, argv);
  if (!churn && !stuck && !flood && !send && !cut && !exchange_mode) {
    std::cerr << "one mode is required: --churn, --stuck, --flood, --send, --cut-after-join or --exchange\n";
    return 2;
  }
  log().set_level(spdlog::level::from_str(log_level));
  std::signal(SIGPIPE, SIG_IGN);
  if (peer_id.empty()) peer_id = "probe-" + std::to_string(getpid());
  auto timeout = std::chrono::milliseconds(timeout_ms);

  try {
    LoopThread lt;
    auto cert = dtls::Certificate::generate("peerrtc-probe");

    if (churn) {
      std::atomic<int> next{0}, ok{0}, failed{0};
      std::mutex err_mu;
      std::vector<std::string> errors;
      auto t0 = Clock::now();
      auto worker = [&] {
        for (int i; (i = next++) < churn;) {
          std::string r = room + "-" + std::to_string(i);
          Peer p(lt, cert, host, port, r, peer_id + "-" + std::to_string(i));
          std::string e = p.join(timeout);
          if (e.empty()) e = p.leave(timeout);
          p.destroy();
          if (e.empty()) {
            ++ok;
          } else {
            ++failed;
            std::lock_guard lock(err_mu);
            if (errors.size() < 5) errors.push_back("cycle " + std::to_string(i) + ": " + e);
          }
        }
      };
      std::vector<std::thread> workers;
      for (int w = 0; w < parallel; ++w) workers.emplace_back(worker);
      for (auto& w : workers) w.join();
      double s = secs_since(t0);
      print("RESULT", {{"mode", "churn"}, {"cycles", churn}, {"ok", ok.load()}, {"failed", failed.load()},
                       {"parallel", parallel}, {"seconds", s}, {"cycles_per_s", churn / s},
                       {"errors", errors}});
      return failed == 0 ? 0 : 1;
    }

    if (flood) {
      // One real offer SDP, posted N times under different peer ids; nobody ever does ICE.
      std::string sdp = lt.run([&] {
        net::ClientPeer c(lt.loop(), rtc::Config{}, {}, cert);
        return c.offer();
      });
      std::map<std::string, int> statuses;
      json first_error;
      bool errors_json = true;
      auto t0 = Clock::now();
      for (int i = 0; i < flood; ++i) {
        json body{{"room", room}, {"peer_id", peer_id + "-" + std::to_string(i)},
                  {"offer", {{"sdp", sdp}, {"type", "offer"}}}};
        http::ClientResponse res;
        try {
          res = http::request(host, port, "POST", "/offer", body.dump());
        } catch (const std::exception& e) {
          ++statuses["exception"];
          continue;
        }
        ++statuses[std::to_string(res.status)];
        if (res.status != 200) {
          auto j = json::parse(res.body, nullptr, false);
          bool is_err = j.is_object() && j.contains("error") && j["error"].is_string();
          if (!is_err) errors_json = false;
          if (first_error.is_null()) first_error = {{"status", res.status}, {"body", res.body}};
        }
      }
      print("RESULT", {{"mode", "flood"}, {"offers", flood}, {"statuses", statuses},
                       {"errors_are_json", errors_json}, {"first_error", first_error},
                       {"seconds", secs_since(t0)}});
      return 0;
    }

    if (exchange_mode) {
      json r = exchange(lt, cert, host, port, room, peer_id, sizes, binary, timeout);
      print("RESULT", r);
      return r.value("ok", false) ? 0 : 1;
    }

    Peer p(lt, cert, host, port, room, peer_id);
    auto t0 = Clock::now();
    std::string e = p.join(timeout);
    if (!e.empty()) {
      print("RESULT", {{"mode", "join"}, {"ok", false}, {"error", e}});
      return 1;
    }
    double join_s = secs_since(t0);

    if (stuck || cut) {
      if (stuck) p.pause_receive();
      if (cut) p.set_offline();
      print("READY", {{"mode", stuck ? "stuck" : "cut"}, {"room", room}, {"peer_id", peer_id},
                      {"join_s", join_s}, {"local_port", p.local_port()}, {"welcome", p.welcome()}});
      hold(hold_ms);
      std::cout.flush();
      _exit(0);  // vanish: no leave, nothing torn down politely
    }

    // --send
    std::string payload(static_cast<size_t>(size), 'x');
    int sent = 0;
    auto ts = Clock::now();
    for (int i = 0; i < send; ++i) {
      std::string msg = std::to_string(i) + ":";
      msg += payload.substr(0, payload.size() > msg.size() ? payload.size() - msg.size() : 0);
      if (!p.send_text(msg)) break;
      ++sent;
    }
    double send_s = secs_since(ts);
    std::this_thread::sleep_for(std::chrono::milliseconds(linger_ms));
    auto codes = p.error_codes();
    json jc = json::object();
    for (auto& [k, v] : codes) jc[k] = v;
    bool closed = p.closed();
    std::string leave_err = closed ? "closed: " + p.closed_reason() : p.leave(timeout);
    print("RESULT", {{"mode", "send"}, {"sent", sent}, {"size", size}, {"send_s", send_s},
                     {"rate_limited", codes["rate_limited"]}, {"errors", jc},
                     {"leave", leave_err.empty() ? "ok" : leave_err}});
    return sent == send ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
}
