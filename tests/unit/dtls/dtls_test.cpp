// Two dtls::Transports (client and server) wired back to back through an in-memory queue.
#include "dtls/dtls.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <thread>

namespace peerrtc::dtls {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<Certificate> client_cert() {
  static auto c = Certificate::generate("client");
  return c;
}
std::shared_ptr<Certificate> server_cert() {
  static auto c = Certificate::generate("server");
  return c;
}

Bytes digest(X509* cert, const EVP_MD* md) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  EXPECT_EQ(X509_digest(cert, md, out.data(), &len), 1);
  out.resize(len);
  return out;
}

Bytes pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

struct Endpoint {
  std::unique_ptr<Transport> t;
  int connected_calls = 0;
  std::vector<Bytes> received;
  std::vector<std::string> closed;
  std::vector<size_t> datagram_sizes;
  std::function<void(ByteView)> data_hook;  // runs inside on_data
  std::function<void()> connected_hook;     // runs inside on_connected
};

struct Options {
  Config client_config{};
  Config server_config{};
  std::string client_expects_alg = "sha-256";
  std::optional<Bytes> client_expects;  // default: the server cert's real digest
  std::string server_expects_alg = "sha-256";
  std::optional<Bytes> server_expects;
};

// Index 0 = client, 1 = server.
class Pair {
 public:
  explicit Pair(Options o = {}) {
    const Bytes to_server = o.client_expects.value_or(sha256_of_certificate(server_cert()->x509()));
    const Bytes to_client = o.server_expects.value_or(sha256_of_certificate(client_cert()->x509()));
    ep[0].t = make(0, client_cert(), Role::Client, o.client_expects_alg, to_server, o.client_config);
    ep[1].t = make(1, server_cert(), Role::Server, o.server_expects_alg, to_client, o.server_config);
  }

  Transport& client() { return *ep[0].t; }
  Transport& server() { return *ep[1].t; }

  void start() {
    server().start();
    client().start();
  }

  // Delivers queued datagrams until nothing is left.
  void pump() {
    while (!wire.empty()) {
      auto [to, d] = std::move(wire.front());
      wire.pop_front();
      ep[to].t->receive(d);
    }
  }

  // Pumps, and when idle waits for the earliest retransmit timer and fires it, until pred().
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      pump();
      if (pred()) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::optional<std::chrono::milliseconds> wait;
      for (auto& e : ep) {
        auto t = e.t->next_timeout();
        if (t && (!wait || *t < *wait)) wait = t;
      }
      if (!wait) return pred();
      std::this_thread::sleep_for(*wait);
      for (auto& e : ep) {
        auto t = e.t->next_timeout();
        if (t && *t == 0ms) e.t->handle_timeout();
      }
    }
  }

  bool handshake() {
    start();
    return run_until([&] {
      return client().state() == State::Connected && server().state() == State::Connected;
    });
  }

  Endpoint ep[2];
  std::deque<std::pair<int, Bytes>> wire;
  // Return false to drop a datagram sent by `from` (n = how many it sent before, 0-based).
  std::function<bool(int from, const Bytes&, size_t n)> filter;
  uint16_t max_seen[2] = {0, 0};
  bool sync = false;  // deliver each datagram synchronously instead of queueing it

 private:
  std::unique_ptr<Transport> make(int idx, std::shared_ptr<Certificate> cert, Role role,
                                  const std::string& alg, Bytes expected, Config config) {
    Transport::Callbacks cb;
    cb.send = [this, idx](ByteView d) {
      Endpoint& e = ep[idx];
      const size_t n = e.datagram_sizes.size();
      e.datagram_sizes.push_back(d.size());
      Bytes copy(d.begin(), d.end());
      if (filter && !filter(idx, copy, n)) return;
      if (sync && ep[1 - idx].t) {
        ep[1 - idx].t->receive(copy);  // delivered inside the sender's call
        return;
      }
      wire.emplace_back(1 - idx, std::move(copy));
    };
    cb.on_connected = [this, idx] {
      ++ep[idx].connected_calls;
      if (ep[idx].connected_hook) ep[idx].connected_hook();
    };
    cb.on_data = [this, idx](ByteView d) {
      ep[idx].received.emplace_back(d.begin(), d.end());
      if (ep[idx].data_hook) ep[idx].data_hook(d);
    };
    cb.on_closed = [this, idx](const std::string& r) { ep[idx].closed.push_back(r); };
    return std::make_unique<Transport>(std::move(cert), role, alg, std::move(expected),
                                       std::move(cb), config);
  }
};

