#include "rtc/peer_connection.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "common/log.hpp"

namespace peerrtc::rtc {

const char* to_string(State s) {
  switch (s) {
    case State::New: return "new";
    case State::Checking: return "checking";
    case State::Connecting: return "connecting";
    case State::Connected: return "connected";
    case State::Closed: return "closed";
  }
  return "?";
}

const char* to_string(SendStatus s) {
  switch (s) {
    case SendStatus::Ok: return "ok";
    case SendStatus::NoSuchChannel: return "no such channel";
    case SendStatus::NotOpen: return "channel not open";
    case SendStatus::TooLarge: return "message larger than the remote's max-message-size";
    case SendStatus::BufferFull: return "send buffer full";
    case SendStatus::Error: return "send failed";
  }
  return "?";
}

namespace {

constexpr size_t kUfragLength = 16;  // RFC 8839 §5.4: at least 4 ICE chars
constexpr size_t kPwdLength = 24;    // at least 22 ICE chars
constexpr size_t kMaxAuthenticatedAddresses = 8;

std::optional<Endpoint> parse_ip(const std::string& ip, uint16_t port) {
  Endpoint e;
  e.port = port;
  if (inet_pton(AF_INET, ip.c_str(), e.ip.data()) == 1) return e;
  if (inet_pton(AF_INET6, ip.c_str(), e.ip.data()) == 1) {
    e.ipv6 = true;
    return e;
  }
  return std::nullopt;
}

// A UDP candidate of component 1 with an IP literal (what the native client can check).
std::optional<Endpoint> udp_endpoint(const sdp::Candidate& c) {
  if (c.component != 1 || c.transport != "udp" || c.port == 0) return std::nullopt;
  return parse_ip(c.address, c.port);
}

dcep::ChannelType channel_type_of(const ChannelInit& init) {
  using T = dcep::ChannelType;
  if (init.max_retransmits)
    return init.ordered ? T::PartialReliableRexmit : T::PartialReliableRexmitUnordered;
  if (init.max_packet_lifetime_ms)
    return init.ordered ? T::PartialReliableTimed : T::PartialReliableTimedUnordered;
  return init.ordered ? T::Reliable : T::ReliableUnordered;
}

ChannelInit init_of(const dcep::Open& open) {
  using T = dcep::ChannelType;
  ChannelInit init;
  init.label = open.label;
  init.protocol = open.protocol;
  init.priority = open.priority;
  init.ordered = !dcep::is_unordered(open.type);
  switch (open.type) {
    case T::PartialReliableRexmit:
    case T::PartialReliableRexmitUnordered:
      init.max_retransmits = static_cast<uint16_t>(std::min<uint32_t>(open.reliability, 65535));
      break;
    case T::PartialReliableTimed:
    case T::PartialReliableTimedUnordered:
      init.max_packet_lifetime_ms = open.reliability;
      break;
    default:
      break;
  }
  return init;
}

}  // namespace

PeerConnection::PeerConnection(Role role, std::shared_ptr<dtls::Certificate> cert, Config config,
                               Callbacks callbacks, Clock::time_point now)
    : role_(role),
      cert_(std::move(cert)),
      config_(config),
      cb_(std::move(callbacks)),
      created_(now),
      last_consent_(now),
      local_ufrag_(random_ice_token(kUfragLength)),
      local_pwd_(random_ice_token(kPwdLength)) {
  uint8_t tb[8];
  random_bytes(tb);
  for (uint8_t b : tb) tiebreaker_ = (tiebreaker_ << 8) | b;
}

PeerConnection::~PeerConnection() {
  // Tear down without callbacks into an owner that is destroying us, except the wire: the SCTP
  // association's destructor sends an ABORT so the remote learns at once that we are gone.
  auto send = std::move(cb_.send_datagram);
  cb_ = Callbacks{};
  cb_.send_datagram = std::move(send);
  sctp_.reset();
  dtls_.reset();
}

Result<std::unique_ptr<PeerConnection>> PeerConnection::create_server(
    const sdp::Description& offer, std::shared_ptr<dtls::Certificate> cert, Config config,
    Callbacks callbacks, Clock::time_point now) {
  if (offer.setup == sdp::Setup::HoldConn)
    return Error{"offer has a=setup:holdconn; expected actpass, active or passive"};
  std::unique_ptr<PeerConnection> pc(
      new PeerConnection(Role::Server, std::move(cert), config, std::move(callbacks), now));
  pc->remote_ = offer;
  pc->remote_ufrag_ = offer.ice_ufrag;
  pc->remote_pwd_ = offer.ice_pwd;
  pc->remote_fingerprint_ = offer.fingerprint;
  pc->remote_setup_ = offer.setup;
  pc->remote_sctp_port_ = offer.sctp_port;
  pc->remote_max_message_size_ = offer.max_message_size;
  pc->state_ = State::Checking;
  return pc;
}

std::unique_ptr<PeerConnection> PeerConnection::create_client(
    std::shared_ptr<dtls::Certificate> cert, Config config, Callbacks callbacks,
    Clock::time_point now) {
  return std::unique_ptr<PeerConnection>(
      new PeerConnection(Role::Client, std::move(cert), config, std::move(callbacks), now));
}

bool PeerConnection::dtls_is_client() const {
  if (role_ == Role::Server) return remote_setup_ == sdp::Setup::Passive;
  // Client: we offered actpass; the answer decides.
  return remote_setup_ != sdp::Setup::Active;
}

std::string PeerConnection::local_description(
    const std::vector<sdp::LocalParams::Candidate>& candidates) const {
  sdp::LocalParams p;
  p.ice_ufrag = local_ufrag_;
  p.ice_pwd = local_pwd_;
  p.fingerprint_sha256 = cert_->fingerprint_sha256();
  p.max_message_size = config_.max_message_size;
  p.candidates = candidates;
  if (role_ == Role::Server) {
    p.ice_lite = true;
    p.setup = dtls_is_client() ? sdp::Setup::Active : sdp::Setup::Passive;
    return sdp::build_answer(remote_, p);
  }
  p.setup = sdp::Setup::ActPass;
  return sdp::build_offer(p);
}

Result<bool> PeerConnection::set_remote_answer(const sdp::Description& answer) {
  if (role_ != Role::Client) throw std::logic_error("set_remote_answer on a server peer");
  if (state_ != State::New) return Error{"remote description already set"};
  if (answer.setup == sdp::Setup::ActPass || answer.setup == sdp::Setup::HoldConn)
    return Error{"answer must have a=setup:active or a=setup:passive"};
  remote_ = answer;
  remote_ufrag_ = answer.ice_ufrag;
  remote_pwd_ = answer.ice_pwd;
  remote_fingerprint_ = answer.fingerprint;
  remote_setup_ = answer.setup;
  remote_sctp_port_ = answer.sctp_port;
  remote_max_message_size_ = answer.max_message_size;
  for (const auto& c : answer.candidates)
    if (auto e = udp_endpoint(c)) remote_candidates_.push_back(*e);
  if (remote_candidates_.empty()) return Error{"answer has no usable UDP host candidate"};
  state_ = State::Checking;
  return true;
}

void PeerConnection::receive_datagram(ByteView datagram, const Endpoint& from,
                                      Clock::time_point now) {
  if (state_ == State::Closed || datagram.empty()) return;
  const uint8_t first = datagram[0];
  if (first <= 3) {  // RFC 7983: STUN
    handle_stun(datagram, from, now);
  } else if (first >= 20 && first <= 63) {  // DTLS
    bool known = selected_ && *selected_ == from;
    if (!known || !dtls_) {
      ++counters_.dtls_dropped;
      log().debug("peer {}: DTLS from an unauthenticated address dropped", local_ufrag_);
      return;
    }
    dtls_->receive(datagram);
    if (state_ != State::Closed) heard_remote(now, false);
  } else {
    ++counters_.dtls_dropped;
  }
}

void PeerConnection::handle_stun(ByteView datagram, const Endpoint& from, Clock::time_point now) {
  stun::ParseError err = stun::ParseError::None;
  auto msg = stun::parse(datagram, &err);
  if (!msg) {
    ++counters_.stun_bad;
    log().debug("peer {}: bad STUN dropped: {}", local_ufrag_, stun::to_string(err));
    return;
  }
  if (msg->method != stun::kMethodBinding) {
    ++counters_.stun_bad;
    return;
  }
  if (msg->cls == stun::Class::Request) {
    handle_stun_request(*msg, datagram, from, now);
  } else if (msg->cls == stun::Class::SuccessResponse || msg->cls == stun::Class::ErrorResponse) {
    handle_stun_response(*msg, datagram, from, now);
  }
  // Indications (keepalives) need no answer.
}

void PeerConnection::send_stun_error(const stun::Message& req, const Endpoint& to, uint16_t code,
                                     const std::string& reason, std::string_view integrity_key) {
  stun::Message res;
  res.method = req.method;
  res.cls = stun::Class::ErrorResponse;
  res.transaction_id = req.transaction_id;
  res.error_code = code;
  res.error_reason = reason;
  if (code == 420) res.unknown_attributes = req.unknown_attributes;
  auto bytes = stun::build(res, integrity_key, true);
  cb_.send_datagram(bytes, to);
}

void PeerConnection::handle_stun_request(const stun::Message& req, ByteView datagram,
                                         const Endpoint& from, Clock::time_point now) {
  // RFC 8445 §7.3 / RFC 8489 §9.1.3: short-term credentials.
  if (!req.unknown_attributes.empty()) {
    ++counters_.stun_bad;
    return send_stun_error(req, from, 420, "Unknown Attribute");
  }
  if (!req.username || !req.has_integrity) {
    ++counters_.stun_bad;
    return send_stun_error(req, from, 400, "Bad Request");
  }
  const std::string* pwd = authenticating_pwd(req, datagram);
  if (!pwd) {
    ++counters_.stun_bad;
    log().debug("peer {}: STUN request with bad credentials", local_ufrag_);
    return send_stun_error(req, from, 401, "Unauthorized");
  }
  const std::string key = *pwd;  // the credentials may be retired below
  // RFC 8445 §7.3.1.1: a request from an agent that is controlled too is a role conflict. A
  // lite agent is always the controlled one (§6.1.1) and cannot switch, whatever the
  // tie-breakers say, so it keeps its role and answers 487: the remote must become controlling.
  // The request authenticated, so the error response carries MESSAGE-INTEGRITY (RFC 8489
  // §9.1.3; the controlling agent discards an unauthenticated one). Not a valid check: no
  // consent, no path selection.
  if (role_ == Role::Server && req.ice_controlled) {
    ++counters_.stun_bad;
    log().debug("peer {}: Binding request with ICE-CONTROLLED: role conflict", local_ufrag_);
    return send_stun_error(req, from, 487, "Role Conflict", key);
  }
  stun::Message res;
  res.cls = stun::Class::SuccessResponse;
  res.transaction_id = req.transaction_id;
  res.xor_mapped_address = from;
  auto bytes = stun::build(res, key, true);
  cb_.send_datagram(bytes, from);

  if (role_ != Role::Server) return;
  last_consent_ = now;
  if (!prev_ufrag_.empty() && pwd == &local_pwd_) {
    // The remote uses the credentials of the ICE restart: the old ones are done.
    std::string old = std::exchange(prev_ufrag_, {});
    prev_pwd_.clear();
    log().debug("peer {}: ICE restart: old credentials {} retired", local_ufrag_, old);
    if (cb_.on_ufrag_retired) cb_.on_ufrag_retired(old);
  }
  bool changed = false;
  if (!selected_) {
    selected_ = from;
    changed = true;
  }
  if (req.use_candidate && (!nominated_ || *selected_ != from)) {
    nominated_ = true;
    if (*selected_ != from) {
      selected_ = from;
      changed = true;
    }
  }
  if (changed) {
    log().debug("peer {}: remote address selected", local_ufrag_);
    if (cb_.on_address) cb_.on_address(*selected_);
  }
  if (!dtls_) start_dtls();
  heard_remote(now, changed);
}

void PeerConnection::heard_remote(Clock::time_point now, bool new_path) {
  const bool after_silence = last_heard_ && now - *last_heard_ >= config_.path_silence;
  last_heard_ = now;
  if (!(after_silence || new_path) || !sctp_ || sctp_closed_ || state_ == State::Closed) return;
  // What SCTP retransmits now instead of at its next (backed-off) timeout.
  if (sctp_->path_returned())
    log().debug("peer {}: path back ({}): SCTP heartbeat sent", local_ufrag_,
                new_path ? "new address" : "after silence");
}

bool PeerConnection::authenticates(const stun::Message& req, ByteView datagram) const {
  return authenticating_pwd(req, datagram) != nullptr;
}

const std::string* PeerConnection::authenticating_pwd(const stun::Message& req, ByteView datagram) const {
  if (!req.username || !req.has_integrity) return nullptr;
  const std::string& user = *req.username;
  auto colon = user.find(':');
  if (colon == std::string::npos) return nullptr;
  const std::string_view ufrag(user.data(), colon);
  if (ufrag == local_ufrag_) return stun::verify_integrity(datagram, req, local_pwd_) ? &local_pwd_ : nullptr;
  if (!prev_ufrag_.empty() && ufrag == prev_ufrag_)
    return stun::verify_integrity(datagram, req, prev_pwd_) ? &prev_pwd_ : nullptr;
  return nullptr;
}

Result<bool> PeerConnection::restart_ice(const sdp::Description& offer) {
  if (role_ != Role::Server) throw std::logic_error("restart_ice on a client peer");
  if (state_ == State::Closed || closing_) return Error{"the connection is closed"};
  if (!(offer.fingerprint == remote_fingerprint_))
    return Error{"the offer's DTLS fingerprint is not the connection's (an ICE restart keeps the DTLS "
                 "association; a new RTCPeerConnection must connect anew, without restart)"};
  if (offer.sctp_port != remote_sctp_port_)
    return Error{"the offer's SCTP port " + std::to_string(offer.sctp_port) + " is not the connection's (" +
                 std::to_string(remote_sctp_port_) + ")"};
  // The established DTLS roles stay (RFC 8842 §5.5): actpass, or the offerer's same role.
  const bool we_are_client = dtls_is_client();
  if (offer.setup == sdp::Setup::HoldConn || (offer.setup == sdp::Setup::Active && we_are_client) ||
      (offer.setup == sdp::Setup::Passive && !we_are_client))
    return Error{std::string("the offer's a=setup:") + std::string(sdp::to_string(offer.setup)) +
                 " would change the established DTLS roles"};
  const bool changed = offer.ice_ufrag != remote_ufrag_ || offer.ice_pwd != remote_pwd_;
  remote_ = offer;  // the answer mirrors the new offer's sections
  if (!changed) return false;
  remote_ufrag_ = offer.ice_ufrag;
  remote_pwd_ = offer.ice_pwd;
  // Checks with the credentials before this restart stay valid until the new ones are used;
  // credentials older than that (a second restart before the first was used) are dropped.
  if (prev_ufrag_.empty()) {
    prev_ufrag_ = std::exchange(local_ufrag_, random_ice_token(kUfragLength));
    prev_pwd_ = std::exchange(local_pwd_, random_ice_token(kPwdLength));
  } else {
    std::string dropped = std::exchange(local_ufrag_, random_ice_token(kUfragLength));
    local_pwd_ = random_ice_token(kPwdLength);
    if (cb_.on_ufrag_retired) cb_.on_ufrag_retired(dropped);
  }
  log().debug("peer {}: ICE restart (previous credentials {})", local_ufrag_, prev_ufrag_);
  return true;
}

void PeerConnection::fall_back_to(const Endpoint& path) {
  if (role_ != Role::Server) throw std::logic_error("fall_back_to on a client peer");
  if (state_ == State::Closed || (selected_ && *selected_ == path)) return;
  selected_ = path;
  nominated_ = false;  // the next nominating check selects its path
  log().debug("peer {}: back on an earlier path", local_ufrag_);
  if (cb_.on_address) cb_.on_address(path);
  if (sctp_ && !sctp_closed_) sctp_->path_returned();
}

void PeerConnection::handle_stun_response(const stun::Message& res, ByteView datagram,
                                          const Endpoint& from, Clock::time_point now) {
  if (role_ != Role::Client || !pending_check_ || res.transaction_id != *pending_check_) return;
  if (!stun::verify_integrity(datagram, res, remote_pwd_)) {
    ++counters_.stun_bad;
    return;
  }
  if (res.cls == stun::Class::ErrorResponse) {
    log().debug("peer {}: check failed with STUN error {}", local_ufrag_, res.error_code.value_or(0));
    return;
  }
  pending_check_.reset();
  last_consent_ = now;
  bool changed = false;
  if (!selected_ || *selected_ != from) {
    selected_ = from;
    changed = true;
    if (cb_.on_address) cb_.on_address(from);
  }
  nominated_ = true;
  if (!dtls_) start_dtls();
  heard_remote(now, changed);
}

void PeerConnection::send_check(Clock::time_point now) {
  // RFC 8445 §7.2.2: controlling agent, aggressive nomination against a lite server.
  stun::Message req;
  req.cls = stun::Class::Request;
  req.transaction_id = stun::new_transaction_id();
  req.username = remote_ufrag_ + ":" + local_ufrag_;
  req.priority = 0x6E7F1EFF;  // host candidate priority
  req.ice_controlling = tiebreaker_;
  req.use_candidate = true;
  auto bytes = stun::build(req, remote_pwd_, true);
  pending_check_ = req.transaction_id;
  const Endpoint& to = selected_ ? *selected_ : remote_candidates_.front();
  cb_.send_datagram(bytes, to);
  next_check_ = now + (state_ == State::Checking ? config_.client_check_interval
                                                 : config_.client_keepalive_interval);
}

void PeerConnection::tick(Clock::time_point now) {
  if (state_ == State::Closed) return;
  if (graceful_) {
    if (!graceful_->deadline) graceful_->deadline = now + graceful_->timeout;
    if (now >= *graceful_->deadline) {
      log().info("peer {}: graceful close not done within {} ms; aborting", local_ufrag_, graceful_->timeout.count());
      if (sctp_ && !sctp_closed_) sctp_->give_up_shutdown();
      return close(graceful_->reason);
    }
  }
  if (state_ != State::Connected && now - created_ > config_.connect_timeout)
    return fail("connection not established within " +
                std::to_string(config_.connect_timeout.count()) + " ms");
  if (now - last_consent_ > config_.consent_timeout)
    return fail("ICE consent expired (no valid check for " +
                std::to_string(config_.consent_timeout.count()) + " ms)");
  if (role_ == Role::Client && state_ != State::New && !remote_candidates_.empty() &&
      now >= next_check_)
    send_check(now);
  if (dtls_) {
    auto t = dtls_->next_timeout();
    if (t && t->count() <= 0) dtls_->handle_timeout();
  }
}

void PeerConnection::start_dtls() {
  state_ = State::Connecting;
  dtls::Transport::Callbacks cb;
  cb.send = [this](ByteView d) {
    if (selected_ && cb_.send_datagram) cb_.send_datagram(d, *selected_);
  };
  cb.on_connected = [this] { on_dtls_connected(); };
  cb.on_data = [this](ByteView d) {
    if (sctp_) sctp_->receive(d);
  };
  cb.on_closed = [this](const std::string& reason) { fail("DTLS: " + reason); };
  dtls::Config dc;
  dc.mtu = config_.mtu;
  // What goes over DTLS are SCTP packets of at most the MTU; twice that leaves room and keeps
  // OpenSSL's per-connection write buffer at ~2.5 KB instead of ~17.5 KB.
  dc.max_send_plaintext = static_cast<uint16_t>(std::clamp(2 * int{config_.mtu}, 2048, 16384));
  dtls_ = std::make_unique<dtls::Transport>(
      cert_, dtls_is_client() ? dtls::Role::Client : dtls::Role::Server,
      remote_fingerprint_.algorithm, remote_fingerprint_.digest, std::move(cb), dc);
  dtls_->start();
}

void PeerConnection::on_dtls_connected() {
  log().debug("peer {}: DTLS connected", local_ufrag_);
  sctp::Association::Config sc;
  sc.local_port = 5000;
  sc.remote_port = remote_sctp_port_;
  sc.streams = config_.sctp_streams;
  sc.max_message_size = config_.max_message_size;
  sc.max_buffered = config_.max_buffered;
  sc.mtu = config_.mtu;
  sctp::Association::Callbacks cb;
  cb.send = [this](ByteView packet) {
    if (dtls_) dtls_->send(packet);
  };
  cb.on_connected = [this] {
    if (state_ == State::Closed) return;
    state_ = State::Connected;
    log().debug("peer {}: SCTP connected", local_ufrag_);
    if (cb_.on_connected) cb_.on_connected();
  };
  cb.on_message = [this](uint16_t stream, uint32_t ppid, ByteView m) {
    on_sctp_message(stream, ppid, m);
  };
  cb.on_stream_reset = [this](uint16_t stream) { on_stream_reset(stream); };
  cb.on_closed = [this](const std::string& reason) {
    sctp_closed_ = true;  // no ABORT back into an association that just ended
    fail("SCTP: " + reason);
  };
  cb.on_buffered_low = [this] {
    if (cb_.on_buffered_low) cb_.on_buffered_low();
  };
  sctp_ = std::make_unique<sctp::Association>(sc, std::move(cb));
  if (receive_paused_) sctp_->set_receive_paused(true);
  sctp_->connect();
}

void PeerConnection::on_sctp_message(uint16_t stream, uint32_t ppid, ByteView message) {
  if (state_ == State::Closed) return;
  if (ppid == dcep::ppid::kDcep) return on_dcep(stream, message);
  auto it = channels_.find(stream);
  if (it == channels_.end()) {
    ++counters_.messages_dropped;
    log().debug("peer {}: message on unknown stream {} dropped", local_ufrag_, stream);
    return;
  }
  bool binary;
  ByteView payload = message;
  switch (ppid) {
    case dcep::ppid::kString: binary = false; break;
    case dcep::ppid::kBinary: binary = true; break;
    case dcep::ppid::kStringEmpty: binary = false; payload = {}; break;
    case dcep::ppid::kBinaryEmpty: binary = true; payload = {}; break;
    default:
      ++counters_.messages_dropped;
      log().debug("peer {}: message with unsupported PPID {} dropped", local_ufrag_, ppid);
      return;
  }
  // A peer may send before our ACK reaches it; any message proves the channel open (RFC 8832 §6).
  acked_.erase(stream);
  ++counters_.messages_in;
  counters_.bytes_in += payload.size();
  if (cb_.on_message) cb_.on_message(stream, binary, payload);
}

void PeerConnection::on_dcep(uint16_t stream, ByteView message) {
  if (dcep::is_ack(message)) {
    acked_.erase(stream);
    return;
  }
  auto open = dcep::decode_open(message);
  if (!open) {
    ++counters_.dcep_bad;
    log().debug("peer {}: malformed DCEP message on stream {} dropped", local_ufrag_, stream);
    return;
  }
  // RFC 8832 §6 has the DTLS client choose even stream ids and the server odd ones, but that
  // rule is about the ids a side chooses itself: aiortc 1.4 opens its first channel on stream 1
  // as a DTLS client. Like libwebrtc and usrsctp-based stacks, accept any free stream; a stream
  // in use (by either side) or past the negotiated count is refused. Our own ids keep the rule.
  if (stream >= config_.sctp_streams || channels_.count(stream)) {
    ++counters_.dcep_bad;
    log().debug("peer {}: DATA_CHANNEL_OPEN on invalid stream {} dropped", local_ufrag_, stream);
    return;
  }
  ChannelInfo info;
  info.stream = stream;
  info.init = init_of(*open);
  info.opened_by_remote = true;
  info.open = true;
  channels_[stream] = info;
  auto ack = dcep::encode_ack();
  sctp_->send(stream, dcep::ppid::kDcep, ack, sctp::Reliability{});
  if (cb_.on_channel_open) cb_.on_channel_open(channels_[stream]);
}

void PeerConnection::on_stream_reset(uint16_t stream) {
  auto it = channels_.find(stream);
  if (it == channels_.end()) return;  // we closed it first; this completes the close
  // The remote closed its side: close ours too (RFC 8831 §6.7).
  if (sctp_) sctp_->reset_stream(stream);
  release_channel(stream);
}

void PeerConnection::release_channel(uint16_t stream) {
  channels_.erase(stream);
  acked_.erase(stream);
  if (cb_.on_channel_closed) cb_.on_channel_closed(stream);
}

uint16_t PeerConnection::next_stream_id() {
  const uint16_t parity = dtls_is_client() ? 0 : 1;
  // Our outgoing streams: what we offered, or fewer if the remote accepts fewer incoming ones.
  uint16_t n = config_.sctp_streams;
  if (sctp_ && sctp_->streams_out() > 0) n = std::min(n, sctp_->streams_out());
  if (n < 2) return 0xFFFF;
  for (uint32_t tries = 0; tries < n; ++tries) {
    uint16_t candidate = static_cast<uint16_t>((stream_cursor_ * 2 + parity) % n);
    stream_cursor_ = static_cast<uint16_t>((stream_cursor_ + 1) % (n / 2));
    if (!channels_.count(candidate)) return candidate;
  }
  return 0xFFFF;
}

sctp::Reliability PeerConnection::reliability_of(const ChannelInfo& ch) const {
  sctp::Reliability r;
  r.ordered = ch.init.ordered;
  r.max_retransmits = ch.init.max_retransmits;
  r.max_lifetime_ms = ch.init.max_packet_lifetime_ms;
  if (acked_.count(ch.stream)) r.ordered = true;  // RFC 8832 §6: ordered until the ACK
  return r;
}

Result<uint16_t> PeerConnection::open_channel(const ChannelInit& init) {
  if (state_ != State::Connected) return Error{"peer is not connected"};
  if (init.max_retransmits && init.max_packet_lifetime_ms)
    return Error{"maxRetransmits and maxPacketLifeTime are mutually exclusive"};
  if (init.label.size() > 65535 || init.protocol.size() > 65535)
    return Error{"label or protocol longer than 65535 bytes"};
  uint16_t stream = 0xFFFF;
  if (init.id) {
    const uint16_t n = sctp_ && sctp_->streams_out() > 0
                           ? std::min(config_.sctp_streams, sctp_->streams_out())
                           : config_.sctp_streams;
    if (*init.id >= n)
      return Error{"stream " + std::to_string(*init.id) + " is past the negotiated count (" +
                   std::to_string(n) + ")"};
    if (channels_.count(*init.id)) return Error{"stream " + std::to_string(*init.id) + " is in use"};
    stream = *init.id;
  } else {
    stream = next_stream_id();
    if (stream == 0xFFFF) return Error{"no free SCTP stream for a new channel"};
  }
  dcep::Open open;
  open.type = channel_type_of(init);
  open.priority = init.priority;
  open.reliability = init.max_retransmits       ? *init.max_retransmits
                     : init.max_packet_lifetime_ms ? *init.max_packet_lifetime_ms
                                                   : 0;
  open.label = init.label;
  open.protocol = init.protocol;
  auto bytes = dcep::encode_open(open);
  auto st = sctp_->send(stream, dcep::ppid::kDcep, bytes, sctp::Reliability{});
  if (st != sctp::SendStatus::Ok) return Error{std::string("cannot send DATA_CHANNEL_OPEN: ") + sctp::to_string(st)};
  ChannelInfo info;
  info.stream = stream;
  info.init = init;
  info.open = true;
  channels_[stream] = info;
  acked_[stream] = false;
  return stream;
}

SendStatus PeerConnection::send(uint16_t stream, ByteView data, bool binary) {
  auto it = channels_.find(stream);
  if (it == channels_.end()) return SendStatus::NoSuchChannel;
  if (state_ != State::Connected || !it->second.open || !sctp_) return SendStatus::NotOpen;
  uint32_t limit = config_.max_message_size;
  if (remote_max_message_size_ != 0) limit = std::min(limit, remote_max_message_size_);
  if (data.size() > limit) return SendStatus::TooLarge;
  uint32_t ppid = binary ? dcep::ppid::kBinary : dcep::ppid::kString;
  static const uint8_t kZero = 0;
  ByteView payload = data;
  if (data.empty()) {  // RFC 8831 §6.6: SCTP cannot carry empty messages
    ppid = binary ? dcep::ppid::kBinaryEmpty : dcep::ppid::kStringEmpty;
    payload = ByteView(&kZero, 1);
  }
  auto st = sctp_->send(stream, ppid, payload, reliability_of(it->second));
  switch (st) {
    case sctp::SendStatus::Ok:
      ++counters_.messages_out;
      counters_.bytes_out += data.size();
      return SendStatus::Ok;
    case sctp::SendStatus::TooLarge: return SendStatus::TooLarge;
    case sctp::SendStatus::BufferFull: return SendStatus::BufferFull;
    case sctp::SendStatus::NotConnected: return SendStatus::NotOpen;
    case sctp::SendStatus::Error: return SendStatus::Error;
  }
  return SendStatus::Error;
}

void PeerConnection::close_channel(uint16_t stream) {
  if (!channels_.count(stream)) return;
  if (sctp_) sctp_->reset_stream(stream);
  release_channel(stream);
}

const ChannelInfo* PeerConnection::channel(uint16_t stream) const {
  auto it = channels_.find(stream);
  return it == channels_.end() ? nullptr : &it->second;
}

size_t PeerConnection::buffered_amount() const { return sctp_ ? sctp_->buffered_amount() : 0; }

void PeerConnection::set_receive_paused(bool paused) {
  receive_paused_ = paused;
  if (sctp_ && state_ != State::Closed) sctp_->set_receive_paused(paused);
}

void PeerConnection::close(const std::string& reason) {
  if (state_ == State::Closed || closing_) return;
  closing_ = true;
  if (sctp_ && !sctp_closed_) sctp_->abort();
  if (dtls_) dtls_->close();
  state_ = State::Closed;
  log().debug("peer {}: closed: {}", local_ufrag_, reason);
  if (cb_.on_closed) cb_.on_closed(reason);
}

void PeerConnection::close_after_flush(const std::string& reason, std::chrono::milliseconds timeout) {
  if (state_ == State::Closed || closing_ || graceful_) return;
  if (!sctp_ || sctp_closed_ || state_ != State::Connected) return close(reason);
  graceful_ = Graceful{reason, timeout, std::nullopt};
  log().debug("peer {}: closing after the queue drains: {}", local_ufrag_, reason);
  sctp_->shutdown_after_flush();  // may end the association at once (on_closed -> fail -> close)
}

// While closing gracefully, any end (SHUTDOWN complete, the peer's ABORT, consent) reports the
// reason the close was asked for.
void PeerConnection::fail(const std::string& reason) { close(graceful_ ? graceful_->reason : reason); }

}  // namespace peerrtc::rtc
