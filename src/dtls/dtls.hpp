// DTLS 1.2 over memory BIOs (OpenSSL 3), for WebRTC (RFC 8827/8842). Pure: the owner feeds
// datagrams in with receive() and gets datagrams out through Callbacks::send; no sockets and
// no timers inside: the owner asks next_timeout() and calls handle_timeout() when it expires.
//
// Re-entrancy: callbacks run synchronously inside receive()/start()/send()/handle_timeout()/
// close(). A callback must not destroy the Transport; it may call send() or close().
#pragma once
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/bytes.hpp"
#include "common/result.hpp"

typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace peerrtc::dtls {

// One ECDSA P-256 self-signed certificate (generated at start-up), with its SHA-256 fingerprint.
class Certificate {
 public:
  static std::shared_ptr<Certificate> generate(const std::string& common_name = "peerrtc");
  ~Certificate();
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;

  const std::string& fingerprint_sha256() const { return fingerprint_; }  // "AB:CD:..."
  X509* x509() const { return x509_; }
  EVP_PKEY* key() const { return key_; }
  // The DTLS 1.2 SSL_CTX every Transport with this certificate shares (created on first use,
  // thread-safe). One SSL_CTX per connection cost ~4.4 KB per peer (cipher lists, stores...).
  SSL_CTX* dtls_context() const;

 private:
  Certificate() = default;
  X509* x509_ = nullptr;
  EVP_PKEY* key_ = nullptr;
  std::string fingerprint_;
  mutable std::once_flag ctx_once_;
  mutable SSL_CTX* ctx_ = nullptr;
};

// SHA-256 digest of a DER certificate (for fingerprint checks).
Bytes sha256_of_certificate(X509* cert);

enum class Role { Client, Server };
enum class State { New, Connecting, Connected, Closed, Failed };

struct Config {
  uint16_t mtu = 1200;
  // Largest plaintext of one record we send (SSL_set_max_send_fragment, 512..16384). OpenSSL's
  // write buffer is sized by it for the whole connection (~17.5 KB at 16384); send() refuses
  // more. The SCTP packets carried over DTLS never exceed the SCTP MTU (1200 B).
  uint16_t max_send_plaintext = 16384;
  std::chrono::milliseconds initial_retransmit{100};  // OpenSSL's default is 1 s
  std::chrono::seconds handshake_timeout{30};          // give up (Failed) after this
};

class Transport {
 public:
  struct Callbacks {
    std::function<void(ByteView datagram)> send;        // a DTLS record datagram to put on the wire
    std::function<void()> on_connected;                  // handshake done and fingerprint verified
    std::function<void(ByteView data)> on_data;          // decrypted application data
    std::function<void(const std::string& reason)> on_closed;  // close_notify, fatal alert, failure
  };

  // expected_fingerprint: algorithm ("sha-256") and digest from the remote SDP.
  Transport(std::shared_ptr<Certificate> cert, Role role, std::string expected_algorithm,
            Bytes expected_digest, Callbacks callbacks, Config config = {});
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Starts the handshake (a client sends its ClientHello; a server waits).
  void start();
  // Feeds one datagram from the wire. Bad records are dropped (counted) and never throw.
  void receive(ByteView datagram);
  // Sends application data; false if not connected or OpenSSL refused it.
  bool send(ByteView data);
  // Sends close_notify and moves to Closed (on_closed is not called for a local close).
  void close();

  // Time until the handshake retransmit timer fires, or nullopt if none is pending.
  std::optional<std::chrono::milliseconds> next_timeout() const;
  void handle_timeout();

  State state() const { return state_; }
  uint64_t dropped_records() const { return dropped_; }
  // The use_srtp profile the handshake settled on ("" if the client offered none); no SRTP
  // keys are ever derived, it only satisfies stacks that insist on one (pion).
  std::string srtp_profile() const;

 private:
  friend struct TransportGlue;  // OpenSSL C callbacks (BIO, timer, certificate check)

  void cleanup();
  void flush_output();
  // Inspects the result of an SSL call (error code and message taken before output is flushed).
  void after_io(int err, const std::string& errors, const char* what);
  void drive_handshake();
  void read_records(size_t& delivered);
  void fail(const std::string& reason);
  bool verify_remote();
  bool fingerprint_matches(X509* peer, std::string* why) const;
  bool record_acceptable(uint8_t type, uint16_t epoch, ByteView body) const;

  std::shared_ptr<Certificate> cert_;
  Role role_;
  std::string expected_algorithm_;
  Bytes expected_digest_;
  Callbacks cb_;
  Config config_;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // memory BIO, owned by ssl_
  BIO* out_ = nullptr;  // datagram BIO (one write = one datagram), owned by ssl_
  State state_ = State::New;
  uint64_t dropped_ = 0;
  std::chrono::steady_clock::time_point started_{};
  std::deque<Bytes> out_queue_;  // datagrams written by OpenSSL, sent after each SSL call returns
  std::string verify_error_;     // why the peer certificate was rejected during the handshake
};

}  // namespace peerrtc::dtls
