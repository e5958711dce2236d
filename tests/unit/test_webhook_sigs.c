/* Unit tests for domain/webhook_sigs.h: every known-answer vector of PROVIDERS.md section 9
 * (positive and negative), then per provider tampered bodies and headers, stale and future
 * timestamps, malformed and over-long headers, several signatures in one header and secret
 * rotation. RSA keys and certificates for Conekta and PayPal round trips are made here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/crypto.h"
#include "domain/webhook_sigs.h"

#define TOL WHSIG_TOLERANCE_DEFAULT_S

/* ------------------------------------------------------------------ MercadoPago (9.4) */

#define MP_SECRET "your_secret_key_here"
#define MP_REQUEST_ID "2066ca19-c6f1-498a-be75-1923005edd06"
#define MP_ORDER_ID "ORD01JQ4S4KY8HWQ6NA5PXB65B3D3"
#define MP_TS "1742505638683"
#define MP_NOW 1742505638 /* MP_TS in seconds */
#define MP_V1_LOWER "633f91233312dd391ec75fa0bea539cfc2d6c4918873305b84a96cc1c58db71c"
#define MP_V1_UPPER "fb15ae6472eb449173c556793205d77787d58f384d183bb5bc3b724c27bd103c"
#define MP_V1_NO_ID "8a7b0cc777a8217c3bab41a50c95dc92debbc6f8448f1c967dfe10ac1cb8b894"
#define MP_V1_NO_RID "a20c44820ab71562e89a7c9f64d5636efc8beba587b16c2f9bbbc3504892741a"
#define MP_V1_NEITHER "3f075add3ddb923bebf0bc0648457b8244cf4420b98d5b445167d379bec0ca54"
#define MP_V1_NUMERIC "2950837c0ba1681e168f193fb68dad2d33a2372e6cf86379ca8eeaa965009294"

static const char *const mp_secrets[] = {MP_SECRET};

static enum stdwh_result mp(const char *header, const char *request_id, const char *data_id,
                            int64_t now_s)
{
    return whsig_mercadopago_verify(header, request_id, data_id, mp_secrets, 1, now_s, TOL);
}

static void test_mercadopago_manifests(void **state)
{
    (void)state;
    char m[WHSIG_MP_MANIFEST_BYTES];
    assert_true(whsig_mercadopago_manifest(MP_ORDER_ID, MP_REQUEST_ID, MP_TS, m));
    assert_string_equal(m, "id:ord01jq4s4ky8hwq6na5pxb65b3d3;request-id:" MP_REQUEST_ID
                           ";ts:1742505638683;");
    assert_true(whsig_mercadopago_manifest(NULL, MP_REQUEST_ID, MP_TS, m));
    assert_string_equal(m, "request-id:" MP_REQUEST_ID ";ts:1742505638683;");
    assert_true(whsig_mercadopago_manifest(MP_ORDER_ID, NULL, MP_TS, m));
    assert_string_equal(m, "id:ord01jq4s4ky8hwq6na5pxb65b3d3;ts:1742505638683;");
    assert_true(whsig_mercadopago_manifest(NULL, NULL, MP_TS, m));
    assert_string_equal(m, "ts:1742505638683;");
    /* Blank values are dropped like absent ones. */
    assert_true(whsig_mercadopago_manifest("", " \t", MP_TS, m));
    assert_string_equal(m, "ts:1742505638683;");
    assert_true(whsig_mercadopago_manifest("123456789", MP_REQUEST_ID, "1704908010", m));
    assert_string_equal(m, "id:123456789;request-id:" MP_REQUEST_ID ";ts:1704908010;");
    /* The request id is used as received, not lowercased. */
    assert_true(whsig_mercadopago_manifest("1", "ABC-def", "1", m));
    assert_string_equal(m, "id:1;request-id:ABC-def;ts:1;");
    /* Values that could forge another pair, and bad ts, are refused. */
    assert_false(whsig_mercadopago_manifest("1;request-id:x", NULL, MP_TS, m));
    assert_false(whsig_mercadopago_manifest("1", "a;b", MP_TS, m));
    assert_false(whsig_mercadopago_manifest("1\n", NULL, MP_TS, m));
    assert_false(whsig_mercadopago_manifest("1", NULL, "12a", m));
    assert_false(whsig_mercadopago_manifest("1", NULL, "", m));
    assert_false(whsig_mercadopago_manifest("1", NULL, NULL, m));
    assert_false(whsig_mercadopago_manifest("1", NULL, "1234567890123456", m));
    char long_id[WHSIG_ID_MAX_BYTES + 2];
    memset(long_id, '7', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_false(whsig_mercadopago_manifest(long_id, NULL, MP_TS, m));
    long_id[WHSIG_ID_MAX_BYTES] = '\0';
    assert_true(whsig_mercadopago_manifest(long_id, long_id, MP_TS, m));
}

static void test_mercadopago_kat(void **state)
{
    (void)state;
    /* The data.id arrives uppercase; the receiver lowercases it (PROVIDERS.md 1.3). */
    assert_int_equal(mp("ts=" MP_TS ",v1=" MP_V1_LOWER, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW),
                     STDWH_OK);
    assert_int_equal(
        mp("ts=" MP_TS ",v1=" MP_V1_LOWER, MP_REQUEST_ID, "ord01jq4s4ky8hwq6na5pxb65b3d3", MP_NOW),
        STDWH_OK);
    assert_int_equal(mp("ts=" MP_TS ",v1=" MP_V1_NO_ID, MP_REQUEST_ID, NULL, MP_NOW), STDWH_OK);
    assert_int_equal(mp("ts=" MP_TS ",v1=" MP_V1_NO_ID, MP_REQUEST_ID, "", MP_NOW), STDWH_OK);
    assert_int_equal(mp("ts=" MP_TS ",v1=" MP_V1_NO_RID, NULL, MP_ORDER_ID, MP_NOW), STDWH_OK);
    assert_int_equal(mp("ts=" MP_TS ",v1=" MP_V1_NO_RID, " ", MP_ORDER_ID, MP_NOW), STDWH_OK);
    assert_int_equal(mp("ts=" MP_TS ",v1=" MP_V1_NEITHER, NULL, NULL, MP_NOW), STDWH_OK);
    assert_int_equal(mp("ts=1704908010,v1=" MP_V1_NUMERIC, MP_REQUEST_ID, "123456789", 1704908010),
                     STDWH_OK);

    char v1[WHSIG_SHA256_HEX_BYTES];
    assert_true(whsig_mercadopago_sign(MP_SECRET, MP_ORDER_ID, MP_REQUEST_ID, MP_TS, v1));
    assert_string_equal(v1, MP_V1_LOWER);
    assert_true(whsig_mercadopago_sign(MP_SECRET, NULL, NULL, MP_TS, v1));
    assert_string_equal(v1, MP_V1_NEITHER);
}

static void test_mercadopago_negative(void **state)
{
    (void)state;
    /* 9.4's uppercase vector: what a receiver that forgets to lowercase would accept. */
    assert_int_equal(mp("ts=" MP_TS ",v1=" MP_V1_UPPER, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW),
                     STDWH_BAD_SIGNATURE);
    assert_int_equal(
        mp("ts=" MP_TS ",v1=" MP_V1_UPPER, MP_REQUEST_ID, "ord01jq4s4ky8hwq6na5pxb65b3d3", MP_NOW),
        STDWH_BAD_SIGNATURE);
    /* Pairs must be present exactly when they were signed. */
    assert_int_equal(mp("ts=" MP_TS ",v1=" MP_V1_LOWER, NULL, MP_ORDER_ID, MP_NOW),
                     STDWH_BAD_SIGNATURE);
    assert_int_equal(mp("ts=" MP_TS ",v1=" MP_V1_LOWER, MP_REQUEST_ID, NULL, MP_NOW),
                     STDWH_BAD_SIGNATURE);
    assert_int_equal(mp("ts=" MP_TS ",v1=" MP_V1_NO_ID, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW),
                     STDWH_BAD_SIGNATURE);
    /* Tampered id, request id, ts and v1. */
    assert_int_equal(
        mp("ts=" MP_TS ",v1=" MP_V1_LOWER, MP_REQUEST_ID, "ORD01JQ4S4KY8HWQ6NA5PXB65B3D4", MP_NOW),
        STDWH_BAD_SIGNATURE);
    assert_int_equal(mp("ts=" MP_TS ",v1=" MP_V1_LOWER, "2066ca19-c6f1-498a-be75-1923005edd07",
                        MP_ORDER_ID, MP_NOW),
                     STDWH_BAD_SIGNATURE);
    assert_int_equal(mp("ts=1742505638684,v1=" MP_V1_LOWER, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW),
                     STDWH_BAD_SIGNATURE);
    assert_int_equal(mp("ts=" MP_TS ",v1=733f91233312dd391ec75fa0bea539cfc2d6c4918873305b84a96cc1"
                        "c58db71c",
                        MP_REQUEST_ID, MP_ORDER_ID, MP_NOW),
                     STDWH_BAD_SIGNATURE);
    /* A v1 that is not 64 hex digits just does not match. */
    assert_int_equal(mp("ts=" MP_TS ",v1=633f", MP_REQUEST_ID, MP_ORDER_ID, MP_NOW),
                     STDWH_BAD_SIGNATURE);
    /* Wrong secret. */
    const char *const wrong[] = {"not_the_secret"};
    assert_int_equal(whsig_mercadopago_verify("ts=" MP_TS ",v1=" MP_V1_LOWER, MP_REQUEST_ID,
                                              MP_ORDER_ID, wrong, 1, MP_NOW, TOL),
                     STDWH_BAD_SIGNATURE);
}

static void test_mercadopago_header_shapes(void **state)
{
    (void)state;
    /* Whitespace trimmed, keys case-insensitive, any order, unknown keys ignored. */
    assert_int_equal(
        mp(" ts = " MP_TS " , v1 = " MP_V1_LOWER " ", MP_REQUEST_ID, MP_ORDER_ID, MP_NOW),
        STDWH_OK);
    assert_int_equal(mp("TS=" MP_TS ",V1=" MP_V1_LOWER, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW),
                     STDWH_OK);
    assert_int_equal(mp("v1=" MP_V1_LOWER ",ts=" MP_TS, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW),
                     STDWH_OK);
    assert_int_equal(
        mp("ts=" MP_TS ",v2=abc,v1=" MP_V1_LOWER ",x", MP_REQUEST_ID, MP_ORDER_ID, MP_NOW),
        STDWH_OK);
    /* Uppercase hex in v1 is the same signature. */
    assert_int_equal(mp("ts=" MP_TS ",v1=633F91233312DD391EC75FA0BEA539CFC2D6C4918873305B84A96CC1"
                        "C58DB71C",
                        MP_REQUEST_ID, MP_ORDER_ID, MP_NOW),
                     STDWH_OK);
    /* Several v1: any may match. */
    assert_int_equal(
        mp("ts=" MP_TS ",v1=" MP_V1_UPPER ",v1=" MP_V1_LOWER, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW),
        STDWH_OK);
    /* A signature under v2 is not a v1 signature. */
    assert_int_equal(
        mp("ts=" MP_TS ",v2=" MP_V1_LOWER ",v1=" MP_V1_UPPER, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW),
        STDWH_BAD_SIGNATURE);
}

static void test_mercadopago_timestamps(void **state)
{
    (void)state;
    const char *h = "ts=" MP_TS ",v1=" MP_V1_LOWER;
    /* ts in milliseconds: compared in seconds. */
    assert_int_equal(mp(h, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW + TOL), STDWH_OK);
    assert_int_equal(mp(h, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW - TOL + 1), STDWH_OK);
    assert_int_equal(mp(h, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW + TOL + 1), STDWH_STALE);
    assert_int_equal(mp(h, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW - TOL - 1), STDWH_STALE);
    /* ts in seconds. */
    const char *s = "ts=1704908010,v1=" MP_V1_NUMERIC;
    assert_int_equal(mp(s, MP_REQUEST_ID, "123456789", 1704908010 + TOL), STDWH_OK);
    assert_int_equal(mp(s, MP_REQUEST_ID, "123456789", 1704908010 + TOL + 1), STDWH_STALE);
    assert_int_equal(mp(s, MP_REQUEST_ID, "123456789", 1704908010 - TOL - 1), STDWH_STALE);
    /* The caller's tolerance is used. */
    assert_int_equal(whsig_mercadopago_verify(s, MP_REQUEST_ID, "123456789", mp_secrets, 1,
                                              1704908010 + 3600, 3600),
                     STDWH_OK);
    /* A stale message with a bad signature reports the bad signature. */
    assert_int_equal(mp("ts=1704908010,v1=" MP_V1_LOWER, MP_REQUEST_ID, "123456789", 0),
                     STDWH_BAD_SIGNATURE);
}

static void test_mercadopago_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        NULL,
        "",
        "garbage",
        ",,,",
        "ts=" MP_TS,                           /* no v1 */
        "v1=" MP_V1_LOWER,                     /* no ts */
        "ts=,v1=" MP_V1_LOWER,                 /* empty ts */
        "ts=12x4,v1=" MP_V1_LOWER,             /* not digits */
        "ts=-1742505638683,v1=" MP_V1_LOWER,   /* signed */
        "ts=1234567890123456,v1=" MP_V1_LOWER, /* too many digits */
        "ts=1,ts=" MP_TS ",v1=" MP_V1_LOWER,   /* two ts */
        "ts " MP_TS ",v1 " MP_V1_LOWER,        /* no '=' */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(mp(bad[i], MP_REQUEST_ID, MP_ORDER_ID, MP_NOW), STDWH_MALFORMED);
    }
    /* A data.id or request id that could forge another pair. */
    assert_int_equal(mp("ts=" MP_TS ",v1=" MP_V1_LOWER, MP_REQUEST_ID, "1;ts:1", MP_NOW),
                     STDWH_MALFORMED);
    assert_int_equal(mp("ts=" MP_TS ",v1=" MP_V1_LOWER, "x;y", MP_ORDER_ID, MP_NOW),
                     STDWH_MALFORMED);
    /* Over-long header, too many items, too many v1. */
    char h[WHSIG_HEADER_MAX_BYTES + 64];
    int n = snprintf(h, sizeof(h), "ts=%s,v1=%s,", MP_TS, MP_V1_LOWER);
    memset(h + n, ' ', sizeof(h) - (size_t)n - 1);
    h[sizeof(h) - 1] = '\0';
    assert_int_equal(mp(h, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW), STDWH_MALFORMED);
    h[WHSIG_HEADER_MAX_BYTES] = '\0'; /* exactly at the limit: fine */
    assert_int_equal(mp(h, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW), STDWH_OK);
    n = snprintf(h, sizeof(h), "ts=%s,v1=%s", MP_TS, MP_V1_LOWER);
    for (int i = 0; i < WHSIG_HEADER_PARTS_MAX; i++) {
        n += snprintf(h + n, sizeof(h) - (size_t)n, ",x=%d", i);
    }
    assert_int_equal(mp(h, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW), STDWH_MALFORMED);
    n = snprintf(h, sizeof(h), "ts=%s", MP_TS);
    for (int i = 0; i < WHSIG_SIGNATURES_MAX + 1; i++) {
        n += snprintf(h + n, sizeof(h) - (size_t)n, ",v1=%d", i);
    }
    assert_int_equal(mp(h, MP_REQUEST_ID, MP_ORDER_ID, MP_NOW), STDWH_MALFORMED);
}

