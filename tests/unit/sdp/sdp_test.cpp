// Tests for src/sdp against real offers captured by tests/fixtures/sdp/capture.mjs (Chromium,
// Firefox ESR, @roamhq/wrtc) plus hand-written edge cases.
#include "sdp/sdp.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace peerrtc::sdp {
namespace {

std::string read_fixture(const std::string& name) {
  const std::string path = std::string(PEERRTC_FIXTURES) + "/sdp/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

std::string to_lf(const std::string& s) { return replace_all(s, "\r\n", "\n"); }

size_t count(const std::string& s, std::string_view what) {
  size_t n = 0;
  for (size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + 1)) ++n;
  return n;
}

LocalParams server_params() {
  LocalParams p;
  p.ice_ufrag = "srvU";
  p.ice_pwd = "abcdefghijklmnopqrstuv+/";
  Bytes digest(32);
  for (size_t i = 0; i < digest.size(); ++i) digest[i] = static_cast<uint8_t>(i * 7 + 1);
  p.fingerprint_sha256 = to_hex_colon(digest);
  p.candidates = {{"192.0.2.10", 40000}, {"2001:db8::10", 40001}};
  p.session_id = 1234567890123456789ull;
  return p;
}

// Checks the answer text and re-parses it; returns the parsed answer.
Description check_answer(const Description& offer, const std::string& answer, const LocalParams& params) {
  EXPECT_EQ(answer.rfind("v=0\r\no=- ", 0), 0u) << answer;
  EXPECT_NE(answer.find("\r\ns=-\r\nt=0 0\r\n"), std::string::npos);
  EXPECT_EQ(count(answer, "\n"), count(answer, "\r\n")) << "every line ends in CRLF";
  auto parsed = parse(answer);
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error()) << "\n" << answer;
  if (!parsed.ok()) return {};
  const Description& a = *parsed;
  EXPECT_EQ(a.ice_ufrag, params.ice_ufrag);
  EXPECT_EQ(a.ice_pwd, params.ice_pwd);
  EXPECT_EQ(a.fingerprint.algorithm, "sha-256");
  EXPECT_EQ(to_hex_colon(a.fingerprint.digest), params.fingerprint_sha256);
  EXPECT_TRUE(a.has_setup);
  EXPECT_EQ(a.setup, answer_setup(offer.setup, params.setup));
  EXPECT_EQ(a.sctp_port, params.sctp_port);
  EXPECT_EQ(a.max_message_size, params.max_message_size);
  EXPECT_EQ(a.ice_lite, params.ice_lite);
  EXPECT_TRUE(a.end_of_candidates);
  EXPECT_EQ(a.candidates.size(), params.candidates.size());
  std::set<std::string> foundations;
  for (const auto& c : a.candidates) foundations.insert(c.foundation);
  EXPECT_EQ(foundations.size(), a.candidates.size()) << "distinct foundations";
  // Same m= sections, in order, same mids; only the data one accepted.
  EXPECT_EQ(a.media.size(), offer.media.size());
  EXPECT_EQ(a.data_index, offer.data_index);
  for (size_t i = 0; i < a.media.size() && i < offer.media.size(); ++i) {
    EXPECT_EQ(a.media[i].mid, offer.media[i].mid) << i;
    EXPECT_EQ(a.media[i].kind, offer.media[i].kind) << i;
    EXPECT_EQ(a.media[i].protocol, offer.media[i].protocol) << i;
    if (i == offer.data_index) {
      EXPECT_EQ(a.media[i].port, 9) << i;
      EXPECT_TRUE(a.media[i].is_datachannel);
      EXPECT_EQ(a.media[i].legacy_sctpmap, offer.media[i].legacy_sctpmap);
    } else {
      EXPECT_EQ(a.media[i].port, 0) << i;
      EXPECT_EQ(a.media[i].formats, offer.media[i].formats) << i;
    }
  }
  const std::string& data_mid = offer.media[offer.data_index].mid;
  if (!data_mid.empty()) {
    EXPECT_EQ(a.bundle_mids, std::vector<std::string>{data_mid});
  }
  return a;
}

struct FixtureCase {
  const char* file;
  const char* ufrag;
  const char* pwd;
  const char* fingerprint;
  size_t media_count;
  size_t data_index;
  const char* mid;
  uint16_t data_port;
  uint32_t max_message_size;
  size_t candidates;
  bool end_of_candidates;
  std::vector<std::string> bundle;
};

