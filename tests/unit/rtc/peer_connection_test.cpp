// rtc::PeerConnection without sockets: a server (ICE-lite) and a client (controlling ICE), or a
// hand-driven "raw" client (its own DTLS and SCTP, so it can put any SCTP message on any
// stream), joined by an in-memory network: a FIFO of datagrams between made-up addresses,
// delivered by a pump loop that advances a fake clock in 10 ms steps and gives the same elapsed
// time to sctp::Stack::handle_timers (as net::Loop does). Nothing sleeps; the network loses
// nothing unless a test drops datagrams on purpose.
#include "rtc/peer_connection.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dcep/dcep.hpp"
#include "dtls/dtls.hpp"
#include "sctp/sctp.hpp"
#include "sdp/sdp.hpp"
#include "stun/stun.hpp"

using namespace peerrtc;
using namespace std::chrono_literals;
using rtc::Clock;
using rtc::Endpoint;
using rtc::PeerConnection;

namespace {

Endpoint v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  Endpoint e;
  e.ip[0] = a;
  e.ip[1] = b;
  e.ip[2] = c;
  e.ip[3] = d;
  e.port = port;
  return e;
}

Endpoint v6_example(uint16_t port) {
  Endpoint e;
  e.ipv6 = true;
  const uint8_t ip[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34};
  std::copy(std::begin(ip), std::end(ip), e.ip.begin());
  e.port = port;
  return e;
}

std::string str(ByteView b) {
  return std::string(as_chars(b));
}
Bytes bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}
bool is_dtls(ByteView d) {
  return !d.empty() && d[0] >= 20 && d[0] <= 63;
}
bool is_stun_byte(ByteView d) {
  return !d.empty() && d[0] <= 3;
}

rtc::ChannelInit ch(std::string label, std::optional<uint16_t> id = std::nullopt) {
  rtc::ChannelInit init;
  init.label = std::move(label);
  init.id = id;
  return init;
}

// ---------------------------------------------------------------------------------------------
// The network: one FIFO, hosts by address, an optional filter that drops datagrams.

struct Packet {
  Bytes data;
  Endpoint from, to;
};

struct Net {
  using Receiver = std::function<void(ByteView, const Endpoint& from)>;
  std::deque<Packet> queue;
  std::vector<std::pair<std::function<Endpoint()>, Receiver>>
      hosts;                                // address looked up per delivery
  std::function<bool(const Packet&)> drop;  // true = lost on the way
  std::vector<Packet> sent;                 // everything ever sent, in order
  std::vector<Packet> undeliverable;        // to an address nobody has
  std::vector<Packet> dropped;

  void send(ByteView d, const Endpoint& from, const Endpoint& to) {
    Packet p{Bytes(d.begin(), d.end()), from, to};
    sent.push_back(p);
    queue.push_back(std::move(p));
  }
  void deliver_all() {
    size_t guard = 0;
    while (!queue.empty()) {
      Packet p = std::move(queue.front());
      queue.pop_front();
      ASSERT_LT(++guard, 100000u) << "datagram storm";
      if (drop && drop(p)) {
        dropped.push_back(std::move(p));
        continue;
      }
      bool delivered = false;
      for (auto& [addr, rx] : hosts) {
        if (addr() == p.to) {
          rx(p.data, p.from);
          delivered = true;
          break;
        }
      }
      if (!delivered) undeliverable.push_back(std::move(p));
    }
  }
};

// What a PeerConnection told its owner.
struct Events {
  int connected = 0;
  std::vector<std::string> closed;
  std::vector<Clock::time_point> closed_at;
  std::vector<Endpoint> addresses;
  std::vector<rtc::ChannelInfo> opened;
  struct Message {
    uint16_t stream;
    bool binary;
    Bytes data;
  };
  std::vector<Message> messages;
  std::vector<uint16_t> channel_closed;
  std::vector<std::string> retired;  // ufrags retired after an ICE restart
};

// ---------------------------------------------------------------------------------------------
// STUN helpers.

uint32_t crc32(ByteView data) {
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t b : data) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

void append_attr(Bytes& out, uint16_t type, ByteView value) {
  append_be16(out, type);
  append_be16(out, static_cast<uint16_t>(value.size()));
  out.insert(out.end(), value.begin(), value.end());
  while (out.size() % 4) out.push_back(0);
}

// A request built by stun::build plus attributes stun::build cannot write (e.g. unknown ones),
// then MESSAGE-INTEGRITY (HMAC-SHA1 with `key`, RFC 8489 §14.5) and FINGERPRINT, by hand.
Bytes build_with_extra(const stun::Message& m, const std::vector<std::pair<uint16_t, Bytes>>& extra,
                       const std::string& key) {
  Bytes out = stun::build(m, "", false);
  for (const auto& [type, value] : extra) append_attr(out, type, value);
  store_be16(out.data() + 2, static_cast<uint16_t>(out.size() + 24 - 20));
  uint8_t mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  EXPECT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA1", nullptr, key.data(), key.size(), out.data(),
                      out.size(), mac, sizeof(mac), &mac_len),
            nullptr);
  EXPECT_EQ(mac_len, 20u);
  append_attr(out, stun::attr::kMessageIntegrity, ByteView(mac, 20));
  store_be16(out.data() + 2, static_cast<uint16_t>(out.size() + 8 - 20));
  Bytes fp(4);
  store_be32(fp.data(), crc32(out) ^ 0x5354554eu);
  append_attr(out, stun::attr::kFingerprint, fp);
  return out;
}

struct CheckSpec {
  std::optional<std::string> username;
  std::string key;  // empty: no MESSAGE-INTEGRITY
  bool use_candidate = true;
  std::optional<uint64_t> controlling = 0x1122334455667788ull;
  std::optional<uint64_t> controlled;
};

stun::Message check_message(const CheckSpec& s) {
  stun::Message m;
  m.cls = stun::Class::Request;
  m.transaction_id = stun::new_transaction_id();
  m.username = s.username;
  m.priority = 0x6E7F1EFF;
  m.use_candidate = s.use_candidate;
  m.ice_controlling = s.controlling;
  m.ice_controlled = s.controlled;
  return m;
}

Bytes build_check(const CheckSpec& s) {
  return stun::build(check_message(s), s.key, true);
}

// ---------------------------------------------------------------------------------------------
// A client without PeerConnection: ICE by hand, dtls::Transport and sctp::Association used
// directly, so a test can send any SCTP message (PPID, stream) and see every one the server sends.

struct RawClient {
  Net& net;
  Endpoint addr;
  Endpoint server;
  uint16_t streams;
  std::shared_ptr<dtls::Certificate> cert;
  std::string ufrag = "rawclientufrag";
  std::string pwd = "rawclientpasswordrawclientpw";
  sdp::Description answer;
  std::unique_ptr<dtls::Transport> dtls;
  std::unique_ptr<sctp::Association> sctp;
  bool sctp_up = false;
  std::vector<std::string> closed;
  struct Message {
    uint16_t stream;
    uint32_t ppid;
    Bytes data;
  };
  std::vector<Message> received;
  std::vector<Bytes> sctp_in;               // every SCTP packet from the server (decrypted)
  std::function<void(Bytes&)> rewrite_out;  // edits our SCTP packets before DTLS

  RawClient(Net& n, Endpoint a, Endpoint s, uint16_t stream_count,
            std::shared_ptr<dtls::Certificate> c)
      : net(n), addr(a), server(s), streams(stream_count), cert(std::move(c)) {}

  std::string offer() const {
    sdp::LocalParams p;
    p.ice_ufrag = ufrag;
    p.ice_pwd = pwd;
    p.fingerprint_sha256 = cert->fingerprint_sha256();
    p.setup = sdp::Setup::ActPass;
    return sdp::build_offer(p);
  }

  void send_check() {
    CheckSpec s;
    s.username = answer.ice_ufrag + ":" + ufrag;
    s.key = answer.ice_pwd;
    net.send(build_check(s), addr, server);
  }

  void receive(ByteView d, const Endpoint&) {
    if (is_stun_byte(d)) {
      auto m = stun::parse(d);
      if (m && m->cls == stun::Class::SuccessResponse && !dtls) start_dtls();
    } else if (is_dtls(d) && dtls) {
      dtls->receive(d);
    }
  }