static void test_mercadopago_rotation(void **state)
{
    (void)state;
    const char *h = "ts=" MP_TS ",v1=" MP_V1_LOWER;
    const char *const second[] = {"new_secret_not_yet_used", MP_SECRET};
    const char *const first[] = {MP_SECRET, "old"};
    const char *const with_null[] = {NULL, MP_SECRET};
    const char *const neither[] = {"a", ""};
    assert_int_equal(
        whsig_mercadopago_verify(h, MP_REQUEST_ID, MP_ORDER_ID, second, 2, MP_NOW, TOL), STDWH_OK);
    assert_int_equal(whsig_mercadopago_verify(h, MP_REQUEST_ID, MP_ORDER_ID, first, 2, MP_NOW, TOL),
                     STDWH_OK);
    assert_int_equal(
        whsig_mercadopago_verify(h, MP_REQUEST_ID, MP_ORDER_ID, with_null, 2, MP_NOW, TOL),
        STDWH_OK);
    assert_int_equal(
        whsig_mercadopago_verify(h, MP_REQUEST_ID, MP_ORDER_ID, neither, 2, MP_NOW, TOL),
        STDWH_BAD_SIGNATURE);
}

/* ------------------------------------------------------------------------ Stripe (9.3) */

#define ST_SECRET "whsec_test_secret"
#define ST_T 1700000000
#define ST_PAYLOAD                                                                                 \
    "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\",\n  \"data\": { \"object\": "     \
    "{ \"id\": \"rdr_123\", \"object\": \"terminal.reader\" } }\n}"
#define ST_V1 "3bfab77baf5f7b6991a46c9b53b6547d7afc56148b10468fcad9f35c1992ffbd"
#define ST_PAYLOAD2 "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\"}"
#define ST_V1_2 "67da5088c63e080c71bd2bb0cb5c03d85a8fc6a21ce3aaf484df809654745b92"

static const char *const st_secrets[] = {ST_SECRET};

static enum stdwh_result st(const char *header, const char *body, int64_t now_s)
{
    return whsig_stripe_verify(header, body, strlen(body), st_secrets, 1, now_s, TOL);
}

static void test_stripe_kat(void **state)
{
    (void)state;
    uint8_t digest[SHA256_BYTES];
    char hex[SHA256_HEX_BYTES];
    crypto_sha256(ST_PAYLOAD, strlen(ST_PAYLOAD), digest);
    hex_encode(digest, sizeof(digest), hex);
    assert_string_equal(hex, "3b538d7c82820105fcdc02c25620eba837c401a7d6256f877fc0c4875a73bc93");

    assert_int_equal(st("t=1700000000,v1=" ST_V1, ST_PAYLOAD, ST_T), STDWH_OK);
    assert_int_equal(st("t=1700000000,v1=" ST_V1_2, ST_PAYLOAD2, ST_T), STDWH_OK);
    /* Each signature belongs to its own payload. */
    assert_int_equal(st("t=1700000000,v1=" ST_V1_2, ST_PAYLOAD, ST_T), STDWH_BAD_SIGNATURE);
    assert_int_equal(st("t=1700000000,v1=" ST_V1, ST_PAYLOAD2, ST_T), STDWH_BAD_SIGNATURE);

    char header[WHSIG_STRIPE_HEADER_BYTES];
    whsig_stripe_sign(ST_SECRET, ST_T, ST_PAYLOAD, strlen(ST_PAYLOAD), header);
    assert_string_equal(header, "t=1700000000,v1=" ST_V1);
    whsig_stripe_sign(ST_SECRET, ST_T, ST_PAYLOAD2, strlen(ST_PAYLOAD2), header);
    assert_string_equal(header, "t=1700000000,v1=" ST_V1_2);
}

static void test_stripe_several_v1(void **state)
{
    (void)state;
    /* 9.3's rotation case: t, a bad v1, then the good one. */
    assert_int_equal(st("t=1700000000,v1=" ST_V1_2 ",v1=" ST_V1, ST_PAYLOAD, ST_T), STDWH_OK);
    assert_int_equal(st("t=1700000000,v1=" ST_V1 ",v1=" ST_V1_2, ST_PAYLOAD, ST_T), STDWH_OK);
    assert_int_equal(st("v1=0000,t=1700000000,v0=abc,v1=" ST_V1, ST_PAYLOAD, ST_T), STDWH_OK);
    /* Other schemes are ignored, even when they carry the right value. */
    assert_int_equal(st("t=1700000000,v0=" ST_V1 ",v1=" ST_V1_2, ST_PAYLOAD, ST_T),
                     STDWH_BAD_SIGNATURE);
    /* Up to WHSIG_SIGNATURES_MAX entries are tried; the last one may be the good one. */
    char h[WHSIG_HEADER_MAX_BYTES];
    int n = snprintf(h, sizeof(h), "t=1700000000");
    for (int i = 0; i < WHSIG_SIGNATURES_MAX - 1; i++) {
        n += snprintf(h + n, sizeof(h) - (size_t)n, ",v1=%s", ST_V1_2);
    }
    snprintf(h + n, sizeof(h) - (size_t)n, ",v1=%s", ST_V1);
    assert_int_equal(st(h, ST_PAYLOAD, ST_T), STDWH_OK);
}

static void test_stripe_tampered(void **state)
{
    (void)state;
    /* One byte of the body changed, added or removed. */
    char body[] = ST_PAYLOAD;
    body[10] ^= 1;
    assert_int_equal(st("t=1700000000,v1=" ST_V1, body, ST_T), STDWH_BAD_SIGNATURE);
    assert_int_equal(st("t=1700000000,v1=" ST_V1, ST_PAYLOAD "\n", ST_T), STDWH_BAD_SIGNATURE);
    assert_int_equal(whsig_stripe_verify("t=1700000000,v1=" ST_V1, ST_PAYLOAD,
                                         strlen(ST_PAYLOAD) - 1, st_secrets, 1, ST_T, TOL),
                     STDWH_BAD_SIGNATURE);
    /* The timestamp is signed: moving it breaks the signature. */
    assert_int_equal(st("t=1700000001,v1=" ST_V1, ST_PAYLOAD, ST_T), STDWH_BAD_SIGNATURE);
    /* A flipped hex digit. */
    assert_int_equal(st("t=1700000000,v1=3bfab77baf5f7b6991a46c9b53b6547d7afc56148b10468fcad9f35c"
                        "1992ffbe",
                        ST_PAYLOAD, ST_T),
                     STDWH_BAD_SIGNATURE);
    /* Wrong secret, including the base64-decoded reading Standard Webhooks would use. */
    const char *const wrong[] = {"test_secret"};
    assert_int_equal(whsig_stripe_verify("t=1700000000,v1=" ST_V1, ST_PAYLOAD, strlen(ST_PAYLOAD),
                                         wrong, 1, ST_T, TOL),
                     STDWH_BAD_SIGNATURE);
}

static void test_stripe_timestamps(void **state)
{
    (void)state;
    const char *h = "t=1700000000,v1=" ST_V1;
    assert_int_equal(st(h, ST_PAYLOAD, ST_T + TOL), STDWH_OK);
    assert_int_equal(st(h, ST_PAYLOAD, ST_T - TOL), STDWH_OK);
    assert_int_equal(st(h, ST_PAYLOAD, ST_T + TOL + 1), STDWH_STALE); /* old */
    assert_int_equal(st(h, ST_PAYLOAD, ST_T - TOL - 1), STDWH_STALE); /* from the future */
    assert_int_equal(st(h, ST_PAYLOAD, ST_T + 86400), STDWH_STALE);
    assert_int_equal(whsig_stripe_verify(h, ST_PAYLOAD, strlen(ST_PAYLOAD), st_secrets, 1, ST_T, 0),
                     STDWH_OK);
    assert_int_equal(
        whsig_stripe_verify(h, ST_PAYLOAD, strlen(ST_PAYLOAD), st_secrets, 1, ST_T + 1, 0),
        STDWH_STALE);
    /* Signed in the past, replayed now. */
    char old[WHSIG_STRIPE_HEADER_BYTES];
    whsig_stripe_sign(ST_SECRET, ST_T - 3600, ST_PAYLOAD2, strlen(ST_PAYLOAD2), old);
    assert_int_equal(st(old, ST_PAYLOAD2, ST_T), STDWH_STALE);
}

