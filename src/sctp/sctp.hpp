// SCTP over DTLS (RFC 8261/8841) with usrsctp in AF_CONN mode, no threads of its own
// (usrsctp_init_nothreads): the owner drives timers with Stack::handle_timers() from its loop.
// Pure in the same sense as dtls::Transport: packets in with receive(), packets out through
// Callbacks::send. Everything must run on one thread (the network thread).
//
// usrsctp C callbacks find their Association through an integer id registry, never a raw
// pointer that could dangle.
//
// Re-entrancy: callbacks run synchronously inside receive()/connect()/send()/handle_timers().
// A callback must not destroy the Association; it may call send(), reset_stream(), shutdown().
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "common/bytes.hpp"
#include "sctp/loss_probe.hpp"
#include "peerrtc/limits.hpp"

struct socket;

namespace peerrtc::sctp {

// Process-wide usrsctp state. Call only from the network thread.
class Stack {
 public:
  static void init();  // idempotent; usrsctp_init_nothreads + sysctls (no ECN, no CRC check on
                       // receive since DTLS protects the packets, etc.)
  // Pass the real elapsed time: usrsctp runs its callouts on this clock, but T3-rtx only
  // re-marks chunks older than the RTO by the wall clock, so faster-than-real time makes
  // timeouts fire without retransmitting (and eventually fails the association).
  //
  // usrsctp keeps every pending timer of the process in one list and walks all of it on each
  // call (two timers per idle association: heartbeat and cookie secret; ~0.3 us an entry here,
  // so 1,000 idle peers cost 6% of a core at one walk per 10 ms). Only the delayed-SACK timer
  // (20 ms) is shorter than RTO.min (220 ms), and it starts only when a packet arrives; so the walk
  // runs on every call from a packet's arrival until kInputWalkWindowMs later, and at most
  // every kQuietTimerWalkMs otherwise. Elapsed time accumulates meanwhile, so none is lost:
  // a timer started while quiet fires up to kQuietTimerWalkMs early (usrsctp's clock lags the
  // wall clock by that much). For the shortest retransmission timer (RTO.min, 220 ms) that is
  // up to 45 % early: a spurious retransmission at worst, never a lost one (SCTP drops the
  // duplicate); tests/fault/sctp-loss.test.mjs bounds the stall with this walk in mind.
  static void handle_timers(uint32_t elapsed_ms);
  static constexpr uint32_t kQuietTimerWalkMs = 100;
  static constexpr uint32_t kInputWalkWindowMs = 50;  // > the 20 ms SACK delay + one 10 ms tick
  static uint64_t timer_walks();  // calls that reached usrsctp_handle_timers() (for tests)
  static size_t associations();  // live Association objects (for leak tests)
  // DATA chunks this process retransmitted (timeout or fast retransmit), all associations.
  static uint64_t retransmitted_chunks();
  // usrsctp's counters (struct sctpstat) for every association of the process, widened to 64
  // bits (usrsctp's are 32-bit and wrap; handle_timers() folds them in at least once a minute).
  struct Counters {
    uint64_t packets_in = 0, packets_out = 0;        // SCTP packets (each one DTLS record)
    // usrsctp's packets that went out inside another one of the same turn (bundle_packets): its
    // SACK or first message with the turn's other messages.
    uint64_t packets_bundled = 0;
    uint64_t data_chunks_in = 0, data_chunks_out = 0;  // DATA chunks, retransmissions included
    uint64_t sacks_in = 0, sacks_out = 0;            // SACK chunks
    // Retransmission and its causes: DATA chunks sent again (either cause), those sent by fast
    // retransmit (3 SACKs reporting them missing), T3-rtx timer expiries (the retransmission
    // timeout: no SACK within RTO) and the chunks marked for resend by them.
    uint64_t retransmitted_chunks = 0, fast_retransmits = 0, t3_timeouts = 0, t3_marked_chunks = 0;
    uint64_t duplicate_data_in = 0;    // DATA chunks received twice (a SACK of ours was lost or late)
    uint64_t delayed_sack_timeouts = 0;  // SACKs sent by the delayed-SACK timer, not by a 2nd packet
    uint64_t window_probes = 0;        // peer's receive window was zero
    // Incoming DATA dropped for lack of room (receive window or chunk limit) and packets usrsctp
    // discarded (too short, bad verification tag, no association).
    uint64_t data_dropped_no_room = 0, packets_dropped = 0;
    // Timer policy (docs/architecture.md "SCTP timers"): Association::path_returned() calls that
    // found data waiting for an acknowledgement and sent it again at once, and the
    // HEARTBEAT-ACKs received (each resets its path's backed-off RTO and error counts).
    uint64_t path_returns = 0, heartbeat_acks_in = 0;
    // Packets a retransmission timeout had sent that path_returned() sent again at once (the
    // lowest outstanding TSNs).
    uint64_t path_return_resends = 0;
    // Graceful closes (Association::shutdown_after_flush: the last event, e.g. `moved`, must
    // arrive) begun, and those that did not complete by their deadline and were ABORTed
    // (Association::give_up_shutdown).
    uint64_t graceful_closes = 0, graceful_close_timeouts = 0;
    // Loss probes (sctp/loss_probe.hpp): our last DATA chunks (up to 3) sent again because the
    // peer kept sending DATA without a SACK while ours waited for one (a stall only T3-rtx would end).
    uint64_t loss_probes = 0;
  };
  static Counters counters();

