// SignalingManager: rooms, relay, presence and hooks on top of net::Engine.
// All room state lives on the network thread (Impl::io); public methods post onto it.
#include "peerrtc/signaling_manager.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "common/log.hpp"
#include "net/engine.hpp"
#include "signaling/frames.hpp"
#include "signaling/hook_executor.hpp"
#include "signaling/ice_config.hpp"
#include "signaling/requests.hpp"
#include "signaling/token_bucket.hpp"

namespace peerrtc {

namespace asio = boost::asio;
using signaling::kMaxPayload;

namespace {

constexpr const char* kChannelLabel = "peerrtc";
constexpr const char* kServerName = "server";

// usrsctp runs without threads of its own and its state is process-global, so exactly one
// network thread may drive it: one SignalingManager per process at a time.
std::atomic<int> g_managers{0};

void check_name(const std::string& what, const std::string& value, bool peer = false) {
  if (auto ok = signaling::check_name(what, value, peer); !ok) throw ApiError(400, ok.error());
}

std::string new_token() {
  uint8_t raw[16];
  random_bytes(raw);
  return to_hex(raw);
}

}  // namespace

struct SignalingManager::Impl : std::enable_shared_from_this<SignalingManager::Impl> {
  // A member of a room: a remote peer (engine id != 0) or a server-side participant.
  struct Member {
    net::PeerId engine_id = 0;
    uint16_t stream = 0xFFFF;  // the peer's `peerrtc` channel once open
    bool joined = false;       // channel open and announced
    std::string token;
    // Backpressure (docs/architecture.md): senders paused because this receiver is congested,
    // since when it is congested, and how many receivers hold this member back as a sender.
    std::vector<std::string> waiting_senders;
    std::optional<std::chrono::steady_clock::time_point> congested_since;
    int blocked_by = 0;
    signaling::TokenBucket message_rate, byte_rate;
    std::chrono::steady_clock::time_point last_rate_error{};
    std::function<void(const Message&)> participant_message;
    std::function<void(const json&)> participant_event;
    bool is_participant() const { return engine_id == 0; }
  };
  struct Room {
    std::map<std::string, Member> members;  // by peer id
  };
  struct PeerRef {
    std::string room, peer_id;
  };

  Config cfg;
  asio::io_context io;
  std::unique_ptr<net::Loop> loop;
  std::unique_ptr<net::Engine> engine;
  std::thread thread;
  std::thread::id thread_id;
  signaling::HookExecutor hooks;
  std::atomic<bool> stopped{false};
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  // Hooks: set from any thread, read by the network thread under the lock (copied out).
  mutable std::mutex hook_mu;
  std::function<void(const Message&)> on_message;
  std::function<void(const std::string&, const std::string&, const json&)> on_joined, on_left;
  // The filter is only touched on the network thread.
  std::function<FilterResult(const Message&)> filter;

  // Network-thread state.
  std::unordered_map<std::string, Room> rooms;
  std::unordered_map<net::PeerId, PeerRef> peers;  // engine id -> member
  Stats counters;

  explicit Impl(Config c) : cfg(std::move(c)), hooks(cfg.hook_threads, cfg.hook_queue_capacity) {
    if (cfg.sctp_streams < 2)
      throw std::invalid_argument("Config::sctp_streams must be 2..65535 (one even and one odd stream id at least)");
    if (cfg.debug) log().set_level(spdlog::level::debug);
    loop = std::make_unique<net::Loop>(io);
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
    engine = std::make_unique<net::Engine>(*loop, ec);
    loop->add_ticker([this](net::Loop::Clock::time_point now) { check_slow_receivers(now); });
  }

  // --- backpressure -------------------------------------------------------------------------

  Member* member_of(const std::string& room, const std::string& peer_id) {
    auto rit = rooms.find(room);
    if (rit == rooms.end()) return nullptr;
    auto mit = rit->second.members.find(peer_id);
    return mit == rit->second.members.end() ? nullptr : &mit->second;
  }

  void hold_sender(Member& receiver, const std::string& sender_name, Member& sender) {
    if (!receiver.congested_since) receiver.congested_since = std::chrono::steady_clock::now();
    for (auto& w : receiver.waiting_senders)
      if (w == sender_name) return;
    receiver.waiting_senders.push_back(sender_name);
    if (sender.blocked_by++ == 0) {
      if (auto* pc = engine->peer(sender.engine_id)) pc->set_receive_paused(true);
      ++counters.senders_paused;
      log().debug("backpressure: pausing sender {}", sender_name);
    }
  }

