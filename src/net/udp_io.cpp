#include "net/udp_io.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

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

DatagramReader::DatagramReader(size_t batch, size_t slot_size)
    : batch_(batch), slot_(slot_size), buf_(batch * slot_size), msgs_(batch), iov_(batch), from_(batch) {}

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
      fn(ByteView(buf_.data() + static_cast<size_t>(i) * slot_, msgs_[i].msg_len), to_address(from_[i]));
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
  return true;
}

void DatagramWriter::end_batch(int fd) {
  if (depth_ > 0 && --depth_ == 0) flush(fd);
}

void DatagramWriter::flush(int fd) {
  size_t i = 0;
  const size_t n = items_.size();
  for (size_t k = 0; k < n; ++k) {
    iov_[k] = {data_.data() + items_[k].offset, items_[k].size};
    msgs_[k].msg_hdr = {};
    msgs_[k].msg_hdr.msg_name = &items_[k].to;
    msgs_[k].msg_hdr.msg_namelen = items_[k].to_len;
    msgs_[k].msg_hdr.msg_iov = &iov_[k];
    msgs_[k].msg_hdr.msg_iovlen = 1;
  }
  while (i < n) {
    int r = sendmmsg(fd, msgs_.data() + i, static_cast<unsigned>(n - i), MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      // This datagram failed (e.g. the socket buffer is full): count it, go on with the rest.
      ++failed_;
      log().debug("udp: send failed: {}", std::strerror(errno));
      ++i;
      continue;
    }
    sent_ += static_cast<uint64_t>(r);
    i += static_cast<size_t>(r);
  }
  items_.clear();
  data_.clear();
}

}  // namespace peerrtc::net
