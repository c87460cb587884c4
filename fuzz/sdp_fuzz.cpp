// libFuzzer target for src/sdp (not wired into CMake). Build and run from /work/main:
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
//     fuzz/sdp_fuzz.cpp src/sdp/sdp.cpp src/common/bytes.cpp -lcrypto -o /tmp/sdp_fuzz
//   mkdir -p /tmp/sdp_corpus && /tmp/sdp_fuzz -max_total_time=30 -max_len=8192 \
//     /tmp/sdp_corpus tests/fixtures/sdp
//
// Invariant: parse() never crashes; an accepted description yields an answer that parse()
// accepts again (unless the answer outgrew kMaxSdpSize, where the error must say so).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sdp/sdp.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace peerrtc::sdp;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto offer = parse(text);
  if (!offer.ok()) {
    if (offer.error().empty()) __builtin_trap();
    return 0;
  }
  if (offer->data_index >= offer->media.size() || !offer->media[offer->data_index].is_datachannel)
    __builtin_trap();

  LocalParams params;
  params.ice_ufrag = "fuzz";
  params.ice_pwd = "0123456789abcdefghijkl";
  params.fingerprint_sha256 =
      "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
  params.ice_lite = size % 2 == 0;
  params.candidates = {{"192.0.2.1", 5000}, {"2001:db8::1", 5001}};
  params.session_id = 42;
  const std::string answer = build_answer(*offer, params);
  auto reparsed = parse(answer);
  if (!reparsed.ok()) {
    if (answer.size() > kMaxSdpSize && reparsed.error().find("too large") != std::string::npos)
      return 0;
    __builtin_trap();
  }
  if (reparsed->media.size() != offer->media.size() || reparsed->data_index != offer->data_index ||
      reparsed->ice_ufrag != params.ice_ufrag)
    __builtin_trap();
  for (size_t i = 0; i < offer->media.size(); ++i) {
    if (reparsed->media[i].mid != offer->media[i].mid) __builtin_trap();
    if (i != offer->data_index && reparsed->media[i].port != 0) __builtin_trap();
  }
  return 0;
}