  // Batching (one loop turn): between begin_batch() and the matching end_batch(), small
  // messages given to Association::send() are held in the association's own queue; end_batch()
  // hands each association's held messages to usrsctp together so they share SCTP packets
  // (bundling) instead of one packet, one DTLS record and one datagram per message. Nestable.
  // Order is kept: everything an association sends goes through its one queue.
  // The packets usrsctp makes during a batch are held per association and bundled into each
  // other where they fit (sctp/bundle.hpp); end_batch() sends them, after the flush.
  static void begin_batch();
  static void end_batch();
  static bool batching();
  static bool holding();  // a batch holds messages for its flush
  // RAII for the above.
  class Batch {
   public:
    Batch() { begin_batch(); }
    ~Batch() { end_batch(); }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
  };
};

// Timer policy. RFC 4960's RTO.max of 60 s (usrsctp's default) lets the retransmission timer
// back off far past a short outage: after 10 s without a path, the next retransmission may be
// 30 s away. libwebrtc's dcSCTP caps the backoff at 3 s (max_timer_backoff_duration); so do we,
// so that the silence after a drop is at most the drop plus kRtoMaxMs (plus one round trip).
constexpr uint32_t kRtoMaxMs = 3000;
// With the backoff capped, a 30 s outage costs ~12 retransmission timeouts (and heartbeat ones);
// usrsctp's defaults (10 for the association, 5 for the path) would end the association, or mark
// its only path unreachable (no new data is put on it then), inside ICE's consent window. The
// consent timeout (rtc::Config::consent_timeout, 30 s) ends a dead peer, not SCTP: these are
// large enough for kRtoMaxMs * kMaxRetransmits (5 min) to outlast any consent timeout.
constexpr uint16_t kMaxRetransmits = 100;

struct Reliability {
  bool ordered = true;
  std::optional<uint16_t> max_retransmits;   // partial reliability by retransmits (SCTP_PR_SCTP_RTX)
  std::optional<uint32_t> max_lifetime_ms;   // partial reliability by lifetime (SCTP_PR_SCTP_TTL)
};

// The SCTP checksum (CRC32c) of a packet whose checksum field is zero, as stored in memory
// (memcpy it into the field). SSE4.2 when the CPU has it, usrsctp's tables otherwise.
uint32_t checksum(ByteView packet);

enum class SendStatus { Ok, TooLarge, NotConnected, BufferFull, Error };
const char* to_string(SendStatus s);

class Association {
 public:
  struct Config {
    uint16_t local_port = 5000;
    uint16_t remote_port = 5000;
    uint16_t streams = 64;                 // in and out (rtc::Config::sctp_streams)
    uint32_t max_message_size = kMaxMessageSize;  // what we accept and send
    size_t max_buffered = 8 * 1024 * 1024; // our own send queue cap beyond usrsctp's buffer
    uint16_t mtu = 1200;
    uint32_t rto_max_ms = kRtoMaxMs;         // cap of the retransmission timer's backoff
    uint16_t max_retransmits = kMaxRetransmits;  // association and path (SCTP_ASSOCINFO, spp_pathmaxrxt)
  };
  struct Callbacks {
    std::function<void(ByteView packet)> send;  // an SCTP packet to carry over DTLS
    std::function<void()> on_connected;          // COMM_UP
    // One complete message (reassembled across partial deliveries).
    std::function<void(uint16_t stream, uint32_t ppid, ByteView message)> on_message;
    // The remote reset one of its outgoing streams (it closed a channel).
    std::function<void(uint16_t stream)> on_stream_reset;
    // SHUTDOWN_COMP, ABORT, COMM_LOST, or a local failure. Not called for a local abort()/dtor.
    std::function<void(const std::string& reason)> on_closed;
    // The send queue drained (optional).
    std::function<void()> on_buffered_low;
  };

