#include "net/client.hpp"

#include <stdexcept>

#include "common/log.hpp"
#include "net/engine.hpp"
#include "sdp/sdp.hpp"

namespace peerrtc::net {

namespace asio = boost::asio;
using udp = asio::ip::udp;

ClientPeer::ClientPeer(Loop& loop, rtc::Config config, rtc::PeerConnection::Callbacks callbacks,
                       std::shared_ptr<dtls::Certificate> cert, const std::string& bind_address)
    : loop_(loop), socket_(loop.io()), rx_buf_(65536) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(bind_address, ec);
  if (ec) throw std::runtime_error("invalid client bind address '" + bind_address + "'");
  udp::endpoint ep(addr, 0);
  socket_.open(ep.protocol(), ec);
  if (!ec) socket_.bind(ep, ec);
  if (ec) throw std::runtime_error("cannot bind client UDP socket: " + ec.message());
  socket_.non_blocking(true);
  port_ = socket_.local_endpoint().port();
  callbacks.send_datagram = [this](ByteView d, const stun::Address& to) {
    if (offline_) return;
    boost::system::error_code e;
    socket_.send_to(asio::buffer(d.data(), d.size()), to_endpoint(to), 0, e);
    if (e) log().debug("client: send failed: {}", e.message());
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
  return pc_->set_remote_answer(*d);
}

void ClientPeer::start_receive() {
  socket_.async_receive_from(asio::buffer(rx_buf_), rx_from_,
                             [this, alive = alive_](const boost::system::error_code& ec, size_t n) {
                               if (!*alive || ec == asio::error::operation_aborted) return;
                               if (!ec)
                                 pc_->receive_datagram(ByteView(rx_buf_.data(), n),
                                                       to_address(rx_from_), Loop::Clock::now());
                               if (socket_.is_open()) start_receive();
                             });
}

}  // namespace peerrtc::net