// ---------------------------------------------------------------------------------------------

TEST(DtlsCertificate, FingerprintFormatAndContents) {
  auto cert = Certificate::generate();
  const std::string& fp = cert->fingerprint_sha256();
  ASSERT_EQ(fp.size(), 95u);  // 32 bytes → 64 hex digits + 31 colons
  for (size_t i = 0; i < fp.size(); ++i) {
    if (i % 3 == 2)
      EXPECT_EQ(fp[i], ':') << i;
    else
      EXPECT_TRUE(std::isxdigit(static_cast<unsigned char>(fp[i])) &&
                  !std::islower(static_cast<unsigned char>(fp[i])))
          << i;
  }
  const Bytes d = sha256_of_certificate(cert->x509());
  ASSERT_EQ(d.size(), 32u);
  EXPECT_EQ(fp, to_hex_colon(d));
  EXPECT_EQ(d, digest(cert->x509(), EVP_sha256()));

  X509* x = cert->x509();
  EXPECT_EQ(X509_get_version(x), X509_VERSION_3);
  EXPECT_EQ(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
  EXPECT_EQ(X509_verify(x, cert->key()), 1);  // self-signed
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
  EXPECT_TRUE(EVP_PKEY_is_a(cert->key(), "EC"));
  char group[64] = {};
  size_t glen = 0;
  ASSERT_EQ(EVP_PKEY_get_group_name(cert->key(), group, sizeof group, &glen), 1);
  EXPECT_STREQ(group, "prime256v1");
  EXPECT_EQ(X509_cmp_current_time(X509_get0_notBefore(x)), -1);
  EXPECT_EQ(X509_cmp_current_time(X509_get0_notAfter(x)), 1);
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
  EXPECT_EQ(days, 31);

  auto other = Certificate::generate("peerrtc");
  EXPECT_NE(other->fingerprint_sha256(), fp);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(other->x509())),
            0);
}

TEST(Dtls, HandshakeCompletes) {
  Pair p;
  EXPECT_EQ(p.client().state(), State::New);
  ASSERT_TRUE(p.handshake());
  EXPECT_EQ(p.ep[0].connected_calls, 1);
  EXPECT_EQ(p.ep[1].connected_calls, 1);
  EXPECT_TRUE(p.ep[0].closed.empty());
  EXPECT_TRUE(p.ep[1].closed.empty());
  EXPECT_EQ(p.client().dropped_records(), 0u);
  EXPECT_EQ(p.server().dropped_records(), 0u);
  EXPECT_FALSE(p.client().next_timeout().has_value());
  EXPECT_FALSE(p.server().next_timeout().has_value());
  // use_srtp: the client offers profiles and the server selects one (pion insists on it).
  EXPECT_EQ(p.client().srtp_profile(), "SRTP_AEAD_AES_128_GCM");
  EXPECT_EQ(p.server().srtp_profile(), "SRTP_AEAD_AES_128_GCM");
}

TEST(Dtls, SendBeforeConnectedFails) {
  Pair p;
  EXPECT_FALSE(p.client().send(as_bytes("early")));
  p.start();
  EXPECT_FALSE(p.client().send(as_bytes("early")));
  EXPECT_FALSE(p.server().send(as_bytes("early")));
}

