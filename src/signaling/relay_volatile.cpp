// The volatile lane (docs/protocol.md "Volatile lane"): cursors, pointers, game state. A peer's
// second channel, labelled `peerrtc-volatile` (unordered, maxRetransmits 0), carries the same
// frames as `peerrtc`; the relay sends each one only on the other peers' volatile channels, so it
// never waits behind reliable data, and drops it (counted by cause) where it would have to wait:
// the receiver has no volatile channel open, or its SCTP association is congested (more than
// RelayConfig::volatile_max_queue bytes sent to it and not yet acknowledged). No hooks, no history, no
// participants, no backpressure: a volatile message that cannot go now is worth nothing later.
// The checks on what a peer sends are the reliable lane's: size, rate limits (the same buckets),
// the filter, direct-message targets; their errors go back on the reliable channel.
#include <utility>

#include "common/log.hpp"
#include "signaling/frames.hpp"
#include "signaling/relay.hpp"

namespace peerrtc::signaling {

bool Relay::volatile_congested(const Member& m) {
  return link_.bytes_outstanding(m.engine_id) > cfg_.volatile_max_queue;
}

void Relay::handle_volatile(const RoomRegistry::Ref& ref, bool binary, ByteView data, Clock::time_point received) {
  Member& me = *ref.member;
  Room* room = registry_.room(ref.room);
  if (!me.joined || !room) {
    ++counters_.dropped_bad_frame;  // before the welcome: the lane opens with the room
    return;
  }
  FrameError err{};
  auto frame = parse_client_frame(data, binary, &err);
  if (!frame) {
    ++counters_.dropped_bad_frame;
    return tell_sender(me, "bad_frame", std::string("volatile frame dropped: ") + to_string(err));
  }
  if (frame->payload.size() > kMaxPayload) {
    ++counters_.dropped_too_large;
    return tell_sender(me, "too_large", "volatile message of " + std::to_string(frame->payload.size()) +
                                            " bytes exceeds the maximum of " + std::to_string(kMaxPayload));
  }
  if (!take_rate(me, ref, data.size(), received, 0)) return;
  ByteView payload = frame->payload;
  std::string replaced;
  if (!run_filter(me, ref, payload, replaced, binary, frame->to, 0, kMaxPayload, "volatile message")) return;
  const bool direct = frame->to.has_value();
  const std::string out = binary ? server_binary_frame(ref.name, payload, direct)
                                 : server_text_frame(ref.name, payload, direct);
  auto deliver = [&](Member& m) {
    if (m.is_participant() || !m.joined) return;  // participants are not on the lane
    if (m.volatile_stream == 0xFFFF) {
      ++counters_.volatile_dropped_no_channel;
      return;
    }
    if (volatile_congested(m)) {
      ++counters_.volatile_dropped_congested;
      return;
    }
    if (link_.send(m.engine_id, m.volatile_stream, as_bytes(out), binary) == rtc::SendStatus::Ok) {
      ++counters_.volatile_deliveries;
    } else {
      ++counters_.volatile_dropped_send;
    }
  };
  if (direct) {
    auto it = room->members.find(std::string(*frame->to));
    if (it == room->members.end() || !it->second.joined || it->first == ref.name) {
      ++counters_.dropped_unknown_peer;
      return tell_sender(me, "unknown_peer", "no peer " + quote_name(*frame->to) + " in this room", frame->to);
    }
    deliver(it->second);
  } else {
    for (auto& [id, m] : room->members)
      if (id != ref.name) deliver(m);
  }
  ++counters_.volatile_relayed;
}

}  // namespace peerrtc::signaling
