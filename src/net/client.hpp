// The native client side of the stack: one client PeerConnection (controlling ICE, DTLS client,
// SCTP) on its own UDP socket, driven by the Loop. For C++ tests, the benchmark's load generator
// and native programs that connect to a PeerRTC server without a browser.
//
// Every method runs on the Loop's thread. Do not destroy a ClientPeer inside one of its callbacks.
#pragma once
#include <boost/asio/ip/udp.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "net/loop.hpp"
#include "net/udp_io.hpp"
#include "rtc/peer_connection.hpp"

namespace peerrtc::net {

class ClientPeer {
 public:
  ClientPeer(Loop& loop, rtc::Config config, rtc::PeerConnection::Callbacks callbacks,
             std::shared_ptr<dtls::Certificate> cert = nullptr,
             const std::string& bind_address = "127.0.0.1");
  ~ClientPeer();
  ClientPeer(const ClientPeer&) = delete;
  ClientPeer& operator=(const ClientPeer&) = delete;

  std::string offer() const;                        // the local SDP offer
  Result<bool> set_answer(std::string_view answer);  // sends the first ICE check at once
  rtc::PeerConnection& pc() { return *pc_; }
  uint16_t local_port() const { return port_; }
  // Simulates a cut network: nothing more leaves this peer (for fault tests and benchmarks).
  void set_offline(bool offline) { offline_ = offline; }

 private:
  void start_receive();
  Loop& loop_;
  boost::asio::ip::udp::socket socket_;
  uint16_t port_ = 0;
  std::unique_ptr<rtc::PeerConnection> pc_;
  DatagramWriter writer_;
  uint64_t ticker_ = 0;
  bool offline_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace peerrtc::net
