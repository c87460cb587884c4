// Data-only SDP for WebRTC (RFC 8866, 8841 SCTP-over-DTLS, 8839 ICE, 8842 DTLS, 8843 BUNDLE).
// Pure: text in, text out. parse_* never throw: they return an Error that says what is wrong.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"
#include "peerrtc/limits.hpp"

namespace peerrtc::sdp {

enum class Setup { ActPass, Active, Passive, HoldConn };

// parse() refuses larger input (an HTTP body limit of its own).
inline constexpr size_t kMaxSdpSize = 65536;
// Value stored in Description::max_message_size when the remote sent a=max-message-size:0
// ("any size", RFC 8841 section 6): we cap it at what our SCTP side and libwebrtc use, so a
// sender never builds an unbounded message; max_message_size_unlimited records the 0.
inline constexpr uint32_t kUnlimitedMaxMessageSize = kMaxMessageSize;

// An a=candidate line (RFC 8839 §5.1), parsed once: the connection uses the fields and never
// parses the text again.
struct Candidate {
  std::string foundation;
  uint16_t component = 1;
  std::string transport;  // lower case: "udp", "tcp", ...
  uint32_t priority = 0;
  std::string address;    // IPv4 or IPv6 literal, or an mDNS / FQDN name
  uint16_t port = 0;
  std::string type;       // "host", "srflx", "prflx", "relay"
  std::string tcptype;    // "active", "passive", "so" (ICE-TCP), else empty
  std::string line;       // "candidate:..." as given (without "a=")
};
// Parses the value of an a=candidate attribute ("<foundation> <component> <transport> ...",
// without "candidate:"); nullopt when a required field is missing or malformed.
std::optional<Candidate> parse_candidate(std::string_view value);

struct Fingerprint {
  std::string algorithm;  // lower-case, e.g. "sha-256"
  Bytes digest;
  bool operator==(const Fingerprint&) const = default;
};

// One m= section as offered.
struct Media {
  std::string kind;      // "application", "audio", "video", ...
  std::string protocol;  // e.g. "UDP/DTLS/SCTP", "UDP/TLS/RTP/SAVPF"
  std::string formats;   // the rest of the m= line after the protocol, verbatim ("webrtc-datachannel")
  std::string mid;       // a=mid (may be empty if the offer had none)
  bool is_datachannel = false;  // application + (UDP|TCP)/DTLS/SCTP + webrtc-datachannel
                                // (or the legacy DTLS/SCTP <port> + a=sctpmap form)
  uint16_t port = 0;
  bool bundle_only = false;     // a=bundle-only (port 0 but part of the BUNDLE group)
  bool legacy_sctpmap = false;  // data section in the pre-RFC 8841 "DTLS/SCTP 5000" + a=sctpmap form
};

// What the server needs from a remote description (offer or answer). ICE and DTLS values are
// resolved from the data m-section, falling back to the session level.
struct Description {
  std::string ice_ufrag;
  std::string ice_pwd;
  bool ice_lite = false;
  Fingerprint fingerprint;  // the first one with a supported algorithm (sha-256 preferred)
  Setup setup = Setup::ActPass;
  std::vector<Media> media;  // in order
  size_t data_index = 0;     // index into media of the (first) data channel section
  uint16_t sctp_port = 5000;
  uint32_t max_message_size = 65536;  // RFC 8841 default when absent
  std::vector<std::string> bundle_mids;  // a=group:BUNDLE
  std::vector<Candidate> candidates;     // parsed a=candidate lines (see Candidate)
  bool end_of_candidates = false;        // a=end-of-candidates in the data section
  bool has_setup = false;                // a=setup was present (else `setup` is the default)
  bool max_message_size_unlimited = false;  // a=max-message-size:0 (see kUnlimitedMaxMessageSize)
  std::vector<std::string> ice_options;  // a=ice-options tokens, e.g. "trickle"
};

// Parses an offer or answer. Errors (clear, for an HTTP 400): empty/oversized (> 64 KiB) input,
// not SDP (no v=0), no m= section, no data channel section, missing ice-ufrag/ice-pwd,
// missing or unsupported fingerprint, malformed lines in the sections that matter.
Result<Description> parse(std::string_view sdp);

// Parameters of the local side for building a description.
struct LocalParams {
  std::string ice_ufrag;
  std::string ice_pwd;
  bool ice_lite = false;
  std::string fingerprint_sha256;  // "AB:CD:..." as produced by dtls::Certificate
  Setup setup = Setup::Passive;
  uint16_t sctp_port = 5000;
  uint32_t max_message_size = kMaxMessageSize;
  // Host candidates to announce: ip (v4 or v6 literal) and port; UDP, or ICE-TCP with
  // `tcptype passive` (RFC 6544: the client connects to it). Listed in the given order.
  struct Candidate {
    std::string ip;
    uint16_t port = 0;
    bool tcp = false;
  };
  std::vector<Candidate> candidates;
  uint64_t session_id = 0;  // o= line; 0 = random
  bool ice_trickle = false;  // a=ice-options:trickle (never with ice_lite); when false,
                             // a=end-of-candidates follows the candidates
};

// The DTLS role to put in an answer to an offer that said `offered`: passive to active,
// active to passive, actpass to `preferred` (Passive unless it is Active), holdconn stays.
// build_answer() uses this, so callers pick their DTLS role with the same function.
Setup answer_setup(Setup offered, Setup preferred);
std::string_view to_string(Setup setup);

// Builds the answer to `offer`: one m= section per offered one, in order, same mids; the data
// section accepted, every other section rejected with port 0; BUNDLE group of the data mid only;
// a=ice-lite at session level when params.ice_lite; candidates + a=end-of-candidates.
// The data section keeps the offered protocol token and form (legacy sctpmap offers get a
// legacy answer). Candidates with an empty/odd address or port 0 are skipped. The caller
// supplies valid ICE/DTLS parameters; the answer parses with parse() when it does (and fits
// in kMaxSdpSize).
std::string build_answer(const Description& offer, const LocalParams& params);

// Builds a data-only offer (one application m-section, mid "0", BUNDLE, setup actpass unless
// params.setup says otherwise: Passive, the LocalParams default meant for answers, also gives
// actpass), for the C++ client side.
std::string build_offer(const LocalParams& params);

}  // namespace peerrtc::sdp
