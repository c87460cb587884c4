// See forward.hpp.
#include "cluster/forward.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <stdexcept>
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
                    std::string_view body, int64_t t, std::string_view nonce) {
  std::string msg = "peerrtc-forward-v2\n";
  msg.append(node).append("\n").append(method).append("\n").append(target).append("\n");
  msg += sha256_hex(body) + "\n" + std::to_string(t) + "\n";
  msg.append(nonce);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), md, &n);
  return hex(md, n);
}

std::string forward_full_target(const http::Request& req) { return req.target + (req.query.empty() ? "" : "?" + req.query); }

}  // namespace

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string sign_forward(std::string_view secret, std::string_view node, std::string_view method,
                         std::string_view target, std::string_view body, int64_t unix_ms, std::string_view nonce) {
  return "v2 t=" + std::to_string(unix_ms) + " n=" + std::string(nonce) +
         " sig=" + mac_hex(secret, node, method, target, body, unix_ms, nonce);
}

std::string random_nonce() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("RAND_bytes failed");
  return hex(b, sizeof b);
}

std::string verify_forward(std::string_view secret, std::string_view node, std::string_view signature,
                           std::string_view method, std::string_view target, std::string_view body, int64_t now_ms,
                           std::chrono::milliseconds window, int64_t* time_ms) {
  static const std::string form = "signature must be 'v2 t=<unix ms> n=<32 hex> sig=<hex>'";
  if (secret.empty()) return "this node has no cluster secret";
  if (signature.empty()) return "missing " + std::string(kSignatureHeader);
  if (signature.substr(0, 3) == "v1 ") return "signature v1 (no nonce) is no longer accepted; " + form;
  constexpr std::string_view v2 = "v2 t=";
  if (signature.substr(0, v2.size()) != v2) return form;
  std::string_view rest = signature.substr(v2.size());
  size_t np = rest.find(" n=");
  if (np == std::string_view::npos) return form;
  std::string_view ts = rest.substr(0, np);
  rest = rest.substr(np + 3);
  size_t sp = rest.find(" sig=");
  if (sp == std::string_view::npos) return form;
  std::string_view nonce = rest.substr(0, sp), sig = rest.substr(sp + 5);
  int64_t t = 0;
  auto [p, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), t);
  if (ts.empty() || ec != std::errc() || p != ts.data() + ts.size()) return "bad signature time";
  if (nonce.size() != 32 ||
      nonce.find_first_not_of("0123456789abcdef") != std::string_view::npos)
    return "bad signature nonce (32 lowercase hex digits)";
  if (t < now_ms - window.count() || t > now_ms + window.count())
    return "signature time is " + std::to_string((t - now_ms) / 1000) + " s from this node's clock (window " +
           std::to_string(window.count() / 1000) + " s)";
  const std::string want = mac_hex(secret, node, method, target, body, t, nonce);
  if (sig.size() != want.size() || CRYPTO_memcmp(sig.data(), want.data(), want.size()) != 0)
    return "bad signature (another cluster secret?)";
  if (time_ms) *time_ms = t;
  return "";
}

void ReplayCache::purge(int64_t now_ms) {
  while (!expiry_.empty() && expiry_.top().first < now_ms) {
    auto it = seen_.find(expiry_.top().second);
    if (it != seen_.end() && it->second == expiry_.top().first) seen_.erase(it);
    expiry_.pop();
  }
}

ReplayCache::Result ReplayCache::check(std::string_view key, int64_t t_ms, int64_t now_ms) {
  std::lock_guard lock(m_);
  purge(now_ms);
  std::string k(key);
  if (seen_.count(k)) return Result::Replayed;
  if (seen_.size() >= max_) return Result::Full;
  // Kept until verify_forward refuses the signature on its time alone (+1 ms: the bound is inclusive).
  const int64_t expiry = t_ms + window_ + 1;
  seen_.emplace(k, expiry);
  expiry_.emplace(expiry, std::move(k));
  return Result::Fresh;
}

bool ReplayCache::seen(std::string_view key, int64_t now_ms) const {
  std::lock_guard lock(m_);
  auto it = seen_.find(std::string(key));
  return it != seen_.end() && it->second >= now_ms;
}

size_t ReplayCache::size() const {
  std::lock_guard lock(m_);
  return seen_.size();
}

ForwardOrigin forward_origin(std::string_view secret, const http::Request& req, ReplayCache* replays, bool peek) {
  ForwardOrigin o;
  auto it = req.headers.find("x-peerrtc-forwarded");
  if (it == req.headers.end()) return o;
  auto sig = req.headers.find("x-peerrtc-signature");
  const std::string_view signature = sig == req.headers.end() ? std::string_view{} : std::string_view(sig->second);
  o.node = it->second;
  const int64_t now = unix_ms_now();
  int64_t t = 0;
  o.why = verify_forward(secret, o.node, signature, req.method, forward_full_target(req), req.body, now, kForwardWindow, &t);
  if (!o.why.empty()) {
    o.kind = ForwardOrigin::Kind::Forged;
    return o;
  }
  o.kind = ForwardOrigin::Kind::Node;
  if (replays && peek) {
    if (replays->seen(signature, now)) {
      o.kind = ForwardOrigin::Kind::Replayed;
      o.why = "this signature was used already (a replayed request)";
    }
  } else if (replays) {
    // The whole header is the key: its MAC covers the nonce, so only a copy matches.
    switch (replays->check(signature, t, now)) {
      case ReplayCache::Result::Fresh:
        break;
      case ReplayCache::Result::Replayed:
        o.kind = ForwardOrigin::Kind::Replayed;
        o.why = "this signature was used already (a replayed request)";
        break;
      case ReplayCache::Result::Full:
        o.kind = ForwardOrigin::Kind::CacheFull;
        o.why = "this node's replay cache is full (too many node-to-node requests in the last " +
                std::to_string(kForwardWindow.count() / 1000) + " s)";
        break;
    }
  }
  return o;
}

http::Response forged_response(const ForwardOrigin& o) {
  const bool full = o.kind == ForwardOrigin::Kind::CacheFull;
  const char* code = o.kind == ForwardOrigin::Kind::Replayed ? "replayed_forward"
                     : full                                  ? "replay_cache_full"
                                                             : "bad_forward_auth";
  nlohmann::json body{{"error", "refused a request claiming to come from node '" + o.node + "': " + o.why},
                      {"code", code}};
  return http::Response::json(full ? 503 : 401, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
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
  headers[kSignatureHeader] = sign_forward(opts_.secret, opts_.node_id, method, target, body, unix_ms_now(), random_nonce());
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