static void test_stripe_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        NULL,
        "",
        "garbage",
        "t=1700000000",                        /* no v1 */
        "v1=" ST_V1,                           /* no t */
        "t=,v1=" ST_V1,                        /* empty t */
        "t=17e8,v1=" ST_V1,                    /* not digits */
        "t=-1700000000,v1=" ST_V1,             /* signed */
        "t=1700000000,t=1700000001,v1=" ST_V1, /* two t */
        "T=1700000000,v1=" ST_V1,              /* Stripe's keys are case-sensitive */
        "t=1700000000,v0=" ST_V1,              /* only another scheme */
        "t=1700000000;v1=" ST_V1,              /* wrong separator */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(st(bad[i], ST_PAYLOAD, ST_T), STDWH_MALFORMED);
    }
    char h[2 * WHSIG_HEADER_MAX_BYTES];
    int n = snprintf(h, sizeof(h), "t=1700000000,v1=%s", ST_V1);
    memset(h + n, ',', sizeof(h) - (size_t)n - 1);
    h[sizeof(h) - 1] = '\0';
    assert_int_equal(st(h, ST_PAYLOAD, ST_T), STDWH_MALFORMED); /* too long */
    h[n + WHSIG_HEADER_PARTS_MAX] = '\0';
    assert_int_equal(st(h, ST_PAYLOAD, ST_T), STDWH_MALFORMED); /* too many items */
    h[n + WHSIG_HEADER_PARTS_MAX - 3] = '\0';
    assert_int_equal(st(h, ST_PAYLOAD, ST_T), STDWH_OK);
    n = snprintf(h, sizeof(h), "t=1700000000");
    for (int i = 0; i < WHSIG_SIGNATURES_MAX + 1; i++) {
        n += snprintf(h + n, sizeof(h) - (size_t)n, ",v1=%s", ST_V1);
    }
    assert_int_equal(st(h, ST_PAYLOAD, ST_T), STDWH_MALFORMED); /* too many v1 */
    /* A body over the request limit. */
    assert_int_equal(whsig_stripe_verify("t=1700000000,v1=" ST_V1, ST_PAYLOAD,
                                         (size_t)LIMIT_BODY_BYTES + 1, st_secrets, 1, ST_T, TOL),
                     STDWH_MALFORMED);
}

static void test_stripe_secret_rotation(void **state)
{
    (void)state;
    const char *h = "t=1700000000,v1=" ST_V1;
    const char *const second[] = {"whsec_new", ST_SECRET};
    const char *const first[] = {ST_SECRET, "whsec_old"};
    const char *const neither[] = {"whsec_new", "whsec_old"};
    assert_int_equal(whsig_stripe_verify(h, ST_PAYLOAD, strlen(ST_PAYLOAD), second, 2, ST_T, TOL),
                     STDWH_OK);
    assert_int_equal(whsig_stripe_verify(h, ST_PAYLOAD, strlen(ST_PAYLOAD), first, 2, ST_T, TOL),
                     STDWH_OK);
    assert_int_equal(whsig_stripe_verify(h, ST_PAYLOAD, strlen(ST_PAYLOAD), neither, 2, ST_T, TOL),
                     STDWH_BAD_SIGNATURE);
    /* Stripe's own rotation: one header signed under both secrets. */
    char a[WHSIG_STRIPE_HEADER_BYTES], b[WHSIG_STRIPE_HEADER_BYTES];
    char both[2 * WHSIG_STRIPE_HEADER_BYTES];
    whsig_stripe_sign("whsec_new", ST_T, ST_PAYLOAD2, strlen(ST_PAYLOAD2), a);
    whsig_stripe_sign("whsec_old", ST_T, ST_PAYLOAD2, strlen(ST_PAYLOAD2), b);
    snprintf(both, sizeof(both), "%s,%s", a, strchr(b, ',') + 1);
    const char *const only_old[] = {"whsec_old"};
    assert_int_equal(
        whsig_stripe_verify(both, ST_PAYLOAD2, strlen(ST_PAYLOAD2), only_old, 1, ST_T, TOL),
        STDWH_OK);
}

/* --------------------------------------------------- Polar / Standard Webhooks (9.1, 9.2) */

#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS "1614265330"
#define SW_NOW 1614265330
#define SW_BODY "{\"test\": 2432232314}"
#define SW_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define SW_SIG_BAD "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
#define POLAR_LEGACY_SECRET "polar_whs_exampleSecretForTests000000000000"
#define POLAR_LEGACY_SIG "v1,8nwA0ijxgmgesW19j1YPedWmna7/wDJHxIo4tmJXBjI="

static enum stdwh_result polar(const char *sig, const char *body, const char *secret,
                               enum whsig_polar_key derivation, int64_t now_s)
{
    const struct whsig_polar_secret secrets[] = {{secret, derivation}};
    return whsig_polar_verify(SW_ID, SW_TS, sig, body, strlen(body), secrets, 1, now_s, TOL);
}

static void test_standard_webhooks_kat(void **state)
{
    (void)state;
    uint8_t key[WHSIG_SECRET_MAX_BYTES];
    size_t key_len;
    assert_true(whsig_polar_key(SW_SECRET, WHSIG_POLAR_KEY_STANDARD, key, &key_len));
    assert_int_equal(key_len, 24);
    uint8_t mac[SHA256_BYTES];
    char hex[SHA256_HEX_BYTES];
    crypto_hmac_sha256(key, key_len, SW_ID "." SW_TS "." SW_BODY,
                       strlen(SW_ID "." SW_TS "." SW_BODY), mac);
    hex_encode(mac, sizeof(mac), hex);
    assert_string_equal(hex, "83484cf52b04f8e4cf2531adfed9882ad4b2665137b852442d594d20e2c9d4e1");

    /* The shared Standard Webhooks code (the sandbox's) and the Polar standard path. */
    assert_int_equal(
        stdwh_verify(key, key_len, SW_ID, SW_TS, SW_SIG, SW_BODY, strlen(SW_BODY), SW_NOW, TOL),
        STDWH_OK);
    assert_int_equal(
        stdwh_verify(key, key_len, SW_ID, SW_TS, SW_SIG_BAD, SW_BODY, strlen(SW_BODY), SW_NOW, TOL),
        STDWH_BAD_SIGNATURE);
    assert_int_equal(polar(SW_SIG, SW_BODY, SW_SECRET, WHSIG_POLAR_KEY_STANDARD, SW_NOW), STDWH_OK);
    assert_int_equal(polar(SW_SIG_BAD, SW_BODY, SW_SECRET, WHSIG_POLAR_KEY_STANDARD, SW_NOW),
                     STDWH_BAD_SIGNATURE);
    /* Several signatures in the header, space separated. */
    assert_int_equal(
        polar(SW_SIG_BAD " v1a,xyz " SW_SIG, SW_BODY, SW_SECRET, WHSIG_POLAR_KEY_STANDARD, SW_NOW),
        STDWH_OK);
}

static void test_polar_legacy_kat(void **state)
{
    (void)state;
    uint8_t key[WHSIG_SECRET_MAX_BYTES];
    size_t key_len;
    assert_true(whsig_polar_key(POLAR_LEGACY_SECRET, WHSIG_POLAR_KEY_LEGACY, key, &key_len));
    assert_int_equal(key_len, 43);
    assert_memory_equal(key, POLAR_LEGACY_SECRET, 43);
    assert_int_equal(
        polar(POLAR_LEGACY_SIG, SW_BODY, POLAR_LEGACY_SECRET, WHSIG_POLAR_KEY_LEGACY, SW_NOW),
        STDWH_OK);
    char sig[STDWH_SIGNATURE_BYTES];
    stdwh_sign(key, key_len, SW_ID, SW_NOW, SW_BODY, strlen(SW_BODY), sig);
    assert_string_equal(sig, POLAR_LEGACY_SIG);
}

static void test_polar_derivations(void **state)
{
    (void)state;
    uint8_t key[WHSIG_SECRET_MAX_BYTES];
    size_t key_len;
    /* A polar_whs_ secret has no standard key; a whsec_ secret has both. */
    assert_false(whsig_polar_key(POLAR_LEGACY_SECRET, WHSIG_POLAR_KEY_STANDARD, key, &key_len));
    assert_true(whsig_polar_key(SW_SECRET, WHSIG_POLAR_KEY_LEGACY, key, &key_len));
    assert_int_equal(key_len, strlen(SW_SECRET));
    assert_false(whsig_polar_key("", WHSIG_POLAR_KEY_LEGACY, key, &key_len));
    assert_false(whsig_polar_key(NULL, WHSIG_POLAR_KEY_LEGACY, key, &key_len));
    assert_false(whsig_polar_key("whsec_not base64!", WHSIG_POLAR_KEY_STANDARD, key, &key_len));

    /* The wrong derivation for the secret fails. */
    assert_int_equal(polar(SW_SIG, SW_BODY, SW_SECRET, WHSIG_POLAR_KEY_LEGACY, SW_NOW),
                     STDWH_BAD_SIGNATURE);
    assert_int_equal(
        polar(POLAR_LEGACY_SIG, SW_BODY, POLAR_LEGACY_SECRET, WHSIG_POLAR_KEY_STANDARD, SW_NOW),
        STDWH_BAD_SIGNATURE);

    /* Rotation across the cutoff: a legacy secret and a standard one, either may sign. */
    const struct whsig_polar_secret both[] = {{SW_SECRET, WHSIG_POLAR_KEY_STANDARD},
                                              {POLAR_LEGACY_SECRET, WHSIG_POLAR_KEY_LEGACY}};
    assert_int_equal(
        whsig_polar_verify(SW_ID, SW_TS, SW_SIG, SW_BODY, strlen(SW_BODY), both, 2, SW_NOW, TOL),
        STDWH_OK);
    assert_int_equal(whsig_polar_verify(SW_ID, SW_TS, POLAR_LEGACY_SIG, SW_BODY, strlen(SW_BODY),
                                        both, 2, SW_NOW, TOL),
                     STDWH_OK);
    assert_int_equal(whsig_polar_verify(SW_ID, SW_TS, SW_SIG_BAD, SW_BODY, strlen(SW_BODY), both, 2,
                                        SW_NOW, TOL),
                     STDWH_BAD_SIGNATURE);
    /* An underivable secret is skipped, the other still counts. */
    const struct whsig_polar_secret skip[] = {{POLAR_LEGACY_SECRET, WHSIG_POLAR_KEY_STANDARD},
                                              {SW_SECRET, WHSIG_POLAR_KEY_STANDARD}};
    assert_int_equal(
        whsig_polar_verify(SW_ID, SW_TS, SW_SIG, SW_BODY, strlen(SW_BODY), skip, 2, SW_NOW, TOL),
        STDWH_OK);
}

