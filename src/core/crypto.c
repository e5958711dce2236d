#include "core/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>

static EVP_MD *sha256_algorithm;

static void fetch_sha256(void)
{
    sha256_algorithm = EVP_MD_fetch(NULL, "SHA256", NULL);
    PASSERT(sha256_algorithm != NULL);
}

/* With the algorithm fetched once: SHA256() looks it up by name on every call, which costs
 * several times the hashing of a short input. */
void crypto_sha256(const void *data, size_t len, uint8_t out[SHA256_BYTES])
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fetch_sha256);
    unsigned int out_len = 0;
    PASSERT(EVP_Digest(data, len, out, &out_len, sha256_algorithm, NULL) == 1 &&
            out_len == SHA256_BYTES);
}

void crypto_sha256_hex(const void *data, size_t len, char out[SHA256_HEX_BYTES])
{
    uint8_t digest[SHA256_BYTES];
    crypto_sha256(data, len, digest);
    hex_encode(digest, sizeof(digest), out);
}

struct crypto_sha256 {
    EVP_MD_CTX *ctx;
};

struct crypto_sha256 *crypto_sha256_begin(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fetch_sha256);
    struct crypto_sha256 *h = xmalloc(sizeof(*h));
    h->ctx = EVP_MD_CTX_new();
    PASSERT(h->ctx && EVP_DigestInit_ex(h->ctx, sha256_algorithm, NULL) == 1);
    return h;
}

void crypto_sha256_update(struct crypto_sha256 *h, const void *data, size_t len)
{
    PASSERT(EVP_DigestUpdate(h->ctx, data, len) == 1);
}

void crypto_sha256_end(struct crypto_sha256 *h, uint8_t out[SHA256_BYTES])
{
    unsigned int len = 0;
    PASSERT(EVP_DigestFinal_ex(h->ctx, out, &len) == 1 && len == SHA256_BYTES);
    crypto_sha256_discard(h);
}

void crypto_sha256_discard(struct crypto_sha256 *h)
{
    if (h) {
        EVP_MD_CTX_free(h->ctx);
        free(h);
    }
}

struct crypto_hmac {
    EVP_MAC_CTX *ctx;
};

/* An HMAC context with its digest already set, copied for each MAC: setting the digest by
 * name (or HMAC()'s one-shot form) looks the algorithms up on every call, which costs more
 * than the MAC of a short message. */
static EVP_MAC_CTX *hmac_sha256_template;

static void make_hmac_template(void)
{
    static char digest[] = "SHA256";
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    PASSERT(mac != NULL);
    hmac_sha256_template = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac); /* the context keeps its own reference */
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                           OSSL_PARAM_construct_end()};
    PASSERT(hmac_sha256_template && EVP_MAC_CTX_set_params(hmac_sha256_template, params) == 1);
}

struct crypto_hmac *crypto_hmac_begin(const uint8_t *key, size_t key_len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, make_hmac_template);
    struct crypto_hmac *h = xmalloc(sizeof(*h));
    h->ctx = EVP_MAC_CTX_dup(hmac_sha256_template);
    PASSERT(h->ctx && EVP_MAC_init(h->ctx, key, key_len, NULL) == 1);
    return h;
}

void crypto_hmac_update(struct crypto_hmac *h, const void *data, size_t len)
{
    PASSERT(EVP_MAC_update(h->ctx, data, len) == 1);
}

void crypto_hmac_end(struct crypto_hmac *h, uint8_t out[SHA256_BYTES])
{
    size_t len = 0;
    PASSERT(EVP_MAC_final(h->ctx, out, &len, SHA256_BYTES) == 1 && len == SHA256_BYTES);
    EVP_MAC_CTX_free(h->ctx);
    free(h);
}

/* A thread's last HMAC key and its context, keyed and not yet fed. */
struct keyed_hmac {
    uint8_t key_digest[SHA256_BYTES]; /* which key: its SHA-256, so the key is not kept twice */
    EVP_MAC_CTX *ctx;
};

static pthread_key_t keyed_hmac_slot;

static void free_keyed_hmac(void *p)
{
    struct keyed_hmac *k = p;
    EVP_MAC_CTX_free(k->ctx);
    free(k);
}

