// See redis.hpp. hiredis (0.14) is not thread-safe: every hiredis call happens on the Redis
// thread, which runs `ioc`. The Asio adapter below is what hiredis' own adapters (libevent,
// libuv, ...) are for those loops: hiredis says when it wants to read or write the socket
// (addRead/delRead/addWrite/delWrite), the adapter waits for readiness with
// posix::stream_descriptor::async_wait and calls redisAsyncHandleRead/Write back.
#include "cluster/redis.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "common/log.hpp"

namespace peerrtc::cluster {

namespace asio = boost::asio;

// (The URLs: redis_url.cpp.)


// ---------------------------------------------------------------------------------------------
// Client

namespace {

Reply convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::String;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::Status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::Error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::Integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::Array;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = Reply::Type::Nil;
  }
  return out;
}

constexpr auto kConnectTimeout = std::chrono::milliseconds(2000);
constexpr auto kBackoffMin = std::chrono::milliseconds(100);
constexpr auto kBackoffMax = std::chrono::milliseconds(2000);

}  // namespace

struct Redis::Impl {
  Impl(RedisUrl u, RedisLimits l)
      : url(std::move(u)), limits(l), work(asio::make_work_guard(ioc)), retry(ioc), connect_timer(ioc), watchdog(ioc) {}

  // What hiredis' ev.data points at: the socket's readiness waits. Shared with the pending
  // handlers, so a handler that runs after cleanup finds `alive` false and does nothing.
  struct Watch {
    Watch(asio::io_context& ioc, int fd, redisAsyncContext* a) : sd(ioc, fd), ac(a) {}
    asio::posix::stream_descriptor sd;
    redisAsyncContext* ac;
    bool alive = true, reading = false, writing = false, read_armed = false, write_armed = false;
  };

  RedisUrl url;
  RedisLimits limits;
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;  // assigned in start(), before any other thread can call in
  asio::steady_timer retry, connect_timer, watchdog;
  // Bounds (any thread): commands and argument bytes issued and not yet answered.
  std::atomic<size_t> in_flight{0}, in_flight_bytes{0};
  std::atomic<uint64_t> dropped{0}, trips{0};
  // Redis thread only: when each command on the connection was sent, oldest first (replies come
  // in order, so the front is the oldest one waiting).
  std::deque<std::chrono::steady_clock::time_point> sent_at;
  bool dropping = false;  // the watchdog is freeing the connection
  std::vector<std::function<void()>> connect_hooks;

  // What ev.data points at: one per connection (the commands', the Sentinel subscription's).
  struct Slot {
    std::shared_ptr<Watch> watch;
  };

  // Redis thread only:
  redisAsyncContext* ac = nullptr;
  Slot main;  // ac's
  // Sentinel: the subscription to +switch-master on one sentinel (rotating on failure).
  redisAsyncContext* sub = nullptr;
  Slot sub_slot;
  size_t sub_index = 0;
  bool announced = false;  // the next connect goes to the master +switch-master named, unasked
  asio::steady_timer sub_retry{ioc};
  // The master's address (url.host/port) is written on the Redis thread only, under url_m;
  // other threads read it under url_m (url_text()).
  mutable std::mutex url_m;
  std::chrono::milliseconds backoff = kBackoffMin;
  bool ever_connected = false;
  bool down_logged = false;
  std::chrono::steady_clock::time_point down_since;
  std::string last_error;

  std::atomic<bool> is_connected{false};
  std::atomic<bool> stopping{false};
  std::atomic<bool> started{false};

  // start(): the outcome of the first attempt.
  std::mutex m;
  std::condition_variable cv;
  bool first_done = false;
  std::string first_error;
  std::string auth_error;  // the last AUTH's error, "" if it passed

