#include "net/engine.hpp"

#include <algorithm>
#include <optional>
#include <thread>

#include <ifaddrs.h>
#include <net/if.h>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <cstring>
#include <stdexcept>

#include "common/log.hpp"
#include "sctp/sctp.hpp"
#include "sdp/sdp.hpp"

namespace peerrtc::net {

namespace asio = boost::asio;
using udp = asio::ip::udp;

udp::endpoint to_endpoint(const stun::Address& a) {
  if (a.ipv6) {
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), a.ip.data(), 16);
    return {asio::ip::address_v6(b), a.port};
  }
  asio::ip::address_v4::bytes_type b;
  std::memcpy(b.data(), a.ip.data(), 4);
  return {asio::ip::address_v4(b), a.port};
}

std::string to_string(const stun::Address& a) {
  auto ep = to_endpoint(a);
  if (a.ipv6) return "[" + ep.address().to_string() + "]:" + std::to_string(a.port);
  return ep.address().to_string() + ":" + std::to_string(a.port);
}

size_t Engine::AddressHash::operator()(const stun::Address& a) const noexcept {
  size_t h = (a.port + (a.tcp ? 0x10000u : 0u)) * 0x9E3779B97F4A7C15ull;
  const size_t n = a.ipv6 ? 16 : 4;
  for (size_t i = 0; i < n; ++i) h = (h ^ a.ip[i]) * 0x100000001B3ull;
  return h;
}

namespace {

std::vector<std::string> interface_addresses(bool want_v6) {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    if (i->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
      out.emplace_back(buf);
    } else if (want_v6 && i->ifa_addr->sa_family == AF_INET6) {
      auto* s6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr)) continue;
      inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof buf);
      out.emplace_back(buf);
    }
  }
  freeifaddrs(list);
  return out;
}

}  // namespace

Engine::Engine(Loop& loop, EngineConfig config, std::shared_ptr<dtls::Certificate> cert)
    : loop_(loop),
      config_(std::move(config)),
      cert_(cert ? std::move(cert) : dtls::Certificate::generate()),
      socket_(loop.io()) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(config_.bind_address, ec);
  if (ec) throw std::runtime_error("invalid UDP bind address '" + config_.bind_address + "'");
  // The UDP socket, and with ICE-TCP listening the TCP acceptor on the same port number. With
  // an ephemeral port (0) that number's TCP port can be busy (another connection's ephemeral
  // port): then a fresh UDP port is picked, a few times.
  const bool listen_tcp = config_.tcp.enabled && config_.tcp.listen;
  const int attempts = config_.udp_port == 0 && listen_tcp ? 20 : 1;
  for (int attempt = 1;; ++attempt) {
    udp::endpoint ep(addr, config_.udp_port);
    socket_.open(ep.protocol(), ec);
    if (!ec && addr.is_v6()) socket_.set_option(asio::ip::v6_only(false), ec);
    if (!ec) socket_.bind(ep, ec);
    if (ec)
      throw std::runtime_error("cannot bind UDP " + config_.bind_address + ":" +
                               std::to_string(config_.udp_port) + ": " + ec.message());
    port_ = socket_.local_endpoint().port();
    if (!listen_tcp) break;
    tcp_acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(loop.io());
    asio::ip::tcp::endpoint tep(addr, port_);
    tcp_acceptor_->open(tep.protocol(), ec);
    if (!ec && addr.is_v6()) tcp_acceptor_->set_option(asio::ip::v6_only(false), ec);
    if (!ec) tcp_acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) tcp_acceptor_->bind(tep, ec);
    if (!ec) tcp_acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) break;
    tcp_acceptor_.reset();
    boost::system::error_code ignored;
    socket_.close(ignored);
    if (attempt >= attempts)
      throw std::runtime_error("cannot listen for ICE-TCP on TCP " + config_.bind_address + ":" +
                               std::to_string(port_) + ": " + ec.message() +
                               " (the UDP port's number; turn ICE-TCP off to run without it)");
    log().debug("engine: TCP {} is busy; picking another ephemeral port", port_);
  }
  socket_.non_blocking(true);
  // One socket carries every peer: a small kernel buffer drops datagrams under bursts, and each
  // drop costs an SCTP retransmission (>= 1 s). Say so when the system grants less.
  const int want = static_cast<int>(config_.socket_buffer_bytes);
  const int fd = socket_.native_handle();
  set_socket_buffer(fd, false, want);
  const int got = set_socket_buffer(fd, true, want);
  if (got < want)  // Linux reports twice what was granted
    log().warn("engine: UDP receive buffer is {} bytes (wanted {}); raise net.core.rmem_max for bursts",
               got, want);
  DatagramReader::enable_gro(fd);

  announced_ = config_.announced_addresses;
  if (announced_.empty()) {
    if (addr.is_unspecified()) {
      announced_ = interface_addresses(addr.is_v6());
      if (announced_.empty()) announced_.push_back(addr.is_v6() ? "::1" : "127.0.0.1");
    } else {
      announced_.push_back(config_.bind_address);
    }
  }
  for (const auto& a : announced_) candidates_.push_back({a, port_, false});
  if (config_.tcp.enabled)
    for (const auto& a : announced_) candidates_.push_back({a, port_, true});

  ticker_ = loop_.add_ticker([this](Loop::Clock::time_point now) { tick(now); });
  start_receive();
  if (tcp_acceptor_) start_tcp_accept();
  log().info("engine: UDP {}:{}{} (announcing {})", config_.bind_address, port_,
             !config_.tcp.enabled ? ""
             : tcp_acceptor_     ? ", ICE-TCP on the same TCP port"
                                 : ", ICE-TCP handed over on the same TCP port",
             fmt::join(announced_, ", "));
}