static void test_polar_tampered_stale_malformed(void **state)
{
    (void)state;
    const enum whsig_polar_key std = WHSIG_POLAR_KEY_STANDARD;
    /* Tampered body (the space of the official payload matters) and headers. */
    assert_int_equal(polar(SW_SIG, "{\"test\":2432232314}", SW_SECRET, std, SW_NOW),
                     STDWH_BAD_SIGNATURE);
    const struct whsig_polar_secret s[] = {{SW_SECRET, std}};
    assert_int_equal(whsig_polar_verify("msg_p5jXN8AQM9LWM0D4loKWxJeK", SW_TS, SW_SIG, SW_BODY,
                                        strlen(SW_BODY), s, 1, SW_NOW, TOL),
                     STDWH_BAD_SIGNATURE);
    assert_int_equal(whsig_polar_verify(SW_ID, "1614265331", SW_SIG, SW_BODY, strlen(SW_BODY), s, 1,
                                        SW_NOW, TOL),
                     STDWH_BAD_SIGNATURE);
    /* Stale and future, both directions. */
    assert_int_equal(polar(SW_SIG, SW_BODY, SW_SECRET, std, SW_NOW + TOL), STDWH_OK);
    assert_int_equal(polar(SW_SIG, SW_BODY, SW_SECRET, std, SW_NOW + TOL + 1), STDWH_STALE);
    assert_int_equal(polar(SW_SIG, SW_BODY, SW_SECRET, std, SW_NOW - TOL - 1), STDWH_STALE);
    /* Missing or malformed headers. */
    assert_int_equal(
        whsig_polar_verify(NULL, SW_TS, SW_SIG, SW_BODY, strlen(SW_BODY), s, 1, SW_NOW, TOL),
        STDWH_MALFORMED);
    assert_int_equal(
        whsig_polar_verify(SW_ID, NULL, SW_SIG, SW_BODY, strlen(SW_BODY), s, 1, SW_NOW, TOL),
        STDWH_MALFORMED);
    assert_int_equal(
        whsig_polar_verify(SW_ID, SW_TS, NULL, SW_BODY, strlen(SW_BODY), s, 1, SW_NOW, TOL),
        STDWH_MALFORMED);
    assert_int_equal(whsig_polar_verify(SW_ID, "16142653x0", SW_SIG, SW_BODY, strlen(SW_BODY), s, 1,
                                        SW_NOW, TOL),
                     STDWH_MALFORMED);
    assert_int_equal(whsig_polar_verify("msg.with.dots", SW_TS, SW_SIG, SW_BODY, strlen(SW_BODY), s,
                                        1, SW_NOW, TOL),
                     STDWH_MALFORMED);
    char long_id[WHSIG_ID_MAX_BYTES + 2];
    memset(long_id, 'm', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(
        whsig_polar_verify(long_id, SW_TS, SW_SIG, SW_BODY, strlen(SW_BODY), s, 1, SW_NOW, TOL),
        STDWH_MALFORMED);
    char long_sig[STDWH_HEADER_MAX + 64];
    memset(long_sig, ' ', sizeof(long_sig) - 1);
    memcpy(long_sig, SW_SIG, strlen(SW_SIG));
    long_sig[sizeof(long_sig) - 1] = '\0';
    assert_int_equal(
        whsig_polar_verify(SW_ID, SW_TS, long_sig, SW_BODY, strlen(SW_BODY), s, 1, SW_NOW, TOL),
        STDWH_MALFORMED);
}

/* ------------------------------------------------------------------- NOWPayments (9.6) */

#define NP_SECRET "test_ipn_secret"
#define NP_BODY                                                                                    \
    "{\"payment_id\":5077125051,\"payment_status\":\"finished\",\"pay_address\":\"TEST_ADDRESS\"," \
    "\"price_amount\":10,\"price_currency\":\"usd\",\"pay_amount\":0.5,\"actually_paid\":0.5,"     \
    "\"pay_currency\":\"trx\",\"order_id\":\"ORDER-1\",\"order_description\":\"Test\","            \
    "\"purchase_id\":\"6084744717\",\"outcome_amount\":0.4,\"outcome_currency\":\"trx\","          \
    "\"fee\":{\"currency\":\"trx\",\"depositFee\":0.01,\"withdrawalFee\":0,\"serviceFee\":0}}"
#define NP_CANONICAL                                                                               \
    "{\"actually_paid\":0.5,\"fee\":{\"currency\":\"trx\",\"depositFee\":0.01,\"serviceFee\":0,"   \
    "\"withdrawalFee\":0},\"order_description\":\"Test\",\"order_id\":\"ORDER-1\","                \
    "\"outcome_amount\":0.4,\"outcome_currency\":\"trx\",\"pay_address\":\"TEST_ADDRESS\","        \
    "\"pay_amount\":0.5,\"pay_currency\":\"trx\",\"payment_id\":5077125051,\"payment_status\":"    \
    "\"finished\",\"price_amount\":10,\"price_currency\":\"usd\",\"purchase_id\":\"6084744717\"}"
#define NP_SIG                                                                                     \
    "151ad6047fb0274a1d8c3f58575e54e935fc09fde0dabcd547b9732080c4d9ef1fbec3adcd60a593371d8fad65"   \
    "cf6b58d8797e111ca37b4faab5bf629ac6b8e7"
#define NP_FLAT_BODY                                                                               \
    "{\"payment_id\":5077125051,\"payment_status\":\"finished\",\"pay_address\":\"TEST_ADDRESS\"," \
    "\"price_amount\":10,\"price_currency\":\"usd\",\"pay_amount\":0.5,\"actually_paid\":0.5,"     \
    "\"pay_currency\":\"trx\",\"order_id\":\"ORDER-1\",\"order_description\":\"Test\","            \
    "\"outcome_amount\":0.4,\"outcome_currency\":\"trx\"}"
#define NP_FLAT_CANONICAL                                                                          \
    "{\"actually_paid\":0.5,\"order_description\":\"Test\",\"order_id\":\"ORDER-1\","              \
    "\"outcome_amount\":0.4,\"outcome_currency\":\"trx\",\"pay_address\":\"TEST_ADDRESS\","        \
    "\"pay_amount\":0.5,\"pay_currency\":\"trx\",\"payment_id\":5077125051,\"payment_status\":"    \
    "\"finished\",\"price_amount\":10,\"price_currency\":\"usd\"}"
#define NP_FLAT_SIG                                                                                \
    "383dbdf56e1d79001ffa9154d452e32da13d175d8a76f810ed9ccacd7a5715ec9602c2d9b9fdadd55c004a1244"   \
    "acd61b458f657f95aa49ca4e8c7360cdc9ddc9"

static const char *const np_secrets[] = {NP_SECRET};

static enum stdwh_result np(const char *sig, const char *body, bool accept_legacy)
{
    return whsig_nowpayments_verify(sig, body, strlen(body), np_secrets, 1, accept_legacy);
}

static void assert_canonical(const char *body, enum whsig_nowpayments_form form,
                             const char *expected)
{
    struct buf out;
    buf_init(&out, WHSIG_NOWPAYMENTS_CANONICAL_MAX_BYTES);
    assert_true(whsig_nowpayments_canonical(body, strlen(body), form, &out));
    assert_string_equal(buf_str(&out), expected);
    buf_release(&out);
}

static void test_nowpayments_kat(void **state)
{
    (void)state;
    assert_canonical(NP_BODY, WHSIG_NP_FORM_NODE, NP_CANONICAL);
    assert_canonical(NP_BODY, WHSIG_NP_FORM_SORTED, NP_CANONICAL);
    assert_canonical(NP_FLAT_BODY, WHSIG_NP_FORM_NODE, NP_FLAT_CANONICAL);
    assert_canonical(NP_FLAT_BODY, WHSIG_NP_FORM_LEGACY, NP_FLAT_CANONICAL);
    char sig[WHSIG_SHA512_HEX_BYTES];
    assert_true(whsig_nowpayments_sign(NP_SECRET, NP_BODY, strlen(NP_BODY), sig));
    assert_string_equal(sig, NP_SIG);
    assert_true(whsig_nowpayments_sign(NP_SECRET, NP_FLAT_BODY, strlen(NP_FLAT_BODY), sig));
    assert_string_equal(sig, NP_FLAT_SIG);
    assert_int_equal(np(NP_SIG, NP_BODY, false), STDWH_OK);
    assert_int_equal(np(NP_SIG, NP_BODY, true), STDWH_OK);
    assert_int_equal(np(NP_FLAT_SIG, NP_FLAT_BODY, false), STDWH_OK);
    /* Each signature belongs to its own body. */
    assert_int_equal(np(NP_FLAT_SIG, NP_BODY, true), STDWH_BAD_SIGNATURE);
    assert_int_equal(np(NP_SIG, NP_FLAT_BODY, true), STDWH_BAD_SIGNATURE);
}

static void test_nowpayments_legacy_form(void **state)
{
    (void)state;
    /* 9.6's gotcha: the replacer list filters nested objects. */
    const char *gotcha = "{\"a\":1,\"fee\":{\"currency\":\"btc\",\"depositFee\":0},\"b\":\"x\"}";
    assert_canonical(gotcha, WHSIG_NP_FORM_LEGACY, "{\"a\":1,\"b\":\"x\",\"fee\":{}}");
    assert_canonical(gotcha, WHSIG_NP_FORM_NODE,
                     "{\"a\":1,\"b\":\"x\",\"fee\":{\"currency\":\"btc\",\"depositFee\":0}}");
    /* The KAT body under the legacy form. */
    assert_canonical(
        NP_BODY, WHSIG_NP_FORM_LEGACY,
        "{\"actually_paid\":0.5,\"fee\":{},\"order_description\":\"Test\","
        "\"order_id\":\"ORDER-1\",\"outcome_amount\":0.4,\"outcome_currency\":\"trx\","
        "\"pay_address\":\"TEST_ADDRESS\",\"pay_amount\":0.5,\"pay_currency\":\"trx\","
        "\"payment_id\":5077125051,\"payment_status\":\"finished\",\"price_amount\":10,"
        "\"price_currency\":\"usd\",\"purchase_id\":\"6084744717\"}");
    /* A signature over the legacy form verifies only when the caller accepts it. */
    struct buf legacy;
    buf_init(&legacy, WHSIG_NOWPAYMENTS_CANONICAL_MAX_BYTES);
    assert_true(
        whsig_nowpayments_canonical(NP_BODY, strlen(NP_BODY), WHSIG_NP_FORM_LEGACY, &legacy));
    uint8_t mac[64];
    unsigned int mac_len = sizeof(mac);
    assert_non_null(HMAC(EVP_sha512(), NP_SECRET, (int)strlen(NP_SECRET),
                         (const uint8_t *)legacy.data, legacy.len, mac, &mac_len));
    char hex[WHSIG_SHA512_HEX_BYTES];
    hex_encode(mac, sizeof(mac), hex);
    buf_release(&legacy);
    assert_int_equal(np(hex, NP_BODY, false), STDWH_BAD_SIGNATURE);
    assert_int_equal(np(hex, NP_BODY, true), STDWH_OK);
    /* ...and then nested fields are not covered: that is why it is opt-in. */
    char *changed = xstrdup(NP_BODY);
    memcpy(strstr(changed, "0.01"), "9.99", 4);
    assert_int_equal(np(hex, changed, true), STDWH_OK);
    assert_int_equal(np(NP_SIG, changed, true), STDWH_BAD_SIGNATURE);
    free(changed);
}

static void test_nowpayments_canonical_forms(void **state)
{
    (void)state;
    /* Numbers as JavaScript reads and writes them (expected strings from Node's
     * JSON.stringify). */
    assert_canonical(
        "{\"a\":1e21,\"b\":1e-7,\"c\":0.000001,\"d\":123456789012345678901,\"e\":-0.0,"
        "\"f\":1.5e300,\"g\":0.1,\"h\":100.0,\"i\":1E5,\"j\":-2.5e-8,\"k\":0.30000000000000004,"
        "\"l\":5e-324,\"m\":1.7976931348623157e308,\"n\":9007199254740993,\"o\":-12.5,"
        "\"p\":1e20,\"q\":123e-20}",
        WHSIG_NP_FORM_NODE,
        "{\"a\":1e+21,\"b\":1e-7,\"c\":0.000001,\"d\":123456789012345680000,\"e\":0,"
        "\"f\":1.5e+300,\"g\":0.1,\"h\":100,\"i\":100000,\"j\":-2.5e-8,"
        "\"k\":0.30000000000000004,\"l\":5e-324,\"m\":1.7976931348623157e+308,"
        "\"n\":9007199254740992,\"o\":-12.5,\"p\":100000000000000000000,\"q\":1.23e-18}");
    /* Strings, index-like keys, arrays, nesting (expected NODE and LEGACY from Node). */
    const char *mixed =
        "{\"z\":\"a\\\"b\\\\c\\/d\\u0001\\u001f\\n\\t\\b\\f\\r\\u00e9\\u007f \303\251 "
        "\360\237\230\200\",\"10\":1,\"9\":2,\"a\":[3,{\"y\":1,\"x\":[]},null,true,false],"
        "\"\":\"empty\",\"b\":{},\"B\":0}";
    assert_canonical(mixed, WHSIG_NP_FORM_NODE,
                     "{\"9\":2,\"10\":1,\"\":\"empty\",\"B\":0,\"a\":{\"0\":3,\"1\":{\"x\":{},"
                     "\"y\":1},\"2\":null,\"3\":true,\"4\":false},\"b\":{},\"z\":\"a\\\"b\\\\c/d"
                     "\\u0001\\u001f\\n\\t\\b\\f\\r\303\251\177 \303\251 \360\237\230\200\"}");
    assert_canonical(mixed, WHSIG_NP_FORM_LEGACY,
                     "{\"\":\"empty\",\"10\":1,\"9\":2,\"B\":0,\"a\":[3,{},null,true,false],"
                     "\"b\":{},\"z\":\"a\\\"b\\\\c/d\\u0001\\u001f\\n\\t\\b\\f\\r\303\251\177 "
                     "\303\251 \360\237\230\200\"}");
    assert_canonical(mixed, WHSIG_NP_FORM_SORTED,
                     "{\"\":\"empty\",\"10\":1,\"9\":2,\"B\":0,\"a\":[3,{\"x\":[],\"y\":1},null,"
                     "true,false],\"b\":{},\"z\":\"a\\\"b\\\\c/d\\u0001\\u001f\\n\\t\\b\\f\\r"
                     "\303\251\177 \303\251 \360\237\230\200\"}");
    /* Not a JSON object: refused. */
    const char *bad[] = {"",
                         "[]",
                         "\"x\"",
                         "{",
                         "{\"a\":1,\"a\":2}",
                         "{\"a\":1} x",
                         "{\"a\":\"\\u0000\"}",
                         "{\"a\":1e999}",
                         "{\"a\":\"\377\"}"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct buf out;
        buf_init(&out, WHSIG_NOWPAYMENTS_CANONICAL_MAX_BYTES);
        assert_false(whsig_nowpayments_canonical(bad[i], strlen(bad[i]), WHSIG_NP_FORM_NODE, &out));
        buf_release(&out);
    }
    /* Deeper than LIMIT_JSON_DEPTH: refused. */
    char deep[6 * LIMIT_JSON_DEPTH + 16];
    size_t n = 0;
    for (int i = 0; i <= LIMIT_JSON_DEPTH; i++) {
        memcpy(deep + n, "{\"a\":", 5);
        n += 5;
    }
    deep[n++] = '1';
    memset(deep + n, '}', LIMIT_JSON_DEPTH + 1);
    n += LIMIT_JSON_DEPTH + 1;
    struct buf out;
    buf_init(&out, WHSIG_NOWPAYMENTS_CANONICAL_MAX_BYTES);
    assert_false(whsig_nowpayments_canonical(deep, n, WHSIG_NP_FORM_NODE, &out));
    /* A buffer that is too small. */
    struct buf small;
    buf_init(&small, 8);
    assert_false(whsig_nowpayments_canonical(NP_BODY, strlen(NP_BODY), WHSIG_NP_FORM_NODE, &small));
    buf_release(&small);
    buf_release(&out);
}

static void test_nowpayments_verify_cases(void **state)
{
    (void)state;
    /* Key order and whitespace of the body do not matter: the canonical form is signed. */
    const char *reordered =
        "{ \"fee\" : {\"serviceFee\":0, \"withdrawalFee\":0, \"depositFee\":0.01, "
        "\"currency\":\"trx\"},\n \"purchase_id\":\"6084744717\", \"outcome_currency\":\"trx\", "
        "\"outcome_amount\":0.40, \"order_description\":\"Test\", \"order_id\":\"ORDER-1\", "
        "\"pay_currency\":\"trx\", \"actually_paid\":5e-1, \"pay_amount\":0.5, "
        "\"price_currency\":\"usd\", \"price_amount\":10.0, \"pay_address\":\"TEST_ADDRESS\", "
        "\"payment_status\":\"finished\", \"payment_id\":5077125051}";
    assert_int_equal(np(NP_SIG, reordered, false), STDWH_OK);
    /* Tampered values, top-level and nested, an added and a removed field. */
    char *t = xstrdup(NP_BODY);
    memcpy(strstr(t, "finished"), "finishee", 8);
    assert_int_equal(np(NP_SIG, t, false), STDWH_BAD_SIGNATURE);
    free(t);
    t = xstrdup(NP_BODY);
    memcpy(strstr(t, "0.01"), "0.02", 4);
    assert_int_equal(np(NP_SIG, t, false), STDWH_BAD_SIGNATURE);
    free(t);
    char added[sizeof(NP_BODY) + 16];
    snprintf(added, sizeof(added), "{\"x\":1,%s", NP_BODY + 1);
    assert_int_equal(np(NP_SIG, added, false), STDWH_BAD_SIGNATURE);
    assert_int_equal(np(NP_SIG, NP_FLAT_BODY, false), STDWH_BAD_SIGNATURE);
    /* Uppercase hex is the same signature; a flipped digit is not. */
    char upper[WHSIG_SHA512_HEX_BYTES];
    for (size_t i = 0; i < sizeof(upper); i++) {
        char c = NP_SIG[i];
        upper[i] = (c >= 'a' && c <= 'f') ? (char)(c - 'a' + 'A') : c;
    }
    assert_int_equal(np(upper, NP_BODY, false), STDWH_OK);
    upper[5] = upper[5] == '0' ? '1' : '0';
    assert_int_equal(np(upper, NP_BODY, false), STDWH_BAD_SIGNATURE);
    /* Malformed header or body. */
    assert_int_equal(np(NULL, NP_BODY, false), STDWH_MALFORMED);
    assert_int_equal(np("", NP_BODY, false), STDWH_MALFORMED);
    assert_int_equal(np(NP_SIG "0", NP_BODY, false), STDWH_MALFORMED);
    assert_int_equal(np(NP_SIG + 1, NP_BODY, false), STDWH_MALFORMED);
    char nonhex[] = NP_SIG;
    nonhex[100] = 'g';
    assert_int_equal(np(nonhex, NP_BODY, false), STDWH_MALFORMED);
    assert_int_equal(np(NP_SIG, "not json", false), STDWH_MALFORMED);
    assert_int_equal(np(NP_SIG, "[1,2]", false), STDWH_MALFORMED);
    assert_int_equal(np(NP_SIG, "{\"a\":1,\"a\":1}", false), STDWH_MALFORMED);
    /* Rotation. */
    const char *const second[] = {"new_ipn_secret", NP_SECRET};
    const char *const neither[] = {"new_ipn_secret", "old_ipn_secret"};
    assert_int_equal(whsig_nowpayments_verify(NP_SIG, NP_BODY, strlen(NP_BODY), second, 2, false),
                     STDWH_OK);
    assert_int_equal(whsig_nowpayments_verify(NP_SIG, NP_BODY, strlen(NP_BODY), neither, 2, false),
                     STDWH_BAD_SIGNATURE);
}

/* --------------------------------------------------------------------------- Flow (9.5) */

static void test_flow_kat(void **state)
{
    (void)state;
    const struct whsig_param p1[] = {{"token", "AJ089FF5467367"},
                                     {"apiKey", "1F90971E-8276-4715-97FF-2BLG5030EE3B"}};
    const struct whsig_param p2[] = {
        {"apiKey", "XXXX-XXXX-XXXX"}, {"currency", "CLP"}, {"amount", "5000"}};
    char s[WHSIG_SHA256_HEX_BYTES];
    assert_true(whsig_flow_sign(p1, ARRAY_LEN(p1), "my secret", s));
    assert_string_equal(s, "191947b8253f1b615adeda260fab7d8c8cc0507b22e19d4742baa00b0e464d44");
    assert_true(whsig_flow_sign(p2, ARRAY_LEN(p2), "my secret", s));
    assert_string_equal(s, "dc3f67215dc89404aedc1deed0be7c2b49d810ca1a6e3feab3b799d77c4a9950");

    /* Verification of the same, with s among the parameters anywhere. */
    const char *const secrets[] = {"my secret"};
    const struct whsig_param v2[] = {
        {"currency", "CLP"},
        {"s", "dc3f67215dc89404aedc1deed0be7c2b49d810ca1a6e3feab3b799d77c4a9950"},
        {"amount", "5000"},
        {"apiKey", "XXXX-XXXX-XXXX"}};
    assert_int_equal(whsig_flow_verify(v2, ARRAY_LEN(v2), secrets, 1), STDWH_OK);
    /* Signing ignores a parameter named s. */
    assert_true(whsig_flow_sign(v2, ARRAY_LEN(v2), "my secret", s));
    assert_string_equal(s, "dc3f67215dc89404aedc1deed0be7c2b49d810ca1a6e3feab3b799d77c4a9950");
}

static void test_flow_negative(void **state)
{
    (void)state;
    const char *const secrets[] = {"my secret"};
    const char *good = "191947b8253f1b615adeda260fab7d8c8cc0507b22e19d4742baa00b0e464d44";
    struct whsig_param p[] = {{"apiKey", "1F90971E-8276-4715-97FF-2BLG5030EE3B"},
                              {"token", "AJ089FF5467367"},
                              {"s", good}};
    assert_int_equal(whsig_flow_verify(p, 3, secrets, 1), STDWH_OK);
    /* Tampered value, name, extra or missing parameter. */
    p[1].value = "AJ089FF5467368";
    assert_int_equal(whsig_flow_verify(p, 3, secrets, 1), STDWH_BAD_SIGNATURE);
    p[1] = (struct whsig_param){"Token", "AJ089FF5467367"};
    assert_int_equal(whsig_flow_verify(p, 3, secrets, 1), STDWH_BAD_SIGNATURE);
    p[1] = (struct whsig_param){"token", "AJ089FF5467367"};
    const struct whsig_param extra[] = {p[0], p[1], p[2], {"amount", "1"}};
    assert_int_equal(whsig_flow_verify(extra, 4, secrets, 1), STDWH_BAD_SIGNATURE);
    const struct whsig_param missing[] = {p[1], p[2]};
    assert_int_equal(whsig_flow_verify(missing, 2, secrets, 1), STDWH_BAD_SIGNATURE);
    /* Rotation. */
    const char *const second[] = {"new secret", "my secret"};
    const char *const neither[] = {"new secret", "old secret"};
    assert_int_equal(whsig_flow_verify(p, 3, second, 2), STDWH_OK);
    assert_int_equal(whsig_flow_verify(p, 3, neither, 2), STDWH_BAD_SIGNATURE);
    /* Malformed: no s, s twice, s not hex, a name twice, NULL or empty name. */
    assert_int_equal(whsig_flow_verify(p, 2, secrets, 1), STDWH_MALFORMED);
    const struct whsig_param two_s[] = {p[0], p[1], p[2], p[2]};
    assert_int_equal(whsig_flow_verify(two_s, 4, secrets, 1), STDWH_MALFORMED);
    const struct whsig_param bad_s[] = {p[0], p[1], {"s", "xyz"}};
    assert_int_equal(whsig_flow_verify(bad_s, 3, secrets, 1), STDWH_MALFORMED);
    const struct whsig_param dup[] = {p[0], p[1], p[1], p[2]};
    assert_int_equal(whsig_flow_verify(dup, 4, secrets, 1), STDWH_MALFORMED);
    const struct whsig_param null_value[] = {p[0], {"token", NULL}, p[2]};
    assert_int_equal(whsig_flow_verify(null_value, 3, secrets, 1), STDWH_MALFORMED);
    const struct whsig_param empty_name[] = {p[0], {"", "x"}, p[2]};
    assert_int_equal(whsig_flow_verify(empty_name, 3, secrets, 1), STDWH_MALFORMED);
    /* Too many parameters, an over-long value. */
    struct whsig_param many[WHSIG_FLOW_PARAMS_MAX + 1];
    char names[WHSIG_FLOW_PARAMS_MAX + 1][8];
    for (size_t i = 0; i < ARRAY_LEN(many); i++) {
        snprintf(names[i], sizeof(names[i]), "p%zu", i);
        many[i] = (struct whsig_param){names[i], "v"};
    }
    char s[WHSIG_SHA256_HEX_BYTES];
    assert_true(whsig_flow_sign(many, WHSIG_FLOW_PARAMS_MAX, "my secret", s));
    assert_false(whsig_flow_sign(many, ARRAY_LEN(many), "my secret", s));
    char *long_value = xcalloc(WHSIG_FLOW_VALUE_MAX_BYTES + 2, 1);
    memset(long_value, 'v', WHSIG_FLOW_VALUE_MAX_BYTES + 1);
    const struct whsig_param too_long[] = {{"a", long_value}};
    assert_false(whsig_flow_sign(too_long, 1, "my secret", s));
    long_value[WHSIG_FLOW_VALUE_MAX_BYTES] = '\0';
    assert_true(whsig_flow_sign(too_long, 1, "my secret", s));
    free(long_value);
    assert_false(whsig_flow_sign(p, 2, "", s));
}

/* ----------------------------------------------------------- RSA helpers for the tests */

static EVP_PKEY *rsa_key(unsigned int bits)
{
    EVP_PKEY *k = EVP_RSA_gen(bits);
    assert_non_null(k);
    return k;
}

static char *bio_text(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    assert_true(n > 0);
    char *s = xstrndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

static char *public_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
    return bio_text(b);
}

/* Base64 of an RSA PKCS#1 v1.5 signature: with md, a standard signature of data; without, the
 * raw type-1 block of data ("encrypted with the private key"). */
static char *rsa_sign_b64(EVP_PKEY *k, const EVP_MD *md, const void *data, size_t len)
{
    uint8_t sig[1024];
    size_t sig_len = sizeof(sig);
    if (md) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(c, NULL, md, NULL, k), 1);
        assert_int_equal(EVP_DigestSign(c, sig, &sig_len, data, len), 1);
        EVP_MD_CTX_free(c);
    } else {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
        assert_int_equal(EVP_PKEY_sign_init(c), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING), 1);
        assert_int_equal(EVP_PKEY_sign(c, sig, &sig_len, data, len), 1);
        EVP_PKEY_CTX_free(c);
    }
    char *b64 = xmalloc(4 * ((sig_len + 2) / 3) + 1);
    base64_encode(sig, sig_len, b64);
    return b64;
}