  // --- adapter ------------------------------------------------------------------------------
  static void arm_read(const std::shared_ptr<Watch>& w) {
    if (!w->alive || !w->reading || w->read_armed) return;
    w->read_armed = true;
    w->sd.async_wait(asio::posix::stream_descriptor::wait_read, [w](const boost::system::error_code& ec) {
      w->read_armed = false;
      if (ec || !w->alive || !w->reading) return;
      redisAsyncHandleRead(w->ac);  // may free the context (cleanup sets alive = false)
      arm_read(w);
    });
  }
  static void arm_write(const std::shared_ptr<Watch>& w) {
    if (!w->alive || !w->writing || w->write_armed) return;
    w->write_armed = true;
    w->sd.async_wait(asio::posix::stream_descriptor::wait_write, [w](const boost::system::error_code& ec) {
      w->write_armed = false;
      if (ec || !w->alive || !w->writing) return;
      redisAsyncHandleWrite(w->ac);
      arm_write(w);
    });
  }
  static Impl* of(const redisAsyncContext* a) { return static_cast<Impl*>(a->data); }
  static void add_read(void* p) {
    auto* self = static_cast<Slot*>(p);
    if (!self->watch) return;
    self->watch->reading = true;
    arm_read(self->watch);
  }
  static void del_read(void* p) {
    auto* self = static_cast<Slot*>(p);
    if (self->watch) self->watch->reading = false;
  }
  static void add_write(void* p) {
    auto* self = static_cast<Slot*>(p);
    if (!self->watch) return;
    self->watch->writing = true;
    arm_write(self->watch);
  }
  static void del_write(void* p) {
    auto* self = static_cast<Slot*>(p);
    if (self->watch) self->watch->writing = false;
  }
  static void cleanup(void* p) {
    auto* self = static_cast<Slot*>(p);
    if (!self->watch) return;
    auto w = std::move(self->watch);
    w->alive = false;
    boost::system::error_code ignored;
    w->sd.cancel(ignored);
    w->sd.release();  // hiredis closes the descriptor itself
  }

  // hiredis' event hooks for `a` on the loop, through `slot`.
  void attach(redisAsyncContext* a, Slot& slot) {
    slot.watch = std::make_shared<Watch>(ioc, a->c.fd, a);
    a->ev.data = &slot;
    a->ev.addRead = add_read;
    a->ev.delRead = del_read;
    a->ev.addWrite = add_write;
    a->ev.delWrite = del_write;
    a->ev.cleanup = cleanup;
  }

  // The address for messages, from any thread.
  std::string url_text() const {
    std::lock_guard lock(url_m);
    return url.to_string();
  }
  void set_master(const std::string& host, uint16_t port) {  // Redis thread
    std::lock_guard lock(url_m);
    url.host = host;
    url.port = port;
  }

  // --- connection ---------------------------------------------------------------------------
  void finish_first(const std::string& error) {
    std::lock_guard lock(m);
    if (first_done) return;
    first_done = true;
    first_error = error;
    cv.notify_all();
  }

  // Sentinel: the master's address from the first sentinel that knows it (blocking, on the Redis
  // thread, which has nothing else to do while disconnected).
  std::string ask_sentinels() {
    std::string why;
    for (auto& [h, p] : url.sentinels) {
      timeval tv{0, 500 * 1000};
      redisContext* c = redisConnectWithTimeout(h.c_str(), p, tv);
      if (!c || c->err) {
        why += (why.empty() ? "" : "; ") + h + ":" + std::to_string(p) + ": " + (c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        continue;
      }
      redisSetTimeout(c, tv);
      const char* argv[] = {"SENTINEL", "get-master-addr-by-name", url.master_name.c_str()};
      size_t lens[] = {8, 23, url.master_name.size()};
      auto* r = static_cast<redisReply*>(redisCommandArgv(c, 3, argv, lens));
      if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING) {
        unsigned long port = 0;
        std::string host(r->element[0]->str, r->element[0]->len);
        bool ok = parse_uint(std::string_view(r->element[1]->str, r->element[1]->len), 65535, port);
        freeReplyObject(r);
        redisFree(c);
        if (ok) {
          if (host != url.host || port != url.port)
            log().info("redis: sentinel {}:{} names {}:{} as master '{}'", h, p, host, port, url.master_name);
          set_master(host, static_cast<uint16_t>(port));
          return "";
        }
        why += (why.empty() ? "" : "; ") + h + ":" + std::to_string(p) + ": bad answer";
        continue;
      }
      why += (why.empty() ? "" : "; ") + h + ":" + std::to_string(p) + ": " +
             (r ? (r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : "no such master") : std::string(c->errstr));
      if (r) freeReplyObject(r);
      redisFree(c);
    }
    return "no sentinel names master '" + url.master_name + "' (" + why + ")";
  }