const std::vector<FixtureCase>& fixtures() {
  static const std::vector<FixtureCase> cases = {
      {"chromium-datachannel.sdp", "f9fG", "mGxfcXvBWwT9/niFjOFrT5Ln",
       "1D:47:FB:20:B4:17:98:E7:C3:66:13:F1:D8:DB:A8:18:F0:F7:87:4A:32:6A:44:4D:09:1B:56:85:34:CA:B1:D7",
       1, 0, "0", 9, 262144, 2, false, {"0"}},
      {"chromium-av-datachannel.sdp", "5sdx", "IXOLBQxj7FRrHUkEpC7Ne3Ir",
       "CC:85:E0:65:D5:C5:5D:A5:74:4A:E1:5F:5D:C2:39:8B:85:F4:63:5F:F4:69:52:39:E4:4D:50:67:D0:18:17:D5",
       3, 2, "2", 9, 262144, 2, false, {"0", "1", "2"}},
      {"firefox-datachannel.sdp", "99c886fa", "7ddfd07f547895706c8b994c551b4658",
       "84:99:28:E4:0A:22:55:00:39:49:4B:E6:58:6C:4A:CD:A1:69:25:9F:10:EF:C6:3C:AE:E1:0F:03:BE:A0:AB:EA",
       1, 0, "0", 9, 1073741823, 4, true, {"0"}},
      {"firefox-av-datachannel.sdp", "ea06a67f", "f746329ab4a5998c0590b426d5c806da",
       "67:77:EC:63:72:2F:02:E1:D7:6E:2C:F8:19:92:44:F9:2A:BB:BD:D9:24:60:D6:EF:E2:E7:54:8F:53:CF:93:B0",
       3, 2, "2", 9, 1073741823, 4, true, {"0", "1", "2"}},
      {"wrtc-datachannel.sdp", "i1VJ", "jwBvKRzl+Jvd/h+B5bKYpJRl",
       "D7:5E:87:3A:E5:5C:33:54:4D:3D:B9:6B:2D:16:F4:86:8D:23:DD:22:72:DC:93:68:46:99:13:B2:FA:81:36:BD",
       1, 0, "0", 60545, 262144, 8, false, {"0"}},
  };
  return cases;
}

void expect_fixture(const FixtureCase& c, const Description& d) {
  SCOPED_TRACE(c.file);
  EXPECT_EQ(d.ice_ufrag, c.ufrag);
  EXPECT_EQ(d.ice_pwd, c.pwd);
  EXPECT_EQ(d.fingerprint.algorithm, "sha-256");
  EXPECT_EQ(to_hex_colon(d.fingerprint.digest), c.fingerprint);
  EXPECT_EQ(d.setup, Setup::ActPass);
  EXPECT_TRUE(d.has_setup);
  EXPECT_FALSE(d.ice_lite);
  ASSERT_EQ(d.media.size(), c.media_count);
  EXPECT_EQ(d.data_index, c.data_index);
  const Media& m = d.media[d.data_index];
  EXPECT_EQ(m.mid, c.mid);
  EXPECT_EQ(m.kind, "application");
  EXPECT_EQ(m.protocol, "UDP/DTLS/SCTP");
  EXPECT_EQ(m.formats, "webrtc-datachannel");
  EXPECT_TRUE(m.is_datachannel);
  EXPECT_FALSE(m.legacy_sctpmap);
  EXPECT_EQ(m.port, c.data_port);
  EXPECT_EQ(d.sctp_port, 5000);
  EXPECT_EQ(d.max_message_size, c.max_message_size);
  EXPECT_FALSE(d.max_message_size_unlimited);
  EXPECT_EQ(d.candidates.size(), c.candidates);
  for (const auto& cand : d.candidates) {
    EXPECT_EQ(cand.line.rfind("candidate:", 0), 0u) << cand.line;
    EXPECT_FALSE(cand.address.empty()) << cand.line;
    EXPECT_TRUE(cand.transport == "udp" || cand.transport == "tcp") << cand.line;
  }
  EXPECT_EQ(d.end_of_candidates, c.end_of_candidates);
  EXPECT_EQ(d.bundle_mids, c.bundle);
  EXPECT_NE(std::find(d.ice_options.begin(), d.ice_options.end(), "trickle"), d.ice_options.end());
  for (size_t i = 0; i < d.media.size(); ++i)
    if (i != d.data_index) {
      EXPECT_FALSE(d.media[i].is_datachannel) << i;
    }
  if (c.media_count == 3) {
    EXPECT_EQ(d.media[0].kind, "audio");
    EXPECT_EQ(d.media[0].mid, "0");
    EXPECT_EQ(d.media[0].protocol, "UDP/TLS/RTP/SAVPF");
    EXPECT_EQ(d.media[1].kind, "video");
    EXPECT_EQ(d.media[1].mid, "1");
  }
}

