// Data-only WebRTC SDP: parse offers/answers, build answers/offers.
//
// Parsing is two-pass: first every line is split into the session part and m= sections
// (only the line syntax "<letter>=<value>" and the m= lines are checked everywhere, and mids
// because they are echoed in answers); then only the sections that matter (the data section,
// its BUNDLE-tagged section and the session level) have their attributes validated.
#include "sdp/sdp.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

namespace peerrtc::sdp {
namespace {

constexpr std::string_view kCrlf = "\r\n";

struct Attr {
  std::string_view name;
  std::string_view value;  // after the first ':' (empty when there is none)
  bool has_value = false;
  size_t line = 0;
};

struct Section {
  size_t line = 0;  // of the m= line (0 for the session level)
  Media media;
  std::vector<Attr> attrs;

  const Attr* find(std::string_view name) const {
    for (const Attr& a : attrs)
      if (a.name == name) return &a;
    return nullptr;
  }
};

Error err(std::string msg) { return Error{std::move(msg)}; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ice_char(char c) { return is_alpha(c) || is_digit(c) || c == '+' || c == '/'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// RFC 8866 token-char: %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E
bool is_token_char(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2A || c == 0x2B || c == 0x2D ||
         c == 0x2E || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) ||
         (c >= 0x5E && c <= 0x7E);
}
bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char);
}

// A value put into an error message: printable ASCII only, bounded length.
std::string printable(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out.push_back(c >= 0x20 && c < 0x7F ? static_cast<char>(c) : '?');
  }
  if (s.size() > kMax) out += "...";
  return out;
}
std::string quote(std::string_view s) { return "'" + printable(s) + "'"; }

std::string line_error(size_t line, std::string_view what) {
  return "line " + std::to_string(line) + " is malformed: " + std::string(what);
}

// Decimal without sign/spaces; false on empty, non-digits or overflow of T.
template <typename T>
bool parse_uint(std::string_view s, T& out) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), is_digit)) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> split_spaces(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool is_sctp_protocol(std::string_view p) {
  return p == "UDP/DTLS/SCTP" || p == "TCP/DTLS/SCTP" || p == "DTLS/SCTP";
}

// m=<media> <port>[/<number of ports>] <proto> <fmt> ...
Result<Media> parse_m_line(std::string_view v, size_t line) {
  const std::string_view usage = "expected m=<media> <port> <proto> <fmt> ...";
  std::string_view rest = v;
  std::array<std::string_view, 3> f;
  for (auto& field : f) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const size_t sp = rest.find(' ');
    if (sp == std::string_view::npos) return err(line_error(line, usage));
    field = rest.substr(0, sp);
    rest.remove_prefix(sp);
  }
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty()) return err(line_error(line, usage));
  Media m;
  if (!is_token(f[0])) return err(line_error(line, "media type " + quote(f[0]) + " is not a token"));
  std::string_view port = f[1];
  if (const size_t slash = port.find('/'); slash != std::string_view::npos) {
    uint16_t count = 0;
    if (!parse_uint(port.substr(slash + 1), count))
      return err(line_error(line, "bad port count in " + quote(port)));
    port = port.substr(0, slash);
  }
  if (!parse_uint(port, m.port)) return err(line_error(line, "bad port " + quote(f[1])));
  for (char c : f[2])
    if (!is_token_char(c) && c != '/') return err(line_error(line, "bad protocol " + quote(f[2])));
  m.kind = std::string(f[0]);
  m.protocol = std::string(f[2]);
  m.formats = std::string(rest);
  return m;
}