/* A self-signed certificate for cn, valid from now_s + from_s to now_s + to_s. */
static char *make_cert(EVP_PKEY *k, const char *cn, int64_t now_s, long from_s, long to_s)
{
    X509 *x = X509_new();
    time_t now = (time_t)now_s;
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), 0, from_s, &now));
    assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 0, to_s, &now));
    X509_NAME *name = X509_get_subject_name(x);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    assert_int_equal(X509_set_pubkey(x, k), 1);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    X509_free(x);
    return bio_text(b);
}

/* ---------------------------------------------------------------------- Conekta (4.1) */

#define CK_BODY                                                                                    \
    "{\"data\":{\"object\":{\"id\":\"61fdc53b0211a6764e57ec4f\",\"livemode\":true}},"              \
    "\"type\":\"order.paid\",\"id\":\"evt_1\"}"

static void test_conekta(void **state)
{
    (void)state;
    EVP_PKEY *k1 = rsa_key(2048), *k2 = rsa_key(2048), *small = rsa_key(1024);
    char *pem1 = public_pem(k1), *pem2 = public_pem(k2), *pem_small = public_pem(small);
    assert_true(whsig_conekta_key_ok(pem1));
    assert_false(whsig_conekta_key_ok(pem_small));
    assert_false(
        whsig_conekta_key_ok("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"));
    assert_false(whsig_conekta_key_ok(NULL));
    const char *const keys1[] = {pem1};

    uint8_t hash[SHA256_BYTES];
    char hex[SHA256_HEX_BYTES];
    crypto_sha256(CK_BODY, strlen(CK_BODY), hash);
    hex_encode(hash, sizeof(hash), hex);
    /* The four readings of "the SHA-256 of the body signed with the private key". */
    char *digests[] = {rsa_sign_b64(k1, EVP_sha256(), CK_BODY, strlen(CK_BODY)),
                       rsa_sign_b64(k1, NULL, hash, sizeof(hash)), rsa_sign_b64(k1, NULL, hex, 64),
                       rsa_sign_b64(k1, EVP_sha256(), hex, 64)};
    for (size_t i = 0; i < ARRAY_LEN(digests); i++) {
        assert_int_equal(whsig_conekta_verify(digests[i], CK_BODY, strlen(CK_BODY), keys1, 1),
                         STDWH_OK);
        /* Tampered body. */
        assert_int_equal(
            whsig_conekta_verify(digests[i], CK_BODY " ", strlen(CK_BODY) + 1, keys1, 1),
            STDWH_BAD_SIGNATURE);
    }
    /* Optional prefix and surrounding blanks. */
    char prefixed[1024];
    snprintf(prefixed, sizeof(prefixed), " SHA-256=%s ", digests[0]);
    assert_int_equal(whsig_conekta_verify(prefixed, CK_BODY, strlen(CK_BODY), keys1, 1), STDWH_OK);
    /* Something else signed: the body itself raw, or SHA-1. */
    char *other = rsa_sign_b64(k1, EVP_sha1(), CK_BODY, strlen(CK_BODY));
    assert_int_equal(whsig_conekta_verify(other, CK_BODY, strlen(CK_BODY), keys1, 1),
                     STDWH_BAD_SIGNATURE);
    free(other);
    /* Another company's key; rotation with two keys. */
    const char *const keys2[] = {pem2};
    const char *const rotated[] = {pem2, pem1};
    const char *const with_bad[] = {"not a pem", pem1};
    assert_int_equal(whsig_conekta_verify(digests[0], CK_BODY, strlen(CK_BODY), keys2, 1),
                     STDWH_BAD_SIGNATURE);
    assert_int_equal(whsig_conekta_verify(digests[0], CK_BODY, strlen(CK_BODY), rotated, 2),
                     STDWH_OK);
    assert_int_equal(whsig_conekta_verify(digests[0], CK_BODY, strlen(CK_BODY), with_bad, 2),
                     STDWH_OK);
    /* A key below WHSIG_RSA_MIN_BITS is not used even when it signed. */
    char *weak = rsa_sign_b64(small, EVP_sha256(), CK_BODY, strlen(CK_BODY));
    const char *const keys_small[] = {pem_small};
    assert_int_equal(whsig_conekta_verify(weak, CK_BODY, strlen(CK_BODY), keys_small, 1),
                     STDWH_BAD_SIGNATURE);
    free(weak);
    /* Malformed Digest headers. */
    const char *bad[] = {NULL, "", "   ", "not base64!", "SHA-256=", "abc"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(whsig_conekta_verify(bad[i], CK_BODY, strlen(CK_BODY), keys1, 1),
                         STDWH_MALFORMED);
    }
    char *huge = xcalloc(4096, 1);
    memset(huge, 'A', 4092);
    assert_int_equal(whsig_conekta_verify(huge, CK_BODY, strlen(CK_BODY), keys1, 1),
                     STDWH_MALFORMED);
    free(huge);
    /* A valid base64 block of the wrong length is just a bad signature. */
    assert_int_equal(whsig_conekta_verify("AAAA", CK_BODY, strlen(CK_BODY), keys1, 1),
                     STDWH_BAD_SIGNATURE);
    for (size_t i = 0; i < ARRAY_LEN(digests); i++) {
        free(digests[i]);
    }
    free(pem1);
    free(pem2);
    free(pem_small);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(small);
}

