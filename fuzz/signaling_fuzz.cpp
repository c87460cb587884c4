// libFuzzer target: the signaling JSON bodies and the data channel frames.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/frames.hpp"
#include "signaling/names.hpp"
#include "signaling/requests.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr std::string_view kActions[] = {"offer", "candidate", "leave"};
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto r = peerrtc::signaling::parse_request(kActions[data[0] % 3], body);
  if (r) {
    // Whatever passed validation must satisfy the documented rules.
    if (!peerrtc::signaling::valid_name(r->room) || !peerrtc::signaling::valid_name(r->peer_id)) __builtin_trap();
    if (r->kind == peerrtc::signaling::Request::Kind::Offer && r->sdp.empty()) __builtin_trap();
    // Protocol v2 fields: only 1 or 2, a resume only with 2, a seq a JS number holds exactly.
    if (r->protocol != 1 && r->protocol != 2) __builtin_trap();
    if (r->has_resume && (r->protocol != 2 || r->resume_epoch.empty() || r->resume_epoch.size() > 64 ||
                          r->resume_seq > peerrtc::signaling::kMaxSeq))
      __builtin_trap();
    if (r->restart && r->kind != peerrtc::signaling::Request::Kind::Offer) __builtin_trap();
  } else if (peerrtc::signaling::invalid_utf8_at(r.error()) != std::string_view::npos) {
    __builtin_trap();  // an error text must dump as JSON whatever the body was
  }
  // Names straight from bytes (the C++ API, a %-decoded query): the error quotes them as UTF-8.
  if (auto n = peerrtc::signaling::check_name("room", body.substr(0, 200)); !n) {
    if (peerrtc::signaling::invalid_utf8_at(n.error()) != std::string_view::npos) __builtin_trap();
  }
  peerrtc::ByteView bytes(data, size);
  for (bool binary : {false, true}) {
    auto f = peerrtc::signaling::parse_client_frame(bytes, binary);
    if (!f) continue;
    if (f->payload.size() >= size) __builtin_trap();
    if (f->to && !peerrtc::signaling::valid_name(*f->to)) __builtin_trap();
    // Re-framing gives the same bytes back.
    auto again = binary ? peerrtc::signaling::client_binary_frame(f->payload, f->to)
                        : peerrtc::signaling::client_text_frame(f->payload, f->to);
    if (again != std::string_view(reinterpret_cast<const char*>(data), size)) __builtin_trap();
  }
  // Protocol v2 frames (cmid): the same rules, and re-framing a v2 form gives its bytes back.
  for (bool binary : {false, true}) {
    auto f = peerrtc::signaling::parse_client_frame(bytes, binary, nullptr, true);
    if (!f) continue;
    if (f->payload.size() >= size) __builtin_trap();
    if (f->to && !peerrtc::signaling::valid_name(*f->to)) __builtin_trap();
    if (f->cmid > peerrtc::signaling::kMaxSeq) __builtin_trap();
    if (f->cmid == 0) continue;  // a v1 form, checked above
    auto again = binary ? peerrtc::signaling::client_binary_frame_v2(f->cmid, f->payload, f->to)
                        : peerrtc::signaling::client_text_frame_v2(f->cmid, f->payload, f->to);
    if (again != std::string_view(reinterpret_cast<const char*>(data), size)) __builtin_trap();
  }
  // Ack frames (what native clients read): whatever parses re-serialises to the same text.
  std::vector<peerrtc::signaling::AckEntry> acks;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (peerrtc::signaling::parse_ack_frame(text, acks) && text.size() < 200) {
    std::string out;
    for (auto& e : acks) {
      if (e.code.empty()) peerrtc::signaling::append_ack(out, e.cmid, e.seq);
      else peerrtc::signaling::append_nack(out, e.cmid, e.code);
    }
    (void)out;  // leading zeros and overflow make the text differ; parsing must only not crash
  }
  return 0;
}