static void make_keyed_hmac_slot(void)
{
    PASSERT(pthread_key_create(&keyed_hmac_slot, free_keyed_hmac) == 0);
}

/* A context keyed with key: a copy of the thread's cached one when the key is the same. */
static EVP_MAC_CTX *keyed_hmac(const uint8_t *key, size_t key_len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, make_keyed_hmac_slot);
    uint8_t digest[SHA256_BYTES];
    crypto_sha256(key, key_len, digest);
    struct keyed_hmac *k = pthread_getspecific(keyed_hmac_slot);
    if (!k || !crypto_equal(k->key_digest, digest, SHA256_BYTES)) {
        struct crypto_hmac *h = crypto_hmac_begin(key, key_len);
        if (k) {
            EVP_MAC_CTX_free(k->ctx);
        } else {
            k = xmalloc(sizeof(*k));
            PASSERT(pthread_setspecific(keyed_hmac_slot, k) == 0);
        }
        k->ctx = h->ctx;
        free(h);
        memcpy(k->key_digest, digest, SHA256_BYTES);
    }
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(k->ctx);
    PASSERT(ctx != NULL);
    return ctx;
}

void crypto_hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len,
                        uint8_t out[SHA256_BYTES])
{
    EVP_MAC_CTX *ctx = keyed_hmac(key, key_len);
    size_t out_len = 0;
    PASSERT(EVP_MAC_update(ctx, data, len) == 1 &&
            EVP_MAC_final(ctx, out, &out_len, SHA256_BYTES) == 1 && out_len == SHA256_BYTES);
    EVP_MAC_CTX_free(ctx);
}

