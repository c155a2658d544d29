#include "quic/tls.hpp"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include <ngtcp2/ngtcp2_crypto_wolfssl.h>

#include <wolfssl/wolfcrypt/asn.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <vector>

namespace qsse::quic {
namespace {

constexpr const char* kCipherList =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256";

std::string wolfssl_error(const char* step, int code) {
  char text[WOLFSSL_MAX_ERROR_SZ] = {};
  wolfSSL_ERR_error_string_n(static_cast<unsigned long>(code < 0 ? -code : code), text,
                             sizeof(text));
  return std::string(step) + " failed (" + std::to_string(code) + ": " + text + ")";
}

Result<std::string, std::string> der_to_pem(const uint8_t* der, int der_size, int type) {
  int pem_size = wc_DerToPem(der, static_cast<word32>(der_size), nullptr, 0, type);
  if (pem_size <= 0) return fail(wolfssl_error("wc_DerToPem(size)", pem_size));
  std::string pem(static_cast<size_t>(pem_size), '\0');
  pem_size = wc_DerToPem(der, static_cast<word32>(der_size), reinterpret_cast<byte*>(pem.data()),
                         static_cast<word32>(pem.size()), type);
  if (pem_size <= 0) return fail(wolfssl_error("wc_DerToPem", pem_size));
  pem.resize(static_cast<size_t>(pem_size));
  return pem;
}

// ALPN selection on the server: our preference order, among what the client offered.
int select_alpn(WOLFSSL* ssl, const unsigned char** out, unsigned char* outlen,
                const unsigned char* in, unsigned int inlen, void* arg) {
  (void)ssl;
  const auto* ours = static_cast<const std::string*>(arg);
  for (size_t i = 0; i < ours->size();) {
    auto len = static_cast<unsigned char>((*ours)[i]);
    const auto* name = reinterpret_cast<const unsigned char*>(ours->data() + i + 1);
    for (unsigned int j = 0; j < inlen;) {
      unsigned char their_len = in[j];
      if (j + 1 + their_len > inlen) break;
      if (their_len == len && std::memcmp(in + j + 1, name, len) == 0) {
        *out = in + j + 1;
        *outlen = their_len;
        return SSL_TLSEXT_ERR_OK;
      }
      j += 1u + their_len;
    }
    i += 1u + len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

Result<std::string, std::string> alpn_to_wire(const std::vector<std::string>& names) {
  std::string wire;
  for (const auto& name : names) {
    if (name.empty() || name.size() > 255)
      return fail(std::string("ALPN names must be 1-255 bytes"));
    wire.push_back(static_cast<char>(name.size()));
    wire += name;
  }
  if (wire.empty()) return fail(std::string("at least one ALPN protocol is required"));
  return wire;
}

Result<std::string, std::string> read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("TLS: cannot read " + std::string(what) + " file '" + path + "'");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// wolfSSL_CTX_check_private_key does not compare ECC keys in this build, so for ECDSA
// certificates the key's public half is compared with the certificate's explicitly.
Result<void, std::string> check_key_matches(const std::string& cert_pem,
                                            const std::string& key_pem) {
  std::vector<uint8_t> cert_der(cert_pem.size());
  int cert_len = wc_CertPemToDer(reinterpret_cast<const unsigned char*>(cert_pem.data()),
                                 static_cast<int>(cert_pem.size()), cert_der.data(),
                                 static_cast<int>(cert_der.size()), CERT_TYPE);
  if (cert_len <= 0) return fail(std::string("TLS: certificate PEM is not valid"));
  DecodedCert decoded;
  wc_InitDecodedCert(&decoded, cert_der.data(), static_cast<word32>(cert_len), nullptr);
  struct FreeCert {
    DecodedCert* c;
    ~FreeCert() { wc_FreeDecodedCert(c); }
  } free_cert{&decoded};
  if (wc_ParseCert(&decoded, CERT_TYPE, NO_VERIFY, nullptr) != 0) {
    return fail(std::string("TLS: certificate cannot be parsed"));
  }
  if (decoded.keyOID != ECDSAk) return {};  // wolfSSL's own check covers RSA
  uint8_t cert_spki[256];
  word32 cert_spki_len = sizeof(cert_spki);
  if (wc_GetPubKeyDerFromCert(&decoded, cert_spki, &cert_spki_len) != 0) {
    return fail(std::string("TLS: certificate public key cannot be read"));
  }
  std::vector<uint8_t> key_der(key_pem.size());
  int key_len = wc_KeyPemToDer(reinterpret_cast<const unsigned char*>(key_pem.data()),
                               static_cast<int>(key_pem.size()), key_der.data(),
                               static_cast<int>(key_der.size()), nullptr);
  if (key_len <= 0) return fail(std::string("TLS: private key PEM is not valid"));
  ecc_key key;
  wc_ecc_init(&key);
  word32 index = 0;
  int rc = wc_EccPrivateKeyDecode(key_der.data(), &index, &key, static_cast<word32>(key_len));
  uint8_t key_spki[256];
  int key_spki_len = rc == 0 ? wc_EccPublicKeyToDer(&key, key_spki, sizeof(key_spki), 1) : -1;
  wc_ecc_free(&key);
  if (key_spki_len <= 0) return fail(std::string("TLS: the private key is not an ECDSA key"));
  if (static_cast<word32>(key_spki_len) != cert_spki_len ||
      std::memcmp(key_spki, cert_spki, cert_spki_len) != 0) {
    return fail(std::string("TLS: the private key does not match the certificate"));
  }
  return {};
}

}  // namespace

void ensure_tls_initialized() {
  static std::once_flag once;
  std::call_once(once, [] { wolfSSL_Init(); });
}

Result<CertificateBundle, std::string> generate_self_signed(std::string_view common_name,
                                                            int days_valid) {
  ensure_tls_initialized();
  if (common_name.empty() || common_name.size() >= CTC_NAME_SIZE) {
    return fail(std::string("certificate common name must be 1-") +
                std::to_string(CTC_NAME_SIZE - 1) + " bytes");
  }
  WC_RNG rng;
  if (int rc = wc_InitRng(&rng); rc != 0) return fail(wolfssl_error("wc_InitRng", rc));
  ecc_key key;
  wc_ecc_init(&key);
  struct Cleanup {
    WC_RNG* rng;
    ecc_key* key;
    ~Cleanup() {
      wc_ecc_free(key);
      wc_FreeRng(rng);
    }
  } cleanup{&rng, &key};

  if (int rc = wc_ecc_make_key_ex(&rng, 32, &key, ECC_SECP256R1); rc != 0) {
    return fail(wolfssl_error("wc_ecc_make_key_ex(P-256)", rc));
  }
  Cert cert;
  if (int rc = wc_InitCert(&cert); rc != 0) return fail(wolfssl_error("wc_InitCert", rc));
  std::memcpy(cert.subject.commonName, common_name.data(), common_name.size());
  cert.subject.commonName[common_name.size()] = '\0';
  std::strncpy(cert.subject.org, "qsse", CTC_NAME_SIZE - 1);
  cert.sigType = CTC_SHA256wECDSA;
  cert.isCA = 1;
  cert.daysValid = days_valid;

  uint8_t der[4096];
  int size = wc_MakeCert_ex(&cert, der, sizeof(der), ECC_TYPE, &key, &rng);
  if (size < 0) return fail(wolfssl_error("wc_MakeCert_ex", size));
  size = wc_SignCert_ex(cert.bodySz, cert.sigType, der, sizeof(der), ECC_TYPE, &key, &rng);
  if (size < 0) return fail(wolfssl_error("wc_SignCert_ex", size));
  auto cert_pem = der_to_pem(der, size, CERT_TYPE);
  if (!cert_pem) return fail(cert_pem.error());

  uint8_t key_der[512];
  int key_size = wc_EccKeyToDer(&key, key_der, sizeof(key_der));
  if (key_size < 0) return fail(wolfssl_error("wc_EccKeyToDer", key_size));
  auto key_pem = der_to_pem(key_der, key_size, ECC_PRIVATEKEY_TYPE);
  if (!key_pem) return fail(key_pem.error());
  return CertificateBundle{std::move(*cert_pem), std::move(*key_pem)};
}

TlsContext::~TlsContext() {
  if (ctx_ != nullptr) wolfSSL_CTX_free(ctx_);
}

Result<std::shared_ptr<TlsContext>, std::string> TlsContext::server(
    const ServerTlsOptions& options) {
  ensure_tls_initialized();
  std::shared_ptr<TlsContext> tls(new TlsContext());
  tls->is_server_ = true;
  auto wire = alpn_to_wire(options.alpn);
  if (!wire) return fail("server ALPN: " + wire.error());
  tls->alpn_wire_ = std::move(*wire);

  tls->ctx_ = wolfSSL_CTX_new(wolfTLSv1_3_server_method());
  if (tls->ctx_ == nullptr) return fail(std::string("wolfSSL_CTX_new(server) failed"));
  if (ngtcp2_crypto_wolfssl_configure_server_context(tls->ctx_) != 0) {
    return fail(std::string("ngtcp2_crypto_wolfssl_configure_server_context failed"));
  }
  if (wolfSSL_CTX_set_cipher_list(tls->ctx_, kCipherList) != WOLFSSL_SUCCESS) {
    return fail(std::string("wolfSSL_CTX_set_cipher_list failed"));
  }

  std::string cert_pem = options.certificate_pem;
  std::string key_pem = options.private_key_pem;
  if (!options.certificate_file.empty() || !options.private_key_file.empty()) {
    if (options.certificate_file.empty() || options.private_key_file.empty()) {
      return fail(std::string("TLS: give both a certificate file and a private key file"));
    }
    auto cert_text = read_file(options.certificate_file, "certificate");
    if (!cert_text) return fail(cert_text.error());
    auto key_text = read_file(options.private_key_file, "private key");
    if (!key_text) return fail(key_text.error());
    cert_pem = std::move(*cert_text);
    key_pem = std::move(*key_text);
  } else if (cert_pem.empty() != key_pem.empty()) {
    return fail(std::string("TLS: give both a certificate and a private key"));
  } else if (cert_pem.empty()) {
    auto generated = generate_self_signed("localhost");
    if (!generated) return fail("TLS: generating a self-signed certificate: " + generated.error());
    cert_pem = std::move(generated->certificate_pem);
    key_pem = std::move(generated->private_key_pem);
  }
  int rc = wolfSSL_CTX_use_certificate_chain_buffer(
      tls->ctx_, reinterpret_cast<const unsigned char*>(cert_pem.data()),
      static_cast<long>(cert_pem.size()));
  if (rc != WOLFSSL_SUCCESS) return fail(std::string("TLS: certificate is not valid PEM"));
  rc = wolfSSL_CTX_use_PrivateKey_buffer(tls->ctx_,
                                         reinterpret_cast<const unsigned char*>(key_pem.data()),
                                         static_cast<long>(key_pem.size()), WOLFSSL_FILETYPE_PEM);
  if (rc != WOLFSSL_SUCCESS) return fail(std::string("TLS: private key is not valid PEM"));
  if (wolfSSL_CTX_check_private_key(tls->ctx_) != WOLFSSL_SUCCESS) {
    return fail(std::string("TLS: the private key does not match the certificate"));
  }
  if (auto match = check_key_matches(cert_pem, key_pem); !match) return fail(match.error());
  tls->certificate_pem_ = std::move(cert_pem);
  wolfSSL_CTX_set_alpn_select_cb(tls->ctx_, select_alpn, &tls->alpn_wire_);
  return tls;
}

Result<std::shared_ptr<TlsContext>, std::string> TlsContext::client(
    const ClientTlsOptions& options) {
  ensure_tls_initialized();
  std::shared_ptr<TlsContext> tls(new TlsContext());
  auto wire = alpn_to_wire(options.alpn);
  if (!wire) return fail("client ALPN: " + wire.error());
  tls->alpn_wire_ = std::move(*wire);
  for (const auto& name : options.alpn) {
    if (!tls->alpn_csv_.empty()) tls->alpn_csv_ += ',';
    tls->alpn_csv_ += name;
  }
  tls->server_name_ = options.server_name;

  tls->ctx_ = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
  if (tls->ctx_ == nullptr) return fail(std::string("wolfSSL_CTX_new(client) failed"));
  if (ngtcp2_crypto_wolfssl_configure_client_context(tls->ctx_) != 0) {
    return fail(std::string("ngtcp2_crypto_wolfssl_configure_client_context failed"));
  }
  if (wolfSSL_CTX_set_cipher_list(tls->ctx_, kCipherList) != WOLFSSL_SUCCESS) {
    return fail(std::string("wolfSSL_CTX_set_cipher_list failed"));
  }
  if (options.insecure_skip_verify) {
    wolfSSL_CTX_set_verify(tls->ctx_, WOLFSSL_VERIFY_NONE, nullptr);
    return tls;
  }
  wolfSSL_CTX_set_verify(tls->ctx_, WOLFSSL_VERIFY_PEER, nullptr);
  int rc;
  if (!options.ca_pem.empty()) {
    rc = wolfSSL_CTX_load_verify_buffer(
        tls->ctx_, reinterpret_cast<const unsigned char*>(options.ca_pem.data()),
        static_cast<long>(options.ca_pem.size()), WOLFSSL_FILETYPE_PEM);
    if (rc != WOLFSSL_SUCCESS) return fail(std::string("TLS: CA PEM is not valid"));
  } else if (!options.ca_file.empty()) {
    rc = wolfSSL_CTX_load_verify_locations(tls->ctx_, options.ca_file.c_str(), nullptr);
    if (rc != WOLFSSL_SUCCESS) {
      return fail("TLS: cannot load CA certificates from '" + options.ca_file + "'");
    }
  } else {
    rc = wolfSSL_CTX_load_system_CA_certs(tls->ctx_);
    if (rc != WOLFSSL_SUCCESS) {
      return fail(std::string(
          "TLS: no system CA certificates found; pass a CA file or use insecure_skip_verify"));
    }
  }
  return tls;
}

WOLFSSL* TlsContext::new_session() const {
  WOLFSSL* ssl = wolfSSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  if (is_server_) {
    wolfSSL_set_accept_state(ssl);
  } else {
    wolfSSL_set_connect_state(ssl);
    // FAILED_ON_MISMATCH: the handshake fails if the server picks none of our protocols.
    if (wolfSSL_UseALPN(ssl, const_cast<char*>(alpn_csv_.c_str()),
                        static_cast<unsigned int>(alpn_csv_.size()),
                        WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS) {
      wolfSSL_free(ssl);
      return nullptr;
    }
    if (!server_name_.empty()) {
      wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, server_name_.data(),
                     static_cast<unsigned short>(server_name_.size()));
      wolfSSL_check_domain_name(ssl, server_name_.c_str());
    }
  }
  wolfSSL_set_quic_transport_version(ssl, 0x39);  // RFC 9001 quic_transport_parameters
  return ssl;
}

}  // namespace qsse::quic
