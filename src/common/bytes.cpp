#include "common/bytes.hpp"

#include <openssl/rand.h>

#include <stdexcept>

namespace peerrtc {

std::string to_hex_colon(ByteView b) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(b.size() * 3);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i) out.push_back(':');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0xF]);
  }
  return out;
}

std::string to_hex(ByteView b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(b.size() * 2);
  for (uint8_t c : b) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xF]);
  }
  return out;
}

void random_bytes(std::span<uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1)
    throw std::runtime_error("RAND_bytes failed");
}

std::string random_ice_token(size_t length) {
  static constexpr char kChars[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  Bytes raw(length);
  random_bytes(raw);
  std::string out(length, 'x');
  for (size_t i = 0; i < length; ++i) out[i] = kChars[raw[i] & 63];
  return out;
}

}  // namespace peerrtc
