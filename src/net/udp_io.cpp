#include "net/udp_io.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>

#include <cerrno>
#include <cstring>

#include "common/log.hpp"

namespace peerrtc::net {

stun::Address to_address(const sockaddr_storage& sa) {
  stun::Address a;
  if (sa.ss_family == AF_INET) {
    const auto& s4 = reinterpret_cast<const sockaddr_in&>(sa);
    a.port = ntohs(s4.sin_port);
    std::memcpy(a.ip.data(), &s4.sin_addr, 4);
  } else if (sa.ss_family == AF_INET6) {
    const auto& s6 = reinterpret_cast<const sockaddr_in6&>(sa);
    a.port = ntohs(s6.sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr)) {
      std::memcpy(a.ip.data(), reinterpret_cast<const uint8_t*>(&s6.sin6_addr) + 12, 4);
    } else {
      a.ipv6 = true;
      std::memcpy(a.ip.data(), &s6.sin6_addr, 16);
    }
  }
  return a;
}

socklen_t to_sockaddr(const stun::Address& a, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof out);
  if (a.ipv6) {
    auto& s6 = reinterpret_cast<sockaddr_in6&>(out);
    s6.sin6_family = AF_INET6;
    s6.sin6_port = htons(a.port);
    std::memcpy(&s6.sin6_addr, a.ip.data(), 16);
    return sizeof(sockaddr_in6);
  }
  // Linux takes an AF_INET destination on a dual-stack AF_INET6 socket as well.
  auto& s4 = reinterpret_cast<sockaddr_in&>(out);
  s4.sin_family = AF_INET;
  s4.sin_port = htons(a.port);
  std::memcpy(&s4.sin_addr, a.ip.data(), 4);
  return sizeof(sockaddr_in);
}

int set_socket_buffer(int fd, bool receive, int bytes) {
  const int force = receive ? SO_RCVBUFFORCE : SO_SNDBUFFORCE;
  const int plain = receive ? SO_RCVBUF : SO_SNDBUF;
  if (setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof bytes) != 0)
    setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes);
  int got = 0;
  socklen_t len = sizeof got;
  getsockopt(fd, SOL_SOCKET, plain, &got, &len);
  return got;
}

namespace {
bool same_destination(const sockaddr_storage& a, socklen_t alen, const sockaddr_storage& b, socklen_t blen) {
  return alen == blen && std::memcmp(&a, &b, alen) == 0;
}
constexpr size_t kCmsgSpace = CMSG_SPACE(sizeof(int));
constexpr size_t kMaxGsoSegments = 64;
constexpr size_t kMaxGsoBytes = 65000;  // under the 65,507-byte UDP payload limit
}  // namespace

DatagramReader::DatagramReader(size_t batch, size_t slot_size)
    : batch_(batch),
      slot_(slot_size),
      buf_(batch * slot_size),
      msgs_(batch),
      iov_(batch),
      from_(batch),
      control_(batch * kCmsgSpace) {}

void DatagramReader::enable_gro(int fd) {
  int on = 1;
  if (setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) != 0)
    log().debug("udp: UDP_GRO not available: {}", std::strerror(errno));
}

size_t DatagramReader::read(int fd, size_t max_datagrams, const Fn& fn) {
  size_t total = 0;
  while (total < max_datagrams) {
    const size_t want = std::min(batch_, max_datagrams - total);
    for (size_t i = 0; i < want; ++i) {
      iov_[i] = {buf_.data() + i * slot_, slot_};
      msgs_[i].msg_hdr = {};
      msgs_[i].msg_hdr.msg_name = &from_[i];
      msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      msgs_[i].msg_hdr.msg_iov = &iov_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
      msgs_[i].msg_hdr.msg_control = control_.data() + i * kCmsgSpace;
      msgs_[i].msg_hdr.msg_controllen = kCmsgSpace;
      msgs_[i].msg_len = 0;
    }
    int n = recvmmsg(fd, msgs_.data(), static_cast<unsigned>(want), MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        log().debug("udp: recvmmsg failed: {}", std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) {
        ++truncated_;
        log().debug("udp: datagram larger than {} bytes dropped", slot_);
        continue;
      }
      size_t segment = 0;  // UDP_GRO: the run's datagram size (the last may be shorter)
      for (cmsghdr* c = CMSG_FIRSTHDR(&msgs_[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs_[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
          int v = 0;
          std::memcpy(&v, CMSG_DATA(c), sizeof v);
          if (v > 0) segment = static_cast<size_t>(v);
        }
      }
      const uint8_t* base = buf_.data() + static_cast<size_t>(i) * slot_;
      const size_t len = msgs_[i].msg_len;
      const auto from = to_address(from_[i]);
      if (segment == 0 || segment >= len) {
        fn(ByteView(base, len), from);
        continue;
      }
      for (size_t off = 0; off < len; off += segment) fn(ByteView(base + off, std::min(segment, len - off)), from);
    }
    total += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < want) break;  // drained
  }
  return total;
}

DatagramWriter::DatagramWriter(size_t max_queued) : max_(max_queued) {
  items_.reserve(max_queued);
  msgs_.resize(max_queued);
  iov_.resize(max_queued);
  control_.resize(max_queued * kCmsgSpace);
  groups_.reserve(max_queued);
}

bool DatagramWriter::send(int fd, ByteView data, const stun::Address& to) {
  if (depth_ == 0) {
    sockaddr_storage sa;
    socklen_t len = to_sockaddr(to, sa);
    ssize_t n = ::sendto(fd, data.data(), data.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&sa), len);
    if (n < 0) {
      ++failed_;
      log().debug("udp: send failed: {}", std::strerror(errno));
      return false;
    }
    ++sent_;
    return true;
  }
  if (items_.size() >= max_) flush(fd);
  Item it{data_.size(), data.size(), {}, 0};
  it.to_len = to_sockaddr(to, it.to);
  data_.insert(data_.end(), data.begin(), data.end());
  items_.push_back(it);
  if (data.size() >= 1000) ++full_queued_;
  return true;
}

