// See redis.hpp: the redis:// and sentinel:// URLs (pure).
#include <charconv>

#include "cluster/redis.hpp"

namespace peerrtc::cluster {

bool parse_uint(std::string_view s, unsigned long max, unsigned long& out) {
  if (s.empty() || s.size() > 10) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out <= max;
}

namespace {
// USER:PASSWORD@ (or :PASSWORD@) at the front of `authority`, if any, into `url`; `authority`
// keeps what follows. Returns why it is bad, or "".
std::string take_userinfo(std::string_view& authority, RedisUrl& url) {
  size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return "";
  std::string_view userinfo = authority.substr(0, at);
  authority = authority.substr(at + 1);
  size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) return "credentials must be USER:PASSWORD@ or :PASSWORD@";
  url.username = std::string(userinfo.substr(0, colon));
  url.password = std::string(userinfo.substr(colon + 1));
  if (url.password.empty()) return "the password is empty";
  return "";
}
}  // namespace

std::string RedisUrl::to_string() const {
  if (!sentinels.empty()) {
    std::string list;
    for (auto& [h, p] : sentinels) list += (list.empty() ? "" : ",") + h + ":" + std::to_string(p);
    std::string auth = password.empty() ? "" : (username.empty() ? ":***@" : username + ":***@");
    return "sentinel://" + auth + list + "/" + master_name + "/" + std::to_string(db) + " (master " + host + ":" +
           std::to_string(port) + ")";
  }
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::string auth = password.empty() ? "" : (username.empty() ? ":***@" : username + ":***@");
  return "redis://" + auth + h + ":" + std::to_string(port) + "/" + std::to_string(db);
}

namespace {
ParsedRedisUrl parse_sentinel_url(std::string_view text);
}

ParsedRedisUrl parse_redis_url(std::string_view text) {
  if (text.substr(0, 11) == "sentinel://") return parse_sentinel_url(text);
  ParsedRedisUrl out;
  auto fail = [&](const std::string& why) {
    out.error = "bad Redis URL '" + std::string(text) + "': " + why +
                " (expected redis://HOST[:PORT][/DB], e.g. redis://127.0.0.1:6379/0)";
    return out;
  };
  constexpr std::string_view scheme = "redis://";
  if (text.substr(0, 8) == "rediss:/") return fail("TLS (rediss://) is not supported");
  if (text.substr(0, scheme.size()) != scheme) return fail("it must start with redis://");
  std::string_view rest = text.substr(scheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) return fail("query strings and fragments are not supported");
  RedisUrl url;
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      unsigned long n = 0;
      if (!parse_uint(db, 1u << 20, n)) return fail("the database '" + std::string(db) + "' is not a number");
      url.db = static_cast<int>(n);
    }
  }
  if (std::string why = take_userinfo(authority, url); !why.empty()) return fail(why);
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("unclosed '[' in the host");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("junk after the host");
      port = after.substr(1);
      if (port.empty()) return fail("the port is empty");
    }
  } else {
    size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return fail("the port is empty");
    }
  }
  if (url.host.empty()) return fail("the host is empty");
  if (!port.empty()) {
    unsigned long n = 0;
    if (!parse_uint(port, 65535, n) || n == 0) return fail("the port '" + std::string(port) + "' is not 1..65535");
    url.port = static_cast<uint16_t>(n);
  }
  out.url = std::move(url);
  return out;
}

namespace {
ParsedRedisUrl parse_sentinel_url(std::string_view text) {
  ParsedRedisUrl out;
  auto fail = [&](const std::string& why) {
    out.error = "bad Sentinel URL '" + std::string(text) + "': " + why +
                " (expected sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB])";
    return out;
  };
  std::string_view rest = text.substr(11);
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return fail("the master's name is missing");
  std::string_view authority = rest.substr(0, slash), path = rest.substr(slash + 1);
  RedisUrl url;
  if (std::string why = take_userinfo(authority, url); !why.empty()) return fail(why);
  while (!authority.empty()) {
    size_t comma = authority.find(',');
    std::string_view one = authority.substr(0, comma);
    authority = comma == std::string_view::npos ? std::string_view{} : authority.substr(comma + 1);
    size_t colon = one.rfind(':');
    unsigned long port = 0;
    if (colon == std::string_view::npos || colon == 0 || !parse_uint(one.substr(colon + 1), 65535, port) || port == 0)
      return fail("each sentinel is HOST:PORT");
    url.sentinels.emplace_back(std::string(one.substr(0, colon)), static_cast<uint16_t>(port));
  }
  if (url.sentinels.empty()) return fail("no sentinel");
  size_t s2 = path.find('/');
  url.master_name = std::string(path.substr(0, s2));
  if (url.master_name.empty()) return fail("the master's name is empty");
  if (s2 != std::string_view::npos && !path.substr(s2 + 1).empty()) {
    unsigned long n = 0;
    if (!parse_uint(path.substr(s2 + 1), 1u << 20, n)) return fail("the database is not a number");
    url.db = static_cast<int>(n);
  }
  url.host = "";
  url.port = 0;
  out.url = std::move(url);
  return out;
}
}  // namespace

}  // namespace peerrtc::cluster
