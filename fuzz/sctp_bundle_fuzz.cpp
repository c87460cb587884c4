// libFuzzer target: sctp::bundle_packets on two arbitrary packets (the first input byte splits
// the rest). It must never read past either one; when it bundles, the result stays within the
// limit, keeps the first packet's header with a zero checksum, holds at most one SACK (the
// second packet's if it had one) and then every DATA chunk of both, in order, byte for byte.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "sctp/bundle.hpp"

using namespace peerrtc;

namespace {
void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Chunk {
  uint8_t type;
  std::vector<uint8_t> bytes;  // without padding
};

// Chunks as bundle_packets reads them (its own acceptance is checked through the result).
std::vector<Chunk> chunks(const uint8_t* p, size_t n) {
  std::vector<Chunk> out;
  size_t off = 12;
  while (off + 4 <= n) {
    const size_t len = (size_t{p[off + 2]} << 8) | p[off + 3];
    if (len < 4 || len > n - off) break;
    out.push_back({p[off], std::vector<uint8_t>(p + off, p + off + len)});
    off += (len + 3) & ~size_t{3};
  }
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t split = std::min<size_t>(data[0] * 8u, size - 1);
  const size_t limit = 64 + (size_t{data[1]} << 4);
  const uint8_t* rest = data + 2;
  const size_t n = size - 2;
  const size_t a_len = std::min(split, n);
  Bytes held(rest, rest + a_len);
  const Bytes next(rest + a_len, rest + n);
  const Bytes before = held;
  if (!sctp::bundle_packets(held, next, limit)) {
    check(held == before);
    return 0;
  }
  check(held.size() <= limit);
  check(held.size() % 4 == 0);
  check(std::memcmp(held.data(), before.data(), 8) == 0);
  check(held[8] == 0 && held[9] == 0 && held[10] == 0 && held[11] == 0);
  const auto a = chunks(before.data(), before.size());
  const auto b = chunks(next.data(), next.size());
  const auto r = chunks(held.data(), held.size());
  std::vector<Chunk> want;
  const Chunk* sack = nullptr;
  for (const auto& c : a)
    if (c.type == 3) sack = &c;
  for (const auto& c : b)
    if (c.type == 3) sack = &c;
  if (sack) want.push_back(*sack);
  for (const auto& c : a)
    if (c.type == 0) want.push_back(c);
  for (const auto& c : b)
    if (c.type == 0) want.push_back(c);
  check(r.size() == want.size());
  for (size_t i = 0; i < r.size(); ++i) check(r[i].type == want[i].type && r[i].bytes == want[i].bytes);
  for (const auto& c : a) check(c.type == 0 || c.type == 3);
  for (const auto& c : b) check(c.type == 0 || c.type == 3);
  return 0;
}