// "sha-256 AB:CD:..." → Fingerprint, or an error naming the problem. `supported` tells an
// unsupported algorithm (skipped when another one is usable) from a malformed line.
struct ParsedFingerprint {
  std::optional<Fingerprint> fp;
  std::string algorithm;  // lower-case, also when unsupported
};
Result<ParsedFingerprint> parse_fingerprint(const Attr& a) {
  const auto parts = split_spaces(a.value);
  if (parts.size() != 2)
    return err(line_error(a.line, "expected a=fingerprint:<hash-function> <XX:XX:...>"));
  ParsedFingerprint out;
  out.algorithm = to_lower(parts[0]);
  static constexpr std::array<std::pair<std::string_view, size_t>, 5> kAlgorithms{{
      {"sha-1", 20}, {"sha-224", 28}, {"sha-256", 32}, {"sha-384", 48}, {"sha-512", 64}}};
  size_t want = 0;
  for (const auto& [name, len] : kAlgorithms)
    if (out.algorithm == name) want = len;
  if (want == 0) return out;  // unsupported (md5, sha-3, garbage): caller decides
  const std::string_view hex = parts[1];
  const std::string bad = "a=fingerprint " + out.algorithm + " digest " + quote(hex) +
                          " is not " + std::to_string(want) + " colon-separated hex bytes";
  if (hex.size() != want * 3 - 1) return err(line_error(a.line, bad));
  Fingerprint fp;
  fp.algorithm = out.algorithm;
  fp.digest.reserve(want);
  for (size_t i = 0; i < want; ++i) {
    const size_t p = i * 3;
    if (!is_hex(hex[p]) || !is_hex(hex[p + 1]) || (i + 1 < want && hex[p + 2] != ':'))
      return err(line_error(a.line, bad));
    fp.digest.push_back(static_cast<uint8_t>(hex_value(hex[p]) * 16 + hex_value(hex[p + 1])));
  }
  out.fp = std::move(fp);
  return out;
}

Result<Setup> parse_setup(const Attr& a) {
  if (a.value == "actpass") return Setup::ActPass;
  if (a.value == "active") return Setup::Active;
  if (a.value == "passive") return Setup::Passive;
  if (a.value == "holdconn") return Setup::HoldConn;
  return err(line_error(a.line, "a=setup value " + quote(a.value) +
                                    " is not actpass, active, passive or holdconn"));
}

Result<std::string> parse_ice_value(const Attr& a, std::string_view what, size_t min_len) {
  constexpr size_t kMaxLen = 256;
  if (!a.has_value || a.value.size() < min_len || a.value.size() > kMaxLen)
    return err("a=" + std::string(what) + " on line " + std::to_string(a.line) + " has " +
               std::to_string(a.value.size()) + " characters (must be " +
               std::to_string(min_len) + " to " + std::to_string(kMaxLen) + ")");
  for (char c : a.value)
    if (!is_ice_char(c))
      return err("a=" + std::string(what) + " on line " + std::to_string(a.line) +
                 " contains a character outside A-Z a-z 0-9 + /: " + quote(a.value));
  return std::string(a.value);
}

}  // namespace

// candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
// [raddr <a> rport <p>] [tcptype <t>] ... (the address may be IPv4, IPv6 or an mDNS / FQDN name)
std::optional<Candidate> parse_candidate(std::string_view value) {
  const auto f = split_spaces(value);
  if (f.size() < 8 || f[0].size() > 32 || f[6] != "typ") return std::nullopt;
  if (f[0].empty() || !std::all_of(f[0].begin(), f[0].end(), is_ice_char)) return std::nullopt;
  Candidate c;
  uint64_t priority = 0;
  if (!parse_uint(f[1], c.component) || c.component < 1 || !is_token(f[2]) || !parse_uint(f[3], priority) ||
      priority > 0xFFFFFFFFull || f[4].empty() || !parse_uint(f[5], c.port) || !is_token(f[7]))
    return std::nullopt;
  c.foundation = std::string(f[0]);
  c.transport = std::string(f[2]);
  std::transform(c.transport.begin(), c.transport.end(), c.transport.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  c.priority = static_cast<uint32_t>(priority);
  c.address = std::string(f[4]);
  c.type = std::string(f[7]);
  for (size_t i = 8; i + 1 < f.size(); i += 2)
    if (f[i] == "tcptype") c.tcptype = std::string(f[i + 1]);
  c.line = "candidate:" + std::string(value);
  return c;
}

namespace {

// Splits the text into lines and sections; checks what every line must satisfy.
Result<std::vector<Section>> split_sections(std::string_view sdp) {
  std::vector<Section> sections(1);  // [0] = session level
  std::set<std::string_view> mids;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < sdp.size()) {
    size_t end = sdp.find('\n', pos);
    if (end == std::string_view::npos) end = sdp.size();
    std::string_view line = sdp.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (line_no == 1) {
      if (line.substr(0, 4) == "v=0\r") return err("SDP lines must end with CRLF or LF (found a bare CR)");
      if (line != "v=0") return err("not an SDP description: the first line must be v=0");
      continue;
    }
    if (line.empty()) continue;  // tolerated (e.g. a trailing blank line)
    for (char ch : line) {
      const auto c = static_cast<unsigned char>(ch);
      if ((c < 0x20 && c != '\t') || c == 0x7F) {
        char buf[8];
        static constexpr char kHex[] = "0123456789ABCDEF";
        buf[0] = '0', buf[1] = 'x', buf[2] = kHex[c >> 4], buf[3] = kHex[c & 0xF], buf[4] = 0;
        return err("line " + std::to_string(line_no) + " contains control character " + buf);
      }
    }
    if (line.size() < 2 || line[1] != '=' || !(line[0] >= 'a' && line[0] <= 'z'))
      return err(line_error(line_no, "expected <type>=<value>, got " + quote(line)));
    const std::string_view value = line.substr(2);
    if (line[0] == 'v') return err(line_error(line_no, "a second v= line"));
    if (line[0] == 'm') {
      auto m = parse_m_line(value, line_no);
      if (!m) return Error{m.error()};
      Section s;
      s.line = line_no;
      s.media = std::move(*m);
      sections.push_back(std::move(s));
      continue;
    }
    if (line[0] != 'a') continue;  // o=, s=, t=, c=, b=, i=, ...: not needed
    Attr a;
    a.line = line_no;
    const size_t colon = value.find(':');
    a.name = value.substr(0, colon);
    if (colon != std::string_view::npos) {
      a.value = value.substr(colon + 1);
      a.has_value = true;
    }
    if (a.name.empty()) return err(line_error(line_no, "empty attribute name"));
    Section& cur = sections.back();
    if (sections.size() > 1) {
      if (a.name == "mid") {
        if (!is_token(a.value))
          return err(line_error(line_no, "a=mid value " + quote(a.value) + " is not a token"));
        if (!cur.media.mid.empty()) return err(line_error(line_no, "a second a=mid in one m= section"));
        if (!mids.insert(a.value).second) return err("duplicate a=mid:" + std::string(a.value));
        cur.media.mid = std::string(a.value);
      } else if (a.name == "bundle-only") {
        cur.media.bundle_only = true;
      }
    }
    cur.attrs.push_back(a);
  }
  if (line_no == 0) return err("empty SDP");
  return sections;
}

// Marks data channel sections; returns the index (into sections) of the one to use, or 0.
size_t find_data_section(std::vector<Section>& sections, std::string& error) {
  size_t chosen = 0;
  bool disabled_seen = false;
  for (size_t i = 1; i < sections.size(); ++i) {
    Media& m = sections[i].media;
    if (m.kind != "application" || !is_sctp_protocol(m.protocol)) continue;
    const auto fmts = split_spaces(m.formats);
    if (fmts.size() == 1 && fmts[0] == "webrtc-datachannel") {
      m.is_datachannel = true;
    } else if (fmts.size() == 1) {
      // Legacy: m=application 9 DTLS/SCTP 5000 + a=sctpmap:5000 webrtc-datachannel 1024
      for (const Attr& a : sections[i].attrs) {
        if (a.name != "sctpmap") continue;
        const auto f = split_spaces(a.value);
        if (f.size() >= 2 && f[0] == fmts[0] && f[1] == "webrtc-datachannel") {
          m.is_datachannel = true;
          m.legacy_sctpmap = true;
        }
      }
    }
    if (!m.is_datachannel) continue;
    if (m.port == 0 && !m.bundle_only) {
      disabled_seen = true;
      continue;
    }
    if (chosen == 0) chosen = i;
  }
  if (chosen == 0)
    error = disabled_seen
                ? "the data channel section is disabled (port 0 without a=bundle-only)"
                : "SDP has no data channel (m=application ... webrtc-datachannel) section";
  return chosen;
}

}  // namespace

