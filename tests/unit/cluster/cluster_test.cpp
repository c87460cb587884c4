// The pure parts of src/cluster (URL parsing, key names, node records, placement), and the
// Redis client against a real redis-server started here on a free port.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "cluster/node.hpp"
#include "cluster/redis.hpp"

using namespace peerrtc::cluster;
using namespace std::chrono_literals;

TEST(RedisUrl, Parses) {
  auto u = parse_redis_url("redis://127.0.0.1:6390/3");
  ASSERT_TRUE(u) << u.error;
  EXPECT_EQ(u.url->host, "127.0.0.1");
  EXPECT_EQ(u.url->port, 6390);
  EXPECT_EQ(u.url->db, 3);
  EXPECT_TRUE(u.url->password.empty());

  u = parse_redis_url("redis://redis.internal");
  ASSERT_TRUE(u) << u.error;
  EXPECT_EQ(u.url->host, "redis.internal");
  EXPECT_EQ(u.url->port, 6379);
  EXPECT_EQ(u.url->db, 0);

  u = parse_redis_url("redis://:s3cret@h:1/");
  ASSERT_TRUE(u) << u.error;
  EXPECT_EQ(u.url->password, "s3cret");
  EXPECT_EQ(u.url->username, "");
  EXPECT_EQ(u.url->to_string(), "redis://:***@h:1/0");  // the password never shows

  u = parse_redis_url("redis://alice:pw@[::1]:7000/1");
  ASSERT_TRUE(u) << u.error;
  EXPECT_EQ(u.url->host, "::1");
  EXPECT_EQ(u.url->username, "alice");
  EXPECT_EQ(u.url->port, 7000);
  EXPECT_EQ(u.url->to_string(), "redis://alice:***@[::1]:7000/1");
}

TEST(RedisUrl, RefusesWithReasons) {
  struct Case {
    const char* url;
    const char* why;
  } cases[] = {
      {"", "must start with redis://"},
      {"127.0.0.1:6379", "must start with redis://"},
      {"http://h:1", "must start with redis://"},
      {"rediss://h:1", "TLS"},
      {"redis://", "host is empty"},
      {"redis://:6379", "host is empty"},
      {"redis://h:", "port is empty"},
      {"redis://h:0", "not 1..65535"},
      {"redis://h:65536", "not 1..65535"},
      {"redis://h:12x", "not 1..65535"},
      {"redis://h:1/db", "not a number"},
      {"redis://h:1/-1", "not a number"},
      {"redis://h:1?x=1", "query"},
      {"redis://pw@h:1", "credentials"},
      {"redis://u:@h:1", "password is empty"},
      {"redis://[::1:1", "unclosed"},
  };
  for (auto& c : cases) {
    auto u = parse_redis_url(c.url);
    EXPECT_FALSE(u) << c.url;
    EXPECT_NE(u.error.find(c.why), std::string::npos) << c.url << " -> " << u.error;
    EXPECT_NE(u.error.find("expected redis://HOST"), std::string::npos) << u.error;
  }
}

TEST(Keys, Names) {
  EXPECT_EQ(node_key("peerrtc:", "n-1"), "peerrtc:node:n-1");
  EXPECT_EQ(room_key("peerrtc:", "général"), "peerrtc:room:général");
  EXPECT_EQ(room_key("app1:", "a:b"), "app1:room:a:b");
}

TEST(NodeRecord, RoundTripAndGarbage) {
  NodeInfo n{"n-1", "http://127.0.0.1:8080", 8080, 3, 7, 1700000000000};
  auto back = node_from_json(to_json(n).dump());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, "n-1");
  EXPECT_EQ(back->url, "http://127.0.0.1:8080");
  EXPECT_EQ(back->udp, 8080);
  EXPECT_EQ(back->rooms, 3u);
  EXPECT_EQ(back->peers, 7u);
  EXPECT_EQ(back->started_ms, 1700000000000);
  for (const char* bad : {"", "{", "[]", "null", "{\"id\":\"x\"}", R"({"id":"","url":"u","udp":1,"rooms":0,"peers":0})",
                          R"({"id":"x","url":"u","udp":70000,"rooms":0,"peers":0})",
                          R"({"id":"x","url":"u","udp":1,"rooms":-1,"peers":0})",
                          R"({"id":1,"url":"u","udp":1,"rooms":0,"peers":0})"})
    EXPECT_FALSE(node_from_json(bad)) << bad;
}

TEST(Placement, LeastPeersThenRoomsThenId) {
  EXPECT_FALSE(choose_node({}));
  std::vector<NodeInfo> nodes{{"b", "", 0, 1, 5, 0}, {"a", "", 0, 9, 2, 0}, {"c", "", 0, 0, 2, 0}};
  EXPECT_EQ(*choose_node(nodes), 2u);  // c: 2 peers, 0 rooms
  nodes[2].rooms = 9;
  EXPECT_EQ(*choose_node(nodes), 1u);  // a and c tie on peers and rooms: smallest id
  nodes[0].peers = 0;
  EXPECT_EQ(*choose_node(nodes), 0u);
}