  // The receiver drained (or left): let the senders it held back go on.
  void release_senders(const std::string& room, Member& receiver) {
    receiver.congested_since.reset();
    auto waiting = std::move(receiver.waiting_senders);
    receiver.waiting_senders.clear();
    for (auto& name : waiting) {
      Member* s = member_of(room, name);
      if (!s || s->blocked_by <= 0) continue;
      if (--s->blocked_by == 0)
        if (auto* pc = engine->peer(s->engine_id)) pc->set_receive_paused(false);
    }
  }

  void disconnect_slow(const std::string& room, const std::string& peer_id, Member& m, const std::string& why) {
    ++counters.slow_receivers_disconnected;
    log().warn("peer {} in room {} disconnected as too slow: {}", peer_id, room, why);
    engine->close_peer(m.engine_id, "too slow: " + why);
  }

  std::chrono::steady_clock::time_point last_slow_check{};
  void check_slow_receivers(std::chrono::steady_clock::time_point now) {
    if (now - last_slow_check < std::chrono::milliseconds(250)) return;
    last_slow_check = now;
    std::vector<std::pair<std::string, std::string>> slow;
    for (auto& [room, r] : rooms)
      for (auto& [id, m] : r.members)
        if (m.congested_since && now - *m.congested_since > cfg.slow_receiver_grace) slow.emplace_back(room, id);
    for (auto& [room, id] : slow)
      if (Member* m = member_of(room, id))
        disconnect_slow(room, id, *m, "congested for more than " + std::to_string(cfg.slow_receiver_grace.count()) + " ms");
  }

  void start() {
    thread = std::thread([this] {
      auto guard = asio::make_work_guard(io);
      io.run();
    });
    thread_id = thread.get_id();
  }

  // Runs f on the network thread and returns its result; inline when already there.
  template <typename F>
  auto on_net(F f) -> decltype(f()) {
    if (std::this_thread::get_id() == thread_id) return f();
    if (stopped) throw ApiError(503, "server is shutting down");
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto fut = task.get_future();
    asio::post(io, [&task] { task(); });
    if (fut.wait_for(cfg.api_timeout) != std::future_status::ready) {
      // The task still references this frame: wait for it rather than leave it dangling.
      log().error("signaling: network thread did not answer within {} ms", cfg.api_timeout.count());
      fut.wait();
    }
    return fut.get();
  }

  // --- presence -------------------------------------------------------------------------------

  void send_event(const Member& m, const json& event) {
    if (m.is_participant()) {
      if (m.participant_event) hooks.post([fn = m.participant_event, event] { fn(event); });
      return;
    }
    if (!m.joined) return;
    if (auto* pc = engine->peer(m.engine_id)) pc->send_text(m.stream, event.dump());
  }

  void announce(Room& room, const std::string& except, const json& event) {
    for (auto& [id, m] : room.members)
      if (id != except) send_event(m, event);
  }

  std::vector<std::string> joined_names(const Room& room, const std::string& except = {}) const {
    std::vector<std::string> out;
    for (auto& [id, m] : room.members)
      if (m.joined && id != except) out.push_back(id);
    return out;
  }

  void hook_presence(bool joined, const std::string& room, const std::string& peer_id, json info) {
    std::function<void(const std::string&, const std::string&, const json&)> fn;
    {
      std::lock_guard lock(hook_mu);
      fn = joined ? on_joined : on_left;
    }
    if (fn) hooks.post([fn, room, peer_id, info = std::move(info)] { fn(room, peer_id, info); });
  }

  void member_joined(const std::string& room_name, const std::string& peer_id, bool reconnect) {
    auto& room = rooms[room_name];
    auto& m = room.members[peer_id];
    m.joined = true;
    send_event(m, {{"type", "welcome"},
                   {"room", room_name},
                   {"peer_id", peer_id},
                   {"peers", joined_names(room, peer_id)},
                   {"max_message_size", kMaxPayload}});
    if (reconnect) return;  // the room never saw this peer leave
    announce(room, peer_id, {{"type", "peer_joined"}, {"peer_id", peer_id}});
    hook_presence(true, room_name, peer_id, {{"peers", joined_names(room)}});
  }