std::string_view to_string(Setup setup) {
  switch (setup) {
    case Setup::ActPass: return "actpass";
    case Setup::Active: return "active";
    case Setup::Passive: return "passive";
    case Setup::HoldConn: return "holdconn";
  }
  return "actpass";
}

Setup answer_setup(Setup offered, Setup preferred) {
  switch (offered) {
    case Setup::Active: return Setup::Passive;
    case Setup::Passive: return Setup::Active;
    case Setup::HoldConn: return Setup::HoldConn;
    case Setup::ActPass: break;
  }
  return preferred == Setup::Active ? Setup::Active : Setup::Passive;
}

Result<Description> parse(std::string_view sdp) {
  if (sdp.size() > kMaxSdpSize)
    return err("SDP too large (" + std::to_string(sdp.size()) + " bytes, max " +
               std::to_string(kMaxSdpSize) + ")");
  if (sdp.find_first_not_of(" \t\r\n") == std::string_view::npos) return err("empty SDP");

  auto split = split_sections(sdp);
  if (!split) return Error{split.error()};
  std::vector<Section>& sections = *split;
  const Section& session = sections[0];
  if (sections.size() == 1) return err("SDP has no m= section");

  Description d;
  std::string error;
  const size_t data = find_data_section(sections, error);
  if (data == 0) return err(error);
  d.data_index = data - 1;
  for (size_t i = 1; i < sections.size(); ++i) d.media.push_back(sections[i].media);
  const Section& ds = sections[data];
  const Media& dm = ds.media;

  // Session level: BUNDLE group (the one holding the data mid, else the first), ice-lite.
  auto holds_data = [&](const std::vector<std::string>& mids) {
    return !dm.mid.empty() && std::find(mids.begin(), mids.end(), dm.mid) != mids.end();
  };
  bool have_group = false;
  for (const Attr& a : session.attrs) {
    if (a.name == "ice-lite") d.ice_lite = true;
    if (a.name != "group") continue;
    const auto f = split_spaces(a.value);
    if (f.empty()) return err(line_error(a.line, "a=group without semantics"));
    if (!iequals(f[0], "BUNDLE")) continue;
    std::vector<std::string> mids(f.begin() + 1, f.end());
    if (!have_group || (!holds_data(d.bundle_mids) && holds_data(mids))) d.bundle_mids = std::move(mids);
    have_group = true;
  }
  if (ds.find("ice-lite")) d.ice_lite = true;

  // Where transport attributes come from: the data section, then the BUNDLE-tagged section
  // (a bundle-only data section carries none, RFC 8843 section 7.2), then the session level.
  std::vector<const Section*> sources{&ds};
  if (holds_data(d.bundle_mids)) {
    for (size_t i = 1; i < sections.size(); ++i) {
      if (i != data && !d.bundle_mids.empty() && sections[i].media.mid == d.bundle_mids[0])
        sources.push_back(&sections[i]);
    }
  }
  sources.push_back(&session);
  auto first = [&](std::string_view name) -> const Attr* {
    for (const Section* s : sources)
      if (const Attr* a = s->find(name)) return a;
    return nullptr;
  };

  const Attr* ufrag = first("ice-ufrag");
  if (!ufrag) return err("missing a=ice-ufrag");
  auto u = parse_ice_value(*ufrag, "ice-ufrag", 4);
  if (!u) return Error{u.error()};
  d.ice_ufrag = std::move(*u);
  const Attr* pwd = first("ice-pwd");
  if (!pwd) return err("missing a=ice-pwd");
  auto p = parse_ice_value(*pwd, "ice-pwd", 22);
  if (!p) return Error{p.error()};
  d.ice_pwd = std::move(*p);

  // Fingerprints: all lines of the first source that has any.
  const Section* fp_source = nullptr;
  for (const Section* s : sources)
    if (!fp_source && s->find("fingerprint")) fp_source = s;
  if (!fp_source) return err("missing a=fingerprint");
  std::optional<Fingerprint> chosen_fp;
  std::string unsupported;
  for (const Attr& a : fp_source->attrs) {
    if (a.name != "fingerprint") continue;
    auto f = parse_fingerprint(a);
    if (!f) return Error{f.error()};
    if (!f->fp) {
      if (unsupported.empty()) unsupported = f->algorithm;
      continue;
    }
    if (!chosen_fp || (chosen_fp->algorithm != "sha-256" && f->fp->algorithm == "sha-256"))
      chosen_fp = std::move(f->fp);
  }
  if (!chosen_fp) return err("unsupported fingerprint algorithm " + printable(unsupported));
  d.fingerprint = std::move(*chosen_fp);

  if (const Attr* s = first("setup")) {
    auto setup = parse_setup(*s);
    if (!setup) return Error{setup.error()};
    d.setup = *setup;
    d.has_setup = true;
  }
  if (const Attr* o = first("ice-options"))
    for (std::string_view t : split_spaces(o->value)) d.ice_options.emplace_back(t);

  // SCTP parameters (data section only).
  if (dm.legacy_sctpmap) {
    if (!parse_uint(split_spaces(dm.formats)[0], d.sctp_port) || d.sctp_port == 0)
      return err(line_error(ds.line, "bad SCTP port " + quote(dm.formats)));
  }
  for (const Attr& a : ds.attrs) {
    if (a.name == "sctp-port" && !dm.legacy_sctpmap) {
      if (!parse_uint(a.value, d.sctp_port) || d.sctp_port == 0)
        return err(line_error(a.line, "a=sctp-port " + quote(a.value) + " is not a port 1-65535"));
    } else if (a.name == "max-message-size") {
      if (a.value.empty() || !std::all_of(a.value.begin(), a.value.end(), is_digit))
        return err(line_error(a.line, "a=max-message-size " + quote(a.value) + " is not a number"));
      uint64_t v = 0;
      if (!parse_uint(a.value, v) || v > 0xFFFFFFFFull) v = 0xFFFFFFFFull;  // huge: clamp
      d.max_message_size_unlimited = (v == 0);
      d.max_message_size = v == 0 ? kUnlimitedMaxMessageSize : static_cast<uint32_t>(v);
    } else if (a.name == "end-of-candidates") {
      d.end_of_candidates = true;
    }
  }

  // Candidates: the data section's, else the tagged section's.
  for (const Section* s : sources) {
    if (s == &session) break;
    for (const Attr& a : s->attrs) {
      if (a.name != "candidate") continue;
      auto c = parse_candidate(a.value);
      if (!c)
        return err(line_error(a.line, "a=candidate needs <foundation> <component> <transport> "
                                      "<priority> <address> <port> typ <type>"));
      d.candidates.push_back(std::move(*c));
    }
    if (!d.candidates.empty()) break;
  }
  return d;
}