TEST(AdvertiseUrl, DefaultsAndParsing) {
  EXPECT_EQ(default_advertise_url("0.0.0.0", 8080), "http://127.0.0.1:8080");
  EXPECT_EQ(default_advertise_url("::", 81), "http://127.0.0.1:81");
  EXPECT_EQ(default_advertise_url("10.1.2.3", 8080), "http://10.1.2.3:8080");
  EXPECT_EQ(default_advertise_url("::1", 8080), "http://[::1]:8080");
  auto a = parse_http_url("http://10.0.0.5:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->port, 8080);
  a = parse_http_url("http://[::1]:9/");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "[::1]");
  for (const char* bad : {"", "10.0.0.5:8080", "https://h:1", "http://h", "http://h:0", "http://h:1/x", "http://:1",
                          "http://u@h:1", "http://[::1]"})
    EXPECT_FALSE(parse_http_url(bad)) << bad;
}

TEST(NodeId, Checks) {
  EXPECT_EQ(check_node_id("node-1.a_b"), "");
  EXPECT_NE(check_node_id(""), "");
  EXPECT_NE(check_node_id("a b"), "");
  EXPECT_NE(check_node_id("a:b"), "");
  EXPECT_NE(check_node_id(std::string(65, 'a')), "");
  auto a = random_node_id(), b = random_node_id();
  EXPECT_EQ(check_node_id(a), "");
  EXPECT_NE(a, b);
}

// ---------------------------------------------------------------------------------------------
// A real redis-server.

namespace {

uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

struct RedisServer {
  explicit RedisServer(uint16_t p) : port(p) { start(); }
  ~RedisServer() { kill(); }
  void start() {
    pid = fork();
    if (pid == 0) {
      std::string ps = std::to_string(port);
      execlp("redis-server", "redis-server", "--port", ps.c_str(), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--loglevel", "warning", static_cast<char*>(nullptr));
      _exit(127);
    }
    // Ready when it accepts connections.
    for (int i = 0; i < 200; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      close(fd);
      if (ok) return;
      std::this_thread::sleep_for(25ms);
    }
    ADD_FAILURE() << "redis-server did not start on port " << port;
  }
  void kill() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
  uint16_t port;
  pid_t pid = -1;
};

RedisUrl url_for(uint16_t port) {
  RedisUrl u;
  u.port = port;
  return u;
}

}  // namespace

TEST(RedisClient, UnreachableAtStartSaysWhy) {
  Redis redis(url_for(free_port()));
  auto t0 = std::chrono::steady_clock::now();
  std::string err = redis.start(2000ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);  // refused at once, not a timeout
  EXPECT_NE(err.find("cannot connect to redis://127.0.0.1:"), std::string::npos) << err;
  EXPECT_NE(err.find("refused"), std::string::npos) << err;
  Reply r = redis.command_sync({"PING"}, 500ms);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.str.find("not connected"), std::string::npos) << r.str;
  redis.stop();
}

TEST(RedisClient, CommandsFromManyThreadsAndReconnect) {
  RedisServer server(free_port());
  Redis redis(url_for(server.port));
  std::atomic<int> connects{0};
  redis.on_connect([&] { ++connects; });
  ASSERT_EQ(redis.start(2000ms), "");
  EXPECT_TRUE(redis.connected());

  Reply r = redis.command_sync({"SET", "k", std::string("a\0b", 3)}, 1000ms);
  ASSERT_TRUE(r.ok()) << r.str;
  EXPECT_EQ(r.type, Reply::Type::Status);
  r = redis.command_sync({"GET", "k"}, 1000ms);
  EXPECT_EQ(r.type, Reply::Type::String);
  EXPECT_EQ(r.str, std::string("a\0b", 3));  // binary-safe
  EXPECT_TRUE(redis.command_sync({"GET", "nope"}, 1000ms).is_nil());
  r = redis.command_sync({"NOSUCHCOMMAND"}, 1000ms);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.str.find("unknown command"), std::string::npos) << r.str;

  // Four threads, 200 INCRs each, async and sync mixed: every one is counted.
  std::vector<std::thread> threads;
  std::atomic<int> replies{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if ((i + t) % 2) {
          redis.command({"INCR", "n"}, [&](const Reply& x) { if (x.ok()) ++replies; });
        } else if (redis.command_sync({"INCR", "n"}, 2000ms).ok()) {
          ++replies;
        }
      }
    });
  for (auto& t : threads) t.join();
  r = redis.command_sync({"GET", "n"}, 1000ms);
  EXPECT_EQ(r.str, "800");
  EXPECT_EQ(replies.load(), 800);

  // Redis goes away: commands fail with a clear error; it comes back: the client reconnects.
  server.kill();
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (redis.connected() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(redis.connected());
  r = redis.command_sync({"PING"}, 500ms);
  EXPECT_FALSE(r.ok());
  server.start();
  deadline = std::chrono::steady_clock::now() + 5s;
  while (!redis.connected() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(redis.connected());
  EXPECT_EQ(connects.load(), 2);
  r = redis.command_sync({"PING"}, 1000ms);
  EXPECT_EQ(r.str, "PONG");

  // command_sync on the Redis thread is refused (it would wait for itself).
  std::promise<std::string> what;
  redis.command({"PING"}, [&](const Reply&) {
    try {
      redis.command_sync({"PING"}, 100ms);
      what.set_value("no exception");
    } catch (const std::logic_error& e) {
      what.set_value(e.what());
    }
  });
  EXPECT_NE(what.get_future().get().find("Redis thread"), std::string::npos);
  redis.stop();
  r = redis.command_sync({"PING"}, 100ms);
  EXPECT_FALSE(r.ok());
}
