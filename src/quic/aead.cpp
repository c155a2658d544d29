#include "quic/aead.hpp"

#include <wolfssl/options.h>  // first: the build's settings

#include <wolfssl/openssl/evp.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#include <ngtcp2/ngtcp2_crypto.h>

#include <cstring>

namespace qsse::quic {
namespace {

// QUIC's AEADs all use a 16-byte tag (RFC 9001 §5.3).
constexpr size_t kTagLength = 16;

WOLFSSL_EVP_CIPHER_CTX* evp(void* native_handle) {
  return static_cast<WOLFSSL_EVP_CIPHER_CTX*>(native_handle);
}

bool is_aes_gcm(const WOLFSSL_EVP_CIPHER_CTX* ctx) {
  return ctx->cipherType == AES_128_GCM_TYPE || ctx->cipherType == AES_256_GCM_TYPE;
}

// EVP keeps ChaCha20-Poly1305's raw key next to the cipher state (it re-initialises per nonce).
bool is_chacha_poly(const WOLFSSL_EVP_CIPHER_CTX* ctx) {
  return ctx->cipherType == CHACHA20_POLY1305_TYPE;
}

}  // namespace

int aead_encrypt_cb(uint8_t* dest, const ngtcp2_crypto_aead* aead,
                    const ngtcp2_crypto_aead_ctx* aead_ctx, const uint8_t* plaintext,
                    size_t plaintextlen, const uint8_t* nonce, size_t noncelen, const uint8_t* aad,
                    size_t aadlen) {
  WOLFSSL_EVP_CIPHER_CTX* ctx = evp(aead_ctx->native_handle);
  const auto length = static_cast<word32>(plaintextlen);
  int rc;
  if (is_aes_gcm(ctx)) {
    rc = wc_AesGcmEncrypt(&ctx->cipher.aes, dest, plaintext, length, nonce,
                          static_cast<word32>(noncelen), dest + plaintextlen, kTagLength, aad,
                          static_cast<word32>(aadlen));
  } else if (is_chacha_poly(ctx)) {
    if (ctx->key == nullptr) return NGTCP2_ERR_CALLBACK_FAILURE;
    // wolfCrypt refuses a null input even when it is empty.
    rc = wc_ChaCha20Poly1305_Encrypt(ctx->key, nonce, aad, static_cast<word32>(aadlen),
                                     plaintextlen == 0 ? dest : plaintext, length, dest,
                                     dest + plaintextlen);
  } else {
    return ngtcp2_crypto_encrypt_cb(dest, aead, aead_ctx, plaintext, plaintextlen, nonce, noncelen,
                                    aad, aadlen);
  }
  return rc == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
}

int aead_decrypt_cb(uint8_t* dest, const ngtcp2_crypto_aead* aead,
                    const ngtcp2_crypto_aead_ctx* aead_ctx, const uint8_t* ciphertext,
                    size_t ciphertextlen, const uint8_t* nonce, size_t noncelen, const uint8_t* aad,
                    size_t aadlen) {
  if (ciphertextlen < kTagLength) return NGTCP2_ERR_DECRYPT;
  WOLFSSL_EVP_CIPHER_CTX* ctx = evp(aead_ctx->native_handle);
  const size_t length = ciphertextlen - kTagLength;
  const uint8_t* tag = ciphertext + length;
  int rc;
  if (is_aes_gcm(ctx)) {
    rc = wc_AesGcmDecrypt(&ctx->cipher.aes, dest, ciphertext, static_cast<word32>(length), nonce,
                          static_cast<word32>(noncelen), tag, kTagLength, aad,
                          static_cast<word32>(aadlen));
  } else if (is_chacha_poly(ctx)) {
    // Never through EVP, which would not check the tag (see the header).
    if (ctx->key == nullptr) return NGTCP2_ERR_DECRYPT;
    uint8_t none = 0;  // wolfCrypt refuses a null output even when it is empty
    rc = wc_ChaCha20Poly1305_Decrypt(ctx->key, nonce, aad, static_cast<word32>(aadlen), ciphertext,
                                     static_cast<word32>(length), tag,
                                     dest != nullptr ? dest : &none);
  } else {
    return ngtcp2_crypto_decrypt_cb(dest, aead, aead_ctx, ciphertext, ciphertextlen, nonce,
                                    noncelen, aad, aadlen);
  }
  return rc == 0 ? 0 : NGTCP2_ERR_DECRYPT;
}

int hp_mask_cb(uint8_t* dest, const ngtcp2_crypto_cipher* hp,
               const ngtcp2_crypto_cipher_ctx* hp_ctx, const uint8_t* sample) {
  // AES header protection is AES-ECB of the sample (RFC 9001 §5.4.3). wolfSSL sets it up as
  // AES-CTR with the sample as the counter block, whose first keystream block is the same
  // thing, and a CTR context holds the encryption key schedule a single block needs.
  WOLFSSL_EVP_CIPHER_CTX* ctx = evp(hp_ctx->native_handle);
  if (ctx->cipherType != AES_128_CTR_TYPE && ctx->cipherType != AES_256_CTR_TYPE) {
    return ngtcp2_crypto_hp_mask_cb(dest, hp, hp_ctx, sample);
  }
  // With AES-NI, wolfCrypt mallocs a bounce buffer for an input that is not 16-byte aligned;
  // the sample lies anywhere in the packet.
  alignas(16) uint8_t block[16];
  std::memcpy(block, sample, sizeof(block));
  return wc_AesEncryptDirect(&ctx->cipher.aes, dest, block) == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
}

}  // namespace qsse::quic
