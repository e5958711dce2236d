#include "domain/webhook_sigs.h"

#include <math.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/crypto.h"
#include "core/timeutil.h"

#define SHA512_BYTES 64
#define MP_TS_MS_ABOVE 100000000000LL /* x-signature ts above this is in milliseconds */
#define DIGEST_HEADER_MAX_BYTES 2048  /* Conekta Digest: base64 of an RSA-8192 block */
#define RSA_MAX_BITS 8192
#define PAYPAL_ID_MAX_BYTES 50 /* transmission_id, webhook_id (PayPal's limits) */
#define PAYPAL_TIME_MAX_BYTES 64
#define PAYPAL_ALGO_MAX_BYTES 100
#define PAYPAL_CERT_URL_MAX_BYTES 500
#define JS_NUMBER_BYTES 40

/* ---- shared helpers ---- */

static void check_secret_count(const void *secrets, size_t n)
{
    PASSERT(secrets != NULL && n >= 1 && n <= WHSIG_SECRETS_MAX);
}

/* A secret worth trying: present, not empty, not over-long. */
static bool usable_secret(const char *s)
{
    return s && *s && strnlen(s, WHSIG_SECRET_MAX_BYTES + 1) <= WHSIG_SECRET_MAX_BYTES;
}

static bool body_ok(const char *body, size_t body_len)
{
    return (body || body_len == 0) && body_len <= LIMIT_BODY_BYTES;
}

