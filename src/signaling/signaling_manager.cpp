// The public facade: validates input on the caller's thread, then runs the work on the network
// thread (net::NetThread::invoke, bounded by Config::api_timeout). The pieces behind it:
//   net::NetThread   the one network thread and the cross-thread calls
//   net::Engine      WebRTC peers on one UDP port (+ ICE-TCP)
//   RoomRegistry     rooms, members, tokens, limits (pure)
//   Relay            fan-out, backpressure, presence, participants' queues, re-entrancy
//   Hooks            the backend's subscribers on hook threads
#include "peerrtc/signaling_manager.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <utility>

#include "common/log.hpp"
#include "peerrtc/join_token.hpp"
#include "net/engine.hpp"
#include "net/net_thread.hpp"
#include "net/rfc4571.hpp"
#include "sdp/sdp.hpp"
#include "sctp/sctp.hpp"
#include "signaling/frames.hpp"
#include "signaling/hooks.hpp"
#include "signaling/ice_config.hpp"
#include "signaling/names.hpp"
#include "signaling/relay.hpp"
#include "signaling/requests.hpp"
#include "signaling/room_registry.hpp"

namespace peerrtc {

namespace {

constexpr const char* kServerName = "server";

// usrsctp runs without threads of its own and its state is process-global, so exactly one
// network thread may drive it: one SignalingManager per process at a time.
std::atomic<int> g_managers{0};

void check_name(const std::string& what, const std::string& value, bool peer = false) {
  if (auto ok = signaling::check_name(what, value, peer); !ok) throw ApiError(400, ok.error());
}

// Config::join_secret: the offer's join token, checked before anything is created.
void check_join(const Config& c, const std::string& room, const std::string& peer_id, const std::string& join_token) {
  if (c.join_secret.empty()) return;
  auto v = check_join_token(c.join_secret, join_token, room, peer_id);
  if (!v.ok()) throw ApiError(v.http_status(), v.error);
}

void check_size(const std::string& data) {
  if (data.size() > kMaxPayload) throw ApiError(413, "message larger than " + std::to_string(kMaxPayload) + " bytes");
}

signaling::RegistryLimits registry_limits(const Config& c) {
  signaling::RegistryLimits l;
  l.max_rooms = c.max_rooms;
  l.max_peers_per_room = c.max_peers_per_room;
  l.message_rate = c.peer_message_rate;
  l.message_burst = c.peer_message_burst;
  l.byte_rate = c.peer_byte_rate;
  l.byte_burst = c.peer_byte_burst;
  return l;
}

}  // namespace

struct SignalingManager::Impl : signaling::PeerLink {
  Config cfg;
  net::NetThread net;
  signaling::Hooks hooks;
  signaling::RoomRegistry registry;
  // Network-thread state, created on the constructing thread before the thread starts and
  // destroyed after it has stopped.
  std::unique_ptr<net::Loop> loop;
  std::unique_ptr<net::Engine> engine;
  std::unique_ptr<signaling::Relay> relay;
  uint16_t port = 0;  // the engine's, fixed at construction

