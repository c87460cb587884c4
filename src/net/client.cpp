#include "net/client.hpp"

#include <stdexcept>

#include "common/log.hpp"
#include "net/engine.hpp"
#include "net/turn_guard.hpp"
#include "sctp/sctp.hpp"
#include "sdp/sdp.hpp"

namespace peerrtc::net {

namespace asio = boost::asio;
using udp = asio::ip::udp;

ClientPeer::ClientPeer(Loop& loop, rtc::Config config, rtc::PeerConnection::Callbacks callbacks,
                       std::shared_ptr<dtls::Certificate> cert, const std::string& bind_address)
    : loop_(loop), socket_(loop.io()) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(bind_address, ec);
  if (ec) throw std::runtime_error("invalid client bind address '" + bind_address + "'");
  udp::endpoint ep(addr, 0);
  socket_.open(ep.protocol(), ec);
  if (!ec) socket_.bind(ep, ec);
  if (ec) throw std::runtime_error("cannot bind client UDP socket: " + ec.message());
  socket_.non_blocking(true);
  // A client receives bursts (a whole loop turn of the server's datagrams at once); the default
  // ~208 KiB buffer overflows under load and every drop costs an SCTP retransmission.
  set_socket_buffer(socket_.native_handle(), true, 1024 * 1024);
  DatagramReader::enable_gro(socket_.native_handle());
  port_ = socket_.local_endpoint().port();
  callbacks.send_datagram = [this](ByteView d, const stun::Address& to) {
    if (offline_) return;
    writer_.send(socket_.native_handle(), d, to);
  };
  pc_ = rtc::PeerConnection::create_client(cert ? std::move(cert) : dtls::Certificate::generate(),
                                           config, std::move(callbacks), Loop::Clock::now());
  ticker_ = loop_.add_ticker([this](Loop::Clock::time_point now) { pc_->tick(now); });
  start_receive();
}

ClientPeer::~ClientPeer() {
  *alive_ = false;
  loop_.remove_ticker(ticker_);
  pc_.reset();
  boost::system::error_code ec;
  socket_.close(ec);
}

std::string ClientPeer::offer() const { return pc_->local_description({}); }

Result<bool> ClientPeer::set_answer(std::string_view answer) {
  auto d = sdp::parse(answer);
  if (!d) return Error{d.error()};
  auto r = pc_->set_remote_answer(*d);
  // The first connectivity check goes out now rather than on the next loop tick (up to 10 ms).
  if (r) pc_->tick(Loop::Clock::now());
  return r;
}

void ClientPeer::start_receive() {
  socket_.async_wait(udp::socket::wait_read, [this, alive = alive_](const boost::system::error_code& ec) {
    if (!*alive || ec == asio::error::operation_aborted) return;
    if (!ec) {
      const auto now = Loop::Clock::now();
      const int fd = socket_.native_handle();
      // One turn: SCTP's batch inside the writer's, ended even if a datagram's handling throws.
      const TurnFn turn_fn = [this, fd](bool begin) {
        if (begin) {
          writer_.begin_batch();
          sctp::Stack::begin_batch();
        } else {
          sctp::Stack::end_batch();
          writer_.end_batch(fd);
        }
      };
      TurnGuard turn(turn_fn);
      // Every ClientPeer of a process runs on the one loop thread: one read buffer serves all.
      static DatagramReader reader;
      reader.read(fd, 64, [&](ByteView d, const stun::Address& from) {
        pc_->receive_datagram(d, from, now);
      });
    }
    if (socket_.is_open()) start_receive();
  });
}

}  // namespace peerrtc::net