Engine::~Engine() {
  *alive_ = false;
  loop_.remove_ticker(ticker_);
  peers_.clear();  // PeerConnection destructors drop their callbacks first
  for (auto& [id, t] : tcp_) t.conn->close();
  tcp_.clear();
  boost::system::error_code ec;
  if (tcp_acceptor_) tcp_acceptor_->close(ec);
  socket_.close(ec);
}

void Engine::start_receive() {
  socket_.async_wait(udp::socket::wait_read,
                     [this, alive = alive_](const boost::system::error_code& ec) {
                       if (!*alive || ec == asio::error::operation_aborted) return;
                       if (!ec) {
                         try {
                           read_ready();
                         } catch (const std::exception& e) {  // not one datagram's: the reader's
                           ++stats_.receive_errors;
                           log().error("engine: reading the UDP socket threw: {}", e.what());
                         }
                       }
                       if (socket_.is_open()) start_receive();
                     });
}

// One loop turn: read every datagram waiting (bounded, so timers and HTTP tasks still get
// their turn under a flood), then let SCTP bundle what the turn produced per peer, then send
// the turn's datagrams with as few system calls as possible.
void Engine::read_ready() {
  // A turn is at most 16 datagrams read (the whole wake-up at most 256), and it also ends once
  // it has queued 8 full-size datagrams: a bulk transfer's SACKs would otherwise release bursts
  // of ~64 packets to one peer at once, which overflow a libwebrtc client's socket buffer, and a
  // lost tail of a burst waits for a retransmission timeout (1-3 s stalls seen in the 12 MB
  // burst test; none in 16 runs with bursts of 8). Bursts of 8 keep most of what GSO saves.
  constexpr size_t kPerTurn = 16, kMaxPerWake = 256, kMaxBurst = 8;
  const auto now = Loop::Clock::now();
  const int fd = socket_.native_handle();
  // Bundling wait: from the first time this wake-up drains the socket with messages held, keep
  // reading what arrives until bundle_wait has passed, as long as datagrams keep coming: each
  // wait lasts at most twice the mean gap between arrivals (and never happens when that gap is
  // the whole window or more), so a quiet room (chat at human pace) pays nothing and a busy one
  // waits only while more is likely.
  std::optional<std::chrono::steady_clock::time_point> bundle_deadline;
  const bool bundle = config_.bundle_wait.count() > 0;
  const int64_t window_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(config_.bundle_wait).count();
  auto arrival = now;
  for (size_t total = 0; total < kMaxPerWake;) {
    TurnGuard turn(turn_fn_);  // ends the turn even if something under it throws
    size_t n = 0;
    for (;;) {
      n += reader_.read(fd, kPerTurn - n, [&](ByteView data, const stun::Address& from) {
        note_arrival(arrival);
        on_datagram(data, from, now);
        if (writer_.queued_full() >= kMaxBurst) turn.restart();
      });
      // Drained with small messages held: wait for more to bundle with them.
      if (n >= kPerTurn || !bundle || !sctp::Stack::holding() || gap_ewma_ns_ >= window_ns) break;
      const auto t = std::chrono::steady_clock::now();
      if (!bundle_deadline) bundle_deadline = t + config_.bundle_wait;
      if (t >= *bundle_deadline) break;
      // Sleep out the window instead of waking for each datagram: one context switch per
      // window (the kernel queues what arrives meanwhile; the socket buffer is 4 MiB).
      const auto left = std::chrono::duration_cast<std::chrono::microseconds>(*bundle_deadline - t);
      std::this_thread::sleep_for(left);
      arrival = std::chrono::steady_clock::now();
    }
    total += n;
    if (n < kPerTurn) break;
  }
  stats_.dropped_oversize = reader_.truncated();
}

