// Two usrsctp associations wired back to back in one process (sctp_test.cpp, sctp_timers_test.cpp):
// each one's send callback queues packets that the test pump feeds into the other's receive().
// Time is synthetic in run_until() (the pump calls Stack::handle_timers() with a fixed step
// whenever the network is idle) and real in run_until_real().
#pragma once
#include <gtest/gtest.h>
#include <usrsctp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sctp/sctp.hpp"

namespace peerrtc::sctp::test {

struct Msg {
  uint16_t stream;
  uint32_t ppid;
  Bytes data;
};

inline Bytes pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 31 + (i >> 8));
  return b;
}

struct Peer {
  std::vector<Bytes> outbox;
  int connected = 0;
  std::vector<Msg> messages;
  std::vector<uint16_t> resets;
  std::vector<std::string> closed;
  int buffered_low = 0;
  std::function<void(const Msg&)> on_message_hook;
  std::function<void(ByteView)> on_raw_message;  // the view on_message got, before any copy
  std::function<void(uint16_t)> on_reset_hook;
  // Last: destroyed first, since its destructor may still send an ABORT into `outbox`.
  std::unique_ptr<Association> assoc;
};

struct WireStats {
  size_t packets = 0;
  size_t bad_crc = 0;
  size_t max_size = 0;
  std::vector<uint32_t> data_ppids;  // PPIDs read from DATA chunks on the wire
};

// Calls fn(type, offset, length) for each chunk of an SCTP packet, up to the first malformed one.
template <typename Fn>
void for_each_chunk(const Bytes& p, Fn fn) {
  size_t off = 12;
  while (off + 4 <= p.size()) {
    const uint16_t clen = load_be16(&p[off + 2]);
    if (clen < 4) break;
    fn(p[off], off, size_t{clen});
    off += (clen + 3u) & ~3u;
  }
}

inline void inspect(const Bytes& p, WireStats& st) {
  ++st.packets;
  st.max_size = std::max(st.max_size, p.size());
  if (p.size() < 12) return;
  Bytes copy = p;
  std::memset(copy.data() + 8, 0, 4);
  uint32_t crc = usrsctp_crc32c(copy.data(), copy.size());
  if (std::memcmp(&crc, p.data() + 8, 4) != 0) ++st.bad_crc;
  for_each_chunk(p, [&](uint8_t type, size_t off, size_t clen) {
    if (type == 0 && clen >= 16 && off + 16 <= p.size()) st.data_ppids.push_back(load_be32(&p[off + 12]));
  });
}

inline std::vector<uint32_t> data_tsns(const Bytes& p) {
  std::vector<uint32_t> out;
  for_each_chunk(p, [&](uint8_t type, size_t off, size_t) {
    if (type == 0 && off + 8 <= p.size()) out.push_back(load_be32(&p[off + 4]));
  });
  return out;
}

inline std::vector<uint8_t> chunk_types(const Bytes& p) {
  std::vector<uint8_t> out;
  for_each_chunk(p, [&](uint8_t type, size_t, size_t) { out.push_back(type); });
  return out;
}

class Pair {
 public:
  explicit Pair(Association::Config ca = {}, Association::Config cb = {}) {
    make(a, ca, stats_ab);
    make(b, cb, stats_ba);
  }

  WireStats stats_ab, stats_ba;  // before the peers: their send callbacks write here
  Peer a, b;
  // Return true to drop the n-th packet (0-based) in that direction.
  std::function<bool(size_t, const Bytes&)> drop_ab, drop_ba;
  size_t n_ab = 0, n_ba = 0;
  uint64_t now_ms = 0;
  bool batched = false;  // pump() delivers each round inside a Stack::Batch

  void make(Peer& p, Association::Config cfg, WireStats& st) {
    Association::Callbacks cbs;
    cbs.send = [&p, &st](ByteView pkt) {
      p.outbox.emplace_back(pkt.begin(), pkt.end());
      inspect(p.outbox.back(), st);
    };
    cbs.on_connected = [&p] { ++p.connected; };
    cbs.on_message = [&p](uint16_t s, uint32_t ppid, ByteView m) {
      if (p.on_raw_message) p.on_raw_message(m);
      p.messages.push_back(Msg{s, ppid, Bytes(m.begin(), m.end())});
      if (p.on_message_hook) p.on_message_hook(p.messages.back());
    };
    cbs.on_stream_reset = [&p](uint16_t s) {
      p.resets.push_back(s);
      if (p.on_reset_hook) p.on_reset_hook(s);
    };
    cbs.on_closed = [&p](const std::string& r) { p.closed.push_back(r); };
    cbs.on_buffered_low = [&p] { ++p.buffered_low; };
    p.assoc = std::make_unique<Association>(cfg, std::move(cbs));
  }

  // Deliver queued packets until both directions are quiet. Returns packets moved.
  size_t pump() {
    size_t moved = 0;
    for (int guard = 0; guard < 100000; ++guard) {
      if (a.outbox.empty() && b.outbox.empty()) break;
      auto from_a = std::move(a.outbox);
      a.outbox.clear();
      auto from_b = std::move(b.outbox);
      b.outbox.clear();
      // As the engine does: each delivery round is one loop turn (a batch).
      std::optional<Stack::Batch> turn;
      if (batched) turn.emplace();
      for (auto& p : from_a) {
        bool drop = drop_ab && drop_ab(n_ab, p);
        ++n_ab;
        if (!drop && b.assoc) b.assoc->receive(p);
        ++moved;
      }
      for (auto& p : from_b) {
        bool drop = drop_ba && drop_ba(n_ba, p);
        ++n_ba;
        if (!drop && a.assoc) a.assoc->receive(p);
        ++moved;
      }
    }
    return moved;
  }

  // Pump, letting synthetic time pass in `step_ms` steps while idle, until pred() or timeout.
  bool run_until(const std::function<bool()>& pred, uint64_t max_ms = 120000, uint32_t step_ms = 10) {
    uint64_t start = now_ms;
    while (true) {
      pump();
      if (pred()) return true;
      if (now_ms - start >= max_ms) return false;
      Stack::handle_timers(step_ms);
      now_ms += step_ms;
    }
  }

  // Same, but with real time passing (sleeping in small steps). Needed whenever data must be
  // retransmitted after a timeout: usrsctp's T3-rtx only re-marks chunks that are older than the
  // RTO by the wall clock, so synthetic time would fire timeouts without retransmitting and
  // eventually fail the association.
  bool run_until_real(const std::function<bool()>& pred, uint64_t max_ms = 60000) {
    auto start = std::chrono::steady_clock::now();
    auto last = start;
    while (true) {
      pump();
      if (pred()) return true;
      auto now = std::chrono::steady_clock::now();
      if (now - start >= std::chrono::milliseconds(max_ms)) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      now = std::chrono::steady_clock::now();
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - last).count();
      if (ms > 0) {
        Stack::handle_timers(static_cast<uint32_t>(ms));
        last += std::chrono::milliseconds(ms);
      }
    }
  }

  bool connect() {
    a.assoc->connect();
    b.assoc->connect();
    return run_until([&] { return a.connected && b.connected; }, 10000);
  }
};


}  // namespace peerrtc::sctp::test
