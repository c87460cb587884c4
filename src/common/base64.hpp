// Base64 (RFC 4648), the two forms this project speaks:
//   Base64::Standard  §4: A-Z a-z 0-9 + /, padded with '=' to a multiple of 4 (TURN credentials,
//                     binary payloads in the server API)
//   Base64::Url       §5: A-Z a-z 0-9 - _, no padding (JWT join tokens)
// Decoding is strict and never throws: the alphabet of the form only (no white space), padding
// exactly as the form has it ('=' only at the end of Standard), no impossible length.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.hpp"

namespace peerrtc {

enum class Base64 { Standard, Url };

std::string base64_encode(ByteView data, Base64 form = Base64::Standard);
inline std::string base64_encode(std::string_view data, Base64 form = Base64::Standard) {
  return base64_encode(as_bytes(data), form);
}
std::optional<std::string> base64_decode(std::string_view in, Base64 form = Base64::Standard);

}  // namespace peerrtc
