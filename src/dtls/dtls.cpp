#include "dtls/dtls.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <stdexcept>
#include <utility>

namespace peerrtc::dtls {

namespace {

// SSL_get_error needs an empty error queue before the call. Clearing it unconditionally costs a
// thread-state lookup and a 16-slot reset per record (14% of the relay's user CPU in callgrind);
// peeking is cheap and the queue is almost always empty.
inline void clear_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}


// What Chrome (BoringSSL) offers for DTLS 1.2, ECDSA first. Our own certificate is ECDSA, so as a
// server we only ever pick ECDSA suites; as a client we also accept an RSA-certified peer.
constexpr const char* kCipherList =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:"
    "ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA";
constexpr const char* kGroups = "X25519:P-256:P-384";
// use_srtp (RFC 5764): no media flows over a data-only peer, but pion (3.1) aborts a handshake
// whose ServerHello selects no profile ("insufficient security"), and, as a server, one whose
// ClientHello offers none. So a server selects one when a client offers it, and a client offers
// them; the keys are never exported. Chrome's profiles, GCM first.
constexpr const char* kSrtpProfiles = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";

constexpr size_t kRecordHeader = 13;           // DTLS record header
constexpr size_t kHandshakeHeader = 12;        // DTLS handshake message header
constexpr size_t kMaxPlaintext = 16384;        // 2^14
constexpr size_t kMaxRecordBody = 16384 + 2048;  // RFC 6347 4.1 (TLSCiphertext)
constexpr uint32_t kMaxHandshakeMessage = 102400;  // OpenSSL's default max_cert_list
// During the handshake OpenSSL packs records into datagrams through a 4096-byte BIO_f_buffer it
// pushes in front of our datagram BIO; with a larger MTU that buffer could split one record over
// two writes (= two datagrams). So handshake fragments are sized for at most this.
constexpr uint16_t kMaxHandshakeMtu = 4096;
constexpr unsigned int kMaxRetransmitUs = 60'000'000;  // same cap as OpenSSL's own doubling

enum : uint8_t {
  kChangeCipherSpec = 20,
  kAlert = 21,
  kHandshake = 22,
  kApplicationData = 23,
};

std::string openssl_errors() {
  std::string out;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// RFC 8122 hash function names (case-insensitive) → OpenSSL digest; nullptr if unsupported.
const EVP_MD* digest_for(const std::string& algorithm) {
  const std::string a = lower(algorithm);
  if (a == "sha-1") return EVP_sha1();
  if (a == "sha-224") return EVP_sha224();
  if (a == "sha-256") return EVP_sha256();
  if (a == "sha-384") return EVP_sha384();
  if (a == "sha-512") return EVP_sha512();
  return nullptr;
}

Bytes digest_of(X509* cert, const EVP_MD* md) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (cert == nullptr || X509_digest(cert, md, out.data(), &len) != 1) return {};
  out.resize(len);
  return out;
}

uint32_t load_be24(const uint8_t* p) {
  return (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | uint32_t{p[2]};
}

std::chrono::milliseconds ceil_ms(const timeval& tv) {
  const auto us = std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
  return std::chrono::ceil<std::chrono::milliseconds>(us);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Certificate

Certificate::~Certificate() {
  SSL_CTX_free(ctx_);
  X509_free(x509_);
  EVP_PKEY_free(key_);
}

std::shared_ptr<Certificate> Certificate::generate(const std::string& common_name) {
  std::shared_ptr<Certificate> c(new Certificate());
  auto fail = [](const char* what) {
    const std::string errors = openssl_errors();
    throw std::runtime_error(std::string("DTLS certificate: ") + what +
                             (errors.empty() ? "" : ": " + errors));
  };

  c->key_ = EVP_EC_gen("P-256");
  if (c->key_ == nullptr) fail("EC P-256 key generation failed");
  c->x509_ = X509_new();
  if (c->x509_ == nullptr) fail("X509_new failed");
  X509* x = c->x509_;
  if (X509_set_version(x, X509_VERSION_3) != 1) fail("X509_set_version failed");

  // Random positive 63-bit serial.
  Bytes serial_bytes(8);
  random_bytes(serial_bytes);
  serial_bytes[0] &= 0x7F;
  BIGNUM* bn = BN_bin2bn(serial_bytes.data(), static_cast<int>(serial_bytes.size()), nullptr);
  if (bn == nullptr) fail("BN_bin2bn failed");
  ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  if (serial == nullptr) fail("serial number");

  constexpr long kDay = 24 * 60 * 60;
  if (X509_gmtime_adj(X509_getm_notBefore(x), -kDay) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(x), 30 * kDay) == nullptr)
    fail("validity");

  X509_NAME* name = X509_get_subject_name(x);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1)
    fail("subject name");
  if (X509_set_issuer_name(x, name) != 1) fail("issuer name");
  if (X509_set_pubkey(x, c->key_) != 1) fail("X509_set_pubkey failed");
  if (X509_sign(x, c->key_, EVP_sha256()) <= 0) fail("X509_sign failed");

  const Bytes fp = sha256_of_certificate(x);
  if (fp.size() != 32) fail("fingerprint");
  c->fingerprint_ = to_hex_colon(fp);
  return c;
}

Bytes sha256_of_certificate(X509* cert) { return digest_of(cert, EVP_sha256()); }

struct TransportGlue;
namespace {
SSL_CTX* new_dtls_context(const Certificate& cert);
}

SSL_CTX* Certificate::dtls_context() const {
  std::call_once(ctx_once_, [this] { ctx_ = new_dtls_context(*this); });  // throws: retried
  return ctx_;
}

// ---------------------------------------------------------------------------------------------
// OpenSSL glue: a datagram BIO (each write is one datagram), the retransmit timer, and the
// certificate check. They reach the Transport through the BIO data / SSL app data pointers.

struct TransportGlue {
  static Transport* of(SSL* ssl) { return static_cast<Transport*>(SSL_get_app_data(ssl)); }