  // Drops the connection at once (every pending command fails) and reconnects: a watchdog trip,
  // or a server that is not (or no longer) the master.
  void drop(const std::string& why, bool at_once = false) {
    if (!ac) return;
    log().warn("redis: {}: connection to {} dropped", why, url.to_string());
    redisAsyncContext* a = ac;
    ac = nullptr;
    is_connected = false;
    sent_at.clear();
    down_since = std::chrono::steady_clock::now();
    down_logged = true;
    dropping = true;
    redisAsyncFree(a);
    dropping = false;
    if (at_once) {
      retry.cancel();
      backoff = kBackoffMin;
      asio::post(ioc, [this] {
        if (!ac) connect();
      });
    } else {
      schedule_reconnect();
    }
  }

  // --- Sentinel: +switch-master -------------------------------------------------------------
  // A failover is announced on every sentinel's +switch-master channel
  // ("<name> <old ip> <old port> <new ip> <new port>") as soon as it is decided: the connection
  // moves to the new master then, not only when the old one breaks or answers READONLY (a
  // demoted master that stays reachable would otherwise take writes until it is reconfigured).
  void subscribe_sentinel() {
    if (stopping || url.sentinels.empty()) return;
    auto& [h, p] = url.sentinels[sub_index % url.sentinels.size()];
    redisAsyncContext* a = redisAsyncConnect(h.c_str(), p);
    if (!a || a->err) {
      log().debug("redis: cannot subscribe to sentinel {}:{}: {}", h, p, a ? a->errstr : "out of memory");
      if (a) redisAsyncFree(a);
      resubscribe_later();
      return;
    }
    sub = a;
    a->data = this;
    attach(a, sub_slot);
    redisAsyncSetDisconnectCallback(a, [](const redisAsyncContext* c, int) {
      Impl* self = of(c);
      if (self->sub == c) self->sub = nullptr;
      if (self->stopping) return;
      asio::post(self->ioc, [self] { self->resubscribe_later(); });
    });
    redisAsyncSetConnectCallback(a, [](const redisAsyncContext* c, int status) {
      Impl* self = of(c);
      if (status != REDIS_OK) {
        if (self->sub == c) self->sub = nullptr;  // hiredis frees it after this callback
        if (!self->stopping) asio::post(self->ioc, [self] { self->resubscribe_later(); });
        return;
      }
      redisEnableKeepAlive(&const_cast<redisAsyncContext*>(c)->c);
      log().debug("redis: subscribed to +switch-master on sentinel {}",
                  self->url.sentinels[self->sub_index % self->url.sentinels.size()].first);
    });
    const char* argv[] = {"SUBSCRIBE", "+switch-master"};
    size_t lens[] = {9, 14};
    redisAsyncCommandArgv(a, on_switch_master, nullptr, 2, argv, lens);
  }

  void resubscribe_later() {
    if (stopping) return;
    ++sub_index;  // the next sentinel
    sub_retry.expires_after(std::chrono::milliseconds(500));
    sub_retry.async_wait([this](const boost::system::error_code& ec) {
      if (!ec && !sub) subscribe_sentinel();
    });
  }

