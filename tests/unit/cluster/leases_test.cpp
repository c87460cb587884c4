// Node-to-node signatures (pure), the LeaseTable, and the lease, registry and fenced-append
// scripts and the Redis client's bounds against a real redis-server started here.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cluster/forward.hpp"
#include "cluster/leases.hpp"
#include "cluster/registry.hpp"
#include "cluster/stream.hpp"

using namespace peerrtc::cluster;
using namespace std::chrono_literals;

TEST(ForwardSignature, RoundTripAndEveryRefusal) {
  const std::string secret = "0123456789abcdef-secret";
  const int64_t t = 1'700'000'000'000;
  const std::string nonce = "00112233445566778899aabbccddeeff";
  const std::string sig = sign_forward(secret, "a", "POST", "/offer?x=1", "{\"room\":\"r\"}", t, nonce);
  EXPECT_EQ(sig.rfind("v2 t=1700000000000 n=00112233445566778899aabbccddeeff sig=", 0), 0u) << sig;
  int64_t signed_at = 0;
  EXPECT_EQ(verify_forward(secret, "a", sig, "POST", "/offer?x=1", "{\"room\":\"r\"}", t + 1000, kForwardWindow,
                           &signed_at),
            "");
  EXPECT_EQ(signed_at, t);
  EXPECT_NE(verify_forward(secret, "b", sig, "POST", "/offer?x=1", "{\"room\":\"r\"}", t), "");   // another node
  EXPECT_NE(verify_forward(secret, "a", sig, "GET", "/offer?x=1", "{\"room\":\"r\"}", t), "");    // method
  EXPECT_NE(verify_forward(secret, "a", sig, "POST", "/offer?x=2", "{\"room\":\"r\"}", t), "");   // query
  EXPECT_NE(verify_forward(secret, "a", sig, "POST", "/offer?x=1", "{\"room\":\"s\"}", t), "");   // body
  EXPECT_NE(verify_forward("another-secret-0123", "a", sig, "POST", "/offer?x=1", "{\"room\":\"r\"}", t), "");
  EXPECT_NE(verify_forward(secret, "a", sig, "POST", "/offer?x=1", "{\"room\":\"r\"}", t + 31'000), "");  // late
  EXPECT_NE(verify_forward(secret, "a", sig, "POST", "/offer?x=1", "{\"room\":\"r\"}", t - 31'000), "");  // early
  // Another nonce with the same MAC: the nonce is in the signed material.
  std::string other = sig;
  other.replace(other.find(" n=") + 3, 2, "ff");
  EXPECT_NE(verify_forward(secret, "a", other, "POST", "/offer?x=1", "{\"room\":\"r\"}", t), "");
  EXPECT_NE(verify_forward(secret, "a", "", "POST", "/offer", "", t), "");
  EXPECT_NE(verify_forward(secret, "a", "v1 t=x sig=00", "POST", "/offer", "", t), "");
  EXPECT_NE(verify_forward(secret, "a", "v2 t=1 sig=00", "POST", "/offer", "", t), "");
  EXPECT_NE(verify_forward(secret, "a", "v2 t=1 n=zz sig=00", "POST", "/offer", "", t), "");
  EXPECT_NE(verify_forward("", "a", sig, "POST", "/offer?x=1", "{\"room\":\"r\"}", t), "");  // no secret: nothing passes
  EXPECT_NE(random_nonce(), random_nonce());
  EXPECT_EQ(random_nonce().size(), 32u);
}

TEST(ForwardSignature, ReplayCacheRefusesACopyUntilTheWindowEndsAndFailsClosedWhenFull) {
  using R = ReplayCache::Result;
  ReplayCache c(2, 30s);
  const int64_t t = 1'700'000'000'000;
  EXPECT_EQ(c.check("sig-1", t, t), R::Fresh);
  EXPECT_EQ(c.check("sig-1", t, t + 1000), R::Replayed);
  EXPECT_EQ(c.check("sig-1", t, t + 30'000), R::Replayed);  // still inside the window: still refused
  EXPECT_EQ(c.check("sig-2", t + 5000, t + 5000), R::Fresh);
  EXPECT_EQ(c.check("sig-3", t + 5000, t + 5000), R::Full);   // two live entries: a third is refused
  EXPECT_EQ(c.check("sig-3", t + 5000, t + 5000), R::Full);   // and not remembered
  EXPECT_EQ(c.size(), 2u);
  // sig-1 signed at t expires once verify_forward would refuse its time (t + 30 s): room again.
  EXPECT_EQ(c.check("sig-3", t + 5000, t + 30'002), R::Fresh);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.check("sig-2", t + 5000, t + 30'002), R::Replayed);
}

TEST(RedisUrl, SentinelUrls) {
  auto u = parse_redis_url("sentinel://:pw@10.0.0.1:26379,10.0.0.2:26380/mymaster/2");
  ASSERT_TRUE(u) << u.error;
  ASSERT_EQ(u.url->sentinels.size(), 2u);
  EXPECT_EQ(u.url->sentinels[1], (std::pair<std::string, uint16_t>{"10.0.0.2", 26380}));
  EXPECT_EQ(u.url->master_name, "mymaster");
  EXPECT_EQ(u.url->db, 2);
  EXPECT_EQ(u.url->password, "pw");
  EXPECT_EQ(u.url->to_string().find("pw"), std::string::npos);
  for (const char* bad : {"sentinel://h:1", "sentinel://h/m", "sentinel://h:0/m", "sentinel://h:1/", "sentinel:///m",
                          "sentinel://h:1/m/x"}) {
    auto b = parse_redis_url(bad);
    EXPECT_FALSE(b) << bad;
    EXPECT_NE(b.error.find("bad Sentinel URL"), std::string::npos) << bad << ": " << b.error;
  }
}

TEST(LeaseTable, ProvenExpiresAndRenewalsDoNotOvertakeRequests) {
  LeaseTable t(3000ms);
  const auto t0 = Clock::now();
  t.proven_by_request("r", "10", t0);
  EXPECT_EQ(t.token("r", t0 + 2999ms), "10");
  EXPECT_FALSE(t.token("r", t0 + 3000ms));  // a lease proven at t0 is gone at t0 + ttl
  // A renewal sent with the old token, answered after a request adopted a new one: ignored.
  t.proven_by_request("r", "11", t0 + 100ms);
  EXPECT_FALSE(t.proven_by_renewal("r", "10", "10", t0 + 200ms));
  EXPECT_TRUE(t.proven_by_renewal("r", "11", "11", t0 + 2000ms));
  EXPECT_EQ(t.token("r", t0 + 4000ms), "11");
  EXPECT_TRUE(t.take_expired(t0 + 4999ms).empty());
  EXPECT_EQ(t.take_expired(t0 + 5000ms), std::vector<std::string>{"r"});
  EXPECT_EQ(t.size(), 0u);
  // A room claimed from a snapshot ("" sent) is taken only if no request put it here meanwhile.
  EXPECT_TRUE(t.proven_by_renewal("s", "", "7", t0));
  EXPECT_FALSE(t.proven_by_renewal("s", "", "8", t0));
  EXPECT_FALSE(t.remove("s", "8"));
  EXPECT_TRUE(t.remove("s", "7"));
  t.mark_evicted("e", t0);
  EXPECT_TRUE(t.recently_evicted("e", t0 + 1s, 2s));
  EXPECT_FALSE(t.recently_evicted("e", t0 + 3s, 2s));
}

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

struct Server {
  explicit Server(uint16_t p) : port(p) {
    pid = fork();
    if (pid == 0) {
      std::string ps = std::to_string(port);
      execlp("redis-server", "redis-server", "--port", ps.c_str(), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--loglevel", "warning", static_cast<char*>(nullptr));
      _exit(127);
    }
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
  }
  ~Server() {
    ::kill(pid, SIGCONT);
    ::kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
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

TEST(LeaseScripts, ClaimPlaceRenewReleaseWithTokens) {
  Server server(free_port());
  Redis redis(url_for(server.port));
  ASSERT_EQ(redis.start(2000ms), "");
  const std::string p = "t:";
  // A free room: no claim without create; with it, the lease and a token.
  Claim c = claim_room(redis, p, "r", "a", 3000ms, false, 1000ms);
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_EQ(c.holder, "");
  c = claim_room(redis, p, "r", "a", 3000ms, true, 1000ms);
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_EQ(c.holder, "a");
  const long long t1 = std::stoll(c.token);
  EXPECT_GT(t1, 1'600'000'000'000'000LL) << "never below Redis' clock in µs";
  EXPECT_EQ(redis.command_sync({"GET", "t:room:r"}, 1000ms).str, "a");
  EXPECT_EQ(redis.command_sync({"GET", "t:fence:r"}, 1000ms).str, c.token);
  // Another node sees the holder and gets no token.
  Claim other = claim_room(redis, p, "r", "b", 3000ms, true, 1000ms);
  EXPECT_EQ(other.holder, "a");
  EXPECT_EQ(other.token, "");
  // Renewal: with the token it holds, with "" (adopt), and with a stale one (lost: "0").
  auto tokens = renew_rooms(redis, p, "a", 3000ms, {{"r", c.token}, {"r", ""}, {"r", "1"}}, 1000ms);
  ASSERT_TRUE(tokens);
  EXPECT_EQ(*tokens, (std::vector<std::string>{c.token, c.token, "0"}));
  EXPECT_EQ((*renew_rooms(redis, p, "b", 3000ms, {{"r", c.token}}, 1000ms))[0], "0");  // not b's
  // A free room is taken by a renewal with a new, greater token (Redis restarted empty).
  auto fresh = renew_rooms(redis, p, "a", 3000ms, {{"gone", "5"}}, 1000ms);
  ASSERT_TRUE(fresh);
  EXPECT_GT(std::stoll((*fresh)[0]), t1);
  // Release: only by the holder; then placement on another node, whose claim mints a new token.
  EXPECT_FALSE(release_room(redis, p, "r", "b", 1000ms));
  EXPECT_TRUE(release_room(redis, p, "r", "a", 1000ms));
  EXPECT_TRUE(redis.command_sync({"GET", "t:fence:r"}, 1000ms).is_nil());
  Claim placed = place_room(redis, p, "r", "b", 3000ms, 1000ms);
  EXPECT_EQ(placed.holder, "b");
  EXPECT_EQ(place_room(redis, p, "r", "c", 3000ms, 1000ms).holder, "b");  // NX: the first wins
  Claim mine = claim_room(redis, p, "r", "b", 3000ms, false, 1000ms);
  EXPECT_EQ(mine.holder, "b");
  EXPECT_GT(std::stoll(mine.token), std::stoll((*fresh)[0]));

  // Fenced appends: refused under any token but the room's current one.
  peerrtc::Message m;
  m.room = "r";
  m.sender = "x";
  m.data = "hello";
  Reply ok = redis.command_sync(fenced_xadd_argv(p, 100, m, 1, mine.token, 60000), 1000ms);
  EXPECT_TRUE(ok.ok()) << ok.str;
  Reply stale = redis.command_sync(fenced_xadd_argv(p, 100, m, 1, c.token, 60000), 1000ms);
  EXPECT_FALSE(stale.ok());
  EXPECT_EQ(stale.str.rfind("STALE", 0), 0u) << stale.str;
  EXPECT_EQ(redis.command_sync({"XLEN", "t:stream:r"}, 1000ms).integer, 1);
  const long long pttl = redis.command_sync({"PTTL", "t:stream:r"}, 1000ms).integer;
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 60000);
  redis.stop();
}

TEST(Registry, SortedSetListsTheLiveAndTheLastOneOutCleansUp) {
  Server server(free_port());
  Redis redis(url_for(server.port));
  ASSERT_EQ(redis.start(2000ms), "");
  NodeInfo a{"a", "http://127.0.0.1:1", 1, 0, 0, 0}, b{"b", "http://127.0.0.1:2", 2, 3, 4, 0};
  ASSERT_TRUE(register_node(redis, "t:", b, 300ms, 1000ms).ok());
  ASSERT_TRUE(register_node(redis, "t:", a, 3000ms, 1000ms).ok());
  auto nodes = list_nodes(redis, "t:", 1000ms);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].id, "a");
  EXPECT_EQ(nodes[1].rooms, 3u);
  EXPECT_EQ(nodes[1].peers, 4u);
  std::this_thread::sleep_for(400ms);  // b expires
  nodes = list_nodes(redis, "t:", 1000ms);
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].id, "a");
  redis.command_sync({"SET", "t:fence", "5"}, 1000ms);
  deregister_node(redis, "t:", "a", 1000ms);
  EXPECT_TRUE(list_nodes(redis, "t:", 1000ms).empty());
  EXPECT_EQ(redis.command_sync({"EXISTS", "t:nodes", "t:node:a", "t:fence"}, 1000ms).integer, 0);
  redis.stop();
}

// A paused Redis (SIGSTOP): commands past the bounds fail at once and are counted, and the
// watchdog declares the connection lost once the oldest command waited command_timeout.
TEST(RedisClient, BoundsAndWatchdogAgainstAPausedRedis) {
  Server server(free_port());
  RedisLimits limits;
  limits.max_commands = 50;
  limits.max_bytes = 1 << 20;
  limits.command_timeout = 500ms;
  Redis redis(url_for(server.port), limits);
  ASSERT_EQ(redis.start(2000ms), "");
  ::kill(server.pid, SIGSTOP);
  std::atomic<int> failed{0}, full{0};
  for (int i = 0; i < 80; ++i)
    redis.command({"SET", "k", "v"}, [&](const Reply& r) {
      if (!r.ok()) ++failed;
      if (r.str.find("queue full") != std::string::npos) ++full;
    });
  EXPECT_EQ(full.load(), 30);  // refused at once
  EXPECT_EQ(redis.dropped(), 30u);
  Reply big = redis.command_sync({"SET", "k", std::string(2 << 20, 'x')}, 100ms);  // over the bytes bound
  EXPECT_NE(big.str.find("queue full"), std::string::npos) << big.str;
  const auto t0 = std::chrono::steady_clock::now();
  while (failed.load() < 80 && std::chrono::steady_clock::now() - t0 < 3s) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(failed.load(), 80) << "the waiting ones fail when the watchdog trips";
  EXPECT_GE(redis.watchdog_trips(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(redis.in_flight(), 0u);
  ::kill(server.pid, SIGCONT);
  const auto t1 = std::chrono::steady_clock::now();
  Reply r;
  while (std::chrono::steady_clock::now() - t1 < 5s) {
    r = redis.command_sync({"PING"}, 500ms);
    if (r.ok()) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(r.ok()) << r.str;
  redis.stop();
}