TEST(Dtls, ApplicationDataBothWaysAllSizes) {
  Pair p;
  ASSERT_TRUE(p.handshake());
  EXPECT_TRUE(p.client().send({}));  // size 0: accepted, nothing to deliver
  EXPECT_TRUE(p.server().send({}));
  for (size_t n = 1; n <= 1200; ++n) {
    ASSERT_TRUE(p.client().send(pattern(n, 1))) << n;
    ASSERT_TRUE(p.server().send(pattern(n, 2))) << n;
    p.pump();
  }
  ASSERT_EQ(p.ep[1].received.size(), 1200u);
  ASSERT_EQ(p.ep[0].received.size(), 1200u);
  for (size_t n = 1; n <= 1200; ++n) {
    EXPECT_EQ(p.ep[1].received[n - 1], pattern(n, 1)) << n;
    EXPECT_EQ(p.ep[0].received[n - 1], pattern(n, 2)) << n;
  }
  EXPECT_EQ(p.client().dropped_records(), 0u);
  EXPECT_EQ(p.server().dropped_records(), 0u);
}

TEST(Dtls, MaximumRecord16KiB) {
  Pair p;
  ASSERT_TRUE(p.handshake());
  const Bytes big = pattern(16384, 3);
  ASSERT_TRUE(p.client().send(big));
  ASSERT_TRUE(p.server().send(big));
  p.pump();
  ASSERT_EQ(p.ep[1].received.size(), 1u);
  EXPECT_EQ(p.ep[1].received[0], big);
  ASSERT_EQ(p.ep[0].received.size(), 1u);
  EXPECT_EQ(p.ep[0].received[0], big);
  EXPECT_FALSE(p.client().send(pattern(16385, 3)));  // larger than one DTLS record
  EXPECT_EQ(p.client().state(), State::Connected);
}

TEST(Dtls, MaxSendPlaintextBoundsRecordsAndIsChecked) {
  Options o;
  o.client_config.max_send_plaintext = 2048;
  Pair p(o);
  ASSERT_TRUE(p.handshake());
  ASSERT_TRUE(p.client().send(pattern(2048, 4)));
  EXPECT_FALSE(p.client().send(pattern(2049, 4))) << "refused, not fatal";
  EXPECT_EQ(p.client().state(), State::Connected);
  ASSERT_TRUE(p.server().send(pattern(16384, 5)));  // the receiver still takes full records
  p.pump();
  ASSERT_EQ(p.ep[1].received.size(), 1u);
  EXPECT_EQ(p.ep[1].received[0], pattern(2048, 4));
  ASSERT_EQ(p.ep[0].received.size(), 1u);
  EXPECT_EQ(p.ep[0].received[0], pattern(16384, 5));

  Config bad;
  bad.max_send_plaintext = 511;
  EXPECT_THROW(Transport(server_cert(), Role::Server, "sha-256", Bytes(32), {}, bad),
               std::invalid_argument);
}

TEST(Dtls, TransportsShareOneContextPerCertificate) {
  auto cert = Certificate::generate("shared");
  EXPECT_EQ(cert->dtls_context(), cert->dtls_context());
  EXPECT_NE(cert->dtls_context(), server_cert()->dtls_context());
  // Both ends with the same certificate (and so the same SSL_CTX), client and server roles.
  const Bytes fp = sha256_of_certificate(cert->x509());
  std::deque<std::pair<int, Bytes>> wire;
  std::vector<Bytes> got[2];
  std::unique_ptr<Transport> t[2];
  for (int i = 0; i < 2; ++i) {
    Transport::Callbacks cb;
    cb.send = [&wire, i](ByteView d) { wire.emplace_back(1 - i, Bytes(d.begin(), d.end())); };
    cb.on_data = [&got, i](ByteView d) { got[i].emplace_back(d.begin(), d.end()); };
    t[i] = std::make_unique<Transport>(cert, i == 0 ? Role::Client : Role::Server, "sha-256", fp,
                                       std::move(cb));
  }
  t[1]->start();
  t[0]->start();
  for (int rounds = 0; rounds < 100 && !wire.empty(); ++rounds) {
    while (!wire.empty()) {
      auto [to, d] = std::move(wire.front());
      wire.pop_front();
      t[to]->receive(d);
    }
  }
  ASSERT_EQ(t[0]->state(), State::Connected);
  ASSERT_EQ(t[1]->state(), State::Connected);
  ASSERT_TRUE(t[0]->send(pattern(100, 6)));
  while (!wire.empty()) {
    auto [to, d] = std::move(wire.front());
    wire.pop_front();
    t[to]->receive(d);
  }
  ASSERT_EQ(got[1].size(), 1u);
  EXPECT_EQ(got[1][0], pattern(100, 6));
  // A transport outliving every other user of the certificate keeps the context alive.
  t[0].reset();
  cert.reset();
  EXPECT_TRUE(t[1]->send(pattern(10, 7)));
}