  // --- datagram BIO --------------------------------------------------------------------------
  static int bio_write(BIO* bio, const char* data, int len) {
    auto* self = static_cast<Transport*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (self == nullptr || len < 0) return -1;
    try {
      self->out_queue_.emplace_back(reinterpret_cast<const uint8_t*>(data),
                                    reinterpret_cast<const uint8_t*>(data) + len);
    } catch (...) {
      return -1;
    }
    return len;
  }

  static long bio_ctrl(BIO*, int cmd, long, void*) {
    switch (cmd) {
      case BIO_CTRL_FLUSH:
        return 1;  // nothing buffered: every write already is a datagram
      case BIO_CTRL_PENDING:
      case BIO_CTRL_WPENDING:
        return 0;
      case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
        return 0;  // the MTU we configure is the DTLS datagram size itself
      case BIO_CTRL_DGRAM_QUERY_MTU:
        return 0;  // never asked: SSL_OP_NO_QUERY_MTU is set
      case BIO_CTRL_PUSH:
      case BIO_CTRL_POP:
        return 0;
      default:
        return 0;  // BIO_CTRL_DGRAM_GET_PEER, MTU_EXCEEDED, SET_NEXT_TIMEOUT...: not supported
    }
  }

  static int bio_create(BIO* bio) {
    BIO_set_data(bio, nullptr);
    BIO_set_init(bio, 1);
    return 1;
  }

  static int bio_destroy(BIO* bio) {
    if (bio == nullptr) return 0;
    BIO_set_data(bio, nullptr);
    return 1;
  }

