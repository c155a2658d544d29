// quic/aead.hpp — packet protection callbacks for ngtcp2 that call wolfCrypt directly.
//
// ngtcp2_crypto_wolfssl protects each packet through wolfSSL's EVP layer: set the IV, feed the
// AAD, feed the payload, finish, fetch the tag — five calls and a streaming GHASH set-up per
// packet, and an EVP init/update/final for the 5-byte header-protection mask. With one small
// event per packet that is a large share of a packet's cost. These callbacks take what the EVP
// context already holds and make one call: AES-GCM and the AES header mask run on its expanded
// key schedule (the context's wolfCrypt `Aes`), ChaCha20-Poly1305 on its key.
//
// They are also what makes ChaCha20-Poly1305 safe with the wolfSSL we build (5.7.2): its EVP
// decryption never compares the Poly1305 tag (CVE-2026-5479), so through ngtcp2_crypto_wolfssl
// a peer that negotiated ChaCha20 would accept forged and altered packets.
// wc_ChaCha20Poly1305_Decrypt checks it. ChaCha20 header protection, the one remaining case,
// goes to ngtcp2_crypto_wolfssl's callback.
//
// Contract (ngtcp2.h, ngtcp2_encrypt / ngtcp2_decrypt / ngtcp2_hp_mask): encrypt writes the
// ciphertext and the 16-byte tag to `dest` (it may alias `plaintext`) and returns 0, or
// NGTCP2_ERR_CALLBACK_FAILURE; decrypt verifies the tag and returns NGTCP2_ERR_DECRYPT for a
// packet that does not authenticate (ngtcp2 then drops the packet, nothing else); hp_mask
// writes 16 bytes to `dest` (ngtcp2 guarantees room for NGTCP2_HP_SAMPLELEN) and returns 0 or
// NGTCP2_ERR_CALLBACK_FAILURE. They keep no state of their own; a key context is used by the
// thread of the connection that owns it, as with ngtcp2's callbacks.
#pragma once

#include <ngtcp2/ngtcp2.h>

namespace qsse::quic {

int aead_encrypt_cb(uint8_t* dest, const ngtcp2_crypto_aead* aead,
                    const ngtcp2_crypto_aead_ctx* aead_ctx, const uint8_t* plaintext,
                    size_t plaintextlen, const uint8_t* nonce, size_t noncelen, const uint8_t* aad,
                    size_t aadlen);

int aead_decrypt_cb(uint8_t* dest, const ngtcp2_crypto_aead* aead,
                    const ngtcp2_crypto_aead_ctx* aead_ctx, const uint8_t* ciphertext,
                    size_t ciphertextlen, const uint8_t* nonce, size_t noncelen, const uint8_t* aad,
                    size_t aadlen);

int hp_mask_cb(uint8_t* dest, const ngtcp2_crypto_cipher* hp,
               const ngtcp2_crypto_cipher_ctx* hp_ctx, const uint8_t* sample);

}  // namespace qsse::quic
