// The signaling JSON bodies (docs/protocol.md): parsed and validated in one pure function so
// every framework route, the server and the fuzzer share the same rules. Never throws.
#pragma once
#include <nlohmann/json.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace peerrtc::signaling {

struct Request {
  enum class Kind { Offer, Candidate, Leave } kind = Kind::Offer;
  std::string room, peer_id, token;
  std::string join_token;  // Offer: Config::join_secret's token (empty if none)
  std::string sdp;  // Offer
  bool restart = false;  // Offer: `restart: true`, an ICE restart of the peer's live connection
  nlohmann::json candidate;  // Candidate: validated RTCIceCandidateInit, or null
  // Offer, protocol v2 (docs/protocol.md "v2"): the protocol the client asks for (the server
  // answers min(asked, 2)) and where it wants to resume (the room's epoch and the last seq it
  // handed to its application).
  int protocol = 1;
  bool has_resume = false;
  std::string resume_epoch;
  uint64_t resume_seq = 0;
};

// The optional `protocol` and `resume` fields of an offer body, checked (also for the C++ API).
Result<bool> parse_offer_v2(const nlohmann::json& body, Request& out);

// `action` is "offer", "candidate" or "leave"; `body` the raw HTTP body.
Result<Request> parse_request(std::string_view action, std::string_view body);

// The same checks on already-parsed values (the C++ API's entry points).
Result<bool> check_name(std::string_view what, std::string_view value, bool peer = false);
Result<std::string> check_offer(const nlohmann::json& offer);  // -> the SDP
Result<bool> check_candidate(const nlohmann::json& candidate);

}  // namespace peerrtc::signaling
