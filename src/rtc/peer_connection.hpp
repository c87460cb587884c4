// One WebRTC DataChannel peer: ICE (lite on the server, controlling on the client) → DTLS →
// SCTP → DCEP data channels. Pure in the sense of the pieces below it: datagrams come in with
// receive_datagram(), go out through Callbacks::send_datagram, time comes in with tick(). No
// sockets, no clocks of its own, no threads: everything runs on the network thread.
//
// Re-entrancy: callbacks run synchronously inside receive_datagram(), tick(), send(),
// open_channel(), close_channel() and close(). A callback may call any method of this object
// except the destructor: the owner must defer destruction (e.g. post it) after on_closed.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/bytes.hpp"
#include "common/result.hpp"
#include "peerrtc/limits.hpp"
#include "dcep/dcep.hpp"
#include "dtls/dtls.hpp"
#include "sctp/sctp.hpp"
#include "sdp/sdp.hpp"
#include "stun/stun.hpp"

namespace peerrtc::rtc {

using Clock = std::chrono::steady_clock;
using Endpoint = stun::Address;

enum class Role { Server /* ICE-lite, controlled */, Client /* full ICE, controlling */ };
enum class State { New, Checking, Connecting /* DTLS/SCTP */, Connected, Closed };
const char* to_string(State s);

struct ChannelInit {
  std::string label;
  std::string protocol;
  bool ordered = true;
  std::optional<uint16_t> max_retransmits;
  std::optional<uint32_t> max_packet_lifetime_ms;
  uint16_t priority = 256;
  // The SCTP stream to open it on (RTCDataChannelInit.id); empty = the lowest free id of our
  // parity (RFC 8832 §6). Any free id below the negotiated count is allowed, as in browsers.
  std::optional<uint16_t> id;
};

struct ChannelInfo {
  uint16_t stream = 0;
  ChannelInit init;
  bool opened_by_remote = false;
  bool open = false;  // usable for send
};

struct Config {
  std::chrono::milliseconds consent_timeout{30000};  // RFC 7675: no valid check for this long
  std::chrono::milliseconds connect_timeout{30000};  // from creation to Connected
  std::chrono::milliseconds client_check_interval{50};
  std::chrono::milliseconds client_keepalive_interval{2500};
  // Silence after which a datagram from the remote counts as its path coming back (see
  // sctp::Association::path_returned()). Shorter than any outage worth telling SCTP about (its
  // backoff starts at RTO.min, 220 ms, and doubles), longer than the gaps between a busy peer's
  // SACKs.
  std::chrono::milliseconds path_silence{1000};
  uint32_t max_message_size = kMaxMessageSize;  // what we advertise and accept
  uint16_t sctp_streams = 64;  // in and out; 2..65535 (peerrtc::Config::sctp_streams)
  size_t max_buffered = 8 * 1024 * 1024;  // SCTP send queue cap per peer
  uint16_t mtu = 1200;
};

enum class SendStatus { Ok, NoSuchChannel, NotOpen, TooLarge, BufferFull, Error };
const char* to_string(SendStatus s);

struct Counters {
  uint64_t stun_bad = 0;         // bad integrity/username/format, ICE role conflict (487)
  uint64_t dtls_dropped = 0;     // from an unauthenticated address or bad records
  uint64_t dcep_bad = 0;         // malformed DCEP
  uint64_t messages_dropped = 0; // unknown PPID, unknown stream, ...
  uint64_t messages_in = 0, messages_out = 0, bytes_in = 0, bytes_out = 0;
};

class PeerConnection {
 public:
  struct Callbacks {
    std::function<void(ByteView datagram, const Endpoint& to)> send_datagram;
    // ICE learned (or changed) the remote address: the owner maps it to this peer.
    std::function<void(const Endpoint& remote)> on_address;
    // After an ICE restart (restart_ice), the first valid check with the new credentials
    // retired the old ones: the owner stops routing `old_ufrag` to this peer.
    std::function<void(const std::string& old_ufrag)> on_ufrag_retired;
    std::function<void()> on_connected;  // SCTP association up
    std::function<void(const ChannelInfo&)> on_channel_open;
    std::function<void(uint16_t stream, bool binary, ByteView message)> on_message;
    std::function<void(uint16_t stream)> on_channel_closed;
    std::function<void()> on_buffered_low;
    // Exactly once, for any end: remote close, consent/connect timeout, failure, local close().
    std::function<void(const std::string& reason)> on_closed;
  };

