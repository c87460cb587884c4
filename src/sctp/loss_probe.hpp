// Loss probe for one association's outgoing DATA (after RFC 8985's tail loss probe). Pure: bytes
// and time in, a decision and a packet out; never throws.
//
// Why: a WebRTC peer that sends and receives (a chat client) bundles any SACK it owes us into
// its next DATA packet (dcSCTP and usrsctp both do). A DATA packet from it *without* a SACK so
// says it has received nothing of ours since its last SACK. When our congestion window is full
// of DATA that was lost (random loss took the packets and the window's worth after them),
// usrsctp sends nothing new and the peer has nothing to acknowledge: no SACK comes, no fast
// retransmit can start, and only the T3-rtx timeout (RTO.min 220 ms, doubled after each
// expiry) ends the stall while every ordered message to that peer waits. bench/wrtc_loss.sh
// traced 200-660 ms stalls of this shape (bench/RESULTS.md, issue 19). The probe sends our last
// kChunks DATA chunks again, each in a packet of its own with the I bit (RFC 7053: SACK at
// once). usrsctp counts a miss indication only for TSNs below the highest one a SACK *newly*
// acknowledges (HTNA, RFC 4960 §7.2.4), so one chunk sent again and again counts once: three
// distinct chunks, each newly acknowledged when it (or the SACK for it) was lost, give every
// hole below them the three miss indications of a fast retransmit, which usrsctp then does
// itself, as it would have with three later packets of ours to acknowledge.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>

#include "common/bytes.hpp"

namespace peerrtc::sctp {

class LossProbe {
 public:
  using Clock = std::chrono::steady_clock;
  // The least time between the last DATA we sent (or the last probe) and a probe, and since the
  // peer's last SACK: on loopback the SRTT is ~1 ms, and a peer's packet that left before our
  // data reached it must not count as "nothing received".
  static constexpr std::chrono::milliseconds kMinDelay{10};

  static constexpr size_t kChunks = 3;  // a fast retransmit needs three miss indications

  // A packet we send (as on the wire, any chunks): its DATA chunks are the last ones sent.
  void on_sent(ByteView packet, Clock::time_point now);
  // A packet from the peer, before usrsctp reads it. True when a probe is due: the packet has
  // DATA but no SACK, DATA of ours above the peer's cumulative TSN ack is outstanding, and both
  // our last DATA (or probe) and the peer's last SACK are at least the delay old: kMinDelay,
  // doubled for each probe the peer has not answered with a SACK (up to 16 x), so a peer that
  // never bundles its SACKs into DATA does not draw a probe every 10 ms.
  bool due(ByteView packet, Clock::time_point now);
  // With the association's smoothed RTT: whether the probe goes out now (2 x SRTT have passed
  // too). The caller then sends probe(0) .. probe(probes() - 1) and calls probed(now), which
  // restarts the delay.
  bool confirm(Clock::time_point now, std::chrono::milliseconds srtt) const;
  // How many probe packets there are (up to kChunks), and the i-th, oldest first: the common
  // header of our last DATA packet and one of the last DATA chunks sent, flagged I; checksum zero.
  size_t probes() const { return count_; }
  Bytes probe(size_t i) const;
  void probed(Clock::time_point now) {
    last_data_ = now;
    if (unanswered_ < kMaxBackoff) ++unanswered_;
  }

 private:
  Bytes header_;
  std::array<Bytes, kChunks> chunks_;  // ring: the last DATA chunks sent, newest at next_ - 1
  size_t next_ = 0, count_ = 0;
  static constexpr unsigned kMaxBackoff = 4;
  unsigned unanswered_ = 0;  // probes since the peer's last SACK
  Clock::duration delay() const { return kMinDelay * (1 << unanswered_); }
  bool have_data_ = false, have_ack_ = false;
  uint32_t highest_tsn_ = 0;  // highest TSN we sent (serial arithmetic, RFC 1982)
  uint32_t cum_ack_ = 0;      // highest cumulative TSN ack the peer sent
  Clock::time_point last_data_{}, last_sack_{};
};

}  // namespace peerrtc::sctp
