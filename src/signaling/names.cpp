#include "signaling/names.hpp"

#include <cstdint>
#include <cstdio>

namespace peerrtc::signaling {

namespace {

// Decodes one UTF-8 sequence at s[i] (RFC 3629 table 4: the well-formed byte sequences, so
// overlong forms, surrogates and code points above U+10FFFF are refused). Returns its length
// (1 to 4) and sets `cp`, or 0 if the bytes at i do not start a well-formed sequence.
std::size_t decode(std::string_view s, std::size_t i, char32_t& cp) {
  auto byte = [&](std::size_t k) -> unsigned { return static_cast<unsigned char>(s[k]); };
  const unsigned b0 = byte(i);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t n;
  unsigned lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    if (b0 == 0xe0) lo = 0xa0;       // overlong below U+0800
    else if (b0 == 0xed) hi = 0x9f;  // U+D800..DFFF (surrogates)
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    if (b0 == 0xf0) lo = 0x90;       // overlong below U+10000
    else if (b0 == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;  // a continuation byte, C0/C1 (overlong), F5..FF
  }
  if (i + n > s.size()) return 0;
  const unsigned b1 = byte(i + 1);
  if (b1 < lo || b1 > hi) return 0;
  char32_t c = b0 & (0x7f >> n);
  c = (c << 6) | (b1 & 0x3f);
  for (std::size_t k = 2; k < n; ++k) {
    const unsigned b = byte(i + k);
    if ((b & 0xc0) != 0x80) return 0;
    c = (c << 6) | (b & 0x3f);
  }
  cp = c;
  return n;
}

bool is_control(char32_t c) { return c < 0x20 || (c >= 0x7f && c <= 0x9f); }

std::string u_plus(char32_t c) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(c));
  return buf;
}

}  // namespace

std::size_t invalid_utf8_at(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t n = decode(s, i, cp);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

bool is_unicode_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
         c == 0x3000;
}

NameCheck inspect_name(std::string_view s) {
  using Issue = NameCheck::Issue;
  if (s.empty()) return {Issue::Empty};
  if (s.size() > kMaxName) return {Issue::TooLong};
  char32_t first = 0, last = 0;
  std::size_t last_at = 0;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t n = decode(s, i, cp);
    if (n == 0) return {Issue::InvalidUtf8, i};
    if (is_control(cp)) return {Issue::Control, i, cp};
    if (i == 0) first = cp;
    last = cp;
    last_at = i;
    i += n;
  }
  if (is_unicode_space(first)) return {Issue::LeadingSpace, 0, first};
  if (is_unicode_space(last)) return {Issue::TrailingSpace, last_at, last};
  return {};
}

std::string describe(const NameCheck& c, std::size_t size) {
  using Issue = NameCheck::Issue;
  switch (c.issue) {
    case Issue::None: return {};
    case Issue::Empty: return "empty (a name is 1 to " + std::to_string(kMaxName) + " bytes of UTF-8)";
    case Issue::TooLong:
      return "too long: " + std::to_string(size) + " bytes (at most " + std::to_string(kMaxName) + " bytes of UTF-8)";
    case Issue::InvalidUtf8: return "invalid UTF-8 at byte " + std::to_string(c.at);
    case Issue::Control: return "control character " + u_plus(c.code_point) + " at byte " + std::to_string(c.at);
    case Issue::LeadingSpace: return "leading whitespace (" + u_plus(c.code_point) + ")";
    case Issue::TrailingSpace:
      return "trailing whitespace (" + u_plus(c.code_point) + " at byte " + std::to_string(c.at) + ")";
  }
  return "invalid";
}

std::string quote_name(std::string_view s, std::size_t max_bytes) {
  std::string out = "\"";
  std::size_t i = 0;
  char buf[8];
  while (i < s.size()) {
    char32_t cp = 0;
    const std::size_t n = decode(s, i, cp);
    if (i + (n ? n : 1) > max_bytes) break;
    if (n == 0) {
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(static_cast<unsigned char>(s[i])));
      out += buf;
      ++i;
      continue;
    }
    switch (cp) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (is_control(cp)) {
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
          out += buf;
        } else {
          out.append(s.substr(i, n));
        }
    }
    i += n;
  }
  out += '"';
  if (i < s.size()) out += "...";
  return out;
}

}  // namespace peerrtc::signaling
