// A ThreadSanitizer check of cluster::Redis with Sentinel (not a test stage: run by hand with
// tests/chaos/tsan/run.sh): other threads read the master address (url(), start()'s timed-out
// message) while the Redis thread rewrites it (ask_sentinels, +switch-master) during two
// SENTINEL FAILOVERs. Expected: no ThreadSanitizer warning, both failovers followed.
//
//   usage: redis_sentinel SENTINEL_PORT SECONDS
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include "cluster/redis.hpp"
using namespace peerrtc::cluster;
int main(int argc, char** argv) {
  std::string url = std::string("sentinel://127.0.0.1:") + argv[1] + "/m";
  auto parsed = parse_redis_url(url);
  Redis r(*parsed.url);
  std::printf("start: '%s'\n", r.start(std::chrono::seconds(5)).c_str());
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    size_t n = 0, len = 0;
    while (!stop) {
      len += r.url().to_string().size();
      Reply x = r.command_sync({"SET", "tsan", "v"}, std::chrono::milliseconds(200));
      n += x.ok();
      // A client whose start() times out while its Redis thread asks the sentinels.
      Redis quick(*parsed.url);
      (void)quick.start(std::chrono::milliseconds(1));
      quick.stop();
    }
    std::printf("reader: %zu ok writes, %zu chars\n", n, len);
  });
  std::this_thread::sleep_for(std::chrono::seconds(std::atoi(argv[2])));
  stop = true;
  reader.join();
  std::printf("final master: %s\n", r.url().to_string().c_str());
  r.stop();
}
