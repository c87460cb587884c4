#include "http/http.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include <unistd.h>

#pragma GCC diagnostic push
// g++ 12 false positive on boost::optional inside Beast's parser (seen with -fsanitize).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

#include <nlohmann/json.hpp>

namespace http = peerrtc::http;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

http::ServerConfig loopback_config() {
  http::ServerConfig c;
  c.host = "127.0.0.1";
  c.port = 0;
  return c;
}

void add_echo_routes(http::Server& s) {
  s.route("GET", "/hello", [](const http::Request& r) {
    return http::Response::json(200, json{{"hello", "world"}, {"query", r.query}, {"ip", r.remote_ip}}.dump());
  });
  s.route("POST", "/echo", [](const http::Request& r) {
    json in = json::parse(r.body);
    return http::Response::json(200, json{{"echo", in}, {"ct", r.headers.count("content-type") ? r.headers.at("content-type") : ""}}.dump());
  });
  s.route("GET", "/throw", [](const http::Request&) -> http::Response { throw std::runtime_error("boom"); });
}

// A raw client socket to the server, for keep-alive and malformed-request tests.
struct RawClient {
  asio::io_context ioc;
  tcp::socket sock{ioc};
  beast::flat_buffer buf;

  explicit RawClient(uint16_t port) { sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port)); }

  void send_raw(const std::string& data) { asio::write(sock, asio::buffer(data)); }

  bhttp::response<bhttp::string_body> read_response() {
    bhttp::response<bhttp::string_body> res;
    bhttp::read(sock, buf, res);
    return res;
  }

  // True if the peer closed the connection (EOF/reset) within `within`.
  bool closed_by_peer(std::chrono::milliseconds within) {
    sock.non_blocking(true);
    auto deadline = std::chrono::steady_clock::now() + within;
    char c;
    while (std::chrono::steady_clock::now() < deadline) {
      boost::system::error_code ec;
      auto n = sock.read_some(asio::buffer(&c, 1), ec);
      if (ec == asio::error::would_block) {
        std::this_thread::sleep_for(10ms);
        continue;
      }
      if (ec) return true;  // eof or reset
      (void)n;              // unexpected data; keep going
    }
    return false;
  }
};

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("peerrtc_http_test_" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  void write(const std::string& rel, const std::string& content) const {
    auto p = path / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }
};

}  // namespace

TEST(Http, GetAndPostJsonEcho) {
  http::Server s(loopback_config());
  add_echo_routes(s);
  s.start();
  ASSERT_NE(s.port(), 0);

  auto r = http::request("127.0.0.1", s.port(), "GET", "/hello?x=1&y=2");
  EXPECT_EQ(r.status, 200);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["hello"], "world");
  EXPECT_EQ(j["query"], "x=1&y=2");
  EXPECT_EQ(j["ip"], "127.0.0.1");

  auto p = http::request("127.0.0.1", s.port(), "POST", "/echo", R"({"a":[1,2,3],"b":"\"quoted\""})");
  EXPECT_EQ(p.status, 200);
  auto pj = json::parse(p.body);
  EXPECT_EQ(pj["echo"]["a"], json::array({1, 2, 3}));
  EXPECT_EQ(pj["echo"]["b"], "\"quoted\"");
  EXPECT_EQ(pj["ct"], "application/json");
}

// The client's extra headers (node-to-node forwarding in a cluster) reach the handler, with
// lower-case names.
TEST(HttpClient, SendsExtraHeaders) {
  http::Server s(loopback_config());
  s.route("GET", "/h", [](const http::Request& req) {
    auto it = req.headers.find("x-peerrtc-forwarded");
    return http::Response::json(200, json{{"fwd", it == req.headers.end() ? "" : it->second}}.dump());
  });
  s.start();
  auto r = http::request("127.0.0.1", s.port(), "GET", "/h", {}, std::chrono::seconds(5),
                         {{"X-PeerRTC-Forwarded", "node-7"}});
  EXPECT_EQ(json::parse(r.body)["fwd"], "node-7");
  r = http::request("127.0.0.1", s.port(), "GET", "/h");
  EXPECT_EQ(json::parse(r.body)["fwd"], "");
}