  explicit Impl(Config c)
      : cfg(std::move(c)),
        hooks(cfg.hook_threads, cfg.hook_queue_capacity, cfg.hook_overflow == Config::HookOverflow::Backpressure),
        registry(registry_limits(cfg)) {
    if (cfg.sctp_streams < 2)
      throw std::invalid_argument("Config::sctp_streams must be 2..65535 (one even and one odd stream id at least)");
    if (cfg.debug) log().set_level(spdlog::level::debug);
    loop = std::make_unique<net::Loop>(net.io());
    net::EngineConfig ec;
    ec.bind_address = cfg.udp_bind;
    ec.udp_port = cfg.udp_port;
    ec.announced_addresses = cfg.public_ips;
    ec.max_peers = cfg.max_peers;
    ec.max_pending = cfg.max_pending_handshakes;
    ec.peer.consent_timeout = cfg.consent_timeout;
    ec.peer.connect_timeout = cfg.connect_timeout;
    ec.peer.max_buffered = cfg.max_peer_queue;
    ec.peer.sctp_streams = cfg.sctp_streams;
    ec.bundle_wait = std::clamp(cfg.bundle_wait, std::chrono::microseconds(0), std::chrono::microseconds(5000));
    ec.tcp.enabled = cfg.ice_tcp;
    ec.tcp.listen = !cfg.ice_tcp_handoff;
    ec.tcp.max_connections = cfg.ice_tcp_max_connections;
    ec.tcp.max_per_ip = cfg.ice_tcp_max_per_ip;
    ec.tcp.stun_timeout = cfg.ice_tcp_stun_timeout;
    engine = std::make_unique<net::Engine>(*loop, ec);
    port = engine->udp_port();
    signaling::RelayConfig rc;
    rc.high_water = cfg.relay_high_water;
    rc.max_queue = cfg.max_peer_queue;
    rc.slow_receiver_grace = cfg.slow_receiver_grace;
    rc.message_rate = cfg.peer_message_rate;
    rc.byte_rate = cfg.peer_byte_rate;
    rc.message_burst = cfg.peer_message_burst;
    rc.byte_burst = cfg.peer_byte_burst;
    rc.history = cfg.history;
    rc.history_bytes = cfg.history_bytes;
    rc.resume_window = cfg.resume_window;
    rc.resume_buffer = cfg.resume_buffer;
    rc.resume_buffer_bytes = cfg.resume_buffer_bytes;
    rc.volatile_max_queue = cfg.volatile_max_queue;
    if (cfg.hook_overflow == Config::HookOverflow::Backpressure) {
      rc.hook_high_water = std::max<size_t>(cfg.hook_queue_capacity, 1);
      rc.hook_low_water = rc.hook_high_water / 2;
    }
    relay = std::make_unique<signaling::Relay>(rc, registry, *this, hooks,
                                               [this](std::function<void()> fn) { return net.post(std::move(fn)); });
    loop->add_ticker([this](net::Loop::Clock::time_point now) { relay->tick(now); });
  }

  ~Impl() override {
    try {
      stop();
    } catch (const std::exception& e) {  // only from the network thread itself: API misuse
      log().error("SignalingManager destroyed from its own network thread: {}", e.what());
      std::terminate();
    }
  }

  // --- PeerLink: the relay's way to the engine's peers ---------------------------------------
  rtc::SendStatus send(net::PeerId id, uint16_t stream, ByteView frame, bool binary) override {
    auto* pc = engine->peer(id);
    return pc ? pc->send(stream, frame, binary) : rtc::SendStatus::NotOpen;
  }
  size_t buffered_amount(net::PeerId id) override {
    auto* pc = engine->peer(id);
    return pc ? pc->buffered_amount() : 0;
  }
  void set_receive_paused(net::PeerId id, bool paused) override {
    if (auto* pc = engine->peer(id)) pc->set_receive_paused(paused);
  }
  void close(net::PeerId id, const std::string& reason) override { engine->close_peer(id, reason); }
  void close_after_flush(net::PeerId id, const std::string& reason, std::chrono::milliseconds timeout) override {
    engine->close_peer_after_flush(id, reason, timeout);
  }
  size_t bytes_outstanding(net::PeerId id) override {
    auto* pc = engine->peer(id);
    return pc ? pc->bytes_outstanding() : 0;
  }

  // Runs fn on the network thread (inline when already there). fn must own what it uses: it
  // may run after the caller gave up. Unavailable (stopping, deadline) -> ApiError 503.
  template <typename F>
  auto call(F fn) -> std::invoke_result_t<F&> {
    try {
      return net.invoke(std::move(fn), cfg.api_timeout);
    } catch (const net::NetThread::Unavailable& e) {
      throw ApiError(503, e.what());
    }
  }

  rtc::PeerConnection::Callbacks callbacks_for(net::PeerId id) {
    rtc::PeerConnection::Callbacks cb;
    cb.on_channel_open = [this, id](const rtc::ChannelInfo& ch) { relay->on_channel_open(id, ch.stream, ch.init.label); };
    cb.on_message = [this, id](uint16_t stream, bool binary, ByteView data) { relay->on_message(id, stream, binary, data); };
    cb.on_buffered_low = [this, id] { relay->on_buffered_low(id); };
    cb.on_channel_closed = [this, id](uint16_t stream) { relay->on_channel_closed(id, stream); };
    cb.on_closed = [this, id](const std::string& reason) { relay->on_closed(id, reason); };
    return cb;
  }