TEST(SdpFixtures, ParseRealOffers) {
  for (const auto& c : fixtures()) {
    const std::string text = read_fixture(c.file);
    ASSERT_NE(text.find("\r\n"), std::string::npos) << c.file << " should be CRLF as captured";
    auto d = parse(text);
    ASSERT_TRUE(d.ok()) << c.file << ": " << d.error();
    expect_fixture(c, *d);
  }
}

TEST(SdpFixtures, LfLineEndingsParseTheSame) {
  for (const auto& c : fixtures()) {
    const std::string crlf = read_fixture(c.file);
    auto lf = parse(to_lf(crlf));
    ASSERT_TRUE(lf.ok()) << c.file << ": " << lf.error();
    expect_fixture(c, *lf);
    // Mixed: every other line LF.
    std::string mixed;
    bool flip = false;
    for (char ch : crlf) {
      if (ch == '\r' && (flip = !flip)) continue;
      mixed.push_back(ch);
    }
    auto m = parse(mixed);
    ASSERT_TRUE(m.ok()) << c.file << ": " << m.error();
    expect_fixture(c, *m);
  }
}

TEST(SdpFixtures, AnswerRoundTrip) {
  for (const auto& c : fixtures()) {
    SCOPED_TRACE(c.file);
    auto offer = parse(read_fixture(c.file));
    ASSERT_TRUE(offer.ok()) << offer.error();
    const LocalParams params = server_params();
    const std::string answer = build_answer(*offer, params);
    const Description a = check_answer(*offer, answer, params);
    EXPECT_EQ(a.setup, Setup::Passive);  // offers are actpass; params.setup is passive
    EXPECT_NE(answer.find("a=candidate:1 1 udp 2130706431 192.0.2.10 40000 typ host\r\n"), std::string::npos)
        << answer;
    EXPECT_NE(answer.find("a=candidate:2 1 udp 2130706175 2001:db8::10 40001 typ host\r\n"), std::string::npos)
        << answer;
    EXPECT_NE(answer.find("o=- 1234567890123456789 2 IN IP4 127.0.0.1\r\n"), std::string::npos);
    EXPECT_NE(answer.find("a=group:BUNDLE " + std::string(c.mid) + "\r\n"), std::string::npos);
    EXPECT_EQ(answer.find("a=ice-lite"), std::string::npos);
    EXPECT_EQ(count(answer, "m="), c.media_count);
    if (c.media_count == 3) {
      EXPECT_NE(answer.find("m=audio 0 UDP/TLS/RTP/SAVPF "), std::string::npos) << answer;
      EXPECT_NE(answer.find("m=video 0 UDP/TLS/RTP/SAVPF "), std::string::npos) << answer;
      EXPECT_NE(answer.find("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\n"),
                std::string::npos)
          << answer;
    }
  }
}

TEST(SdpAnswer, IceLiteAndSetupNegotiation) {
  auto offer = parse(read_fixture("chromium-datachannel.sdp"));
  ASSERT_TRUE(offer.ok());
  LocalParams p = server_params();
  p.ice_lite = true;
  p.ice_trickle = true;  // ignored for lite
  p.setup = Setup::Active;
  p.max_message_size = 65536;
  p.sctp_port = 5001;
  const std::string answer = build_answer(*offer, p);
  EXPECT_NE(answer.find("t=0 0\r\na=group:BUNDLE 0\r\na=ice-lite\r\nm=application"), std::string::npos) << answer;
  EXPECT_EQ(answer.find("ice-options"), std::string::npos);
  p.ice_trickle = false;  // what check_answer expects for end-of-candidates
  const Description a = check_answer(*offer, answer, p);
  EXPECT_TRUE(a.ice_lite);
  EXPECT_EQ(a.setup, Setup::Active);

  EXPECT_EQ(answer_setup(Setup::ActPass, Setup::Passive), Setup::Passive);
  EXPECT_EQ(answer_setup(Setup::ActPass, Setup::Active), Setup::Active);
  EXPECT_EQ(answer_setup(Setup::ActPass, Setup::ActPass), Setup::Passive);
  EXPECT_EQ(answer_setup(Setup::Active, Setup::Active), Setup::Passive);
  EXPECT_EQ(answer_setup(Setup::Passive, Setup::Passive), Setup::Active);
  EXPECT_EQ(answer_setup(Setup::HoldConn, Setup::Passive), Setup::HoldConn);

  // An offer that says active gets a passive answer whatever params prefer.
  auto active = parse(replace_all(read_fixture("chromium-datachannel.sdp"), "a=setup:actpass", "a=setup:active"));
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(active->setup, Setup::Active);
  p.ice_lite = false;
  EXPECT_NE(build_answer(*active, p).find("a=setup:passive\r\n"), std::string::npos);
}