  static void on_switch_master(redisAsyncContext* a, void* r, void*) {
    auto* reply = static_cast<redisReply*>(r);
    if (!a || !a->data || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return;
    Reply m = convert(reply);
    if (m.elements[0].str != "message") return;
    Impl* self = of(a);
    std::vector<std::string> f;
    std::string_view rest = m.elements[2].str;
    while (!rest.empty()) {
      size_t sp = rest.find(' ');
      f.emplace_back(rest.substr(0, sp));
      rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
    }
    unsigned long port = 0;
    if (f.size() != 5 || f[0] != self->url.master_name || !parse_uint(f[4], 65535, port)) return;
    log().warn("redis: Sentinel announced a failover of '{}': {}:{} -> {}:{}", f[0], f[1], f[2], f[3], f[4]);
    const bool moved = f[3] != self->url.host || port != self->url.port;
    if (!moved) return;
    // (A lagging sentinel could still name the old master: the next connection goes where this
    // announcement says; its ROLE is checked as always. The reconnect is posted: it runs after
    // set_master below.)
    self->announced = true;
    const bool was_connected = self->ac != nullptr;
    if (was_connected) self->drop("Sentinel announced a new master (+switch-master)", true);
    self->set_master(f[3], static_cast<uint16_t>(port));
    if (!was_connected) {  // waiting to reconnect: now, to the new master
      self->retry.cancel();
      self->backoff = kBackoffMin;
      asio::post(self->ioc, [self] {
        if (!self->ac) self->connect();
      });
    }
  }

  void connect() {
    if (stopping) return;
    if (!url.sentinels.empty() && !std::exchange(announced, false)) {
      if (auto why = ask_sentinels(); !why.empty()) {
        failed(why);
        return;
      }
    }
    redisAsyncContext* a = redisAsyncConnect(url.host.c_str(), url.port);
    if (!a || a->err) {
      std::string why = a ? a->errstr : "out of memory";
      if (a) redisAsyncFree(a);
      failed("cannot connect to " + url.to_string() + ": " + why);
      return;
    }
    ac = a;
    a->data = this;
    attach(a, main);
    redisAsyncSetDisconnectCallback(a, on_disconnect);
    redisAsyncSetConnectCallback(a, on_connected);  // after the adapter: it waits for writability
    connect_timer.expires_after(kConnectTimeout);
    connect_timer.async_wait([this, a](const boost::system::error_code& ec) {
      if (ec || ac != a || is_connected) return;
      ac = nullptr;
      redisAsyncFree(a);  // not connected: no disconnect callback
      failed("cannot connect to " + url.to_string() + ": timed out after " +
             std::to_string(kConnectTimeout.count()) + " ms");
    });
  }

  void failed(const std::string& why) {
    last_error = why;
    finish_first(why);
    if (!down_logged && ever_connected) {
      log().warn("redis: {}; retrying in the background", why);
      down_logged = true;
    } else {
      log().debug("redis: {}", why);
    }
    schedule_reconnect();
  }

  void schedule_reconnect() {
    if (stopping) return;
    retry.expires_after(backoff);
    backoff = std::min(backoff * 2, kBackoffMax);
    retry.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) connect();
    });
  }

  static void on_connected(const redisAsyncContext* a, int status) {
    Impl* self = of(a);
    self->connect_timer.cancel();
    if (status != REDIS_OK) {
      self->ac = nullptr;  // hiredis frees it after this callback
      std::string why = a->errstr;
      asio::post(self->ioc, [self, why] { self->failed("cannot connect to " + self->url.to_string() + ": " + why); });
      return;
    }
    auto* ctx = const_cast<redisAsyncContext*>(a);
    redisEnableKeepAlive(&ctx->c);  // a peer that vanished is noticed by TCP too
    self->sent_at.clear();
    if (!self->url.password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!self->url.username.empty()) auth.push_back(self->url.username);
      auth.push_back(self->url.password);
      self->send(ctx, std::move(auth), [self](const Reply& r) {
        std::lock_guard lock(self->m);
        self->auth_error = r.ok() ? "" : r.str;
        if (!r.ok()) log().error("redis: AUTH failed: {}", r.str);
      });
    }
    if (self->url.db != 0) {
      self->send(ctx, {"SELECT", std::to_string(self->url.db)}, [db = self->url.db](const Reply& r) {
        if (!r.ok()) log().error("redis: SELECT {} failed: {}", db, r.str);
      });
    }
    if (!self->url.sentinels.empty()) {
      self->send(ctx, {"ROLE"}, [self, ctx](const Reply& r) {
        if (r.type == Reply::Type::Array && !r.elements.empty() && r.elements[0].str == "master") return;
        asio::post(self->ioc, [self, ctx] {
          if (self->ac == ctx) self->drop("the server Sentinel named is not the master (any more)");
        });
      });
    }
    self->is_connected = true;
    self->backoff = kBackoffMin;
    if (self->down_logged) {
      auto s = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - self->down_since);
      log().warn("redis: reconnected to {} after {} ms", self->url.to_string(), s.count());
    } else if (!self->ever_connected) {
      log().info("redis: connected to {}", self->url.to_string());
    }
    self->ever_connected = true;
    self->down_logged = false;
    self->finish_first("");
    for (auto& fn : self->connect_hooks) {
      try {
        fn();
      } catch (const std::exception& e) {
        log().error("redis: on_connect hook failed: {}", e.what());
      }
    }
  }

  static void on_disconnect(const redisAsyncContext* a, int status) {
    Impl* self = of(a);
    if (self->ac == a) self->ac = nullptr;
    self->is_connected = false;
    if (self->stopping || self->dropping) return;
    self->down_since = std::chrono::steady_clock::now();
    std::string why = status == REDIS_OK ? "closed" : (a->errstr[0] ? a->errstr : "connection lost");
    log().warn("redis: connection to {} lost ({}); reconnecting in the background", self->url.to_string(), why);
    self->down_logged = true;
    asio::post(self->ioc, [self] { self->schedule_reconnect(); });
  }

  // --- commands (Redis thread) --------------------------------------------------------------
  static void on_reply(redisAsyncContext* a, void* r, void* priv) {
    std::unique_ptr<Callback> cb(static_cast<Callback*>(priv));
    if (a && a->data) {
      auto& q = of(a)->sent_at;
      if (!q.empty()) q.pop_front();
    }
    Reply reply = r ? convert(static_cast<redisReply*>(r)) : Reply::error("connection to Redis lost");
    if (a && a->data && reply.type == Reply::Type::Error && reply.str.rfind("READONLY", 0) == 0) {
      Impl* self = of(a);
      if (!self->url.sentinels.empty())  // a demoted master: ask the sentinels again
        asio::post(self->ioc, [self, a] {
          if (self->ac == a) self->drop("the server refuses writes (READONLY): no longer the master");
        });
    }
    if (!*cb) return;
    try {
      (*cb)(reply);
    } catch (const std::exception& e) {
      log().error("redis: a reply callback threw: {}", e.what());
    }
  }

  void send(redisAsyncContext* a, std::vector<std::string> argv, Callback cb) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    ptrs.reserve(argv.size());
    lens.reserve(argv.size());
    for (auto& s : argv) {
      ptrs.push_back(s.data());
      lens.push_back(s.size());
    }
    auto* holder = new Callback(std::move(cb));
    if (redisAsyncCommandArgv(a, on_reply, holder, static_cast<int>(argv.size()), ptrs.data(), lens.data()) != REDIS_OK) {
      std::unique_ptr<Callback> owned(holder);
      if (*owned) (*owned)(Reply::error("Redis refused the command (connection closing)"));
      return;
    }
    sent_at.push_back(std::chrono::steady_clock::now());
  }

  // Every 250 ms: a connection whose oldest command waits longer than command_timeout is
  // declared lost (a paused Redis answers nothing, and TCP says nothing for minutes).
  void arm_watchdog() {
    watchdog.expires_after(std::chrono::milliseconds(250));
    watchdog.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping) return;
      if (ac && is_connected && !sent_at.empty() &&
          std::chrono::steady_clock::now() - sent_at.front() > limits.command_timeout) {
        trips.fetch_add(1);
        drop("no answer for " + std::to_string(limits.command_timeout.count()) + " ms (" +
             std::to_string(sent_at.size()) + " commands waiting): connection declared lost");
      }
      arm_watchdog();
    });
  }

  void issue(std::vector<std::string> argv, Callback cb) {
    if (!ac || !is_connected) {
      if (cb) cb(Reply::error("not connected to Redis at " + url.to_string() + (last_error.empty() ? "" : " (" + last_error + ")")));
      return;
    }
    send(ac, std::move(argv), std::move(cb));
  }
};

