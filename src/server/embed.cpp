// peerrtc::Server (include/peerrtc/server.hpp): the public face of server::App. The types of
// the public header are converted to http::Request/Response at the edge; everything else is
// the App that peerrtc-server runs.
#include "peerrtc/server.hpp"

#include "server/app.hpp"

namespace peerrtc {

HttpResponse HttpResponse::json(int status, const peerrtc::json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse HttpResponse::error(int status, const std::string& message) {
  return json(status, peerrtc::json{{"error", message}});
}

HttpResponse HttpResponse::text(int status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

struct Server::Impl {
  std::unique_ptr<server::App> app;
};

namespace {
server::Options to_options(const ServerOptions& o) {
  server::Options s;
  s.host = o.host;
  s.http_port = o.port;
  s.static_root = o.static_root;
  s.examples = o.examples;
  s.http_threads = o.threads;
  s.max_body_bytes = o.max_body_bytes;
  s.api_key = o.api_key;
  s.block_words = o.block_words;
  s.mask_words = o.mask_words;
  s.metrics_key = o.metrics_key;
  s.cors_origins = o.cors_origins;
  s.rate_limit = o.rate_limit;
  s.rate_burst = o.rate_burst;
  s.rate_limit_loopback = o.rate_limit_loopback;
  return s;
}
}  // namespace

Server::Server(SignalingManager& manager, ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->app = std::make_unique<server::App>(manager, to_options(options));
}

Server::~Server() {
  try {
    stop();
  } catch (...) {
  }
}

void Server::route(const std::string& method, const std::string& path, RouteHandler handler) {
  if (!handler) throw std::invalid_argument("Server::route: empty handler for " + method + " " + path);
  impl_->app->http().route(method, path, [h = std::move(handler), what = method + " " + path](const http::Request& req) {
    return server::guarded(what.c_str(), [&] {
      HttpRequest in{req.method, req.target, req.query, req.body, req.headers, req.remote_ip};
      HttpResponse out = h(in);
      http::Response r;
      r.status = out.status;
      r.content_type = std::move(out.content_type);
      r.body = std::move(out.body);
      r.headers = std::move(out.headers);
      return r;
    });
  });
}

void Server::serve_static(const std::string& prefix, const std::string& directory) {
  impl_->app->http().serve_static(prefix, directory);
}

void Server::start() { impl_->app->start(); }
void Server::stop() { impl_->app->stop(); }
uint16_t Server::port() const { return impl_->app->port(); }

}  // namespace peerrtc