// The mean gap between datagrams (an EWMA over the last ~8; datagrams read in one go count as
// arriving together), which decides whether a bundling wait is worth it.
void Engine::note_arrival(std::chrono::steady_clock::time_point t) {
  if (last_arrival_.time_since_epoch().count() != 0) {
    const int64_t gap =
        std::min<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t - last_arrival_).count(), 1'000'000'000);
    gap_ewma_ns_ += (std::max<int64_t>(gap, 0) - gap_ewma_ns_) / 8;
  }
  last_arrival_ = t;
}

void Engine::begin_turn() {
  writer_.begin_batch();
  sctp::Stack::begin_batch();
}

void Engine::end_turn() {
  sctp::Stack::end_batch();                   // held messages -> packets -> queued datagrams
  writer_.end_batch(socket_.native_handle());  // -> the wire
}

// A datagram or frame whose handling throws (a bug in a layer below, a throwing callback) is
// dropped, logged and counted; the turn, the socket and every other peer go on. What threw
// may have left its peer half-way through a packet: SCTP and DTLS retransmit, and a peer that
// cannot recover ends by its own timeouts.
template <class F>
void Engine::contained(const char* what, const stun::Address& from, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    ++stats_.receive_errors;
    log().error("engine: handling {} from {} threw: {}; dropped", what, to_string(from), e.what());
  } catch (...) {
    ++stats_.receive_errors;
    log().error("engine: handling {} from {} threw; dropped", what, to_string(from));
  }
}

void Engine::on_datagram(ByteView data, const stun::Address& from, Loop::Clock::time_point now) {
  ++stats_.datagrams_in;
  contained("a datagram", from, [&] { handle_datagram(data, from, now); });
}