  void start_dtls() {
    dtls::Transport::Callbacks cb;
    cb.send = [this](ByteView d) { net.send(d, addr, server); };
    cb.on_connected = [this] { start_sctp(); };
    cb.on_data = [this](ByteView d) {
      sctp_in.emplace_back(d.begin(), d.end());
      if (sctp) sctp->receive(d);
    };
    cb.on_closed = [this](const std::string& r) { closed.push_back("DTLS: " + r); };
    dtls = std::make_unique<dtls::Transport>(cert, dtls::Role::Client, answer.fingerprint.algorithm,
                                             answer.fingerprint.digest, std::move(cb));
    dtls->start();
  }

  void start_sctp() {
    sctp::Association::Config c;
    c.streams = streams;
    sctp::Association::Callbacks cb;
    cb.send = [this](ByteView p) {
      Bytes packet(p.begin(), p.end());
      if (rewrite_out) {
        rewrite_out(packet);
        std::fill(packet.begin() + 8, packet.begin() + 12, 0);
        const uint32_t crc = sctp::checksum(packet);
        std::memcpy(packet.data() + 8, &crc, 4);
      }
      if (dtls) dtls->send(packet);
    };
    cb.on_connected = [this] { sctp_up = true; };
    cb.on_message = [this](uint16_t stream, uint32_t ppid, ByteView m) {
      received.push_back({stream, ppid, Bytes(m.begin(), m.end())});
    };
    cb.on_closed = [this](const std::string& r) { closed.push_back("SCTP: " + r); };
    sctp = std::make_unique<sctp::Association>(c, std::move(cb));
    sctp->connect();
  }

  void tick() {
    if (!dtls) return;
    auto t = dtls->next_timeout();
    if (t && t->count() <= 0) dtls->handle_timeout();
  }

  sctp::SendStatus send(uint16_t stream, uint32_t ppid, ByteView data, bool ordered = true) {
    sctp::Reliability r;
    r.ordered = ordered;
    return sctp->send(stream, ppid, data, r);
  }
  sctp::SendStatus send_open(uint16_t stream, const std::string& label) {
    dcep::Open o;
    o.label = label;
    return send(stream, dcep::ppid::kDcep, dcep::encode_open(o));
  }
  size_t acks_on(uint16_t stream) const {
    return std::count_if(received.begin(), received.end(), [&](const Message& m) {
      return m.stream == stream && m.ppid == dcep::ppid::kDcep && dcep::is_ack(m.data);
    });
  }

  ~RawClient() {
    sctp.reset();  // its ABORT goes out through dtls, so before it
    dtls.reset();
  }
};

// The chunks of an SCTP packet (after the 12-byte common header): calls f(type, offset, length).
template <typename F>
void for_each_chunk(const Bytes& packet, F f) {
  size_t off = 12;
  while (off + 4 <= packet.size()) {
    const uint16_t len = load_be16(packet.data() + off + 2);
    if (len < 4 || off + len > packet.size()) return;
    f(packet[off], off, len);
    off += (len + 3u) & ~3u;
  }
}

// ---------------------------------------------------------------------------------------------

class PeerConnectionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sctp::Stack::init();
    if (!server_cert_) server_cert_ = dtls::Certificate::generate("rtc-test-server");
    if (!client_cert_) client_cert_ = dtls::Certificate::generate("rtc-test-client");
  }

  void TearDown() override {
    client.reset();
    server.reset();
    raw.reset();
    net.queue.clear();
    EXPECT_EQ(sctp::Stack::associations(), 0u) << "an SCTP association outlived its owner";
  }

  // --- construction ---------------------------------------------------------------------------

  PeerConnection::Callbacks callbacks(Events& ev,
                                      std::function<void(ByteView, const Endpoint&)> send) {
    PeerConnection::Callbacks cb;
    cb.send_datagram = std::move(send);
    cb.on_address = [&ev](const Endpoint& e) { ev.addresses.push_back(e); };
    cb.on_connected = [&ev] { ++ev.connected; };
    cb.on_channel_open = [&ev](const rtc::ChannelInfo& ch) { ev.opened.push_back(ch); };
    cb.on_message = [&ev](uint16_t s, bool bin, ByteView m) {
      ev.messages.push_back({s, bin, Bytes(m.begin(), m.end())});
    };
    cb.on_channel_closed = [&ev](uint16_t s) { ev.channel_closed.push_back(s); };
    cb.on_ufrag_retired = [&ev](const std::string& u) { ev.retired.push_back(u); };
    cb.on_closed = [this, &ev](const std::string& r) {
      ev.closed.push_back(r);
      ev.closed_at.push_back(now);
    };
    return cb;
  }

  PeerConnection::Callbacks server_callbacks() {
    return callbacks(sev, [this](ByteView d, const Endpoint& to) { net.send(d, server_addr, to); });
  }

  void add_server_host() {
    net.hosts.emplace_back([this] { return server_addr; },
                           [this](ByteView d, const Endpoint& from) {
                             if (is_stun_byte(d)) {
                               auto m = stun::parse(d);
                               if (m && m->cls == stun::Class::Request)
                                 last_request_at_server = now;
                             }
                             if (server) server->receive_datagram(d, from, now);
                           });
  }

  // The client's offer (optionally edited as text), parsed; the server made from it.
  void make_server(rtc::Config scfg = {}, std::function<std::string(std::string)> edit_offer = {}) {
    client = PeerConnection::create_client(
        client_cert_, ccfg,
        callbacks(cev, [this](ByteView d, const Endpoint& to) { net.send(d, client_addr, to); }),
        now);
    std::string offer = client->local_description({});
    if (edit_offer) offer = edit_offer(offer);
    auto parsed = sdp::parse(offer);
    ASSERT_TRUE(parsed) << parsed.error();
    auto s = PeerConnection::create_server(*parsed, server_cert_, scfg, server_callbacks(), now);
    ASSERT_TRUE(s) << s.error();
    server = std::move(*s);
    add_server_host();
    answer_sdp = server->local_description({{"10.0.0.1", server_addr.port, false}});
    auto a = sdp::parse(answer_sdp);
    ASSERT_TRUE(a) << a.error();
    answer = *a;
  }

  // Server and client wired through the network; the client has the answer (checks start).
  void make_pair(rtc::Config scfg = {}, std::function<std::string(std::string)> edit_offer = {}) {
    make_server(scfg, std::move(edit_offer));
    if (HasFatalFailure()) return;
    net.hosts.emplace_back(
        [this] { return client_addr; },
        [this](ByteView d, const Endpoint& from) { client->receive_datagram(d, from, now); });
    auto ok = client->set_remote_answer(answer);
    ASSERT_TRUE(ok) << ok.error();
  }

  void connect_pair(rtc::Config scfg = {},
                    std::function<std::string(std::string)> edit_offer = {}) {
    make_pair(scfg, std::move(edit_offer));
    if (HasFatalFailure()) return;
    ASSERT_TRUE(run_until([&] { return sev.connected == 1 && cev.connected == 1; }, 2000))
        << "server " << rtc::to_string(server->state()) << ", client "
        << rtc::to_string(client->state());
    EXPECT_EQ(server->state(), rtc::State::Connected);
    EXPECT_EQ(client->state(), rtc::State::Connected);
  }

  // A server for the raw client's offer, and the raw client connected to it (SCTP up).
  void connect_raw(rtc::Config scfg = {}, uint16_t raw_streams = 64) {
    raw = std::make_unique<RawClient>(net, client_addr, server_addr, raw_streams, client_cert_);
    auto parsed = sdp::parse(raw->offer());
    ASSERT_TRUE(parsed) << parsed.error();
    auto s = PeerConnection::create_server(*parsed, server_cert_, scfg, server_callbacks(), now);
    ASSERT_TRUE(s) << s.error();
    server = std::move(*s);
    add_server_host();
    net.hosts.emplace_back([this] { return raw->addr; },
                           [this](ByteView d, const Endpoint& from) { raw->receive(d, from); });
    auto a = sdp::parse(server->local_description({{"10.0.0.1", server_addr.port, false}}));
    ASSERT_TRUE(a) << a.error();
    raw->answer = *a;
    raw->send_check();
    ASSERT_TRUE(run_until([&] { return raw->sctp_up && sev.connected == 1; }, 2000));
  }

  // --- time -----------------------------------------------------------------------------------

  // One 10 ms turn: timers (SCTP, then each peer's tick), then every datagram in flight.
  void step() {
    now += 10ms;
    sctp::Stack::handle_timers(10);
    if (server) server->tick(now);
    if (client) client->tick(now);
    if (raw) raw->tick();
    net.deliver_all();
  }
  void advance(std::chrono::milliseconds d) {
    for (auto t = 0ms; t < d; t += 10ms) step();
  }
  template <typename Pred>
  bool run_until(Pred pred, int max_ms) {
    net.deliver_all();
    for (int t = 0; !pred(); t += 10) {
      if (t >= max_ms) return false;
      step();
    }
    return true;
  }

  // --- talking to the server directly ---------------------------------------------------------

  // Feeds one datagram to the server and returns what it sent back (directly, not via the pump).
  std::vector<Packet> to_server(ByteView d, const Endpoint& from) {
    const size_t before = net.sent.size();
    const size_t queued = net.queue.size();
    server->receive_datagram(d, from, now);
    std::vector<Packet> out(net.sent.begin() + static_cast<std::ptrdiff_t>(before), net.sent.end());
    net.queue.resize(queued);  // the answers were taken here, not delivered
    return out;
  }
  // The only datagram the server answered with, parsed as STUN.
  stun::Message only_stun_reply(const std::vector<Packet>& out, const Endpoint& to) {
    EXPECT_EQ(out.size(), 1u);
    if (out.size() != 1) return {};
    EXPECT_EQ(out[0].to, to);
    auto m = stun::parse(out[0].data);
    EXPECT_TRUE(m.has_value());
    return m.value_or(stun::Message{});
  }
  std::string server_username() const { return answer.ice_ufrag + ":" + client->local_ufrag(); }

  static inline std::shared_ptr<dtls::Certificate> server_cert_, client_cert_;

  Clock::time_point now = Clock::time_point{} + 1h;
  Net net;  // before the peers: their destructors still send (SCTP ABORT)
  Endpoint server_addr = v4(10, 0, 0, 1, 3478);
  Endpoint client_addr = v4(192, 168, 1, 2, 50000);
  rtc::Config ccfg;
  Events sev, cev;
  std::optional<Clock::time_point> last_request_at_server;
  std::string answer_sdp;
  sdp::Description answer;
  std::unique_ptr<PeerConnection> server, client;
  std::unique_ptr<RawClient> raw;
};

