// Room names and peer ids (docs/protocol.md "Names"): the one rule of the C++ side, used by the
// HTTP requests, the C++ API (check_name) and the frame parser (direct-message targets). Pure.
//
// A name is 1 to 64 bytes of valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF), with no control character (C0, DEL, C1) and no Unicode White_Space at either
// end. Names are compared as bytes: no case folding, no Unicode normalisation.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "peerrtc/limits.hpp"

namespace peerrtc::signaling {

inline constexpr std::size_t kMaxName = kMaxNameBytes;

struct NameCheck {
  enum class Issue { None, Empty, TooLong, InvalidUtf8, Control, LeadingSpace, TrailingSpace };
  Issue issue = Issue::None;
  std::size_t at = 0;        // byte offset (from 0) of the bad sequence or character
  char32_t code_point = 0;   // the control or white-space character
  bool ok() const { return issue == Issue::None; }
};

// What, if anything, is wrong with `s` as a name (the first problem found).
NameCheck inspect_name(std::string_view s);
inline bool valid_name(std::string_view s) { return inspect_name(s).ok(); }

// The offset of the first byte of `s` that does not start a well-formed UTF-8 sequence, or
// npos if `s` is valid UTF-8 (RFC 3629).
std::size_t invalid_utf8_at(std::string_view s);

// Unicode White_Space (PropList.txt); the rule refuses it at either end of a name.
bool is_unicode_space(char32_t c);

// For people: "too long: 65 bytes (at most 64)", "invalid UTF-8 at byte 3", ...; empty if ok.
// `size`: the name's length in bytes.
std::string describe(const NameCheck& c, std::size_t size);

// The name as sent, in double quotes, JSON-escaped: UTF-8 as is; `"`, `\` and control characters
// (C0, DEL, C1) escaped (\n, \u0085, ...); each byte that is not valid UTF-8 as \xNN. At most
// `max_bytes` of the name are shown (cut at a character), followed by "..." outside the quotes.
// The result is always valid UTF-8 (safe in a JSON answer).
std::string quote_name(std::string_view s, std::size_t max_bytes = 100);

}  // namespace peerrtc::signaling