  json do_offer(const std::string& room, const std::string& peer_id, const std::string& sdp, const std::string& token,
                const signaling::Request& v2 = {}) {
    signaling::Member* existing = registry.admit(room, peer_id, token);
    if (auto answer = try_ice_restart(existing, room, peer_id, sdp, v2.restart)) return std::move(*answer);
    auto st = engine->stats();
    if (st.peers >= cfg.max_peers) throw ApiError(503, "server is full (" + std::to_string(cfg.max_peers) + " peers)");
    if (st.pending >= cfg.max_pending_handshakes) throw ApiError(503, "too many handshakes in progress; retry shortly");
    auto accepted = engine->accept_offer(sdp, [this](net::PeerId id) { return callbacks_for(id); });
    if (!accepted) throw ApiError(400, "bad offer: " + accepted.error());
    const net::PeerId id = accepted->id;
    std::string member_token;
    std::optional<signaling::Member::ResumeFrom> resume;
    if (v2.has_resume) resume = signaling::Member::ResumeFrom{v2.resume_epoch, v2.resume_seq};
    if (existing) {
      // Reconnect: the new session takes the slot; the old one closes without a leave. A
      // protocol change (an older page reloaded as a newer one) is taken as it comes.
      if (existing->protocol != v2.protocol) {
        auto* r = registry.room(room);
        if (v2.protocol >= 2) ++r->v2_members;
        else if (r->v2_members > 0) --r->v2_members;
        existing->protocol = v2.protocol;
      }
      const net::PeerId old = registry.replace_session(room, peer_id, id);
      relay->session_replaced(room, peer_id, old, std::move(resume));
      member_token = token;
    } else {
      member_token = registry.add_peer(room, peer_id, id, v2.protocol).token;
      if (resume) relay->fresh_join_resume(room, peer_id, std::move(*resume));
    }
    if (auto* m = registry.find(room, peer_id)) m->offered_at = signaling::Clock::now();  // Stats::handshake
    json answer{{"sdp", accepted->answer}, {"type", "answer"},       {"peer_id", peer_id},
                {"room", room},            {"token", member_token}, {"max_message_size", kMaxPayload}};
    if (v2.protocol >= 2) {
      answer["protocol"] = 2;
      answer["max_message_size"] = kMaxPayloadV2;
    }
    return answer;
  }

  // An ICE restart (docs/protocol.md "ICE restart"): the member's live connection takes the
  // offer's new ICE credentials and keeps its DTLS and SCTP association, channels, membership
  // and queues; the room sees nothing. An offer is one when it says `restart: true`, or when it
  // comes with the member's token from the same DTLS endpoint (the connection's remote
  // fingerprint: the same RTCPeerConnection, RFC 8839 §4.4.1.1.1). Not a restart (nullopt):
  // no member, or another fingerprint without the flag (a new RTCPeerConnection: a reconnect).
  // `restart: true` that cannot be one is a 409 saying why; the client then connects anew.
  std::optional<json> try_ice_restart(signaling::Member* existing, const std::string& room,
                                      const std::string& peer_id, const std::string& sdp, bool restart) {
    auto refuse = [&](const std::string& why) -> std::optional<json> {
      if (!restart) return std::nullopt;
      throw ApiError(409, "cannot restart ICE for peer_id " + signaling::quote_name(peer_id) + " in room " +
                              signaling::quote_name(room) + ": " + why);
    };
    if (!existing) return refuse("it has no connection here (the server ended it, or never had it)");
    rtc::PeerConnection* pc = engine->peer(existing->engine_id);
    if (!pc || pc->state() == rtc::State::Closed) return refuse("its connection has ended");
    auto offer = sdp::parse(sdp);
    if (!offer) throw ApiError(400, "bad offer: " + offer.error());
    if (!(offer->fingerprint == pc->remote_fingerprint()))
      return refuse("the offer's DTLS fingerprint is not the connection's (a new RTCPeerConnection connects anew)");
    bool changed = false;
    auto accepted = engine->restart_ice(existing->engine_id, *offer, &changed);
    if (!accepted) throw ApiError(409, "cannot restart ICE for peer_id " + signaling::quote_name(peer_id) + ": " +
                                           accepted.error());
    if (changed) {
      ++relay->counters().ice_restarts;
      log().info("peer {} in room {}: ICE restart", peer_id, room);
    }
    json answer{{"sdp", accepted->answer}, {"type", "answer"},      {"peer_id", peer_id},
                {"room", room},            {"token", existing->token}, {"max_message_size", kMaxPayload},
                {"restart", true}};
    if (existing->protocol >= 2) {  // the member's protocol, as its connection negotiated it
      answer["protocol"] = 2;
      answer["max_message_size"] = kMaxPayloadV2;
    }
    return answer;
  }

