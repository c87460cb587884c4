// One ICE-TCP connection of the server (RFC 6544 passive candidate, RFC 4571 framing): the
// socket, the frame reader and a bounded write queue. Runs on the network thread; the Engine
// owns it and decides what its frames mean.
//
// Backpressure: a frame that would take the write queue past its bound is dropped and counted,
// as a full socket buffer drops a UDP datagram; SCTP above retransmits and slows down, so a slow
// TCP reader can neither stall the loop nor grow memory.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/bytes.hpp"
#include "net/rfc4571.hpp"
#include "net/turn_guard.hpp"
#include "stun/stun.hpp"

namespace peerrtc::net {

class TcpConnection : public std::enable_shared_from_this<TcpConnection> {
 public:
  struct Limits {
    size_t max_frame = 8192;
    size_t max_write_queue = 1024 * 1024;
  };
  // on_frame(conn, frame): one complete frame (the view is valid during the call). Each read's
  // frames are bracketed by turn(true) / turn(false) (a TurnGuard: the end runs even when
  // on_frame throws), so the owner can batch what they cause. The Engine's on_frame catches
  // what its handling throws; a throw that still reached on_read would stop this connection's
  // reads (not the turn, nor any other connection).
  // A connection that ends by itself calls on_closed exactly once (not after close()).
  using FrameFn = std::function<void(TcpConnection&, ByteView frame)>;
  using TurnFn = net::TurnFn;
  using ClosedFn = std::function<void(TcpConnection&, const std::string& reason, bool bad_frame)>;

  TcpConnection(uint64_t id, boost::asio::ip::tcp::socket socket, Limits limits);
  ~TcpConnection();
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // Starts reading; `initial` holds bytes already read from the socket (by the HTTP server that
  // handed it over) and is processed first, on the next turn of the loop.
  void start(Bytes initial, FrameFn on_frame, TurnFn turn, ClosedFn on_closed);
  // Frames and queues one packet; false when dropped (queue full, too large, closed).
  bool send(ByteView packet);
  void close();  // no callback

  uint64_t id() const { return id_; }
  const stun::Address& remote() const { return remote_; }  // .tcp is set
  bool is_open() const { return open_; }
  uint64_t dropped() const { return dropped_; }

 private:
  void read();
  void on_read(ByteView data);
  void write();
  void fail(const std::string& reason, bool bad_frame);

  uint64_t id_;
  boost::asio::ip::tcp::socket socket_;
  Limits limits_;
  stun::Address remote_;
  rfc4571::Reader reader_;
  FrameFn on_frame_;
  TurnFn turn_;
  ClosedFn on_closed_;
  std::vector<uint8_t> read_buf_;
  std::vector<uint8_t> pending_, inflight_;  // framed bytes waiting / being written
  bool writing_ = false;
  bool open_ = true;
  uint64_t dropped_ = 0;
};

}  // namespace peerrtc::net
