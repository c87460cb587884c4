// usrsctp glue: AF_CONN sockets, no usrsctp threads, C callbacks resolved through an id registry.
#include "sctp/sctp.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <usrsctp.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "common/log.hpp"
#include "sctp/bundle.hpp"
#include "sctp/chunks.hpp"

namespace peerrtc::sctp {

namespace {

constexpr size_t kCommonHeaderSize = wire::kCommonHeader;
using wire::kChecksumOffset;
// Socket buffer floor: usrsctp only accepts a whole message (explicit EOR off) when it fits in
// SO_SNDBUF next to what is already queued, so the buffer must exceed max_message_size.
constexpr int kMinSocketBuffer = 1024 * 1024;
// Messages up to this size are held for bundling inside a batch; larger ones fill packets of
// their own anyway and go to usrsctp at once (no extra copy).
constexpr size_t kBundleMax = 1024;
constexpr size_t kNagleMaxBytes = 64 * 1024;
// SCTP_PLUGGABLE_CC (the congestion control module): usrsctp handles the option but usrsctp.h
// leaves its name out; the value is netinet/sctp.h's (and FreeBSD's), the same in every release.
constexpr int kSctpPluggableCc = 0x00001202;

// Whether an SCTP packet (one usrsctp made) has a DATA or I-DATA chunk.
bool carries_data(ByteView p) {
  bool data = false;
  wire::for_each_chunk(p, [&](uint8_t type, size_t, size_t) {
    data = type == wire::kData || type == wire::kIData;
    return !data;
  });
  return data;
}

struct Registry {
  std::unordered_map<uintptr_t, Association*> by_id;
  uintptr_t next_id = 1;  // never reused: a stale usrsctp callback can't reach a newer object
  bool initialized = false;
  int batch_depth = 0;
  bool input_since_walk = false;  // a packet reached usrsctp since the last timer walk
  uint32_t unwalked_ms = 0;       // elapsed time not yet given to usrsctp_handle_timers()
  uint32_t walk_window_ms = 0;    // left of the every-call window after the last input
  uint64_t timer_walks = 0;
  uint64_t packets_out = 0;       // usrsctp counts no sent packets for AF_CONN: we count what we send
  uint64_t packets_bundled = 0;   // usrsctp's packets that rode in an earlier one (bundle_packets)
  uint64_t path_returns = 0;      // Association::path_returned() calls that sent a HEARTBEAT
  uint64_t path_return_resends = 0;  // packets of a timeout sent again by path_returned()
  uint64_t graceful_closes = 0, graceful_close_timeouts = 0;  // shutdown_after_flush / give_up_shutdown
  uint64_t loss_probes = 0;       // Association::receive() sent loss_probe_'s packets
  bool in_timer_walk = false;     // inside usrsctp_handle_timers(): output is a timer's
  // From the outermost begin_batch() until end_batch() has flushed: each association holds its
  // last outgoing packet, to bundle what follows into it (Association::on_usrsctp_output).
  bool collecting = false;
  std::vector<uintptr_t> with_output;  // associations holding an outgoing packet
  uint32_t ms_since_fold = 0;     // since usrsctp's 32-bit counters were last folded into `totals`
  struct sctpstat last_stat {};   // usrsctp's counters when last folded
  Stack::Counters totals;
  std::vector<uintptr_t> dirty;  // associations holding messages for the batch's flush
};

Registry& registry() {
  static Registry r;
  return r;
}

#if defined(__x86_64__)
// SSE4.2's crc32 instruction computes CRC32c (Castagnoli), SCTP's checksum, 8 bytes a step:
// several times faster than usrsctp's table version, which was ~5% of server CPU.
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(const uint8_t* p, size_t n) {
  uint64_t crc = 0xFFFFFFFFu;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    crc = __builtin_ia32_crc32di(crc, v);
    p += 8;
    n -= 8;
  }
  uint32_t c = static_cast<uint32_t>(crc);
  while (n--) c = __builtin_ia32_crc32qi(c, *p++);
  return ~c;
}
#endif

Association* lookup(const void* addr) {
  auto& r = registry();
  auto it = r.by_id.find(reinterpret_cast<uintptr_t>(addr));
  return it == r.by_id.end() ? nullptr : it->second;
}

// usrsctp -> wire. The buffer is usrsctp's private copy (malloc'd per packet), so it's fine to
// write the checksum in place.
int conn_output(void* addr, void* buffer, size_t length, uint8_t /*tos*/, uint8_t /*set_df*/) {
  Association* a = lookup(addr);
  if (!a || length < kCommonHeaderSize) return 0;  // closed socket still running timers: drop
  a->on_usrsctp_output(static_cast<uint8_t*>(buffer), length);
  return 0;
}

// Upcall mode: usrsctp tells us the socket is readable/writable and we read with usrsctp_recvv
// when we choose to. Not reading (a paused association) keeps data in the socket buffer, so the
// advertised receive window closes and the remote sender slows down: real backpressure, which
// the callback API (that hands over every message as it arrives) cannot give.
void upcall(struct socket* sock, void* arg, int /*flags*/) {
  Association* a = lookup(arg);
  if (!a) return;
  const int events = usrsctp_get_events(sock);
  if (events & SCTP_EVENT_READ) a->on_usrsctp_readable();
  if ((events & SCTP_EVENT_WRITE) && (a = lookup(arg))) a->on_usrsctp_writable();
}

}  // namespace

uint32_t checksum(ByteView packet) {
#if defined(__x86_64__)
  static const bool hw = __builtin_cpu_supports("sse4.2");
  if (hw) return crc32c_sse42(packet.data(), packet.size());  // little-endian: wire order as stored
#endif
  // usrsctp_crc32c returns the value laid out so that storing it as-is gives the wire order.
  return usrsctp_crc32c(const_cast<uint8_t*>(packet.data()), packet.size());
}