  static const BIO_METHOD* bio_method() {
    struct Holder {
      BIO_METHOD* method = nullptr;
      Holder() {
        method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "peerrtc dtls datagram");
        if (method == nullptr) return;
        BIO_meth_set_write(method, &bio_write);
        BIO_meth_set_ctrl(method, &bio_ctrl);
        BIO_meth_set_create(method, &bio_create);
        BIO_meth_set_destroy(method, &bio_destroy);
      }
      ~Holder() { BIO_meth_free(method); }
    };
    static const Holder holder;
    return holder.method;
  }

  // --- timer ---------------------------------------------------------------------------------
  static unsigned int timer_cb(SSL* ssl, unsigned int previous_us) {
    Transport* self = of(ssl);
    if (previous_us == 0) {
      long long us = self ? std::chrono::duration_cast<std::chrono::microseconds>(
                                self->config_.initial_retransmit)
                                .count()
                          : 1'000'000;
      us = std::clamp<long long>(us, 1'000, kMaxRetransmitUs);
      return static_cast<unsigned int>(us);
    }
    return previous_us >= kMaxRetransmitUs / 2 ? kMaxRetransmitUs : previous_us * 2;
  }

  // --- certificate check ---------------------------------------------------------------------
  static int verify_accept_all(int, X509_STORE_CTX*) { return 1; }

  // Replaces X509 chain building: WebRTC certificates are self-signed and authenticated by the
  // fingerprint from the signalled SDP. Rejecting here makes OpenSSL send a bad_certificate
  // alert, so the peer fails too instead of believing the session is up.
  static int cert_verify(X509_STORE_CTX* store, void*) {
    // The SSL_CTX is shared: the Transport is the app data of the SSL being verified.
    auto* ssl = static_cast<SSL*>(
        X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    Transport* self = ssl != nullptr ? of(ssl) : nullptr;
    X509* leaf = X509_STORE_CTX_get0_cert(store);
    std::string why;
    if (self != nullptr && self->fingerprint_matches(leaf, &why)) return 1;
    if (self != nullptr) self->verify_error_ = why;
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
  }
};

namespace {

SSL_CTX* new_dtls_context(const Certificate& cert) {
  SSL_CTX* ctx = nullptr;
  auto check = [&ctx](bool ok, const char* what) {
    if (ok) return;
    const std::string errors = openssl_errors();
    SSL_CTX_free(ctx);
    throw std::runtime_error(std::string("dtls::Transport: ") + what +
                             (errors.empty() ? "" : ": " + errors));
  };
  ERR_clear_error();
  ctx = SSL_CTX_new(DTLS_method());
  check(ctx != nullptr, "SSL_CTX_new failed");
  check(SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) == 1 &&
            SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) == 1,
        "cannot restrict to DTLS 1.2");
  check(SSL_CTX_use_certificate(ctx, cert.x509()) == 1, "SSL_CTX_use_certificate failed");
  check(SSL_CTX_use_PrivateKey(ctx, cert.key()) == 1, "SSL_CTX_use_PrivateKey failed");
  check(SSL_CTX_check_private_key(ctx) == 1, "certificate and key do not match");
  check(SSL_CTX_set_cipher_list(ctx, kCipherList) == 1, "SSL_CTX_set_cipher_list failed");
  check(SSL_CTX_set1_groups_list(ctx, kGroups) == 1, "SSL_CTX_set1_groups_list failed");
  check(SSL_CTX_set_tlsext_use_srtp(ctx, kSrtpProfiles) == 0,  // 0 is success here
        "SSL_CTX_set_tlsext_use_srtp failed");
  // OpenSSL 3.0 ignores SSL_MODE_RELEASE_BUFFERS for DTLS (ssl3_read_n and the write path test
  // !SSL_IS_DTLS; heaptrack shows both record buffers held by idle peers), and SSL_free_buffers()
  // cannot stand in: DTLS never allocates the write buffer again (do_dtls1_write uses it as
  // is), so the next SSL_write crashes. Kept for OpenSSL versions that honour it. The write
  // buffer is kept small with Config::max_send_plaintext; the ~16.7 KB read buffer stays.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     &TransportGlue::verify_accept_all);
  SSL_CTX_set_cert_verify_callback(ctx, &TransportGlue::cert_verify, nullptr);
  return ctx;
}

// SSL_read's destination: one 16 KiB buffer per thread instead of one per Transport (every
// Transport runs on the network thread). A nested read (a callback feeding another Transport
// synchronously, as tests do) gets its own buffer so the outer view stays valid.
struct ReadScratch {
  Bytes buf = Bytes(kMaxPlaintext);
  bool busy = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Transport

Transport::Transport(std::shared_ptr<Certificate> cert, Role role, std::string expected_algorithm,
                     Bytes expected_digest, Callbacks callbacks, Config config)
    : cert_(std::move(cert)),
      role_(role),
      expected_algorithm_(std::move(expected_algorithm)),
      expected_digest_(std::move(expected_digest)),
      cb_(std::move(callbacks)),
      config_(config) {
  if (!cert_ || cert_->x509() == nullptr || cert_->key() == nullptr)
    throw std::invalid_argument("dtls::Transport: certificate required");
  auto check = [this](bool ok, const char* what) {
    if (ok) return;
    const std::string errors = openssl_errors();
    cleanup();
    throw std::runtime_error(std::string("dtls::Transport: ") + what +
                             (errors.empty() ? "" : ": " + errors));
  };

  ERR_clear_error();
  SSL_CTX* ctx = cert_->dtls_context();  // throws if it cannot be created
  ssl_ = SSL_new(ctx);                   // holds its own reference to ctx
  check(ssl_ != nullptr, "SSL_new failed");
  SSL_set_app_data(ssl_, this);

  BIO* in = BIO_new(BIO_s_mem());
  const BIO_METHOD* method = TransportGlue::bio_method();
  BIO* out = method ? BIO_new(method) : nullptr;
  if (in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    check(false, "BIO_new failed");
  }
  BIO_set_mem_eof_return(in, -1);  // empty input = "want read", not EOF
  BIO_set_data(out, this);
  SSL_set_bio(ssl_, in, out);  // ssl_ owns both from here
  in_ = in;
  out_ = out;

  const uint16_t mtu = std::min(config_.mtu, kMaxHandshakeMtu);
  SSL_set_options(ssl_, SSL_OP_NO_QUERY_MTU);
  if (SSL_set_mtu(ssl_, mtu) <= 0 || DTLS_set_link_mtu(ssl_, mtu) != 1) {
    ERR_clear_error();
    cleanup();
    throw std::invalid_argument("dtls::Transport: mtu " + std::to_string(config_.mtu) +
                                " is below the DTLS minimum (256)");
  }
  if (config_.max_send_plaintext < 512 || config_.max_send_plaintext > kMaxPlaintext ||
      SSL_set_max_send_fragment(ssl_, config_.max_send_plaintext) != 1) {
    ERR_clear_error();
    cleanup();
    throw std::invalid_argument("dtls::Transport: max_send_plaintext " +
                                std::to_string(config_.max_send_plaintext) +
                                " is outside 512..16384");
  }
  DTLS_set_timer_cb(ssl_, &TransportGlue::timer_cb);
  if (role_ == Role::Client)
    SSL_set_connect_state(ssl_);
  else
    SSL_set_accept_state(ssl_);  // no DTLSv1_listen/cookie: ICE already checked the address
}

Transport::~Transport() { cleanup(); }

void Transport::cleanup() {
  if (out_ != nullptr) BIO_set_data(out_, nullptr);
  if (ssl_ != nullptr) SSL_free(ssl_);  // frees in_ and out_ (and drops its SSL_CTX reference)
  ssl_ = nullptr;
  in_ = nullptr;
  out_ = nullptr;
  out_queue_.clear();
}

void Transport::start() {
  if (state_ != State::New) return;
  state_ = State::Connecting;
  started_ = std::chrono::steady_clock::now();

  const EVP_MD* md = digest_for(expected_algorithm_);
  if (md == nullptr) {
    fail("unsupported fingerprint algorithm '" + expected_algorithm_ + "'");
    return;
  }
  if (expected_digest_.size() != static_cast<size_t>(EVP_MD_get_size(md))) {
    fail("remote fingerprint has " + std::to_string(expected_digest_.size()) + " bytes, " +
         expected_algorithm_ + " needs " + std::to_string(EVP_MD_get_size(md)));
    return;
  }
  if (role_ == Role::Client) drive_handshake();  // ClientHello
}

void Transport::flush_output() {
  // Pop before calling out: the send callback may re-enter send()/close(), which appends more
  // datagrams and flushes them (in order) itself.
  while (!out_queue_.empty()) {
    Bytes datagram = std::move(out_queue_.front());
    out_queue_.pop_front();
    if (cb_.send) cb_.send(datagram);
  }
}

void Transport::fail(const std::string& reason) {
  if (state_ == State::Closed || state_ == State::Failed) return;
  state_ = State::Failed;
  if (cb_.on_closed) cb_.on_closed(reason);
}

void Transport::after_io(int err, const std::string& errors, const char* what) {
  if (state_ != State::Connecting && state_ != State::Connected) return;  // closed meanwhile
  switch (err) {
    case SSL_ERROR_NONE:
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return;
    case SSL_ERROR_ZERO_RETURN:  // close_notify
      state_ = State::Closed;
      ERR_clear_error();
      SSL_shutdown(ssl_);  // answer with our own close_notify (RFC 5246 7.2.1)
      ERR_clear_error();
      flush_output();
      if (cb_.on_closed) cb_.on_closed("closed by peer");
      return;
    default: {
      std::string reason;
      if (!verify_error_.empty())
        reason = verify_error_;
      else
        reason = std::string(what) + ": " + (errors.empty() ? "I/O error" : errors);
      fail(reason);
      return;
    }
  }
}

void Transport::drive_handshake() {
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl_);
  const int err = ret == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, ret);
  const std::string errors = ret == 1 ? std::string() : openssl_errors();
  ERR_clear_error();
  flush_output();
  if (state_ != State::Connecting) return;
  if (ret != 1) {
    after_io(err, errors, "DTLS handshake failed");
    return;
  }
  if (!verify_remote()) return;
  state_ = State::Connected;
  if (cb_.on_connected) cb_.on_connected();
}

