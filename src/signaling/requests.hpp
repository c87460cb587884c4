// The signaling JSON bodies (docs/protocol.md): parsed and validated in one pure function so
// every framework route, the server and the fuzzer share the same rules. Never throws.
#pragma once
#include <nlohmann/json.hpp>
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
};

// `action` is "offer", "candidate" or "leave"; `body` the raw HTTP body.
Result<Request> parse_request(std::string_view action, std::string_view body);

// The same checks on already-parsed values (the C++ API's entry points).
Result<bool> check_name(std::string_view what, std::string_view value, bool peer = false);
Result<std::string> check_offer(const nlohmann::json& offer);  // -> the SDP
Result<bool> check_candidate(const nlohmann::json& candidate);

}  // namespace peerrtc::signaling