TEST(SdpAnswer, TrickleAndOddCandidates) {
  auto offer = parse(read_fixture("firefox-datachannel.sdp"));
  ASSERT_TRUE(offer.ok());
  LocalParams p = server_params();
  p.ice_trickle = true;
  p.candidates = {{"[::1]", 1234}, {"", 1}, {"10.0.0.1", 0}, {"1.2.3.4 evil", 5}, {"10.0.0.2", 65535}};
  const std::string answer = build_answer(*offer, p);
  EXPECT_NE(answer.find("a=ice-options:trickle\r\n"), std::string::npos);
  EXPECT_EQ(answer.find("a=end-of-candidates"), std::string::npos);
  EXPECT_NE(answer.find(" ::1 1234 typ host\r\n"), std::string::npos) << answer;
  EXPECT_NE(answer.find("a=candidate:2 1 udp 2130706175 10.0.0.2 65535 typ host\r\n"), std::string::npos) << answer;
  EXPECT_EQ(count(answer, "a=candidate:"), 2u);
  auto a = parse(answer);
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_FALSE(a->end_of_candidates);
  EXPECT_EQ(a->candidates.size(), 2u);
}

TEST(SdpAnswer, RandomSessionIdWhenZero) {
  auto offer = parse(read_fixture("chromium-datachannel.sdp"));
  ASSERT_TRUE(offer.ok());
  LocalParams p = server_params();
  p.session_id = 0;
  const std::string a1 = build_answer(*offer, p);
  const std::string a2 = build_answer(*offer, p);
  const auto id = [](const std::string& s) { return s.substr(9, s.find(' ', 9) - 9); };
  EXPECT_NE(id(a1), "0");
  EXPECT_NE(id(a1), id(a2));
  EXPECT_LE(id(a1).size(), 19u);  // < 2^63
}

TEST(SdpOffer, RoundTrip) {
  LocalParams p = server_params();
  const std::string offer_text = build_offer(p);
  EXPECT_NE(offer_text.find("a=group:BUNDLE 0\r\n"), std::string::npos);
  EXPECT_NE(offer_text.find("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"),
            std::string::npos);
  auto d = parse(offer_text);
  ASSERT_TRUE(d.ok()) << d.error() << "\n" << offer_text;
  EXPECT_EQ(d->ice_ufrag, p.ice_ufrag);
  EXPECT_EQ(d->ice_pwd, p.ice_pwd);
  EXPECT_EQ(to_hex_colon(d->fingerprint.digest), p.fingerprint_sha256);
  EXPECT_EQ(d->setup, Setup::ActPass);  // LocalParams' default Passive means "answer role"
  ASSERT_EQ(d->media.size(), 1u);
  EXPECT_EQ(d->media[0].mid, "0");
  EXPECT_EQ(d->bundle_mids, std::vector<std::string>{"0"});
  EXPECT_EQ(d->sctp_port, 5000);
  EXPECT_EQ(d->max_message_size, 262144u);
  EXPECT_EQ(d->candidates.size(), 2u);

  // The offer answered by ourselves (client and server both PeerRTC).
  LocalParams server = server_params();
  server.ice_ufrag = "serverufrag";
  check_answer(*d, build_answer(*d, server), server);

  p.setup = Setup::Active;
  auto active = parse(build_offer(p));
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(active->setup, Setup::Active);
  p.candidates.clear();
  p.ice_trickle = true;
  auto trickle = parse(build_offer(p));
  ASSERT_TRUE(trickle.ok()) << trickle.error();
  EXPECT_TRUE(trickle->candidates.empty());
  EXPECT_FALSE(trickle->end_of_candidates);
}

