// quic/tls.hpp — wolfSSL contexts for QUIC (TLS 1.3), certificates and ALPN.
//
// A TlsContext wraps one WOLFSSL_CTX configured for ngtcp2 (ngtcp2_crypto_wolfssl). Servers get
// their certificate from PEM files or buffers, or an ECDSA P-256 self-signed certificate made in
// process (generate_self_signed). Clients verify the server's certificate by default — against a
// CA file, PEM buffer, or the system store — and skip verification only when
// insecure_skip_verify is set explicitly.
//
// ALPN: the server chooses the first protocol of its own list that the client offered and
// fails the handshake with TLS alert no_application_protocol (120) when there is none; the
// client fails the handshake when the server selects none of its protocols. The negotiated
// protocol is reported by Connection::alpn().
//
// Cipher suites: AES-128-GCM first (wolfSSL's ChaCha20 is 2-5x slower here), then AES-256-GCM,
// then ChaCha20-Poly1305.
//
// Thread safety: a TlsContext may be shared by connections on several threads once built
// (wolfSSL contexts are read-only after configuration). Building one is not thread-safe with
// respect to the same object.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <qsse/result.hpp>

struct WOLFSSL_CTX;
struct WOLFSSL;

namespace qsse::quic {

// The two protocols the engine speaks (DESIGN.md §4).
inline constexpr std::string_view kAlpnNative = "qsse/1";
inline constexpr std::string_view kAlpnLegacy = "PROTOCOL_QUIC";

// A certificate chain and its private key, both PEM.
struct CertificateBundle {
  std::string certificate_pem;
  std::string private_key_pem;
};

// Makes an ECDSA P-256 key and a self-signed certificate for `common_name` (also the name a
// client checks), valid for `days_valid` days from now. The certificate has CA:TRUE so that a
// client can use it directly as its trust anchor. Errors: a message naming the failed step.
[[nodiscard]] Result<CertificateBundle, std::string> generate_self_signed(
    std::string_view common_name = "localhost", int days_valid = 365);

struct ServerTlsOptions {
  // PEM certificate chain and key: either file paths or the PEM text itself. When all four are
  // empty a self-signed certificate for "localhost" is generated.
  std::string certificate_file;
  std::string private_key_file;
  std::string certificate_pem;
  std::string private_key_pem;
  // Protocols in order of preference.
  std::vector<std::string> alpn = {std::string(kAlpnNative), std::string(kAlpnLegacy)};
};

struct ClientTlsOptions {
  // Trust anchors: a PEM file, PEM text, or (both empty) the system store.
  std::string ca_file;
  std::string ca_pem;
  // Development only: accept any certificate.
  bool insecure_skip_verify = false;
  // Sent as SNI and checked against the certificate's names; empty skips the name check
  // (the chain is still verified unless insecure_skip_verify).
  std::string server_name = "localhost";
  // Protocols offered, in order of preference.
  std::vector<std::string> alpn = {std::string(kAlpnNative)};
};

class TlsContext {
 public:
  // Errors: a message saying what to fix (unreadable file, key that does not match, ...).
  [[nodiscard]] static Result<std::shared_ptr<TlsContext>, std::string> server(
      const ServerTlsOptions& options);
  [[nodiscard]] static Result<std::shared_ptr<TlsContext>, std::string> client(
      const ClientTlsOptions& options);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool is_server() const { return is_server_; }
  WOLFSSL_CTX* native() const { return ctx_; }
  // Creates the per-connection TLS object (accept or connect state, ALPN, SNI set).
  // Returns nullptr when wolfSSL cannot allocate it.
  WOLFSSL* new_session() const;
  // The certificate the server presents (PEM), useful for tests and for printing.
  const std::string& certificate_pem() const { return certificate_pem_; }
  // ALPN list in TLS wire format (length-prefixed names).
  const std::string& alpn_wire() const { return alpn_wire_; }

 private:
  TlsContext() = default;
  WOLFSSL_CTX* ctx_ = nullptr;
  bool is_server_ = false;
  std::string alpn_wire_;
  std::string alpn_csv_;
  std::string server_name_;
  std::string certificate_pem_;
};

// Calls wolfSSL_Init once per process (thread-safe); every entry point above calls it.
void ensure_tls_initialized();

}  // namespace qsse::quic