// ---------------------------------------------------------------------------------------------
// Stack

namespace {
const Stack::Counters& fold_counters();
}

void Stack::init() {
  auto& r = registry();
  if (r.initialized) return;
  r.initialized = true;
  usrsctp_init_nothreads(0, conn_output, nullptr);  // no UDP encapsulation, no debug printf
  usrsctp_sysctl_set_sctp_ecn_enable(0);             // WebRTC peers don't do ECN over DTLS
  usrsctp_sysctl_set_sctp_pr_enable(1);              // PR-SCTP (RFC 3758) for unreliable channels
  usrsctp_sysctl_set_sctp_reconfig_enable(1);        // RE-CONFIG (RFC 6525) stream reset
  // Receive side only skips the CRC check; conn_output computes it for outgoing packets.
  usrsctp_enable_crc32c_offload();
  // A whole 256 KiB message must fit in the socket buffers; sockets also set SO_SNDBUF/RCVBUF.
  usrsctp_sysctl_set_sctp_sendspace(kMinSocketBuffer);
  usrsctp_sysctl_set_sctp_recvspace(kMinSocketBuffer);
  // Default 512 chunks is below one 256 KiB message at MTU 1200 (~230 chunks) times two.
  usrsctp_sysctl_set_sctp_max_chunks_on_queue(10 * 1024);
  // SACK faster than the 200 ms default: data channels are often request/response.
  usrsctp_sysctl_set_sctp_delayed_sack_time_default(20);
  // RTO.min 220 ms instead of RFC 4960's 1 s (libwebrtc's dcSCTP uses 220 ms; it must exceed
  // the peer's delayed-SACK timeout, 200 ms at most for libwebrtc). A lost last packet of a
  // burst (nothing after it to trigger a fast retransmit) waits one RTO, which on a LAN or
  // loopback is RTO.min: a one-second stall before (tests/fault/sctp-loss.test.mjs).
  usrsctp_sysctl_set_sctp_rto_min_default(220);
  usrsctp_sysctl_set_sctp_rto_initial_default(500);
  // Timer policy (sctp.hpp kRtoMaxMs, kMaxRetransmits): the backoff stops at 3 s, and the
  // consent timeout, not an SCTP error count, ends a peer that is gone. Each socket sets its
  // own values too (Association::Config); these are the defaults they start from.
  usrsctp_sysctl_set_sctp_rto_max_default(kRtoMaxMs);
  usrsctp_sysctl_set_sctp_assoc_rtx_max_default(kMaxRetransmits);
  usrsctp_sysctl_set_sctp_path_rtx_max_default(kMaxRetransmits);
}