// =============================================================================================
// ICE-lite: authentication of Binding requests

TEST_F(PeerConnectionTest, RequestWithoutUsernameOrIntegrityGets400) {
  make_server();
  ASSERT_FALSE(HasFatalFailure());
  const Endpoint from = v4(203, 0, 113, 7, 40000);

  CheckSpec no_username;  // MESSAGE-INTEGRITY with the right key, but no USERNAME
  no_username.key = answer.ice_pwd;
  auto req = check_message(no_username);
  auto res = only_stun_reply(to_server(stun::build(req, no_username.key, true), from), from);
  EXPECT_EQ(res.cls, stun::Class::ErrorResponse);
  EXPECT_EQ(res.error_code, std::optional<uint16_t>(400));
  EXPECT_EQ(res.transaction_id, req.transaction_id);
  EXPECT_FALSE(res.has_integrity);
  EXPECT_TRUE(res.has_fingerprint);
  EXPECT_EQ(server->counters().stun_bad, 1u);

  CheckSpec no_integrity;  // USERNAME right, no MESSAGE-INTEGRITY
  no_integrity.username = server_username();
  req = check_message(no_integrity);
  res = only_stun_reply(to_server(stun::build(req, "", true), from), from);
  EXPECT_EQ(res.cls, stun::Class::ErrorResponse);
  EXPECT_EQ(res.error_code, std::optional<uint16_t>(400));
  EXPECT_EQ(res.transaction_id, req.transaction_id);
  EXPECT_EQ(server->counters().stun_bad, 2u);

  // Neither check selected an address or started DTLS.
  EXPECT_TRUE(sev.addresses.empty());
  EXPECT_FALSE(server->remote_address().has_value());
  EXPECT_EQ(server->state(), rtc::State::Checking);
}

TEST_F(PeerConnectionTest, WrongUfragOrPasswordGets401) {
  make_server();
  ASSERT_FALSE(HasFatalFailure());
  const Endpoint from = v4(203, 0, 113, 7, 40000);
  struct Case {
    const char* what;
    std::string username, key;
  };
  const std::vector<Case> cases = {
      {"wrong ufrag", "notTheServerUfrag:" + client->local_ufrag(), answer.ice_pwd},
      {"ufrag without the colon", answer.ice_ufrag, answer.ice_pwd},
      {"the client's own ufrag first", client->local_ufrag() + ":" + answer.ice_ufrag,
       answer.ice_pwd},
      {"wrong password", server_username(), answer.ice_pwd + "x"},
      {"the offer's password", server_username(), client->local_ufrag()},
  };
  uint64_t bad = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    CheckSpec s;
    s.username = c.username;
    s.key = c.key;
    auto req = check_message(s);
    auto res = only_stun_reply(to_server(stun::build(req, s.key, true), from), from);
    EXPECT_EQ(res.cls, stun::Class::ErrorResponse);
    EXPECT_EQ(res.error_code, std::optional<uint16_t>(401));
    EXPECT_EQ(res.transaction_id, req.transaction_id);
    EXPECT_FALSE(res.has_integrity) << "an unauthenticated request gets no MESSAGE-INTEGRITY";
    EXPECT_EQ(server->counters().stun_bad, ++bad);
  }
  EXPECT_TRUE(sev.addresses.empty());
  EXPECT_EQ(server->state(), rtc::State::Checking);
}

TEST_F(PeerConnectionTest, UnknownComprehensionRequiredAttributeGets420) {
  make_server();
  ASSERT_FALSE(HasFatalFailure());
  const Endpoint from = v4(203, 0, 113, 7, 40000);
  CheckSpec s;
  s.username = server_username();
  s.key = answer.ice_pwd;

  // The hand-built encoding authenticates when it adds nothing (so the 420 below is about the
  // attribute, not the credentials) ...
  auto plain = check_message(s);
  auto res = only_stun_reply(to_server(build_with_extra(plain, {}, s.key), from), from);
  ASSERT_EQ(res.cls, stun::Class::SuccessResponse);
  EXPECT_EQ(server->counters().stun_bad, 0u);

  // ... and so does a comprehension-optional unknown attribute (>= 0x8000): ignored.
  auto optional_attr = check_message(s);
  res = only_stun_reply(
      to_server(build_with_extra(optional_attr, {{0x8055, bytes("opt")}}, s.key), from), from);
  EXPECT_EQ(res.cls, stun::Class::SuccessResponse);
  EXPECT_EQ(server->counters().stun_bad, 0u);

  // Two comprehension-required ones (< 0x8000) we do not know: 420 listing both.
  auto req = check_message(s);
  res = only_stun_reply(
      to_server(build_with_extra(req, {{0x7FFF, bytes("x")}, {0x0030, Bytes(4, 0)}}, s.key), from),
      from);
  EXPECT_EQ(res.cls, stun::Class::ErrorResponse);
  EXPECT_EQ(res.error_code, std::optional<uint16_t>(420));
  EXPECT_EQ(res.transaction_id, req.transaction_id);
  EXPECT_EQ(res.unknown_attributes, (std::vector<uint16_t>{0x7FFF, 0x0030}));
  EXPECT_EQ(server->counters().stun_bad, 1u);
}

TEST_F(PeerConnectionTest, ValidCheckGetsAuthenticatedSuccessWithTheSendersAddress) {
  make_server();
  ASSERT_FALSE(HasFatalFailure());
  for (const Endpoint& from : {v4(203, 0, 113, 7, 40000), v6_example(40001)}) {
    SCOPED_TRACE(from.ipv6 ? "IPv6" : "IPv4");
    CheckSpec s;
    s.username = server_username();
    s.key = answer.ice_pwd;  // the server's password, as its answer says
    s.use_candidate = false;
    auto req = check_message(s);
    auto out = to_server(stun::build(req, s.key, true), from);
    ASSERT_EQ(out.size(), 1u);
    auto res = stun::parse(out[0].data);  // parse() fails on a wrong FINGERPRINT
    ASSERT_TRUE(res);
    EXPECT_EQ(out[0].to, from);
    EXPECT_EQ(res->cls, stun::Class::SuccessResponse);
    EXPECT_EQ(res->method, stun::kMethodBinding);
    EXPECT_EQ(res->transaction_id, req.transaction_id);
    EXPECT_EQ(res->xor_mapped_address, std::optional<Endpoint>(from));
    EXPECT_TRUE(res->has_fingerprint);
    ASSERT_TRUE(res->has_integrity);
    EXPECT_TRUE(stun::verify_integrity(out[0].data, *res, answer.ice_pwd));
    EXPECT_FALSE(stun::verify_integrity(out[0].data, *res, answer.ice_pwd + "x"));
    EXPECT_FALSE(res->error_code.has_value());
  }
  EXPECT_EQ(server->counters().stun_bad, 0u);
  // The first valid check picks the address (the later one, without USE-CANDIDATE, does not)
  // and starts DTLS (as the DTLS server here: it waits for the ClientHello).
  ASSERT_EQ(sev.addresses.size(), 1u);
  EXPECT_EQ(sev.addresses[0], v4(203, 0, 113, 7, 40000));
  EXPECT_EQ(server->remote_address(), std::optional<Endpoint>(v4(203, 0, 113, 7, 40000)));
  EXPECT_EQ(server->state(), rtc::State::Connecting);
}

