/* Thin, checked wrappers over OpenSSL libcrypto: hashes, HMAC, randomness, constant-time
 * comparison, and the encodings secrets travel in (hex, base62, base64). */
#ifndef PASARELA_CRYPTO_H
#define PASARELA_CRYPTO_H

#include "core/common.h"

#define SHA256_BYTES 32
#define SHA256_HEX_BYTES 65 /* 64 hex digits and NUL */

void crypto_sha256(const void *data, size_t len, uint8_t out[SHA256_BYTES]);
void crypto_sha256_hex(const void *data, size_t len, char out[SHA256_HEX_BYTES]);
/* Streaming SHA-256, for a message whose beginning is known before its end. */
struct crypto_sha256;
struct crypto_sha256 *crypto_sha256_begin(void);
void crypto_sha256_update(struct crypto_sha256 *h, const void *data, size_t len);
/* Writes the digest and frees h. */
void crypto_sha256_end(struct crypto_sha256 *h, uint8_t out[SHA256_BYTES]);
/* Frees h without a digest (NULL is fine). */
void crypto_sha256_discard(struct crypto_sha256 *h);
/* HMAC-SHA256. Each thread keeps the key schedule of the last key it used, so that MACs under
 * one key (the audit key, an account's webhook secret) skip it. */
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

/* Secrets at rest: AES-256-GCM under a 32-byte key, as "v2:" + key id + ":" +
 * base64(12-byte random nonce | ciphertext | 16-byte tag), the "v2:<kid>:" header being the
 * GCM additional data (so the key id cannot be swapped unnoticed). crypto_seal returns a new
 * string the caller frees; crypto_unseal returns the plaintext (NUL-terminated, caller frees
 * with crypto_free_secret) or NULL when the text was not sealed by that key or was altered.
 * crypto_unseal also reads "v1:" + base64(...) texts, which earlier versions wrote without a
 * key id or additional data. */
char *crypto_seal(const uint8_t key[SHA256_BYTES], const char *plaintext);
char *crypto_unseal(const uint8_t key[SHA256_BYTES], const char *sealed);

/* A key id names a sealing key without revealing it: the first 8 hex digits of
 * HMAC-SHA256(key, "pasarela key id v1"). */
#define CRYPTO_KID_CHARS 8
#define CRYPTO_KID_BYTES (CRYPTO_KID_CHARS + 1)
void crypto_key_id(const uint8_t key[SHA256_BYTES], char kid[CRYPTO_KID_BYTES]);

/* Why crypto_unseal refused a text. */
enum seal_problem {
    SEAL_OTHER_KEY,    /* a v2 text sealed under another key (its kid is not this key's) */
    SEAL_ALTERED,      /* a v2 text naming this key whose contents do not authenticate */
    SEAL_UNIDENTIFIED, /* a v1 text (no key id) that does not authenticate: wrong key or altered */
    SEAL_MALFORMED,    /* no known header, or too short or not base64 behind it */
};
/* Diagnoses a text that crypto_unseal(key, sealed) refused; kid receives the key id the text
 * names ("" when it names none). Reveals nothing of the plaintext. */
enum seal_problem crypto_seal_problem(const uint8_t key[SHA256_BYTES], const char *sealed,
                                      char kid[CRYPTO_KID_BYTES]);
/* A short description of p, for logs and operators' messages. */
const char *seal_problem_text(enum seal_problem p);

/* Overwrites len bytes of key material in a way the compiler does not optimise away. */
void crypto_wipe(void *p, size_t len);
/* Overwrites a NUL-terminated secret, then frees it. */
void crypto_free_secret(char *s);

void hex_encode(const uint8_t *data, size_t len, char *out /* 2*len+1 */);
/* n uniformly random characters of [0-9A-Za-z] (rejection sampling, no modulo bias). */
void base62_random(char *out, size_t n);
/* The same from the thread's pool of bytes drawn ahead: for identifiers, which must be
 * unguessable but, unlike secrets, may sit in memory before use. */
void base62_random_pooled(char *out, size_t n);
/* Decodes standard base64 into out; returns the decoded length or -1 when the input is not
 * base64 or does not fit. */
int base64_decode(const char *in, uint8_t *out, size_t out_size);
/* Encodes into out (4*ceil(len/3)+1 bytes). */
void base64_encode(const uint8_t *data, size_t len, char *out);

#endif