  void member_left(const std::string& room_name, const std::string& peer_id, const std::string& reason) {
    auto rit = rooms.find(room_name);
    if (rit == rooms.end()) return;
    auto mit = rit->second.members.find(peer_id);
    if (mit == rit->second.members.end()) return;
    bool was_joined = mit->second.joined;
    release_senders(room_name, mit->second);
    rit->second.members.erase(mit);
    if (was_joined) {
      announce(rit->second, peer_id, {{"type", "peer_left"}, {"peer_id", peer_id}, {"reason", reason}});
      hook_presence(false, room_name, peer_id, {{"reason", reason}, {"peers", joined_names(rit->second)}});
    }
    if (rit->second.members.empty()) {
      rooms.erase(rit);
      log().debug("room {} is empty and removed", room_name);
    }
  }

  // --- relay (the hot path) -------------------------------------------------------------------

  void tell_sender(Member& m, const char* code, const std::string& error,
                   std::optional<std::string_view> to = {}) {
    json e{{"type", "error"}, {"code", code}, {"error", error}};
    if (to) e["to"] = std::string(*to);
    send_event(m, e);
  }

  // Relays one message from `sender` in `room_name`; the payload is final (already filtered).
  void relay(Room& room, const std::string& room_name, const std::string& sender, ByteView payload,
             bool binary, std::optional<std::string_view> to, Member* sender_member) {
    const bool direct = to.has_value();
    const std::string frame = binary ? signaling::server_binary_frame(sender, payload, direct)
                                     : signaling::server_text_frame(sender, payload, direct);
    Message copy;  // for participants (made once, lazily)
    bool have_copy = false;
    auto deliver = [&](const std::string& id, Member& m) {
      if (m.is_participant()) {
        if (!m.participant_message) return;
        if (!have_copy) {
          copy = Message{room_name, sender, std::string(as_chars(payload)), binary,
                         to ? std::optional<std::string>(std::string(*to)) : std::nullopt};
          have_copy = true;
        }
        hooks.post([fn = m.participant_message, copy] { fn(copy); });
        ++counters.deliveries;
        return;
      }
      if (!m.joined) return;
      auto* pc = engine->peer(m.engine_id);
      if (!pc) return;
      auto st = pc->send(m.stream, as_bytes(frame), binary);
      if (st == rtc::SendStatus::Ok) {
        ++counters.deliveries;
        if (pc->buffered_amount() > cfg.relay_high_water) {
          if (sender_member && !sender_member->is_participant())
            hold_sender(m, sender, *sender_member);  // also marks the receiver congested
          else if (!m.congested_since)
            m.congested_since = std::chrono::steady_clock::now();
        }
      } else if (st == rtc::SendStatus::BufferFull) {
        ++counters.dropped_send;
        disconnect_slow(room_name, id, m, "outgoing queue full (" + std::to_string(cfg.max_peer_queue) + " bytes)");
      } else {
        ++counters.dropped_send;
        log().debug("relay to {} in {} failed: {}", id, room_name, rtc::to_string(st));
      }
    };
    if (direct) {
      auto it = room.members.find(std::string(*to));
      if (it == room.members.end() || !it->second.joined || it->first == sender) {
        ++counters.dropped_unknown_peer;
        if (sender_member) tell_sender(*sender_member, "unknown_peer", "no peer '" + std::string(*to) + "' in this room", to);
        return;
      }
      deliver(it->first, it->second);
    } else {
      for (auto& [id, m] : room.members)
        if (id != sender) deliver(id, m);
    }
  }

  void hook_message(const std::string& room, const std::string& sender, ByteView payload, bool binary,
                    std::optional<std::string_view> to) {
    std::function<void(const Message&)> fn;
    {
      std::lock_guard lock(hook_mu);
      fn = on_message;
    }
    if (!fn) return;
    Message m{room, sender, std::string(as_chars(payload)), binary,
              to ? std::optional<std::string>(std::string(*to)) : std::nullopt};
    hooks.post([fn, m = std::move(m)] { fn(m); });
  }