TEST_F(PeerConnectionTest, DtlsFromAnAddressThatNeverPassedACheckIsDropped) {
  make_server();
  ASSERT_FALSE(HasFatalFailure());
  const Endpoint checked = v4(203, 0, 113, 7, 40000);
  const Endpoint other = v4(203, 0, 113, 8, 40000);
  // A DTLS 1.2 handshake record header (ClientHello-ish); its content doesn't matter.
  Bytes record = {22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0};

  EXPECT_TRUE(to_server(record, checked).empty());  // no check yet from anyone
  EXPECT_EQ(server->counters().dtls_dropped, 1u);

  CheckSpec s;
  s.username = server_username();
  s.key = answer.ice_pwd;
  auto res = only_stun_reply(to_server(build_check(s), checked), checked);
  ASSERT_EQ(res.cls, stun::Class::SuccessResponse);

  EXPECT_TRUE(to_server(record, other).empty());  // checked address is a different one
  EXPECT_EQ(server->counters().dtls_dropped, 2u);
  Endpoint same_ip_other_port = checked;
  same_ip_other_port.port = 40002;
  EXPECT_TRUE(to_server(record, same_ip_other_port).empty());
  EXPECT_EQ(server->counters().dtls_dropped, 3u);
  Endpoint same_but_tcp = checked;
  same_but_tcp.tcp = true;
  EXPECT_TRUE(to_server(record, same_but_tcp).empty());
  EXPECT_EQ(server->counters().dtls_dropped, 4u);
  // Neither STUN nor DTLS (RFC 7983: 64..127 is TURN channel data, 128..191 RTP): dropped too.
  Bytes rtp = {0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_TRUE(to_server(rtp, checked).empty());
  EXPECT_EQ(server->counters().dtls_dropped, 5u);

  // From the checked address the record reaches DTLS (not counted here).
  to_server(record, checked);
  EXPECT_EQ(server->counters().dtls_dropped, 5u);
  EXPECT_EQ(server->counters().stun_bad, 0u);
}

TEST_F(PeerConnectionTest, IndicationsAndOtherMethodsGetNoAnswer) {
  make_server();
  ASSERT_FALSE(HasFatalFailure());
  const Endpoint from = v4(203, 0, 113, 7, 40000);
  stun::Message ind;
  ind.cls = stun::Class::Indication;
  ind.transaction_id = stun::new_transaction_id();
  EXPECT_TRUE(to_server(stun::build(ind, "", true), from).empty());  // keepalive: no answer
  EXPECT_EQ(server->counters().stun_bad, 0u);

  CheckSpec s;
  s.username = server_username();
  s.key = answer.ice_pwd;
  auto allocate = check_message(s);
  allocate.method = 0x003;  // TURN Allocate
  EXPECT_TRUE(to_server(stun::build(allocate, s.key, true), from).empty());
  EXPECT_EQ(server->counters().stun_bad, 1u);

  Bytes garbage = {0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42};  // truncated header
  EXPECT_TRUE(to_server(garbage, from).empty());
  EXPECT_EQ(server->counters().stun_bad, 2u);
  EXPECT_TRUE(sev.addresses.empty());
}

// =============================================================================================
// ICE roles: a lite agent is always controlled (RFC 8445 §6.1.1) and cannot take the
// controlling role, so a request from a peer that also claims to be controlled is a role
// conflict it resolves by keeping its role: 487 (RFC 8445 §7.3.1.1).

TEST_F(PeerConnectionTest, IceControlledRequestGetsRoleConflict487) {
  make_server();
  ASSERT_FALSE(HasFatalFailure());
  const Endpoint from = v4(203, 0, 113, 7, 40000);
  uint64_t bad = 0;
  // Whatever the tie-breakers: the lite server never switches to controlling.
  for (uint64_t tiebreaker : {uint64_t{0}, uint64_t{0x8000000000000000ull}, ~uint64_t{0}}) {
    SCOPED_TRACE(tiebreaker);
    CheckSpec s;
    s.username = server_username();
    s.key = answer.ice_pwd;
    s.controlling.reset();
    s.controlled = tiebreaker;
    auto req = check_message(s);
    auto out = to_server(stun::build(req, s.key, true), from);
    ASSERT_EQ(out.size(), 1u);
    auto res = stun::parse(out[0].data);
    ASSERT_TRUE(res);
    EXPECT_EQ(out[0].to, from);
    EXPECT_EQ(res->cls, stun::Class::ErrorResponse);
    EXPECT_EQ(res->error_code, std::optional<uint16_t>(487));
    EXPECT_EQ(res->transaction_id, req.transaction_id);
    // The request authenticated, so the error response is authenticated too (RFC 8489 §9.1.3);
    // the controlling side discards one without (RFC 8489 §9.1.5 over UDP).
    ASSERT_TRUE(res->has_integrity);
    EXPECT_TRUE(stun::verify_integrity(out[0].data, *res, answer.ice_pwd));
    EXPECT_EQ(server->counters().stun_bad, ++bad);
  }
  // A rejected check neither selects the path nor starts DTLS ...
  EXPECT_TRUE(sev.addresses.empty());
  EXPECT_FALSE(server->remote_address().has_value());
  EXPECT_EQ(server->state(), rtc::State::Checking);
  Bytes record = {22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0};
  EXPECT_TRUE(to_server(record, from).empty());
  EXPECT_EQ(server->counters().dtls_dropped, 1u);

  // ... while ICE-CONTROLLING (or, leniently, no role attribute at all) is no conflict.
  CheckSpec ok;
  ok.username = server_username();
  ok.key = answer.ice_pwd;
  auto res = only_stun_reply(to_server(build_check(ok), from), from);
  EXPECT_EQ(res.cls, stun::Class::SuccessResponse);
  ok.controlling.reset();
  res = only_stun_reply(to_server(build_check(ok), from), from);
  EXPECT_EQ(res.cls, stun::Class::SuccessResponse);
  EXPECT_EQ(server->counters().stun_bad, bad);
  EXPECT_EQ(sev.addresses, std::vector<Endpoint>{from});
}

// =============================================================================================
// DTLS roles from a=setup

// The first DTLS datagram on the wire: who sent it, and is it a ClientHello?
std::optional<Packet> first_dtls(const Net& net) {
  for (const auto& p : net.sent)
    if (is_dtls(p.data)) return p;
  return std::nullopt;
}
bool is_client_hello(const Bytes& d) {
  return d.size() > 13 && d[0] == 22 && d[13] == 1;
}

TEST_F(PeerConnectionTest, ActpassOfferIsAnsweredPassiveAndTheClientIsTheDtlsClient) {
  connect_pair();
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_TRUE(answer.ice_lite);
  EXPECT_TRUE(answer.has_setup);
  EXPECT_EQ(answer.setup, sdp::Setup::Passive);
  auto hello = first_dtls(net);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->from, client_addr);
  EXPECT_TRUE(is_client_hello(hello->data));
  // Stream ids follow the DTLS role (RFC 8832 §6): the server (DTLS server) takes odd ones.
  auto s = server->open_channel(ch("from-server"));
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(*s, 1);
  auto c = client->open_channel(ch("from-client"));
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(*c, 0);
  ASSERT_TRUE(run_until([&] { return sev.opened.size() == 1 && cev.opened.size() == 1; }, 500));
  EXPECT_EQ(sev.opened[0].stream, 0);
  EXPECT_EQ(sev.opened[0].init.label, "from-client");
  EXPECT_EQ(cev.opened[0].stream, 1);
  EXPECT_EQ(cev.opened[0].init.label, "from-server");
}

std::string replace_setup(std::string sdp, const std::string& to) {
  const std::string from = "a=setup:actpass";
  auto pos = sdp.find(from);
  EXPECT_NE(pos, std::string::npos);
  if (pos != std::string::npos) sdp.replace(pos, from.size(), "a=setup:" + to);
  return sdp;
}