TEST(Dtls, NestedReadsKeepTheOuterDataValid) {
  // The read buffer is shared by every Transport of the thread; a transport that receives while
  // another one is delivering (synchronous wiring) must not overwrite the outer message.
  Pair p;
  ASSERT_TRUE(p.handshake());
  p.sync = true;
  const Bytes ping = pattern(3000, 11), pong = pattern(2000, 12);
  bool checked = false;
  p.ep[1].data_hook = [&](ByteView d) {
    if (d.size() != ping.size()) return;
    ASSERT_TRUE(p.server().send(pong));  // the client reads `pong` inside this call
    ASSERT_EQ(p.ep[0].received.size(), 1u);
    EXPECT_TRUE(std::equal(d.begin(), d.end(), ping.begin(), ping.end())) << "outer view intact";
    checked = true;
  };
  ASSERT_TRUE(p.client().send(ping));
  EXPECT_TRUE(checked);
  ASSERT_EQ(p.ep[0].received.size(), 1u);
  EXPECT_EQ(p.ep[0].received[0], pong);
}

TEST(Dtls, ClientRejectsServerFingerprint) {
  Options o;
  o.client_expects = Bytes(32, 0xAB);
  Pair p(o);
  p.start();
  p.run_until([&] { return !p.ep[0].closed.empty() && !p.ep[1].closed.empty(); });
  EXPECT_EQ(p.client().state(), State::Failed);
  EXPECT_EQ(p.server().state(), State::Failed);
  ASSERT_EQ(p.ep[0].closed.size(), 1u);
  EXPECT_NE(p.ep[0].closed[0].find("fingerprint mismatch"), std::string::npos) << p.ep[0].closed[0];
  EXPECT_NE(p.ep[0].closed[0].find(server_cert()->fingerprint_sha256()), std::string::npos);
  ASSERT_EQ(p.ep[1].closed.size(), 1u);
  EXPECT_NE(p.ep[1].closed[0].find("bad certificate"), std::string::npos) << p.ep[1].closed[0];
  EXPECT_EQ(p.ep[0].connected_calls + p.ep[1].connected_calls, 0);
}

TEST(Dtls, ServerRejectsClientFingerprint) {
  Options o;
  o.server_expects = Bytes(32, 0xCD);
  Pair p(o);
  p.start();
  p.run_until([&] { return !p.ep[0].closed.empty() && !p.ep[1].closed.empty(); });
  EXPECT_EQ(p.server().state(), State::Failed);
  EXPECT_EQ(p.client().state(), State::Failed);
  ASSERT_EQ(p.ep[1].closed.size(), 1u);
  EXPECT_NE(p.ep[1].closed[0].find("fingerprint mismatch"), std::string::npos) << p.ep[1].closed[0];
  ASSERT_EQ(p.ep[0].closed.size(), 1u);
  EXPECT_NE(p.ep[0].closed[0].find("bad certificate"), std::string::npos) << p.ep[0].closed[0];
  EXPECT_EQ(p.ep[1].connected_calls, 0);
}

class DtlsFingerprintAlgorithm : public ::testing::TestWithParam<std::pair<const char*, int>> {};