static bool within_tolerance(int64_t ts, int64_t now_s, int64_t tolerance_s)
{
    PASSERT(tolerance_s >= 0);
    return ts >= now_s - tolerance_s && ts <= now_s + tolerance_s;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes exactly 2*out_len hex digits of either case. The input is a received signature,
 * not a secret, so the early exits leak nothing. */
static bool hex_decode(const char *s, size_t len, uint8_t *out, size_t out_len)
{
    if (len != 2 * out_len) {
        return false;
    }
    for (size_t i = 0; i < out_len; i++) {
        int hi = hex_value(s[2 * i]);
        int lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* 1..WHSIG_TIMESTAMP_DIGITS_MAX decimal digits, nothing else. */
static bool parse_digits(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > WHSIG_TIMESTAMP_DIGITS_MAX) {
        return false;
    }
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool is_blank_char(char c)
{
    return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_blank_char(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_blank_char((*s)[*len - 1])) {
        (*len)--;
    }
}

/* ---- "k=v,k=v" signature headers (Stripe-Signature, x-signature) ---- */

struct sig_items {
    const char *ts; /* points into the header; ts_len bytes, not terminated */
    size_t ts_len;
    size_t n_ts;
    size_t n_v1;   /* v1 items seen */
    size_t n_sigs; /* v1 items that are 64 hex digits, kept in sigs */
    uint8_t sigs[WHSIG_SIGNATURES_MAX][SHA256_BYTES];
};

static bool key_is(const char *key, size_t key_len, const char *want, bool case_insensitive)
{
    return key_len == strlen(want) && (case_insensitive ? strncasecmp(key, want, key_len) == 0
                                                        : strncmp(key, want, key_len) == 0);
}

static void take_item(const char *item, size_t len, const char *ts_key, bool case_insensitive,
                      struct sig_items *out)
{
    const char *eq = memchr(item, '=', len);
    if (!eq) {
        return; /* not key=value: ignored, as unknown keys are */
    }
    const char *key = item, *value = eq + 1;
    size_t key_len = (size_t)(eq - item), value_len = len - key_len - 1;
    trim(&key, &key_len);
    trim(&value, &value_len);
    if (key_is(key, key_len, ts_key, case_insensitive)) {
        out->ts = value;
        out->ts_len = value_len;
        out->n_ts++;
    } else if (key_is(key, key_len, "v1", case_insensitive)) {
        out->n_v1++;
        if (out->n_sigs < WHSIG_SIGNATURES_MAX &&
            hex_decode(value, value_len, out->sigs[out->n_sigs], SHA256_BYTES)) {
            out->n_sigs++;
        }
    }
}

/* Splits header on ',' into items, each on its first '='. False (malformed) when the header
 * is absent, too long, has too many items or v1 entries, or lacks exactly one ts_key item or
 * any v1 item. */
static bool parse_sig_items(const char *header, const char *ts_key, bool case_insensitive,
                            struct sig_items *out)
{
    *out = (struct sig_items){0};
    if (!header) {
        return false;
    }
    size_t len = strnlen(header, WHSIG_HEADER_MAX_BYTES + 1);
    if (len > WHSIG_HEADER_MAX_BYTES) {
        return false;
    }
    size_t start = 0;
    for (size_t parts = 0; start <= len; parts++) {
        if (parts == WHSIG_HEADER_PARTS_MAX) {
            return false;
        }
        const char *comma = memchr(header + start, ',', len - start);
        size_t end = comma ? (size_t)(comma - header) : len;
        take_item(header + start, end - start, ts_key, case_insensitive, out);
        start = end + 1;
    }
    return out->n_ts == 1 && out->n_v1 >= 1 && out->n_v1 <= WHSIG_SIGNATURES_MAX;
}

/* Constant time over every kept signature. */
static bool any_sig_matches(const uint8_t expected[SHA256_BYTES], const struct sig_items *items)
{
    bool ok = false;
    for (size_t i = 0; i < items->n_sigs; i++) {
        ok |= crypto_equal(expected, items->sigs[i], SHA256_BYTES);
    }
    return ok;
}

/* ---- MercadoPago ---- */

/* A manifest value: absent (NULL or blank: spaces and tabs only) is fine; present must be
 * short and free of ';' and control characters, so that no value can forge another pair. */
static bool mp_value(const char *s, bool *present)
{
    *present = false;
    if (!s) {
        return true;
    }
    size_t n = strnlen(s, WHSIG_ID_MAX_BYTES + 1);
    if (n > WHSIG_ID_MAX_BYTES) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f || c == ';') {
            return false;
        }
        *present |= !is_blank_char((char)c);
    }
    return true;
}

bool whsig_mercadopago_manifest(const char *data_id, const char *request_id, const char *ts,
                                char out[WHSIG_MP_MANIFEST_BYTES])
{
    bool has_id, has_request_id;
    int64_t ts_value;
    if (!ts || !mp_value(data_id, &has_id) || !mp_value(request_id, &has_request_id) ||
        !parse_digits(ts, strnlen(ts, WHSIG_TIMESTAMP_DIGITS_MAX + 1), &ts_value)) {
        return false;
    }
    char id[WHSIG_ID_MAX_BYTES + 1] = "";
    if (has_id) {
        size_t n = strlen(data_id);
        for (size_t i = 0; i < n; i++) {
            char c = data_id[i];
            id[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        id[n] = '\0';
    }
    int n = snprintf(out, WHSIG_MP_MANIFEST_BYTES, "%s%s%s%s%s%sts:%s;", has_id ? "id:" : "", id,
                     has_id ? ";" : "", has_request_id ? "request-id:" : "",
                     has_request_id ? request_id : "", has_request_id ? ";" : "", ts);
    return n > 0 && n < WHSIG_MP_MANIFEST_BYTES;
}

static void hmac_sha256_str(const char *key, const char *msg, uint8_t out[SHA256_BYTES])
{
    crypto_hmac_sha256((const uint8_t *)key, strlen(key), msg, strlen(msg), out);
}

bool whsig_mercadopago_sign(const char *secret, const char *data_id, const char *request_id,
                            const char *ts, char out[WHSIG_SHA256_HEX_BYTES])
{
    char manifest[WHSIG_MP_MANIFEST_BYTES];
    if (!usable_secret(secret) || !whsig_mercadopago_manifest(data_id, request_id, ts, manifest)) {
        return false;
    }
    uint8_t mac[SHA256_BYTES];
    hmac_sha256_str(secret, manifest, mac);
    hex_encode(mac, sizeof(mac), out);
    return true;
}

enum stdwh_result whsig_mercadopago_verify(const char *x_signature, const char *x_request_id,
                                           const char *data_id, const char *const secrets[],
                                           size_t n_secrets, int64_t now_s, int64_t tolerance_s)
{
    check_secret_count(secrets, n_secrets);
    struct sig_items items;
    char ts[WHSIG_TIMESTAMP_DIGITS_MAX + 1];
    char manifest[WHSIG_MP_MANIFEST_BYTES];
    int64_t t;
    if (!parse_sig_items(x_signature, "ts", true, &items) ||
        !parse_digits(items.ts, items.ts_len, &t)) {
        return STDWH_MALFORMED;
    }
    memcpy(ts, items.ts, items.ts_len);
    ts[items.ts_len] = '\0';
    if (!whsig_mercadopago_manifest(data_id, x_request_id, ts, manifest)) {
        return STDWH_MALFORMED;
    }
    bool ok = false;
    for (size_t i = 0; i < n_secrets; i++) {
        if (usable_secret(secrets[i])) {
            uint8_t mac[SHA256_BYTES];
            hmac_sha256_str(secrets[i], manifest, mac);
            ok |= any_sig_matches(mac, &items);
        }
    }
    if (!ok) {
        return STDWH_BAD_SIGNATURE;
    }
    if (t > MP_TS_MS_ABOVE) {
        t /= 1000;
    }
    return within_tolerance(t, now_s, tolerance_s) ? STDWH_OK : STDWH_STALE;
}

/* ---- Stripe ---- */

static void stripe_mac(const char *secret, int64_t t, const char *body, size_t body_len,
                       uint8_t out[SHA256_BYTES])
{
    char prefix[32];
    int n = snprintf(prefix, sizeof(prefix), "%lld.", (long long)t);
    PASSERT(n > 0 && (size_t)n < sizeof(prefix));
    struct crypto_hmac *h = crypto_hmac_begin((const uint8_t *)secret, strlen(secret));
    crypto_hmac_update(h, prefix, (size_t)n);
    crypto_hmac_update(h, body, body_len);
    crypto_hmac_end(h, out);
}

void whsig_stripe_sign(const char *secret, int64_t t, const char *body, size_t body_len,
                       char out[WHSIG_STRIPE_HEADER_BYTES])
{
    PASSERT(usable_secret(secret) && t >= 0);
    uint8_t mac[SHA256_BYTES];
    char hex[WHSIG_SHA256_HEX_BYTES];
    stripe_mac(secret, t, body, body_len, mac);
    hex_encode(mac, sizeof(mac), hex);
    int n = snprintf(out, WHSIG_STRIPE_HEADER_BYTES, "t=%lld,v1=%s", (long long)t, hex);
    PASSERT(n > 0 && n < WHSIG_STRIPE_HEADER_BYTES);
}

enum stdwh_result whsig_stripe_verify(const char *stripe_signature, const char *body,
                                      size_t body_len, const char *const secrets[],
                                      size_t n_secrets, int64_t now_s, int64_t tolerance_s)
{
    check_secret_count(secrets, n_secrets);
    struct sig_items items;
    int64_t t;
    if (!body_ok(body, body_len) || !parse_sig_items(stripe_signature, "t", false, &items) ||
        !parse_digits(items.ts, items.ts_len, &t)) {
        return STDWH_MALFORMED;
    }
    bool ok = false;
    for (size_t i = 0; i < n_secrets; i++) {
        if (usable_secret(secrets[i])) {
            uint8_t mac[SHA256_BYTES];
            stripe_mac(secrets[i], t, body, body_len, mac);
            ok |= any_sig_matches(mac, &items);
        }
    }
    if (!ok) {
        return STDWH_BAD_SIGNATURE;
    }
    return within_tolerance(t, now_s, tolerance_s) ? STDWH_OK : STDWH_STALE;
}

/* ---- Polar ---- */

bool whsig_polar_key(const char *secret, enum whsig_polar_key derivation,
                     uint8_t key[WHSIG_SECRET_MAX_BYTES], size_t *key_len)
{
    if (!usable_secret(secret)) {
        return false;
    }
    switch (derivation) {
    case WHSIG_POLAR_KEY_LEGACY:
        *key_len = strlen(secret);
        memcpy(key, secret, *key_len);
        return true;
    case WHSIG_POLAR_KEY_STANDARD:
        return stdwh_secret_key(secret, key, key_len);
    }
    return false;
}

enum stdwh_result whsig_polar_verify(const char *webhook_id, const char *webhook_timestamp,
                                     const char *webhook_signature, const char *body,
                                     size_t body_len, const struct whsig_polar_secret secrets[],
                                     size_t n_secrets, int64_t now_s, int64_t tolerance_s)
{
    check_secret_count(secrets, n_secrets);
    PASSERT(tolerance_s >= 0);
    if (!body_ok(body, body_len) || !webhook_id ||
        strnlen(webhook_id, WHSIG_ID_MAX_BYTES + 1) > WHSIG_ID_MAX_BYTES) {
        return STDWH_MALFORMED;
    }
    /* Malformed and stale do not depend on the key, so any secret's verdict stands for all. */
    enum stdwh_result verdict = STDWH_BAD_SIGNATURE;
    bool ok = false;
    for (size_t i = 0; i < n_secrets; i++) {
        uint8_t key[WHSIG_SECRET_MAX_BYTES];
        size_t key_len;
        if (!whsig_polar_key(secrets[i].secret, secrets[i].derivation, key, &key_len)) {
            continue;
        }
        enum stdwh_result r = stdwh_verify(key, key_len, webhook_id, webhook_timestamp,
                                           webhook_signature, body, body_len, now_s, tolerance_s);
        OPENSSL_cleanse(key, sizeof(key));
        ok |= r == STDWH_OK;
        if (r != STDWH_OK) {
            verdict = r;
        }
    }
    return ok ? STDWH_OK : verdict;
}

/* ---- NOWPayments: canonical JSON ---- */

/* The shortest decimal digits that read back as d (at most 17), and the exponent n such that
 * d = 0.digits * 10^n. */
static size_t shortest_digits(double d, char digits[20], int *n)
{
    char e[JS_NUMBER_BYTES];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p - 1, d);
        if (strtod(e, NULL) == d) {
            break;
        }
    }
    size_t k = 0;
    const char *s = e;
    for (; *s && *s != 'e' && k < 19; s++) {
        if (*s >= '0' && *s <= '9') {
            digits[k++] = *s;
        }
    }
    while (k > 1 && digits[k - 1] == '0') {
        k--;
    }
    *n = (*s == 'e' ? (int)strtol(s + 1, NULL, 10) : 0) + 1;
    return k;
}

/* Appends d as JavaScript's Number::toString writes it (ECMA-262): plain notation when
 * -7 < n <= 21, otherwise d[.ddd]e+x / e-x. */
static bool js_real(double d, struct buf *out)
{
    if (d == 0) {
        return buf_append_str(out, "0"); /* -0 as well */
    }
    if (!isfinite(d)) {
        return false;
    }
    char digits[20];
    int n;
    int k = (int)shortest_digits(d, digits, &n);
    char num[JS_NUMBER_BYTES];
    size_t pos = 0;
    if (d < 0) {
        num[pos++] = '-';
    }
    if (k <= n && n <= 21) {
        memcpy(num + pos, digits, (size_t)k);
        memset(num + pos + k, '0', (size_t)(n - k));
        pos += (size_t)n;
    } else if (0 < n && n <= 21) {
        memcpy(num + pos, digits, (size_t)n);
        num[pos + (size_t)n] = '.';
        memcpy(num + pos + n + 1, digits + n, (size_t)(k - n));
        pos += (size_t)k + 1;
    } else if (-6 < n && n <= 0) {
        memcpy(num + pos, "0.", 2);
        memset(num + pos + 2, '0', (size_t)-n);
        memcpy(num + pos + 2 - n, digits, (size_t)k);
        pos += 2 + (size_t)(k - n);
    } else {
        num[pos++] = digits[0];
        if (k > 1) {
            num[pos++] = '.';
            memcpy(num + pos, digits + 1, (size_t)(k - 1));
            pos += (size_t)(k - 1);
        }
        int x = n - 1;
        int w = snprintf(num + pos, sizeof(num) - pos, "e%c%d", x < 0 ? '-' : '+', x < 0 ? -x : x);
        PASSERT(w > 0 && (size_t)w < sizeof(num) - pos);
        pos += (size_t)w;
    }
    return buf_append(out, num, pos);
}

/* A string as JSON.stringify writes it: ", \ and the C0 controls escaped (\b \t \n \f \r or
 * \u00xx in lowercase), everything else, non-ASCII included, as it is. */
static bool js_string(const char *s, size_t len, struct buf *out)
{
    bool ok = buf_append(out, "\"", 1);
    size_t run = 0; /* start of the current run of bytes that need no escaping */
    for (size_t i = 0; i < len && ok; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8] = "";
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
        } else if (c < 0x20) {
            static const char short_forms[] = "\bb\tt\nn\ff\rr";
            const char *f = memchr(short_forms, c, sizeof(short_forms) - 1);
            if (f && (f - short_forms) % 2 == 0) {
                esc[0] = '\\';
                esc[1] = f[1];
            } else {
                snprintf(esc, sizeof(esc), "\\u%04x", c);
            }
        }
        if (esc[0]) {
            ok = buf_append(out, s + run, i - run) && buf_append_str(out, esc);
            run = i + 1;
        }
    }
    return ok && buf_append(out, s + run, len - run) && buf_append(out, "\"", 1);
}