TEST_F(PeerConnectionTest, ActiveOfferMakesTheServerDtlsPassive) {
  connect_pair({}, [](std::string o) { return replace_setup(o, "active"); });
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(answer.setup, sdp::Setup::Passive);
  auto hello = first_dtls(net);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->from, client_addr);
  EXPECT_TRUE(is_client_hello(hello->data));
}

TEST_F(PeerConnectionTest, PassiveOfferMakesTheServerTheDtlsClientAndItStillConnects) {
  connect_pair({}, [](std::string o) { return replace_setup(o, "passive"); });
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(answer.setup, sdp::Setup::Active);
  auto hello = first_dtls(net);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->from, server_addr);
  EXPECT_EQ(hello->to, client_addr);
  EXPECT_TRUE(is_client_hello(hello->data));
  // Now the server is the DTLS client: it takes even stream ids, the client odd ones.
  auto s = server->open_channel(ch("from-server"));
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(*s, 0);
  auto c = client->open_channel(ch("from-client"));
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(*c, 1);
  ASSERT_TRUE(run_until([&] { return sev.opened.size() == 1 && cev.opened.size() == 1; }, 500));
  ASSERT_EQ(client->send_text(1, "hi"), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return sev.messages.size() == 1; }, 500));
  EXPECT_EQ(str(sev.messages[0].data), "hi");
}

TEST_F(PeerConnectionTest, HoldconnOfferIsRefused) {
  client = PeerConnection::create_client(client_cert_, {}, {}, now);
  auto offer = sdp::parse(replace_setup(client->local_description({}), "holdconn"));
  ASSERT_TRUE(offer) << offer.error();
  ASSERT_EQ(offer->setup, sdp::Setup::HoldConn);
  auto s = PeerConnection::create_server(*offer, server_cert_, {}, server_callbacks(), now);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("holdconn"), std::string::npos) << s.error();
}

TEST_F(PeerConnectionTest, ClientRefusesAnAnswerThatDoesNotPickADtlsRole) {
  make_server();
  ASSERT_FALSE(HasFatalFailure());
  for (auto setup : {sdp::Setup::ActPass, sdp::Setup::HoldConn}) {
    auto bad = answer;
    bad.setup = setup;
    auto r = client->set_remote_answer(bad);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("a=setup:active or a=setup:passive"), std::string::npos) << r.error();
  }
  EXPECT_EQ(client->state(), rtc::State::New);
}

// =============================================================================================
// ICE consent (RFC 7675) and the connect timeout

TEST_F(PeerConnectionTest, ConsentExpiresWithoutValidChecksExactlyOnce) {
  rtc::Config scfg;
  scfg.consent_timeout = 5000ms;
  ccfg.consent_timeout = 60000ms;  // only the server's view is under test
  connect_pair(scfg);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(last_request_at_server);

  // The client's datagrams stop reaching the server. Requests with bad credentials from the
  // client's address still arrive: they do not count as consent.
  net.drop = [this](const Packet& p) { return p.from == client_addr && p.to == server_addr; };
  const auto last_valid = *last_request_at_server;
  CheckSpec forged;
  forged.username = server_username();
  forged.key = "not-the-password-at-all!";
  while (now < last_valid + 5000ms) {
    step();
    if ((now - last_valid) % 1000ms == 0ms)
      server->receive_datagram(build_check(forged), client_addr, now);
  }
  net.queue.clear();
  EXPECT_EQ(now, last_valid + 5000ms);
  EXPECT_EQ(server->state(), rtc::State::Connected) << "closed before the timeout";
  EXPECT_TRUE(sev.closed.empty());
  EXPECT_EQ(server->counters().stun_bad, 5u);

  step();  // 5010 ms > consent_timeout
  ASSERT_EQ(sev.closed.size(), 1u);
  EXPECT_EQ(server->state(), rtc::State::Closed);
  EXPECT_NE(sev.closed[0].find("consent"), std::string::npos) << sev.closed[0];
  EXPECT_EQ(sev.closed_at[0], last_valid + 5010ms);

  advance(10s);  // and never again
  EXPECT_EQ(sev.closed.size(), 1u);
  server->close("again");
  EXPECT_EQ(sev.closed.size(), 1u);
}

TEST_F(PeerConnectionTest, ChecksEveryFewSecondsKeepConsent) {
  rtc::Config scfg;
  scfg.consent_timeout = 5000ms;
  ccfg.client_keepalive_interval = 2000ms;
  connect_pair(scfg);
  ASSERT_FALSE(HasFatalFailure());
  const auto start = now;
  size_t checks = 0;
  const size_t sent_before = net.sent.size();
  advance(30s);
  for (size_t i = sent_before; i < net.sent.size(); ++i)
    if (net.sent[i].to == server_addr && is_stun_byte(net.sent[i].data)) ++checks;
  EXPECT_GE(checks, 14u);  // one per 2 s
  EXPECT_LE(checks, 16u);
  EXPECT_EQ(now - start, 30s);
  EXPECT_TRUE(sev.closed.empty()) << sev.closed[0];
  EXPECT_TRUE(cev.closed.empty()) << cev.closed[0];
  EXPECT_EQ(server->state(), rtc::State::Connected);
  EXPECT_EQ(server->counters().stun_bad, 0u);
  // And the association still carries data.
  auto c = client->open_channel(ch("late"));
  ASSERT_TRUE(c);
  ASSERT_TRUE(run_until([&] { return sev.opened.size() == 1; }, 500));
  ASSERT_EQ(client->send_text(*c, "still here"), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return sev.messages.size() == 1; }, 500));
}

TEST_F(PeerConnectionTest, ConnectTimeoutWhenDtlsNeverCompletes) {
  rtc::Config scfg;
  scfg.connect_timeout = 2000ms;
  const auto created = now;
  make_pair(scfg);
  ASSERT_FALSE(HasFatalFailure());
  net.drop = [](const Packet& p) { return is_dtls(p.data); };  // DTLS gets lost, STUN does not
  while (now < created + 2000ms) step();
  EXPECT_EQ(server->state(), rtc::State::Connecting) << "ICE passed; DTLS did not";
  EXPECT_EQ(sev.addresses, std::vector<Endpoint>{client_addr});
  EXPECT_TRUE(sev.closed.empty());
  EXPECT_FALSE(net.dropped.empty());

  step();
  ASSERT_EQ(sev.closed.size(), 1u);
  EXPECT_EQ(sev.closed[0], "connection not established within 2000 ms");
  EXPECT_EQ(sev.closed_at[0], created + 2010ms);
  EXPECT_EQ(sev.connected, 0);
  advance(3s);
  EXPECT_EQ(sev.closed.size(), 1u);
}

TEST_F(PeerConnectionTest, ConnectTimeoutWithoutAnyCheckNamesTheConnectTimeout) {
  // Both limits equal: the connect timeout is the reason given, not consent.
  rtc::Config scfg;
  scfg.connect_timeout = 1000ms;
  scfg.consent_timeout = 1000ms;
  const auto created = now;
  make_server(scfg);
  ASSERT_FALSE(HasFatalFailure());
  advance(1000ms);
  EXPECT_TRUE(sev.closed.empty());
  step();
  ASSERT_EQ(sev.closed.size(), 1u);
  EXPECT_EQ(sev.closed[0], "connection not established within 1000 ms");
  EXPECT_EQ(sev.closed_at[0], created + 1010ms);
}

// =============================================================================================
// Address change (NAT rebinding): a nominating check from a new address moves the path.