  void on_peer_message(net::PeerId id, uint16_t stream, bool binary, ByteView data) {
    auto pit = peers.find(id);
    if (pit == peers.end()) return;
    auto rit = rooms.find(pit->second.room);
    if (rit == rooms.end()) return;
    auto mit = rit->second.members.find(pit->second.peer_id);
    if (mit == rit->second.members.end() || mit->second.engine_id != id) return;
    Member& me = mit->second;
    if (!me.joined || stream != me.stream) {
      ++counters.dropped_bad_frame;
      return;
    }
    signaling::FrameError err{};
    auto frame = signaling::parse_client_frame(data, binary, &err);
    if (!frame) {
      ++counters.dropped_bad_frame;
      log().debug("peer {} in {}: bad frame dropped: {}", mit->first, rit->first, signaling::to_string(err));
      return tell_sender(me, "bad_frame", std::string("frame dropped: ") + signaling::to_string(err));
    }
    if (frame->payload.size() > kMaxPayload) {
      ++counters.dropped_too_large;
      return tell_sender(me, "too_large", "message of " + std::to_string(frame->payload.size()) +
                                              " bytes exceeds the maximum of " + std::to_string(kMaxPayload));
    }
    const auto now = std::chrono::steady_clock::now();
    if (!me.message_rate.take(1, now) || !me.byte_rate.take(static_cast<double>(data.size()), now)) {
      ++counters.dropped_rate_limited;
      if (now - me.last_rate_error > std::chrono::seconds(1)) {
        me.last_rate_error = now;
        log().info("peer {} in {} is over its rate limit; messages dropped", mit->first, rit->first);
        tell_sender(me, "rate_limited", "message dropped: over the rate limit (" +
                                            std::to_string(static_cast<long>(cfg.peer_message_rate)) + " messages/s, " +
                                            std::to_string(static_cast<long>(cfg.peer_byte_rate)) + " bytes/s)");
      }
      return;
    }
    ++counters.messages_relayed;
    const std::string& room_name = rit->first;
    const std::string& sender = mit->first;
    if (filter) {
      Message m{room_name, sender, std::string(as_chars(frame->payload)), binary,
                frame->to ? std::optional<std::string>(std::string(*frame->to)) : std::nullopt};
      FilterResult r;
      try {
        r = filter(m);
      } catch (const std::exception& e) {
        log().error("filter threw: {}; message dropped", e.what());
        r = FilterResult::drop("message rejected");
      }
      if (r.action == FilterResult::Action::Drop) {
        ++counters.dropped_filtered;
        return tell_sender(me, "filtered", r.reason.empty() ? "message rejected" : r.reason);
      }
      if (r.action == FilterResult::Action::Replace) {
        if (r.replacement.size() > kMaxPayload) {
          ++counters.dropped_too_large;
          return tell_sender(me, "too_large", "the filter's replacement is too large");
        }
        relay(rit->second, room_name, sender, as_bytes(r.replacement), binary, frame->to, &me);
        hook_message(room_name, sender, as_bytes(r.replacement), binary, frame->to);
        return;
      }
    }
    relay(rit->second, room_name, sender, frame->payload, binary, frame->to, &me);
    hook_message(room_name, sender, frame->payload, binary, frame->to);
  }

  // --- peers ----------------------------------------------------------------------------------

  rtc::PeerConnection::Callbacks callbacks_for(net::PeerId id) {
    rtc::PeerConnection::Callbacks cb;
    cb.on_channel_open = [this, id](const rtc::ChannelInfo& ch) {
      auto pit = peers.find(id);
      if (pit == peers.end()) return;
      Member* m = member_of(pit->second.room, pit->second.peer_id);
      if (!m || m->engine_id != id) return;
      if (ch.init.label != kChannelLabel || m->stream != 0xFFFF) {
        log().debug("peer {}: extra channel '{}' ignored", pit->second.peer_id, ch.init.label);
        return;
      }
      m->stream = ch.stream;
      bool reconnect = m->joined;  // a re-offer replaced a joined session
      member_joined(pit->second.room, pit->second.peer_id, reconnect);
    };
    cb.on_message = [this, id](uint16_t stream, bool binary, ByteView data) {
      on_peer_message(id, stream, binary, data);
    };
    cb.on_buffered_low = [this, id] {
      auto pit = peers.find(id);
      if (pit == peers.end()) return;
      Member* m = member_of(pit->second.room, pit->second.peer_id);
      if (m && m->engine_id == id && (m->congested_since || !m->waiting_senders.empty()))
        release_senders(pit->second.room, *m);
    };
    cb.on_channel_closed = [this, id](uint16_t stream) {
      auto pit = peers.find(id);
      if (pit == peers.end()) return;
      Member* m = member_of(pit->second.room, pit->second.peer_id);
      if (m && m->engine_id == id && m->stream == stream) engine->close_peer(id, "channel closed");
    };
    cb.on_closed = [this, id](const std::string& reason) {
      auto pit = peers.find(id);
      if (pit == peers.end()) return;
      PeerRef ref = pit->second;
      peers.erase(pit);
      auto rit = rooms.find(ref.room);
      if (rit == rooms.end()) return;
      auto mit = rit->second.members.find(ref.peer_id);
      // A replaced session (reconnect) no longer owns the member slot.
      if (mit == rit->second.members.end() || mit->second.engine_id != id) return;
      log().info("peer {} left room {}: {}", ref.peer_id, ref.room, reason);
      member_left(ref.room, ref.peer_id, reason);
    };
    return cb;
  }