TEST(Http, NotFoundAndMethodNotAllowed) {
  http::Server s(loopback_config());
  add_echo_routes(s);
  s.start();

  auto r = http::request("127.0.0.1", s.port(), "GET", "/x");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["error"], "not found: /x");

  // A path with a quote must still give valid JSON.
  auto q = http::request("127.0.0.1", s.port(), "GET", "/a\"b");
  EXPECT_EQ(q.status, 404);
  EXPECT_EQ(json::parse(q.body)["error"], "not found: /a\"b");

  auto m = http::request("127.0.0.1", s.port(), "DELETE", "/echo");
  EXPECT_EQ(m.status, 405);
  EXPECT_TRUE(json::parse(m.body).contains("error"));

  // Allow header and JSON headers, via a raw request.
  RawClient c(s.port());
  c.send_raw("PUT /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  auto res = c.read_response();
  EXPECT_EQ(res.result_int(), 405u);
  EXPECT_NE(std::string(res[bhttp::field::allow]).find("GET"), std::string::npos);
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
  EXPECT_EQ(res[bhttp::field::cache_control], "no-store");
  EXPECT_EQ(res[bhttp::field::access_control_allow_origin], "*");
  EXPECT_EQ(res[bhttp::field::content_length], std::to_string(res.body().size()));
}

TEST(Http, OptionsPreflight) {
  http::Server s(loopback_config());
  add_echo_routes(s);
  s.start();
  RawClient c(s.port());
  c.send_raw(
      "OPTIONS /echo HTTP/1.1\r\nHost: x\r\nOrigin: http://a\r\nAccess-Control-Request-Method: POST\r\n"
      "Access-Control-Request-Headers: content-type\r\n\r\n");
  auto res = c.read_response();
  EXPECT_EQ(res.result_int(), 204u);
  EXPECT_EQ(res[bhttp::field::access_control_allow_origin], "*");
  EXPECT_NE(std::string(res[bhttp::field::access_control_allow_methods]).find("POST"), std::string::npos);
  EXPECT_EQ(res[bhttp::field::access_control_allow_headers], "content-type");
  // Keep-alive still works after a 204 (no body).
  c.send_raw("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read_response().result_int(), 200u);
}

TEST(Http, BodyTooLarge) {
  auto cfg = loopback_config();
  cfg.max_body_bytes = 1024;
  http::Server s(cfg);
  add_echo_routes(s);
  s.start();

  // A body far larger than the socket buffers: the server must still answer 413 readably.
  std::string big = "\"" + std::string(4 * 1024 * 1024, 'a') + "\"";
  auto r = http::request("127.0.0.1", s.port(), "POST", "/echo", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body)["error"],
            "request body too large (" + std::to_string(big.size()) + " bytes, max 1024)");

  // Small body still fine.
  auto ok = http::request("127.0.0.1", s.port(), "POST", "/echo", "[1]");
  EXPECT_EQ(ok.status, 200);

  // Chunked body over the limit.
  RawClient c(s.port());
  std::string chunk(2000, 'x');
  std::ostringstream msg;
  msg << "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" << std::hex << chunk.size()
      << "\r\n" << chunk << "\r\n0\r\n\r\n";
  c.send_raw(msg.str());
  auto res = c.read_response();
  EXPECT_EQ(res.result_int(), 413u);
  EXPECT_TRUE(json::parse(res.body()).contains("error"));
}

TEST(Http, HandlerExceptionGives500) {
  http::Server s(loopback_config());
  add_echo_routes(s);
  s.start();
  auto r = http::request("127.0.0.1", s.port(), "GET", "/throw");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(json::parse(r.body)["error"], "internal error");
  // Bad JSON in /echo throws from json::parse -> 500 as well; the server keeps working.
  EXPECT_EQ(http::request("127.0.0.1", s.port(), "POST", "/echo", "{not json").status, 500);
  EXPECT_EQ(http::request("127.0.0.1", s.port(), "GET", "/hello").status, 200);
}