TEST_F(PeerConnectionTest, CheckWithUseCandidateFromANewAddressMovesThePath) {
  connect_pair();
  ASSERT_FALSE(HasFatalFailure());
  const Endpoint old_addr = client_addr;
  ASSERT_EQ(sev.addresses, std::vector<Endpoint>{old_addr});
  auto c = client->open_channel(ch("chat"));
  ASSERT_TRUE(c);
  ASSERT_TRUE(run_until([&] { return sev.opened.size() == 1; }, 500));
  ASSERT_EQ(client->send_text(*c, "before"), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return sev.messages.size() == 1; }, 500));
  advance(100ms);    // SACKs settle
  Bytes old_record;  // a DTLS record the client sent from its old address
  for (const auto& p : net.sent)
    if (p.from == old_addr && is_dtls(p.data)) old_record = p.data;
  ASSERT_FALSE(old_record.empty());

  // The NAT gives the client a new port. Its next check (USE-CANDIDATE, as every check of a
  // controlling agent with aggressive nomination here) comes from there.
  client_addr = v4(198, 51, 100, 9, 61000);
  const size_t sent_mark = net.sent.size();
  ASSERT_TRUE(run_until([&] { return sev.addresses.size() == 2; }, 3000));
  EXPECT_EQ(sev.addresses[1], client_addr);
  EXPECT_EQ(server->remote_address(), std::optional<Endpoint>(client_addr));
  EXPECT_EQ(server->state(), rtc::State::Connected);

  // DTLS from the new address is accepted; the server now sends there, and only there.
  const auto dropped_before = server->counters().dtls_dropped;
  ASSERT_EQ(client->send_text(*c, "after"), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return sev.messages.size() == 2; }, 500));
  EXPECT_EQ(str(sev.messages[1].data), "after");
  ASSERT_EQ(server->send_text(*c, "reply"), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return cev.messages.size() == 1; }, 500));
  EXPECT_EQ(server->counters().dtls_dropped, dropped_before);
  for (size_t i = sent_mark; i < net.sent.size(); ++i) {
    if (net.sent[i].from == server_addr && is_dtls(net.sent[i].data)) {
      EXPECT_EQ(net.sent[i].to, client_addr);
    }
  }

  // DTLS from the old address is not.
  to_server(old_record, old_addr);
  EXPECT_EQ(server->counters().dtls_dropped, dropped_before + 1);

  // A valid check without USE-CANDIDATE from a third address is answered but moves nothing.
  const Endpoint third = v4(198, 51, 100, 10, 62000);
  CheckSpec s;
  s.username = server_username();
  s.key = answer.ice_pwd;
  s.use_candidate = false;
  auto res = only_stun_reply(to_server(build_check(s), third), third);
  EXPECT_EQ(res.cls, stun::Class::SuccessResponse);
  EXPECT_EQ(res.xor_mapped_address, std::optional<Endpoint>(third));
  EXPECT_EQ(sev.addresses.size(), 2u);
  EXPECT_EQ(server->remote_address(), std::optional<Endpoint>(client_addr));
  to_server(old_record, third);
  EXPECT_EQ(server->counters().dtls_dropped, dropped_before + 2);
  EXPECT_TRUE(sev.closed.empty());
}

// The selected path's transport closed (the engine: an ICE-TCP connection) and the peer had
// proven another path before: that one takes over, both ways, and nothing ends.
TEST_F(PeerConnectionTest, FallBackToAnEarlierPathWhenTheSelectedOneCloses) {
  connect_pair();
  ASSERT_FALSE(HasFatalFailure());
  const Endpoint first = client_addr;
  auto c = client->open_channel(ch("chat"));
  ASSERT_TRUE(c);
  ASSERT_TRUE(run_until([&] { return sev.opened.size() == 1; }, 500));
  // A second path gets nominated (libwebrtc's ICE-TCP pair after a cut, say).
  client_addr = v4(198, 51, 100, 9, 61000);
  ASSERT_TRUE(run_until([&] { return sev.addresses.size() == 2; }, 3000));
  ASSERT_EQ(server->remote_address(), std::optional<Endpoint>(client_addr));
  // Its connection closes; the client is reachable on the first path again.
  client_addr = first;
  server->fall_back_to(first);
  EXPECT_EQ(server->remote_address(), std::optional<Endpoint>(first));
  ASSERT_EQ(sev.addresses.size(), 3u);
  EXPECT_EQ(sev.addresses.back(), first);
  const size_t mark = net.sent.size();
  const auto dropped = server->counters().dtls_dropped;
  ASSERT_EQ(server->send_text(*c, "to the first path"), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return cev.messages.size() == 1; }, 1000));
  ASSERT_EQ(client->send_text(*c, "from the first path"), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return sev.messages.size() == 1; }, 1000));
  EXPECT_EQ(str(sev.messages[0].data), "from the first path");
  EXPECT_EQ(server->counters().dtls_dropped, dropped);  // DTLS from there is the path's again
  for (size_t i = mark; i < net.sent.size(); ++i) {
    if (net.sent[i].from == server_addr && is_dtls(net.sent[i].data)) {
      EXPECT_EQ(net.sent[i].to, first);
    }
  }
  // A later nominating check still moves the path (the fallback is not nominated).
  client_addr = v4(198, 51, 100, 10, 62000);
  ASSERT_TRUE(run_until([&] { return sev.addresses.size() == 4; }, 3000));
  EXPECT_EQ(server->remote_address(), std::optional<Endpoint>(client_addr));
  EXPECT_EQ(server->state(), rtc::State::Connected);
  EXPECT_TRUE(sev.closed.empty());
}

// =============================================================================================
// ICE restart (RFC 8445 §9, RFC 8839): new ICE credentials, same DTLS and SCTP association.

TEST_F(PeerConnectionTest, IceRestartKeepsDtlsAndSctpAndMovesToTheNewCredentialsAndPath) {
  connect_raw();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(raw->send_open(0, "peerrtc"), sctp::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return sev.opened.size() == 1; }, 500));
  ASSERT_EQ(raw->send(0, dcep::ppid::kString, bytes("before")), sctp::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return sev.messages.size() == 1; }, 500));
  const std::string old_ufrag = server->local_ufrag();
  const std::string old_pwd = raw->answer.ice_pwd;
  const sdp::Fingerprint old_fingerprint = raw->answer.fingerprint;

  // The same offer (credentials unchanged) is no restart: nothing changes.
  auto same = sdp::parse(raw->offer());
  ASSERT_TRUE(same);
  auto r0 = server->restart_ice(*same);
  ASSERT_TRUE(r0) << r0.error();
  EXPECT_FALSE(*r0);
  EXPECT_EQ(server->local_ufrag(), old_ufrag);

  // The client's network changes: it restarts ICE with new credentials, same certificate.
  raw->ufrag = "rawclientrestart";
  raw->pwd = "rawclientpasswordrestart1";
  auto offer = sdp::parse(raw->offer());
  ASSERT_TRUE(offer);
  auto r = server->restart_ice(*offer);
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(*r);
  EXPECT_NE(server->local_ufrag(), old_ufrag);
  EXPECT_EQ(server->previous_ufrag(), old_ufrag);
  auto a = sdp::parse(server->local_description({{"10.0.0.1", server_addr.port, false}}));
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a->ice_ufrag, server->local_ufrag());
  EXPECT_EQ(a->setup, sdp::Setup::Passive);  // the DTLS roles stay
  EXPECT_EQ(a->fingerprint, old_fingerprint);

  // Until the new credentials are used, a check with the old ones still authenticates.
  CheckSpec old_check;
  old_check.username = old_ufrag + ":rawclientufrag";
  old_check.key = old_pwd;
  old_check.use_candidate = false;
  auto res = only_stun_reply(to_server(build_check(old_check), raw->addr), raw->addr);
  EXPECT_EQ(res.cls, stun::Class::SuccessResponse);
  EXPECT_TRUE(sev.retired.empty());

  // The first check with the new credentials, from the new address, moves the path and
  // retires the old credentials; DTLS and SCTP go on over it (no new handshake).
  raw->answer = *a;
  raw->addr = v4(198, 51, 100, 7, 40000);
  net.hosts.emplace_back([this] { return raw->addr; },
                         [this](ByteView d, const Endpoint& from) { raw->receive(d, from); });
  raw->send_check();
  ASSERT_TRUE(run_until([&] { return sev.retired.size() == 1; }, 500));
  EXPECT_EQ(sev.retired[0], old_ufrag);
  EXPECT_TRUE(server->previous_ufrag().empty());
  EXPECT_EQ(server->remote_address(), std::optional<Endpoint>(raw->addr));
  ASSERT_EQ(raw->send(0, dcep::ppid::kString, bytes("after")), sctp::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return sev.messages.size() == 2; }, 1000));
  EXPECT_EQ(str(sev.messages[1].data), "after");
  ASSERT_EQ(server->send_text(0, "reply"), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return raw->received.size() >= 2; }, 1000));
  EXPECT_EQ(str(raw->received.back().data), "reply");
  EXPECT_EQ(sev.connected, 1);
  EXPECT_TRUE(sev.closed.empty());
  EXPECT_TRUE(raw->closed.empty());

  // The old credentials no longer authenticate.
  auto res401 = only_stun_reply(to_server(build_check(old_check), raw->addr), raw->addr);
  EXPECT_EQ(res401.cls, stun::Class::ErrorResponse);
  EXPECT_EQ(res401.error_code, std::optional<uint16_t>(401));
}