  void stop() {
    if (net.on_thread())
      throw std::logic_error("SignalingManager::shutdown from the network thread (the filter) would wait for itself");
    net.stop([this] {
      engine->close_all("server shutting down");
      loop->stop();
    });
    hooks.executor().stop();
    relay.reset();
    engine.reset();
    loop.reset();
  }
};

// --- SignalingManager ---------------------------------------------------------------------------

SignalingManager::SignalingManager(Config config) {
  if (auto ok = signaling::check_ice_config(config); !ok) throw std::invalid_argument("peerrtc::Config: " + ok.error());
  if (g_managers.fetch_add(1) != 0) {
    g_managers.fetch_sub(1);
    throw std::logic_error(
        "only one SignalingManager may exist per process (usrsctp's state is process-wide); "
        "scale out with several processes");
  }
  try {
    impl_ = std::make_shared<Impl>(std::move(config));
    impl_->net.start();
  } catch (...) {
    impl_.reset();
    g_managers.fetch_sub(1);
    throw;
  }
}

SignalingManager::~SignalingManager() {
  impl_->stop();
  g_managers.fetch_sub(1);
}

void SignalingManager::shutdown() { impl_->stop(); }

json SignalingManager::offer(const std::string& room, const std::string& peer_id, const json& offer,
                             const std::string& token, const std::string& join_token, const json& fields) {
  check_name("room", room);
  check_name("peer_id", peer_id, true);
  auto sdp_or = signaling::check_offer(offer);
  if (!sdp_or) throw ApiError(400, sdp_or.error());
  if (join_token.size() > kMaxJoinTokenBytes) throw ApiError(400, "join_token is too long");
  check_join(impl_->cfg, room, peer_id, join_token);
  signaling::Request v2;
  if (fields.is_object())
    if (auto ok = signaling::parse_offer_v2(fields, v2); !ok) throw ApiError(400, ok.error());
  return impl_->call([impl = impl_.get(), room, peer_id, sdp = std::move(*sdp_or), token, v2] {
    return impl->do_offer(room, peer_id, sdp, token, v2);
  });
}

void SignalingManager::candidate(const std::string& room, const std::string& peer_id,
                                 const json& candidate, const std::string& token) {
  check_name("room", room);
  check_name("peer_id", peer_id);
  if (auto ok = signaling::check_candidate(candidate); !ok) throw ApiError(400, ok.error());
  impl_->call([impl = impl_.get(), room, peer_id, token] {
    // ICE-lite: the address comes from the STUN checks, so a candidate changes nothing; PeerPyRTC
    // clients trickle them without a token, which is accepted. A wrong token is still a 403.
    impl->registry.authorize(room, peer_id, token, /*allow_missing=*/true);
  });
}

void SignalingManager::leave(const std::string& room, const std::string& peer_id, const std::string& token) {
  check_name("room", room);
  check_name("peer_id", peer_id);
  impl_->call([impl = impl_.get(), room, peer_id, token] {
    impl->registry.authorize(room, peer_id, token, !impl->cfg.require_leave_token);
    impl->relay->leave(room, peer_id, "left");
  });
}

std::pair<int, json> SignalingManager::handle(const std::string& action, const std::string& body) {
  auto req = signaling::parse_request(action, body);
  if (!req) return {req.error().rfind("unknown action", 0) == 0 ? 404 : 400, json{{"error", req.error()}}};
  try {
    switch (req->kind) {
      case signaling::Request::Kind::Offer:
        check_join(impl_->cfg, req->room, req->peer_id, req->join_token);
        return {200, impl_->call([impl = impl_.get(), r = *req] { return impl->do_offer(r.room, r.peer_id, r.sdp, r.token, r); })};
      case signaling::Request::Kind::Candidate:
        candidate(req->room, req->peer_id, req->candidate, req->token);
        return {200, json{{"status", "ok"}}};
      case signaling::Request::Kind::Leave:
        leave(req->room, req->peer_id, req->token);
        return {200, json{{"status", "ok"}}};
    }
  } catch (const ApiError& e) {
    return {e.status(), json{{"error", e.what()}}};
  }
  return {500, json{{"error", "internal error"}}};
}

json SignalingManager::rooms_info() const {
  return impl_->call([impl = impl_.get()] {
    json rooms = json::array();
    for (auto& [name, room] : impl->registry.rooms())
      rooms.push_back({{"room", name}, {"peers", impl->registry.joined_names(room)}});
    return json{{"rooms", rooms}};
  });
}

json SignalingManager::room_peers(const std::string& room) const {
  check_name("room", room);
  return impl_->call([impl = impl_.get(), room] {
    auto* r = impl->registry.room(room);
    if (!r) throw ApiError(404, "no room " + signaling::quote_name(room));
    return json{{"room", room}, {"peers", impl->registry.joined_names(*r)}};
  });
}

SignalingManager::HandlerId SignalingManager::on_message(std::function<void(const Message&)> fn) {
  return impl_->hooks.add_message(std::move(fn));
}

SignalingManager::HandlerId SignalingManager::on_peer_joined(
    std::function<void(const std::string&, const std::string&, const json&)> fn) {
  return impl_->hooks.add_joined(std::move(fn));
}

SignalingManager::HandlerId SignalingManager::on_peer_left(
    std::function<void(const std::string&, const std::string&, const json&)> fn) {
  return impl_->hooks.add_left(std::move(fn));
}

SignalingManager::HandlerId SignalingManager::on_relayed(std::function<void(const Message&)> fn) {
  return impl_->hooks.add_relayed(std::move(fn));
}

void SignalingManager::seed_history(const std::string& room, std::vector<HistoryItem> items) {
  check_name("room", room);
  if (impl_->cfg.history == 0 || items.empty()) return;
  std::vector<signaling::HistoryEntry> entries;
  entries.reserve(items.size());
  for (auto& i : items) {
    if (i.data.size() > kMaxPayload || !signaling::valid_name(i.sender)) continue;  // not a relayed message
    entries.push_back({std::move(i.sender), std::move(i.data), i.binary, i.ts_ms});
  }
  impl_->call([impl = impl_.get(), room, entries = std::move(entries)]() mutable {
    impl->relay->seed_history(room, std::move(entries));
  });
}

void SignalingManager::seed_resume(const std::string& room, std::vector<Message> items) {
  check_name("room", room);
  if (impl_->cfg.resume_window.count() == 0 || items.empty()) return;
  signaling::PriorEpoch prior;
  prior.epoch = items.back().epoch;
  if (prior.epoch.empty()) return;
  std::sort(items.begin(), items.end(), [](const Message& a, const Message& b) { return a.seq < b.seq; });
  for (auto& i : items) {
    if (i.epoch != prior.epoch || i.seq == 0 || i.data.size() > kMaxPayloadV2 || !signaling::valid_name(i.sender))
      continue;  // not a relayed message of that epoch
    if (!prior.entries.empty() && prior.entries.back().seq == i.seq) continue;
    prior.entries.push_back({i.seq, std::move(i.sender), i.to.value_or(std::string()), std::move(i.data), i.binary,
                             {}, i.cmid});
  }
  // As much as the room's resume buffer would hold, the newest (older ones become a counted gap).
  size_t bytes = 0;
  for (const auto& e : prior.entries) bytes += signaling::ResumeBuffer::cost(e);
  while (!prior.entries.empty() &&
         (bytes > impl_->cfg.resume_buffer_bytes || prior.entries.size() > impl_->cfg.resume_buffer)) {
    bytes -= signaling::ResumeBuffer::cost(prior.entries.front());
    prior.entries.pop_front();
  }
  impl_->call([impl = impl_.get(), room, prior = std::move(prior)]() mutable {
    impl->relay->seed_resume(room, std::move(prior));
  });
}

bool SignalingManager::remove_handler(HandlerId id) { return impl_->hooks.remove(id); }

void SignalingManager::set_filter(std::function<FilterResult(const Message&)> fn) {
  impl_->call([impl = impl_.get(), fn = std::move(fn)]() mutable { impl->relay->filter = std::move(fn); });
}

size_t SignalingManager::broadcast(const std::string& room, const std::string& data, bool binary) {
  check_size(data);
  return impl_->call([impl = impl_.get(), room, data, binary] {
    return impl->relay->send(room, kServerName, as_bytes(data), binary, std::nullopt, false);
  });
}

bool SignalingManager::send_to(const std::string& room, const std::string& peer_id, const std::string& data,
                               bool binary) {
  check_size(data);
  return impl_->call([impl = impl_.get(), room, peer_id, data, binary] {
    return impl->relay->send(room, kServerName, as_bytes(data), binary, std::string_view(peer_id), false) > 0;
  });
}

size_t SignalingManager::evict_room(const std::string& room, const std::string& reason) {
  check_name("room", room);
  return impl_->call([impl = impl_.get(), room, reason] { return impl->relay->evict_room(room, reason); });
}

bool SignalingManager::kick(const std::string& room, const std::string& peer_id, const std::string& reason) {
  check_name("room", room);
  check_name("peer_id", peer_id);
  if (reason.size() > 256) throw ApiError(400, "reason is too long (at most 256 bytes)");
  if (auto at = signaling::invalid_utf8_at(reason); at != std::string_view::npos)
    throw ApiError(400, "reason is not valid UTF-8 (byte " + std::to_string(at) + ")");
  return impl_->call([impl = impl_.get(), room, peer_id, reason] { return impl->relay->kick(room, peer_id, reason); });
}

std::shared_ptr<Participant> SignalingManager::join(const std::string& room, const std::string& name,
                                                    std::function<void(const Message&)> on_message,
                                                    std::function<void(const json&)> on_event) {
  check_name("room", room);
  check_name("name", name, true);
  auto inbox = std::make_shared<signaling::ParticipantInbox>();
  inbox->room = room;
  inbox->name = name;
  inbox->on_message = std::move(on_message);
  inbox->on_event = std::move(on_event);
  impl_->call([impl = impl_.get(), room, name, inbox] { impl->relay->join_participant(room, name, inbox); });
  return std::shared_ptr<Participant>(new Participant(impl_, room, name));
}

Stats SignalingManager::stats() const {
  Stats s = impl_->call([impl = impl_.get()] {
    Stats c = impl->relay->counters();
    c.rooms = impl->registry.rooms().size();
    auto es = impl->engine->stats();
    c.peers = es.peers;
    c.pending = es.pending;
    c.dropped_datagrams = es.dropped_unknown + es.dropped_oversize + es.dropped_send;
    c.dropped_stun = es.stun_bad;
    c.datagrams_in = es.datagrams_in;
    c.datagrams_out = es.datagrams_out;
    c.dropped_dtls = es.dtls_dropped;
    c.dropped_sctp_messages = es.dcep_bad + es.messages_dropped;
    c.receive_errors = es.receive_errors;
    c.tcp_accepted = es.tcp.accepted;
    c.tcp_refused = es.tcp.refused;
    c.tcp_closed_no_stun = es.tcp.closed_no_stun;
    c.tcp_closed_bad_frame = es.tcp.closed_bad_frame;
    c.tcp_path_fallbacks = es.tcp.path_fallbacks;
    c.tcp_frames_in = es.tcp.frames_in;
    c.tcp_frames_out = es.tcp.frames_out;
    c.tcp_dropped_send = es.tcp.dropped_send;
    c.tcp_open = es.tcp.open;
    const auto sc = sctp::Stack::counters();
    c.sctp = SctpStats{sc.packets_in, sc.packets_out, sc.packets_bundled, sc.data_chunks_in, sc.data_chunks_out,
                       sc.sacks_in, sc.sacks_out, sc.retransmitted_chunks, sc.fast_retransmits,
                       sc.t3_timeouts, sc.t3_marked_chunks, sc.duplicate_data_in,
                       sc.delayed_sack_timeouts, sc.window_probes, sc.data_dropped_no_room,
                       sc.packets_dropped, sc.path_returns, sc.heartbeat_acks_in,
                       sc.path_return_resends, sc.graceful_closes, sc.graceful_close_timeouts,
                       sc.loss_probes};
    return c;
  });
  s.hook_events = impl_->hooks.executor().executed();
  s.hook_dropped = impl_->hooks.executor().dropped();
  return s;
}

namespace {
// Owns a descriptor until it is handed on (a task that never runs closes it).
struct OwnedFd {
  int fd;
  explicit OwnedFd(int f) : fd(f) {}
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};
}  // namespace

bool SignalingManager::looks_like_ice_tcp(std::string_view first_bytes) {
  return net::rfc4571::starts_like_stun_binding(as_bytes(first_bytes));
}

void SignalingManager::accept_tcp(int fd, std::string first_bytes) {
  auto owned = std::make_shared<OwnedFd>(fd);
  if (fd < 0) return;
  // Not waited for; refused (and the descriptor closed) once stopping.
  impl_->net.post([impl = impl_.get(), owned, bytes = std::move(first_bytes)] {
    if (!impl->engine) return;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(owned->fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return;
    boost::asio::ip::tcp::socket socket(impl->net.io());
    boost::system::error_code ec;
    socket.assign(ss.ss_family == AF_INET6 ? boost::asio::ip::tcp::v6() : boost::asio::ip::tcp::v4(),
                  owned->fd, ec);
    if (ec) return;
    owned->release();
    impl->engine->adopt_tcp(std::move(socket), Bytes(bytes.begin(), bytes.end()));
  });
}

uint16_t SignalingManager::udp_port() const { return impl_->port; }

const Config& SignalingManager::config() const { return impl_->cfg; }

json SignalingManager::ice_config(const std::string& peer_id) const {
  std::string user = peer_id;
  if (user.empty()) {
    uint8_t raw[8];
    random_bytes(raw);
    user = to_hex(raw);
  } else {
    check_name("peer_id", peer_id, true);
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  return signaling::ice_config_body(impl_->cfg, user, now);
}

namespace {
template <size_t N>
json histogram_json(const DurationHistogram<N>& h) {
  json le = json::array();
  for (uint64_t b : h.bounds_ns) le.push_back(static_cast<double>(b) / 1000.0);
  return json{{"le_us", le}, {"counts", h.counts}, {"count", h.count}, {"sum_us", static_cast<double>(h.sum_ns) / 1000.0}};
}
}  // namespace

json to_json(const Stats& s) {
  return json{{"rooms", s.rooms},
              {"peers", s.peers},
              {"pending", s.pending},
              {"messages_relayed", s.messages_relayed},
              {"deliveries", s.deliveries},
              {"dropped_too_large", s.dropped_too_large},
              {"dropped_bad_frame", s.dropped_bad_frame},
              {"dropped_filtered", s.dropped_filtered},
              {"dropped_unknown_peer", s.dropped_unknown_peer},
              {"dropped_send", s.dropped_send},
              {"dropped_rate_limited", s.dropped_rate_limited},
              {"dropped_datagrams", s.dropped_datagrams},
              {"dropped_stun", s.dropped_stun},
              {"dropped_dtls", s.dropped_dtls},
              {"dropped_sctp_messages", s.dropped_sctp_messages},
              {"datagrams_in", s.datagrams_in},
              {"datagrams_out", s.datagrams_out},
              {"senders_paused", s.senders_paused},
              {"slow_receivers_disconnected", s.slow_receivers_disconnected},
              {"ice_restarts", s.ice_restarts},
              {"receive_errors", s.receive_errors},
              {"volatile", json{{"relayed", s.volatile_relayed},
                                {"deliveries", s.volatile_deliveries},
                                {"dropped_congested", s.volatile_dropped_congested},
                                {"dropped_no_channel", s.volatile_dropped_no_channel},
                                {"dropped_send", s.volatile_dropped_send}}},
              {"hook_events", s.hook_events},
              {"hook_dropped", s.hook_dropped},
              {"resumes", s.resumes},
              {"resume_gaps", s.resume_gaps},
              {"repeats_dropped", s.repeats_dropped},
              {"hook_backpressure_pauses", s.hook_backpressure_pauses},
              {"ice_tcp", json{{"accepted", s.tcp_accepted},
                               {"open", s.tcp_open},
                               {"refused", s.tcp_refused},
                               {"closed_no_stun", s.tcp_closed_no_stun},
                               {"closed_bad_frame", s.tcp_closed_bad_frame},
                               {"frames_in", s.tcp_frames_in},
                               {"frames_out", s.tcp_frames_out},
                               {"dropped_send", s.tcp_dropped_send},
                               {"path_fallbacks", s.tcp_path_fallbacks}}},
              {"relay_latency", histogram_json(s.relay_latency)},
              {"handshake", histogram_json(s.handshake)},
              {"sctp", json{{"packets_in", s.sctp.packets_in},
                            {"packets_out", s.sctp.packets_out},
                            {"packets_bundled", s.sctp.packets_bundled},
                            {"data_chunks_in", s.sctp.data_chunks_in},
                            {"data_chunks_out", s.sctp.data_chunks_out},
                            {"sacks_in", s.sctp.sacks_in},
                            {"sacks_out", s.sctp.sacks_out},
                            {"retransmitted_chunks", s.sctp.retransmitted_chunks},
                            {"fast_retransmits", s.sctp.fast_retransmits},
                            {"t3_timeouts", s.sctp.t3_timeouts},
                            {"t3_marked_chunks", s.sctp.t3_marked_chunks},
                            {"duplicate_data_in", s.sctp.duplicate_data_in},
                            {"delayed_sack_timeouts", s.sctp.delayed_sack_timeouts},
                            {"window_probes", s.sctp.window_probes},
                            {"data_dropped_no_room", s.sctp.data_dropped_no_room},
                            {"packets_dropped", s.sctp.packets_dropped},
                            {"path_returns", s.sctp.path_returns},
                            {"heartbeat_acks_in", s.sctp.heartbeat_acks_in},
                            {"path_return_resends", s.sctp.path_return_resends},
                            {"graceful_closes", s.sctp.graceful_closes},
                            {"graceful_close_timeouts", s.sctp.graceful_close_timeouts},
                            {"loss_probes", s.sctp.loss_probes}}}};
}

// --- Participant --------------------------------------------------------------------------------

Participant::~Participant() {
  try {
    leave();
  } catch (const std::exception& e) {
    log().warn("participant {} in {}: leave on destruction failed: {}", name_, room_, e.what());
  }
}

bool Participant::send(const std::string& data, bool binary) {
  auto impl = impl_.lock();
  if (!impl || left_ || impl->net.stopping()) return false;
  check_size(data);
  return impl->call([i = impl.get(), room = room_, name = name_, data, binary] {
    if (!i->registry.find(room, name)) return false;
    i->relay->send(room, name, as_bytes(data), binary, std::nullopt, true);
    return true;
  });
}

bool Participant::send_to(const std::string& peer_id, const std::string& data, bool binary) {
  auto impl = impl_.lock();
  if (!impl || left_ || impl->net.stopping()) return false;
  check_size(data);
  return impl->call([i = impl.get(), room = room_, name = name_, peer_id, data, binary] {
    return i->relay->send(room, name, as_bytes(data), binary, std::string_view(peer_id), false) > 0;
  });
}

void Participant::leave() {
  if (left_) return;
  left_ = true;
  auto impl = impl_.lock();
  if (!impl || impl->net.stopping()) return;
  impl->call([i = impl.get(), room = room_, name = name_] { i->relay->leave(room, name, "left"); });
}

}  // namespace peerrtc