  Association(Config config, Callbacks callbacks);  // calls Stack::init()
  // Aborts if still up, closes the socket, frees everything. The ABORT goes out through
  // Callbacks::send from inside the destructor (the only callback that can fire there), so
  // destroy the Association before whatever that callback uses.
  ~Association();
  Association(const Association&) = delete;
  Association& operator=(const Association&) = delete;

  void connect();                 // sends INIT; call once DTLS is connected
  void receive(ByteView packet);  // an SCTP packet from DTLS. Never throws.
  // Sends one message. Messages larger than max_message_size -> TooLarge (nothing sent).
  // When usrsctp's buffer is full the message is queued (up to max_buffered, else BufferFull)
  // and sent as space frees up, in order.
  SendStatus send(uint16_t stream, uint32_t ppid, ByteView data, const Reliability& rel);
  void reset_stream(uint16_t stream);  // reset our outgoing stream (we close a channel)
  void shutdown();                     // graceful SHUTDOWN (drops our own unsent queue)
  // Graceful close that loses nothing already accepted: send() refuses from now on; our own
  // queue goes to usrsctp as room frees up, then SHUTDOWN (SHUT_WR), which usrsctp sends once
  // every queued chunk is acknowledged; on_closed("shutdown complete") follows SHUTDOWN_COMPLETE.
  // Not connected: the same as abort(). The owner bounds the wait with give_up_shutdown().
  void shutdown_after_flush();
  bool shutting_down() const { return shutdown_pending_; }
  // The graceful close took too long (a dead or stalled peer): ABORT (counted as
  // graceful_close_timeouts). No on_closed, as abort().
  void give_up_shutdown();
  void abort();                        // ABORT

  // Stops (true) or resumes (false) reading from the association. While paused, incoming data
  // stays in usrsctp's receive buffer (bounded by SO_RCVBUF), the advertised window closes and
  // the remote sender is slowed down; notifications wait too. Resuming delivers what waited.
  void set_receive_paused(bool paused);
  bool receive_paused() const { return receive_paused_; }

  // The ICE layer saw the remote again (a valid check after a silence, a newly selected
  // address): news it has before SCTP does. If data waits for an acknowledgement, what is
  // outstanding goes out again now instead of at the next, backed-off timeout (up to
  // Config::rto_max_ms away):
  //  - the packet the last T3-rtx timeout sent (the lowest TSNs, which usrsctp counts in flight
  //    and would not resend before its next timeout) is sent again as it was;
  //  - the congestion window, left at one MTU by the timeouts, restarts at the initial one;
  //  - a HEARTBEAT is requested (SCTP_PEER_ADDR_PARAMS, SPP_HB_DEMAND), whose output sends the
  //    chunks the timeouts marked for retransmission; its ACK (usrsctp's
  //    sctp_handle_heartbeat_ack) clears the error counts and replaces the backed-off RTO with
  //    one from this round trip.
  // The receiver's SACKs then restart the timer at the fresh RTO. Returns whether anything was
  // outstanding (counted as path_returns; the resent packets as path_return_resends).
  bool path_returned();
  // Data chunks sent and not yet acknowledged (SCTP_STATUS sstat_unackdata); 0 when not connected.
  uint32_t unacked_chunks() const;

