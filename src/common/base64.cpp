// See base64.hpp.
#include "common/base64.hpp"

namespace peerrtc {

namespace {

constexpr char kStandard[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int value_of(char c, Base64 form) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == (form == Base64::Url ? '-' : '+')) return 62;
  if (c == (form == Base64::Url ? '_' : '/')) return 63;
  return -1;
}

}  // namespace

std::string base64_encode(ByteView data, Base64 form) {
  const char* alphabet = form == Base64::Url ? kUrl : kStandard;
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : data) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(alphabet[(acc << (6 - bits)) & 63]);
  if (form == Base64::Standard)
    while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

std::optional<std::string> base64_decode(std::string_view in, Base64 form) {
  if (form == Base64::Standard) {
    if (in.size() % 4 != 0) return std::nullopt;
    // Up to two '=' at the very end; any other '=' fails as a character outside the alphabet.
    for (int k = 0; k < 2 && !in.empty() && in.back() == '='; ++k) in.remove_suffix(1);
  }
  if (in.size() % 4 == 1) return std::nullopt;  // 6 bits: not even one byte
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = value_of(c, form);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

}  // namespace peerrtc
