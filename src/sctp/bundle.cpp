#include "sctp/bundle.hpp"

#include "sctp/chunks.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <optional>

namespace peerrtc::sctp {

namespace {

constexpr size_t kHeader = wire::kCommonHeader;
using wire::kData, wire::kSack, wire::padded;
constexpr size_t kMinChunk = 16;  // both a DATA and a SACK chunk have 16 bytes before any payload

struct Chunk {
  size_t offset, length;  // length without padding
};

struct Parsed {
  std::optional<Chunk> sack;
  Chunk data[64];
  size_t data_count = 0;
  size_t data_bytes = 0;  // padded
};

// Only DATA and SACK chunks, each well formed; at most one SACK and 64 DATA chunks (a packet of
// 1,200 bytes holds at most 74 one-byte DATA chunks; usrsctp never makes those for us).
bool parse(ByteView p, Parsed& out) {
  if (p.size() <= kHeader) return false;
  size_t off = kHeader;
  while (off < p.size()) {
    if (p.size() - off < 4) return false;
    const uint8_t type = p[off];
    const size_t len = load_be16(&p[off + 2]);
    if (len < kMinChunk || len > p.size() - off) return false;
    // Every chunk is padded to 4 bytes; a last one without its padding is read all the same.
    const size_t step = std::min(padded(len), p.size() - off);
    if (step != padded(len) && off + len != p.size()) return false;
    if (type == kSack) {
      if (out.sack) return false;
      out.sack = Chunk{off, len};
    } else if (type == kData) {
      if (out.data_count == std::size(out.data)) return false;
      out.data[out.data_count++] = Chunk{off, len};
      out.data_bytes += padded(len);
    } else {
      return false;
    }
    off += step;
  }
  return true;
}

void append_chunk(Bytes& out, ByteView p, const Chunk& c) {
  out.insert(out.end(), p.begin() + static_cast<std::ptrdiff_t>(c.offset),
             p.begin() + static_cast<std::ptrdiff_t>(c.offset + c.length));
  out.resize(padded(out.size()), 0);  // chunks start at multiples of 4 from the packet's start
}

}  // namespace

bool bundle_packets(Bytes& held, ByteView next, size_t limit) {
  if (held.size() <= kHeader || next.size() <= kHeader) return false;
  if (std::memcmp(held.data(), next.data(), 8) != 0) return false;  // ports and verification tag
  Parsed a, b;
  if (!parse(held, a) || !parse(next, b)) return false;
  if (a.data_count + b.data_count > std::size(a.data)) return false;
  const std::optional<Chunk>& sack = b.sack ? b.sack : a.sack;
  const ByteView sack_from = b.sack ? next : ByteView(held);
  // Every chunk padded, the last one too (RFC 9260 §3.2).
  const size_t total = kHeader + (sack ? padded(sack->length) : 0) + a.data_bytes + b.data_bytes;
  if (total > limit) return false;

  Bytes out;
  out.reserve(total);
  out.insert(out.end(), held.begin(), held.begin() + kHeader);
  std::memset(out.data() + 8, 0, 4);
  if (sack) append_chunk(out, sack_from, *sack);
  for (size_t i = 0; i < a.data_count; ++i) append_chunk(out, held, a.data[i]);
  for (size_t i = 0; i < b.data_count; ++i) append_chunk(out, next, b.data[i]);
  held = std::move(out);
  return true;
}

}  // namespace peerrtc::sctp