void Engine::handle_datagram(ByteView data, const stun::Address& from, Loop::Clock::time_point now) {
  if (receive_hook_) receive_hook_(data, from);
  const size_t n = data.size();
  if (n > 0 && data[0] <= 3) {
    // STUN: route by the ufrag in USERNAME (the peer verifies MESSAGE-INTEGRITY).
    auto msg = stun::parse(data);
    if (msg && msg->username) {
      auto colon = msg->username->find(':');
      auto it = by_ufrag_.find(msg->username->substr(0, colon));
      if (it != by_ufrag_.end()) {
        auto p = peers_.find(it->second);
        if (p != peers_.end()) p->second.pc->receive_datagram(data, from, now);
        return;
      }
    }
    ++stats_.dropped_unknown;
    log().debug("engine: STUN from {} with unknown or missing ufrag dropped", to_string(from));
    return;
  }
  auto it = by_address_.find(from);
  if (it == by_address_.end()) {
    ++stats_.dropped_unknown;
    log().debug("engine: datagram from unknown address {} dropped", to_string(from));
    return;
  }
  auto p = peers_.find(it->second);
  if (p != peers_.end()) p->second.pc->receive_datagram(data, from, now);
}

void Engine::send(ByteView data, const stun::Address& to) {
  if (!to.tcp) {
    writer_.send(socket_.native_handle(), data, to);
    return;
  }
  auto it = tcp_by_address_.find(to);
  auto t = it == tcp_by_address_.end() ? tcp_.end() : tcp_.find(it->second);
  if (t != tcp_.end() && t->second.conn->send(data)) {
    ++stats_.tcp.frames_out;
  } else {
    ++stats_.tcp.dropped_send;
  }
}

// ---- ICE-TCP ---------------------------------------------------------------------------------

void Engine::start_tcp_accept() {
  tcp_acceptor_->async_accept([this, alive = alive_](const boost::system::error_code& ec,
                                                     asio::ip::tcp::socket socket) {
    if (!*alive || ec == asio::error::operation_aborted) return;
    if (!ec) {
      adopt_tcp(std::move(socket), {});
    } else {
      log().debug("engine: ICE-TCP accept failed: {}", ec.message());
    }
    if (tcp_acceptor_->is_open()) start_tcp_accept();
  });
}

namespace {
// The per-address connection count's key: the address bytes (4 or 16), without the port.
std::string ip_key(const stun::Address& a) {
  return std::string(reinterpret_cast<const char*>(a.ip.data()), a.ipv6 ? 16 : 4);
}
}  // namespace

void Engine::adopt_tcp(asio::ip::tcp::socket socket, Bytes initial) {
  const uint64_t id = next_tcp_id_++;
  auto conn = std::make_shared<TcpConnection>(
      id, std::move(socket), TcpConnection::Limits{config_.tcp.max_frame, config_.tcp.max_write_queue});
  const auto& remote = conn->remote();
  const std::string key = ip_key(remote);
  const auto from_ip = tcp_per_ip_.find(key);
  const size_t open_from_ip = from_ip == tcp_per_ip_.end() ? 0 : from_ip->second;
  const char* refusal = !config_.tcp.enabled                         ? "ICE-TCP is off"
                        : tcp_.size() >= config_.tcp.max_connections ? "too many ICE-TCP connections"
                        : open_from_ip >= config_.tcp.max_per_ip     ? "too many ICE-TCP connections from one address"
                                                                     : nullptr;
  if (refusal) {
    ++stats_.tcp.refused;
    log().debug("engine: ICE-TCP connection from {} refused: {}", to_string(remote), refusal);
    conn->close();
    return;
  }
  ++stats_.tcp.accepted;
  ++tcp_per_ip_[key];
  ++tcp_unauthenticated_;
  tcp_[id] = TcpEntry{conn, 0, Loop::Clock::now() + config_.tcp.stun_timeout};
  tcp_by_address_[remote] = id;
  conn->start(
      std::move(initial),
      [this](TcpConnection& c, ByteView frame) {
        ++stats_.tcp.frames_in;
        contained("an ICE-TCP frame", c.remote(), [&] { on_tcp_frame(c, frame); });
      },
      turn_fn_,
      [this](TcpConnection& c, const std::string& reason, bool bad_frame) {
        on_tcp_closed(c.id(), reason, bad_frame);
      });
  log().debug("engine: ICE-TCP connection from {}", to_string(remote));
}