void crypto_random(void *buf, size_t len)
{
    if (RAND_bytes(buf, (int)len) != 1) {
        fputs("pasarela: the random number generator failed\n", stderr);
        abort();
    }
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

bool crypto_str_equal(const char *a, const char *b)
{
    uint8_t ha[SHA256_BYTES], hb[SHA256_BYTES];
    crypto_sha256(a, strlen(a), ha);
    crypto_sha256(b, strlen(b), hb);
    return crypto_equal(ha, hb, SHA256_BYTES);
}

void hex_encode(const uint8_t *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

static const char base62_alphabet[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Random bytes drawn from the CSPRNG a block at a time. */
struct random_pool {
    uint8_t bytes[512];
    size_t size; /* how much of bytes a draw fills */
    size_t used;
};

static void base62_from(struct random_pool *pool, char *out, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (pool->used == pool->size) {
            crypto_random(pool->bytes, pool->size);
            pool->used = 0;
        }
        uint8_t b = pool->bytes[pool->used++];
        if (b < 248) { /* 248 = 4 * 62: keeps the distribution uniform */
            out[i++] = base62_alphabet[b % 62];
        }
    }
    out[n] = '\0';
}

void base62_random(char *out, size_t n)
{
    struct random_pool pool = {.size = 64, .used = 64};
    base62_from(&pool, out, n);
    OPENSSL_cleanse(pool.bytes, pool.size);
}

/* Each draw costs a system call (OpenSSL checks the process id for a fork), and an id needs
 * only 16 characters; pasarela never forks, so a thread's pool is never shared. */
static _Thread_local struct random_pool thread_pool = {.size = 512, .used = 512};

void base62_random_pooled(char *out, size_t n)
{
    base62_from(&thread_pool, out, n);
}

static bool base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Standard base64 only: a multiple of four characters from the alphabet, with at most two
 * '=' and only at the very end. */
static bool base64_well_formed(const char *in, size_t len)
{
    if (len == 0 || len % 4 != 0) {
        return false;
    }
    size_t pad = in[len - 1] == '=' ? (in[len - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < len - pad; i++) {
        if (!base64_char(in[i])) {
            return false;
        }
    }
    return true;
}

int base64_decode(const char *in, uint8_t *out, size_t out_size)
{
    size_t len = strlen(in);
    if (!base64_well_formed(in, len) || len / 4 * 3 > out_size + 2) {
        return -1;
    }
    size_t tmp_size = len / 4 * 3 + 1;
    uint8_t *tmp = xmalloc(tmp_size);
    int n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len);
    if (n >= 0) {
        /* EVP_DecodeBlock counts padding as data; remove it. */
        n -= (in[len - 1] == '=') + (in[len - 2] == '=');
    }
    bool fits = n >= 0 && (size_t)n <= out_size;
    if (fits) {
        memcpy(out, tmp, (size_t)n);
    }
    OPENSSL_cleanse(tmp, tmp_size);
    free(tmp);
    return fits ? n : -1;
}

void base64_encode(const uint8_t *data, size_t len, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
}

#define SEAL_NONCE_BYTES 12
#define SEAL_TAG_BYTES 16
#define SEAL_V1_PREFIX "v1:"
#define SEAL_V2_PREFIX "v2:"
/* "v2:" + kid + ":" */
#define SEAL_V2_HEADER_CHARS (sizeof(SEAL_V2_PREFIX) - 1 + CRYPTO_KID_CHARS + 1)

void crypto_key_id(const uint8_t key[SHA256_BYTES], char kid[CRYPTO_KID_BYTES])
{
    static const char label[] = "pasarela key id v1";
    uint8_t mac[SHA256_BYTES];
    crypto_hmac_sha256(key, SHA256_BYTES, label, sizeof(label) - 1, mac);
    hex_encode(mac, CRYPTO_KID_CHARS / 2, kid);
}

char *crypto_seal(const uint8_t key[SHA256_BYTES], const char *plaintext)
{
    char header[SEAL_V2_HEADER_CHARS + 1];
    char kid[CRYPTO_KID_BYTES];
    crypto_key_id(key, kid);
    snprintf(header, sizeof(header), SEAL_V2_PREFIX "%s:", kid);

    size_t len = strlen(plaintext);
    size_t raw_len = SEAL_NONCE_BYTES + len + SEAL_TAG_BYTES;
    uint8_t *raw = xmalloc(raw_len);
    crypto_random(raw, SEAL_NONCE_BYTES);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    PASSERT(ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) == 1);
    PASSERT(EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *)header, SEAL_V2_HEADER_CHARS) == 1);
    PASSERT(EVP_EncryptUpdate(ctx, raw + SEAL_NONCE_BYTES, &n, (const uint8_t *)plaintext,
                              (int)len) == 1);
    PASSERT(EVP_EncryptFinal_ex(ctx, raw + SEAL_NONCE_BYTES + n, &fin) == 1);
    PASSERT(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_BYTES,
                                raw + SEAL_NONCE_BYTES + len) == 1);
    EVP_CIPHER_CTX_free(ctx);
    char *out = xmalloc(SEAL_V2_HEADER_CHARS + 4 * ((raw_len + 2) / 3) + 1);
    memcpy(out, header, SEAL_V2_HEADER_CHARS);
    base64_encode(raw, raw_len, out + SEAL_V2_HEADER_CHARS);
    free(raw);
    return out;
}

