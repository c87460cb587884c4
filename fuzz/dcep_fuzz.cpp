// libFuzzer target: decode arbitrary bytes; whatever decodes must re-encode to the same
// bytes (bar the ignored reliability field of reliable channels) and decode again equal.
#include <cstddef>
#include <cstdint>

#include "dcep/dcep.hpp"

using namespace peerrtc;
using namespace peerrtc::dcep;

namespace {
void check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView in(data, size);
  const bool ack = is_ack(in);
  const auto open = decode_open(in);
  check(!(ack && open));
  if (!open) return 0;

  const Bytes encoded = encode_open(*open);
  check(encoded.size() == size);
  const bool reliable =
      open->type == ChannelType::Reliable || open->type == ChannelType::ReliableUnordered;
  for (size_t i = 0; i < size; ++i) {
    if (reliable && i >= 4 && i < 8) {
      check(encoded[i] == 0);  // RFC 8832 §5.1: sent as 0
    } else {
      check(encoded[i] == data[i]);
    }
  }

  const auto again = decode_open(encoded);
  check(again.has_value());
  check(again->type == open->type && again->priority == open->priority &&
        again->reliability == open->reliability && again->label == open->label &&
        again->protocol == open->protocol);
  return 0;
}
