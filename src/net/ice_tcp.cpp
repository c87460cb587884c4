#include "net/ice_tcp.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "common/log.hpp"
#include "net/udp_io.hpp"

namespace peerrtc::net {

namespace asio = boost::asio;

namespace {
constexpr size_t kReadChunk = 16 * 1024;
}

TcpConnection::TcpConnection(uint64_t id, asio::ip::tcp::socket socket, Limits limits)
    : id_(id), socket_(std::move(socket)), limits_(limits), reader_(limits.max_frame) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) {
    sockaddr_storage ss{};
    std::memcpy(&ss, ep.data(), std::min<size_t>(ep.size(), sizeof ss));
    remote_ = to_address(ss);
  }
  remote_.tcp = true;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);  // DTLS records are latency-bound
}

TcpConnection::~TcpConnection() { close(); }

void TcpConnection::start(Bytes initial, FrameFn on_frame, TurnFn turn, ClosedFn on_closed) {
  on_frame_ = std::move(on_frame);
  turn_ = std::move(turn);
  on_closed_ = std::move(on_closed);
  read_buf_.resize(kReadChunk);
  if (initial.empty()) return read();
  // Not inside the caller's stack: the engine may still be setting this connection up.
  asio::post(socket_.get_executor(), [self = shared_from_this(), bytes = std::move(initial)] {
    if (!self->open_) return;
    self->on_read(bytes);
    if (self->open_) self->read();
  });
}

void TcpConnection::read() {
  socket_.async_read_some(asio::buffer(read_buf_),
                          [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
                            if (!self->open_) return;
                            if (ec) {
                              const bool eof = ec == asio::error::eof;
                              return self->fail(eof ? "closed by the client" : ec.message(), false);
                            }
                            self->on_read(ByteView(self->read_buf_.data(), n));
                            if (self->open_) self->read();
                          });
}

void TcpConnection::on_read(ByteView data) {
  auto self = shared_from_this();  // a frame's handler may close (and the owner drop) us
  rfc4571::Reader::Status st;
  {
    TurnGuard turn(turn_);  // the turn ends even if a frame's handler throws
    st = reader_.feed(data, [this](ByteView f) {
      if (open_ && on_frame_) on_frame_(*this, f);
    });
  }
  if (!open_) return;
  if (st == rfc4571::Reader::Status::TooLarge)
    return fail("RFC 4571 frame longer than " + std::to_string(limits_.max_frame) + " bytes", true);
  if (st == rfc4571::Reader::Status::Empty) return fail("empty RFC 4571 frame", true);
}

bool TcpConnection::send(ByteView packet) {
  if (!open_ || packet.size() > 0xFFFF ||
      pending_.size() + inflight_.size() + packet.size() + rfc4571::kHeader > limits_.max_write_queue) {
    ++dropped_;
    return false;
  }
  rfc4571::append_frame(pending_, packet);
  if (!writing_) write();
  return true;
}

void TcpConnection::write() {
  if (pending_.empty() || !open_) return;
  inflight_.swap(pending_);
  pending_.clear();
  writing_ = true;
  asio::async_write(socket_, asio::buffer(inflight_),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                      self->writing_ = false;
                      self->inflight_.clear();
                      if (!self->open_) return;
                      if (ec) return self->fail("write failed: " + ec.message(), false);
                      self->write();
                    });
}

void TcpConnection::fail(const std::string& reason, bool bad_frame) {
  if (!open_) return;
  close();
  if (on_closed_) {
    auto cb = std::move(on_closed_);
    cb(*this, reason, bad_frame);
  }
}

void TcpConnection::close() {
  if (!open_) return;
  open_ = false;
  boost::system::error_code ec;
  socket_.close(ec);
}

}  // namespace peerrtc::net