Redis::Redis(RedisUrl url, RedisLimits limits) : impl_(std::make_shared<Impl>(std::move(url), limits)) {}

uint64_t Redis::dropped() const { return impl_->dropped.load(); }
uint64_t Redis::watchdog_trips() const { return impl_->trips.load(); }
size_t Redis::in_flight() const { return impl_->in_flight.load(); }

Redis::~Redis() { stop(); }

RedisUrl Redis::url() const {
  std::lock_guard lock(impl_->url_m);
  return impl_->url;
}
bool Redis::connected() const { return impl_->is_connected; }

void Redis::on_connect(std::function<void()> fn) {
  if (impl_->started) throw std::logic_error("cluster::Redis::on_connect after start()");
  impl_->connect_hooks.push_back(std::move(fn));
}

std::string Redis::start(std::chrono::milliseconds timeout) {
  Impl& im = *impl_;
  if (im.started) throw std::logic_error("cluster::Redis::start called twice");
  im.started = true;
  im.thread = std::thread([&im] { im.ioc.run(); });
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::post(im.ioc, [&im] {
    im.connect();
    im.arm_watchdog();
    im.subscribe_sentinel();
  });
  std::string error;
  {
    std::unique_lock lock(im.m);
    if (!im.cv.wait_until(lock, deadline, [&] { return im.first_done; }))
      return "cannot connect to " + im.url_text() + ": timed out after " + std::to_string(timeout.count()) + " ms";
    error = im.first_error;
  }
  if (!error.empty()) return error;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  Reply pong = command_sync({"PING"}, std::max(left, std::chrono::milliseconds(100)));
  if (!pong.ok()) {
    std::lock_guard lock(im.m);
    if (!im.auth_error.empty()) return "Redis at " + im.url_text() + " refused the password: " + im.auth_error;
    return "Redis at " + im.url_text() + " does not answer PING: " + pong.str;
  }
  return "";
}

