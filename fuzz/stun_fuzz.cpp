// libFuzzer target: parse arbitrary bytes; whatever parses must survive
// build -> parse unchanged and re-build to identical bytes.
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "stun/stun.hpp"

using namespace peerrtc;
using namespace peerrtc::stun;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool same_content(const Message& a, const Message& b, bool compare_unknown) {
  return a.method == b.method && a.cls == b.cls && a.transaction_id == b.transaction_id &&
         a.username == b.username && a.priority == b.priority &&
         a.use_candidate == b.use_candidate && a.ice_controlling == b.ice_controlling &&
         a.ice_controlled == b.ice_controlled && a.xor_mapped_address == b.xor_mapped_address &&
         a.error_code == b.error_code && a.error_reason == b.error_reason &&
         a.software == b.software &&
         (!compare_unknown || a.unknown_attributes == b.unknown_attributes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView in(data, size);
  ParseError err = ParseError::None;
  const auto m = parse(in, &err);
  check(m.has_value() == (err == ParseError::None));

  // is_stun() accepting means the header checks in parse() pass too.
  if (is_stun(in))
    check(err != ParseError::TooShort && err != ParseError::NotStun &&
          err != ParseError::BadLength);
  if (!m) return 0;

  if (m->has_integrity) (void)verify_integrity(in, *m, "fuzz-key");

  constexpr std::string_view kKey = "fuzz-key";
  const std::string_view key = m->has_integrity ? kKey : std::string_view{};
  Bytes rebuilt;
  try {
    rebuilt = build(*m, key, m->has_fingerprint);
  } catch (const std::invalid_argument&) {
    // Only a near-64 KiB input can grow past the 16-bit length when its unknown attributes
    // are listed in UNKNOWN-ATTRIBUTES; anything else parse() accepted must be encodable.
    check(size > 65000);
    return 0;
  }

  ParseError err2 = ParseError::None;
  const auto again = parse(rebuilt, &err2);
  check(again.has_value());
  check(same_content(*m, *again, m->cls == Class::ErrorResponse));
  check(again->has_integrity == m->has_integrity);
  check(again->has_fingerprint == m->has_fingerprint);
  if (m->has_integrity) {
    check(verify_integrity(rebuilt, *again, kKey));
    check(!verify_integrity(rebuilt, *again, "other-key"));
  }
  check(is_stun(rebuilt) == (rebuilt[0] <= 3));

  // Our own output is a fixed point.
  check(build(*again, key, again->has_fingerprint) == rebuilt);
  return 0;
}
