// Batched UDP I/O for the network thread: recvmmsg to read every datagram that is waiting in
// one wake-up, and a send queue flushed with sendmmsg at the end of the loop turn. Both work on
// a plain non-blocking socket descriptor (the Engine's one port, or a ClientPeer's socket).
#pragma once
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "common/bytes.hpp"
#include "stun/stun.hpp"

namespace peerrtc::net {

stun::Address to_address(const sockaddr_storage& sa);
// Fills `out` for `a` (AF_INET or AF_INET6) and returns its length.
socklen_t to_sockaddr(const stun::Address& a, sockaddr_storage& out);

// Asks for `bytes` of kernel receive (or send) buffer: SO_RCVBUFFORCE/SO_SNDBUFFORCE pass
// net.core.rmem_max/wmem_max when we may (CAP_NET_ADMIN), else the plain option gets what the
// system allows. Returns the size the kernel reports afterwards (Linux: twice what it granted).
int set_socket_buffer(int fd, bool receive, int bytes);

class DatagramReader {
 public:
  // Datagrams larger than a slot are truncated by the kernel; they are dropped and counted
  // (WebRTC keeps every datagram under the path MTU, ~1200 bytes). Slots hold 64 KiB so that a
  // socket with UDP_GRO (enable_gro) can take a coalesced run of datagrams in one slot.
  explicit DatagramReader(size_t batch = 16, size_t slot_size = 65536);
  // Asks the kernel to hand over runs of datagrams from one sender as one buffer (UDP_GRO; a
  // sender using GSO on loopback keeps them together). read() splits them again. Best effort.
  static void enable_gro(int fd);
  using Fn = std::function<void(ByteView data, const stun::Address& from)>;
  // Reads what is waiting (at most max_datagrams) and calls fn for each. Returns how many were
  // read (0: nothing waiting, or an error other than EAGAIN, which is logged).
  size_t read(int fd, size_t max_datagrams, const Fn& fn);
  uint64_t truncated() const { return truncated_; }

 private:
  size_t batch_, slot_;
  std::vector<uint8_t> buf_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iov_;
  std::vector<sockaddr_storage> from_;
  std::vector<uint8_t> control_;
  uint64_t truncated_ = 0;
};

class DatagramWriter {
 public:
  explicit DatagramWriter(size_t max_queued = 128);
  // Outside a batch: sends at once. Inside: queues (a copy), flushing when max_queued are held.
  // A flush sends runs of equal-sized datagrams to one destination as one UDP GSO send
  // (UDP_SEGMENT) where the kernel allows it, the rest with sendmmsg.
  // Every datagram stays as it was given: one DTLS record per datagram. (RFC 6347 §4.1.1 lets
  // records share a datagram, and Chromium, Firefox and libwebrtc read them all, but aiortc,
  // PeerPyRTC's engine, reads one per datagram and leaves the rest until the next one arrives:
  // its transfers stalled for seconds when we coalesced.)
  // Returns false when the datagram was refused at once (a send error; counted in failed()).
  bool send(int fd, ByteView data, const stun::Address& to);
  void begin_batch() { ++depth_; }
  void end_batch(int fd);  // at depth 0: sendmmsg what is queued
  uint64_t sent() const { return sent_; }
  uint64_t failed() const { return failed_; }
  uint64_t gso_runs() const { return gso_runs_; }  // runs sent as one GSO message
  // Full-size datagrams (>= 1,000 bytes) queued since the last flush: a bulk transfer's burst.
  size_t queued_full() const { return full_queued_; }

 private:
  void flush(int fd);
  struct Item {
    size_t offset, size;
    sockaddr_storage to;
    socklen_t to_len;
  };
  size_t max_;
  int depth_ = 0;
  std::vector<uint8_t> data_;
  std::vector<Item> items_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iov_;
  std::vector<uint8_t> control_;
  std::vector<std::pair<size_t, size_t>> groups_;  // item range [first, last) per message
  bool gso_ = true;
  size_t full_queued_ = 0;
  uint64_t sent_ = 0, failed_ = 0, gso_runs_ = 0;
};

}  // namespace peerrtc::net
