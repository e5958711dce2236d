#include "domain/stdwebhooks.h"

#include <errno.h>

#include "core/crypto.h"

bool stdwh_secret_key(const char *secret, uint8_t key[STDWH_KEY_MAX], size_t *key_len)
{
    if (strncmp(secret, "whsec_", 6) != 0) {
        return false;
    }
    int n = base64_decode(secret + 6, key, STDWH_KEY_MAX);
    if (n <= 0) {
        return false;
    }
    *key_len = (size_t)n;
    return true;
}

static void mac(const uint8_t *key, size_t key_len, const char *msg_id, const char *timestamp,
                const char *body, size_t body_len, uint8_t out[SHA256_BYTES])
{
    struct crypto_hmac *h = crypto_hmac_begin(key, key_len);
    crypto_hmac_update(h, msg_id, strlen(msg_id));
    crypto_hmac_update(h, ".", 1);
    crypto_hmac_update(h, timestamp, strlen(timestamp));
    crypto_hmac_update(h, ".", 1);
    crypto_hmac_update(h, body, body_len);
    crypto_hmac_end(h, out);
}

void stdwh_sign(const uint8_t *key, size_t key_len, const char *msg_id, int64_t timestamp,
                const char *body, size_t body_len, char out[STDWH_SIGNATURE_BYTES])
{
    char ts[24];
    uint8_t digest[SHA256_BYTES];
    snprintf(ts, sizeof(ts), "%lld", (long long)timestamp);
    mac(key, key_len, msg_id, ts, body, body_len, digest);
    memcpy(out, "v1,", 3);
    base64_encode(digest, sizeof(digest), out + 3);
}

static bool parse_timestamp(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0 || s[0] == '+' || s[0] == ' ') {
        return false;
    }
    *out = v;
    return true;
}

enum stdwh_result stdwh_verify(const uint8_t *key, size_t key_len, const char *msg_id,
                               const char *timestamp, const char *signatures, const char *body,
                               size_t body_len, int64_t now_s, int64_t tolerance_s)
{
    int64_t ts;
    if (!msg_id || !timestamp || !signatures || !*msg_id || strchr(msg_id, '.') ||
        strlen(signatures) > STDWH_HEADER_MAX || !parse_timestamp(timestamp, &ts)) {
        return STDWH_MALFORMED;
    }
    if (ts < now_s - tolerance_s || ts > now_s + tolerance_s) {
        return STDWH_STALE;
    }
    uint8_t expected[SHA256_BYTES];
    mac(key, key_len, msg_id, timestamp, body, body_len, expected);
    char want[STDWH_SIGNATURE_BYTES];
    memcpy(want, "v1,", 3);
    base64_encode(expected, sizeof(expected), want + 3);
    size_t want_len = strlen(want);
    bool ok = false;
    for (const char *p = signatures; *p;) {
        size_t n = strcspn(p, " ");
        ok |= n == want_len && crypto_equal(p, want, want_len);
        p += n;
        p += strspn(p, " ");
    }
    return ok ? STDWH_OK : STDWH_BAD_SIGNATURE;
}

const char *stdwh_result_reason(enum stdwh_result r)
{
    switch (r) {
    case STDWH_OK:
        return "ok";
    case STDWH_MALFORMED:
        return "malformed signature headers";
    case STDWH_STALE:
        return "timestamp outside the replay window";
    case STDWH_BAD_SIGNATURE:
        return "no signature matches";
    }
    return "unknown";
}