namespace {

uint64_t session_id_or_random(uint64_t id) {
  while (id == 0) {
    uint8_t b[8];
    random_bytes(b);
    for (uint8_t x : b) id = (id << 8) | x;
    id &= 0x7FFFFFFFFFFFFFFFull;  // JSEP: representable as a signed 64-bit integer
  }
  return id;
}

void session_header(std::string& out, const LocalParams& params) {
  out += "v=0\r\no=- ";
  out += std::to_string(session_id_or_random(params.session_id));
  out += " 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
}

bool usable_address(std::string_view ip) {
  if (ip.empty() || ip.size() > 253) return false;
  return std::all_of(ip.begin(), ip.end(), [](char c) {
    return is_alpha(c) || is_digit(c) || c == '.' || c == ':' || c == '-';
  });
}

// The transport + SCTP part of the data section (everything after c=).
void data_attributes(std::string& out, const LocalParams& params, std::string_view mid,
                     Setup setup, bool legacy) {
  out += "c=IN IP4 0.0.0.0\r\n";
  if (!mid.empty()) {
    out += "a=mid:";
    out += mid;
    out += kCrlf;
  }
  out += "a=ice-ufrag:" + params.ice_ufrag + "\r\n";
  out += "a=ice-pwd:" + params.ice_pwd + "\r\n";
  const bool trickle = params.ice_trickle && !params.ice_lite;  // lite agents do not trickle
  if (trickle) out += "a=ice-options:trickle\r\n";
  out += "a=fingerprint:sha-256 " + params.fingerprint_sha256 + "\r\n";
  out += "a=setup:";
  out += to_string(setup);
  out += kCrlf;
  if (legacy) {
    out += "a=sctpmap:" + std::to_string(params.sctp_port) + " webrtc-datachannel 1024\r\n";
  } else {
    out += "a=sctp-port:" + std::to_string(params.sctp_port) + "\r\n";
  }
  out += "a=max-message-size:" + std::to_string(params.max_message_size) + "\r\n";
  uint32_t n = 0;
  for (const auto& c : params.candidates) {
    std::string_view ip = c.ip;
    if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    if (c.port == 0 || !usable_address(ip)) continue;
    ++n;
    // RFC 8445 priority: host type preference 126, local preference descending, component 1.
    // ICE-TCP (RFC 6544 §4.2): local preference 2^13 * direction-pref (passive host: 4) plus
    // a descending part, so every TCP candidate ranks below every UDP one.
    const uint32_t order = std::min<uint32_t>(n - 1, 8191);
    const uint32_t local_pref = c.tcp ? (4u << 13) + (8191 - order) : 65535 - order;
    const uint32_t priority = (126u << 24) | (local_pref << 8) | 255u;
    out += "a=candidate:" + std::to_string(n) + (c.tcp ? " 1 tcp " : " 1 udp ") +
           std::to_string(priority) + " ";
    out += ip;
    out += " " + std::to_string(c.port) + (c.tcp ? " typ host tcptype passive\r\n" : " typ host\r\n");
  }
  // With no candidate at all (the native client: the ICE-lite server learns its address from its
  // checks), end-of-candidates would tell a full agent that there is nothing to check, and some
  // (aioice) then give up; say nothing instead.
  if (!trickle && n > 0) out += "a=end-of-candidates\r\n";
}

}  // namespace

