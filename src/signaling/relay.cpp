#include "signaling/relay.hpp"

#include <utility>

#include "common/log.hpp"
#include "signaling/frames.hpp"
#include "peerrtc/limits.hpp"

namespace peerrtc::signaling {

namespace {
std::optional<std::string> opt_string(std::optional<std::string_view> v) {
  return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
}
}  // namespace

Relay::Relay(RelayConfig config, RoomRegistry& registry, PeerLink& link, Hooks& hooks,
             std::function<bool(std::function<void()>)> post_to_net)
    : cfg_(config), registry_(registry), link_(link), hooks_(hooks), post_to_net_(std::move(post_to_net)) {}

Relay::~Relay() { *alive_ = false; }

void Relay::run_deferred() {
  if (running_deferred_) return;
  running_deferred_ = true;
  // Each action runs as a turn of its own (depth 0 here): what it causes is queued behind it
  // and picked up by this loop (the guard above keeps it from recursing).
  while (!deferred_.empty()) {
    auto f = std::move(deferred_.front());
    deferred_.pop_front();
    Turn t(*this);
    f();
  }
  running_deferred_ = false;
}

// --- events to members ----------------------------------------------------------------------------

void Relay::post_inbox(const std::shared_ptr<ParticipantInbox>& inbox, std::variant<Message, json> item,
                       size_t bytes, bool last) {
  bool start = false;
  {
    std::lock_guard lock(inbox->mu);
    if (!inbox->accepting && !last) return;
    if (last) inbox->accepting = false;
    inbox->items.push_back(std::move(item));
    inbox->bytes += bytes;
    start = !inbox->draining;
    inbox->draining = true;
  }
  if (!start) return;
  // One drain task per participant at a time: bounded, so never dropped.
  hooks_.executor().post_always([inbox, high = cfg_.high_water, post = post_to_net_, alive = alive_, this] {
    for (;;) {
      std::variant<Message, json> next;
      bool tell = false;
      {
        std::lock_guard lock(inbox->mu);
        if (inbox->items.empty() || inbox->discard) {
          inbox->draining = false;
          inbox->items.clear();
          return;
        }
        next = std::move(inbox->items.front());
        inbox->items.pop_front();
        const size_t n = std::holds_alternative<Message>(next) ? std::get<Message>(next).data.size() : 0;
        inbox->bytes -= std::min(inbox->bytes, n);
        if (inbox->signal_drained && inbox->bytes <= high / 2) {
          inbox->signal_drained = false;
          tell = true;
        }
      }
      if (tell) {
        post([this, alive, room = inbox->room, name = inbox->name] {
          if (*alive) participant_drained(room, name);
        });
      }
      try {
        if (auto* m = std::get_if<Message>(&next)) {
          if (inbox->on_message) inbox->on_message(*m);
        } else if (inbox->on_event) {
          inbox->on_event(std::get<json>(next));
        }
      } catch (const std::exception& e) {
        log().error("participant {} in {}: callback threw: {}", inbox->name, inbox->room, e.what());
      }
    }
  });
}

void Relay::send_event(Member& m, const json& event) {
  if (m.is_participant()) {
    if (m.inbox) post_inbox(m.inbox, event, 0);
    return;
  }
  if (!m.joined) return;
  link_.send(m.engine_id, m.stream, as_bytes(event.dump()), false);
}

void Relay::announce(Room& room, const std::string& except, const json& event) {
  for (auto& [id, m] : room.members)
    if (id != except) send_event(m, event);
}

void Relay::tell_sender(Member& m, const char* code, const std::string& error, std::optional<std::string_view> to,
                        uint64_t cmid) {
  json e{{"type", "error"}, {"code", code}, {"error", error}};
  if (to) e["to"] = std::string(*to);
  if (cmid) {
    e["cmid"] = cmid;
    m.cmids.record(cmid, 0, code);
  }
  send_event(m, e);
}

// --- backpressure ---------------------------------------------------------------------------------

void Relay::hold_sender(Member& receiver, const std::string& sender_name, Member& sender) {
  if (!receiver.congested_since) receiver.congested_since = Clock::now();
  for (auto& w : receiver.waiting_senders)
    if (w == sender_name) return;
  receiver.waiting_senders.push_back(sender_name);
  if (sender.blocked_by++ == 0) {
    if (!sender.is_participant()) link_.set_receive_paused(sender.engine_id, true);
    ++counters_.senders_paused;
    log().debug("backpressure: pausing sender {}", sender_name);
  }
}

// The receiver drained (or left): let the senders it held back go on. Resuming a sender reads
// what it sent meanwhile, which relays: that runs after the current turn, and only if nothing
// paused the sender again in between.
void Relay::release_senders(const std::string& room, Member& receiver) {
  receiver.congested_since.reset();
  auto waiting = std::move(receiver.waiting_senders);
  receiver.waiting_senders.clear();
  for (auto& name : waiting) {
    Member* s = registry_.find(room, name);
    if (!s || s->blocked_by <= 0) continue;
    if (--s->blocked_by == 0 && !s->is_participant()) {
      run_or_defer([this, room, name] {
        Member* again = registry_.find(room, name);
        if (again && again->blocked_by == 0 && !again->is_participant())
          link_.set_receive_paused(again->engine_id, false);
      });
    }
  }
}

void Relay::forget_held_sender(const std::string& room_name, const std::string& sender) {
  Room* room = registry_.room(room_name);
  if (!room) return;
  for (auto& [name, m] : room->members) std::erase(m.waiting_senders, sender);
}

void Relay::disconnect_slow(const std::string& room, const std::string& name, Member& m, const std::string& why) {
  ++counters_.slow_receivers_disconnected;
  log().warn("{} {} in room {} disconnected as too slow: {}", m.is_participant() ? "participant" : "peer", name,
             room, why);
  if (!m.is_participant()) {
    link_.close(m.engine_id, "too slow: " + why);  // its on_closed waits for the turn's end
    return;
  }
  // A participant has no connection to close: it gets what was queued, then the reason as its
  // last event, and leaves the room.
  if (m.inbox)
    post_inbox(m.inbox, json{{"type", "error"}, {"code", "too_slow"}, {"error", "removed from the room: " + why}}, 0,
               true);
  run_or_defer([this, room, name] { member_left(room, name, "too slow"); });
}

void Relay::participant_drained(const std::string& room, const std::string& name) {
  Turn t(*this);
  if (Member* m = registry_.find(room, name); m && m->is_participant()) release_senders(room, *m);
}

void Relay::hold_for_hooks(const std::string& room, const std::string& name, Member& sender) {
  if (sender.hook_held || sender.is_participant()) return;
  const bool full = hooks_.executor().above(cfg_.hook_high_water, cfg_.hook_low_water,
                                            [post = post_to_net_, alive = alive_, this] {
                                              post([this, alive] {
                                                if (*alive) hooks_drained();
                                              });
                                            });
  if (!full) return;
  sender.hook_held = true;
  hook_held_.emplace_back(room, name);
  ++counters_.hook_backpressure_pauses;
  if (sender.blocked_by++ == 0) link_.set_receive_paused(sender.engine_id, true);
  log().debug("hook backpressure: pausing sender {} in {}", name, room);
}

void Relay::hooks_drained() {
  Turn t(*this);
  auto held = std::exchange(hook_held_, {});
  for (auto& [room, name] : held) {
    Member* m = registry_.find(room, name);
    if (!m || !m->hook_held) continue;
    m->hook_held = false;
    if (m->blocked_by > 0 && --m->blocked_by == 0) {
      run_or_defer([this, room, name] {
        Member* again = registry_.find(room, name);
        if (again && again->blocked_by == 0 && !again->is_participant())
          link_.set_receive_paused(again->engine_id, false);
      });
    }
  }
}

void Relay::tick(Clock::time_point now) {
  {
    Turn t(*this);
    flush_acks(now);
  }
  if (now - last_slow_check_ < std::chrono::milliseconds(250)) return;
  last_slow_check_ = now;
  std::erase_if(seeds_, [now](const auto& kv) { return now - kv.second.at > kSeedLifetime; });
  std::erase_if(priors_, [&](const auto& kv) {
    return now - kv.second.at > cfg_.resume_window + std::chrono::seconds(10);
  });
  Turn t(*this);
  for (auto& [room_name, r] : registry_.rooms()) {
    // What is older than the resume window (and a margin for the resume's handshake) is no
    // longer needed by anyone.
    if (r.buffer.size()) r.buffer.expire(now - cfg_.resume_window - std::chrono::seconds(10));
    for (auto& [id, m] : r.members) {
      if (m.away && now >= m.away_until) {
        // The window ended: now the member leaves (after this loop, at the turn's end).
        m.away_until = Clock::time_point::max();
        log().info("peer {} in room {}: resume window ended", id, room_name);
        run_or_defer([this, room = room_name, name = id, why = m.away_reason] { member_left(room, name, why); });
        continue;
      }
      if (!m.congested_since || now - *m.congested_since <= cfg_.slow_receiver_grace) continue;
      m.congested_since.reset();  // once
      // disconnect_slow changes no room here: the member's removal waits for the turn's end.
      disconnect_slow(room_name, id, m,
                      "congested for more than " + std::to_string(cfg_.slow_receiver_grace.count()) + " ms");
    }
  }
}

// --- relay (the hot path) -----------------------------------------------------------------------------

bool Relay::deliver_to_participant(const std::string& room_name, const std::string& id, Member& m,
                                   const std::string& sender, Member* sender_member, Message msg) {
  if (!m.inbox) return false;
  size_t queued;
  {
    std::lock_guard lock(m.inbox->mu);
    queued = m.inbox->bytes;
  }
  const size_t n = msg.data.size();
  if (queued + n > cfg_.max_queue) {
    ++counters_.dropped_send;
    disconnect_slow(room_name, id, m, "incoming queue full (" + std::to_string(cfg_.max_queue) + " bytes)");
    return false;
  }
  post_inbox(m.inbox, std::move(msg), n);
  ++counters_.deliveries;
  if (queued + n > cfg_.high_water) {
    {
      std::lock_guard lock(m.inbox->mu);
      m.inbox->signal_drained = true;
    }
    if (sender_member && !sender_member->is_participant())
      hold_sender(m, sender, *sender_member);
    else if (!m.congested_since)
      m.congested_since = Clock::now();
  }
  return true;
}

uint64_t Relay::relay(Room& room, const std::string& room_name, const std::string& sender, ByteView payload,
                      bool binary, std::optional<std::string_view> to, Member* sender_member, size_t* delivered,
                      uint64_t cmid) {
  const bool direct = to.has_value();
  decltype(room.members)::iterator target;
  if (direct) {
    target = room.members.find(std::string(*to));
    if (target == room.members.end() || !target->second.joined || target->first == sender) {
      ++counters_.dropped_unknown_peer;
      if (sender_member)
        tell_sender(*sender_member, "unknown_peer", "no peer " + quote_name(*to) + " in this room", to, cmid);
      return 0;
    }
  }
  const uint64_t seq = ++room.seq;
  const auto now = Clock::now();
  // Kept for resumes while the room has a v2 peer (the v2 frame itself, pushed after the fan-out:
  // nothing in a fan-out reads the buffer); otherwise the seq is marked as not kept.
  const bool keep = room.v2_members > 0 && cfg_.resume_window.count() > 0;
  if (!keep) room.buffer.skip(seq);
  // Each form is made once, when the first receiver that speaks it comes (v2 at once when kept).
  std::string frame_v1, frame_v2;
  auto make_v2 = [&] {
    frame_v2 = binary ? server_binary_frame_v2(seq, sender, payload, direct)
                      : server_text_frame_v2(seq, sender, payload, direct);
  };
  if (keep) make_v2();
  auto frame_for = [&](const Member& m) -> const std::string& {
    if (m.protocol >= 2) {
      if (frame_v2.empty()) make_v2();
      return frame_v2;
    }
    if (frame_v1.empty())
      frame_v1 = binary ? server_binary_frame(sender, payload, direct) : server_text_frame(sender, payload, direct);
    return frame_v1;
  };
  auto deliver = [&](const std::string& id, Member& m) {
    if (m.is_participant()) {
      if (deliver_to_participant(room_name, id, m, sender, sender_member,
                                 Message{room_name, sender, std::string(as_chars(payload)), binary, opt_string(to), 0, {}, 0}) &&
          delivered)
        ++*delivered;
      return;
    }
    if (!m.joined || m.away) return;  // an away member gets it from the buffer when it resumes
    auto st = link_.send(m.engine_id, m.stream, as_bytes(frame_for(m)), binary);
    if (st == rtc::SendStatus::Ok) {
      ++counters_.deliveries;
      // Acks waiting for this member ride along (same turn: the same SCTP packet), after the
      // message, so the ack-follows-its-messages rule holds, once the oldest has waited
      // ack_delay for company; the tick sends the rest.
      if (!m.acks.empty() && now - m.acks_since >= cfg_.ack_delay) {
        link_.send(m.engine_id, m.stream, as_bytes(m.acks), false);
        m.acks.clear();
      }
      if (delivered) ++*delivered;
      if (link_.buffered_amount(m.engine_id) > cfg_.high_water) {
        if (sender_member && !sender_member->is_participant())
          hold_sender(m, sender, *sender_member);  // also marks the receiver congested
        else if (!m.congested_since)
          m.congested_since = Clock::now();
      }
    } else if (st == rtc::SendStatus::BufferFull) {
      ++counters_.dropped_send;
      disconnect_slow(room_name, id, m, "outgoing queue full (" + std::to_string(cfg_.max_queue) + " bytes)");
    } else {
      ++counters_.dropped_send;
      log().debug("relay to {} in {} failed: {}", id, room_name, rtc::to_string(st));
    }
  };
  if (direct) {
    deliver(target->first, target->second);
  } else {
    // The sender is skipped by its Member when it has one (no name compare per member).
    for (auto& [id, m] : room.members)
      if (sender_member ? &m != sender_member : id != sender) deliver(id, m);
  }
  if (keep) {
    BufferedMessage kept{seq, sender, direct ? std::string(*to) : std::string(), std::move(frame_v2), binary, now};
    kept.framed = true;
    room.buffer.push(std::move(kept), cfg_.resume_buffer, cfg_.resume_buffer_bytes);
  }
  return seq;
}

void Relay::on_message(PeerId id, uint16_t stream, bool binary, ByteView data) {
  // One clock read on arrival (also the rate limits' time) and one after the fan-out: the
  // relay latency histogram costs no more than that, a few compares and adds.
  const auto received = Clock::now();
  if (depth_ > 0) {
    // Only a resumed sender reads, and resuming waits for the turn's end; should a read happen
    // inside a turn all the same, its bytes are copied and relayed after it, in order.
    run_or_defer([this, id, stream, binary, received, copy = Bytes(data.begin(), data.end())] {
      handle_message(id, stream, binary, copy, received);
    });
    return;
  }
  handle_message(id, stream, binary, data, received);
}

void Relay::handle_message(PeerId id, uint16_t stream, bool binary, ByteView data, Clock::time_point received) {
  Turn t(*this);
  auto ref = registry_.by_engine(id);
  if (!ref) return;
  Member& me = *ref->member;
  if (stream == me.volatile_stream && stream != 0xFFFF) return handle_volatile(*ref, binary, data, received);
  Room* room = registry_.room(ref->room);
  if (!me.joined || stream != me.stream || !room) {
    ++counters_.dropped_bad_frame;
    return;
  }
  FrameError err{};
  auto frame = parse_client_frame(data, binary, &err, me.protocol >= 2);
  if (!frame) {
    ++counters_.dropped_bad_frame;
    log().debug("peer {} in {}: bad frame dropped: {}", ref->name, ref->room, to_string(err));
    return tell_sender(me, "bad_frame", std::string("frame dropped: ") + to_string(err));
  }
  const uint64_t cmid = frame->cmid;
  if (me.cmids.is_repeat(cmid)) {
    // Sent again after a drop: relayed once; the sender hears the first outcome again.
    ++counters_.repeats_dropped;
    const auto* o = me.cmids.find(cmid);
    if (o && o->code) return nack(me, cmid, o->code);
    return ack(me, cmid, o ? o->seq : 0);
  }
  if (const size_t limit = max_payload_for(*room, &me); frame->payload.size() > limit) {
    ++counters_.dropped_too_large;
    return tell_sender(me, "too_large",
                       "message of " + std::to_string(frame->payload.size()) + " bytes exceeds the maximum of " +
                           std::to_string(limit) + (limit < kMaxPayload ? " (a room with protocol 2 peers)" : ""),
                       {}, cmid);
  }
  if (!take_rate(me, *ref, data.size(), received, cmid)) return;
  ByteView payload = frame->payload;
  std::string replaced;
  if (!run_filter(me, *ref, payload, replaced, binary, frame->to, cmid, max_payload_for(*room, &me), "message"))
    return;
  // A direct message to nobody is refused (unknown_peer): not relayed, not seen by the hooks.
  const uint64_t seq = relay(*room, ref->room, ref->name, payload, binary, frame->to, &me, nullptr, cmid);
  if (!seq) return;
  if (cmid) {
    me.cmids.record(cmid, seq);
    ack(me, cmid, seq, received);
  }
  ++counters_.messages_relayed;
  counters_.relay_latency.observe(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - received).count()));
  if (!frame->to) remember(ref->room, ref->name, payload, binary);
  notify_hooks(ref->room, ref->name, payload, binary, frame->to, true, seq, cmid);
  if (cfg_.hook_high_water) hold_for_hooks(ref->room, ref->name, me);
}

