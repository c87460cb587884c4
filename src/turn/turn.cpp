// See turn.hpp.
#include "turn/turn.hpp"

#include <arpa/inet.h>
#include <openssl/evp.h>

#include <stdexcept>

#include "common/base64.hpp"

namespace peerrtc::turn {

namespace {

constexpr size_t kMaxUrl = 1024;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// For error messages: printable ASCII only, at most 120 characters.
std::string shown(std::string_view s) {
  std::string out(s.substr(0, 120));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  if (s.size() > 120) out += "...";
  return out;
}

// A dotted quad of four numbers 0..255 without leading zeros.
bool is_ipv4(std::string_view s) {
  int parts = 0;
  while (true) {
    size_t dot = s.find('.');
    std::string_view p = s.substr(0, dot);
    if (p.empty() || p.size() > 3 || (p.size() > 1 && p[0] == '0')) return false;
    int v = 0;
    for (char c : p) {
      if (!is_digit(c)) return false;
      v = v * 10 + (c - '0');
    }
    if (v > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    s = s.substr(dot + 1);
  }
  return parts == 4;
}

// RFC 1123 host name: dot-separated labels of letters, digits and '-' (not at either end of a
// label), at most 253 characters; a trailing dot is not accepted.
Result<bool> check_host_name(std::string_view host) {
  if (host.size() > 253) return Error{"host name longer than 253 characters"};
  bool all_numeric = true;
  std::string_view rest = host;
  while (true) {
    size_t dot = rest.find('.');
    std::string_view label = rest.substr(0, dot);
    if (label.empty()) return Error{"empty label in host name '" + shown(host) + "'"};
    if (label.size() > 63) return Error{"host name label longer than 63 characters"};
    if (label.front() == '-' || label.back() == '-')
      return Error{"host name label starts or ends with '-' in '" + shown(host) + "'"};
    for (char c : label) {
      if (!is_alnum(c) && c != '-') return Error{"invalid character in host '" + shown(host) + "'"};
      if (!is_digit(c)) all_numeric = false;
    }
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
  }
  // Digits and dots only: meant as an IPv4 address, so it must be one.
  if (all_numeric && !is_ipv4(host))
    return Error{"not a valid IPv4 address: '" + shown(host) + "'"};
  return true;
}

}  // namespace

Result<IceUrl> parse_ice_url(std::string_view url) {
  if (url.empty()) return Error{"empty ICE server URL"};
  if (url.size() > kMaxUrl)
    return Error{"ICE server URL longer than " + std::to_string(kMaxUrl) + " characters"};
  IceUrl out;
  size_t colon = url.find(':');
  if (colon == std::string_view::npos)
    return Error{"'" + shown(url) + "' has no scheme: use stun:, stuns:, turn: or turns:"};
  std::string_view scheme = url.substr(0, colon);
  if (scheme == "stun")
    out.scheme = Scheme::Stun;
  else if (scheme == "stuns")
    out.scheme = Scheme::Stuns;
  else if (scheme == "turn")
    out.scheme = Scheme::Turn;
  else if (scheme == "turns")
    out.scheme = Scheme::Turns;
  else
    return Error{"'" + shown(url) +
                 "': scheme must be stun:, stuns:, turn: or turns: (lower case)"};
  std::string_view rest = url.substr(colon + 1);
  if (rest.starts_with("//"))
    return Error{"'" + shown(url) + "': no '//' after " + std::string(scheme) + ": (write " +
                 std::string(scheme) + ":host:port)"};

  // Query: "?transport=udp|tcp", turn:/turns: only.
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    std::string_view query = rest.substr(q + 1);
    rest = rest.substr(0, q);
    if (!out.is_turn())
      return Error{"'" + shown(url) + "': a " + std::string(scheme) +
                   ": URL takes no '?' parameters"};
    if (query == "transport=udp")
      out.transport = "udp";
    else if (query == "transport=tcp")
      out.transport = "tcp";
    else
      return Error{"'" + shown(url) + "': the only parameter is ?transport=udp or ?transport=tcp"};
  }
  if (rest.find_first_of("/@#") != std::string_view::npos)
    return Error{"'" + shown(url) + "': no user info, path or fragment allowed (" +
                 std::string(scheme) + ":host[:port])"};

  // Host: "[v6]" or a name / IPv4 address; then an optional ":port".
  std::string_view host, port;
  if (rest.starts_with('[')) {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return Error{"'" + shown(url) + "': '[' without ']'"};
    host = rest.substr(0, close + 1);
    std::string v6(rest.substr(1, close - 1));
    in6_addr a{};
    if (v6.empty() || inet_pton(AF_INET6, v6.c_str(), &a) != 1)
      return Error{"'" + shown(url) + "': not a valid IPv6 address in brackets"};
    rest = rest.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return Error{"'" + shown(url) + "': expected ':port' after ']'"};
      port = rest.substr(1);
      if (port.empty()) return Error{"'" + shown(url) + "': empty port"};
    }
  } else {
    size_t pc = rest.find(':');
    host = rest.substr(0, pc);
    if (pc != std::string_view::npos) {
      port = rest.substr(pc + 1);
      if (port.empty()) return Error{"'" + shown(url) + "': empty port"};
      if (port.find(':') != std::string_view::npos)
        return Error{"'" + shown(url) +
                     "': more than one ':' (an IPv6 address goes in brackets: [::1]:3478)"};
    }
    if (host.empty()) return Error{"'" + shown(url) + "': no host"};
    if (auto ok = check_host_name(host); !ok) return Error{"'" + shown(url) + "': " + ok.error()};
  }
  out.host = std::string(host);
  if (!port.empty()) {
    if (port.size() > 5) return Error{"'" + shown(url) + "': port out of range (1..65535)"};
    unsigned v = 0;
    for (char c : port) {
      if (!is_digit(c)) return Error{"'" + shown(url) + "': port must be a number"};
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v == 0 || v > 65535) return Error{"'" + shown(url) + "': port out of range (1..65535)"};
    out.port = static_cast<uint16_t>(v);
  }
  return out;
}

Bytes hmac_sha1(std::string_view key, std::string_view message) {
  Bytes out(20);
  size_t len = 0;
  // EVP_Q_mac wants a non-null key pointer even for an empty key.
  static const char kEmpty = 0;
  const void* k = key.empty() ? &kEmpty : key.data();
  if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA1", nullptr, k, key.size(),
                 reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(),
                 out.size(), &len) ||
      len != out.size())
    throw std::runtime_error("HMAC-SHA1 failed (OpenSSL)");
  return out;
}

std::string rest_username(int64_t expiry_unix, std::string_view user) {
  return std::to_string(expiry_unix) + ":" + std::string(user);
}

std::string rest_credential(std::string_view secret, std::string_view username) {
  return base64_encode(hmac_sha1(secret, username));
}

Credentials rest_credentials(std::string_view secret, std::string_view user, int64_t expiry_unix) {
  Credentials c;
  c.username = rest_username(expiry_unix, user);
  c.credential = rest_credential(secret, c.username);
  return c;
}

}  // namespace peerrtc::turn