/* A canonical array index key as JavaScript objects order them: "0" or digits without a
 * leading zero, below 2^32 - 1. */
static bool array_index(const char *key, uint64_t *index)
{
    size_t n = strnlen(key, 11);
    if (n == 0 || n > 10 || (key[0] == '0' && n > 1)) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (key[i] < '0' || key[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(key[i] - '0');
    }
    *index = v;
    return v < UINT32_MAX;
}

static int compare_bytes(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The order JSON.stringify gives an object built by inserting sorted keys: array-index keys
 * first, by value, then the rest in sorted order. */
static int compare_js(const void *a, const void *b)
{
    const char *ka = *(const char *const *)a, *kb = *(const char *const *)b;
    uint64_t ia, ib;
    bool xa = array_index(ka, &ia), xb = array_index(kb, &ib);
    if (xa && xb) {
        return (ia > ib) - (ia < ib);
    }
    if (xa != xb) {
        return xa ? -1 : 1;
    }
    return strcmp(ka, kb);
}

struct np_ctx {
    enum whsig_nowpayments_form form;
    const char **filter; /* LEGACY: the sorted top-level keys, the replacer's property list */
    size_t n_filter;
    struct buf *out;
};

static bool np_value(struct np_ctx *c, json_t *v, int depth);

static bool np_object(struct np_ctx *c, json_t *v, int depth)
{
    size_t n = json_object_size(v);
    const char **keys = xcalloc(n ? n : 1, sizeof(*keys));
    size_t i = 0;
    for (void *it = json_object_iter(v); it && i < n; it = json_object_iter_next(v, it)) {
        keys[i++] = json_object_iter_key(it);
    }
    qsort(keys, n, sizeof(*keys), c->form == WHSIG_NP_FORM_NODE ? compare_js : compare_bytes);
    if (c->form == WHSIG_NP_FORM_LEGACY && depth == 0) {
        c->filter = keys;
        c->n_filter = n;
    }
    bool ok = buf_append(c->out, "{", 1);
    bool first = true;
    for (i = 0; i < n && ok; i++) {
        if (c->form == WHSIG_NP_FORM_LEGACY && depth > 0 &&
            !bsearch(&keys[i], c->filter, c->n_filter, sizeof(*keys), compare_bytes)) {
            continue;
        }
        ok = (first || buf_append(c->out, ",", 1)) && js_string(keys[i], strlen(keys[i]), c->out) &&
             buf_append(c->out, ":", 1) && np_value(c, json_object_get(v, keys[i]), depth + 1);
        first = false;
    }
    free(keys);
    return ok && buf_append(c->out, "}", 1);
}

/* NODE turns an array into an object keyed by index (sortObject treats it as one); the other
 * forms keep it. */
static bool np_array(struct np_ctx *c, json_t *v, int depth)
{
    bool as_object = c->form == WHSIG_NP_FORM_NODE;
    bool ok = buf_append(c->out, as_object ? "{" : "[", 1);
    for (size_t i = 0; i < json_array_size(v) && ok; i++) {
        ok = (i == 0 || buf_append(c->out, ",", 1)) &&
             (!as_object || buf_printf(c->out, "\"%zu\":", i)) &&
             np_value(c, json_array_get(v, i), depth + 1);
    }
    return ok && buf_append(c->out, as_object ? "}" : "]", 1);
}

static bool np_value(struct np_ctx *c, json_t *v, int depth)
{
    if (depth > LIMIT_JSON_DEPTH) {
        return false;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return np_object(c, v, depth);
    case JSON_ARRAY:
        return np_array(c, v, depth);
    case JSON_STRING:
        return js_string(json_string_value(v), json_string_length(v), c->out);
    case JSON_INTEGER:
        return buf_printf(c->out, "%lld", (long long)json_integer_value(v));
    case JSON_REAL:
        return js_real(json_real_value(v), c->out);
    case JSON_TRUE:
        return buf_append_str(c->out, "true");
    case JSON_FALSE:
        return buf_append_str(c->out, "false");
    case JSON_NULL:
        return buf_append_str(c->out, "null");
    }
    return false;
}

/* Every number is read as a double, as JavaScript reads JSON, so 5077125051 and
 * 123456789012345678901 come out as JSON.stringify writes them. jansson bounds the nesting
 * (2048) and np_value then refuses anything deeper than LIMIT_JSON_DEPTH. */
static json_t *np_parse(const char *body, size_t body_len)
{
    if (!body || body_len > LIMIT_BODY_BYTES) {
        return NULL;
    }
    json_error_t jerr;
    json_t *root =
        json_loadb(body, body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

static bool np_canonical(json_t *root, enum whsig_nowpayments_form form, struct buf *out)
{
    struct np_ctx c = {.form = form, .out = out};
    return np_value(&c, root, 0);
}

bool whsig_nowpayments_canonical(const char *body, size_t body_len,
                                 enum whsig_nowpayments_form form, struct buf *out)
{
    json_t *root = np_parse(body, body_len);
    bool ok = root && np_canonical(root, form, out);
    json_decref(root);
    return ok;
}

/* ---- NOWPayments: signature ---- */

static void hmac_sha512(const char *key, const void *data, size_t len, uint8_t out[SHA512_BYTES])
{
    unsigned int out_len = SHA512_BYTES;
    PASSERT(HMAC(EVP_sha512(), key, (int)strlen(key), data, len, out, &out_len) != NULL &&
            out_len == SHA512_BYTES);
}

bool whsig_nowpayments_sign(const char *secret, const char *body, size_t body_len,
                            char out[WHSIG_SHA512_HEX_BYTES])
{
    struct buf canonical;
    buf_init(&canonical, WHSIG_NOWPAYMENTS_CANONICAL_MAX_BYTES);
    bool ok = usable_secret(secret) &&
              whsig_nowpayments_canonical(body, body_len, WHSIG_NP_FORM_NODE, &canonical);
    if (ok) {
        uint8_t mac[SHA512_BYTES];
        hmac_sha512(secret, canonical.data, canonical.len, mac);
        hex_encode(mac, sizeof(mac), out);
    }
    buf_release(&canonical);
    return ok;
}

enum stdwh_result whsig_nowpayments_verify(const char *x_nowpayments_sig, const char *body,
                                           size_t body_len, const char *const secrets[],
                                           size_t n_secrets, bool accept_legacy)
{
    check_secret_count(secrets, n_secrets);
    uint8_t want[SHA512_BYTES];
    if (!x_nowpayments_sig ||
        !hex_decode(x_nowpayments_sig, strnlen(x_nowpayments_sig, 2 * SHA512_BYTES + 1), want,
                    SHA512_BYTES)) {
        return STDWH_MALFORMED;
    }
    static const enum whsig_nowpayments_form all_forms[] = {
        WHSIG_NP_FORM_NODE, WHSIG_NP_FORM_SORTED, WHSIG_NP_FORM_LEGACY};
    struct buf forms[ARRAY_LEN(all_forms)];
    size_t n_forms = accept_legacy ? 3 : 2;
    json_t *root = np_parse(body, body_len);
    bool parsed = root != NULL;
    for (size_t f = 0; f < n_forms; f++) {
        buf_init(&forms[f], WHSIG_NOWPAYMENTS_CANONICAL_MAX_BYTES);
        parsed = parsed && np_canonical(root, all_forms[f], &forms[f]);
    }
    json_decref(root);
    bool ok = false;
    for (size_t i = 0; i < n_secrets && parsed; i++) {
        for (size_t f = 0; f < n_forms && usable_secret(secrets[i]); f++) {
            uint8_t mac[SHA512_BYTES];
            hmac_sha512(secrets[i], buf_str(&forms[f]), forms[f].len, mac);
            ok |= crypto_equal(mac, want, SHA512_BYTES);
        }
    }
    for (size_t f = 0; f < n_forms; f++) {
        buf_release(&forms[f]);
    }
    if (!parsed) {
        return STDWH_MALFORMED;
    }
    return ok ? STDWH_OK : STDWH_BAD_SIGNATURE;
}

/* ---- Flow ---- */

static int compare_params(const void *a, const void *b)
{
    return strcmp((*(const struct whsig_param *const *)a)->name,
                  (*(const struct whsig_param *const *)b)->name);
}

static bool flow_field_ok(const char *s, bool may_be_empty)
{
    if (!s) {
        return false;
    }
    size_t n = strnlen(s, WHSIG_FLOW_VALUE_MAX_BYTES + 1);
    return n <= WHSIG_FLOW_VALUE_MAX_BYTES && (may_be_empty || n > 0);
}

/* The parameters other than "s", sorted by name; *s_value is the "s" parameter or NULL. False
 * when there are too many, one is invalid, or a name (s included) appears twice. */
static bool flow_sorted(const struct whsig_param *params, size_t n_params,
                        const struct whsig_param *sorted[WHSIG_FLOW_PARAMS_MAX], size_t *n_sorted,
                        const char **s_value)
{
    *s_value = NULL;
    *n_sorted = 0;
    if (n_params > WHSIG_FLOW_PARAMS_MAX || (n_params > 0 && !params)) {
        return false;
    }
    size_t m = 0;
    for (size_t i = 0; i < n_params; i++) {
        if (!flow_field_ok(params[i].name, false) || !flow_field_ok(params[i].value, true)) {
            return false;
        }
        if (strcmp(params[i].name, "s") == 0) {
            if (*s_value) {
                return false;
            }
            *s_value = params[i].value;
        } else {
            sorted[m++] = &params[i];
        }
    }
    qsort(sorted, m, sizeof(*sorted), compare_params);
    for (size_t i = 1; i < m; i++) {
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            return false;
        }
    }
    *n_sorted = m;
    return true;
}

static void flow_mac(const struct whsig_param *const *sorted, size_t n, const char *secret,
                     uint8_t out[SHA256_BYTES])
{
    struct crypto_hmac *h = crypto_hmac_begin((const uint8_t *)secret, strlen(secret));
    for (size_t i = 0; i < n; i++) {
        crypto_hmac_update(h, sorted[i]->name, strlen(sorted[i]->name));
        crypto_hmac_update(h, sorted[i]->value, strlen(sorted[i]->value));
    }
    crypto_hmac_end(h, out);
}

bool whsig_flow_sign(const struct whsig_param *params, size_t n_params, const char *secret_key,
                     char out[WHSIG_SHA256_HEX_BYTES])
{
    const struct whsig_param *sorted[WHSIG_FLOW_PARAMS_MAX];
    size_t n_sorted;
    const char *s_value;
    if (!usable_secret(secret_key) || !flow_sorted(params, n_params, sorted, &n_sorted, &s_value)) {
        return false;
    }
    uint8_t mac[SHA256_BYTES];
    flow_mac(sorted, n_sorted, secret_key, mac);
    hex_encode(mac, sizeof(mac), out);
    return true;
}

enum stdwh_result whsig_flow_verify(const struct whsig_param *params, size_t n_params,
                                    const char *const secrets[], size_t n_secrets)
{
    check_secret_count(secrets, n_secrets);
    const struct whsig_param *sorted[WHSIG_FLOW_PARAMS_MAX];
    size_t n_sorted;
    const char *s_value;
    uint8_t want[SHA256_BYTES];
    if (!flow_sorted(params, n_params, sorted, &n_sorted, &s_value) || !s_value ||
        !hex_decode(s_value, strlen(s_value), want, SHA256_BYTES)) {
        return STDWH_MALFORMED;
    }
    bool ok = false;
    for (size_t i = 0; i < n_secrets; i++) {
        if (usable_secret(secrets[i])) {
            uint8_t mac[SHA256_BYTES];
            flow_mac(sorted, n_sorted, secrets[i], mac);
            ok |= crypto_equal(mac, want, SHA256_BYTES);
        }
    }
    return ok ? STDWH_OK : STDWH_BAD_SIGNATURE;
}

/* ---- RSA helpers (Conekta, PayPal) ---- */

/* An RSA key of WHSIG_RSA_MIN_BITS..RSA_MAX_BITS bits, or NULL (key consumed). */
static EVP_PKEY *rsa_only(EVP_PKEY *key)
{
    if (key && (!EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_get_bits(key) < WHSIG_RSA_MIN_BITS ||
                EVP_PKEY_get_bits(key) > RSA_MAX_BITS)) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

/* A memory BIO over a bounded PEM text, or NULL when there is none. */
static BIO *pem_bio(const char *pem)
{
    size_t n = pem ? strnlen(pem, WHSIG_PEM_MAX_BYTES + 1) : 0;
    if (n == 0 || n > WHSIG_PEM_MAX_BYTES) {
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    PASSERT(bio != NULL);
    return bio;
}

static EVP_PKEY *rsa_public_key(const char *pem)
{
    BIO *bio = pem_bio(pem);
    if (!bio) {
        return NULL;
    }
    EVP_PKEY *key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error(); /* parse failures are answers here, not errors for the next caller */
    return rsa_only(key);
}

/* Decodes base64 (surrounding blanks and an optional "<prefix>" ignored) into out. */
static bool decode_b64_header(const char *header, size_t max_len, const char *const prefixes[],
                              size_t n_prefixes, uint8_t *out, size_t out_size, size_t *out_len)
{
    size_t len = header ? strnlen(header, max_len + 1) : 0;
    if (len == 0 || len > max_len) {
        return false;
    }
    trim(&header, &len);
    for (size_t i = 0; i < n_prefixes; i++) {
        size_t p = strlen(prefixes[i]);
        if (len > p && strncasecmp(header, prefixes[i], p) == 0) {
            header += p;
            len -= p;
            break;
        }
    }
    char *copy = xstrndup(header, len);
    int n = base64_decode(copy, out, out_size);
    free(copy);
    if (n <= 0) {
        return false;
    }
    *out_len = (size_t)n;
    return true;
}

/* ---- Conekta ---- */

bool whsig_conekta_key_ok(const char *pem)
{
    EVP_PKEY *key = rsa_public_key(pem);
    EVP_PKEY_free(key);
    return key != NULL;
}

/* The content of an RSA PKCS#1 v1.5 type-1 block (what the private key "encrypted"); 0 when
 * sig is not such a block under key. */
static size_t rsa_recover(EVP_PKEY *key, const uint8_t *sig, size_t sig_len,
                          uint8_t out[WHSIG_RSA_SIGNATURE_MAX_BYTES])
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    PASSERT(ctx != NULL);
    size_t n = WHSIG_RSA_SIGNATURE_MAX_BYTES;
    bool ok = EVP_PKEY_verify_recover_init(ctx) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
              EVP_PKEY_verify_recover(ctx, out, &n, sig, sig_len) == 1;
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return ok ? n : 0;
}

/* DER DigestInfo prefix of a SHA-256 hash (RFC 8017, 9.2 note 1). */
static const uint8_t sha256_digest_info[19] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                               0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                               0x01, 0x05, 0x00, 0x04, 0x20};

struct conekta_expected {
    uint8_t signed_body[sizeof(sha256_digest_info) + SHA256_BYTES]; /* SHA256withRSA(body) */
    uint8_t signed_hex[sizeof(sha256_digest_info) + SHA256_BYTES];  /* SHA256withRSA(hex) */
    uint8_t hash[SHA256_BYTES];                                     /* raw SHA-256(body) */
    char hex[SHA256_HEX_BYTES];                                     /* its lowercase hex */
};

static void conekta_expected(const char *body, size_t body_len, struct conekta_expected *e)
{
    uint8_t hex_hash[SHA256_BYTES];
    crypto_sha256(body, body_len, e->hash);
    hex_encode(e->hash, SHA256_BYTES, e->hex);
    crypto_sha256(e->hex, 2 * SHA256_BYTES, hex_hash);
    memcpy(e->signed_body, sha256_digest_info, sizeof(sha256_digest_info));
    memcpy(e->signed_body + sizeof(sha256_digest_info), e->hash, SHA256_BYTES);
    memcpy(e->signed_hex, sha256_digest_info, sizeof(sha256_digest_info));
    memcpy(e->signed_hex + sizeof(sha256_digest_info), hex_hash, SHA256_BYTES);
}

static bool conekta_matches(const uint8_t *got, size_t n, const struct conekta_expected *e)
{
    bool ok = false;
    if (n == sizeof(e->signed_body)) {
        ok |= crypto_equal(got, e->signed_body, n);
        ok |= crypto_equal(got, e->signed_hex, n);
    } else if (n == SHA256_BYTES) {
        ok |= crypto_equal(got, e->hash, n);
    } else if (n == 2 * SHA256_BYTES) {
        char lower[2 * SHA256_BYTES];
        for (size_t i = 0; i < n; i++) {
            lower[i] = (got[i] >= 'A' && got[i] <= 'F') ? (char)(got[i] - 'A' + 'a') : (char)got[i];
        }
        ok |= crypto_equal(lower, e->hex, n);
    }
    return ok;
}

enum stdwh_result whsig_conekta_verify(const char *digest, const char *body, size_t body_len,
                                       const char *const public_keys_pem[], size_t n_keys)
{
    check_secret_count(public_keys_pem, n_keys);
    static const char *const prefixes[] = {"sha-256=", "sha256="};
    uint8_t sig[WHSIG_RSA_SIGNATURE_MAX_BYTES];
    size_t sig_len;
    if (!body_ok(body, body_len) ||
        !decode_b64_header(digest, DIGEST_HEADER_MAX_BYTES, prefixes, ARRAY_LEN(prefixes), sig,
                           sizeof(sig), &sig_len)) {
        return STDWH_MALFORMED;
    }
    struct conekta_expected expected;
    conekta_expected(body ? body : "", body_len, &expected);
    bool ok = false;
    for (size_t i = 0; i < n_keys; i++) {
        EVP_PKEY *key = rsa_public_key(public_keys_pem[i]);
        if (key) {
            uint8_t got[WHSIG_RSA_SIGNATURE_MAX_BYTES];
            size_t n = rsa_recover(key, sig, sig_len, got);
            ok |= n > 0 && conekta_matches(got, n, &expected);
            EVP_PKEY_free(key);
        }
    }
    return ok ? STDWH_OK : STDWH_BAD_SIGNATURE;
}

/* ---- PayPal ---- */

uint32_t whsig_crc32(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

/* Present, 1..max bytes, no '|' (the message's separator) and no control characters. */
static bool paypal_field_ok(const char *s, size_t max)
{
    size_t n = s ? strnlen(s, max + 1) : 0;
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '|') {
            return false;
        }
    }
    return true;
}

bool whsig_paypal_message(const char *transmission_id, const char *transmission_time,
                          const char *webhook_id, const char *body, size_t body_len,
                          char out[WHSIG_PAYPAL_MESSAGE_BYTES])
{
    if (!paypal_field_ok(transmission_id, PAYPAL_ID_MAX_BYTES) ||
        !paypal_field_ok(transmission_time, PAYPAL_TIME_MAX_BYTES) ||
        !paypal_field_ok(webhook_id, PAYPAL_ID_MAX_BYTES) || !body_ok(body, body_len)) {
        return false;
    }
    uint32_t crc = whsig_crc32(body ? body : "", body_len);
    int n = snprintf(out, WHSIG_PAYPAL_MESSAGE_BYTES, "%s|%s|%s|%lu", transmission_id,
                     transmission_time, webhook_id, (unsigned long)crc);
    return n > 0 && n < WHSIG_PAYPAL_MESSAGE_BYTES;
}

bool whsig_paypal_cert_url_ok(const char *url)
{
    static const char *const hosts[] = {"api.paypal.com", "api.sandbox.paypal.com",
                                        "api-m.paypal.com", "api-m.sandbox.paypal.com"};
    static const char scheme[] = "https://";
    static const char path[] = "/v1/notifications/certs/";
    size_t len = url ? strnlen(url, PAYPAL_CERT_URL_MAX_BYTES + 1) : 0;
    if (len == 0 || len > PAYPAL_CERT_URL_MAX_BYTES || strncmp(url, scheme, strlen(scheme)) != 0) {
        return false;
    }
    const char *host = url + strlen(scheme);
    for (size_t i = 0; i < ARRAY_LEN(hosts); i++) {
        size_t h = strlen(hosts[i]);
        if (strncmp(host, hosts[i], h) != 0 || strncmp(host + h, path, strlen(path)) != 0) {
            continue;
        }
        const char *id = host + h + strlen(path);
        size_t id_len = strlen(id);
        return id_len > 0 && strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789-") == id_len;
    }
    return false;
}

/* The certificate's RSA key when it was issued to PayPal's message-verification host and is
 * valid at now_s; NULL otherwise. Chain and revocation are the caller's (see the header). */
static EVP_PKEY *paypal_cert_key(const char *cert_pem, int64_t now_s)
{
    static const char *const names[] = {"messageverificationcerts.paypal.com",
                                        "messageverificationcerts.sandbox.paypal.com"};
    BIO *bio = pem_bio(cert_pem);
    if (!bio) {
        return NULL;
    }
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    EVP_PKEY *key = NULL;
    if (cert) {
        time_t now = (time_t)now_s;
        bool named = false;
        for (size_t i = 0; i < ARRAY_LEN(names); i++) {
            named |=
                X509_check_host(cert, names[i], 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
        }
        if (named && X509_cmp_time(X509_get0_notBefore(cert), &now) < 0 &&
            X509_cmp_time(X509_get0_notAfter(cert), &now) > 0) {
            key = rsa_only(X509_get_pubkey(cert));
        }
        X509_free(cert);
    }
    ERR_clear_error();
    return key;
}

static bool rsa_sha256_verify(EVP_PKEY *key, const char *msg, const uint8_t *sig, size_t sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    PASSERT(ctx != NULL);
    bool ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
              EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)msg, strlen(msg)) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

enum stdwh_result whsig_paypal_verify(const struct whsig_paypal_headers *headers,
                                      const char *webhook_id, const char *body, size_t body_len,
                                      const char *cert_pem, int64_t now_s, int64_t tolerance_s)
{
    PASSERT(headers != NULL && tolerance_s >= 0);
    char message[WHSIG_PAYPAL_MESSAGE_BYTES];
    uint8_t sig[WHSIG_RSA_SIGNATURE_MAX_BYTES];
    size_t sig_len;
    int64_t sent_us;
    if (!paypal_field_ok(headers->auth_algo, PAYPAL_ALGO_MAX_BYTES) ||
        strcasecmp(headers->auth_algo, "SHA256withRSA") != 0 ||
        !whsig_paypal_cert_url_ok(headers->cert_url) ||
        !paypal_field_ok(headers->transmission_time, PAYPAL_TIME_MAX_BYTES) ||
        !time_parse_rfc3339(headers->transmission_time, &sent_us) ||
        !whsig_paypal_message(headers->transmission_id, headers->transmission_time, webhook_id,
                              body, body_len, message) ||
        !decode_b64_header(headers->transmission_sig, WHSIG_HEADER_MAX_BYTES, NULL, 0, sig,
                           sizeof(sig), &sig_len)) {
        return STDWH_MALFORMED;
    }
    EVP_PKEY *key = paypal_cert_key(cert_pem, now_s);
    bool ok = key && rsa_sha256_verify(key, message, sig, sig_len);
    EVP_PKEY_free(key);
    if (!ok) {
        return STDWH_BAD_SIGNATURE;
    }
    return within_tolerance(sent_us / 1000000, now_s, tolerance_s) ? STDWH_OK : STDWH_STALE;
}
