// A Redis client for the cluster mode: hiredis' async API driven by a Boost.Asio io_context on
// a thread of its own (never the WebRTC network thread).
//
//   auto url = peerrtc::cluster::parse_redis_url("redis://127.0.0.1:6379/0");   // Expected<RedisUrl>
//   peerrtc::cluster::Redis redis(*url);
//   if (auto err = redis.start(std::chrono::seconds(2)); !err.empty()) { ...unreachable... }
//   redis.command({"SET", "k", "v"}, [](const Reply& r) { ... });       // callback on the Redis thread
//   Reply r = redis.command_sync({"GET", "k"}, std::chrono::milliseconds(500));   // any other thread
//
// Thread safety: command() and command_sync() may be called from any thread (command_sync not
// from the Redis thread itself: that throws std::logic_error). Commands are sent in the order
// they were issued. When the connection is lost every pending command completes with an error
// reply, commands issued while disconnected fail at once ("not connected to Redis"), and the
// client reconnects with a backoff (100 ms doubling up to 2 s); the loss and the return are
// logged once each, not per attempt.
// Bounds (RedisLimits): at most `max_commands` commands and `max_bytes` of their arguments in
// flight (issued, not yet answered); past either a command fails at once ("Redis queue full")
// and is counted (`dropped()`), so a stalled Redis cannot grow the process. TCP keepalive is on.
// A watchdog declares the connection lost when the oldest command sent has waited
// `command_timeout` for its answer (a paused or cut-off Redis): every pending command then
// fails, and the client reconnects as above. on_connect() callbacks run on the Redis thread after every
// (re)connection (AUTH and SELECT are sent first).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace peerrtc::cluster {

struct RedisUrl {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  int db = 0;
  std::string password;  // empty = no AUTH
  std::string username;  // Redis 6 ACL user (AUTH user password); empty = default user
  // Redis Sentinel (sentinel://HOST:PORT[,HOST:PORT...]/NAME[/DB]): the sentinels, asked in turn
  // for the master named `master_name` before every (re)connection; host/port are then the
  // master's. Empty = a plain redis:// URL.
  std::vector<std::pair<std::string, uint16_t>> sentinels;
  std::string master_name;
  std::string to_string() const;  // redis://host:port/db or sentinel://.../NAME/db, password hidden
};

// redis://[[user]:password@]host[:port][/db]; host may be [v6]. Or
// sentinel://[[user]:password@]host:port[,host:port...]/NAME[/db] (the password is the master's).
// The error says what is wrong.
struct ParsedRedisUrl {
  std::optional<RedisUrl> url;
  std::string error;
  explicit operator bool() const { return url.has_value(); }
};
ParsedRedisUrl parse_redis_url(std::string_view text);
// A decimal number of at most 10 digits, at most `max` (the URLs' ports and databases, the
// Sentinel's answers); false for anything else. Pure.
bool parse_uint(std::string_view s, unsigned long max, unsigned long& out);

// An owned copy of a hiredis reply.
struct Reply {
  enum class Type { Nil, Integer, String, Status, Error, Array };
  Type type = Type::Nil;
  long long integer = 0;
  std::string str;  // String, Status, Error (the message; also our own errors: connection lost, timeout)
  std::vector<Reply> elements;
  bool ok() const { return type != Type::Error; }
  bool is_nil() const { return type == Type::Nil; }
  static Reply error(std::string message) {
    Reply r;
    r.type = Type::Error;
    r.str = std::move(message);
    return r;
  }
};

struct RedisLimits {
  size_t max_commands = 10000;
  size_t max_bytes = 16 << 20;
  std::chrono::milliseconds command_timeout{3000};
};

class Redis {
 public:
  using Callback = std::function<void(const Reply&)>;

  explicit Redis(RedisUrl url, RedisLimits limits = {});
  ~Redis();  // stops
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  // Starts the thread and connects; waits up to `timeout` for the first connection and a PING
  // answer. Returns "" when connected, else why not (the client keeps retrying in the
  // background either way; a caller that cannot go on without Redis calls stop()).
  std::string start(std::chrono::milliseconds timeout);
  void stop();  // idempotent; pending commands complete with an error

  // Sends `argv`; `cb` (may be empty) runs on the Redis thread with the reply or an error.
  void command(std::vector<std::string> argv, Callback cb);
  // Waits for the reply at most `timeout` (then an error reply "timed out ..."; the command may
  // still run). Must not be called on the Redis thread.
  Reply command_sync(std::vector<std::string> argv, std::chrono::milliseconds timeout);

  bool connected() const;
  uint64_t dropped() const;        // commands refused because the in-flight bounds were reached
  uint64_t watchdog_trips() const;  // connections declared lost by the watchdog
  size_t in_flight() const;
  // Runs after every successful (re)connection, on the Redis thread. Add before start().
  void on_connect(std::function<void()> fn);
  RedisUrl url() const;  // a copy: with Sentinel, host/port follow the master (any thread)

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace peerrtc::cluster