std::string build_answer(const Description& offer, const LocalParams& params) {
  std::string out;
  out.reserve(1024 + offer.media.size() * 64);
  session_header(out, params);
  const bool have_data = offer.data_index < offer.media.size();
  const std::string data_mid = have_data ? offer.media[offer.data_index].mid : std::string();
  if (!data_mid.empty()) out += "a=group:BUNDLE " + data_mid + "\r\n";
  if (params.ice_lite) out += "a=ice-lite\r\n";
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const Media& m = offer.media[i];
    if (i == offer.data_index) {
      if (m.legacy_sctpmap) {
        out += "m=application 9 " + m.protocol + " " + std::to_string(params.sctp_port) + "\r\n";
      } else {
        out += "m=application 9 " + m.protocol + " webrtc-datachannel\r\n";
      }
      data_attributes(out, params, m.mid, answer_setup(offer.setup, params.setup), m.legacy_sctpmap);
      continue;
    }
    // Rejected (RFC 3264 section 6, JSEP 5.3.1): port 0, formats kept, mid kept.
    out += "m=" + m.kind + " 0 " + m.protocol + " " + m.formats + "\r\n";
    out += "c=IN IP4 0.0.0.0\r\n";
    if (!m.mid.empty()) out += "a=mid:" + m.mid + "\r\n";
  }
  return out;
}

std::string build_offer(const LocalParams& params) {
  std::string out;
  session_header(out, params);
  out += "a=group:BUNDLE 0\r\n";
  if (params.ice_lite) out += "a=ice-lite\r\n";
  out += "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
  const Setup setup = params.setup == Setup::Passive ? Setup::ActPass : params.setup;
  data_attributes(out, params, "0", setup, false);
  return out;
}

}  // namespace peerrtc::sdp