bool Transport::fingerprint_matches(X509* peer, std::string* why) const {
  const EVP_MD* md = digest_for(expected_algorithm_);
  if (md == nullptr) {
    *why = "unsupported fingerprint algorithm '" + expected_algorithm_ + "'";
    return false;
  }
  if (peer == nullptr) {
    *why = "DTLS peer sent no certificate";
    return false;
  }
  const Bytes actual = digest_of(peer, md);
  if (actual.empty()) {
    *why = "cannot compute the " + expected_algorithm_ + " digest of the peer certificate";
    return false;
  }
  if (actual.size() == expected_digest_.size() &&
      CRYPTO_memcmp(actual.data(), expected_digest_.data(), actual.size()) == 0)
    return true;
  *why = "DTLS certificate fingerprint mismatch: expected " + expected_algorithm_ + " " +
         to_hex_colon(expected_digest_) + ", peer certificate has " + to_hex_colon(actual);
  return false;
}

bool Transport::verify_remote() {
  // Already checked in the certificate callback; checked again on the final peer certificate.
  X509* peer = SSL_get0_peer_certificate(ssl_);
  std::string why;
  if (fingerprint_matches(peer, &why)) return true;
  fail(why);
  return false;
}

bool Transport::record_acceptable(uint8_t type, uint16_t epoch, ByteView body) const {
  if (body.size() > kMaxRecordBody) return false;
  if (epoch > 1) return false;  // no renegotiation: only epochs 0 and 1 ever exist
  if (type == kApplicationData) return epoch == 1 && !body.empty();
  if (epoch == 1) return true;  // encrypted: OpenSSL authenticates it
  // Plaintext (epoch 0) records. Once connected the peer has nothing left to say in epoch 0
  // (OpenSSL would discard these anyway). During the handshake they are unauthenticated, and
  // OpenSSL treats some malformed ones as fatal, so sanity-check them first.
  if (state_ != State::Connecting) return false;
  switch (type) {
    case kChangeCipherSpec:
      return body.size() == 1 && body[0] == 1;
    case kAlert:
      return body.size() == 2 && (body[0] == 1 || body[0] == 2);
    case kHandshake: {
      if (body.empty()) return false;
      size_t off = 0;
      while (off < body.size()) {
        if (body.size() - off < kHandshakeHeader) return false;
        const uint8_t* h = body.data() + off;
        const uint8_t msg_type = h[0];
        const uint32_t msg_len = load_be24(h + 1);
        const uint32_t frag_off = load_be24(h + 6);
        const uint32_t frag_len = load_be24(h + 9);
        if (msg_len > kMaxHandshakeMessage || uint64_t{frag_off} + frag_len > msg_len) return false;
        if (frag_len > body.size() - off - kHandshakeHeader) return false;
        // Messages the peer may send us in epoch 0 (Finished comes in epoch 1).
        const bool ok = role_ == Role::Server
                            ? (msg_type == 1 || msg_type == 11 || msg_type == 15 || msg_type == 16)
                            : (msg_type == 2 || msg_type == 3 || msg_type == 11 ||
                               msg_type == 12 || msg_type == 13 || msg_type == 14);
        if (!ok) return false;
        off += kHandshakeHeader + frag_len;
      }
      return true;
    }
    default:
      return false;
  }
}