/* ----------------------------------------------------------------------- PayPal (9.7) */

/* PayPal-node-SDK test/notification.js "verify webhook event success": the 1288-byte body,
 * its headers and signature; and PayPal's 2015 sandbox certificate for that cert URL, from a
 * nock fixture of a PayPal Node SDK test suite (see docs/webhooks.md). */
static const char paypal_body[] =
    "{\"id\":\"WH-0G2756385H040842W-5Y612302CV158622M\",\"create_time\":\"2015-05-18T15:45:13"
    "Z\",\"resource_type\":\"sale\",\"event_type\":\"PAYMENT.SALE.COMPLETED\",\"summary\":\"P"
    "ayment completed for $ 20.0 USD\",\"resource\":{\"id\":\"4EU7004268015634R\",\"create_ti"
    "me\":\"2015-05-18T15:44:02Z\",\"update_time\":\"2015-05-18T15:44:21Z\",\"amount\":{\"tot"
    "al\":\"20.00\",\"currency\":\"USD\"},\"payment_mode\":\"INSTANT_TRANSFER\",\"state\":\"c"
    "ompleted\",\"protection_eligibility\":\"ELIGIBLE\",\"protection_eligibility_type\":\"ITE"
    "M_NOT_RECEIVED_ELIGIBLE,UNAUTHORIZED_PAYMENT_ELIGIBLE\",\"parent_payment\":\"PAY-86C8181"
    "1X5228590KKVNARQQ\",\"transaction_fee\":{\"value\":\"0.88\",\"currency\":\"USD\"},\"link"
    "s\":[{\"href\":\"https://api.sandbox.paypal.com/v1/payments/sale/4EU7004268015634R\",\"r"
    "el\":\"self\",\"method\":\"GET\"},{\"href\":\"https://api.sandbox.paypal.com/v1/payments"
    "/sale/4EU7004268015634R/refund\",\"rel\":\"refund\",\"method\":\"POST\"},{\"href\":\"htt"
    "ps://api.sandbox.paypal.com/v1/payments/payment/PAY-86C81811X5228590KKVNARQQ\",\"rel\":\""
    "parent_payment\",\"method\":\"GET\"}]},\"links\":[{\"href\":\"https://api.sandbox.paypal"
    ".com/v1/notifications/webhooks-events/WH-0G2756385H040842W-5Y612302CV158622M\",\"rel\":\""
    "self\",\"method\":\"GET\"},{\"href\":\"https://api.sandbox.paypal.com/v1/notifications/w"
    "ebhooks-events/WH-0G2756385H040842W-5Y612302CV158622M/resend\",\"rel\":\"resend\",\"meth"
    "od\":\"POST\"}]}";