void Engine::on_tcp_frame(TcpConnection& c, ByteView frame) {
  if (receive_hook_) receive_hook_(frame, c.remote());
  auto t = tcp_.find(c.id());
  if (t == tcp_.end()) return;
  if (t->second.peer == 0) {
    // The first frame must be a Binding request that authenticates for a live peer: a TCP
    // connection costs more than a datagram, so nothing else gets to hold one.
    if (frame.empty() || frame[0] > 3)
      return drop_tcp(c.id(), "first frame is not STUN", &stats_.tcp.closed_bad_frame);
    auto msg = stun::parse(frame);
    if (!msg || msg->cls != stun::Class::Request || msg->method != stun::kMethodBinding ||
        !msg->username)
      return drop_tcp(c.id(), "first frame is not a STUN Binding request",
                      &stats_.tcp.closed_bad_frame);
    auto u = by_ufrag_.find(msg->username->substr(0, msg->username->find(':')));
    auto p = u == by_ufrag_.end() ? peers_.end() : peers_.find(u->second);
    if (p == peers_.end() || !p->second.pc->authenticates(*msg, frame))
      return drop_tcp(c.id(), "STUN request for no live peer or with bad credentials",
                      &stats_.tcp.closed_no_stun);
    t->second.peer = p->first;
    --tcp_unauthenticated_;
    p->second.tcp.push_back(c.id());
    log().debug("engine: ICE-TCP connection from {} authenticated for a peer", to_string(c.remote()));
  }
  // Bound to one peer from here on: it applies its own checks (STUN credentials, DTLS only
  // from its selected path), exactly as for a UDP datagram.
  auto p = peers_.find(t->second.peer);
  if (p != peers_.end()) p->second.pc->receive_datagram(frame, c.remote(), Loop::Clock::now());
}

// The connection ended by itself (client closed, reset, bad frame).
void Engine::on_tcp_closed(uint64_t id, const std::string& reason, bool bad_frame) {
  drop_tcp(id, reason, bad_frame ? &stats_.tcp.closed_bad_frame : nullptr);
}

void Engine::drop_tcp(uint64_t id, const std::string& reason, uint64_t* counter) {
  auto t = tcp_.find(id);
  if (t == tcp_.end()) return;
  auto conn = t->second.conn;  // keep it alive through the callbacks below
  const PeerId peer = t->second.peer;
  const auto remote = conn->remote();
  conn->close();
  if (counter) ++*counter;
  if (peer == 0) --tcp_unauthenticated_;
  if (auto n = tcp_per_ip_.find(ip_key(remote)); n != tcp_per_ip_.end() && --n->second == 0) tcp_per_ip_.erase(n);
  if (auto a = tcp_by_address_.find(remote); a != tcp_by_address_.end() && a->second == id)
    tcp_by_address_.erase(a);
  tcp_.erase(t);
  log().debug("engine: ICE-TCP connection from {} closed: {}", to_string(remote), reason);
  if (peer == 0) return;
  auto p = peers_.find(peer);
  if (p == peers_.end()) return;
  std::erase(p->second.tcp, id);
  std::erase(p->second.addresses, remote);
  if (auto a = by_address_.find(remote); a != by_address_.end() && a->second == peer) by_address_.erase(a);
  const auto& selected = p->second.pc->remote_address();
  if (!selected || *selected != remote || p->second.pc->state() == rtc::State::Closed) return;
  // The peer's data path was this connection. If the peer proved another path before (UDP, say,
  // until libwebrtc nominated its TCP pair when the network came back; libwebrtc closes an ICE
  // generation's TCP connections after an ICE restart), that path takes over: consent freshness
  // decides whether it lives. Else the peer is gone with its only path (a client that was
  // killed is noticed now, not after the consent timeout).
  if (auto other = other_path(p->second)) {
    ++stats_.tcp.path_fallbacks;
    log().info("engine: peer {}: its ICE-TCP path from {} closed ({}); back on {}", p->second.pc->local_ufrag(),
               to_string(remote), reason, to_string(*other));
    p->second.pc->fall_back_to(*other);
    return;
  }
  p->second.pc->close("ICE-TCP connection closed: " + reason);
}