TEST_P(DtlsFingerprintAlgorithm, Verifies) {
  const auto [name, nid] = GetParam();
  const EVP_MD* md = EVP_get_digestbynid(nid);
  ASSERT_NE(md, nullptr);
  Options o;
  o.client_expects_alg = name;
  o.client_expects = digest(server_cert()->x509(), md);
  o.server_expects_alg = name;
  o.server_expects = digest(client_cert()->x509(), md);
  Pair p(o);
  ASSERT_TRUE(p.handshake()) << name;
}

INSTANTIATE_TEST_SUITE_P(All, DtlsFingerprintAlgorithm,
                         ::testing::Values(std::make_pair("sha-1", NID_sha1),
                                           std::make_pair("sha-224", NID_sha224),
                                           std::make_pair("sha-256", NID_sha256),
                                           std::make_pair("SHA-384", NID_sha384),
                                           std::make_pair("sha-512", NID_sha512)));

TEST(Dtls, UnsupportedAlgorithmOrDigestLengthFailsAtStart) {
  {
    Options o;
    o.client_expects_alg = "md5";
    o.client_expects = Bytes(16, 1);
    Pair p(o);
    p.client().start();
    EXPECT_EQ(p.client().state(), State::Failed);
    ASSERT_EQ(p.ep[0].closed.size(), 1u);
    EXPECT_NE(p.ep[0].closed[0].find("unsupported fingerprint algorithm"), std::string::npos);
    EXPECT_TRUE(p.wire.empty());
  }
  {
    Options o;
    o.server_expects = Bytes(20, 1);  // sha-256 needs 32
    Pair p(o);
    p.server().start();
    EXPECT_EQ(p.server().state(), State::Failed);
    ASSERT_EQ(p.ep[1].closed.size(), 1u);
    EXPECT_NE(p.ep[1].closed[0].find("20 bytes"), std::string::npos) << p.ep[1].closed[0];
  }
}

TEST(Dtls, RetransmitsLostClientFlight) {
  Options o;
  o.client_config.initial_retransmit = 50ms;
  Pair p(o);
  p.filter = [](int from, const Bytes&, size_t n) { return !(from == 0 && n == 0); };
  p.start();
  p.pump();
  EXPECT_EQ(p.server().state(), State::Connecting);
  auto t = p.client().next_timeout();
  ASSERT_TRUE(t.has_value());
  EXPECT_LE(*t, 50ms);
  EXPECT_FALSE(p.server().next_timeout().has_value() && *p.server().next_timeout() < 1s);
  ASSERT_TRUE(p.run_until([&] {
    return p.client().state() == State::Connected && p.server().state() == State::Connected;
  }));
  EXPECT_GE(p.ep[0].datagram_sizes.size(), 3u);  // ClientHello twice + the third flight
  ASSERT_TRUE(p.client().send(as_bytes("after retransmit")));
  p.pump();
  ASSERT_EQ(p.ep[1].received.size(), 1u);
}

TEST(Dtls, RetransmitsLostServerFlightAndFinished) {
  Options o;
  o.client_config.initial_retransmit = 30ms;
  o.server_config.initial_retransmit = 30ms;
  Pair p(o);
  // Drop the server's first flight (ServerHello...) and its first ChangeCipherSpec+Finished.
  bool dropped_hello = false, dropped_finished = false;
  p.filter = [&](int from, const Bytes& d, size_t) {
    if (from != 1 || d.size() < 14) return true;
    if (!dropped_hello && d[0] == 22 && d[13] == 2) return !(dropped_hello = true);
    if (!dropped_finished && d[0] == 20) return !(dropped_finished = true);
    return true;
  };
  ASSERT_TRUE(p.handshake());
  EXPECT_TRUE(dropped_hello);
  EXPECT_TRUE(dropped_finished);
  ASSERT_TRUE(p.server().send(as_bytes("s")));
  ASSERT_TRUE(p.client().send(as_bytes("c")));
  p.pump();
  EXPECT_EQ(p.ep[0].received.size(), 1u);
  EXPECT_EQ(p.ep[1].received.size(), 1u);
}

