// peerrtc-testclient: the native client side of the stack running the interop matrix against
// peerrtc-testserver over HTTP: every channel type, opened by either side, sizes 0 B..256 KiB,
// text and binary, byte-exact echo, channel close both ways, then peer close.
// Exit 0 and "N passed, 0 failed" when everything matched.
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "common/log.hpp"
#include "http/http.hpp"
#include "net/client.hpp"
#include "net/net_thread.hpp"

using json = nlohmann::json;
namespace asio = boost::asio;
using namespace peerrtc;
using namespace std::chrono_literals;

namespace {

struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  bool connected = false;
  std::string closed_reason;
  bool closed = false;
  std::deque<std::tuple<uint16_t, bool, Bytes>> messages;
  std::deque<rtc::ChannelInfo> opened;
  std::deque<uint16_t> closed_channels;

  template <typename Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, pred);
  }
};

class Runner {
 public:
  Runner(std::string host, uint16_t port, std::string peer_id)
      : host_(std::move(host)), port_(port), peer_id_(std::move(peer_id)), loop_(net_.io()) {
    net_.start();
  }
  ~Runner() {
    net_.stop([this] {
      client_.reset();
      loop_.stop();
    });
  }

  // The deadline only guards against a wedged loop: the test's own timeouts are shorter.
  template <typename F>
  auto on_loop(F f) {
    return net_.invoke(std::move(f), std::chrono::minutes(10));
  }

  void check(bool ok, const std::string& what) {
    if (ok) {
      ++passed_;
    } else {
      ++failed_;
      std::cerr << "FAIL: " << what << std::endl;
    }
  }

  json events() {
    auto r = http::request(host_, port_, "GET", "/events");
    return json::parse(r.body)["events"];
  }