std::optional<stun::Address> Engine::other_path(const Entry& e) const {
  // The latest proven first: a UDP address, or an address of one of the peer's live ICE-TCP
  // connections (one whose connection closed was taken out of `addresses` then).
  for (auto a = e.addresses.rbegin(); a != e.addresses.rend(); ++a) {
    if (!a->tcp) return *a;
    auto t = tcp_by_address_.find(*a);
    if (t != tcp_by_address_.end() && std::find(e.tcp.begin(), e.tcp.end(), t->second) != e.tcp.end()) return *a;
  }
  return std::nullopt;
}

void Engine::tcp_tick(Loop::Clock::time_point now) {
  if (tcp_unauthenticated_ == 0) return;
  std::vector<uint64_t> expired;
  for (auto& [id, t] : tcp_)
    if (t.peer == 0 && now >= t.deadline) expired.push_back(id);
  for (uint64_t id : expired)
    drop_tcp(id, "no valid STUN request within " + std::to_string(config_.tcp.stun_timeout.count()) + " ms",
             &stats_.tcp.closed_no_stun);
}

Result<Engine::Accepted> Engine::accept_offer(std::string_view offer_sdp,
                                              const CallbackFactory& make_callbacks) {
  if (peers_.size() >= config_.max_peers)
    return Error{"server is full (" + std::to_string(config_.max_peers) + " peers)"};
  size_t pending = 0;
  for (auto& [id, e] : peers_) pending += e.connected ? 0 : 1;
  if (pending >= config_.max_pending)
    return Error{"too many handshakes in progress (" + std::to_string(config_.max_pending) + ")"};

  auto offer = sdp::parse(offer_sdp);
  if (!offer) return Error{offer.error()};
  const PeerId id = next_id_++;
  auto cbs = make_callbacks ? make_callbacks(id) : rtc::PeerConnection::Callbacks{};
  cbs.send_datagram = [this](ByteView d, const stun::Address& to) { send(d, to); };
  cbs.on_address = [this, id](const stun::Address& a) { on_peer_address(id, a); };
  cbs.on_ufrag_retired = [this, id](const std::string& ufrag) {
    if (auto u = by_ufrag_.find(ufrag); u != by_ufrag_.end() && u->second == id) by_ufrag_.erase(u);
  };
  auto user_connected = std::move(cbs.on_connected);
  cbs.on_connected = [this, id, user_connected] {
    auto it = peers_.find(id);
    if (it != peers_.end()) it->second.connected = true;
    if (user_connected) user_connected();
  };
  auto user_closed = std::move(cbs.on_closed);
  cbs.on_closed = [this, id, user_closed](const std::string& reason) {
    ++stats_.peers_closed;
    if (user_closed) user_closed(reason);
    schedule_destroy(id);
  };
  auto pc = rtc::PeerConnection::create_server(*offer, cert_, config_.peer, std::move(cbs),
                                               Loop::Clock::now());
  if (!pc) return Error{pc.error()};
  std::string answer = (*pc)->local_description(candidates_);
  by_ufrag_[(*pc)->local_ufrag()] = id;
  peers_[id].pc = std::move(*pc);
  ++stats_.peers_created;
  return Accepted{id, std::move(answer)};
}

Result<Engine::Accepted> Engine::restart_ice(PeerId id, const sdp::Description& offer, bool* restarted) {
  auto it = peers_.find(id);
  if (it == peers_.end() || it->second.pc->state() == rtc::State::Closed)
    return Error{"the connection has ended; connect anew (an offer without restart)"};
  auto& pc = *it->second.pc;
  auto r = pc.restart_ice(offer);
  if (!r) return Error{r.error()};
  if (restarted) *restarted = *r;
  by_ufrag_[pc.local_ufrag()] = id;
  return Accepted{id, pc.local_description(candidates_)};
}