void DatagramWriter::end_batch(int fd) {
  if (depth_ > 0 && --depth_ == 0) flush(fd);
}

void DatagramWriter::flush(int fd) {
  const size_t n = items_.size();
  // Group: a run of datagrams to one destination, all of the first one's size except a shorter
  // last one, is one GSO message; the items of a run are contiguous in data_.
  groups_.clear();
  for (size_t k = 0; k < n;) {
    size_t j = k + 1;
    if (gso_) {
      const size_t seg = items_[k].size;
      size_t total = seg;
      while (j < n && j - k < kMaxGsoSegments && items_[j].size <= seg && total + items_[j].size <= kMaxGsoBytes &&
             same_destination(items_[j].to, items_[j].to_len, items_[k].to, items_[k].to_len)) {
        total += items_[j].size;
        ++j;
        if (items_[j - 1].size < seg) break;  // a shorter datagram ends the run
      }
    }
    const size_t g = groups_.size();
    groups_.emplace_back(k, j);
    size_t bytes = 0;
    for (size_t x = k; x < j; ++x) bytes += items_[x].size;
    iov_[g] = {data_.data() + items_[k].offset, bytes};
    auto& h = msgs_[g].msg_hdr;
    h = {};
    h.msg_name = &items_[k].to;
    h.msg_namelen = items_[k].to_len;
    h.msg_iov = &iov_[g];
    h.msg_iovlen = 1;
    if (j - k > 1) {
      uint8_t* ctl = control_.data() + g * kCmsgSpace;
      std::memset(ctl, 0, kCmsgSpace);
      h.msg_control = ctl;
      h.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
      cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto seg = static_cast<uint16_t>(items_[k].size);
      std::memcpy(CMSG_DATA(c), &seg, sizeof seg);
    }
    k = j;
  }
  const size_t m = groups_.size();
  size_t i = 0;
  while (i < m) {
    int r = sendmmsg(fd, msgs_.data() + i, static_cast<unsigned>(m - i), MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      auto [first, last] = groups_[i];
      if (last - first > 1 && (err == EIO || err == EINVAL || err == EOPNOTSUPP || err == ENOPROTOOPT)) {
        // The kernel or the device can't segment: stop asking, send this run one by one.
        log().info("udp: GSO unavailable ({}); sending datagrams one by one", std::strerror(err));
        gso_ = false;
        for (size_t x = first; x < last; ++x) {
          if (::sendto(fd, data_.data() + items_[x].offset, items_[x].size, MSG_DONTWAIT,
                       reinterpret_cast<const sockaddr*>(&items_[x].to), items_[x].to_len) < 0)
            ++failed_;
          else
            ++sent_;
        }
      } else {
        // This datagram (run) failed, e.g. the socket buffer is full: count it, go on.
        failed_ += last - first;
        log().debug("udp: send failed: {}", std::strerror(err));
      }
      ++i;
      continue;
    }
    for (int x = 0; x < r; ++x) {
      const auto [first, last] = groups_[i + static_cast<size_t>(x)];
      sent_ += last - first;
      gso_runs_ += last - first > 1 ? 1 : 0;
    }
    i += static_cast<size_t>(r);
  }
  items_.clear();
  data_.clear();
  full_queued_ = 0;
}

}  // namespace peerrtc::net
