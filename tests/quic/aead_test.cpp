// Packet protection: qsse's direct AES-GCM and header-protection callbacks against
// ngtcp2_crypto_wolfssl's EVP ones (same bytes out, same verdict on tampered input) and against RFC
// 9001's test vector.
#include <gtest/gtest.h>

#include <wolfssl/options.h>  // first: the build's settings

#include <wolfssl/openssl/evp.h>

#include <ngtcp2/ngtcp2_crypto.h>

#include <cstring>
#include <random>
#include <vector>

#include "quic/aead.hpp"

namespace qsse::quic {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes random_bytes(std::mt19937& rng, size_t n) {
  Bytes out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

Bytes hex(const char* text) {
  Bytes out;
  for (size_t i = 0; text[i] != 0 && text[i + 1] != 0; i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(text + i, 2), nullptr, 16)));
  }
  return out;
}

struct Suite {
  const char* name;
  const WOLFSSL_EVP_CIPHER* (*aead)();
  const WOLFSSL_EVP_CIPHER* (*hp)();
  size_t key_length;
};

const Suite kSuites[] = {
    {"AES-128-GCM", wolfSSL_EVP_aes_128_gcm, wolfSSL_EVP_aes_128_ctr, 16},
    {"AES-256-GCM", wolfSSL_EVP_aes_256_gcm, wolfSSL_EVP_aes_256_ctr, 32},
    {"ChaCha20-Poly1305", wolfSSL_EVP_chacha20_poly1305, wolfSSL_EVP_chacha20, 32},
};

constexpr size_t kNonceLength = 12;
constexpr size_t kTag = 16;

// One direction's keys, made the way ngtcp2_crypto_wolfssl makes them (AES header protection
// is an AES-CTR context there, ChaCha20's a ChaCha20 one).
class Keys {
 public:
  Keys(const Suite& suite, const Bytes& key, const Bytes& hp_key) {
    aead_.native_handle = const_cast<WOLFSSL_EVP_CIPHER*>(suite.aead());
    aead_.max_overhead = kTag;
    EXPECT_EQ(ngtcp2_crypto_aead_ctx_encrypt_init(&encrypt_, &aead_, key.data(), kNonceLength), 0);
    EXPECT_EQ(ngtcp2_crypto_aead_ctx_decrypt_init(&decrypt_, &aead_, key.data(), kNonceLength), 0);
    hp_.native_handle = const_cast<WOLFSSL_EVP_CIPHER*>(suite.hp());
    WOLFSSL_EVP_CIPHER_CTX* hp = wolfSSL_EVP_CIPHER_CTX_new();
    EXPECT_EQ(wolfSSL_EVP_EncryptInit_ex(hp, suite.hp(), nullptr, hp_key.data(), nullptr),
              WOLFSSL_SUCCESS);
    hp_ctx_.native_handle = hp;
  }
  ~Keys() {
    ngtcp2_crypto_aead_ctx_free(&encrypt_);
    ngtcp2_crypto_aead_ctx_free(&decrypt_);
    wolfSSL_EVP_CIPHER_CTX_free(static_cast<WOLFSSL_EVP_CIPHER_CTX*>(hp_ctx_.native_handle));
  }
  Keys(const Keys&) = delete;
  Keys& operator=(const Keys&) = delete;

  using Crypt = int (*)(uint8_t*, const ngtcp2_crypto_aead*, const ngtcp2_crypto_aead_ctx*,
                        const uint8_t*, size_t, const uint8_t*, size_t, const uint8_t*, size_t);
  using Mask = int (*)(uint8_t*, const ngtcp2_crypto_cipher*, const ngtcp2_crypto_cipher_ctx*,
                       const uint8_t*);

  int seal(Crypt f, Bytes& out, const Bytes& plain, const Bytes& nonce, const Bytes& aad) {
    out.assign(plain.size() + kTag, 0);
    return f(out.data(), &aead_, &encrypt_, plain.data(), plain.size(), nonce.data(), nonce.size(),
             aad.data(), aad.size());
  }
  int seal_in_place(Bytes& buffer, const Bytes& nonce, const Bytes& aad) {
    return aead_encrypt_cb(buffer.data(), &aead_, &encrypt_, buffer.data(), buffer.size() - kTag,
                           nonce.data(), nonce.size(), aad.data(), aad.size());
  }
  int open(Crypt f, Bytes& out, const Bytes& sealed, const Bytes& nonce, const Bytes& aad) {
    out.assign(sealed.size() - kTag, 0);
    return f(out.data(), &aead_, &decrypt_, sealed.data(), sealed.size(), nonce.data(),
             nonce.size(), aad.data(), aad.size());
  }
  int mask(Mask f, Bytes& out, const Bytes& sample) {
    out.assign(16, 0);
    return f(out.data(), &hp_, &hp_ctx_, sample.data());
  }

 private:
  ngtcp2_crypto_aead aead_{};
  ngtcp2_crypto_aead_ctx encrypt_{};
  ngtcp2_crypto_aead_ctx decrypt_{};
  ngtcp2_crypto_cipher hp_{};
  ngtcp2_crypto_cipher_ctx hp_ctx_{};
};