  bool wait_event(const json& match, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      for (auto& e : events()) {
        bool all = true;
        for (auto& [k, v] : match.items())
          if (!e.contains(k) || e[k] != v) all = false;
        if (all) return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  int run() {
    auto t0 = std::chrono::steady_clock::now();
    std::string offer = on_loop([this] {
      rtc::PeerConnection::Callbacks cb;
      cb.on_connected = [this] { notify([&] { inbox_.connected = true; }); };
      cb.on_message = [this](uint16_t s, bool bin, ByteView m) {
        notify([&] { inbox_.messages.emplace_back(s, bin, Bytes(m.begin(), m.end())); });
      };
      cb.on_channel_open = [this](const rtc::ChannelInfo& ch) {
        notify([&] { inbox_.opened.push_back(ch); });
      };
      cb.on_channel_closed = [this](uint16_t s) { notify([&] { inbox_.closed_channels.push_back(s); }); };
      cb.on_closed = [this](const std::string& r) {
        notify([&] { inbox_.closed = true; inbox_.closed_reason = r; });
      };
      client_ = std::make_unique<net::ClientPeer>(loop_, rtc::Config{}, std::move(cb));
      return client_->offer();
    });
    json body{{"room", "interop"}, {"peer_id", peer_id_}, {"offer", {{"sdp", offer}, {"type", "offer"}}}};
    auto res = http::request(host_, port_, "POST", "/offer", body.dump());
    if (res.status != 200) {
      std::cerr << "offer rejected: " << res.status << " " << res.body << std::endl;
      return 1;
    }
    std::string answer = json::parse(res.body)["sdp"];
    auto set = on_loop([&] { return client_->set_answer(answer); });
    if (!set) {
      std::cerr << "bad answer: " << set.error() << std::endl;
      return 1;
    }
    check(inbox_.wait([&] { return inbox_.connected; }, 10s), "connected within 10 s");
    if (!inbox_.connected) return finish();
    auto control = on_loop([this] {
      rtc::ChannelInit init;
      init.label = "control";
      return client_->pc().open_channel(init);
    });
    auto t1 = std::chrono::steady_clock::now();
    std::cout << "offer->connected+control open: "
              << std::chrono::duration<double, std::milli>(t1 - t0).count() << " ms" << std::endl;
    if (!control) return finish();
    control_ = *control;

    struct Type {
      std::string name;
      bool ordered;
      std::optional<uint16_t> rtx;
      std::optional<uint32_t> life;
    };
    std::vector<Type> types = {{"reliable", true, {}, {}},
                               {"unordered", false, {}, {}},
                               {"rexmit", false, uint16_t{5}, {}},
                               {"lifetime", true, {}, uint32_t{2000}}};
    for (const auto& t : types) {
      rtc::ChannelInit init;
      init.ordered = t.ordered;
      init.max_retransmits = t.rtx;
      init.max_packet_lifetime_ms = t.life;
      // Opened by us.
      init.label = "c-" + t.name;
      auto s = on_loop([&] { return client_->pc().open_channel(init); });
      check(bool(s), "open " + init.label);
      if (s) {
        exercise(*s, init.label);
        check(wait_event({{"type", "channel_open"}, {"label", init.label}, {"ordered", t.ordered},
                          {"opened_by", "client"}},
                         3s),
              "server saw " + init.label + " open");
        on_loop([&] { client_->pc().close_channel(*s); return 0; });
        check(wait_event({{"type", "channel_closed"}, {"label", init.label}}, 3s),
              "server saw " + init.label + " close");
      }
      // Opened by the server.
      std::string label = "s-" + t.name;
      json cmd{{"cmd", "open"}, {"label", label}, {"protocol", "p"}, {"ordered", t.ordered},
               {"maxRetransmits", t.rtx ? json(*t.rtx) : json()},
               {"maxPacketLifeTime", t.life ? json(*t.life) : json()}};
      command(cmd);
      bool got = inbox_.wait([&] { return !inbox_.opened.empty(); }, 3s);
      check(got, "server-opened " + label + " arrived");
      if (!got) continue;
      rtc::ChannelInfo ch;
      {
        std::lock_guard lock(inbox_.mu);
        ch = inbox_.opened.front();
        inbox_.opened.pop_front();
      }
      check(ch.init.label == label && ch.init.protocol == "p" && ch.init.ordered == t.ordered &&
                ch.init.max_retransmits == t.rtx && ch.init.max_packet_lifetime_ms == t.life,
            "server-opened " + label + " parameters");
      exercise(ch.stream, label);
      command({{"cmd", "close"}, {"label", label}});
      check(inbox_.wait([&] {
              return std::find(inbox_.closed_channels.begin(), inbox_.closed_channels.end(),
                               ch.stream) != inbox_.closed_channels.end();
            }, 3s),
            "client saw " + label + " closed by the server");
    }
    // Over the limit: refused locally, never truncated.
    auto too_big = on_loop([&] {
      Bytes b(262145, 'x');
      return client_->pc().send(control_, b, true);
    });
    check(too_big == rtc::SendStatus::TooLarge, "262145-byte message refused as too large");
    on_loop([this] { client_->pc().close("test done"); return 0; });
    check(wait_event({{"type", "peer_closed"}, {"peer_id", peer_id_}}, 10s), "server saw the peer leave");
    return finish();
  }

 private:
  template <typename F>
  void notify(F f) {
    {
      std::lock_guard lock(inbox_.mu);
      f();
    }
    inbox_.cv.notify_all();
  }

  json command(const json& cmd) {
    on_loop([&] { return client_->pc().send_text(control_, cmd.dump()); });
    json reply;
    inbox_.wait([&] {
      for (auto it = inbox_.messages.begin(); it != inbox_.messages.end(); ++it)
        if (std::get<0>(*it) == control_) {
          auto& b = std::get<2>(*it);
          reply = json::parse(std::string(b.begin(), b.end()), nullptr, false);
          inbox_.messages.erase(it);
          return true;
        }
      return false;
    }, 3s);
    check(reply.is_object() && reply.value("ok", false), "command " + cmd.dump() + " -> " + reply.dump());
    return reply;
  }

  void exercise(uint16_t stream, const std::string& label) {
    std::mt19937 rng(stream);
    for (size_t size : {0u, 1u, 1024u, 16384u, 65536u, 262144u}) {
      for (bool binary : {false, true}) {
        Bytes msg(size);
        for (auto& b : msg) b = binary ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>('a' + rng() % 26);
        // Wait for room before big sends.
        auto st = on_loop([&] { return client_->pc().send(stream, msg, binary); });
        std::string what = label + " " + std::to_string(size) + (binary ? " binary" : " text");
        check(st == rtc::SendStatus::Ok, "send " + what + ": " + rtc::to_string(st));
        std::tuple<uint16_t, bool, Bytes> echo;
        bool got = inbox_.wait([&] {
          for (auto it = inbox_.messages.begin(); it != inbox_.messages.end(); ++it)
            if (std::get<0>(*it) == stream) {
              echo = std::move(*it);
              inbox_.messages.erase(it);
              return true;
            }
          return false;
        }, 5s);
        check(got, "echo of " + what);
        if (got) check(std::get<1>(echo) == binary && std::get<2>(echo) == msg, "echo matches " + what);
      }
    }
  }

  int finish() {
    std::cout << passed_ << " passed, " << failed_ << " failed" << std::endl;
    return failed_ == 0 && passed_ > 0 ? 0 : 1;
  }

  std::string host_;
  uint16_t port_;
  std::string peer_id_;
  net::NetThread net_;
  net::Loop loop_;
  std::unique_ptr<net::ClientPeer> client_;
  Inbox inbox_;
  uint16_t control_ = 0;
  int passed_ = 0, failed_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"PeerRTC native client: interop matrix against peerrtc-testserver"};
  std::string host = "127.0.0.1", peer_id = "cpp-client", log_level = "warn";
  uint16_t port = 0;
  app.add_option("--host", host);
  app.add_option("--http-port", port)->required();
  app.add_option("--peer-id", peer_id);
  app.add_option("--log-level", log_level);
  CLI11_PARSE(app, argc, argv);
  log().set_level(spdlog::level::from_str(log_level));
  try {
    Runner r(host, port, peer_id);
    return r.run();
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
}