static bool is_kid(const char *s)
{
    for (size_t i = 0; i < CRYPTO_KID_CHARS; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* The parts of a sealed text: the additional data (empty for v1), the key id it names ("" for
 * v1) and where the base64 starts. False when the text has neither form. */
struct sealed_parts {
    size_t aad_len;
    char kid[CRYPTO_KID_BYTES];
    const char *b64;
};

static bool seal_parse(const char *sealed, struct sealed_parts *p)
{
    *p = (struct sealed_parts){0};
    if (strncmp(sealed, SEAL_V1_PREFIX, strlen(SEAL_V1_PREFIX)) == 0) {
        p->b64 = sealed + strlen(SEAL_V1_PREFIX);
        return true;
    }
    if (strncmp(sealed, SEAL_V2_PREFIX, strlen(SEAL_V2_PREFIX)) != 0 ||
        strlen(sealed) < SEAL_V2_HEADER_CHARS || !is_kid(sealed + strlen(SEAL_V2_PREFIX)) ||
        sealed[SEAL_V2_HEADER_CHARS - 1] != ':') {
        return false;
    }
    memcpy(p->kid, sealed + strlen(SEAL_V2_PREFIX), CRYPTO_KID_CHARS);
    p->kid[CRYPTO_KID_CHARS] = '\0';
    p->aad_len = SEAL_V2_HEADER_CHARS;
    p->b64 = sealed + SEAL_V2_HEADER_CHARS;
    return true;
}

/* AES-256-GCM open of raw (nonce | ciphertext | tag) with aad; the plaintext or NULL. */
static char *gcm_open(const uint8_t key[SHA256_BYTES], const char *aad, size_t aad_len,
                      const uint8_t *raw, size_t raw_len)
{
    size_t len = raw_len - SEAL_NONCE_BYTES - SEAL_TAG_BYTES;
    char *plain = xmalloc(len + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    PASSERT(ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) == 1);
    if (aad_len > 0) {
        PASSERT(EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)aad, (int)aad_len) == 1);
    }
    PASSERT(EVP_DecryptUpdate(ctx, (uint8_t *)plain, &n, raw + SEAL_NONCE_BYTES, (int)len) == 1);
    uint8_t tag[SEAL_TAG_BYTES];
    memcpy(tag, raw + SEAL_NONCE_BYTES + len, sizeof(tag));
    PASSERT(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_BYTES, tag) == 1);
    bool ok = EVP_DecryptFinal_ex(ctx, (uint8_t *)plain + n, &fin) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        OPENSSL_cleanse(plain, len + 1);
        free(plain);
        return NULL;
    }
    plain[len] = '\0';
    return plain;
}

/* Decodes the base64 part into a new buffer of *cap bytes; NULL when it is not base64 or too
 * short to hold a nonce and a tag. */
static uint8_t *seal_decode(const struct sealed_parts *p, size_t *cap, size_t *raw_len)
{
    *cap = strlen(p->b64) / 4 * 3 + 3;
    uint8_t *raw = xmalloc(*cap);
    int n = base64_decode(p->b64, raw, *cap);
    if (n < SEAL_NONCE_BYTES + SEAL_TAG_BYTES) {
        free(raw);
        return NULL;
    }
    *raw_len = (size_t)n;
    return raw;
}

char *crypto_unseal(const uint8_t key[SHA256_BYTES], const char *sealed)
{
    struct sealed_parts p;
    size_t cap, raw_len;
    uint8_t *raw = seal_parse(sealed, &p) ? seal_decode(&p, &cap, &raw_len) : NULL;
    if (!raw) {
        return NULL;
    }
    char *plain = gcm_open(key, sealed, p.aad_len, raw, raw_len);
    OPENSSL_cleanse(raw, cap);
    free(raw);
    return plain;
}

enum seal_problem crypto_seal_problem(const uint8_t key[SHA256_BYTES], const char *sealed,
                                      char kid[CRYPTO_KID_BYTES])
{
    struct sealed_parts p;
    size_t cap, raw_len;
    kid[0] = '\0';
    uint8_t *raw = seal_parse(sealed, &p) ? seal_decode(&p, &cap, &raw_len) : NULL;
    if (!raw) {
        return SEAL_MALFORMED;
    }
    free(raw); /* ciphertext only */
    str_copy(kid, CRYPTO_KID_BYTES, p.kid);
    if (p.aad_len == 0) {
        return SEAL_UNIDENTIFIED;
    }
    char mine[CRYPTO_KID_BYTES];
    crypto_key_id(key, mine);
    return strcmp(mine, p.kid) == 0 ? SEAL_ALTERED : SEAL_OTHER_KEY;
}

const char *seal_problem_text(enum seal_problem p)
{
    switch (p) {
    case SEAL_OTHER_KEY:
        return "sealed under another master key";
    case SEAL_ALTERED:
        return "altered: it does not authenticate under the key that sealed it";
    case SEAL_UNIDENTIFIED:
        return "sealed by an earlier version, without a key id: another master key, or altered";
    case SEAL_MALFORMED:
        return "not a sealed value";
    }
    return "unknown";
}

void crypto_wipe(void *p, size_t len)
{
    OPENSSL_cleanse(p, len);
}

void crypto_free_secret(char *s)
{
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}