TEST(Aead, SealsOpensAndMasksExactlyLikeNgtcp2sEvpCallbacksForEverySuite) {
  std::mt19937 rng(7);
  for (const Suite& suite : kSuites) {
    SCOPED_TRACE(suite.name);
    Keys keys(suite, random_bytes(rng, suite.key_length), random_bytes(rng, suite.key_length));
    // Several packets on the same keys: nothing may carry over from one packet to the next.
    for (size_t length : {0, 1, 15, 16, 17, 64, 1200, 1452, 1200, 64}) {
      const Bytes plain = random_bytes(rng, length);
      const Bytes nonce = random_bytes(rng, kNonceLength);
      const Bytes aad = random_bytes(rng, 1 + length % 21);
      Bytes ours, theirs, opened;
      ASSERT_EQ(keys.seal(aead_encrypt_cb, ours, plain, nonce, aad), 0);
      ASSERT_EQ(keys.seal(ngtcp2_crypto_encrypt_cb, theirs, plain, nonce, aad), 0);
      EXPECT_EQ(ours, theirs) << length << " bytes";
      ASSERT_EQ(keys.open(aead_decrypt_cb, opened, theirs, nonce, aad), 0);
      EXPECT_EQ(opened, plain);
      ASSERT_EQ(keys.open(ngtcp2_crypto_decrypt_cb, opened, ours, nonce, aad), 0);
      EXPECT_EQ(opened, plain);
      // ngtcp2 seals a packet's payload where it lies.
      Bytes in_place = plain;
      in_place.resize(plain.size() + kTag);
      ASSERT_EQ(keys.seal_in_place(in_place, nonce, aad), 0);
      EXPECT_EQ(in_place, ours);

      const Bytes sample = random_bytes(rng, 16);
      Bytes our_mask, their_mask;
      ASSERT_EQ(keys.mask(hp_mask_cb, our_mask, sample), 0);
      ASSERT_EQ(keys.mask(ngtcp2_crypto_hp_mask_cb, their_mask, sample), 0);
      EXPECT_TRUE(
          std::equal(our_mask.begin(), our_mask.begin() + NGTCP2_HP_MASKLEN, their_mask.begin()));
    }
  }
}

// With ChaCha20-Poly1305 this is what wolfSSL 5.7.2's EVP path (ngtcp2_crypto_decrypt_cb) gets
// wrong: it never compares the tag (CVE-2026-5479).
TEST(Aead, RejectsAPacketWithAnyByteChangedAsADecryptionFailure) {
  std::mt19937 rng(11);
  for (const Suite& suite : kSuites) {
    SCOPED_TRACE(suite.name);
    Keys keys(suite, random_bytes(rng, suite.key_length), random_bytes(rng, suite.key_length));
    const Bytes plain = random_bytes(rng, 100);
    const Bytes nonce = random_bytes(rng, kNonceLength);
    const Bytes aad = random_bytes(rng, 20);
    Bytes sealed, opened;
    ASSERT_EQ(keys.seal(aead_encrypt_cb, sealed, plain, nonce, aad), 0);
    // Payload, tag, associated data and nonce: each one bit off is refused.
    for (size_t at : {size_t{0}, size_t{99}, size_t{100}, sealed.size() - 1}) {
      Bytes bad = sealed;
      bad[at] ^= 0x01;
      EXPECT_EQ(keys.open(aead_decrypt_cb, opened, bad, nonce, aad), NGTCP2_ERR_DECRYPT) << at;
    }
    Bytes bad_aad = aad;
    bad_aad[3] ^= 0x80;
    EXPECT_EQ(keys.open(aead_decrypt_cb, opened, sealed, nonce, bad_aad), NGTCP2_ERR_DECRYPT);
    Bytes bad_nonce = nonce;
    bad_nonce[11] ^= 0x01;
    EXPECT_EQ(keys.open(aead_decrypt_cb, opened, sealed, bad_nonce, aad), NGTCP2_ERR_DECRYPT);
    EXPECT_EQ(keys.open(aead_decrypt_cb, opened, sealed, nonce, aad), 0);
    EXPECT_EQ(opened, plain);
  }
}

TEST(Aead, MatchesRfc9001ClientInitialHeaderProtectionVector) {
  // RFC 9001 Appendix A.2: client Initial hp key, the sample taken from the protected packet,
  // and the resulting mask.
  const Bytes hp_key = hex("9f50449e04a0e810283a1e9933adedd2");
  const Bytes sample = hex("d1b1c98dd7689fb8ec11d242b123dc9b");
  Keys keys(kSuites[0], Bytes(16, 0), hp_key);
  Bytes mask;
  ASSERT_EQ(keys.mask(hp_mask_cb, mask, sample), 0);
  EXPECT_EQ(Bytes(mask.begin(), mask.begin() + 5), hex("437b9aec36"));
}

}  // namespace
}  // namespace qsse::quic
