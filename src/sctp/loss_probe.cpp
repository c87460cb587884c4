#include "sctp/loss_probe.hpp"

#include <algorithm>
#include <utility>

#include "sctp/chunks.hpp"

namespace peerrtc::sctp {

namespace {
using wire::kCommonHeader, wire::kChecksumOffset, wire::kData, wire::kSack;
constexpr uint8_t kImmediateBit = 0x08;  // RFC 7053 §4.1: the DATA chunk's I bit
bool serial_gt(uint32_t a, uint32_t b) { return a != b && static_cast<uint32_t>(a - b) < 0x80000000u; }
}  // namespace

void LossProbe::on_sent(ByteView p, Clock::time_point now) {
  // The offsets of the packet's last kChunks DATA chunks: only those are copied.
  std::array<std::pair<size_t, size_t>, kChunks> found{};
  size_t n = 0;
  wire::for_each_chunk(p, [&](uint8_t type, size_t off, size_t len) {  // a malformed tail: what came before
    if (type == kData && len >= 16) {
      const uint32_t tsn = load_be32(&p[off + 4]);
      if (!have_data_ || serial_gt(tsn, highest_tsn_)) highest_tsn_ = tsn;
      have_data_ = true;
      found[n % kChunks] = {off, len};
      ++n;
    }
    return true;
  });
  if (!n) return;
  last_data_ = now;
  header_.assign(p.begin(), p.begin() + kCommonHeader);
  for (size_t k = n > kChunks ? n - kChunks : 0; k < n; ++k) {
    const auto [at, len] = found[k % kChunks];
    chunks_[next_].assign(p.begin() + static_cast<std::ptrdiff_t>(at), p.begin() + static_cast<std::ptrdiff_t>(at + len));
    next_ = (next_ + 1) % kChunks;
    count_ = std::min(count_ + 1, kChunks);
  }
}

Bytes LossProbe::probe(size_t i) const {
  Bytes out(header_);
  if (i >= count_ || out.size() != kCommonHeader) return out;
  const Bytes& c = chunks_[(next_ + kChunks - count_ + i) % kChunks];  // oldest first
  out.insert(out.end(), c.begin(), c.end());
  out.resize(wire::padded(out.size()), 0);
  std::fill(out.begin() + kChecksumOffset, out.begin() + kCommonHeader, 0);  // checksum: the sender computes it
  out[kCommonHeader + 1] |= kImmediateBit;
  return out;
}

bool LossProbe::due(ByteView p, Clock::time_point now) {
  bool data = false, sack = false;
  const bool well_formed = wire::for_each_chunk(p, [&](uint8_t type, size_t off, size_t len) {
    if (type == kSack && len >= 16) {
      const uint32_t cum = load_be32(&p[off + 4]);
      if (!have_ack_ || serial_gt(cum, cum_ack_)) cum_ack_ = cum;
      have_ack_ = true;
      last_sack_ = now;
      unanswered_ = 0;
      sack = true;
      return false;
    }
    data = data || type == kData;
    return true;
  });
  if (sack || !well_formed) return false;
  if (!data || !have_data_ || !count_) return false;
  if (have_ack_ && !serial_gt(highest_tsn_, cum_ack_)) return false;  // all acknowledged
  return now - last_data_ >= delay() && now - last_sack_ >= delay();
}

bool LossProbe::confirm(Clock::time_point now, std::chrono::milliseconds srtt) const {
  const auto d = std::max<Clock::duration>(delay(), 2 * srtt);
  return now - last_data_ >= d && now - last_sack_ >= d;
}

}  // namespace peerrtc::sctp
