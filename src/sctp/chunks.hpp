// The SCTP packet layout the pure helpers (bundle.cpp, loss_probe.cpp) and the usrsctp glue
// (sctp.cpp) read: the common header, the chunk types they look at, and a walk over a packet's
// chunks (RFC 9260 §3). Pure; never throws.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/bytes.hpp"

namespace peerrtc::sctp::wire {

constexpr size_t kCommonHeader = 12;  // source port, destination port, verification tag, CRC32c
constexpr size_t kChecksumOffset = 8;
constexpr uint8_t kData = 0, kSack = 3, kIData = 64;

// Chunks are padded to a multiple of 4 bytes.
constexpr size_t padded(size_t n) { return (n + 3) & ~size_t{3}; }

// Calls f(type, offset, length) for each chunk after the common header, in order (length as the
// chunk says, without padding), until f returns false. A chunk whose length is under 4 or runs
// past the packet ends the walk: the result is then false (malformed), else true.
template <typename F>
bool for_each_chunk(ByteView p, F&& f) {
  size_t off = kCommonHeader;
  while (off + 4 <= p.size()) {
    const size_t len = load_be16(&p[off + 2]);
    if (len < 4 || len > p.size() - off) return false;
    if (!f(p[off], off, len)) return true;
    off += padded(len);
  }
  return true;
}

}  // namespace peerrtc::sctp::wire