// A minimal valid data offer; pieces are replaced by the tests below.
const std::string kMinimal =
    "v=0\n"
    "o=- 1 2 IN IP4 127.0.0.1\n"
    "s=-\n"
    "t=0 0\n"
    "a=group:BUNDLE d\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\n"
    "c=IN IP4 0.0.0.0\n"
    "a=mid:d\n"
    "a=ice-ufrag:abcd\n"
    "a=ice-pwd:0123456789012345678901\n"
    "a=fingerprint:sha-256 "
    "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\n"
    "a=setup:actpass\n"
    "a=sctp-port:5000\n";

TEST(SdpParse, MinimalDefaults) {
  auto d = parse(kMinimal);
  ASSERT_TRUE(d.ok()) << d.error();
  EXPECT_EQ(d->max_message_size, 65536u);  // RFC 8841 default when absent
  EXPECT_FALSE(d->max_message_size_unlimited);
  EXPECT_TRUE(d->candidates.empty());
  EXPECT_EQ(d->media[0].mid, "d");
  EXPECT_EQ(d->fingerprint.digest.size(), 32u);
  EXPECT_EQ(d->fingerprint.digest[10], 0xAA);

  auto no_setup = parse(replace_all(kMinimal, "a=setup:actpass\n", ""));
  ASSERT_TRUE(no_setup.ok());
  EXPECT_FALSE(no_setup->has_setup);
  EXPECT_EQ(no_setup->setup, Setup::ActPass);
  auto no_port = parse(replace_all(kMinimal, "a=sctp-port:5000\n", ""));
  ASSERT_TRUE(no_port.ok());
  EXPECT_EQ(no_port->sctp_port, 5000);
  auto other_port = parse(replace_all(kMinimal, "a=sctp-port:5000\n", "a=sctp-port:6000\n"));
  ASSERT_TRUE(other_port.ok());
  EXPECT_EQ(other_port->sctp_port, 6000);
}