static const char paypal_cert[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIHqDCCBpCgAwIBAgIQCSVMkxB1Kw9SPZtpAr3lTDANBgkqhkiG9w0BAQsFADB1\n"
    "MQswCQYDVQQGEwJVUzEVMBMGA1UEChMMRGlnaUNlcnQgSW5jMRkwFwYDVQQLExB3\n"
    "d3cuZGlnaWNlcnQuY29tMTQwMgYDVQQDEytEaWdpQ2VydCBTSEEyIEV4dGVuZGVk\n"
    "IFZhbGlkYXRpb24gU2VydmVyIENBMB4XDTE1MDMxODAwMDAwMFoXDTE3MDMyMjEy\n"
    "MDAwMFowggElMR0wGwYDVQQPDBRQcml2YXRlIE9yZ2FuaXphdGlvbjETMBEGCysG\n"
    "AQQBgjc8AgEDEwJVUzEZMBcGCysGAQQBgjc8AgECEwhEZWxhd2FyZTEQMA4GA1UE\n"
    "BRMHMzAxNDI2NzEWMBQGA1UECRMNMjIxMSBOIDFzdCBTdDEOMAwGA1UEERMFOTUx\n"
    "MzExCzAJBgNVBAYTAlVTMRMwEQYDVQQIEwpDYWxpZm9ybmlhMREwDwYDVQQHEwhT\n"
    "YW4gSm9zZTEVMBMGA1UEChMMUGF5UGFsLCBJbmMuMRgwFgYDVQQLEw9QYXJ0bmVy\n"
    "IFN1cHBvcnQxNDAyBgNVBAMTK21lc3NhZ2V2ZXJpZmljYXRpb25jZXJ0cy5zYW5k\n"
    "Ym94LnBheXBhbC5jb20wggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQDI\n"
    "XgwJj1E+vPOLNA7e3nFsRpQq7G1CFcoCNeRgFIGRfd4itt2jBRPfHXf1eeXODQ6V\n"
    "wTMP6rVYrI3HBQu5SZRZKO3gALPiBWTcz5FhVovYDz/d/DtasA5L7l1xmRM+GGPE\n"
    "e/D3ETPeyym6GTAuIzR1ju1BuSQlVnIrcILDHrFZo0RyqFH1eNL3oYfgz+ZCv+WH\n"
    "65rhS60VowiLAb2lsARckJ2P8wKIps3YUxAqVG5SJ9H49ueBDI01wEzE/+59J8s9\n"
    "GThmbMTqP6x4MneAcGN1TPimGd9wZlbwwrCYDtCoqFDcxMVgvD83uPrIinFwTIOX\n"
    "w63QSv8/+ANuawBcNJDrAgMBAAGjggOAMIIDfDAfBgNVHSMEGDAWgBQ901Cl1qCt\n"
    "7vNKYApl0yHU+PjWDzAdBgNVHQ4EFgQUt5yLggZOjjfzULzZCgX2KZO3R/gwNgYD\n"
    "VR0RBC8wLYIrbWVzc2FnZXZlcmlmaWNhdGlvbmNlcnRzLnNhbmRib3gucGF5cGFs\n"
    "LmNvbTAOBgNVHQ8BAf8EBAMCBaAwHQYDVR0lBBYwFAYIKwYBBQUHAwEGCCsGAQUF\n"
    "BwMCMHUGA1UdHwRuMGwwNKAyoDCGLmh0dHA6Ly9jcmwzLmRpZ2ljZXJ0LmNvbS9z\n"
    "aGEyLWV2LXNlcnZlci1nMS5jcmwwNKAyoDCGLmh0dHA6Ly9jcmw0LmRpZ2ljZXJ0\n"
    "LmNvbS9zaGEyLWV2LXNlcnZlci1nMS5jcmwwQgYDVR0gBDswOTA3BglghkgBhv1s\n"
    "AgEwKjAoBggrBgEFBQcCARYcaHR0cHM6Ly93d3cuZGlnaWNlcnQuY29tL0NQUzCB\n"
    "iAYIKwYBBQUHAQEEfDB6MCQGCCsGAQUFBzABhhhodHRwOi8vb2NzcC5kaWdpY2Vy\n"
    "dC5jb20wUgYIKwYBBQUHMAKGRmh0dHA6Ly9jYWNlcnRzLmRpZ2ljZXJ0LmNvbS9E\n"
    "aWdpQ2VydFNIQTJFeHRlbmRlZFZhbGlkYXRpb25TZXJ2ZXJDQS5jcnQwDAYDVR0T\n"
    "AQH/BAIwADCCAX0GCisGAQQB1nkCBAIEggFtBIIBaQFnAHUApLkJkLQYWBSHuxOi\n"
    "zGdwCjw1mAT5G9+443fNDsgN3BAAAAFMLovtNgAABAMARjBEAiBTR7r3p76qUJzF\n"
    "23lsbD/cLsA0KlxoJRSIvIK0OIYWiQIgVQWja8tWBlpcoFP30Iym7IuczitSazpH\n"
    "fhKAVroTgXgAdgBo9pj4H2SCvjqM7rkoHUz8cVFdZ5PURNEKZ6y7T0/7xAAAAUwu\n"
    "i+z4AAAEAwBHMEUCIEP3VYyLQB7lOgFo4WstyOurmRe3xa0OVaeFL/bDohHOAiEA\n"
    "+xQrRVAfaeT4qBdBJzLyVLU4V9bh/qBMXJdjvYujhAcAdgBWFAaaL9fC7NP14b1E\n"
    "sj7HRna5vJkRXMDvlJhV1onQ3QAAAUwui+6EAAAEAwBHMEUCIQC/YUc5X6xyb3ho\n"
    "o4VMSJqSoNg9KKkvLh9nUQCdwHi3/QIgNwcBc9ZZCR/aWXQ7hKH6d39kpkDX2Z43\n"
    "XPy/Kl5sKI4wDQYJKoZIhvcNAQELBQADggEBAHixEZNpb0M1MsvsfNI6lLKxrs9s\n"
    "JkcBcmxrFyhTC8KP+Qp+Z1fnMRQwpTLIMr1+uAMqCPAnIShGHeFNJpUFSMyW4o0l\n"
    "+pZGz/L/YJBs7XP3ChSGC17ZKeGSQFfMqMQXfY/L6+n/1HkAwqmewqUMEuUmWN3F\n"
    "kXJqVngIYGZtxXRyiv2azLOhrNP8BgNZK6d2gVxntQfGr4hnd8Juq8SJy/S4xpPY\n"
    "YPD8vW7/wSOdAe1/kU38QwDVBQ5PJePS2WFwz8YA/eKcyg9lfsianfw35SjehJbn\n"
    "wGwzUbjtibyJnv3eAeYDGxaI6vbuoE99pSmYGIwSBLJwZamJHjci6HL6wLg=\n"
    "-----END CERTIFICATE-----\n";

#define PP_SIG                                                                                     \
    "thy4/U002quzxFavHPwbfJGcc46E8rc5jzgyeafWm5mICTBdY/8rl7WJpn8JA0GKA+oDTPsSruqusw+XXg5RLAP7"     \
    "ip53Euh9Xu3UbUhQFX7UgwzE2FeYoY6lyRMiiiQLzy9BvHfIzNIVhPad4KnC339dr6y2l+mN8ALgI4GCdIh3/SoJ"     \
    "O5wE64Bh/ueWtt8EVuvsvXfda2Le5a2TrOI9vLEzsm9GS79hAR/5oLexNz8UiZr045Mr5ObroH4w4oNfmkTaDk9R"     \
    "j0G19uvISs5QzgmBpauKr7Nw++JI0pr/v5mFctQkoWJSGfBGzPRXawrvIIVHQ9Wer48GR2g9ZiApWg=="

#define PP_ID "dfb3be50-fd74-11e4-8bf3-77339302725b"
#define PP_TIME "2015-05-18T15:45:13Z"
#define PP_NOW 1431963913 /* PP_TIME */
#define PP_WEBHOOK_ID "4JH86294D6297924G"
#define PP_CERT_URL                                                                                \
    "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77"

static struct whsig_paypal_headers pp_headers(void)
{
    return (struct whsig_paypal_headers){.transmission_id = PP_ID,
                                         .transmission_time = PP_TIME,
                                         .transmission_sig = PP_SIG,
                                         .cert_url = PP_CERT_URL,
                                         .auth_algo = "SHA256withRSA"};
}

static enum stdwh_result pp(const struct whsig_paypal_headers *h, const char *body, int64_t now_s)
{
    return whsig_paypal_verify(h, PP_WEBHOOK_ID, body, strlen(body), paypal_cert, now_s, TOL);
}

static void test_paypal_kat(void **state)
{
    (void)state;
    assert_int_equal(whsig_crc32("123456789", 9), 3421780262u);
    assert_int_equal(whsig_crc32("", 0), 0);
    assert_int_equal(strlen(paypal_body), 1288);
    assert_int_equal(whsig_crc32(paypal_body, strlen(paypal_body)), 2771810304u);
    char m[WHSIG_PAYPAL_MESSAGE_BYTES];
    assert_true(
        whsig_paypal_message(PP_ID, PP_TIME, PP_WEBHOOK_ID, paypal_body, strlen(paypal_body), m));
    assert_string_equal(m, PP_ID "|" PP_TIME "|" PP_WEBHOOK_ID "|2771810304");
    /* The official vector closes offline with the certificate of its mocks. */
    struct whsig_paypal_headers h = pp_headers();
    assert_int_equal(pp(&h, paypal_body, PP_NOW), STDWH_OK);
    h.auth_algo = "sha256WithRSA"; /* case does not matter */
    assert_int_equal(pp(&h, paypal_body, PP_NOW), STDWH_OK);
}

static void test_paypal_negative(void **state)
{
    (void)state;
    struct whsig_paypal_headers h = pp_headers();
    /* Tampered body, transmission id, time, signature; another webhook id. */
    char *body = xstrdup(paypal_body);
    memcpy(strstr(body, "20.00"), "90.00", 5);
    assert_int_equal(pp(&h, body, PP_NOW), STDWH_BAD_SIGNATURE);
    free(body);
    h.transmission_id = "dfb3be50-fd74-11e4-8bf3-77339302725c";
    assert_int_equal(pp(&h, paypal_body, PP_NOW), STDWH_BAD_SIGNATURE);
    h = pp_headers();
    h.transmission_time = "2015-05-18T15:45:14Z";
    assert_int_equal(pp(&h, paypal_body, PP_NOW), STDWH_BAD_SIGNATURE);
    h = pp_headers();
    char sig[] = PP_SIG;
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    h.transmission_sig = sig;
    assert_int_equal(pp(&h, paypal_body, PP_NOW), STDWH_BAD_SIGNATURE);
    h = pp_headers();
    assert_int_equal(whsig_paypal_verify(&h, "4JH86294D6297924H", paypal_body, strlen(paypal_body),
                                         paypal_cert, PP_NOW, TOL),
                     STDWH_BAD_SIGNATURE);
    /* No certificate, or garbage. */
    assert_int_equal(
        whsig_paypal_verify(&h, PP_WEBHOOK_ID, paypal_body, strlen(paypal_body), NULL, PP_NOW, TOL),
        STDWH_BAD_SIGNATURE);
    assert_int_equal(whsig_paypal_verify(&h, PP_WEBHOOK_ID, paypal_body, strlen(paypal_body),
                                         "-----BEGIN CERTIFICATE-----\nAAAA\n", PP_NOW, TOL),
                     STDWH_BAD_SIGNATURE);
    /* Stale and future transmission times; with a wide tolerance, the certificate has
     * expired (2017-03-22) and is refused. */
    assert_int_equal(pp(&h, paypal_body, PP_NOW + TOL), STDWH_OK);
    assert_int_equal(pp(&h, paypal_body, PP_NOW + TOL + 1), STDWH_STALE);
    assert_int_equal(pp(&h, paypal_body, PP_NOW - TOL - 1), STDWH_STALE);
    assert_int_equal(whsig_paypal_verify(&h, PP_WEBHOOK_ID, paypal_body, strlen(paypal_body),
                                         paypal_cert, 1514764800 /* 2018-01-01 */, 200000000),
                     STDWH_BAD_SIGNATURE);
    assert_int_equal(whsig_paypal_verify(&h, PP_WEBHOOK_ID, paypal_body, strlen(paypal_body),
                                         paypal_cert, 1420070400 /* 2015-01-01 */, 200000000),
                     STDWH_BAD_SIGNATURE);
}

static void test_paypal_malformed(void **state)
{
    (void)state;
    struct whsig_paypal_headers h = pp_headers();
    const char **fields[] = {&h.transmission_id, &h.transmission_time, &h.transmission_sig,
                             &h.cert_url, &h.auth_algo};
    for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
        h = pp_headers();
        *fields[i] = NULL;
        assert_int_equal(pp(&h, paypal_body, PP_NOW), STDWH_MALFORMED);
        *fields[i] = "";
        assert_int_equal(pp(&h, paypal_body, PP_NOW), STDWH_MALFORMED);
    }
    const char *bad_algos[] = {"SHA1withRSA", "SHA256withECDSA", "RS256", "SHA256withRSA "};
    for (size_t i = 0; i < ARRAY_LEN(bad_algos); i++) {
        h = pp_headers();
        h.auth_algo = bad_algos[i];
        assert_int_equal(pp(&h, paypal_body, PP_NOW), STDWH_MALFORMED);
    }
    const char *bad_times[] = {"2015-05-18 15:45:13Z", "2015-05-18T15:45:13+00:00", "yesterday",
                               "2015-05-18T15:45:13Z|x"};
    for (size_t i = 0; i < ARRAY_LEN(bad_times); i++) {
        h = pp_headers();
        h.transmission_time = bad_times[i];
        assert_int_equal(pp(&h, paypal_body, PP_NOW), STDWH_MALFORMED);
    }
    h = pp_headers();
    h.cert_url = "https://evil.example.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77";
    assert_int_equal(pp(&h, paypal_body, PP_NOW), STDWH_MALFORMED);
    h = pp_headers();
    h.transmission_sig = "not base64!";
    assert_int_equal(pp(&h, paypal_body, PP_NOW), STDWH_MALFORMED);
    h = pp_headers();
    h.transmission_id = "a|b";
    assert_int_equal(pp(&h, paypal_body, PP_NOW), STDWH_MALFORMED);
    h = pp_headers();
    h.transmission_id = "012345678901234567890123456789012345678901234567890"; /* 51 */
    assert_int_equal(pp(&h, paypal_body, PP_NOW), STDWH_MALFORMED);
    h = pp_headers();
    char long_sig[WHSIG_HEADER_MAX_BYTES + 8];
    memset(long_sig, 'A', sizeof(long_sig) - 1);
    long_sig[sizeof(long_sig) - 1] = '\0';
    h.transmission_sig = long_sig;
    assert_int_equal(pp(&h, paypal_body, PP_NOW), STDWH_MALFORMED);
    h = pp_headers();
    assert_int_equal(
        whsig_paypal_verify(&h, NULL, paypal_body, strlen(paypal_body), paypal_cert, PP_NOW, TOL),
        STDWH_MALFORMED);
    char m[WHSIG_PAYPAL_MESSAGE_BYTES];
    assert_false(whsig_paypal_message(PP_ID, PP_TIME, "a|b", "", 0, m));
    assert_false(whsig_paypal_message(PP_ID, NULL, PP_WEBHOOK_ID, "", 0, m));
    assert_true(whsig_paypal_message(PP_ID, PP_TIME, PP_WEBHOOK_ID, NULL, 0, m));
    assert_string_equal(m, PP_ID "|" PP_TIME "|" PP_WEBHOOK_ID "|0");
}

