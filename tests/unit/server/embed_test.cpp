// peerrtc::Server (include/peerrtc/server.hpp), the public embeddable HTTP server, over real
// loopback HTTP: the built-in routes answer, an application's own routes run with the request
// as sent, and what a route throws is answered for it.
#include <gtest/gtest.h>

#include <peerrtc/server.hpp>

#include "http/http.hpp"

namespace {

TEST(EmbeddedServer, BuiltInRoutesAndOwnRoutes) {
  peerrtc::Config config;
  config.udp_bind = "127.0.0.1";
  config.udp_port = 0;
  peerrtc::SignalingManager manager(config);
  peerrtc::ServerOptions options;
  options.port = 0;
  options.examples = false;
  peerrtc::Server server(manager, options);
  server.route("POST", "/hello", [](const peerrtc::HttpRequest& req) {
    auto r = peerrtc::HttpResponse::json(201, {{"method", req.method}, {"path", req.path}, {"query", req.query},
                                               {"body", req.body}, {"agent", req.headers.count("x-test") ? req.headers.at("x-test") : ""}});
    r.headers["X-Reply"] = "yes";
    return r;
  });
  server.route("GET", "/refused", [](const peerrtc::HttpRequest&) -> peerrtc::HttpResponse {
    throw peerrtc::ApiError(409, "not now");
  });
  server.route("GET", "/broken", [](const peerrtc::HttpRequest&) -> peerrtc::HttpResponse {
    throw std::runtime_error("a bug");
  });
  server.route("GET", "/text", [](const peerrtc::HttpRequest&) { return peerrtc::HttpResponse::text(200, "plain"); });
  EXPECT_THROW(server.route("GET", "/empty", {}), std::invalid_argument);
  server.start();
  const uint16_t port = server.port();
  ASSERT_NE(port, 0);

  auto get = [&](const std::string& method, const std::string& target, const std::string& body = {}) {
    return peerrtc::http::request("127.0.0.1", port, method, target, body, std::chrono::seconds(5), {{"X-Test", "t"}});
  };
  auto hello = get("POST", "/hello?a=1", "hi");
  EXPECT_EQ(hello.status, 201);
  auto j = peerrtc::json::parse(hello.body);
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["path"], "/hello");
  EXPECT_EQ(j["query"], "a=1");
  EXPECT_EQ(j["body"], "hi");
  EXPECT_EQ(j["agent"], "t");
  EXPECT_EQ(get("GET", "/refused").status, 409);
  auto broken = get("GET", "/broken");
  EXPECT_EQ(broken.status, 500);
  EXPECT_NE(broken.body.find("a bug"), std::string::npos) << broken.body;
  EXPECT_EQ(get("GET", "/text").body, "plain");
  // The signaling routes of the manager, and the rest of the HTTP application.
  auto offer = get("POST", "/offer", "{}");
  EXPECT_EQ(offer.status, 400);
  EXPECT_NE(offer.body.find("\"error\""), std::string::npos) << offer.body;
  auto cfg = get("GET", "/config");
  EXPECT_EQ(cfg.status, 200);
  EXPECT_TRUE(peerrtc::json::parse(cfg.body).contains("iceServers")) << cfg.body;
  EXPECT_EQ(get("GET", "/health").status, 200);
  EXPECT_EQ(get("GET", "/nope").status, 404);
  server.stop();
  server.stop();  // idempotent
  manager.shutdown();
}

TEST(EmbeddedServer, LogLevelIsCheckedNotGuessed) {
  EXPECT_NO_THROW(peerrtc::set_log_level("warn"));
  EXPECT_THROW(peerrtc::set_log_level("loud"), std::invalid_argument);
  peerrtc::set_log_level("info");
}

}  // namespace