TEST(SdpParse, MaxMessageSize) {
  auto zero = parse(kMinimal + "a=max-message-size:0\n");
  ASSERT_TRUE(zero.ok());
  EXPECT_TRUE(zero->max_message_size_unlimited);
  EXPECT_EQ(zero->max_message_size, kUnlimitedMaxMessageSize);
  auto huge = parse(kMinimal + "a=max-message-size:99999999999999999999999\n");
  ASSERT_TRUE(huge.ok());
  EXPECT_EQ(huge->max_message_size, 0xFFFFFFFFu);
  auto bad = parse(kMinimal + "a=max-message-size:-1\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("max-message-size"), std::string::npos) << bad.error();
}

TEST(SdpParse, ProtocolTokensAndLegacySctpmap) {
  for (const char* proto : {"UDP/DTLS/SCTP", "TCP/DTLS/SCTP", "DTLS/SCTP"}) {
    auto d = parse(replace_all(kMinimal, "UDP/DTLS/SCTP", proto));
    ASSERT_TRUE(d.ok()) << proto << ": " << d.error();
    EXPECT_EQ(d->media[0].protocol, proto);
    const std::string answer = build_answer(*d, server_params());
    EXPECT_NE(answer.find(std::string("m=application 9 ") + proto + " webrtc-datachannel\r\n"), std::string::npos);
    check_answer(*d, answer, server_params());
  }
  // Pre-RFC 8841 form (Chrome < 66, Firefox < 63).
  std::string legacy = replace_all(kMinimal, "UDP/DTLS/SCTP webrtc-datachannel", "DTLS/SCTP 5000");
  legacy = replace_all(legacy, "a=sctp-port:5000\n", "a=sctpmap:5000 webrtc-datachannel 1024\n");
  auto d = parse(legacy);
  ASSERT_TRUE(d.ok()) << d.error();
  EXPECT_TRUE(d->media[0].is_datachannel);
  EXPECT_TRUE(d->media[0].legacy_sctpmap);
  EXPECT_EQ(d->sctp_port, 5000);
  EXPECT_EQ(d->max_message_size, 65536u);
  const std::string answer = build_answer(*d, server_params());
  EXPECT_NE(answer.find("m=application 9 DTLS/SCTP 5000\r\n"), std::string::npos) << answer;
  EXPECT_NE(answer.find("a=sctpmap:5000 webrtc-datachannel 1024\r\n"), std::string::npos) << answer;
  EXPECT_EQ(answer.find("a=sctp-port"), std::string::npos);
  check_answer(*d, answer, server_params());
  // Numeric format without a=sctpmap is not a data channel.
  auto no_map = parse(replace_all(legacy, "a=sctpmap:5000 webrtc-datachannel 1024\n", ""));
  ASSERT_FALSE(no_map.ok());
  EXPECT_NE(no_map.error().find("no data channel"), std::string::npos);
}

TEST(SdpParse, BundleOnlyDataSectionUsesTaggedTransport) {
  // RFC 8843: the data section is bundle-only (port 0, no transport attributes); ICE/DTLS
  // values and candidates come from the tagged (first) section of the BUNDLE group.
  const std::string offer =
      "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
      "a=group:BUNDLE a d\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:a\r\n"
      "a=ice-ufrag:TAGG\r\na=ice-pwd:tagtagtagtagtagtagtagtag\r\n"
      "a=fingerprint:sha-1 00:11:22:33:44:55:66:77:88:99:00:11:22:33:44:55:66:77:88:99\r\n"
      "a=setup:actpass\r\n"
      "a=candidate:1 1 udp 2130706431 192.0.2.1 9999 typ host\r\n"
      "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=bundle-only\r\n"
      "a=mid:d\r\na=sctp-port:5000\r\na=max-message-size:100000\r\n"
      "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:x\r\n";
  auto d = parse(offer);
  ASSERT_TRUE(d.ok()) << d.error();
  EXPECT_EQ(d->data_index, 1u);
  EXPECT_TRUE(d->media[1].bundle_only);
  EXPECT_TRUE(d->media[2].is_datachannel);  // a disabled second one: described, not used
  EXPECT_EQ(d->ice_ufrag, "TAGG");
  EXPECT_EQ(d->fingerprint.algorithm, "sha-1");
  EXPECT_EQ(d->candidates.size(), 1u);
  EXPECT_EQ(d->max_message_size, 100000u);
  const std::string answer = build_answer(*d, server_params());
  EXPECT_NE(answer.find("m=audio 0 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:a\r\n"), std::string::npos);
  EXPECT_NE(answer.find("m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:x\r\n"),
            std::string::npos);
  EXPECT_EQ(answer.find("bundle-only"), std::string::npos);
  check_answer(*d, answer, server_params());

  // A data section rejected by port 0 (no bundle-only) is not usable.
  auto disabled = parse(replace_all(offer, "a=bundle-only\r\n", ""));
  ASSERT_FALSE(disabled.ok());
  EXPECT_NE(disabled.error().find("disabled"), std::string::npos) << disabled.error();
}

TEST(SdpParse, SessionLevelFallbackAndFingerprintChoice) {
  const std::string fp1 = "sha-1 00:11:22:33:44:55:66:77:88:99:00:11:22:33:44:55:66:77:88:99";
  const std::string fp256 =
      "sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
  std::string fp512 = "SHA-512 ";
  for (int i = 0; i < 64; ++i) fp512 += std::string(i ? ":" : "") + "ab";
  const std::string base = replace_all(kMinimal, "a=fingerprint:" + fp256 + "\n", "");
  ASSERT_NE(base, kMinimal);
  const std::string session_fp = "t=0 0\na=fingerprint:" + fp1 + "\na=fingerprint:" + fp256 + "\n";
  auto d = parse(replace_all(base, "t=0 0\n", session_fp));
  ASSERT_TRUE(d.ok()) << d.error();
  EXPECT_EQ(d->fingerprint.algorithm, "sha-256");  // preferred over the earlier sha-1

  auto d512 = parse(base + "a=fingerprint:" + fp512 + "\n");
  ASSERT_TRUE(d512.ok()) << d512.error();
  EXPECT_EQ(d512->fingerprint.algorithm, "sha-512");
  EXPECT_EQ(d512->fingerprint.digest.size(), 64u);

  auto md5_and_256 = parse(base + "a=fingerprint:md5 00:11\na=fingerprint:" + fp256 + "\n");
  ASSERT_TRUE(md5_and_256.ok()) << md5_and_256.error();
  EXPECT_EQ(md5_and_256->fingerprint.algorithm, "sha-256");

  // Media-level ICE values win over session-level ones.
  auto both = parse(replace_all(kMinimal, "t=0 0\n", "t=0 0\na=ice-ufrag:SESS\na=ice-lite\n"));
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->ice_ufrag, "abcd");
  EXPECT_TRUE(both->ice_lite);
  auto session_only = parse(replace_all(
      replace_all(kMinimal, "a=ice-ufrag:abcd\n", ""), "t=0 0\n", "t=0 0\na=ice-ufrag:SESS\n"));
  ASSERT_TRUE(session_only.ok());
  EXPECT_EQ(session_only->ice_ufrag, "SESS");
}

