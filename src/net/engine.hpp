// The server engine: one UDP socket for every peer (ICE-lite), demultiplexed by remote address,
// or by the ufrag in a STUN USERNAME for an address not seen yet (RFC 8445 §2.5, like
// mediasoup's WebRtcServer). Owns every server PeerConnection. Runs on the Loop's thread; all
// methods must be called there (the signaling layer posts onto it).
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "net/ice_tcp.hpp"
#include "net/loop.hpp"
#include "net/turn_guard.hpp"
#include "net/udp_io.hpp"
#include "rtc/peer_connection.hpp"

namespace peerrtc::net {

using PeerId = uint64_t;

struct EngineConfig {
  std::string bind_address = "127.0.0.1";  // UDP bind address ("0.0.0.0" / "::" for all)
  uint16_t udp_port = 0;                    // 0 = ephemeral
  // Addresses announced as host candidates. Empty: the bind address, or for a wildcard bind
  // every non-loopback interface address (and loopback when no other exists).
  std::vector<std::string> announced_addresses;
  rtc::Config peer;
  size_t max_peers = 10000;           // connected or connecting
  size_t max_pending = 1000;          // peers whose handshake has not completed
  // How often the timers of a peer still connecting are checked (connect timeout, DTLS
  // retransmits). A connected peer has only its ICE consent timeout left, so it is checked every
  // consent_timeout / 10, between peer_tick and 1 s (or peer_tick if that is longer): 1,000
  // idle peers are not walked 20 times a second.
  std::chrono::milliseconds peer_tick{50};
  size_t socket_buffer_bytes = 4 * 1024 * 1024;
  // Bundling wait: when a loop turn has read every datagram waiting and holds small messages
  // for SCTP bundling, keep reading what arrives (the thread blocked in ppoll meanwhile) until
  // this long after that moment, so messages from several senders share one SCTP packet per
  // receiver. At most this much added latency per wake-up. 0 = off.
  std::chrono::microseconds bundle_wait{0};
  // ICE-TCP (RFC 6544 passive host candidates, RFC 4571 framing) for clients whose network
  // drops UDP. Answers list the UDP candidates first, then one `tcptype passive` candidate per
  // address on the same port number.
  struct IceTcp {
    bool enabled = true;
    // true: listen on TCP at the UDP port's number. false: another server owns that TCP port
    // (peerrtc-server's HTTP, which tells the two apart by the first bytes) and hands the
    // connections that start like ICE to adopt_tcp().
    bool listen = true;
    size_t max_connections = 1000;  // held at once; more are refused (closed at once)
    size_t max_per_ip = 20;         // from one client address
    // A connection whose first frame is not a valid STUN Binding request for a live peer is
    // closed at once; one that sends nothing valid for this long is closed too.
    std::chrono::milliseconds stun_timeout{5000};
    size_t max_frame = 8192;               // longer RFC 4571 frames close the connection
    size_t max_write_queue = 1024 * 1024;  // per connection; past it packets are dropped (as UDP)
  } tcp;
};

struct TcpStats {
  uint64_t accepted = 0;          // connections taken (listened for or handed over)
  uint64_t refused = 0;           // over max_connections / max_per_ip, or ICE-TCP disabled
  uint64_t closed_no_stun = 0;    // no valid STUN request in time, unknown ufrag, bad integrity
  uint64_t closed_bad_frame = 0;  // not STUN first, empty or oversized frame
  uint64_t frames_in = 0, frames_out = 0;
  uint64_t dropped_send = 0;      // packets dropped at a full write queue
  // The peer's selected path was a connection that closed, and another path it had proven (a UDP
  // address, another ICE-TCP connection) took over instead of the peer ending.
  uint64_t path_fallbacks = 0;
  size_t open = 0;
};

struct EngineStats {
  size_t peers = 0;
  size_t pending = 0;
  uint64_t datagrams_in = 0, datagrams_out = 0;
  uint64_t gso_runs = 0;           // runs of datagrams sent as one GSO message
  uint64_t dropped_unknown = 0;     // datagrams from unknown addresses that were not valid STUN
  uint64_t dropped_oversize = 0;    // datagrams larger than the receive slot (64 KiB)
  uint64_t dropped_send = 0;        // send failures (e.g. socket buffer full)
  uint64_t peers_created = 0, peers_closed = 0;
  // Per-peer wire drops, summed over live and closed peers.
  uint64_t stun_bad = 0;      // STUN with bad integrity/credentials/format for a known ufrag,
                              // or an ICE role conflict (487)
  uint64_t dtls_dropped = 0;  // DTLS from an unauthenticated address, non-DTLS bytes
  uint64_t dcep_bad = 0, messages_dropped = 0;
  // Datagrams and ICE-TCP frames whose handling threw (a bug below or a throwing callback):
  // each is dropped, logged and counted here, and the turn and the socket go on.
  uint64_t receive_errors = 0;
  TcpStats tcp;
};

boost::asio::ip::udp::endpoint to_endpoint(const stun::Address& a);
std::string to_string(const stun::Address& a);

class Engine {
 public:
  // Makes the callbacks of a new peer; the engine adds send_datagram and on_address, and wraps
  // on_closed so the peer is destroyed (after on_closed returns).
  using CallbackFactory = std::function<rtc::PeerConnection::Callbacks(PeerId)>;

