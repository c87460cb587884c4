// libFuzzer target: the ICE-TCP frame reader (src/net/rfc4571.hpp). The first byte picks a
// chunk size; the rest is a TCP byte stream fed in those chunks. Whatever the split, the frames
// and the final status must equal those of feeding the stream at once, and the frames framed
// again must equal the stream's prefix they came from.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "net/rfc4571.hpp"

using namespace peerrtc;
using namespace peerrtc::net;

namespace {
void check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t chunk = size_t{data[0]} + 1;
  const ByteView stream(data + 1, size - 1);
  constexpr size_t kMax = 600;  // small, so the fuzzer reaches TooLarge easily

  std::vector<Bytes> whole, split;
  rfc4571::Reader a(kMax), b(kMax);
  const auto sa = a.feed(stream, [&](ByteView f) { whole.emplace_back(f.begin(), f.end()); });
  auto sb = rfc4571::Reader::Status::Ok;
  for (size_t i = 0; i < stream.size(); i += chunk) {
    const size_t n = std::min(chunk, stream.size() - i);
    sb = b.feed(stream.subspan(i, n), [&](ByteView f) { split.emplace_back(f.begin(), f.end()); });
    if (sb != rfc4571::Reader::Status::Ok) break;
  }
  check(sa == sb);
  check(whole == split);
  check(b.buffered() <= kMax + rfc4571::kHeader);

  Bytes again;
  for (const auto& f : whole) {
    check(!f.empty() && f.size() <= kMax);
    rfc4571::append_frame(again, f);
  }
  check(again.size() <= stream.size());
  check(std::equal(again.begin(), again.end(), stream.begin()));
  return 0;
}