  json do_offer(const std::string& room_name, const std::string& peer_id, const std::string& sdp,
                const std::string& token) {
    auto rit = rooms.find(room_name);
    Member* existing = nullptr;
    if (rit != rooms.end()) {
      auto mit = rit->second.members.find(peer_id);
      if (mit != rit->second.members.end()) existing = &mit->second;
    }
    if (existing) {
      if (existing->is_participant())
        throw ApiError(409, "peer_id '" + peer_id + "' is taken by a server-side participant");
      if (token.empty())
        throw ApiError(409, "peer_id '" + peer_id + "' is already connected in room '" + room_name +
                                "' (a reconnect must send its token)");
      if (token != existing->token) throw ApiError(403, "wrong token for peer_id '" + peer_id + "'");
    } else {
      if (rit == rooms.end() && rooms.size() >= cfg.max_rooms)
        throw ApiError(503, "room limit reached (" + std::to_string(cfg.max_rooms) + ")");
      if (rit != rooms.end() && rit->second.members.size() >= cfg.max_peers_per_room)
        throw ApiError(503, "room '" + room_name + "' is full (" + std::to_string(cfg.max_peers_per_room) + " peers)");
    }
    auto st = engine->stats();
    if (st.peers >= cfg.max_peers) throw ApiError(503, "server is full (" + std::to_string(cfg.max_peers) + " peers)");
    if (st.pending >= cfg.max_pending_handshakes)
      throw ApiError(503, "too many handshakes in progress; retry shortly");
    auto accepted = engine->accept_offer(sdp, [this](net::PeerId id) { return callbacks_for(id); });
    if (!accepted) throw ApiError(400, "bad offer: " + accepted.error());
    const net::PeerId id = accepted->id;
    peers[id] = PeerRef{room_name, peer_id};
    auto& m = rooms[room_name].members[peer_id];
    if (existing) {
      // Reconnect: the new session takes the slot; the old one closes without a leave.
      net::PeerId old = m.engine_id;
      m.engine_id = id;
      m.stream = 0xFFFF;
      m.blocked_by = 0;
      release_senders(room_name, m);
      if (old) engine->close_peer(old, "replaced by a reconnect");
    } else {
      m.engine_id = id;
      m.token = new_token();
      m.message_rate = signaling::TokenBucket(cfg.peer_message_rate, cfg.peer_message_burst);
      m.byte_rate = signaling::TokenBucket(cfg.peer_byte_rate, cfg.peer_byte_burst);
    }
    return json{{"sdp", accepted->answer}, {"type", "answer"}, {"peer_id", peer_id},
                {"room", room_name},        {"token", m.token}, {"max_message_size", kMaxPayload}};
  }

  Member& find_member(const std::string& room_name, const std::string& peer_id, const std::string& token) {
    auto rit = rooms.find(room_name);
    if (rit == rooms.end()) throw ApiError(404, "no room '" + room_name + "'");
    auto mit = rit->second.members.find(peer_id);
    if (mit == rit->second.members.end())
      throw ApiError(404, "no peer '" + peer_id + "' in room '" + room_name + "'");
    if (mit->second.is_participant()) throw ApiError(403, "peer '" + peer_id + "' is a server-side participant");
    if (token.empty()) throw ApiError(403, "missing token for peer '" + peer_id + "'");
    if (token != mit->second.token) throw ApiError(403, "wrong token for peer '" + peer_id + "'");
    return mit->second;
  }

