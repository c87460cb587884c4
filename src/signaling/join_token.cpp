// HS256 join tokens (include/peerrtc/join_token.hpp): base64url (RFC 4648 §5, no padding, as
// JWS compact serialisation requires), HMAC-SHA256 from OpenSSL, claims with nlohmann-json.
// Parsing never throws: every malformed piece is a Malformed verdict.
#include "peerrtc/join_token.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "common/base64.hpp"
#include "signaling/names.hpp"
#include "signaling/requests.hpp"

namespace peerrtc {

namespace {

using json = nlohmann::json;

std::string base64_url(std::string_view in) { return base64_encode(in, Base64::Url); }
std::optional<std::string> base64_url_decode(std::string_view in) { return base64_decode(in, Base64::Url); }

std::array<unsigned char, 32> hs256(std::string_view secret, std::string_view input) {
  std::array<unsigned char, 32> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &len);
  return mac;
}

JoinTokenCheck verdict(JoinTokenCheck::Status s, std::string error) { return {s, std::move(error)}; }

// A claim that must be a whole number of seconds (JWT NumericDate; fractions are allowed by
// RFC 7519 and truncated here).
std::optional<int64_t> numeric_date(const json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_number()) return std::nullopt;
  if (it->is_number_float()) {
    double d = it->get<double>();
    if (!(d > -9e15 && d < 9e15)) return std::nullopt;
    return static_cast<int64_t>(d);
  }
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return it->get<int64_t>();
}

}  // namespace

std::string make_join_token(std::string_view secret, const std::string& room, const std::string& identity,
                            std::chrono::seconds ttl, int64_t now_unix) {
  if (secret.empty()) throw std::invalid_argument("make_join_token: the secret is empty");
  if (ttl.count() < 1 || ttl.count() > 366LL * 86400)
    throw std::invalid_argument("make_join_token: ttl must be 1 s .. 366 days (got " + std::to_string(ttl.count()) +
                                " s)");
  if (auto ok = signaling::check_name("room", room); !ok) throw std::invalid_argument("make_join_token: " + ok.error());
  if (auto ok = signaling::check_name("identity", identity, true); !ok)
    throw std::invalid_argument("make_join_token: " + ok.error());
  const std::string header = base64_url(R"({"alg":"HS256","typ":"JWT"})");
  const json claims{{"room", room}, {"sub", identity}, {"iat", now_unix}, {"exp", now_unix + ttl.count()}};
  const std::string input = header + "." + base64_url(claims.dump());
  auto mac = hs256(secret, input);
  return input + "." + base64_url(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

std::string make_join_token(std::string_view secret, const std::string& room, const std::string& identity,
                            std::chrono::seconds ttl) {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return make_join_token(secret, room, identity, ttl, now);
}

JoinTokenCheck check_join_token(std::string_view secret, std::string_view token, std::string_view room,
                                std::string_view identity, int64_t now_unix) {
  using S = JoinTokenCheck::Status;
  if (token.empty()) return verdict(S::Missing, "a join token is required to join (field 'join_token')");
  if (token.size() > kMaxJoinTokenBytes)
    return verdict(S::Malformed, "join token is too long (more than " + std::to_string(kMaxJoinTokenBytes) + " bytes)");
  const size_t d1 = token.find('.');
  const size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return verdict(S::Malformed, "join token is not a JWT (header.payload.signature)");
  auto header_raw = base64_url_decode(token.substr(0, d1));
  auto payload_raw = base64_url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  auto sig = base64_url_decode(token.substr(d2 + 1));
  if (!header_raw || !payload_raw || !sig) return verdict(S::Malformed, "join token is not valid base64url");
  json header = json::parse(*header_raw, nullptr, false);
  if (!header.is_object()) return verdict(S::Malformed, "join token header is not a JSON object");
  auto alg = header.find("alg");
  // Only HS256: never "none", never an algorithm the token picks for itself.
  if (alg == header.end() || !alg->is_string() || *alg != "HS256")
    return verdict(S::Malformed, "join token must be signed with HS256");
  auto mac = hs256(secret, token.substr(0, d2));
  if (sig->size() != mac.size() || CRYPTO_memcmp(sig->data(), mac.data(), mac.size()) != 0)
    return verdict(S::BadSignature, "join token signature is invalid");
  json claims = json::parse(*payload_raw, nullptr, false);
  if (!claims.is_object()) return verdict(S::Malformed, "join token claims are not a JSON object");
  auto exp = numeric_date(claims, "exp");
  if (!exp) return verdict(S::Malformed, "join token has no numeric 'exp' claim");
  if (now_unix >= *exp)
    return verdict(S::Expired, "join token expired " + std::to_string(now_unix - *exp) + " s ago");
  if (claims.contains("nbf")) {
    auto nbf = numeric_date(claims, "nbf");
    if (!nbf) return verdict(S::Malformed, "join token 'nbf' claim is not a number");
    if (now_unix < *nbf) return verdict(S::NotYetValid, "join token is not valid yet");
  }
  auto r = claims.find("room");
  if (r == claims.end() || !r->is_string()) return verdict(S::Malformed, "join token has no 'room' claim");
  if (r->get_ref<const std::string&>() != room)
    return verdict(S::WrongRoom, "join token is for room " + signaling::quote_name(r->get_ref<const std::string&>()) +
                                     ", not " + signaling::quote_name(room));
  auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string()) return verdict(S::Malformed, "join token has no 'sub' claim");
  if (sub->get_ref<const std::string&>() != identity)
    return verdict(S::WrongIdentity, "join token is for peer_id " +
                                         signaling::quote_name(sub->get_ref<const std::string&>()) + ", not " +
                                         signaling::quote_name(identity));
  return {};
}

JoinTokenCheck check_join_token(std::string_view secret, std::string_view token, std::string_view room,
                                std::string_view identity) {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return check_join_token(secret, token, room, identity, now);
}

}  // namespace peerrtc