TEST_F(PeerConnectionTest, IceRestartIsRefusedForAnotherDtlsEndpointPortOrRole) {
  connect_raw();
  ASSERT_FALSE(HasFatalFailure());
  const std::string ufrag = server->local_ufrag();
  raw->ufrag = "rawclientrestart";
  raw->pwd = "rawclientpasswordrestart1";
  const std::string good = raw->offer();
  auto refused = [&](const std::string& sdp_text, const std::string& why) {
    auto offer = sdp::parse(sdp_text);
    ASSERT_TRUE(offer) << offer.error();
    auto r = server->restart_ice(*offer);
    ASSERT_FALSE(r) << why;
    EXPECT_NE(r.error().find(why), std::string::npos) << r.error();
    EXPECT_EQ(server->local_ufrag(), ufrag);
    EXPECT_TRUE(server->previous_ufrag().empty());
  };
  // A new RTCPeerConnection (another certificate) is no restart.
  auto other = dtls::Certificate::generate("rtc-test-other");
  sdp::LocalParams p;
  p.ice_ufrag = raw->ufrag;
  p.ice_pwd = raw->pwd;
  p.fingerprint_sha256 = other->fingerprint_sha256();
  p.setup = sdp::Setup::ActPass;
  refused(sdp::build_offer(p), "fingerprint");
  // Another SCTP port, or a DTLS role that contradicts the established one (we are passive).
  std::string port = good;
  auto at = port.find("a=sctp-port:5000");
  ASSERT_NE(at, std::string::npos);
  port.replace(at, 16, "a=sctp-port:5001");
  refused(port, "SCTP port");
  refused(replace_setup(good, "passive"), "DTLS roles");
  EXPECT_EQ(server->state(), rtc::State::Connected);
}

// =============================================================================================
// DCEP (RFC 8832) stream rules, from a raw client that can put anything on any stream.

TEST_F(PeerConnectionTest, RemoteOpenOnAnyFreeStreamIsAcceptedAndAcked) {
  connect_raw();
  ASSERT_FALSE(HasFatalFailure());
  // The raw client is the DTLS client (even ids by RFC 8832 §6), but any free id is accepted.
  for (uint16_t stream : {0, 1, 6, 63}) {
    SCOPED_TRACE(stream);
    ASSERT_EQ(raw->send_open(stream, "ch" + std::to_string(stream)), sctp::SendStatus::Ok);
    ASSERT_TRUE(run_until([&] { return raw->acks_on(stream) == 1; }, 500));
    ASSERT_FALSE(sev.opened.empty());
    EXPECT_EQ(sev.opened.back().stream, stream);
    EXPECT_EQ(sev.opened.back().init.label, "ch" + std::to_string(stream));
    EXPECT_TRUE(sev.opened.back().opened_by_remote);
    ASSERT_NE(server->channel(stream), nullptr);
    EXPECT_TRUE(server->channel(stream)->open);
  }
  EXPECT_EQ(sev.opened.size(), 4u);
  EXPECT_EQ(server->counters().dcep_bad, 0u);
  // The ACK is exactly the one-byte DATA_CHANNEL_ACK with PPID 50.
  for (const auto& m : raw->received) {
    EXPECT_EQ(m.ppid, dcep::ppid::kDcep);
    EXPECT_EQ(m.data, Bytes{dcep::kMessageAck});
  }
}

TEST_F(PeerConnectionTest, OpenOnAStreamInUseIsDropped) {
  connect_raw();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(raw->send_open(0, "first"), sctp::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return raw->acks_on(0) == 1; }, 500));
  ASSERT_EQ(raw->send_open(0, "second"), sctp::SendStatus::Ok);  // in use by the remote
  ASSERT_TRUE(run_until([&] { return server->counters().dcep_bad == 1; }, 500));
  EXPECT_EQ(server->channel(0)->init.label, "first");

  // A stream the server opened itself (glare).
  auto s = server->open_channel(ch("mine"));
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, 1);
  ASSERT_EQ(raw->send_open(1, "theirs"), sctp::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return server->counters().dcep_bad == 2; }, 500));
  EXPECT_EQ(server->channel(1)->init.label, "mine");
  EXPECT_FALSE(server->channel(1)->opened_by_remote);

  advance(100ms);
  EXPECT_EQ(raw->acks_on(0), 1u);
  EXPECT_EQ(raw->acks_on(1), 0u);
  EXPECT_EQ(sev.opened.size(), 1u);
  EXPECT_EQ(server->counters().dcep_bad, 2u);
  EXPECT_TRUE(sev.closed.empty());
}

TEST_F(PeerConnectionTest, OpenPastTheNegotiatedStreamCountIsDropped) {
  // The server allows 64 streams, the client offers 8: the association settles on 8 each way.
  connect_raw({}, 8);
  ASSERT_FALSE(HasFatalFailure());
  // usrsctp will not send on a stream >= 8, so the raw client sends on 3 and rewrites the
  // DATA chunk's stream id on its way out to 20 (below the server's own 64, past the 8).
  raw->rewrite_out = [](Bytes& packet) {
    for_each_chunk(packet, [&](uint8_t type, size_t off, uint16_t len) {
      if (type == 0 && len >= 16 && load_be16(packet.data() + off + 8) == 3)
        store_be16(packet.data() + off + 8, 20);
    });
  };
  const size_t in_mark = raw->sctp_in.size();
  ASSERT_EQ(raw->send_open(3, "too far"), sctp::SendStatus::Ok);
  advance(200ms);
  raw->rewrite_out = nullptr;
  EXPECT_TRUE(sev.opened.empty());
  EXPECT_EQ(server->channel(20), nullptr);
  EXPECT_EQ(raw->acks_on(20), 0u);
  // usrsctp drops it below the PeerConnection and says so with an ERROR chunk (type 9) whose
  // cause is "Invalid Stream Identifier" (1), RFC 9260 §3.3.10.1; DCEP never sees it.
  bool invalid_stream_error = false;
  for (size_t i = in_mark; i < raw->sctp_in.size(); ++i)
    for_each_chunk(raw->sctp_in[i], [&](uint8_t type, size_t off, uint16_t len) {
      if (type == 9 && len >= 8 && load_be16(raw->sctp_in[i].data() + off + 4) == 1)
        invalid_stream_error = true;
    });
  EXPECT_TRUE(invalid_stream_error);
  EXPECT_EQ(server->counters().dcep_bad, 0u);

  // The association is fine, and the server's own limit is the negotiated 8 as well.
  ASSERT_EQ(raw->send_open(4, "ok"), sctp::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return raw->acks_on(4) == 1; }, 500));
  auto past = server->open_channel(ch("x", 20));
  ASSERT_FALSE(past);
  EXPECT_NE(past.error().find("past the negotiated count (8)"), std::string::npos) << past.error();
  auto last = server->open_channel(ch("x", 7));
  ASSERT_TRUE(last) << last.error();
  EXPECT_TRUE(sev.closed.empty());
  EXPECT_TRUE(raw->closed.empty());
}

TEST_F(PeerConnectionTest, MalformedDcepIsDropped) {
  connect_raw();
  ASSERT_FALSE(HasFatalFailure());
  dcep::Open good;
  good.label = "ok";
  const Bytes valid = dcep::encode_open(good);
  Bytes bad_type = valid;
  bad_type[1] = 0x05;  // no such channel type
  Bytes long_label = valid;
  store_be16(long_label.data() + 8, 3);  // label length says 3, 2 bytes follow
  Bytes bad_utf8 = valid;
  bad_utf8[12] = 0xC0;  // overlong encoding
  bad_utf8[13] = 0x80;
  const std::vector<std::pair<const char*, Bytes>> cases = {
      {"just the type byte", Bytes{dcep::kMessageOpen}},
      {"header cut short", Bytes(valid.begin(), valid.begin() + 11)},
      {"unknown channel type", bad_type},
      {"label length past the end", long_label},
      {"trailing byte",
       [&] {
         Bytes b = valid;
         b.push_back('x');
         return b;
       }()},
      {"label not UTF-8", bad_utf8},
      {"unknown DCEP message type", Bytes{0x04}},
      // (An ACK with a tail is not here: pion sends 4-byte ACKs, and the type byte decides, as
      // in libwebrtc; tests/unit/dcep covers it.)
  };
  uint64_t bad = 0;
  for (const auto& [what, payload] : cases) {
    SCOPED_TRACE(what);
    ASSERT_EQ(raw->send(2, dcep::ppid::kDcep, payload), sctp::SendStatus::Ok);
    ++bad;
    ASSERT_TRUE(run_until([&] { return server->counters().dcep_bad == bad; }, 500));
  }
  advance(100ms);
  EXPECT_EQ(server->counters().dcep_bad, bad);
  EXPECT_TRUE(sev.opened.empty());
  EXPECT_EQ(server->channel(2), nullptr);
  EXPECT_EQ(raw->acks_on(2), 0u);
  // The stream is still free: a well-formed OPEN on it works.
  ASSERT_EQ(raw->send(2, dcep::ppid::kDcep, valid), sctp::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return raw->acks_on(2) == 1; }, 500));
  ASSERT_EQ(sev.opened.size(), 1u);
  EXPECT_EQ(sev.opened[0].stream, 2);
  EXPECT_EQ(server->counters().dcep_bad, bad);
  EXPECT_TRUE(sev.closed.empty());
}

