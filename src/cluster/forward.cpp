// See forward.hpp.
#include "cluster/forward.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <nlohmann/json.hpp>

namespace peerrtc::cluster {

namespace {

std::string hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(d[p[i] >> 4]);
    out.push_back(d[p[i] & 15]);
  }
  return out;
}

std::string sha256_hex(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr);
  return hex(md, n);
}

std::string mac_hex(std::string_view secret, std::string_view node, std::string_view method, std::string_view target,
                    std::string_view body, int64_t t) {
  std::string msg = "peerrtc-forward-v1\n";
  msg.append(node).append("\n").append(method).append("\n").append(target).append("\n");
  msg += sha256_hex(body) + "\n" + std::to_string(t);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), md, &n);
  return hex(md, n);
}

std::string full_target(const http::Request& req) { return req.target + (req.query.empty() ? "" : "?" + req.query); }

}  // namespace

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string sign_forward(std::string_view secret, std::string_view node, std::string_view method,
                         std::string_view target, std::string_view body, int64_t unix_ms) {
  return "v1 t=" + std::to_string(unix_ms) + " sig=" + mac_hex(secret, node, method, target, body, unix_ms);
}

std::string verify_forward(std::string_view secret, std::string_view node, std::string_view signature,
                           std::string_view method, std::string_view target, std::string_view body, int64_t now_ms,
                           std::chrono::milliseconds window) {
  if (secret.empty()) return "this node has no cluster secret";
  if (signature.empty()) return "missing " + std::string(kSignatureHeader);
  constexpr std::string_view v1 = "v1 t=";
  if (signature.substr(0, v1.size()) != v1) return "signature must be 'v1 t=<unix ms> sig=<hex>'";
  std::string_view rest = signature.substr(v1.size());
  size_t sp = rest.find(" sig=");
  if (sp == std::string_view::npos) return "signature must be 'v1 t=<unix ms> sig=<hex>'";
  std::string_view ts = rest.substr(0, sp), sig = rest.substr(sp + 5);
  int64_t t = 0;
  auto [p, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), t);
  if (ts.empty() || ec != std::errc() || p != ts.data() + ts.size()) return "bad signature time";
  if (t < now_ms - window.count() || t > now_ms + window.count())
    return "signature time is " + std::to_string((t - now_ms) / 1000) + " s from this node's clock (window " +
           std::to_string(window.count() / 1000) + " s)";
  const std::string want = mac_hex(secret, node, method, target, body, t);
  if (sig.size() != want.size() || CRYPTO_memcmp(sig.data(), want.data(), want.size()) != 0)
    return "bad signature (another cluster secret?)";
  return "";
}

ForwardOrigin forward_origin(std::string_view secret, const http::Request& req) {
  ForwardOrigin o;
  auto it = req.headers.find("x-peerrtc-forwarded");
  if (it == req.headers.end()) return o;
  auto sig = req.headers.find("x-peerrtc-signature");
  o.node = it->second;
  o.why = verify_forward(secret, o.node, sig == req.headers.end() ? std::string_view{} : std::string_view(sig->second),
                         req.method, full_target(req), req.body, unix_ms_now());
  o.kind = o.why.empty() ? ForwardOrigin::Kind::Node : ForwardOrigin::Kind::Forged;
  return o;
}

http::Response forged_response(const ForwardOrigin& o) {
  nlohmann::json body{{"error", "refused a request claiming to come from node '" + o.node + "': " + o.why},
                      {"code", "bad_forward_auth"}};
  return http::Response::json(401, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::optional<http::ClientResponse> Forwarder::send(const std::string& host, uint16_t port, const std::string& method,
                                                    const std::string& target, const std::string& body,
                                                    std::chrono::milliseconds timeout,
                                                    std::map<std::string, std::string> headers) {
  if (in_flight_.fetch_add(1) >= opts_.max_in_flight) {
    in_flight_.fetch_sub(1);
    busy_.fetch_add(1);
    return std::nullopt;
  }
  struct Release {
    std::atomic<size_t>& n;
    ~Release() { n.fetch_sub(1); }
  } release{in_flight_};
  headers[kForwardedHeader] = opts_.node_id;
  headers[kSignatureHeader] = sign_forward(opts_.secret, opts_.node_id, method, target, body, unix_ms_now());
  try {
    auto r = http::request(host, port, method, target, body, timeout, headers, opts_.connect_timeout);
    sent_.fetch_add(1);
    return r;
  } catch (...) {
    failed_.fetch_add(1);
    throw;
  }
}

}  // namespace peerrtc::cluster