  Engine(Loop& loop, EngineConfig config, std::shared_ptr<dtls::Certificate> cert = nullptr);
  ~Engine();  // closes every peer (without callbacks) and the socket
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  struct Accepted {
    PeerId id;
    std::string answer;
  };
  // Parses the offer, creates the peer, returns its answer. Errors are for the client (HTTP 400)
  // or limits (503-like: message says which).
  Result<Accepted> accept_offer(std::string_view offer_sdp, const CallbackFactory& make_callbacks);

  // ICE restart of a live peer (rtc::PeerConnection::restart_ice): the same DTLS and SCTP
  // association, new ICE credentials; returns the answer. The new ufrag routes to the peer at
  // once, the old one until the peer retires it (its first valid check with the new ones).
  // `restarted` tells whether the credentials changed (an offer with the same ones is none).
  // Errors say why the offer cannot restart this peer (HTTP 409).
  Result<Accepted> restart_ice(PeerId id, const sdp::Description& offer, bool* restarted = nullptr);

  rtc::PeerConnection* peer(PeerId id);
  // Closes the peer (its on_closed runs) and destroys it on the next turn of the loop.
  void close_peer(PeerId id, const std::string& reason);
  // Closes the peer once what was sent to it has arrived, at most `timeout` later
  // (rtc::PeerConnection::close_after_flush); then as close_peer.
  void close_peer_after_flush(PeerId id, const std::string& reason, std::chrono::milliseconds timeout);
  // Closes every peer; the socket stays open until destruction.
  void close_all(const std::string& reason);

  // Takes an accepted TCP connection (a socket on this loop) whose first bytes, already read,
  // are `initial`: ICE-TCP from here on. Limits apply as to the engine's own listener.
  void adopt_tcp(boost::asio::ip::tcp::socket socket, Bytes initial);

  uint16_t udp_port() const { return port_; }
  const std::vector<std::string>& announced_addresses() const { return announced_; }
  EngineStats stats() const;
  const std::shared_ptr<dtls::Certificate>& certificate() const { return cert_; }

  // Test hook: runs before the engine handles each UDP datagram and each ICE-TCP frame. Tests
  // make it throw to prove that a throw under a loop turn is contained (tests/unit/net).
  using ReceiveHook = std::function<void(ByteView data, const stun::Address& from)>;
  void set_receive_hook(ReceiveHook hook) { receive_hook_ = std::move(hook); }

 private:
  struct Entry {
    std::unique_ptr<rtc::PeerConnection> pc;
    std::vector<stun::Address> addresses;
    std::vector<uint64_t> tcp;  // ICE-TCP connections that authenticated for this peer
    bool connected = false;
  };
  struct TcpEntry {
    std::shared_ptr<TcpConnection> conn;
    PeerId peer = 0;  // 0 until its first valid STUN request
    Loop::Clock::time_point deadline;
  };
  struct AddressHash {
    size_t operator()(const stun::Address& a) const noexcept;
  };
  // A path of `e` other than its selected one that is still usable (see drop_tcp), or none.
  std::optional<stun::Address> other_path(const Entry& e) const;
  void start_receive();
  void read_ready();
  void on_datagram(ByteView data, const stun::Address& from, Loop::Clock::time_point now);
  void handle_datagram(ByteView data, const stun::Address& from, Loop::Clock::time_point now);
  template <class F>
  void contained(const char* what, const stun::Address& from, F&& f);
  void send(ByteView data, const stun::Address& to);
  void on_peer_address(PeerId id, const stun::Address& a);
  void schedule_destroy(PeerId id);
  void destroy(PeerId id);
  void tick(Loop::Clock::time_point now);
  void begin_turn();
  void end_turn();
  void note_arrival(std::chrono::steady_clock::time_point t);
  void start_tcp_accept();
  void on_tcp_frame(TcpConnection& c, ByteView frame);
  void on_tcp_closed(uint64_t id, const std::string& reason, bool bad_frame);
  void drop_tcp(uint64_t id, const std::string& reason, uint64_t* counter);
  void tcp_tick(Loop::Clock::time_point now);

  Loop& loop_;
  EngineConfig config_;
  std::shared_ptr<dtls::Certificate> cert_;
  boost::asio::ip::udp::socket socket_;
  uint16_t port_ = 0;
  std::vector<std::string> announced_;
  std::vector<sdp::LocalParams::Candidate> candidates_;
  DatagramReader reader_;
  DatagramWriter writer_;
  std::unordered_map<PeerId, Entry> peers_;
  std::unordered_map<std::string, PeerId> by_ufrag_;
  std::unordered_map<stun::Address, PeerId, AddressHash> by_address_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> tcp_acceptor_;
  std::unordered_map<uint64_t, TcpEntry> tcp_;
  std::unordered_map<stun::Address, uint64_t, AddressHash> tcp_by_address_;
  std::unordered_map<std::string, size_t> tcp_per_ip_;
  size_t tcp_unauthenticated_ = 0;
  uint64_t next_tcp_id_ = 1;
  PeerId next_id_ = 1;
  uint64_t ticker_ = 0;
  Loop::Clock::time_point last_peer_tick_{};
  Loop::Clock::time_point last_connected_tick_{};
  std::vector<rtc::PeerConnection*> tick_scratch_;
  EngineStats stats_;
  // Arrivals on the UDP socket, for the bundling wait (read_ready): the last one and the mean gap
  // (starts "slow": no wait until traffic shows).
  std::chrono::steady_clock::time_point last_arrival_{};
  int64_t gap_ewma_ns_ = 1'000'000'000;
  ReceiveHook receive_hook_;
  TurnFn turn_fn_ = [this](bool begin) { begin ? begin_turn() : end_turn(); };
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace peerrtc::net