void Transport::receive(ByteView datagram) {
  if (state_ != State::Connecting && state_ != State::Connected) {
    ++dropped_;
    return;
  }
  if (datagram.empty()) {
    ++dropped_;
    return;
  }
  const bool connected_at_entry = state_ == State::Connected;

  // Split into records; keep the plausible ones (a datagram may carry several records).
  Bytes feed;
  size_t app_records = 0;
  size_t off = 0;
  while (off < datagram.size()) {
    const size_t left = datagram.size() - off;
    const uint8_t* h = datagram.data() + off;
    if (left < kRecordHeader) {
      ++dropped_;
      break;
    }
    const uint8_t type = h[0];
    const uint8_t version_major = h[1];
    const uint16_t epoch = load_be16(h + 3);
    const size_t length = load_be16(h + 11);
    if (type < kChangeCipherSpec || type > kApplicationData || version_major != 0xFE ||
        length > left - kRecordHeader) {
      ++dropped_;  // not DTLS, or the rest of the datagram cannot be delimited
      break;
    }
    off += kRecordHeader + length;
    if (!record_acceptable(type, epoch, ByteView(h + kRecordHeader, length))) {
      ++dropped_;
      continue;
    }
    if (type == kApplicationData) ++app_records;
    feed.insert(feed.end(), h, h + kRecordHeader + length);
  }
  if (feed.empty()) return;

  BIO_reset(in_);
  if (BIO_write(in_, feed.data(), static_cast<int>(feed.size())) != static_cast<int>(feed.size())) {
    ++dropped_;
    BIO_reset(in_);
    return;
  }

  size_t delivered = 0;
  if (state_ == State::Connecting) drive_handshake();
  if (state_ == State::Connected) read_records(delivered);
  // OpenSSL silently discards records that fail authentication, replays and records from a
  // wrong epoch; count them as the application records that yielded nothing.
  if (connected_at_entry && state_ == State::Connected && delivered < app_records)
    dropped_ += app_records - delivered;
  if (in_ != nullptr) BIO_reset(in_);  // never let a leftover merge with the next datagram
}