rtc::PeerConnection* Engine::peer(PeerId id) {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.pc.get();
}

void Engine::on_peer_address(PeerId id, const stun::Address& a) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  auto [pos, inserted] = by_address_.try_emplace(a, id);
  if (!inserted && pos->second != id) {
    // The address moved to another peer (a client reused its port): the newest proof wins.
    auto old = peers_.find(pos->second);
    if (old != peers_.end()) std::erase(old->second.addresses, a);
    pos->second = id;
  }
  auto& addrs = it->second.addresses;
  if (std::find(addrs.begin(), addrs.end(), a) == addrs.end()) addrs.push_back(a);
}

void Engine::close_peer(PeerId id, const std::string& reason) {
  auto it = peers_.find(id);
  if (it != peers_.end()) it->second.pc->close(reason);
}

void Engine::close_peer_after_flush(PeerId id, const std::string& reason, std::chrono::milliseconds timeout) {
  auto it = peers_.find(id);
  if (it != peers_.end()) it->second.pc->close_after_flush(reason, timeout);
}

void Engine::close_all(const std::string& reason) {
  std::vector<PeerId> ids;
  for (auto& [id, e] : peers_) ids.push_back(id);
  for (PeerId id : ids) close_peer(id, reason);
}

void Engine::schedule_destroy(PeerId id) {
  asio::post(loop_.io(), [this, id, alive = alive_] {
    if (*alive) destroy(id);
  });
}

void Engine::destroy(PeerId id) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  for (const auto& a : it->second.addresses) {
    auto pos = by_address_.find(a);
    if (pos != by_address_.end() && pos->second == id) by_address_.erase(pos);
  }
  by_ufrag_.erase(it->second.pc->local_ufrag());
  if (const auto& prev = it->second.pc->previous_ufrag(); !prev.empty()) by_ufrag_.erase(prev);
  for (uint64_t t : std::vector<uint64_t>(it->second.tcp)) drop_tcp(t, "peer closed", nullptr);
  const auto& c = it->second.pc->counters();
  stats_.stun_bad += c.stun_bad;
  stats_.dtls_dropped += c.dtls_dropped;
  stats_.dcep_bad += c.dcep_bad;
  stats_.messages_dropped += c.messages_dropped;
  peers_.erase(it);
}

void Engine::tick(Loop::Clock::time_point now) {
  if (now - last_peer_tick_ < config_.peer_tick) return;
  last_peer_tick_ = now;
  tcp_tick(now);
  const auto connected_tick =
      std::clamp(config_.peer.consent_timeout / 10, config_.peer_tick,
                 std::max(config_.peer_tick, std::chrono::milliseconds(1000)));
  const bool all = now - last_connected_tick_ >= connected_tick;
  if (all) last_connected_tick_ = now;
  auto& live = tick_scratch_;
  live.clear();
  for (auto& [id, e] : peers_)
    if ((all || !e.connected || e.pc->closing_gracefully()) && e.pc->state() != rtc::State::Closed)
      live.push_back(e.pc.get());  // a graceful close's deadline is checked every peer tick
  // Destruction is always posted, so the pointers stay valid through this loop.
  for (auto* pc : live) pc->tick(now);
  live.clear();
}

EngineStats Engine::stats() const {
  EngineStats s = stats_;
  s.datagrams_out = writer_.sent();
  s.dropped_send = writer_.failed();
  s.gso_runs = writer_.gso_runs();
  s.peers = peers_.size();
  s.tcp.open = tcp_.size();
  for (auto& [id, e] : peers_) {
    s.pending += e.connected ? 0 : 1;
    const auto& c = e.pc->counters();
    s.stun_bad += c.stun_bad;
    s.dtls_dropped += c.dtls_dropped;
    s.dcep_bad += c.dcep_bad;
    s.messages_dropped += c.messages_dropped;
  }
  return s;
}

}  // namespace peerrtc::net