bool Relay::take_rate(Member& me, const RoomRegistry::Ref& ref, size_t data_size, Clock::time_point now, uint64_t cmid) {
  if (me.message_rate.take(1, now) && me.byte_rate.take(static_cast<double>(data_size), now)) return true;
  ++counters_.dropped_rate_limited;
  if (cmid) nack(me, cmid, "rate_limited");
  if (now - me.last_rate_error > std::chrono::seconds(1)) {
    me.last_rate_error = now;
    log().info("peer {} in {} is over its rate limit; messages dropped", ref.name, ref.room);
    tell_sender(me, "rate_limited",
                "message dropped: over the rate limit (" + std::to_string(static_cast<long>(cfg_.message_rate)) +
                    " messages/s, " + std::to_string(static_cast<long>(cfg_.byte_rate)) + " bytes/s)");
  }
  return false;
}

bool Relay::run_filter(Member& me, const RoomRegistry::Ref& ref, ByteView& payload, std::string& replaced, bool binary,
                       std::optional<std::string_view> to, uint64_t cmid, size_t limit, const char* lane) {
  if (!filter) return true;
  FilterResult r;
  try {
    r = filter(Message{ref.room, ref.name, std::string(as_chars(payload)), binary, opt_string(to), 0, {}, 0});
  } catch (const std::exception& e) {
    log().error("filter threw: {}; {} dropped", e.what(), lane);
    r = FilterResult::drop("message rejected");
  }
  if (r.action == FilterResult::Action::Drop) {
    ++counters_.dropped_filtered;
    tell_sender(me, "filtered", r.reason.empty() ? "message rejected" : r.reason, {}, cmid);
    return false;
  }
  if (r.action == FilterResult::Action::Replace) {
    if (r.replacement.size() > limit) {
      ++counters_.dropped_too_large;
      tell_sender(me, "too_large", "the filter's replacement is too large", {}, cmid);
      return false;
    }
    replaced = std::move(r.replacement);
    payload = as_bytes(replaced);
  }
  return true;
}