void Transport::read_records(size_t& delivered) {
  static thread_local ReadScratch scratch;
  Bytes nested;
  Bytes* buf = &scratch.buf;
  if (scratch.busy) {
    nested.resize(kMaxPlaintext);
    buf = &nested;
  }
  struct Claim {
    bool& busy;
    bool was;
    ~Claim() { busy = was; }
  } claim{scratch.busy, scratch.busy};
  scratch.busy = true;
  Bytes& rbuf = *buf;
  while (state_ == State::Connected) {
    clear_errors();
    const int n = SSL_read(ssl_, rbuf.data(), static_cast<int>(rbuf.size()));
    const int err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl_, n);
    const std::string errors = n > 0 ? std::string() : openssl_errors();
    if (n <= 0) clear_errors();
    flush_output();  // retransmissions or alerts OpenSSL produced while reading
    if (state_ != State::Connected) return;
    if (n > 0) {
      ++delivered;
      if (cb_.on_data) cb_.on_data(ByteView(rbuf.data(), static_cast<size_t>(n)));
      continue;
    }
    after_io(err, errors, "DTLS failed");
    return;
  }
}

std::string Transport::srtp_profile() const {
  const SRTP_PROTECTION_PROFILE* p = ssl_ ? SSL_get_selected_srtp_profile(ssl_) : nullptr;
  return p && p->name ? p->name : "";
}

