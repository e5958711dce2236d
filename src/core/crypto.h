/* Thin, checked wrappers over OpenSSL libcrypto: hashes, HMAC, randomness, constant-time
 * comparison, and the encodings secrets travel in (hex, base62, base64). */
#ifndef PASARELA_CRYPTO_H
#define PASARELA_CRYPTO_H

#include "core/common.h"

#define SHA256_BYTES 32
#define SHA256_HEX_BYTES 65 /* 64 hex digits and NUL */

void crypto_sha256(const void *data, size_t len, uint8_t out[SHA256_BYTES]);
void crypto_sha256_hex(const void *data, size_t len, char out[SHA256_HEX_BYTES]);
void crypto_hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len,
                        uint8_t out[SHA256_BYTES]);
/* Streaming HMAC-SHA256 for messages in several parts. */
struct crypto_hmac;
struct crypto_hmac *crypto_hmac_begin(const uint8_t *key, size_t key_len);
void crypto_hmac_update(struct crypto_hmac *h, const void *data, size_t len);
/* Writes the MAC and frees h. */
void crypto_hmac_end(struct crypto_hmac *h, uint8_t out[SHA256_BYTES]);
/* Fills buf with cryptographically secure random bytes; aborts if the RNG fails. */
void crypto_random(void *buf, size_t len);
/* Constant-time equality of two equal-length buffers. */
bool crypto_equal(const void *a, const void *b, size_t len);
/* Constant-time (in the contents) equality of two strings of possibly different lengths:
 * both are hashed first, so the comparison time does not depend on where they differ. */
bool crypto_str_equal(const char *a, const char *b);

/* Secrets at rest: AES-256-GCM under a 32-byte key, as "v1:" + base64(12-byte random nonce |
 * ciphertext | 16-byte tag). The "v1" names the key version, so that a master key can be
 * rotated later. crypto_seal returns a new string the caller frees; crypto_unseal returns the
 * plaintext (NUL-terminated, caller frees) or NULL when the text was not sealed by that key
 * or was altered. */
char *crypto_seal(const uint8_t key[SHA256_BYTES], const char *plaintext);
char *crypto_unseal(const uint8_t key[SHA256_BYTES], const char *sealed);

/* Overwrites len bytes of a secret kept in place (a stack buffer, say). */
void crypto_wipe(void *p, size_t len);
/* Overwrites a NUL-terminated secret, then frees it. */
void crypto_free_secret(char *s);

void hex_encode(const uint8_t *data, size_t len, char *out /* 2*len+1 */);
/* n uniformly random characters of [0-9A-Za-z] (rejection sampling, no modulo bias). */
void base62_random(char *out, size_t n);
/* Decodes standard base64 into out; returns the decoded length or -1 when the input is not
 * base64 or does not fit. */
int base64_decode(const char *in, uint8_t *out, size_t out_size);
/* Encodes into out (4*ceil(len/3)+1 bytes). */
void base64_encode(const uint8_t *data, size_t len, char *out);

#endif