static void test_paypal_cert_url(void **state)
{
    (void)state;
    const char *good[] = {
        PP_CERT_URL,
        "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-df8cd2d5",
        "https://api-m.paypal.com/v1/notifications/certs/CERT-1",
        "https://api-m.sandbox.paypal.com/v1/notifications/certs/CERT-1",
    };
    const char *bad[] = {
        NULL,
        "",
        "http://api.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com.evil.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com@evil.com/v1/notifications/certs/CERT-1",
        "https://evilapi.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com:8443/v1/notifications/certs/CERT-1",
        "https://api.paypal.com/v1/notifications/certs/",
        "https://api.paypal.com/v1/notifications/certs/CERT-1/../../x",
        "https://api.paypal.com/v1/notifications/certs/CERT-1?x=1",
        "https://API.PAYPAL.COM/v1/notifications/certs/CERT-1",
        "https://api.paypal.com/v1/other/CERT-1",
    };
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        assert_true(whsig_paypal_cert_url_ok(good[i]));
    }
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_false(whsig_paypal_cert_url_ok(bad[i]));
    }
    char long_url[600];
    int n = snprintf(long_url, sizeof(long_url), "https://api.paypal.com/v1/notifications/certs/");
    memset(long_url + n, 'C', sizeof(long_url) - (size_t)n - 1);
    long_url[sizeof(long_url) - 1] = '\0';
    assert_false(whsig_paypal_cert_url_ok(long_url));
}

/* A round trip with a certificate made here: host name and validity are enforced. */
static void test_paypal_generated_cert(void **state)
{
    (void)state;
    const int64_t now = 1800000000;
    EVP_PKEY *k = rsa_key(2048);
    char *good = make_cert(k, "messageverificationcerts.paypal.com", now, -86400, 86400);
    char *sandbox = make_cert(k, "messageverificationcerts.sandbox.paypal.com", now, -86400, 86400);
    char *other_host = make_cert(k, "evil.example.com", now, -86400, 86400);
    char *expired = make_cert(k, "messageverificationcerts.paypal.com", now, -86400, -1);
    char *early = make_cert(k, "messageverificationcerts.paypal.com", now, 10, 86400);
    const char *body = "{\"id\":\"WH-1\",\"event_type\":\"PAYMENT.CAPTURE.COMPLETED\"}";
    char message[WHSIG_PAYPAL_MESSAGE_BYTES];
    assert_true(whsig_paypal_message("tid-1", "2027-01-15T08:00:00Z", "WHID1", body, strlen(body),
                                     message));
    char *sig = rsa_sign_b64(k, EVP_sha256(), message, strlen(message));
    struct whsig_paypal_headers h = {.transmission_id = "tid-1",
                                     .transmission_time = "2027-01-15T08:00:00Z",
                                     .transmission_sig = sig,
                                     .cert_url =
                                         "https://api.paypal.com/v1/notifications/certs/C-1",
                                     .auth_algo = "SHA256withRSA"};
    const int64_t sent = 1800000000; /* 2027-01-15T08:00:00Z */
    assert_int_equal(whsig_paypal_verify(&h, "WHID1", body, strlen(body), good, sent, TOL),
                     STDWH_OK);
    assert_int_equal(whsig_paypal_verify(&h, "WHID1", body, strlen(body), sandbox, sent, TOL),
                     STDWH_OK);
    assert_int_equal(whsig_paypal_verify(&h, "WHID1", body, strlen(body), other_host, sent, TOL),
                     STDWH_BAD_SIGNATURE);
    assert_int_equal(whsig_paypal_verify(&h, "WHID1", body, strlen(body), expired, sent, TOL),
                     STDWH_BAD_SIGNATURE);
    assert_int_equal(whsig_paypal_verify(&h, "WHID1", body, strlen(body), early, sent, TOL),
                     STDWH_BAD_SIGNATURE);
    /* The real sandbox certificate holds another key (checked at a time it was valid). */
    h.transmission_time = PP_TIME;
    assert_true(whsig_paypal_message("tid-1", PP_TIME, "WHID1", body, strlen(body), message));
    char *sig2 = rsa_sign_b64(k, EVP_sha256(), message, strlen(message));
    h.transmission_sig = sig2;
    assert_int_equal(whsig_paypal_verify(&h, "WHID1", body, strlen(body), good, PP_NOW, TOL),
                     STDWH_BAD_SIGNATURE); /* our certificate is not valid in 2015 */
    assert_int_equal(whsig_paypal_verify(&h, "WHID1", body, strlen(body), paypal_cert, PP_NOW, TOL),
                     STDWH_BAD_SIGNATURE);
    free(sig2);
    free(sig);
    free(good);
    free(sandbox);
    free(other_host);
    free(expired);
    free(early);
    EVP_PKEY_free(k);
}

static void test_reasons(void **state)
{
    (void)state;
    assert_string_equal(stdwh_result_reason(STDWH_OK), "ok");
    assert_string_not_equal(stdwh_result_reason(STDWH_MALFORMED), "unknown");
    assert_string_not_equal(stdwh_result_reason(STDWH_STALE), "unknown");
    assert_string_not_equal(stdwh_result_reason(STDWH_BAD_SIGNATURE), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mercadopago_manifests),
        cmocka_unit_test(test_mercadopago_kat),
        cmocka_unit_test(test_mercadopago_negative),
        cmocka_unit_test(test_mercadopago_header_shapes),
        cmocka_unit_test(test_mercadopago_timestamps),
        cmocka_unit_test(test_mercadopago_malformed),
        cmocka_unit_test(test_mercadopago_rotation),
        cmocka_unit_test(test_stripe_kat),
        cmocka_unit_test(test_stripe_several_v1),
        cmocka_unit_test(test_stripe_tampered),
        cmocka_unit_test(test_stripe_timestamps),
        cmocka_unit_test(test_stripe_malformed),
        cmocka_unit_test(test_stripe_secret_rotation),
        cmocka_unit_test(test_standard_webhooks_kat),
        cmocka_unit_test(test_polar_legacy_kat),
        cmocka_unit_test(test_polar_derivations),
        cmocka_unit_test(test_polar_tampered_stale_malformed),
        cmocka_unit_test(test_nowpayments_kat),
        cmocka_unit_test(test_nowpayments_legacy_form),
        cmocka_unit_test(test_nowpayments_canonical_forms),
        cmocka_unit_test(test_nowpayments_verify_cases),
        cmocka_unit_test(test_flow_kat),
        cmocka_unit_test(test_flow_negative),
        cmocka_unit_test(test_conekta),
        cmocka_unit_test(test_paypal_kat),
        cmocka_unit_test(test_paypal_negative),
        cmocka_unit_test(test_paypal_malformed),
        cmocka_unit_test(test_paypal_cert_url),
        cmocka_unit_test(test_paypal_generated_cert),
        cmocka_unit_test(test_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