struct BadCase {
  std::string name;
  std::string sdp;
  std::string error;  // expected substring
};

std::vector<BadCase> bad_cases() {
  const std::string fp256line =
      "a=fingerprint:sha-256 "
      "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\n";
  std::string garbage;
  std::mt19937 rng(7);
  for (int i = 0; i < 500; ++i) garbage.push_back(static_cast<char>(rng() & 0xFF));
  return {
      {"empty", "", "empty SDP"},
      {"blank", "\r\n \n", "empty SDP"},
      {"not sdp", "hello world", "first line must be v=0"},
      {"json", "{\"type\":\"offer\",\"sdp\":\"v=0\"}", "first line must be v=0"},
      {"v=1", "v=1\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\n", "first line must be v=0"},
      {"leading blank line", "\n" + kMinimal, "first line must be v=0"},
      {"binary garbage", garbage, "v=0"},
      {"nul byte", replace_all(kMinimal, "s=-", std::string("s=\0-", 4)), "line 3 contains control character 0x00"},
      {"bare CR", replace_all(kMinimal, "\n", "\r"), "CRLF or LF"},
      {"no m=", "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n", "no m= section"},
      {"audio only", replace_all(kMinimal, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "m=audio 9 UDP/TLS/RTP/SAVPF 111"),
       "no data channel (m=application"},
      {"wrong format", replace_all(kMinimal, "webrtc-datachannel", "foo"), "no data channel"},
      {"malformed line", replace_all(kMinimal, "c=IN IP4 0.0.0.0", "this is not sdp"), "line 7 is malformed"},
      {"uppercase type", replace_all(kMinimal, "s=-", "S=-"), "line 3 is malformed"},
      {"second v=", kMinimal + "v=0\n", "second v= line"},
      {"m= too short", replace_all(kMinimal, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "m=application 9"),
       "line 6 is malformed"},
      {"m= bad port", replace_all(kMinimal, "application 9 ", "application 70000 "), "bad port"},
      {"m= port letters", replace_all(kMinimal, "application 9 ", "application x9 "), "bad port"},
      {"no ufrag", replace_all(kMinimal, "a=ice-ufrag:abcd\n", ""), "missing a=ice-ufrag"},
      {"no pwd", replace_all(kMinimal, "a=ice-pwd:0123456789012345678901\n", ""), "missing a=ice-pwd"},
      {"short ufrag", replace_all(kMinimal, "a=ice-ufrag:abcd", "a=ice-ufrag:abc"), "ice-ufrag on line 9 has 3 characters"},
      {"long ufrag", replace_all(kMinimal, "a=ice-ufrag:abcd", "a=ice-ufrag:" + std::string(257, 'u')), "(must be 4 to 256)"},
      {"ufrag bad char", replace_all(kMinimal, "a=ice-ufrag:abcd", "a=ice-ufrag:ab-d"), "outside A-Z a-z 0-9 + /"},
      {"short pwd", replace_all(kMinimal, "a=ice-pwd:0123456789012345678901", "a=ice-pwd:short"),
       "ice-pwd on line 10 has 5 characters (must be 22 to 256)"},
      {"pwd bad char", replace_all(kMinimal, "a=ice-pwd:0123456789012345678901", "a=ice-pwd:01234567890123456789_1"),
       "ice-pwd on line 10 contains a character"},
      {"no fingerprint", replace_all(kMinimal, fp256line, ""), "missing a=fingerprint"},
      {"md5 fingerprint", replace_all(kMinimal, fp256line, "a=fingerprint:md5 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\n"),
       "unsupported fingerprint algorithm md5"},
      {"fingerprint bad hex", replace_all(kMinimal, "00:11:22:33:44:55:66:77:88:99:AA", "00:11:22:33:44:55:66:77:88:99:ZZ"),
       "is not 32 colon-separated hex bytes"},
      {"fingerprint short", replace_all(kMinimal, ":EE:FF\n", "\n"), "is not 32 colon-separated hex bytes"},
      {"fingerprint no digest", replace_all(kMinimal, fp256line, "a=fingerprint:sha-256\n"), "line 11 is malformed"},
      {"sha-1 digest under sha-256", replace_all(kMinimal, fp256line,
                                                 "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:00:11:22:33:44:55:66:77:88:99\n"),
       "sha-256 digest"},
      {"bad setup", replace_all(kMinimal, "a=setup:actpass", "a=setup:server"), "is not actpass, active, passive or holdconn"},
      {"bad sctp-port", replace_all(kMinimal, "a=sctp-port:5000", "a=sctp-port:0"), "a=sctp-port '0' is not a port"},
      {"bad sctp-port text", replace_all(kMinimal, "a=sctp-port:5000", "a=sctp-port:abc"), "a=sctp-port 'abc'"},
      {"bad candidate", kMinimal + "a=candidate:1 1 udp 1 192.0.2.1 notaport typ host\n", "a=candidate needs"},
      {"short candidate", kMinimal + "a=candidate:1 1 udp\n", "line 14 is malformed"},
      {"duplicate mid", kMinimal + "m=audio 0 RTP/AVP 0\na=mid:d\n", "duplicate a=mid:d"},
      {"bad mid", replace_all(kMinimal, "a=mid:d", "a=mid:a b"), "a=mid value 'a b' is not a token"},
      {"empty mid", replace_all(kMinimal, "a=mid:d", "a=mid:"), "is not a token"},
      {"oversized", kMinimal + "a=x:" + std::string(70000 - kMinimal.size() - 5, 'x') + "\n",
       "SDP too large (70000 bytes, max 65536)"},
  };
}