void Relay::notify_hooks(const std::string& room, const std::string& sender, ByteView payload, bool binary,
                         std::optional<std::string_view> to, bool message_hooks, uint64_t seq, uint64_t cmid) {
  if (hooks_.wants_relayed()) {
    // Looked up again: the relay may have dropped members (a slow receiver), never the epoch.
    const Room* r = registry_.room(room);
    hooks_.relayed(Message{room, sender, std::string(as_chars(payload)), binary, opt_string(to), seq,
                           r ? r->epoch : std::string(), cmid});
  }
  if (message_hooks && hooks_.wants_messages())
    hooks_.message(Message{room, sender, std::string(as_chars(payload)), binary, opt_string(to), 0, {}, 0});
}

size_t Relay::send(const std::string& room_name, const std::string& sender, ByteView payload, bool binary,
                   std::optional<std::string_view> to, bool hook) {
  Turn t(*this);
  Room* room = registry_.room(room_name);
  if (!room) return 0;
  Member* me = sender == "server" ? nullptr : registry_.find(room_name, sender);
  if (sender != "server" && !me) return 0;
  size_t delivered = 0;
  if (payload.size() > max_payload_for(*room, nullptr)) {
    ++counters_.dropped_too_large;
    log().warn("message of {} bytes from {} to room {} not relayed: the room has protocol 2 peers (at most {})",
               payload.size(), sender, room_name, kMaxPayloadV2);
    return 0;
  }
  const uint64_t seq = relay(*room, room_name, sender, payload, binary, to, nullptr, &delivered);
  if (!seq) return 0;
  if (!to) remember(room_name, sender, payload, binary);
  notify_hooks(room_name, sender, payload, binary, to, hook, seq);
  return delivered;
}

}  // namespace peerrtc::signaling