  // Server side: from a parsed remote offer. Validates it (throws nothing; check error()).
  static Result<std::unique_ptr<PeerConnection>> create_server(
      const sdp::Description& offer, std::shared_ptr<dtls::Certificate> cert, Config config,
      Callbacks callbacks, Clock::time_point now);
  // Client side: call local_description() for the offer, then set_remote_answer().
  static std::unique_ptr<PeerConnection> create_client(std::shared_ptr<dtls::Certificate> cert,
                                                       Config config, Callbacks callbacks,
                                                       Clock::time_point now);
  ~PeerConnection();
  PeerConnection(const PeerConnection&) = delete;
  PeerConnection& operator=(const PeerConnection&) = delete;

  // The local SDP: for a server the answer (candidates from `candidates`), for a client the offer.
  std::string local_description(const std::vector<sdp::LocalParams::Candidate>& candidates) const;
  // Client only: the server's answer; ICE checks start at the next tick().
  Result<bool> set_remote_answer(const sdp::Description& answer);

  void receive_datagram(ByteView datagram, const Endpoint& from, Clock::time_point now);
  void tick(Clock::time_point now);

  Result<uint16_t> open_channel(const ChannelInit& init);
  SendStatus send(uint16_t stream, ByteView data, bool binary);
  SendStatus send_text(uint16_t stream, std::string_view text) { return send(stream, as_bytes(text), false); }
  void close_channel(uint16_t stream);
  void close(const std::string& reason = "closed locally");  // at once: SCTP ABORT + close_notify
  // Closes once everything already sent has arrived (the last event before a server-side close,
  // e.g. `moved` or `kicked`, must not be lost in an ABORT): sends are refused from now on, the
  // SCTP queue drains, then SHUTDOWN (sctp::Association::shutdown_after_flush). on_closed(reason)
  // runs when the SHUTDOWN completes, or at the first tick() past `timeout` (then ABORT, counted
  // as sctp graceful_close_timeouts), or on any other end meanwhile. Without an association up,
  // the same as close().
  void close_after_flush(const std::string& reason, std::chrono::milliseconds timeout);
  bool closing_gracefully() const { return graceful_.has_value(); }

  const std::string& local_ufrag() const { return local_ufrag_; }
  // ICE restart (server only; RFC 8445 §9, RFC 8839 §4.4.1.1.1): a new offer from the same
  // remote endpoint, i.e. the same DTLS fingerprint and SCTP port, with new ICE credentials.
  // Keeps DTLS, SCTP and the channels; takes the new remote credentials and makes new local
  // ones (local_description() then answers with them). The old local credentials stay valid
  // until the first valid check with the new ones (on_ufrag_retired), so checks in flight on
  // the old path still count. Refused (nothing changes) when the offer's fingerprint, SCTP port
  // or DTLS role does not match the connection's, or the peer is closed. Returns whether the
  // credentials changed: an offer with the same ice-ufrag and ice-pwd is no restart (RFC 8839)
  // and keeps the local ones too.
  Result<bool> restart_ice(const sdp::Description& offer);
  // Server: the selected path's transport closed (an ICE-TCP connection); `path`, an address
  // this peer proved by a valid check before, becomes the selected one until a nominating check
  // selects another, and SCTP sends what is outstanding there at once. Consent freshness decides
  // whether the peer lives on it.
  void fall_back_to(const Endpoint& path);
  const sdp::Fingerprint& remote_fingerprint() const { return remote_fingerprint_; }
  // The ufrag of the credentials an ICE restart replaced, until they are retired (else empty).
  const std::string& previous_ufrag() const { return prev_ufrag_; }
  // Checks a STUN request's USERNAME and MESSAGE-INTEGRITY against our credentials, as a
  // Binding request from a new path must pass (the engine vets ICE-TCP connections with it).
  bool authenticates(const stun::Message& req, ByteView datagram) const;
  State state() const { return state_; }
  Role role() const { return role_; }
  const std::optional<Endpoint>& remote_address() const { return selected_; }
  const ChannelInfo* channel(uint16_t stream) const;
  const std::map<uint16_t, ChannelInfo>& channels() const { return channels_; }
  size_t buffered_amount() const;
  // Bytes sent to this peer and not yet acknowledged, in the SCTP stack and our queue
  // (sctp::Association::bytes_outstanding).
  size_t bytes_outstanding() const { return sctp_ ? sctp_->bytes_outstanding() : 0; }
  // Backpressure: stop (true) or resume (false) reading this peer's messages. While paused the
  // SCTP receive window closes, so the remote sender slows down; nothing is dropped.
  void set_receive_paused(bool paused);
  bool receive_paused() const { return receive_paused_; }
  uint32_t remote_max_message_size() const { return remote_max_message_size_; }
  const Counters& counters() const { return counters_; }