TEST(SdpParse, BadInputsGiveClearErrors) {
  for (const auto& c : bad_cases()) {
    auto d = parse(c.sdp);
    ASSERT_FALSE(d.ok()) << c.name;
    EXPECT_NE(d.error().find(c.error), std::string::npos)
        << c.name << ": got \"" << d.error() << "\", want \"" << c.error << "\"";
    EXPECT_LT(d.error().size(), 200u) << c.name << ": " << d.error();
  }
}

TEST(SdpParse, ExactlyMaxSizeIsAccepted) {
  std::string s = kMinimal + "a=x:";
  s += std::string(kMaxSdpSize - s.size() - 1, 'x') + "\n";
  ASSERT_EQ(s.size(), kMaxSdpSize);
  EXPECT_TRUE(parse(s).ok());
}

// parse() of anything must not crash; whatever it accepts must give an answer it accepts.
void parse_answer_reparse(std::string_view text) {
  auto d = parse(text);
  if (!d.ok()) {
    EXPECT_FALSE(d.error().empty());
    return;
  }
  const std::string answer = build_answer(*d, server_params());
  auto a = parse(answer);
  EXPECT_TRUE(a.ok()) << (a.ok() ? "" : a.error()) << "\nfrom:\n" << text;
}

TEST(SdpRobustness, TruncatedRealOffersNeverCrash) {
  for (const auto& c : fixtures()) {
    const std::string text = read_fixture(c.file);
    size_t accepted = 0;
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      const std::string prefix = text.substr(0, cut);
      parse_answer_reparse(prefix);
      accepted += parse(prefix).ok();
    }
    // Every cut after the last needed line still parses.
    EXPECT_GT(accepted, 0u) << c.file;
    EXPECT_TRUE(parse(text.substr(0, text.size() - 1)).ok()) << c.file;  // CR kept, LF cut
  }
}

TEST(SdpRobustness, MutatedRealOffersNeverCrash) {
  std::mt19937 rng(12345);
  const std::string specials = " :/\r\n\t=0a-9\x7f\x80\xff";
  for (const auto& c : fixtures()) {
    const std::string text = read_fixture(c.file);
    for (int round = 0; round < 3000; ++round) {
      std::string m = text;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        const size_t pos = rng() % m.size();
        switch (rng() % 4) {
          case 0: m[pos] = static_cast<char>(rng() & 0xFF); break;
          case 1: m[pos] = specials[rng() % specials.size()]; break;
          case 2: m.erase(pos, 1 + rng() % 40); break;
          default: m.insert(pos, m.substr(rng() % m.size(), 1 + rng() % 60)); break;
        }
        if (m.empty()) m = "v";
      }
      parse_answer_reparse(m);
    }
  }
}

}  // namespace
}  // namespace peerrtc::sdp
