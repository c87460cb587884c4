// RFC 4571 framing: each packet on a stream connection is preceded by its length as a 16-bit
// big-endian number (ICE-TCP, RFC 6544 §3). Pure: bytes in, frames out, no sockets; never throws
// on network input. Used by the engine's ICE-TCP connections; fuzzed by fuzz/rfc4571_fuzz.cpp.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/bytes.hpp"

namespace peerrtc::net::rfc4571 {

constexpr size_t kHeader = 2;

// Appends the frame for `packet` (at most 65535 bytes; the caller checks) to `out`.
inline void append_frame(std::vector<uint8_t>& out, ByteView packet) {
  const size_t n = packet.size();
  out.push_back(static_cast<uint8_t>(n >> 8));
  out.push_back(static_cast<uint8_t>(n & 0xFF));
  out.insert(out.end(), packet.begin(), packet.end());
}

// True when `head` (the first bytes of a stream) starts like an ICE-TCP connection: a frame
// header and a STUN Binding request type (0x0001). HTTP requests begin with an ASCII method, so
// their bytes 2-3 are never 0x00 0x01: one TCP port can carry both.
inline bool starts_like_stun_binding(ByteView head) {
  return head.size() >= 4 && head[2] == 0x00 && head[3] == 0x01;
}

// Reassembles frames from a byte stream. A frame longer than max_frame (or empty) is an error
// that ends the stream: the connection is out of step or hostile, and nothing after it can be
// trusted. Holds at most one partial frame (max_frame + 2 bytes).
class Reader {
 public:
  enum class Status { Ok, TooLarge, Empty };
  explicit Reader(size_t max_frame) : max_(max_frame) {}

  // Feeds `data`; calls fn(ByteView frame) for each complete frame, in order. The view is valid
  // during the call only. Stops at the first bad frame and returns why; Ok otherwise.
  template <typename Fn>
  Status feed(ByteView data, Fn&& fn) {
    if (status_ != Status::Ok) return status_;
    size_t i = 0;
    while (i < data.size()) {
      if (!partial_.empty() || data.size() - i < kHeader) {
        // Complete the header and then the frame in partial_.
        if (partial_.size() < kHeader) {
          const size_t take = std::min(kHeader - partial_.size(), data.size() - i);
          partial_.insert(partial_.end(), data.begin() + i, data.begin() + i + take);
          i += take;
          if (partial_.size() < kHeader) break;
          if (!check(length_of(partial_.data()))) return status_;
        }
        const size_t want = kHeader + length_of(partial_.data());
        const size_t take = std::min(want - partial_.size(), data.size() - i);
        partial_.insert(partial_.end(), data.begin() + i, data.begin() + i + take);
        i += take;
        if (partial_.size() < want) break;
        fn(ByteView(partial_.data() + kHeader, want - kHeader));
        partial_.clear();
        continue;
      }
      // Fast path: whole frames straight from `data`.
      const size_t len = length_of(data.data() + i);
      if (!check(len)) return status_;
      if (data.size() - i - kHeader < len) {
        partial_.assign(data.begin() + i, data.end());
        break;
      }
      fn(ByteView(data.data() + i + kHeader, len));
      i += kHeader + len;
    }
    return status_;
  }

  size_t buffered() const { return partial_.size(); }
  Status status() const { return status_; }

 private:
  static size_t length_of(const uint8_t* p) { return load_be16(p); }
  bool check(size_t len) {
    if (len == 0) status_ = Status::Empty;
    else if (len > max_) status_ = Status::TooLarge;
    return status_ == Status::Ok;
  }
  size_t max_;
  Status status_ = Status::Ok;
  std::vector<uint8_t> partial_;
};

}  // namespace peerrtc::net::rfc4571
