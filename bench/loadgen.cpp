// peerrtc-loadgen: the benchmark's load generator, on PeerRTC's own native client side.
//
// N peers in M rooms join a server through its HTTP API (POST /offer), each opens the one
// `peerrtc` channel and waits for the server's welcome; then the senders of every room send
// `m<text>` frames at an offered rate for a duration, every receiver timestamps each delivery.
// Works against any server that speaks docs/protocol.md (peerrtc-server and the reference relays
// in bench/).
//
// Reports deliveries/s, delivered fraction, latency p50/p99 (send -> every receive), offer ->
// channel-open p50/p99, join time, and, from /proc/<server-pid>, the server's CPU-seconds per
// delivery, its idle CPU and its RSS per connected peer. One JSON line on stdout (--json) and a
// readable table on stderr.
//
// usrsctp is process-global, so every client peer of this process runs on the one Loop thread
// (each on its own UDP socket); HTTP requests run on a few worker threads and post into it.
#include <CLI/CLI.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/log.hpp"
#include "dtls/dtls.hpp"
#include "http/http.hpp"
#include "net/client.hpp"
#include "net/loop.hpp"
#include "net/net_thread.hpp"

using json = nlohmann::json;
namespace asio = boost::asio;
using namespace peerrtc;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  uint16_t http_port = 8080;
  int peers = 8;
  int rooms = 1;
  double rate = 200;       // messages/s per sender
  size_t size = 100;       // text bytes per message (after the 'm' tag)
  double duration = 5;     // seconds of load
  int senders = 0;         // senders per room; 0 = every peer
  bool bulk = false;       // senders send as fast as flow control allows
  bool json_only = false;  // stdout: only the JSON line (table on stderr)
  int server_pid = 0;      // for /proc; 0 = not measured
  double idle = 0;         // seconds of idle measurement after the join
  int http_workers = 8;
  double join_timeout = 120;
  std::string label;       // name of the server under test, echoed in the JSON
  std::string scenario;    // echoed in the JSON
  std::string bind = "127.0.0.1";
  std::string log_level = "warn";
  std::string room_prefix;  // rooms are <prefix>-r<i>; empty = "lg<pid>" (a fresh set per run)
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Latency histogram: 10 us buckets to 100 ms, then 1 ms buckets to 60 s.
class Histogram {
 public:
  Histogram() : b_(10000 + 60000, 0) {}
  void add(int64_t ns) {
    int64_t us = std::max<int64_t>(ns / 1000, 0);
    size_t i = us < 100000 ? static_cast<size_t>(us / 10) : std::min<size_t>(10000 + (us - 100000) / 1000, b_.size() - 1);
    ++b_[i];
    ++n_;
  }
  uint64_t count() const { return n_; }
  double quantile_ms(double q) const {
    if (n_ == 0) return -1;
    uint64_t target = static_cast<uint64_t>(q * static_cast<double>(n_ - 1)) + 1, acc = 0;
    for (size_t i = 0; i < b_.size(); ++i) {
      acc += b_[i];
      if (acc >= target) return i < 10000 ? (static_cast<double>(i) * 10 + 5) / 1000.0 : 100.0 + static_cast<double>(i - 10000) + 0.5;
    }
    return -1;
  }

 private:
  std::vector<uint64_t> b_;
  uint64_t n_ = 0;
};

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

struct ProcSample {
  bool ok = false;
  double cpu_s = 0;  // utime + stime of every thread
  double rss_kib = 0;
};

ProcSample read_proc(int pid) {
  ProcSample s;
  if (pid <= 0) return s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return s;
  auto rp = line.rfind(')');
  if (rp == std::string::npos) return s;
  std::istringstream in(line.substr(rp + 2));
  std::string f;
  std::vector<std::string> fields;
  while (in >> f) fields.push_back(f);
  // fields[0] is field 3 (state); utime is field 14, stime 15.
  if (fields.size() < 13) return s;
  double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  s.cpu_s = (std::stod(fields[11]) + std::stod(fields[12])) / tck;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stod(line.substr(6));
  s.ok = true;
  return s;
}

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Peer {
  int index = 0;
  int room = 0;
  std::string id;
  std::unique_ptr<net::ClientPeer> client;
  uint16_t stream = 0;
  bool connected = false, welcomed = false, failed = false, closed = false;
  bool sender = false;
  Clock::time_point t_post, t_connected, t_welcome;
  double credit = 0;
  uint64_t sent = 0, send_fail = 0;
  uint64_t expected_each = 0;  // receivers of each of this peer's messages
};