 private:
  PeerConnection(Role role, std::shared_ptr<dtls::Certificate> cert, Config config,
                 Callbacks callbacks, Clock::time_point now);
  void handle_stun(ByteView datagram, const Endpoint& from, Clock::time_point now);
  void handle_stun_request(const stun::Message& req, ByteView datagram, const Endpoint& from,
                           Clock::time_point now);
  void handle_stun_response(const stun::Message& res, ByteView datagram, const Endpoint& from,
                            Clock::time_point now);
  // integrity_key: empty for a request that did not authenticate (no MESSAGE-INTEGRITY).
  void send_stun_error(const stun::Message& req, const Endpoint& to, uint16_t code,
                       const std::string& reason, std::string_view integrity_key = {});
  void send_check(Clock::time_point now);
  // An authenticated datagram (valid check, check response, DTLS record on the selected path)
  // arrived: after a silence of kPathSilence or more, or on a newly selected address, the path
  // is back and SCTP hears of it (sctp::Association::path_returned()).
  void heard_remote(Clock::time_point now, bool new_path);
  void start_dtls();
  void on_dtls_connected();
  void on_sctp_message(uint16_t stream, uint32_t ppid, ByteView message);
  void on_dcep(uint16_t stream, ByteView message);
  void on_stream_reset(uint16_t stream);
  void fail(const std::string& reason);
  void release_channel(uint16_t stream);
  uint16_t next_stream_id();
  sctp::Reliability reliability_of(const ChannelInfo& ch) const;
  bool dtls_is_client() const;
  // The local password that authenticates `req` (current or, after a restart, previous
  // credentials), or null.
  const std::string* authenticating_pwd(const stun::Message& req, ByteView datagram) const;

  Role role_;
  std::shared_ptr<dtls::Certificate> cert_;
  Config config_;
  Callbacks cb_;
  State state_ = State::New;
  Clock::time_point created_;
  Clock::time_point last_consent_;
  std::optional<Clock::time_point> last_heard_;  // see heard_remote()
  Clock::time_point next_check_{};
  std::optional<stun::TransactionId> pending_check_;
  uint64_t tiebreaker_ = 0;

  std::string local_ufrag_, local_pwd_;
  std::string prev_ufrag_, prev_pwd_;  // before an ICE restart, until the new ones are used
  std::string remote_ufrag_, remote_pwd_;
  sdp::Fingerprint remote_fingerprint_;
  sdp::Setup remote_setup_ = sdp::Setup::ActPass;
  sdp::Description remote_;  // server: the offer; client: the answer
  std::vector<Endpoint> remote_candidates_;  // client: from the answer
  uint16_t remote_sctp_port_ = 5000;
  uint32_t remote_max_message_size_ = 65536;

  std::optional<Endpoint> selected_;
  bool nominated_ = false;
  std::unique_ptr<dtls::Transport> dtls_;
  std::unique_ptr<sctp::Association> sctp_;
  std::map<uint16_t, ChannelInfo> channels_;
  std::map<uint16_t, bool> acked_;  // locally opened channels awaiting DCEP ACK -> false
  uint16_t stream_cursor_ = 0;
  Counters counters_;
  bool closing_ = false;
  bool sctp_closed_ = false;
  struct Graceful {
    std::string reason;
    std::chrono::milliseconds timeout;
    std::optional<Clock::time_point> deadline;  // set by the first tick after close_after_flush
  };
  std::optional<Graceful> graceful_;
  bool receive_paused_ = false;
};

}  // namespace peerrtc::rtc