bool Transport::send(ByteView data) {
  if (state_ != State::Connected) return false;
  if (data.size() > config_.max_send_plaintext) return false;
  if (data.empty()) return true;  // DTLS has no use for empty records (OpenSSL skips them)
  clear_errors();
  const int n = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
  const int err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl_, n);
  const std::string errors = n > 0 ? std::string() : openssl_errors();
  if (n <= 0) clear_errors();
  flush_output();
  if (n == static_cast<int>(data.size())) return true;
  if (err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL)
    after_io(err, errors, "DTLS write failed");
  return false;
}

void Transport::close() {
  if (state_ == State::Closed || state_ == State::Failed) return;
  const bool was_connected = state_ == State::Connected;
  state_ = State::Closed;
  if (was_connected) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues close_notify (OpenSSL refuses while the handshake runs)
    ERR_clear_error();
    flush_output();
  }
}

std::optional<std::chrono::milliseconds> Transport::next_timeout() const {
  // DTLS 1.2 runs no timer once the handshake is done: the side that sent the last flight
  // resends it when the peer's retransmission arrives (RFC 6347 §4.2.4), and renegotiation is
  // off. Skipping the query matters at 1,000 idle peers.
  if (state_ != State::Connecting) return std::nullopt;
  std::optional<std::chrono::milliseconds> result;
  timeval tv{};
  if (DTLSv1_get_timeout(ssl_, &tv) == 1) result = ceil_ms(tv);
  const auto elapsed = std::chrono::steady_clock::now() - started_;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(config_.handshake_timeout - elapsed);
  if (left.count() < 0) left = std::chrono::milliseconds(0);
  if (!result || left < *result) result = left;
  return result;
}

void Transport::handle_timeout() {
  if (state_ != State::Connecting && state_ != State::Connected) return;
  if (state_ == State::Connecting &&
      std::chrono::steady_clock::now() - started_ >= config_.handshake_timeout) {
    fail("DTLS handshake timed out");
    return;
  }
  ERR_clear_error();
  const int ret = static_cast<int>(DTLSv1_handle_timeout(ssl_));  // retransmits if expired
  const std::string errors = ret < 0 ? openssl_errors() : std::string();
  ERR_clear_error();
  flush_output();
  if (ret < 0 && (state_ == State::Connecting || state_ == State::Connected))
    fail("DTLS retransmission failed: " + (errors.empty() ? std::string("timeout") : errors));
}

}  // namespace peerrtc::dtls