  void stop() {
    if (stopped.exchange(true)) return;
    if (thread.joinable()) {
      std::promise<void> done;
      asio::post(io, [&] {
        engine->close_all("server shutting down");
        done.set_value();
      });
      done.get_future().wait();
      // Let the ABORTs leave, then stop the loop.
      std::promise<void> flushed;
      asio::post(io, [&] {
        loop->stop();
        flushed.set_value();
      });
      flushed.get_future().wait();
      io.stop();
      thread.join();
    }
    hooks.stop();
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
  } catch (...) {
    g_managers.fetch_sub(1);
    throw;
  }
  impl_->start();
}

SignalingManager::~SignalingManager() {
  impl_->stop();
  g_managers.fetch_sub(1);
}

void SignalingManager::shutdown() { impl_->stop(); }

json SignalingManager::offer(const std::string& room, const std::string& peer_id, const json& offer,
                             const std::string& token) {
  check_name("room", room);
  check_name("peer_id", peer_id, true);
  auto sdp_or = signaling::check_offer(offer);
  if (!sdp_or) throw ApiError(400, sdp_or.error());
  const std::string& sdp = *sdp_or;
  return impl_->on_net([&] { return impl_->do_offer(room, peer_id, sdp, token); });
}

void SignalingManager::candidate(const std::string& room, const std::string& peer_id,
                                 const json& candidate, const std::string& token) {
  check_name("room", room);
  check_name("peer_id", peer_id);
  if (auto ok = signaling::check_candidate(candidate); !ok) throw ApiError(400, ok.error());
  impl_->on_net([&] {
    impl_->find_member(room, peer_id, token);
    return 0;  // ICE-lite: the address comes from the client's STUN checks.
  });
}

void SignalingManager::leave(const std::string& room, const std::string& peer_id, const std::string& token) {
  check_name("room", room);
  check_name("peer_id", peer_id);
  impl_->on_net([&] {
    auto& m = impl_->find_member(room, peer_id, token);
    if (m.engine_id) impl_->engine->close_peer(m.engine_id, "left");
    return 0;
  });
}

std::pair<int, json> SignalingManager::handle(const std::string& action, const std::string& body) {
  auto req = signaling::parse_request(action, body);
  if (!req) return {req.error().rfind("unknown action", 0) == 0 ? 404 : 400, json{{"error", req.error()}}};
  try {
    switch (req->kind) {
      case signaling::Request::Kind::Offer:
        return {200, impl_->on_net([&] { return impl_->do_offer(req->room, req->peer_id, req->sdp, req->token); })};
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
  return impl_->on_net([this] {
    json rooms = json::array();
    for (auto& [name, room] : impl_->rooms) rooms.push_back({{"room", name}, {"peers", impl_->joined_names(room)}});
    return json{{"rooms", rooms}};
  });
}

json SignalingManager::room_peers(const std::string& room) const {
  check_name("room", room);
  return impl_->on_net([&] {
    auto it = impl_->rooms.find(room);
    if (it == impl_->rooms.end()) throw ApiError(404, "no room '" + room + "'");
    return json{{"room", room}, {"peers", impl_->joined_names(it->second)}};
  });
}

void SignalingManager::on_message(std::function<void(const Message&)> fn) {
  std::lock_guard lock(impl_->hook_mu);
  impl_->on_message = std::move(fn);
}

void SignalingManager::on_peer_joined(std::function<void(const std::string&, const std::string&, const json&)> fn) {
  std::lock_guard lock(impl_->hook_mu);
  impl_->on_joined = std::move(fn);
}

void SignalingManager::on_peer_left(std::function<void(const std::string&, const std::string&, const json&)> fn) {
  std::lock_guard lock(impl_->hook_mu);
  impl_->on_left = std::move(fn);
}

void SignalingManager::set_filter(std::function<FilterResult(const Message&)> fn) {
  impl_->on_net([&] {
    impl_->filter = std::move(fn);
    return 0;
  });
}

size_t SignalingManager::broadcast(const std::string& room, const std::string& data, bool binary) {
  if (data.size() > kMaxPayload) throw ApiError(413, "message larger than " + std::to_string(kMaxPayload) + " bytes");
  return impl_->on_net([&]() -> size_t {
    auto it = impl_->rooms.find(room);
    if (it == impl_->rooms.end()) return 0;
    auto before = impl_->counters.deliveries;
    impl_->relay(it->second, room, kServerName, as_bytes(data), binary, std::nullopt, nullptr);
    return static_cast<size_t>(impl_->counters.deliveries - before);
  });
}

bool SignalingManager::send_to(const std::string& room, const std::string& peer_id, const std::string& data,
                               bool binary) {
  if (data.size() > kMaxPayload) throw ApiError(413, "message larger than " + std::to_string(kMaxPayload) + " bytes");
  return impl_->on_net([&] {
    auto it = impl_->rooms.find(room);
    if (it == impl_->rooms.end()) return false;
    auto before = impl_->counters.deliveries;
    impl_->relay(it->second, room, kServerName, as_bytes(data), binary, std::string_view(peer_id), nullptr);
    return impl_->counters.deliveries > before;
  });
}

std::shared_ptr<Participant> SignalingManager::join(const std::string& room, const std::string& name,
                                                    std::function<void(const Message&)> on_message,
                                                    std::function<void(const json&)> on_event) {
  check_name("room", room);
  check_name("name", name, true);
  impl_->on_net([&] {
    auto rit = impl_->rooms.find(room);
    if (rit == impl_->rooms.end() && impl_->rooms.size() >= impl_->cfg.max_rooms)
      throw ApiError(503, "room limit reached");
    if (rit != impl_->rooms.end() && rit->second.members.count(name))
      throw ApiError(409, "'" + name + "' is already in room '" + room + "'");
    auto& m = impl_->rooms[room].members[name];
    m.participant_message = std::move(on_message);
    m.participant_event = std::move(on_event);
    impl_->member_joined(room, name, false);
    return 0;
  });
  return std::shared_ptr<Participant>(new Participant(impl_, room, name));
}

Stats SignalingManager::stats() const {
  Stats s = impl_->on_net([this] {
    Stats c = impl_->counters;
    c.rooms = impl_->rooms.size();
    auto es = impl_->engine->stats();
    c.peers = es.peers;
    c.pending = es.pending;
    c.dropped_datagrams = es.dropped_unknown + es.dropped_oversize + es.dropped_send;
    c.dropped_stun = es.stun_bad;
    c.datagrams_in = es.datagrams_in;
    c.datagrams_out = es.datagrams_out;
    c.dropped_dtls = es.dtls_dropped;
    c.dropped_sctp_messages = es.dcep_bad + es.messages_dropped;
    return c;
  });
  s.hook_events = impl_->hooks.executed();
  s.hook_dropped = impl_->hooks.dropped();
  return s;
}

uint16_t SignalingManager::udp_port() const { return impl_->engine ? impl_->engine->udp_port() : 0; }

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

// --- Participant --------------------------------------------------------------------------------

Participant::~Participant() { leave(); }

bool Participant::send(const std::string& data, bool binary) {
  auto impl = impl_.lock();
  if (!impl || left_ || impl->stopped) return false;
  if (data.size() > kMaxPayload) throw ApiError(413, "message larger than " + std::to_string(kMaxPayload) + " bytes");
  return impl->on_net([&] {
    auto it = impl->rooms.find(room_);
    if (it == impl->rooms.end() || !it->second.members.count(name_)) return false;
    impl->relay(it->second, room_, name_, as_bytes(data), binary, std::nullopt, nullptr);
    impl->hook_message(room_, name_, as_bytes(data), binary, std::nullopt);
    return true;
  });
}

bool Participant::send_to(const std::string& peer_id, const std::string& data, bool binary) {
  auto impl = impl_.lock();
  if (!impl || left_ || impl->stopped) return false;
  if (data.size() > kMaxPayload) throw ApiError(413, "message larger than " + std::to_string(kMaxPayload) + " bytes");
  return impl->on_net([&] {
    auto it = impl->rooms.find(room_);
    if (it == impl->rooms.end() || !it->second.members.count(name_)) return false;
    auto before = impl->counters.deliveries;
    impl->relay(it->second, room_, name_, as_bytes(data), binary, std::string_view(peer_id), nullptr);
    return impl->counters.deliveries > before;
  });
}

void Participant::leave() {
  if (left_) return;
  left_ = true;
  auto impl = impl_.lock();
  if (!impl || impl->stopped) return;
  impl->on_net([&] {
    impl->member_left(room_, name_, "left");
    return 0;
  });
}

}  // namespace peerrtc