TEST(Http, StaticFiles) {
  TempDir dir;
  dir.write("index.html", "<html>root</html>");
  dir.write("app.js", "console.log(1);");
  dir.write("mod.mjs", "export {};");
  dir.write("style.css", "body{}");
  dir.write("data.json", "{\"k\":1}");
  dir.write("types.d.ts", "export type X = 1;");
  dir.write("sub/index.html", "<html>sub</html>");
  dir.write("sub/img.svg", "<svg/>");
  TempDir outside;
  outside.write("secret.txt", "TOPSECRETCONTENT");

  http::Server s(loopback_config());
  add_echo_routes(s);
  s.serve_static("/", dir.path.string());
  s.start();

  auto root = http::request("127.0.0.1", s.port(), "GET", "/");
  EXPECT_EQ(root.status, 200);
  EXPECT_EQ(root.body, "<html>root</html>");
  EXPECT_EQ(http::request("127.0.0.1", s.port(), "GET", "/sub").body, "<html>sub</html>");
  EXPECT_EQ(http::request("127.0.0.1", s.port(), "GET", "/sub/").body, "<html>sub</html>");
  // Routes take precedence over static files.
  EXPECT_EQ(http::request("127.0.0.1", s.port(), "GET", "/hello").status, 200);

  RawClient c(s.port());
  auto get = [&](const std::string& target) {
    c.send_raw("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    return c.read_response();
  };
  auto js = get("/app.js");
  EXPECT_EQ(js.result_int(), 200u);
  EXPECT_EQ(js.body(), "console.log(1);");
  EXPECT_EQ(js[bhttp::field::content_type], "text/javascript; charset=utf-8");
  EXPECT_EQ(get("/mod.mjs")[bhttp::field::content_type], "text/javascript; charset=utf-8");
  EXPECT_EQ(get("/style.css")[bhttp::field::content_type], "text/css; charset=utf-8");
  EXPECT_EQ(get("/data.json")[bhttp::field::content_type], "application/json");
  EXPECT_EQ(get("/types.d.ts").result_int(), 200u);
  EXPECT_EQ(get("/sub/img.svg")[bhttp::field::content_type], "image/svg+xml");
  EXPECT_EQ(get("/index.html")[bhttp::field::content_type], "text/html; charset=utf-8");

  auto missing = get("/nope.js");
  EXPECT_EQ(missing.result_int(), 404u);
  EXPECT_TRUE(json::parse(missing.body()).contains("error"));

  // Traversal attempts: raw, percent-encoded, NUL.
  const std::string rel_outside = "/../" + outside.path.filename().string() + "/secret.txt";
  for (const std::string& t : {rel_outside, std::string("/sub/../../etc/passwd"), std::string("/%2e%2e/etc/passwd"),
                               std::string("/sub/%2E%2E/%2e%2e/etc/passwd"), std::string("/index.html%00.js")}) {
    auto r = get(t);
    EXPECT_TRUE(r.result_int() == 400u || r.result_int() == 404u) << t << " -> " << r.result_int();
    EXPECT_EQ(r.body().find("TOPSECRETCONTENT"), std::string::npos);
    EXPECT_TRUE(json::parse(r.body()).contains("error"));
  }

  // HEAD: headers only.
  c.send_raw("HEAD /app.js HTTP/1.1\r\nHost: x\r\n\r\n");
  bhttp::response_parser<bhttp::string_body> hp;
  hp.skip(true);
  bhttp::read(c.sock, c.buf, hp);
  EXPECT_EQ(hp.get().result_int(), 200u);
  EXPECT_EQ(hp.get()[bhttp::field::content_length], "15");
  EXPECT_TRUE(hp.get().body().empty());
  // ...and the connection is still in sync afterwards.
  EXPECT_EQ(get("/app.js").body(), "console.log(1);");

  // POST on a static path: 405.
  EXPECT_EQ(http::request("127.0.0.1", s.port(), "POST", "/app.js", "{}").status, 405);
}

TEST(Http, StaticUnderPrefix) {
  TempDir dir;
  dir.write("index.html", "ui");
  dir.write("a.png", "PNG");
  http::Server s(loopback_config());
  s.serve_static("/ui/", dir.path.string());
  s.start();
  EXPECT_EQ(http::request("127.0.0.1", s.port(), "GET", "/ui").body, "ui");
  EXPECT_EQ(http::request("127.0.0.1", s.port(), "GET", "/ui/").body, "ui");
  EXPECT_EQ(http::request("127.0.0.1", s.port(), "GET", "/ui/a.png").body, "PNG");
  EXPECT_EQ(http::request("127.0.0.1", s.port(), "GET", "/uix").status, 404);
  EXPECT_EQ(http::request("127.0.0.1", s.port(), "GET", "/").status, 404);
}

TEST(Http, KeepAliveSeveralRequestsOnOneConnection) {
  std::atomic<int> calls{0};
  http::Server s(loopback_config());
  s.route("POST", "/count", [&](const http::Request& r) {
    ++calls;
    return http::Response::json(200, json{{"n", r.body.size()}}.dump());
  });
  add_echo_routes(s);
  s.start();

  RawClient c(s.port());
  for (int i = 0; i < 10; ++i) {
    std::string body(static_cast<size_t>(i), 'z');
    c.send_raw("POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    auto res = c.read_response();
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_TRUE(res.keep_alive());
    EXPECT_EQ(json::parse(res.body())["n"], i);
  }
  // Pipelined: two requests in one write.
  c.send_raw("GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read_response().result_int(), 200u);
  EXPECT_EQ(c.read_response().result_int(), 404u);
  EXPECT_EQ(calls.load(), 10);

  // Connection: close is honoured.
  c.send_raw("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto last = c.read_response();
  EXPECT_FALSE(last.keep_alive());
  EXPECT_TRUE(c.closed_by_peer(3s));
}

TEST(Http, ReadTimeoutDropsIdleConnection) {
  auto cfg = loopback_config();
  cfg.read_timeout = std::chrono::seconds(1);
  http::Server s(cfg);
  add_echo_routes(s);
  s.start();

  RawClient idle(s.port());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle.closed_by_peer(5s));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(elapsed, 800ms);
  EXPECT_LT(elapsed, 4s);

  // A client that sends half a request is dropped too.
  RawClient half(s.port());
  half.send_raw("GET /hello HTTP/1.1\r\nHost:");
  EXPECT_TRUE(half.closed_by_peer(5s));

  // The server still serves.
  EXPECT_EQ(http::request("127.0.0.1", s.port(), "GET", "/hello").status, 200);
}

TEST(Http, StopWithOpenConnectionReturnsPromptly) {
  auto s = std::make_unique<http::Server>(loopback_config());  // read_timeout 15 s
  add_echo_routes(*s);
  s->start();
  RawClient idle(s->port());
  RawClient used(s->port());
  used.send_raw("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(used.read_response().result_int(), 200u);
  std::this_thread::sleep_for(50ms);

  auto t0 = std::chrono::steady_clock::now();
  s->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_TRUE(idle.closed_by_peer(2s));
  EXPECT_TRUE(used.closed_by_peer(2s));
  s->stop();  // idempotent
  s.reset();  // destructor after stop
}

TEST(Http, DestructorStops) {
  uint16_t port;
  {
    http::Server s(loopback_config());
    add_echo_routes(s);
    s.start();
    port = s.port();
    RawClient idle(port);
    (void)idle;
  }
  EXPECT_THROW(http::request("127.0.0.1", port, "GET", "/hello", {}, 1s), std::runtime_error);
}

TEST(Http, BindingBusyPortThrows) {
  http::Server a(loopback_config());
  a.start();
  auto cfg = loopback_config();
  cfg.port = a.port();
  http::Server b(cfg);
  try {
    b.start();
    FAIL() << "expected start() to throw";
  } catch (const std::runtime_error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind("cannot listen on 127.0.0.1:" + std::to_string(a.port()) + ": ", 0), 0u) << msg;
  }
  // Bad address.
  auto bad = loopback_config();
  bad.host = "not-an-ip";
  http::Server c(bad);
  EXPECT_THROW(c.start(), std::runtime_error);
}

TEST(Http, Ipv6Loopback) {
  // Skip only when the machine has no IPv6 loopback (a plain socket cannot bind ::1), never
  // because the server failed to: that is a failure.
  {
    asio::io_context io;
    boost::system::error_code ec;
    tcp::acceptor probe(io);
    probe.open(tcp::v6(), ec);
    if (!ec) probe.bind(tcp::endpoint(asio::ip::make_address("::1"), 0), ec);
    if (ec) GTEST_SKIP() << "no IPv6 loopback on this machine: " << ec.message();
  }
  auto cfg = loopback_config();
  cfg.host = "::1";
  http::Server s(cfg);
  add_echo_routes(s);
  s.start();
  auto r = http::request("::1", s.port(), "GET", "/hello");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["ip"], "::1");
}

TEST(Http, MalformedRequestGives400AndCloses) {
  http::Server s(loopback_config());
  add_echo_routes(s);
  s.start();
  for (const std::string& junk : {std::string("GARBAGE\r\n\r\n"), std::string("GET /hello NOTHTTP\r\n\r\n"),
                                  std::string("GET /hello HTTP/1.1\r\nBad Header\r\n\r\n")}) {
    RawClient c(s.port());
    c.send_raw(junk);
    auto res = c.read_response();
    EXPECT_EQ(res.result_int(), 400u) << junk;
    EXPECT_TRUE(json::parse(res.body()).contains("error"));
    EXPECT_FALSE(res.keep_alive());
    EXPECT_TRUE(c.closed_by_peer(3s));
  }
}

TEST(Http, OversizedHeadersRejected) {
  http::Server s(loopback_config());
  add_echo_routes(s);
  s.start();
  RawClient c(s.port());
  c.send_raw("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(16 * 1024, 'h') + "\r\n\r\n");
  auto res = c.read_response();
  EXPECT_EQ(res.result_int(), 431u);
  EXPECT_TRUE(c.closed_by_peer(3s));
}

TEST(Http, ConcurrentClients) {
  auto cfg = loopback_config();
  cfg.threads = 4;
  http::Server s(cfg);
  std::atomic<int> handled{0};
  s.route("POST", "/add", [&](const http::Request& r) {
    ++handled;
    auto j = json::parse(r.body);
    return http::Response::json(200, json{{"sum", j["a"].get<int>() + j["b"].get<int>()}}.dump());
  });
  s.start();

  constexpr int kThreads = 8;
  constexpr int kRequests = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        try {
          auto r = http::request("127.0.0.1", s.port(), "POST", "/add", json{{"a", t}, {"b", i}}.dump());
          if (r.status == 200 && json::parse(r.body)["sum"] == t + i) ++ok;
        } catch (const std::exception&) {
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kRequests);
  EXPECT_EQ(handled.load(), kThreads * kRequests);
}

TEST(HttpClient, ConnectionRefusedAndTimeout) {
  // Find a free port, then close it.
  uint16_t port;
  {
    http::Server s(loopback_config());
    s.start();
    port = s.port();
  }
  try {
    http::request("127.0.0.1", port, "GET", "/", {}, 2s);
    FAIL() << "expected throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("connect"), std::string::npos) << e.what();
  }

  // A server that accepts but never answers: timeout.
  http::Server slow(loopback_config());
  slow.route("GET", "/slow", [](const http::Request&) {
    std::this_thread::sleep_for(1500ms);
    return http::Response::json(200, "{}");
  });
  slow.start();
  auto t0 = std::chrono::steady_clock::now();
  try {
    http::request("127.0.0.1", slow.port(), "GET", "/slow", {}, 300ms);
    FAIL() << "expected timeout";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1200ms);
}

TEST(Http, ExpectContinue) {
  auto cfg = loopback_config();
  cfg.max_body_bytes = 64;
  http::Server s(cfg);
  add_echo_routes(s);
  s.route("GET", "/headers", [](const http::Request&) {
    http::Response r = http::Response::json(200, "{}");
    r.headers["X-Extra"] = "1";
    r.headers["X-Bad"] = "a\r\nInjected: yes";
    return r;
  });
  s.start();

  RawClient c(s.port());
  c.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(c.read_response().result_int(), 100u);
  c.send_raw("[1,2,3]");
  auto res = c.read_response();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(json::parse(res.body())["echo"], json::array({1, 2, 3}));

  // Over the limit: 413 straight away, without waiting for the body.
  c.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n");
  auto big = c.read_response();
  EXPECT_EQ(big.result_int(), 413u);
  EXPECT_EQ(json::parse(big.body())["error"], "request body too large (1000 bytes, max 64)");

  // Extra handler headers pass through; ones with CR/LF are dropped.
  RawClient h(s.port());
  h.send_raw("GET /headers HTTP/1.1\r\nHost: x\r\n\r\n");
  auto hr = h.read_response();
  EXPECT_EQ(hr[beast::string_view("X-Extra")], "1");
  EXPECT_EQ(hr.count(beast::string_view("X-Bad")), 0u);
  EXPECT_EQ(hr.count(beast::string_view("Injected")), 0u);
}

// Server::divert: a connection whose first bytes match is handed over (descriptor + the bytes
// already read); everything else stays HTTP, including a request whose first bytes arrive one
// at a time, and keep-alive requests after the first.
TEST(Http, DivertHandsOverMatchingConnectionsOnly) {
  http::Server s(loopback_config());
  add_echo_routes(s);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<int, std::string>> taken;
  s.divert({4, 300ms, [](std::string_view head) { return head.size() >= 4 && head[2] == 0 && head[3] == 1; },
            [&](int fd, std::string first) {
              std::lock_guard lock(mu);
              taken.emplace_back(fd, std::move(first));
              cv.notify_all();
            }});
  s.start();

  // A framed STUN-like start, sent in two pieces: diverted with every byte read so far.
  RawClient ice(s.port());
  ice.send_raw(std::string("\x00\x14", 2));
  std::this_thread::sleep_for(20ms);
  ice.send_raw(std::string("\x00\x01\x00\x00\x21\x12", 6));
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return taken.size() == 1; }));
  }
  EXPECT_EQ(taken[0].second.substr(0, 4), std::string("\x00\x14\x00\x01", 4));
  // The descriptor is ours and live: write through it, the client reads it.
  ASSERT_EQ(::write(taken[0].first, "pong", 4), 4);
  char buf[4] = {};
  asio::read(ice.sock, asio::buffer(buf, 4));
  EXPECT_EQ(std::string(buf, 4), "pong");
  ::close(taken[0].first);
  EXPECT_TRUE(ice.closed_by_peer(2s));

  // HTTP, byte by byte at first, then keep-alive: not diverted.
  RawClient web(s.port());
  const std::string req = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  for (char c : req.substr(0, 3)) {
    web.send_raw(std::string(1, c));
    std::this_thread::sleep_for(5ms);
  }
  web.send_raw(req.substr(3));
  EXPECT_EQ(web.read_response().result_int(), 200);
  web.send_raw(std::string("\x00\x14\x00\x01", 4) + req);  // later bytes are never sniffed
  EXPECT_EQ(web.read_response().result_int(), 400);
  // A connection that says nothing is closed after the sniff timeout, not the read timeout.
  RawClient silent(s.port());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(silent.closed_by_peer(5s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  std::lock_guard lock(mu);
  EXPECT_EQ(taken.size(), 1u);
}

// SO_REUSEPORT (peerrtc-server --workers): two servers, one port, connections spread over both;
// a server without it cannot join them. Each answers with its own name.
TEST(Http, ReusePortSharesOnePortBetweenServers) {
  auto named = [](const std::string& name, uint16_t port, bool reuse) {
    auto cfg = loopback_config();
    cfg.port = port;
    cfg.reuse_port = reuse;
    auto s = std::make_unique<http::Server>(cfg);
    s->route("GET", "/who", [name](const http::Request&) { return http::Response::json(200, json{{"who", name}}.dump()); });
    s->start();
    return s;
  };
  auto a = named("a", 0, true);
  auto b = named("b", a->port(), true);
  EXPECT_EQ(b->port(), a->port());
  EXPECT_THROW(named("c", a->port(), false), std::runtime_error);  // not in the group: refused
  std::map<std::string, int> seen;
  for (int i = 0; i < 64 && seen.size() < 2; ++i) {
    auto r = http::request("127.0.0.1", a->port(), "GET", "/who");
    ASSERT_EQ(r.status, 200);
    seen[json::parse(r.body)["who"]]++;
  }
  EXPECT_EQ(seen.size(), 2u) << "64 connections all landed on one server";
  // One stops: the other takes every new connection.
  a->stop();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(json::parse(http::request("127.0.0.1", b->port(), "GET", "/who").body)["who"], "b");
}

// more_listeners: the same routes on a second port; the diversion stays on the main one.
TEST(Http, MoreListenersServeTheSameRoutesWithoutDiversion) {
  auto cfg = loopback_config();
  cfg.more_listeners.push_back({"127.0.0.1", 0, true});
  http::Server s(cfg);
  add_echo_routes(s);
  std::atomic<int> taken{0};
  s.divert({4, 300ms, [](std::string_view head) { return head.size() >= 4 && head[2] == 0 && head[3] == 1; },
            [&](int fd, std::string) {
              ::close(fd);
              ++taken;
            }});
  s.start();
  ASSERT_NE(s.listener_port(0), 0);
  ASSERT_NE(s.listener_port(0), s.port());
  EXPECT_THROW(s.listener_port(1), std::out_of_range);
  for (uint16_t p : {s.port(), s.listener_port(0)}) EXPECT_EQ(http::request("127.0.0.1", p, "GET", "/hello").status, 200);
  // STUN-like bytes on the extra listener: HTTP's 400, not handed over.
  RawClient extra(s.listener_port(0));
  extra.send_raw(std::string("\x00\x14\x00\x01", 4) + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(extra.read_response().result_int(), 400);
  RawClient main(s.port());
  main.send_raw(std::string("\x00\x14\x00\x01\x00\x00", 6));
  EXPECT_TRUE(main.closed_by_peer(2s));
  EXPECT_EQ(taken.load(), 1);
  // A busy extra port fails start() with the port in the message, and nothing stays bound.
  auto busy = loopback_config();
  busy.more_listeners.push_back({"127.0.0.1", s.port(), false});
  http::Server t(busy);
  try {
    t.start();
    FAIL() << "expected start() to throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(":" + std::to_string(s.port()) + ": "), std::string::npos) << e.what();
  }
  s.stop();
}