class LoadGen {
 public:
  explicit LoadGen(Options o) : o_(std::move(o)), loop_(net_.io(), 10ms), tick_(net_.io()) {
    prefix_ = o_.room_prefix.empty() ? "lg" + std::to_string(getpid() % 100000) : o_.room_prefix;
    cert_ = dtls::Certificate::generate();
    net_.start();
  }
  // The deadline only guards against a wedged loop (a 1,000-peer join takes seconds).
  template <typename F>
  auto on_loop(F f) {
    return net_.invoke(std::move(f), std::chrono::minutes(10));
  }

  ~LoadGen() {
    on_loop([this] {
      tick_.cancel();
      for (auto& p : peers_)
        if (p->client && !p->closed) p->client->pc().close("loadgen done");
      return 0;
    });
    std::this_thread::sleep_for(200ms);  // let ABORTs leave
    net_.stop([this] {
      for (auto& p : peers_) p->client.reset();
      loop_.stop();
    });
  }

  int run() {
    if (o_.size < 17) o_.size = 17;  // 16 hex digits of timestamp + 1
    json out;
    ProcSample base = read_proc(o_.server_pid);
    const double lg_cpu0 = self_cpu_s();

    // ---- join ----
    for (int i = 0; i < o_.peers; ++i) {
      auto p = std::make_unique<Peer>();
      p->index = i;
      p->room = i % o_.rooms;
      // With a shared --room-prefix, ids carry the pid: two generators in one room never clash.
      p->id = o_.room_prefix.empty() ? "p" + std::to_string(i) : "p" + std::to_string(getpid() % 100000) + "-" + std::to_string(i);
      peers_.push_back(std::move(p));
    }
    std::vector<int> room_size(o_.rooms, 0), room_senders(o_.rooms, 0);
    for (auto& p : peers_) {
      int pos = room_size[p->room]++;
      p->sender = o_.senders <= 0 || pos < o_.senders;
      if (p->sender) ++room_senders[p->room];
    }
    const auto t_join0 = Clock::now();
    std::atomic<int> next{0};
    std::vector<std::thread> workers;
    std::atomic<int> http_errors{0};
    std::mutex err_mu;
    std::string first_error;
    for (int w = 0; w < std::min(o_.http_workers, o_.peers); ++w) {
      workers.emplace_back([&] {
        for (int i = next++; i < o_.peers; i = next++) {
          Peer* p = peers_[static_cast<size_t>(i)].get();
          std::string offer = on_loop([this, p] { return create_client(p); });
          json body{{"room", prefix_ + "-r" + std::to_string(p->room)},
                    {"peer_id", p->id},
                    {"offer", {{"sdp", offer}, {"type", "offer"}}}};
          p->t_post = Clock::now();
          http::ClientResponse res;
          try {
            res = http::request(o_.host, o_.http_port, "POST", "/offer", body.dump(), 30s);
          } catch (const std::exception& e) {
            res.status = 0;
            res.body = e.what();
          }
          std::string answer;
          if (res.status == 200) {
            auto j = json::parse(res.body, nullptr, false);
            if (j.is_object() && j.contains("sdp") && j["sdp"].is_string()) answer = j["sdp"];
          }
          if (answer.empty()) {
            ++http_errors;
            std::lock_guard lock(err_mu);
            if (first_error.empty()) first_error = std::to_string(res.status) + " " + res.body.substr(0, 200);
            on_loop([p] { p->failed = true; return 0; });
            continue;
          }
          auto ok = on_loop([p, &answer] { return p->client->set_answer(answer); });
          if (!ok) {
            ++http_errors;
            std::lock_guard lock(err_mu);
            if (first_error.empty()) first_error = "bad answer: " + ok.error();
            on_loop([p] { p->failed = true; return 0; });
          }
        }
      });
    }
    for (auto& w : workers) w.join();
    // Wait for every welcome.
    const auto join_deadline = Clock::now() + std::chrono::duration<double>(o_.join_timeout);
    int welcomed = 0;
    while (Clock::now() < join_deadline) {
      auto [w, f] = on_loop([this] {
        int ww = 0, ff = 0;
        for (auto& p : peers_) {
          ww += p->welcomed;
          ff += p->failed || (p->closed && !p->welcomed);
        }
        return std::pair{ww, ff};
      });
      welcomed = w;
      if (w + f >= o_.peers) break;
      std::this_thread::sleep_for(5ms);
    }
    const auto t_join1 = on_loop([this, t_join0] {
      Clock::time_point last = t_join0;
      for (auto& p : peers_)
        if (p->welcomed) last = std::max(last, p->t_welcome);
      return last;
    });
    const double join_s = std::chrono::duration<double>(t_join1 - t_join0).count();
    std::vector<double> open_ms, conn_ms;
    on_loop([&] {
      for (auto& p : peers_) {
        if (p->welcomed) open_ms.push_back(std::chrono::duration<double, std::milli>(p->t_welcome - p->t_post).count());
        if (p->connected) conn_ms.push_back(std::chrono::duration<double, std::milli>(p->t_connected - p->t_post).count());
      }
      return 0;
    });
    std::this_thread::sleep_for(300ms);  // let peer_joined events settle
    ProcSample joined = read_proc(o_.server_pid);

    // ---- idle ----
    double idle_cpu_pct = -1;
    if (o_.idle > 0) {
      ProcSample a = read_proc(o_.server_pid);
      auto t0 = Clock::now();
      std::this_thread::sleep_for(std::chrono::duration<double>(o_.idle));
      ProcSample b = read_proc(o_.server_pid);
      double wall = std::chrono::duration<double>(Clock::now() - t0).count();
      if (a.ok && b.ok) idle_cpu_pct = 100.0 * (b.cpu_s - a.cpu_s) / wall;
      joined = b.ok ? b : joined;
    }

    // ---- load ----
    uint64_t sent = 0, send_fail = 0, expected = 0;
    double load_wall = 0, srv_cpu = -1, lg_cpu_load = 0;
    if (o_.duration > 0 && welcomed > 0) {
      on_loop([&] {
        // Receivers of each message: the welcomed peers of the room, minus the sender.
        std::vector<int> live(o_.rooms, 0);
        for (auto& p : peers_) live[p->room] += p->welcomed;
        for (auto& p : peers_) p->expected_each = p->welcomed ? static_cast<uint64_t>(live[p->room] - 1) : 0;
        payload_.assign(o_.size + 1, 'x');
        payload_[0] = 'm';
        return 0;
      });
      ProcSample a = read_proc(o_.server_pid);
      const double lg0 = self_cpu_s();
      const auto t0 = Clock::now();
      on_loop([this, t0] {
        load_start_ = t0;
        load_end_ = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.duration));
        sending_ = true;
        last_tick_ = t0;
        arm_tick();
        if (o_.bulk)
          for (auto& p : peers_)
            if (p->sender && p->welcomed) pump_bulk(*p);
        return 0;
      });
      std::this_thread::sleep_for(std::chrono::duration<double>(o_.duration));
      on_loop([this] { sending_ = false; return 0; });
      const auto t_stop = Clock::now();
      std::tie(sent, send_fail, expected) = on_loop([this] {
        uint64_t s = 0, f = 0, e = 0;
        for (auto& p : peers_) {
          s += p->sent;
          f += p->send_fail;
          e += (p->sent + p->send_fail) * p->expected_each;
        }
        return std::tuple{s, f, e};
      });
      // Drain: until everything arrived, or nothing new for 3 s (an SCTP retransmission timeout
      // backs off from 1 s), at most 10 s.
      uint64_t last_count = 0;
      auto last_change = Clock::now();
      while (Clock::now() - t_stop < 10s) {
        uint64_t c = on_loop([this] { return deliveries_; });
        if (c >= expected) break;
        if (c != last_count) {
          last_count = c;
          last_change = Clock::now();
        } else if (Clock::now() - last_change > 3s) {
          break;
        }
        std::this_thread::sleep_for(5ms);
      }
      const auto t1 = on_loop([this] { return last_delivery_; });
      ProcSample b = read_proc(o_.server_pid);
      lg_cpu_load = self_cpu_s() - lg0;
      load_wall = std::chrono::duration<double>(std::max(t1, t_stop) - t0).count();
      if (a.ok && b.ok) srv_cpu = b.cpu_s - a.cpu_s;
    }
    const auto [deliveries, bytes, hist] = on_loop([this] { return std::tuple{deliveries_, bytes_, hist_}; });

    // ---- report ----
    auto r3 = [](double v) { return std::round(v * 1000) / 1000; };
    out["server"] = o_.label;
    out["scenario"] = o_.scenario;
    out["peers"] = o_.peers;
    out["rooms"] = o_.rooms;
    out["rate"] = o_.bulk ? json("max") : json(o_.rate);
    out["size"] = o_.size;
    out["duration_s"] = o_.duration;
    out["senders"] = o_.senders;
    out["bulk"] = o_.bulk;
    out["joined"] = welcomed;
    out["join_errors"] = http_errors.load();
    if (!first_error.empty()) out["first_error"] = first_error;
    if (auto c = on_loop([this] { return first_close_; }); !c.empty()) out["first_close"] = c;
    out["join_s"] = r3(join_s);
    out["open_p50_ms"] = r3(quantile(open_ms, 0.5));
    out["open_p99_ms"] = r3(quantile(open_ms, 0.99));
    out["connected_p50_ms"] = r3(quantile(conn_ms, 0.5));
    out["sent"] = sent;
    out["send_fail"] = send_fail;
    out["expected"] = expected;
    out["deliveries"] = deliveries;
    out["delivered_fraction"] = expected ? std::round(1e6 * static_cast<double>(deliveries) / static_cast<double>(expected)) / 1e6 : 0.0;
    out["deliveries_per_s"] = load_wall > 0 ? std::round(static_cast<double>(deliveries) / load_wall) : 0.0;
    out["offered_per_s"] = o_.duration > 0 ? std::round(static_cast<double>(expected) / o_.duration) : 0.0;
    out["mbit_per_s"] = load_wall > 0 ? r3(static_cast<double>(bytes) * 8 / 1e6 / load_wall) : 0.0;
    out["lat_p50_ms"] = r3(hist.quantile_ms(0.5));
    out["lat_p99_ms"] = r3(hist.quantile_ms(0.99));
    out["lat_max_ms"] = r3(hist.quantile_ms(1.0));
    out["load_wall_s"] = r3(load_wall);
    if (srv_cpu >= 0) {
      out["server_cpu_s"] = r3(srv_cpu);
      out["server_cpu_us_per_delivery"] = deliveries ? r3(srv_cpu * 1e6 / static_cast<double>(deliveries)) : -1.0;
      out["server_cpu_pct"] = load_wall > 0 ? r3(100 * srv_cpu / load_wall) : -1.0;
      out["deliveries_per_server_core_s"] = srv_cpu > 0 ? std::round(static_cast<double>(deliveries) / srv_cpu) : -1.0;
    }
    if (base.ok && joined.ok) {
      out["server_rss_base_kib"] = base.rss_kib;
      out["server_rss_joined_kib"] = joined.rss_kib;
      out["rss_kib_per_peer"] = welcomed ? r3((joined.rss_kib - base.rss_kib) / welcomed) : -1.0;
      out["join_server_cpu_s"] = r3(joined.cpu_s - base.cpu_s);
    }
    if (idle_cpu_pct >= 0) out["idle_server_cpu_pct"] = r3(idle_cpu_pct);
    out["loadgen_cpu_s"] = r3(self_cpu_s() - lg_cpu0);
    out["loadgen_cpu_pct_load"] = load_wall > 0 ? r3(100 * lg_cpu_load / load_wall) : 0.0;

    print_table(out);
    std::cout << out.dump() << std::endl;
    return welcomed == o_.peers ? 0 : 3;
  }

 private:
  std::string create_client(Peer* p) {
    rtc::PeerConnection::Callbacks cb;
    cb.on_connected = [this, p] {
      p->connected = true;
      p->t_connected = Clock::now();
      rtc::ChannelInit init;
      init.label = "peerrtc";
      auto s = p->client->pc().open_channel(init);
      if (s) p->stream = *s;
      else p->failed = true;
    };
    cb.on_message = [this, p](uint16_t, bool binary, ByteView m) { on_message(*p, binary, m); };
    cb.on_buffered_low = [this, p] {
      if (o_.bulk && sending_ && p->sender) pump_bulk(*p);
    };
    cb.on_closed = [this, p](const std::string& reason) {
      p->closed = true;
      if (first_close_.empty()) first_close_ = p->id + ": " + reason;
    };
    rtc::Config cfg;
    p->client = std::make_unique<net::ClientPeer>(loop_, cfg, std::move(cb), cert_, o_.bind);
    return p->client->offer();
  }

  void on_message(Peer& p, bool binary, ByteView m) {
    if (binary || m.empty()) return;
    const char* c = reinterpret_cast<const char*>(m.data());
    if (c[0] == '{') {
      if (!p.welcomed && as_chars(m).find("\"welcome\"") != std::string_view::npos) {
        p.welcomed = true;
        p.t_welcome = Clock::now();
      }
      return;
    }
    if (c[0] != 'm') return;
    auto nl = as_chars(m).find('\n');
    if (nl == std::string_view::npos || m.size() < nl + 1 + 16) return;
    int64_t ts = 0;
    for (size_t i = nl + 1; i < nl + 17; ++i) {
      char h = c[i];
      ts = ts * 16 + (h <= '9' ? h - '0' : h - 'a' + 10);
    }
    auto now = Clock::now();
    hist_.add(now.time_since_epoch().count() - ts);
    ++deliveries_;
    bytes_ += m.size() - nl - 1;
    last_delivery_ = now;
  }

  void stamp() {
    int64_t ts = now_ns();
    static const char* hex = "0123456789abcdef";
    for (int i = 16; i >= 1; --i) {
      payload_[static_cast<size_t>(i)] = hex[ts & 15];
      ts >>= 4;
    }
  }

  bool send_one(Peer& p) {
    stamp();
    auto st = p.client->pc().send(p.stream, as_bytes(payload_), false);
    if (st == rtc::SendStatus::Ok) {
      ++p.sent;
      return true;
    }
    ++p.send_fail;
    return false;
  }

  void pump_bulk(Peer& p) {
    // As fast as flow control allows: keep our queue (beyond usrsctp's buffer) under 1 MiB.
    while (sending_ && Clock::now() < load_end_ && p.client->pc().buffered_amount() < (1u << 20)) {
      stamp();
      auto st = p.client->pc().send(p.stream, as_bytes(payload_), false);
      if (st == rtc::SendStatus::BufferFull) break;  // wait for buffered-low
      if (st != rtc::SendStatus::Ok) {
        ++p.send_fail;  // e.g. TooLarge: the server advertised a smaller max-message-size
        break;
      }
      ++p.sent;
    }
  }

  void arm_tick() {
    tick_.expires_after(1ms);
    tick_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      auto now = Clock::now();
      if (!sending_ || now >= load_end_) return;
      double dt = std::chrono::duration<double>(now - last_tick_).count();
      last_tick_ = now;
      for (auto& p : peers_) {
        if (!p->sender || !p->welcomed || p->closed) continue;
        if (o_.bulk) {
          pump_bulk(*p);
          continue;
        }
        p->credit += o_.rate * dt;
        while (p->credit >= 1) {
          p->credit -= 1;
          send_one(*p);
        }
      }
      arm_tick();
    });
  }

  void print_table(const json& j) {
    auto g = [&](const char* k) -> std::string {
      if (!j.contains(k)) return "-";
      std::ostringstream s;
      s << j[k];
      return s.str();
    };
    FILE* f = o_.json_only ? stderr : stdout;
    std::fprintf(f, "---- loadgen: %s %s ----\n", o_.label.c_str(), o_.scenario.c_str());
    const char* keys[] = {"peers", "rooms", "senders", "rate", "size", "duration_s", "joined", "join_errors",
                          "join_s", "open_p50_ms", "open_p99_ms", "sent", "send_fail", "expected", "deliveries",
                          "delivered_fraction", "deliveries_per_s", "mbit_per_s", "lat_p50_ms", "lat_p99_ms",
                          "lat_max_ms", "server_cpu_s", "server_cpu_pct", "server_cpu_us_per_delivery",
                          "deliveries_per_server_core_s", "rss_kib_per_peer", "idle_server_cpu_pct",
                          "loadgen_cpu_pct_load", "first_error", "first_close"};
    for (const char* k : keys)
      if (j.contains(k)) std::fprintf(f, "  %-30s %s\n", k, g(k).c_str());
    std::fflush(f);
  }

  Options o_;
  net::NetThread net_;
  net::Loop loop_;
  asio::steady_timer tick_;
  std::shared_ptr<dtls::Certificate> cert_;
  std::string prefix_;
  std::vector<std::unique_ptr<Peer>> peers_;
  std::string payload_;
  std::string first_close_;
  bool sending_ = false;
  Clock::time_point load_start_, load_end_, last_tick_, last_delivery_;
  uint64_t deliveries_ = 0, bytes_ = 0;
  Histogram hist_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"PeerRTC load generator (bench/README.md)"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // later flags override
  app.add_option("--server-host", o.host, "server address")->capture_default_str();
  app.add_option("--http-port", o.http_port, "server HTTP port")->required();
  app.add_option("--peers", o.peers, "client peers in total")->capture_default_str();
  app.add_option("--rooms", o.rooms, "rooms (peer i joins room i % rooms)")->capture_default_str();
  app.add_option("--rate", o.rate, "messages/s per sender")->capture_default_str();
  app.add_option("--size", o.size, "message text bytes (>= 17: a timestamp leads)")->capture_default_str();
  app.add_option("--duration", o.duration, "seconds of load (0 = join only)")->capture_default_str();
  app.add_option("--senders", o.senders, "senders per room (0 = every peer)")->capture_default_str();
  app.add_flag("--bulk", o.bulk, "senders send as fast as flow control allows");
  app.add_flag("--json", o.json_only, "only the JSON line on stdout (the table goes to stderr)");
  app.add_option("--server-pid", o.server_pid, "server process id for /proc CPU and RSS");
  app.add_option("--idle", o.idle, "seconds of idle CPU measurement after the join")->capture_default_str();
  app.add_option("--http-workers", o.http_workers, "concurrent POST /offer")->capture_default_str();
  app.add_option("--join-timeout", o.join_timeout, "seconds to wait for every welcome")->capture_default_str();
  app.add_option("--label", o.label, "server name in the report");
  app.add_option("--scenario", o.scenario, "scenario name in the report");
  app.add_option("--bind", o.bind, "local address of the client sockets")->capture_default_str();
  app.add_option("--log-level", o.log_level)->capture_default_str();
  app.add_option("--room-prefix", o.room_prefix,
                 "rooms are <prefix>-r<i> (default lg<pid>); two runs with one prefix share rooms (bench/workers.sh)");
  CLI11_PARSE(app, argc, argv);
  o.rooms = std::max(1, std::min(o.rooms, o.peers));
  if (o.size > 262078) o.size = 262078;  // the largest payload (docs/protocol.md)
  log().set_level(spdlog::level::from_str(o.log_level));
  try {
    LoadGen g(o);
    return g.run();
  } catch (const std::exception& e) {
    std::cerr << "loadgen: " << e.what() << std::endl;
    return 1;
  }
}