void Redis::stop() {
  Impl& im = *impl_;
  if (!im.started || im.stopping.exchange(true)) return;
  asio::post(im.ioc, [&im] {
    im.retry.cancel();
    im.connect_timer.cancel();
    im.watchdog.cancel();
    im.sub_retry.cancel();
    if (im.sub) {
      redisAsyncContext* s = im.sub;
      im.sub = nullptr;
      redisAsyncFree(s);
    }
    if (im.ac) {
      redisAsyncContext* a = im.ac;
      im.ac = nullptr;
      redisAsyncFree(a);  // pending callbacks get a null reply (connection lost)
    }
    im.is_connected = false;
    im.work.reset();
  });
  if (im.thread.joinable()) {
    if (std::this_thread::get_id() == im.thread.get_id()) {
      im.thread.detach();
    } else {
      im.thread.join();
    }
  }
}

void Redis::command(std::vector<std::string> argv, Callback cb) {
  Impl& im = *impl_;
  if (argv.empty()) throw std::invalid_argument("cluster::Redis::command: empty command");
  if (!im.started || im.stopping) {
    if (cb) cb(Reply::error("the Redis client is not running"));
    return;
  }
  size_t bytes = 0;
  for (auto& a : argv) bytes += a.size() + 16;
  const size_t n = im.in_flight.fetch_add(1) + 1;
  const size_t b = im.in_flight_bytes.fetch_add(bytes) + bytes;
  if (n > im.limits.max_commands || b > im.limits.max_bytes) {
    im.in_flight.fetch_sub(1);
    im.in_flight_bytes.fetch_sub(bytes);
    if (im.dropped.fetch_add(1) == 0 || im.dropped.load() % 10000 == 0)
      log().warn("redis: {} commands refused so far: more than {} commands or {} bytes waiting for Redis",
                 im.dropped.load(), im.limits.max_commands, im.limits.max_bytes);
    if (cb) cb(Reply::error("Redis queue full (" + std::to_string(n - 1) + " commands, " + std::to_string(b - bytes) +
                            " bytes waiting): dropped"));
    return;
  }
  // Exactly one completion per command (reply, error, connection lost): the bounds go down there.
  Callback done = [&im, bytes, cb = std::move(cb)](const Reply& r) {
    im.in_flight.fetch_sub(1);
    im.in_flight_bytes.fetch_sub(bytes);
    if (cb) cb(r);
  };
  asio::post(im.ioc, [&im, argv = std::move(argv), done = std::move(done)]() mutable {
    im.issue(std::move(argv), std::move(done));
  });
}

Reply Redis::command_sync(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  if (impl_->started && std::this_thread::get_id() == impl_->thread.get_id())
    throw std::logic_error("cluster::Redis::command_sync on the Redis thread would wait for itself");
  auto p = std::make_shared<std::promise<Reply>>();
  auto f = p->get_future();
  const std::string name = argv.empty() ? "" : argv.front();
  command(std::move(argv), [p](const Reply& r) { p->set_value(r); });
  if (f.wait_for(timeout) != std::future_status::ready)
    return Reply::error("Redis " + name + " timed out after " + std::to_string(timeout.count()) + " ms");
  return f.get();
}

}  // namespace peerrtc::cluster