  bool connected() const { return connected_; }
  // Streams negotiated at COMM_UP (the smaller of both sides' offers); 0 before. Sending on a
  // stream >= streams_out() fails with SendStatus::Error; usrsctp drops incoming DATA on a
  // stream >= streams_in() and answers with an "invalid stream identifier" ERROR chunk.
  uint16_t streams_out() const { return streams_out_; }
  uint16_t streams_in() const { return streams_in_; }
  size_t buffered_amount() const;  // bytes queued by us and not yet handed to usrsctp
  // Bytes of this association not yet acknowledged: what usrsctp holds (its stream and send
  // queues and what is in flight, chunk headers included: total_output_queue_size, through the
  // SCTP_GET_SNDBUF_USE socket option) plus our own queue (buffered_amount). How congested the
  // path is, for traffic that would rather be dropped than wait (the volatile lane).
  size_t bytes_outstanding() const;
  uint64_t dropped() const { return dropped_; }

  // For the usrsctp glue (sctp.cpp) only.
  void flush_batched();
  void send_batch_output();  // at a batch's end: the packet held for bundling, if any, goes out
  void on_usrsctp_output(uint8_t* data, size_t len);  // usrsctp's own copy: written in place
  void on_usrsctp_receive(const void* data, size_t len, uint16_t stream, uint32_t ppid, int flags);
  void on_usrsctp_writable();
  void on_usrsctp_readable();

 private:
  struct Pending {
    uint16_t stream;
    uint32_t ppid;
    Reliability rel;
    Bytes data;
  };
  bool try_send_now(uint16_t stream, uint32_t ppid, ByteView data, const Reliability& rel, bool* would_block);
  void drain_queue();  // in a batch: only marks this association for the batch's flush
  void drain_now();
  bool backlogged() const;  // large messages or > 64 KiB queued: not a batch's held messages
  void mark_dirty();
  void set_nodelay(bool on);
  void handle_notification(const void* data, size_t len);
  void close_with(const std::string& reason);

  Config config_;
  Callbacks cb_;
  uintptr_t id_ = 0;
  struct socket* sock_ = nullptr;
  bool connected_ = false;
  bool closed_ = false;
  std::deque<Pending> queue_;
  size_t queued_bytes_ = 0;
  size_t large_queued_ = 0;  // queued messages too large to bundle
  Bytes partial_;  // reassembly of a message delivered in pieces
  uint16_t partial_stream_ = 0;
  uint32_t partial_ppid_ = 0;
  uint64_t dropped_ = 0;
  // Implementation state (sctp.cpp).
  bool connect_called_ = false;
  bool destroying_ = false;          // in the destructor: no user callbacks except the ABORT packet
  bool draining_ = false;            // re-entrancy guard for drain_queue()
  bool discarding_partial_ = false;  // an oversized message is being skipped until its MSG_EOR
  Bytes partial_notification_;       // a notification delivered in pieces (rare)
  std::deque<uint16_t> deferred_resets_;  // resets waiting for our queue to reach usrsctp first
  bool receive_paused_ = false;
  uint16_t streams_out_ = 0, streams_in_ = 0;
  bool reading_ = false;
  bool shutdown_pending_ = false;  // shutdown_after_flush(): SHUT_WR once queue_ is empty
  bool shutdown_sent_ = false;
  void finish_flush_shutdown();
  bool dirty_ = false;  // listed for the current batch's flush
  Bytes held_out_;      // the last packet usrsctp made in this batch, waiting for more to bundle
  Bytes timeout_packet_;  // the last packet a T3-rtx timeout sent (DATA), for path_returned()
  LossProbe loss_probe_;  // our last DATA chunks, and when a peer's DATA without SACK asks for them
  bool probing_ = false;  // send_loss_probe() is sending them
  bool output_listed_ = false;  // listed for the batch's end to send held_out_
  void send_held_output();
  void send_loss_probe(LossProbe::Clock::time_point now);  // loss_probe_'s packet, if 2 x SRTT passed
  void send_packet(uint8_t* packet, size_t len);  // checksum (in place), count, Callbacks::send
  void reset_now(uint16_t stream);
  void apply_deferred_resets();
};

}  // namespace peerrtc::sctp