TEST(Dtls, HandshakeTimesOut) {
  Options o;
  o.client_config.handshake_timeout = 1s;
  o.client_config.initial_retransmit = 100ms;
  o.server_config.handshake_timeout = 1s;
  Pair p(o);
  p.filter = [](int, const Bytes&, size_t) { return false; };  // black hole
  p.start();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(p.run_until(
      [&] { return p.client().state() == State::Failed && p.server().state() == State::Failed; },
      5s));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3s);
  ASSERT_EQ(p.ep[0].closed.size(), 1u);
  EXPECT_EQ(p.ep[0].closed[0], "DTLS handshake timed out");
  ASSERT_EQ(p.ep[1].closed.size(), 1u);
  EXPECT_EQ(p.ep[1].closed[0], "DTLS handshake timed out");
  // ClientHello at 0 and retransmissions at 0.1, 0.3, 0.7 s (doubling); 1.5 s is past the limit.
  EXPECT_GE(p.ep[0].datagram_sizes.size(), 3u);
  EXPECT_LE(p.ep[0].datagram_sizes.size(), 5u);
  EXPECT_FALSE(p.client().next_timeout().has_value());
}

TEST(Dtls, GarbageDuringHandshakeIsDropped) {
  Pair p;
  p.start();
  // Before the ClientHello reaches the server.
  const Bytes junk = {0x00, 0x01, 0x02, 0x03, 0x04};
  p.server().receive(junk);
  p.server().receive(Bytes{});
  p.server().receive(Bytes(8, 0x16));  // truncated record header
  // Plausible header, body that OpenSSL would treat as a fatal protocol violation.
  Bytes hs = {22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12,
              1, 0, 0, 4, 0, 0, 0, 0, 9, 0, 0, 0};  // frag_off + frag_len > msg_len
  p.server().receive(hs);
  Bytes app0 = {23, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3};  // app data in epoch 0
  p.server().receive(app0);
  Bytes alert = {21, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 9, 0, 3, 2, 40, 0};  // 3-byte alert
  p.client().receive(alert);
  Bytes wrong_msg = {22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 1, 0, 12,
                     1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // ClientHello sent to a client
  p.client().receive(wrong_msg);
  Bytes epoch5 = {22, 0xFE, 0xFD, 0, 5, 0, 0, 0, 0, 0, 1, 0, 1, 0};
  p.client().receive(epoch5);
  EXPECT_EQ(p.server().dropped_records(), 5u);
  EXPECT_EQ(p.client().dropped_records(), 3u);
  EXPECT_EQ(p.server().state(), State::Connecting);
  EXPECT_EQ(p.client().state(), State::Connecting);
  ASSERT_TRUE(p.run_until([&] {
    return p.client().state() == State::Connected && p.server().state() == State::Connected;
  }));
  ASSERT_TRUE(p.client().send(as_bytes("hello")));
  p.pump();
  ASSERT_EQ(p.ep[1].received.size(), 1u);
}

TEST(Dtls, GarbageAfterHandshakeIsDroppedAndCounted) {
  Pair p;
  Bytes last_client_datagram;
  p.filter = [&](int from, const Bytes& d, size_t) {
    if (from == 0) last_client_datagram = d;
    return true;
  };
  ASSERT_TRUE(p.handshake());
  ASSERT_TRUE(p.client().send(as_bytes("one")));
  p.pump();
  ASSERT_EQ(p.ep[1].received.size(), 1u);
  const uint64_t before = p.server().dropped_records();

  p.server().receive(Bytes{0xde, 0xad, 0xbe, 0xef});                    // not DTLS
  p.server().receive(last_client_datagram);                            // replay
  Bytes forged = last_client_datagram;                                  // bad auth tag
  forged.back() ^= 0x55;
  forged[10] ^= 0x40;  // new sequence number so it is not a replay
  p.server().receive(forged);
  Bytes epoch0 = {22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0};  // epoch 0 after handshake
  p.server().receive(epoch0);
  Bytes truncated(last_client_datagram.begin(), last_client_datagram.end() - 3);
  p.server().receive(truncated);
  for (int i = 0; i < 50; ++i) p.server().receive(pattern(100 + i, static_cast<uint8_t>(i)));

  EXPECT_EQ(p.server().dropped_records() - before, 55u);
  EXPECT_EQ(p.ep[1].received.size(), 1u);
  EXPECT_EQ(p.server().state(), State::Connected);
  EXPECT_TRUE(p.ep[1].closed.empty());

  ASSERT_TRUE(p.client().send(as_bytes("two")));
  ASSERT_TRUE(p.server().send(as_bytes("back")));
  p.pump();
  ASSERT_EQ(p.ep[1].received.size(), 2u);
  EXPECT_EQ(as_chars(p.ep[1].received[1]), "two");
  ASSERT_EQ(p.ep[0].received.size(), 1u);
  EXPECT_EQ(as_chars(p.ep[0].received[0]), "back");
}

TEST(Dtls, CloseDeliversCloseNotify) {
  Pair p;
  ASSERT_TRUE(p.handshake());
  p.client().close();
  EXPECT_EQ(p.client().state(), State::Closed);
  EXPECT_FALSE(p.client().send(as_bytes("x")));
  p.pump();
  EXPECT_EQ(p.server().state(), State::Closed);
  ASSERT_EQ(p.ep[1].closed.size(), 1u);
  EXPECT_EQ(p.ep[1].closed[0], "closed by peer");
  EXPECT_TRUE(p.ep[0].closed.empty());  // no callback for a local close
  EXPECT_FALSE(p.server().send(as_bytes("x")));
  p.client().close();  // idempotent
  p.server().close();
  p.pump();
  EXPECT_TRUE(p.ep[0].closed.empty());
}

TEST(Dtls, CloseAndSendFromCallbacks) {
  Pair p;
  // The server echoes, and closes when told to, from inside on_data.
  p.ep[1].data_hook = [&](ByteView d) {
    if (as_chars(d) == "bye") {
      p.server().close();
      p.server().close();
      EXPECT_FALSE(p.server().send(as_bytes("too late")));
    } else {
      EXPECT_TRUE(p.server().send(d));
    }
  };
  ASSERT_TRUE(p.handshake());
  ASSERT_TRUE(p.client().send(as_bytes("ping")));
  p.pump();
  ASSERT_EQ(p.ep[0].received.size(), 1u);
  EXPECT_EQ(as_chars(p.ep[0].received[0]), "ping");
  ASSERT_TRUE(p.client().send(as_bytes("bye")));
  p.pump();
  EXPECT_EQ(p.server().state(), State::Closed);
  EXPECT_EQ(p.client().state(), State::Closed);
  ASSERT_EQ(p.ep[0].closed.size(), 1u);
  EXPECT_EQ(p.ep[0].closed[0], "closed by peer");
}

TEST(Dtls, CloseFromOnConnected) {
  Pair p;
  p.ep[0].connected_hook = [&] {
    p.client().close();
    EXPECT_FALSE(p.client().send(as_bytes("x")));
  };
  p.start();
  p.run_until([&] { return p.server().state() != State::Connected; });
  EXPECT_EQ(p.ep[0].connected_calls, 1);
  EXPECT_EQ(p.client().state(), State::Closed);
  EXPECT_TRUE(p.ep[0].closed.empty());
  EXPECT_EQ(p.server().state(), State::Closed);
  ASSERT_EQ(p.ep[1].closed.size(), 1u);
  EXPECT_EQ(p.ep[1].closed[0], "closed by peer");
}

TEST(Dtls, CloseFromSendCallbackMidHandshake) {
  Pair p;
  // The client closes itself from inside its own send callback (second flight).
  p.filter = [&](int from, const Bytes&, size_t n) {
    if (from == 0 && n == 1) {
      p.client().close();
      EXPECT_FALSE(p.client().send(as_bytes("x")));
    }
    return true;
  };
  p.start();
  p.pump();
  EXPECT_EQ(p.client().state(), State::Closed);
  EXPECT_EQ(p.ep[0].connected_calls, 0);
  EXPECT_TRUE(p.ep[0].closed.empty());
  EXPECT_FALSE(p.client().next_timeout().has_value());
}

TEST(Dtls, EveryDatagramFitsTheMtu) {
  for (uint16_t mtu : {256, 300, 576, 1200, 1500}) {
    Options o;
    o.client_config.mtu = mtu;
    o.server_config.mtu = mtu;
    Pair p(o);
    ASSERT_TRUE(p.handshake()) << mtu;
    for (int i = 0; i < 2; ++i)
      for (size_t n : p.ep[i].datagram_sizes) EXPECT_LE(n, mtu) << "mtu " << mtu;
    // Application data that fits one datagram stays within it too.
    const size_t room = mtu - 13 - 8 - 16;  // header, explicit nonce, GCM tag
    p.ep[0].datagram_sizes.clear();
    ASSERT_TRUE(p.client().send(pattern(room, 9)));
    p.pump();
    ASSERT_EQ(p.ep[0].datagram_sizes.size(), 1u);
    EXPECT_EQ(p.ep[0].datagram_sizes[0], mtu);
    ASSERT_EQ(p.ep[1].received.size(), 1u);
    if (mtu < 600) {
      // The ~630 byte server flight (ServerHello..ServerHelloDone) must have been split.
      EXPECT_GE(p.ep[1].datagram_sizes.size(), 3u);
    } else {
      // ...and otherwise packed into one datagram (plus one for ChangeCipherSpec + Finished).
      EXPECT_EQ(p.ep[1].datagram_sizes.size(), 2u);
    }
  }
}

TEST(Dtls, MtuBelowDtlsMinimumThrows) {
  Config c;
  c.mtu = 100;
  EXPECT_THROW(Transport(server_cert(), Role::Server, "sha-256", Bytes(32), {}, c),
               std::invalid_argument);
}

TEST(Dtls, ReceiveInWrongStateIsCounted) {
  Pair p;
  p.server().receive(Bytes{22, 0xFE, 0xFD});  // not started
  EXPECT_EQ(p.server().dropped_records(), 1u);
  ASSERT_TRUE(p.handshake());
  p.client().close();
  p.pump();  // server answers the close_notify; the client has closed and drops it
  EXPECT_EQ(p.client().dropped_records(), 1u);
  p.client().receive(Bytes(10, 0));
  EXPECT_EQ(p.client().dropped_records(), 2u);
  p.client().handle_timeout();  // harmless
  EXPECT_FALSE(p.client().next_timeout().has_value());
}

TEST(Dtls, DestroyInAnyState) {
  {
    Pair p;  // never started
  }
  {
    Pair p;  // mid-handshake, with datagrams still in flight
    p.start();
    auto hello = std::move(p.wire.front());
    p.wire.pop_front();
    p.server().receive(hello.second);
    ASSERT_FALSE(p.wire.empty());
    ASSERT_EQ(p.server().state(), State::Connecting);
  }
  {
    Pair p;  // connected, with unread data queued towards it
    ASSERT_TRUE(p.handshake());
    ASSERT_TRUE(p.client().send(pattern(1000, 4)));
  }
  {
    Pair p;  // failed
    p.start();
    p.client().receive(Bytes{21, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 40});  // fatal alert
    EXPECT_EQ(p.client().state(), State::Failed);
    ASSERT_EQ(p.ep[0].closed.size(), 1u);
    EXPECT_NE(p.ep[0].closed[0].find("alert handshake failure"), std::string::npos)
        << p.ep[0].closed[0];
  }
}

}  // namespace
}  // namespace peerrtc::dtls