void Stack::handle_timers(uint32_t elapsed_ms) {
  auto& r = registry();
  if (!r.initialized) return;
  r.unwalked_ms += elapsed_ms;
  if ((r.ms_since_fold += elapsed_ms) >= 60'000) fold_counters();
  r.walk_window_ms = r.walk_window_ms > elapsed_ms ? r.walk_window_ms - elapsed_ms : 0;
  if (r.input_since_walk) {
    r.input_since_walk = false;
    r.walk_window_ms = kInputWalkWindowMs;
  } else if (r.walk_window_ms == 0 && r.unwalked_ms < kQuietTimerWalkMs) {
    return;
  }
  const uint32_t ms = r.unwalked_ms;
  r.unwalked_ms = 0;
  ++r.timer_walks;
  r.in_timer_walk = true;
  usrsctp_handle_timers(ms);
  r.in_timer_walk = false;
}

uint64_t Stack::timer_walks() { return registry().timer_walks; }

size_t Stack::associations() { return registry().by_id.size(); }

namespace {
// Adds what usrsctp's 32-bit counters moved since the last call (modulo 2^32: one wrap between
// calls at most, so this runs at least once a minute: < 2^32 packets a minute).
const Stack::Counters& fold_counters() {
  auto& r = registry();
  struct sctpstat st {};
  usrsctp_get_stat(&st);
  const struct sctpstat& o = r.last_stat;
  auto d = [](uint32_t now, uint32_t before) { return uint64_t{static_cast<uint32_t>(now - before)}; };
  auto& t = r.totals;
  t.packets_in += d(st.sctps_recvpackets, o.sctps_recvpackets);
  t.packets_out = r.packets_out;
  t.packets_bundled = r.packets_bundled;
  t.data_chunks_in += d(st.sctps_recvdata, o.sctps_recvdata);
  t.data_chunks_out += d(st.sctps_senddata, o.sctps_senddata);
  t.sacks_in += d(st.sctps_recvsacks, o.sctps_recvsacks);
  t.sacks_out += d(st.sctps_sendsacks, o.sctps_sendsacks);
  t.retransmitted_chunks += d(st.sctps_sendretransdata, o.sctps_sendretransdata);
  t.fast_retransmits += d(st.sctps_sendfastretrans, o.sctps_sendfastretrans);
  t.t3_timeouts += d(st.sctps_timodata, o.sctps_timodata);
  t.t3_marked_chunks += d(st.sctps_markedretrans, o.sctps_markedretrans);
  t.duplicate_data_in += d(st.sctps_recvdupdata, o.sctps_recvdupdata);
  t.delayed_sack_timeouts += d(st.sctps_timosack, o.sctps_timosack);
  t.window_probes += d(st.sctps_windowprobed, o.sctps_windowprobed);
  t.data_dropped_no_room += d(st.sctps_datadroprwnd, o.sctps_datadroprwnd) +
                            d(st.sctps_datadropchklmt, o.sctps_datadropchklmt);
  t.packets_dropped += d(st.sctps_hdrops, o.sctps_hdrops) + d(st.sctps_badvtag, o.sctps_badvtag) +
                       d(st.sctps_outoftheblue, o.sctps_outoftheblue);
  t.path_returns = r.path_returns;
  t.path_return_resends = r.path_return_resends;
  t.graceful_closes = r.graceful_closes;
  t.graceful_close_timeouts = r.graceful_close_timeouts;
  t.loss_probes = r.loss_probes;
  t.heartbeat_acks_in += d(st.sctps_recvheartbeatack, o.sctps_recvheartbeatack);
  r.last_stat = st;
  r.ms_since_fold = 0;
  return t;
}
}  // namespace

Stack::Counters Stack::counters() {
  if (!registry().initialized) return {};
  return fold_counters();
}

uint64_t Stack::retransmitted_chunks() {
  if (!registry().initialized) return 0;
  struct sctpstat st {};
  usrsctp_get_stat(&st);
  return uint64_t{st.sctps_sendretransdata} + st.sctps_sendfastretrans;
}

void Stack::begin_batch() {
  auto& r = registry();
  if (r.batch_depth++ == 0) r.collecting = true;
}

bool Stack::batching() { return registry().batch_depth > 0; }

bool Stack::holding() { return !registry().dirty.empty(); }

void Stack::end_batch() {
  auto& r = registry();
  if (r.batch_depth == 0 || --r.batch_depth > 0) return;
  // Sends made while flushing (callbacks) go straight to usrsctp: the batch is over. Their
  // packets are still held and bundled, and go out below.
  std::vector<uintptr_t> ids;
  ids.swap(r.dirty);
  for (uintptr_t id : ids)
    if (auto it = r.by_id.find(id); it != r.by_id.end()) it->second->flush_batched();
  r.collecting = false;
  ids.clear();
  ids.swap(r.with_output);
  for (uintptr_t id : ids)
    if (auto it = r.by_id.find(id); it != r.by_id.end()) {
      it->second->send_batch_output();
    }
}

const char* to_string(SendStatus s) {
  switch (s) {
    case SendStatus::Ok: return "ok";
    case SendStatus::TooLarge: return "too large";
    case SendStatus::NotConnected: return "not connected";
    case SendStatus::BufferFull: return "buffer full";
    case SendStatus::Error: return "error";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Association

namespace {

template <typename T>
bool set_opt(struct socket* s, int level, int name, const T& value, const char* what) {
  if (usrsctp_setsockopt(s, level, name, &value, static_cast<socklen_t>(sizeof(T))) != 0) {
    log().warn("sctp: setsockopt {} failed: {}", what, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace

Association::Association(Config config, Callbacks callbacks)
    : config_(config), cb_(std::move(callbacks)) {
  Stack::init();
  auto& r = registry();
  id_ = r.next_id++;
  r.by_id.emplace(id_, this);
  usrsctp_register_address(reinterpret_cast<void*>(id_));

  auto fail = [this](const char* what) {
    int err = errno;
    if (sock_) usrsctp_close(sock_);
    sock_ = nullptr;
    registry().by_id.erase(id_);
    usrsctp_deregister_address(reinterpret_cast<void*>(id_));
    throw std::runtime_error(std::string("sctp: ") + what + ": " + std::strerror(err));
  };

  // In nothreads mode the upcall runs synchronously inside usrsctp_conninput() and
  // usrsctp_handle_timers().
  sock_ = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, nullptr, nullptr, 0, nullptr);
  if (!sock_) fail("usrsctp_socket");
  usrsctp_set_upcall(sock_, upcall, reinterpret_cast<void*>(id_));
  if (usrsctp_set_non_blocking(sock_, 1) != 0) fail("non-blocking");

  // Local close (dtor/abort) sends ABORT and frees the association at once: the DTLS below us
  // is going away, nothing may linger in the stack sending packets.
  struct linger lg{};
  lg.l_onoff = 1;
  lg.l_linger = 0;
  if (!set_opt(sock_, SOL_SOCKET, SO_LINGER, lg, "SO_LINGER")) fail("SO_LINGER");

  int on = 1;
  if (!set_opt(sock_, IPPROTO_SCTP, SCTP_NODELAY, on, "SCTP_NODELAY")) fail("SCTP_NODELAY");
  if (!set_opt(sock_, IPPROTO_SCTP, SCTP_RECVRCVINFO, on, "SCTP_RECVRCVINFO")) fail("SCTP_RECVRCVINFO");
  int off = 0;
  // Whole messages per send; no explicit EOR.
  if (!set_opt(sock_, IPPROTO_SCTP, SCTP_EXPLICIT_EOR, off, "SCTP_EXPLICIT_EOR")) fail("SCTP_EXPLICIT_EOR");
  // Level 0: one partially delivered message at a time, and no notifications interleaved with
  // its pieces, so one reassembly buffer suffices.
  if (!set_opt(sock_, IPPROTO_SCTP, SCTP_FRAGMENT_INTERLEAVE, off, "SCTP_FRAGMENT_INTERLEAVE"))
    fail("SCTP_FRAGMENT_INTERLEAVE");

  struct sctp_assoc_value av{};
  av.assoc_id = SCTP_ALL_ASSOC;
  av.assoc_value = SCTP_ENABLE_RESET_STREAM_REQ;
  if (!set_opt(sock_, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, av, "SCTP_ENABLE_STREAM_RESET"))
    fail("SCTP_ENABLE_STREAM_RESET");

  struct sctp_initmsg init{};
  init.sinit_num_ostreams = config_.streams;
  init.sinit_max_instreams = config_.streams;
  if (!set_opt(sock_, IPPROTO_SCTP, SCTP_INITMSG, init, "SCTP_INITMSG")) fail("SCTP_INITMSG");

  // usrsctp only accepts a message (explicit EOR off, non-blocking) if it fits in SO_SNDBUF
  // next to what is queued; larger than SO_SNDBUF -> EMSGSIZE forever. Twice the max message
  // keeps one in flight while the next is accepted. Limits only: usrsctp allocates as it goes.
  int buf = static_cast<int>(std::max<size_t>(kMinSocketBuffer, size_t{config_.max_message_size} * 2));
  if (!set_opt(sock_, SOL_SOCKET, SO_SNDBUF, buf, "SO_SNDBUF")) fail("SO_SNDBUF");
  if (!set_opt(sock_, SOL_SOCKET, SO_RCVBUF, buf, "SO_RCVBUF")) fail("SO_RCVBUF");

  for (uint16_t type : {SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT, SCTP_SEND_FAILED_EVENT,
                        SCTP_SENDER_DRY_EVENT, SCTP_PARTIAL_DELIVERY_EVENT, SCTP_SHUTDOWN_EVENT,
                        SCTP_ADAPTATION_INDICATION, SCTP_REMOTE_ERROR}) {
    struct sctp_event ev{};
    ev.se_assoc_id = SCTP_ALL_ASSOC;
    ev.se_type = type;
    ev.se_on = 1;
    if (!set_opt(sock_, IPPROTO_SCTP, SCTP_EVENT, ev, "SCTP_EVENT")) fail("SCTP_EVENT");
  }

  // Fixed MTU (RFC 8261: <= 1200 unless DF can be controlled); usrsctp has no PLPMTUD.
  struct sctp_paddrparams spp{};
  spp.spp_assoc_id = SCTP_FUTURE_ASSOC;
  spp.spp_flags = SPP_PMTUD_DISABLE | SPP_HB_ENABLE;
  spp.spp_pathmtu = config_.mtu > kCommonHeaderSize ? config_.mtu - kCommonHeaderSize : config_.mtu;  // excludes the 12-byte common header
  spp.spp_pathmaxrxt = config_.max_retransmits;
  if (!set_opt(sock_, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, spp, "SCTP_PEER_ADDR_PARAMS"))
    fail("SCTP_PEER_ADDR_PARAMS");

  // Timer policy (sctp.hpp): the backoff cap and the association's retransmission limit. Zero
  // fields keep the stack's values (RTO.min, RTO.initial, cookie life).
  struct sctp_rtoinfo rto{};
  rto.srto_assoc_id = SCTP_FUTURE_ASSOC;
  rto.srto_max = config_.rto_max_ms;
  if (!set_opt(sock_, IPPROTO_SCTP, SCTP_RTOINFO, rto, "SCTP_RTOINFO")) fail("SCTP_RTOINFO");
  struct sctp_assocparams ap{};
  ap.sasoc_assoc_id = SCTP_FUTURE_ASSOC;
  ap.sasoc_asocmaxrxt = config_.max_retransmits;
  if (!set_opt(sock_, IPPROTO_SCTP, SCTP_ASSOCINFO, ap, "SCTP_ASSOCINFO")) fail("SCTP_ASSOCINFO");
}

Association::~Association() {
  destroying_ = true;  // from here on only the ABORT packet goes out; no user callback fires
  send_held_output();  // what the turn already made goes first, in order
  if (sock_) {
    // SO_LINGER {1, 0}: usrsctp_close() sends ABORT (if an association exists) and frees it.
    usrsctp_close(sock_);
    sock_ = nullptr;
  }
  registry().by_id.erase(id_);
  usrsctp_deregister_address(reinterpret_cast<void*>(id_));
}

void Association::connect() {
  if (!sock_ || connect_called_ || closed_) return;
  connect_called_ = true;
  struct sockaddr_conn sconn{};
  sconn.sconn_family = AF_CONN;
  sconn.sconn_port = htons(config_.local_port);
  sconn.sconn_addr = reinterpret_cast<void*>(id_);
  if (usrsctp_bind(sock_, reinterpret_cast<struct sockaddr*>(&sconn), sizeof(sconn)) != 0) {
    close_with(std::string("bind failed: ") + std::strerror(errno));
    return;
  }
  // Both ends connect (simultaneous open, RFC 8841 §9.3); SCTP resolves the INIT collision.
  sconn.sconn_port = htons(config_.remote_port);
  if (usrsctp_connect(sock_, reinterpret_cast<struct sockaddr*>(&sconn), sizeof(sconn)) != 0 &&
      errno != EINPROGRESS) {
    close_with(std::string("connect failed: ") + std::strerror(errno));
  }
}

void Association::receive(ByteView packet) {
  if (!sock_ || packet.size() < kCommonHeaderSize) {
    ++dropped_;
    return;
  }
  registry().input_since_walk = true;
  // Before usrsctp reads it (its callbacks may end this association): a peer's DATA without a
  // SACK while ours waits for one (sctp/loss_probe.hpp).
  if (connected_ && !closed_ && !destroying_) {
    const auto now = LossProbe::Clock::now();
    if (loss_probe_.due(packet, now)) send_loss_probe(now);
  }
  usrsctp_conninput(reinterpret_cast<void*>(id_), packet.data(), packet.size(), 0);
}

bool Association::try_send_now(uint16_t stream, uint32_t ppid, ByteView data,
                               const Reliability& rel, bool* would_block) {
  *would_block = false;
  struct sctp_sendv_spa spa{};
  spa.sendv_flags = SCTP_SEND_SNDINFO_VALID | SCTP_SEND_PRINFO_VALID;
  spa.sendv_sndinfo.snd_sid = stream;
  spa.sendv_sndinfo.snd_ppid = htonl(ppid);
  spa.sendv_sndinfo.snd_flags = SCTP_EOR | (rel.ordered ? 0 : SCTP_UNORDERED);
  if (rel.max_retransmits) {
    spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_RTX;
    spa.sendv_prinfo.pr_value = *rel.max_retransmits;
  } else if (rel.max_lifetime_ms) {
    spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_TTL;
    spa.sendv_prinfo.pr_value = *rel.max_lifetime_ms;
  } else {
    spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_NONE;
    spa.sendv_prinfo.pr_value = 0;
  }
  ssize_t n = usrsctp_sendv(sock_, data.data(), data.size(), nullptr, 0, &spa,
                            static_cast<socklen_t>(sizeof(spa)), SCTP_SENDV_SPA, 0);
  if (n >= 0) return true;
  int err = errno;
  if (err == EWOULDBLOCK || err == EAGAIN) {
    *would_block = true;
  } else if (err == EMSGSIZE) {
    // Can't happen with SO_SNDBUF >= 2 * max_message_size; would mean it never fits.
    log().error("sctp: message of {} bytes exceeds the usrsctp send buffer", data.size());
  } else {
    log().debug("sctp: usrsctp_sendv failed: {}", std::strerror(err));
  }
  return false;
}

SendStatus Association::send(uint16_t stream, uint32_t ppid, ByteView data, const Reliability& rel) {
  if (data.size() > config_.max_message_size) return SendStatus::TooLarge;
  if (!sock_ || !connected_ || closed_ || shutdown_pending_) return SendStatus::NotConnected;
  // SCTP can't carry empty user messages; WebRTC sends one byte with PPID 56/57 instead.
  if (data.empty()) return SendStatus::Error;
  if (stream >= config_.streams) return SendStatus::Error;

  const bool batching = Stack::batching();
  if (!queue_.empty() && (!batching || backlogged())) drain_now();
  if (queue_.empty() && !(batching && data.size() <= kBundleMax)) {
    bool would_block = false;
    if (try_send_now(stream, ppid, data, rel, &would_block)) return SendStatus::Ok;
    if (!would_block) return connected_ ? SendStatus::Error : SendStatus::NotConnected;
  }
  if (queued_bytes_ + data.size() > config_.max_buffered) return SendStatus::BufferFull;
  queue_.push_back(Pending{stream, ppid, rel, Bytes(data.begin(), data.end())});
  queued_bytes_ += data.size();
  if (data.size() > kBundleMax) ++large_queued_;
  if (batching) mark_dirty();
  return SendStatus::Ok;
}

void Association::mark_dirty() {
  if (dirty_) return;
  dirty_ = true;
  registry().dirty.push_back(id_);
}

void Association::flush_batched() {
  dirty_ = false;
  drain_now();
}

void Association::set_nodelay(bool on) {
  int v = on ? 1 : 0;
  set_opt(sock_, IPPROTO_SCTP, SCTP_NODELAY, v, "SCTP_NODELAY");
}

bool Association::backlogged() const {
  return large_queued_ > 0 || queued_bytes_ > kNagleMaxBytes;
}

void Association::drain_queue() {
  // Small messages held by a batch wait for its end (bundled). A backlog (usrsctp's buffer was
  // full) drains as soon as usrsctp has room, batch or not, and without Nagle: it is cwnd-bound,
  // so usrsctp bundles it anyway, and holding it to the end of the turn only makes the turn's
  // burst to that peer bigger (see Engine::read_ready for what bursts cost).
  if (Stack::batching() && !backlogged()) {
    if (!queue_.empty()) mark_dirty();
    return;
  }
  drain_now();
}

void Association::drain_now() {
  if (draining_ || !sock_) return;
  draining_ = true;
  bool had = !queue_.empty();
  // Several small messages (what a batch held): Nagle on while all but the last go to usrsctp
  // (with data in flight it holds them until a packet is full), off again for the last, whose
  // send then emits everything held in as few packets as the MTU allows. Never for a backlog:
  // it is cwnd-bound, so usrsctp bundles it anyway.
  bool nagle = queue_.size() > 1 && connected_ && !backlogged();
  if (nagle) set_nodelay(false);
  while (!queue_.empty() && sock_ && !closed_) {
    if (nagle && queue_.size() == 1) {
      set_nodelay(true);
      nagle = false;
    }
    Pending& p = queue_.front();
    bool would_block = false;
    if (!try_send_now(p.stream, p.ppid, p.data, p.rel, &would_block)) {
      if (would_block) break;
      ++dropped_;  // a hard error for this message; don't let it wedge the queue
    }
    queued_bytes_ -= p.data.size();
    if (p.data.size() > kBundleMax) --large_queued_;
    queue_.pop_front();
  }
  // Stopped early (usrsctp's buffer is full, so data is in flight): its SACKs drive out what
  // Nagle held.
  if (nagle && sock_) set_nodelay(true);
  draining_ = false;
  if (queue_.empty()) apply_deferred_resets();
  if (shutdown_pending_) return finish_flush_shutdown();  // nobody sends any more: no buffered_low
  if (had && queue_.empty() && !closed_ && !destroying_ && cb_.on_buffered_low) cb_.on_buffered_low();
}

size_t Association::buffered_amount() const { return queued_bytes_; }

size_t Association::bytes_outstanding() const {
  if (!sock_ || closed_ || !connected_) return queued_bytes_;
  // SCTP_GET_SNDBUF_USE and struct sctp_sockstat are usrsctp's (netinet/sctp.h, sctp_uio.h) but
  // not in its public usrsctp.h.
  constexpr int kSctpGetSndbufUse = 0x00001101;
  struct {
    sctp_assoc_t ss_assoc_id;
    uint32_t ss_total_sndbuf;
    uint32_t ss_total_recv_buf;
  } ss{};
  socklen_t len = sizeof ss;
  if (usrsctp_getsockopt(sock_, IPPROTO_SCTP, kSctpGetSndbufUse, &ss, &len) != 0) return queued_bytes_;
  return queued_bytes_ + ss.ss_total_sndbuf;
}

void Association::reset_stream(uint16_t stream) {
  if (!sock_ || closed_) return;
  // Our queued messages for the stream must reach usrsctp before the reset (usrsctp itself
  // sends the RE-CONFIG only once its stream queue is empty).
  if (!queue_.empty()) {
    deferred_resets_.push_back(stream);
    return;
  }
  reset_now(stream);
}

void Association::apply_deferred_resets() {
  while (!deferred_resets_.empty() && sock_ && !closed_) {
    uint16_t s = deferred_resets_.front();
    deferred_resets_.pop_front();
    reset_now(s);
  }
}

void Association::reset_now(uint16_t stream) {
  std::vector<uint8_t> buf(sizeof(struct sctp_reset_streams) + sizeof(uint16_t));
  struct sctp_reset_streams hdr{};
  hdr.srs_assoc_id = SCTP_ALL_ASSOC;
  hdr.srs_flags = SCTP_STREAM_RESET_OUTGOING;
  hdr.srs_number_streams = 1;
  std::memcpy(buf.data(), &hdr, sizeof(hdr));
  std::memcpy(buf.data() + sizeof(hdr), &stream, sizeof(stream));
  if (usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_RESET_STREAMS, buf.data(),
                         static_cast<socklen_t>(buf.size())) != 0) {
    log().debug("sctp: reset of stream {} failed: {}", stream, std::strerror(errno));
  }
}

void Association::shutdown() {
  if (!sock_ || closed_) return;
  if (dirty_) drain_now();  // messages held by a batch were accepted before the shutdown
  connected_ = false;
  queue_.clear();
  queued_bytes_ = 0;
  large_queued_ = 0;
  deferred_resets_.clear();
  // SHUT_WR: SHUTDOWN once what usrsctp holds is acked; reading stays open so the
  // SHUTDOWN_COMP notification still reaches us (SHUT_RD would silence notifications).
  if (usrsctp_shutdown(sock_, SHUT_WR) != 0 && errno != ENOTCONN) {
    close_with(std::string("shutdown failed: ") + std::strerror(errno));
  }
}

void Association::shutdown_after_flush() {
  if (!sock_ || closed_ || shutdown_pending_) return;
  if (!connected_) return abort();
  shutdown_pending_ = true;
  ++registry().graceful_closes;
  drain_now();  // what a batch held goes now (a later flush_batched finds nothing); SHUT_WR when empty
  finish_flush_shutdown();
}

// Our queue is empty (everything accepted is in usrsctp's hands): SHUT_WR. usrsctp sends the
// SHUTDOWN chunk only after every queued DATA chunk has been acknowledged (RFC 9260 §9.2).
void Association::finish_flush_shutdown() {
  if (!shutdown_pending_ || shutdown_sent_ || !queue_.empty() || closed_ || !sock_ || destroying_) return;
  shutdown_sent_ = true;
  connected_ = false;
  deferred_resets_.clear();
  if (usrsctp_shutdown(sock_, SHUT_WR) != 0 && errno != ENOTCONN)
    close_with(std::string("shutdown failed: ") + std::strerror(errno));
}

void Association::give_up_shutdown() {
  if (!sock_ || closed_) return;
  ++registry().graceful_close_timeouts;
  abort();
}

void Association::abort() {
  if (!sock_) return;
  closed_ = true;  // local abort: no on_closed
  connected_ = false;
  queue_.clear();
  queued_bytes_ = 0;
  large_queued_ = 0;
  deferred_resets_.clear();
  partial_.clear();
  usrsctp_close(sock_);  // SO_LINGER {1, 0}: sends ABORT
  sock_ = nullptr;
}

void Association::close_with(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  connected_ = false;
  queue_.clear();
  queued_bytes_ = 0;
  large_queued_ = 0;
  deferred_resets_.clear();
  partial_.clear();
  if (!destroying_ && cb_.on_closed) cb_.on_closed(reason);
}

uint32_t Association::unacked_chunks() const {
  if (!sock_ || !connected_ || closed_) return 0;
  struct sctp_status st{};
  socklen_t len = sizeof(st);
  if (usrsctp_getsockopt(sock_, IPPROTO_SCTP, SCTP_STATUS, &st, &len) != 0) return 0;
  return st.sstat_unackdata;
}

bool Association::path_returned() {
  if (!sock_ || !connected_ || closed_ || destroying_) return false;
  if (unacked_chunks() == 0) {  // nothing waits: the next send finds the path anyway
    timeout_packet_.clear();
    timeout_packet_.shrink_to_fit();
    return false;
  }
  auto& r = registry();
  // First the packet the last timeout retransmitted, as it was: it holds the lowest TSNs, the
  // ones everything ordered waits for, and usrsctp counts it in flight, so no output of its own
  // would resend it before the next timeout (up to rto_max_ms away). Sent again behind
  // usrsctp's back: the receiver delivers it, or, if it had it, drops the duplicate and SACKs at
  // once; either SACK restarts the timer with the fresh RTO. Its other chunks are as harmless
  // again (an old SACK or FORWARD-TSN is ignored, a HEARTBEAT answered).
  if (!timeout_packet_.empty()) {
    Bytes p = std::move(timeout_packet_);
    timeout_packet_ = Bytes();
    ++r.path_return_resends;
    on_usrsctp_output(p.data(), p.size());
  }
  // SPP_HB_DEMAND acts on one path (usrsctp requires its address): ours is the AF_CONN address
  // connect() gave, this association's id and the remote port.
  struct sctp_paddrparams spp{};
  spp.spp_assoc_id = 0;  // one-to-one socket: its only association
  struct sockaddr_conn remote{};
  remote.sconn_family = AF_CONN;
  remote.sconn_port = htons(config_.remote_port);
  remote.sconn_addr = reinterpret_cast<void*>(id_);
  static_assert(sizeof(remote) <= sizeof(spp.spp_address));
  std::memcpy(&spp.spp_address, &remote, sizeof(remote));
  spp.spp_flags = SPP_HB_DEMAND;
  // The timeouts of the outage shrank the congestion window to one MTU, and the packet the last
  // one retransmitted fills it: nothing more would go out before the next timeout. Setting the
  // congestion control module (the one in use) again restarts the window at the initial one
  // (sctp_set_initial_cc_param: RFC 4960's min(4 MTU, max(2 MTU, 4380)), what TCP restarts
  // with after an idle period); the HEARTBEAT request below then runs usrsctp's output, which
  // sends the chunks the timeouts marked for retransmission now.
  struct sctp_assoc_value cc{};
  socklen_t cclen = sizeof(cc);
  if (usrsctp_getsockopt(sock_, IPPROTO_SCTP, kSctpPluggableCc, &cc, &cclen) == 0)
    set_opt(sock_, IPPROTO_SCTP, kSctpPluggableCc, cc, "SCTP_PLUGGABLE_CC");
  if (usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &spp,
                         static_cast<socklen_t>(sizeof(spp))) != 0) {
    log().debug("sctp: heartbeat on path return failed: {}", std::strerror(errno));
    return false;
  }
  ++r.path_returns;
  return true;
}

void Association::on_usrsctp_output(uint8_t* data, size_t len) {
  const ByteView packet(data, len);
  auto& r = registry();
  // A timer's packet with DATA in it is a T3-rtx retransmission: the lowest outstanding TSNs,
  // kept for path_returned(). Only timer walks pay for this copy, never the send path.
  if (r.in_timer_walk && carries_data(packet)) timeout_packet_.assign(packet.begin(), packet.end());
  if (r.collecting && !destroying_) {
    // Bundled into the packet held from earlier in this turn when it fits, else that one goes
    // out and this one is held in its place.
    if (!held_out_.empty() && bundle_packets(held_out_, packet, config_.mtu)) {
      ++r.packets_bundled;
      return;
    }
    send_held_output();
    held_out_.assign(packet.begin(), packet.end());
    if (!output_listed_) {
      output_listed_ = true;
      r.with_output.push_back(id_);
    }
    return;
  }
  // Outside a turn, and during the destructor (the ABORT that tells the peer we're gone).
  send_held_output();
  send_packet(data, len);
}

void Association::send_batch_output() {
  output_listed_ = false;
  send_held_output();
}

void Association::send_held_output() {
  if (held_out_.empty()) return;
  Bytes p = std::move(held_out_);
  held_out_.clear();
  send_packet(p.data(), p.size());
}

void Association::send_loss_probe(LossProbe::Clock::time_point now) {
  struct sctp_status st{};
  socklen_t len = sizeof(st);
  if (usrsctp_getsockopt(sock_, IPPROTO_SCTP, SCTP_STATUS, &st, &len) != 0) return;
  if (!loss_probe_.confirm(now, std::chrono::milliseconds(st.sstat_primary.spinfo_srtt))) return;
  ++registry().loss_probes;
  probing_ = true;  // send_packet() must not take the probes for newly sent chunks
  for (size_t i = 0; i < loss_probe_.probes(); ++i) {
    Bytes p = loss_probe_.probe(i);
    send_packet(p.data(), p.size());
  }
  probing_ = false;
  loss_probe_.probed(now);
}

void Association::send_packet(uint8_t* p, size_t n) {
  // CRC32c "offload" (usrsctp_enable_crc32c_offload) makes usrsctp skip the checksum on receive
  // AND on send (it leaves 0 in the field). DTLS already protects the packets, but the remote
  // stack (Chrome dcsctp, Firefox usrsctp) verifies it, so compute it here, once per packet
  // actually sent.
  std::memset(p + kChecksumOffset, 0, 4);
  const uint32_t crc = checksum(ByteView(p, n));
  std::memcpy(p + kChecksumOffset, &crc, 4);
  ++registry().packets_out;
  if (!probing_) loss_probe_.on_sent(ByteView(p, n), LossProbe::Clock::now());
  if (cb_.send) cb_.send(ByteView(p, n));
}

void Association::set_receive_paused(bool paused) {
  if (receive_paused_ == paused) return;
  receive_paused_ = paused;
  if (!paused) on_usrsctp_readable();  // what arrived meanwhile; no new upcall would say so
}

void Association::on_usrsctp_readable() {
  if (destroying_ || reading_ || !sock_) return;  // a callback below may re-enter
  reading_ = true;
  // A read buffer per nesting level: a callback below (the relay delivering this message) may
  // make *another* association read (a paused sender resumed), and the view handed up for this
  // message must survive that. reading_ stops re-entry of the same association only. Buffers
  // are kept for reuse; the depth is small (a resume inside a delivery, rarely deeper).
  static std::vector<std::unique_ptr<Bytes>> buffers;
  static size_t depth = 0;
  if (buffers.size() <= depth) buffers.push_back(std::make_unique<Bytes>(64 * 1024));
  Bytes& buffer = *buffers[depth];
  ++depth;
  struct Leave {
    size_t& d;
    ~Leave() { --d; }
  } leave{depth};
  while (!receive_paused_ && sock_ && !destroying_) {
    struct sctp_rcvinfo info{};
    socklen_t infolen = sizeof(info);
    unsigned int infotype = 0;
    int flags = 0;
    ssize_t n = usrsctp_recvv(sock_, buffer.data(), buffer.size(), nullptr, nullptr, &info,
                              &infolen, &infotype, &flags);
    if (n < 0) break;  // EWOULDBLOCK: drained (or the association is gone)
    if (n == 0 && !(flags & MSG_NOTIFICATION)) break;
    const bool have_info = infotype == SCTP_RECVV_RCVINFO;
    on_usrsctp_receive(buffer.data(), static_cast<size_t>(n), have_info ? info.rcv_sid : 0,
                       have_info ? ntohl(info.rcv_ppid) : 0, flags);
  }
  reading_ = false;
}

void Association::on_usrsctp_writable() {
  if (destroying_ || closed_) return;
  drain_queue();
}

void Association::on_usrsctp_receive(const void* data, size_t len, uint16_t stream, uint32_t ppid,
                                     int flags) {
  if (destroying_) return;
  const auto* bytes = static_cast<const uint8_t*>(data);
  const bool eor = (flags & MSG_EOR) != 0;

  if (flags & MSG_NOTIFICATION) {
    if (eor && partial_notification_.empty()) {
      handle_notification(data, len);
    } else {
      partial_notification_.insert(partial_notification_.end(), bytes, bytes + len);
      if (eor) {
        Bytes n = std::move(partial_notification_);
        partial_notification_.clear();
        handle_notification(n.data(), n.size());
      }
    }
    return;
  }
  if (closed_) return;

  if (!partial_.empty() || discarding_partial_) {
    if (stream != partial_stream_ || ppid != partial_ppid_) {
      // Can't happen with interleave level 0; the old message is lost.
      if (!discarding_partial_) ++dropped_;
      partial_.clear();
      discarding_partial_ = false;
    }
  }
  if (discarding_partial_) {
    if (eor) discarding_partial_ = false;
    return;
  }
  if (partial_.empty() && eor) {  // the common case: one whole message, no copy
    if (len > config_.max_message_size) {
      ++dropped_;
      return;
    }
    if (cb_.on_message) cb_.on_message(stream, ppid, ByteView(bytes, len));
    return;
  }
  if (partial_.size() + len > config_.max_message_size) {
    ++dropped_;
    partial_.clear();
    partial_.shrink_to_fit();
    discarding_partial_ = !eor;
    partial_stream_ = stream;
    partial_ppid_ = ppid;
    return;
  }
  if (partial_.empty()) {
    partial_stream_ = stream;
    partial_ppid_ = ppid;
  }
  partial_.insert(partial_.end(), bytes, bytes + len);
  if (eor) {
    Bytes msg = std::move(partial_);
    partial_ = Bytes();
    if (cb_.on_message) cb_.on_message(stream, ppid, ByteView(msg.data(), msg.size()));
  }
}

void Association::handle_notification(const void* data, size_t len) {
  decltype(sctp_notification::sn_header) hdr{};
  if (len < sizeof(hdr)) return;
  std::memcpy(&hdr, data, sizeof(hdr));
  if (hdr.sn_length > len) return;
  const auto* bytes = static_cast<const uint8_t*>(data);

  switch (hdr.sn_type) {
    case SCTP_ASSOC_CHANGE: {
      struct sctp_assoc_change sac {};
      if (len < sizeof(sac)) return;
      std::memcpy(&sac, data, sizeof(sac));
      switch (sac.sac_state) {
        case SCTP_COMM_UP:
          if (!connected_ && !closed_) {
            connected_ = true;
            streams_out_ = sac.sac_outbound_streams;
            streams_in_ = sac.sac_inbound_streams;
            log().debug("sctp: association up, {} out / {} in streams", sac.sac_outbound_streams,
                        sac.sac_inbound_streams);
            if (cb_.on_connected) cb_.on_connected();
            drain_queue();
          }
          break;
        case SCTP_RESTART:
          log().debug("sctp: peer restarted the association");
          break;
        case SCTP_COMM_LOST: {
          // On a received ABORT, sac_info carries the ABORT chunk (type 6).
          bool abort = hdr.sn_length > sizeof(sac) && bytes[sizeof(sac)] == 6;
          close_with(abort ? "aborted by peer" : "communication lost");
          break;
        }
        case SCTP_SHUTDOWN_COMP:
          close_with("shutdown complete");
          break;
        case SCTP_CANT_STR_ASSOC:
          close_with("cannot start association");
          break;
        default:
          break;
      }
      break;
    }
    case SCTP_SHUTDOWN_EVENT:
      // The peer sent SHUTDOWN: we can't send anymore; SHUTDOWN_COMP follows.
      connected_ = false;
      break;
    case SCTP_STREAM_RESET_EVENT: {
      struct sctp_stream_reset_event ev {};
      if (len < sizeof(ev) || hdr.sn_length < sizeof(ev)) return;
      std::memcpy(&ev, data, sizeof(ev));
      size_t n = (hdr.sn_length - sizeof(ev)) / sizeof(uint16_t);
      if (ev.strreset_flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED)) {
        log().debug("sctp: stream reset denied/failed (flags {:#x})", ev.strreset_flags);
        break;
      }
      if (ev.strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN) {
        std::vector<uint16_t> streams(n);
        if (n) std::memcpy(streams.data(), bytes + sizeof(ev), n * sizeof(uint16_t));
        for (uint16_t s : streams) {
          if (closed_ || destroying_) break;
          if (cb_.on_stream_reset) cb_.on_stream_reset(s);
        }
      }
      break;
    }
    case SCTP_SENDER_DRY_EVENT:
      drain_queue();
      break;
    case SCTP_SEND_FAILED_EVENT:
      // An abandoned partially reliable message (or unsent data at close): expected.
      break;
    case SCTP_PARTIAL_DELIVERY_EVENT: {
      struct sctp_pdapi_event pd {};
      if (len < sizeof(pd)) return;
      std::memcpy(&pd, data, sizeof(pd));
      if (pd.pdapi_indication == SCTP_PARTIAL_DELIVERY_ABORTED) {
        if (!partial_.empty() || discarding_partial_) ++dropped_;
        partial_.clear();
        discarding_partial_ = false;
      }
      break;
    }
    case SCTP_REMOTE_ERROR:
      log().debug("sctp: remote error");
      break;
    default:
      break;
  }
}

}  // namespace peerrtc::sctp