TEST_F(PeerConnectionTest, DataOnAnUnknownStreamOrWithAnUnknownPpidIsDropped) {
  connect_raw();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(raw->send(4, dcep::ppid::kString, as_bytes("nobody opened me")), sctp::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return server->counters().messages_dropped == 1; }, 500));
  EXPECT_TRUE(sev.messages.empty());

  ASSERT_EQ(raw->send_open(0, "chat"), sctp::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return raw->acks_on(0) == 1; }, 500));
  ASSERT_EQ(raw->send(0, dcep::ppid::kBinaryPartial, as_bytes("deprecated")), sctp::SendStatus::Ok);
  ASSERT_EQ(raw->send(0, 1234, as_bytes("made up")), sctp::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return server->counters().messages_dropped == 3; }, 500));
  ASSERT_EQ(raw->send(0, dcep::ppid::kString, as_bytes("hello")), sctp::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return sev.messages.size() == 1; }, 500));
  EXPECT_EQ(sev.messages[0].stream, 0);
  EXPECT_FALSE(sev.messages[0].binary);
  EXPECT_EQ(str(sev.messages[0].data), "hello");
  EXPECT_EQ(server->counters().messages_dropped, 3u);
  EXPECT_EQ(server->counters().messages_in, 1u);
  EXPECT_EQ(server->counters().bytes_in, 5u);
  EXPECT_EQ(server->counters().dcep_bad, 0u);
}

TEST_F(PeerConnectionTest, EmptyMessagesUsePpid56And57OnTheWire) {
  connect_raw();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(raw->send_open(0, "chat"), sctp::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return raw->acks_on(0) == 1; }, 500));
  const size_t mark = raw->received.size();

  // Server -> client: one byte with PPID 56 (empty string) and 57 (empty binary), RFC 8831 §6.6.
  ASSERT_EQ(server->send(0, {}, false), rtc::SendStatus::Ok);
  ASSERT_EQ(server->send(0, {}, true), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return raw->received.size() == mark + 2; }, 500));
  EXPECT_EQ(raw->received[mark].ppid, dcep::ppid::kStringEmpty);
  EXPECT_EQ(raw->received[mark].data.size(), 1u);
  EXPECT_EQ(raw->received[mark + 1].ppid, dcep::ppid::kBinaryEmpty);
  EXPECT_EQ(raw->received[mark + 1].data.size(), 1u);
  EXPECT_EQ(server->counters().messages_out, 2u);
  EXPECT_EQ(server->counters().bytes_out, 0u);

  // Client -> server: whatever byte rides along, the message arrives empty.
  const uint8_t filler[] = {0x7A};
  ASSERT_EQ(raw->send(0, dcep::ppid::kStringEmpty, filler), sctp::SendStatus::Ok);
  ASSERT_EQ(raw->send(0, dcep::ppid::kBinaryEmpty, filler), sctp::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return sev.messages.size() == 2; }, 500));
  EXPECT_FALSE(sev.messages[0].binary);
  EXPECT_TRUE(sev.messages[0].data.empty());
  EXPECT_TRUE(sev.messages[1].binary);
  EXPECT_TRUE(sev.messages[1].data.empty());
  EXPECT_EQ(server->counters().messages_in, 2u);
  EXPECT_EQ(server->counters().bytes_in, 0u);
}

TEST_F(PeerConnectionTest, EmptyMessagesArriveEmptyBetweenPeerConnections) {
  connect_pair();
  ASSERT_FALSE(HasFatalFailure());
  auto c = client->open_channel(ch("chat"));
  ASSERT_TRUE(c);
  ASSERT_TRUE(run_until([&] { return sev.opened.size() == 1; }, 500));
  ASSERT_EQ(client->send(*c, {}, false), rtc::SendStatus::Ok);
  ASSERT_EQ(client->send(*c, {}, true), rtc::SendStatus::Ok);
  ASSERT_EQ(client->send_text(*c, "x"), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return sev.messages.size() == 3; }, 500));
  EXPECT_FALSE(sev.messages[0].binary);
  EXPECT_TRUE(sev.messages[0].data.empty());
  EXPECT_TRUE(sev.messages[1].binary);
  EXPECT_TRUE(sev.messages[1].data.empty());
  EXPECT_EQ(str(sev.messages[2].data), "x");
  ASSERT_EQ(server->send(*c, {}, true), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return cev.messages.size() == 1; }, 500));
  EXPECT_TRUE(cev.messages[0].binary);
  EXPECT_TRUE(cev.messages[0].data.empty());
  EXPECT_EQ(server->counters().messages_dropped, 0u);
}

TEST_F(PeerConnectionTest, ChosenIdsAndTheNextFreeIdSkipsStreamsTheRemoteTook) {
  connect_pair();
  ASSERT_FALSE(HasFatalFailure());
  // The client (DTLS client: even ids of its own) picks odd ids 1 and 3: allowed.
  for (uint16_t id : {1, 3}) {
    auto s = client->open_channel(ch("c" + std::to_string(id), id));
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(*s, id);
  }
  ASSERT_TRUE(run_until([&] { return sev.opened.size() == 2; }, 500));
  EXPECT_EQ(sev.opened[0].stream, 1);
  EXPECT_EQ(sev.opened[1].stream, 3);
  // The server's own next odd id skips 1 and 3.
  auto s5 = server->open_channel(ch("s"));
  ASSERT_TRUE(s5) << s5.error();
  EXPECT_EQ(*s5, 5);
  // The server picks the client's parity, 2; the client's next free id skips it.
  auto s2 = server->open_channel(ch("s2", 2));
  ASSERT_TRUE(s2) << s2.error();
  EXPECT_EQ(*s2, 2);
  ASSERT_TRUE(run_until([&] { return cev.opened.size() == 2; }, 500));
  ASSERT_NE(client->channel(2), nullptr);
  EXPECT_TRUE(client->channel(2)->opened_by_remote);
  auto c0 = client->open_channel(ch("auto0"));
  auto c4 = client->open_channel(ch("auto4"));
  ASSERT_TRUE(c0 && c4);
  EXPECT_EQ(*c0, 0);
  EXPECT_EQ(*c4, 4);
  // Local refusals: a stream in use, one past the count.
  auto in_use = client->open_channel(ch("dup", 5));
  ASSERT_FALSE(in_use);
  EXPECT_NE(in_use.error().find("stream 5 is in use"), std::string::npos) << in_use.error();
  auto past = client->open_channel(ch("far", 64));
  ASSERT_FALSE(past);
  EXPECT_NE(past.error().find("past the negotiated count (64)"), std::string::npos) << past.error();

  ASSERT_TRUE(run_until([&] { return sev.opened.size() == 4; }, 500));
  EXPECT_EQ(sev.opened[2].stream, 0);
  EXPECT_EQ(sev.opened[3].stream, 4);
  // Every channel carries data, each on its own stream.
  for (uint16_t id : {0, 1, 3, 4})
    ASSERT_EQ(client->send_text(id, std::to_string(id)), rtc::SendStatus::Ok);
  for (uint16_t id : {2, 5})
    ASSERT_EQ(server->send_text(id, std::to_string(id)), rtc::SendStatus::Ok);
  ASSERT_TRUE(run_until([&] { return sev.messages.size() == 4 && cev.messages.size() == 2; }, 500));
  for (const auto& m : sev.messages) EXPECT_EQ(str(m.data), std::to_string(m.stream));
  for (const auto& m : cev.messages) EXPECT_EQ(str(m.data), std::to_string(m.stream));
  EXPECT_EQ(server->counters().dcep_bad, 0u);
  EXPECT_EQ(client->counters().dcep_bad, 0u);
}

}  // namespace
