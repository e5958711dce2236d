/* Unit tests for core/crypto.h (known-answer vectors, constant-time comparisons, encodings,
 * sealing with key ids) and for how tenant key secrets are indexed and hashed (auth_key_prefix,
 * SHA-256 hex). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "core/crypto.h"
#include "core/ids.h"
#include "http/auth.h"

static void sha256_hex_of(const char *s, char out[SHA256_HEX_BYTES])
{
    crypto_sha256_hex(s, strlen(s), out);
}

static void hmac_hex(const uint8_t *key, size_t key_len, const char *data,
                     char out[SHA256_HEX_BYTES])
{
    uint8_t mac[SHA256_BYTES];
    crypto_hmac_sha256(key, key_len, data, strlen(data), mac);
    hex_encode(mac, sizeof(mac), out);
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[SHA256_HEX_BYTES];
    sha256_hex_of("abc", hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_hex_of("", hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    /* The binary form is the hex form's bytes. */
    uint8_t digest[SHA256_BYTES];
    crypto_sha256("abc", 3, digest);
    assert_int_equal(digest[0], 0xba);
    assert_int_equal(digest[31], 0xad);
}

static void test_hmac_sha256_rfc4231(void **state)
{
    (void)state;
    char hex[SHA256_HEX_BYTES];
    /* Test case 2. */
    hmac_hex((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    /* Test case 1. */
    uint8_t key1[20];
    memset(key1, 0x0b, sizeof(key1));
    hmac_hex(key1, sizeof(key1), "Hi There", hex);
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    /* Test case 6: a key longer than the block is hashed first. */
    uint8_t key6[131];
    memset(key6, 0xaa, sizeof(key6));
    hmac_hex(key6, sizeof(key6), "Test Using Larger Than Block-Size Key - Hash Key First", hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_crypto_equal(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    for (size_t i = 0; i < sizeof(a); i++) {
        a[i] = (uint8_t)(i * 7);
    }
    memcpy(b, a, sizeof(b));
    assert_true(crypto_equal(a, b, sizeof(a)));
    assert_true(crypto_equal(a, b, 0));

    static const size_t positions[] = {0, 1, 15, 30, 31};
    for (size_t i = 0; i < ARRAY_LEN(positions); i++) {
        memcpy(b, a, sizeof(b));
        b[positions[i]] ^= 0x01;
        assert_false(crypto_equal(a, b, sizeof(a)));
        b[positions[i]] ^= 0x81; /* now differs only in the high bit */
        assert_false(crypto_equal(a, b, sizeof(a)));
        /* Only the first len bytes are compared. */
        assert_true(crypto_equal(a, b, positions[i]));
    }
}

static void test_crypto_str_equal(void **state)
{
    (void)state;
    assert_true(crypto_str_equal("sk_secret", "sk_secret"));
    assert_true(crypto_str_equal("", ""));
    assert_false(crypto_str_equal("sk_secret", "sk_secreT"));
    assert_false(crypto_str_equal("sk_secret", "Sk_secret"));
    assert_false(crypto_str_equal("sk_secret", "sk_secrez"));
    /* Different lengths, including one a prefix of the other. */
    assert_false(crypto_str_equal("sk_secret", "sk_secret2"));
    assert_false(crypto_str_equal("sk_secret2", "sk_secret"));
    assert_false(crypto_str_equal("sk_secret", "sk_"));
    assert_false(crypto_str_equal("", "a"));
    assert_false(crypto_str_equal("a", ""));
}

static void test_hex_encode(void **state)
{
    (void)state;
    static const uint8_t data[] = {0x00, 0x01, 0x09, 0x0a, 0x7f, 0x80, 0xab, 0xf0, 0xff};
    char out[2 * sizeof(data) + 1];
    memset(out, 'X', sizeof(out));
    hex_encode(data, sizeof(data), out);
    assert_string_equal(out, "0001090a7f80abf0ff");

    char empty[1] = {'X'};
    hex_encode(data, 0, empty);
    assert_string_equal(empty, "");
}

static void test_base64_vectors(void **state)
{
    (void)state;
    /* RFC 4648, section 10. */
    static const char *const vectors[][2] = {
        {"f", "Zg=="},        {"fo", "Zm8="},        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < ARRAY_LEN(vectors); i++) {
        const char *plain = vectors[i][0];
        const char *encoded = vectors[i][1];
        char enc[16];
        base64_encode((const uint8_t *)plain, strlen(plain), enc);
        assert_string_equal(enc, encoded);

        uint8_t dec[16];
        int n = base64_decode(encoded, dec, sizeof(dec));
        assert_int_equal(n, (int)strlen(plain));
        assert_memory_equal(dec, plain, strlen(plain));
    }
}

static void test_base64_round_trip(void **state)
{
    (void)state;
    uint8_t data[100];
    crypto_random(data, sizeof(data));
    data[0] = 0x00; /* make sure the extremes are in */
    data[1] = 0xff;
    data[2] = 0xfb; /* encodes to '+' and '/' */
    data[3] = 0xff;
    for (size_t len = 1; len <= sizeof(data); len++) {
        char enc[4 * ((sizeof(data) + 2) / 3) + 1];
        base64_encode(data, len, enc);
        assert_int_equal(strlen(enc), 4 * ((len + 2) / 3));

        uint8_t dec[sizeof(data)];
        memset(dec, 0, sizeof(dec));
        assert_int_equal(base64_decode(enc, dec, len), (int)len); /* exactly fits */
        assert_memory_equal(dec, data, len);
        if (len > 1) {
            assert_int_equal(base64_decode(enc, dec, len - 1), -1); /* does not fit */
        }
    }
}

static void test_base64_rejects_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",           /* nothing */
        "Zm9",        /* not a multiple of 4 */
        "Zm9vY",      /* not a multiple of 4 */
        "Zm9vYg=",    /* padding cut short */
        "Zm9v!A==",   /* a character outside the alphabet */
        "Zm-v",       /* base64url is not base64 */
        "Zm_v",       /* base64url is not base64 */
        "Zm 9",       /* inner space */
        "Zm9v\nYmFy", /* inner newline (and not a multiple of 4) */
        "Zm9\nYmFy",  /* inner newline */
        "Zm\xc3\xa9", /* non-ASCII */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        uint8_t out[64];
        assert_int_equal(base64_decode(bad[i], out, sizeof(out)), -1);
    }
}

/* Was a bug in base64_decode (src/core/crypto.c), which hands the input to
 * EVP_DecodeBlock and then trims at most two '=' from the very end:
 * - EVP_DecodeBlock decodes '=' as data wherever it appears, so padding at the start or in
 *   the middle, or three or four '=' in a row, is accepted: "====" decodes to 1 byte, "Zm=v"
 *   to 2. config_parse_master_key inherits this: a 44-character PASARELA_MASTER_KEY with '='
 *   inside it is accepted as a 32-byte key.
 * - EVP_DecodeBlock skips leading and trailing whitespace, so "Zm9vYmFy\r\n\r\n" is accepted, and
 *   when padding is followed by whitespace the padding is not trimmed (in[len - 1] is the
 *   whitespace): "Zm8=    " returns 3 (with a made-up third byte) instead of 2. */
static void test_base64_rejects_misplaced_padding(void **state)
{
    (void)state;
    static const char *const bad[] = {"====", "A===", "=AAA",     "Zm=v",     "Zg==Zg==",
                                      "Z===", "AA=A", "Zm8=    ", "    Zm9v", "Zm9vYmFy\r\n\r\n"};
    size_t accepted = 0;
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        uint8_t out[64];
        int n = base64_decode(bad[i], out, sizeof(out));
        if (n != -1) {
            print_error("base64_decode accepted \"%s\" as %d bytes\n", bad[i], n);
            accepted++;
        }
    }
    assert_int_equal(accepted, 0);
}

static void test_base62_random(void **state)
{
    (void)state;
    char out[201];
    memset(out, '=', sizeof(out));
    base62_random(out, 200);
    assert_int_equal(strlen(out), 200);
    for (size_t i = 0; i < 200; i++) {
        char c = out[i];
        assert_true((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'));
    }
    char other[201];
    base62_random(other, 200);
    assert_string_not_equal(out, other);

    char none[1] = {'X'};
    base62_random(none, 0);
    assert_string_equal(none, "");
}

static void test_crypto_random_fills(void **state)
{
    (void)state;
    uint8_t a[32] = {0}, b[32] = {0}, zero[32] = {0};
    crypto_random(a, sizeof(a));
    crypto_random(b, sizeof(b));
    assert_memory_not_equal(a, zero, sizeof(a));
    assert_memory_not_equal(a, b, sizeof(a));
}

static void test_key_prefix(void **state)
{
    (void)state;
    char prefix[SECRET_PREFIX_CHARS + 1];
    memset(prefix, 'X', sizeof(prefix));
    auth_key_prefix("sk_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg", prefix);
    assert_string_equal(prefix, "sk_012345678");
    assert_int_equal(strlen(prefix), 12);

    char secret[LIMIT_SECRET_BYTES];
    secret_new(secret);
    auth_key_prefix(secret, prefix);
    assert_int_equal(strlen(prefix), SECRET_PREFIX_CHARS);
    assert_memory_equal(prefix, secret, SECRET_PREFIX_CHARS);

    /* A token shorter than a prefix is taken whole, never read past its end. */
    auth_key_prefix("sk_abc", prefix);
    assert_string_equal(prefix, "sk_abc");
    auth_key_prefix("", prefix);
    assert_string_equal(prefix, "");
    auth_key_prefix("sk_012345678", prefix); /* exactly 12 */
    assert_string_equal(prefix, "sk_012345678");
}

static void test_key_hash(void **state)
{
    (void)state;
    /* What the store keeps for a key is the lowercase hex SHA-256 of the whole secret:
     * hashlib.sha256(secret.encode()).hexdigest(). */
    static const char secret[] = "sk_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg";
    char hex[SHA256_HEX_BYTES];
    sha256_hex_of(secret, hex);
    assert_string_equal(hex, "6ac4f4f61a18efd244b40fe0271fc5f90f91f7d5ad9ee3cbfd3c0880cfe52b1d");

    uint8_t digest[SHA256_BYTES];
    crypto_sha256(secret, strlen(secret), digest);
    char from_binary[SHA256_HEX_BYTES];
    hex_encode(digest, sizeof(digest), from_binary);
    assert_string_equal(hex, from_binary);

    /* Two keys sharing the 12-character lookup prefix still hash apart. */
    char other[sizeof(secret)];
    memcpy(other, secret, sizeof(secret));
    other[sizeof(secret) - 2] = 'h';
    char a_prefix[SECRET_PREFIX_CHARS + 1], b_prefix[SECRET_PREFIX_CHARS + 1];
    auth_key_prefix(secret, a_prefix);
    auth_key_prefix(other, b_prefix);
    assert_string_equal(a_prefix, b_prefix);
    char other_hex[SHA256_HEX_BYTES];
    sha256_hex_of(other, other_hex);
    assert_string_not_equal(hex, other_hex);
}

static void key_of(uint8_t key[SHA256_BYTES], uint8_t fill)
{
    memset(key, fill, SHA256_BYTES);
}

static void test_key_id(void **state)
{
    (void)state;
    uint8_t key[SHA256_BYTES];
    key_of(key, 0x42);
    char kid[CRYPTO_KID_BYTES], again[CRYPTO_KID_BYTES], other[CRYPTO_KID_BYTES];
    crypto_key_id(key, kid);
    /* The start of HMAC-SHA256(key, "pasarela key id v1"):
     * hmac.new(b"\x42" * 32, b"pasarela key id v1", hashlib.sha256).hexdigest()[:8] */
    uint8_t mac[SHA256_BYTES];
    crypto_hmac_sha256(key, sizeof(key), "pasarela key id v1", 18, mac);
    char hex[SHA256_HEX_BYTES];
    hex_encode(mac, sizeof(mac), hex);
    assert_int_equal(strlen(kid), CRYPTO_KID_CHARS);
    assert_memory_equal(kid, hex, CRYPTO_KID_CHARS);
    crypto_key_id(key, again);
    assert_string_equal(kid, again);
    key[31] ^= 1;
    crypto_key_id(key, other);
    assert_string_not_equal(kid, other);
    /* It is not the key's own bytes in hex. */
    assert_string_not_equal(kid, "42424242");
}

static void test_seal_format_and_round_trip(void **state)
{
    (void)state;
    uint8_t key[SHA256_BYTES];
    crypto_random(key, sizeof(key));
    char kid[CRYPTO_KID_BYTES];
    crypto_key_id(key, kid);
    static const char *const plains[] = {"", "x", "{\"webhook_secrets\":[\"whsec_abc\"]}",
                                         "ñandú \xe2\x82\xac 0123456789012345678901234567890"};
    for (size_t i = 0; i < ARRAY_LEN(plains); i++) {
        char *sealed = crypto_seal(key, plains[i]);
        assert_memory_equal(sealed, "v2:", 3);
        assert_memory_equal(sealed + 3, kid, CRYPTO_KID_CHARS);
        assert_int_equal(sealed[3 + CRYPTO_KID_CHARS], ':');
        /* nonce + ciphertext + tag in base64 */
        const char *b64 = sealed + 4 + CRYPTO_KID_CHARS;
        assert_int_equal(strlen(b64), 4 * ((12 + strlen(plains[i]) + 16 + 2) / 3));
        if (strlen(plains[i]) > 8) { /* a short one may turn up in random base64 */
            assert_null(strstr(sealed, plains[i]));
        }
        char *plain = crypto_unseal(key, sealed);
        assert_non_null(plain);
        assert_string_equal(plain, plains[i]);
        crypto_free_secret(plain);
        /* A fresh nonce each time: the same plaintext seals differently. */
        char *again = crypto_seal(key, plains[i]);
        assert_string_not_equal(sealed, again);
        free(again);
        free(sealed);
    }
}

static void test_unseal_refuses_tampering(void **state)
{
    (void)state;
    uint8_t key[SHA256_BYTES];
    crypto_random(key, sizeof(key));
    char *sealed = crypto_seal(key, "sk_live_secret_value");
    size_t len = strlen(sealed);
    char kid[CRYPTO_KID_BYTES];
    /* Every character of the base64 part, flipped to another base64 character. */
    for (size_t i = 4 + CRYPTO_KID_CHARS; i < len; i++) {
        char *bad = xstrdup(sealed);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        char *plain = crypto_unseal(key, bad);
        if (plain) { /* only possible if the flip changed nothing the decoder keeps */
            print_error("tampered text at %zu unsealed\n", i);
            crypto_free_secret(plain);
            fail();
        }
        assert_int_equal(crypto_seal_problem(key, bad, kid), SEAL_ALTERED);
        free(bad);
    }
    /* Truncated, extended, and the prefix changed. */
    char *cut = xstrndup(sealed, len - 4);
    assert_null(crypto_unseal(key, cut));
    char *longer = xmalloc(len + 5);
    snprintf(longer, len + 5, "%sAAAA", sealed);
    assert_null(crypto_unseal(key, longer));
    char *v1 = xstrdup(sealed);
    memcpy(v1, "v1", 2);
    assert_null(crypto_unseal(key, v1));
    assert_int_equal(crypto_seal_problem(key, v1, kid), SEAL_MALFORMED);
    free(cut);
    free(longer);
    free(v1);
    free(sealed);
}

static void test_unseal_tells_another_key_apart(void **state)
{
    (void)state;
    uint8_t key[SHA256_BYTES], other[SHA256_BYTES];
    crypto_random(key, sizeof(key));
    crypto_random(other, sizeof(other));
    char kid[CRYPTO_KID_BYTES], other_kid[CRYPTO_KID_BYTES], named[CRYPTO_KID_BYTES];
    crypto_key_id(key, kid);
    crypto_key_id(other, other_kid);
    char *sealed = crypto_seal(other, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert_null(crypto_unseal(key, sealed));
    assert_int_equal(crypto_seal_problem(key, sealed, named), SEAL_OTHER_KEY);
    assert_string_equal(named, other_kid);
    assert_string_not_equal(named, kid);

    /* Relabelling the text with the reader's key id does not get it read: the header is
     * authenticated, and the ciphertext is not the reader's. */
    memcpy(sealed + 3, kid, CRYPTO_KID_CHARS);
    assert_null(crypto_unseal(key, sealed));
    assert_int_equal(crypto_seal_problem(key, sealed, named), SEAL_ALTERED);
    /* Nor under the key that sealed it, whose id is no longer the one in the header. */
    assert_null(crypto_unseal(other, sealed));
    free(sealed);
}

/* The format earlier versions wrote: "v1:" + base64(nonce | ciphertext | tag), no additional
 * data. Built here with OpenSSL directly, the way crypto_seal used to. */
static char *seal_v1(const uint8_t key[SHA256_BYTES], const char *plaintext)
{
    size_t len = strlen(plaintext);
    uint8_t raw[256];
    assert_true(12 + len + 16 <= sizeof(raw));
    crypto_random(raw, 12);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw), 1);
    assert_int_equal(EVP_EncryptUpdate(ctx, raw + 12, &n, (const uint8_t *)plaintext, (int)len), 1);
    assert_int_equal(EVP_EncryptFinal_ex(ctx, raw + 12 + n, &fin), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, raw + 12 + len), 1);
    EVP_CIPHER_CTX_free(ctx);
    char *out = xmalloc(3 + 4 * ((12 + len + 16 + 2) / 3) + 1);
    memcpy(out, "v1:", 3);
    base64_encode(raw, 12 + len + 16, out + 3);
    return out;
}

static void test_unseal_reads_v1(void **state)
{
    (void)state;
    uint8_t key[SHA256_BYTES], other[SHA256_BYTES];
    crypto_random(key, sizeof(key));
    crypto_random(other, sizeof(other));
    char *sealed = seal_v1(key, "{\"credentials\":{\"access_token\":\"APP_USR-1\"}}");
    char *plain = crypto_unseal(key, sealed);
    assert_non_null(plain);
    assert_string_equal(plain, "{\"credentials\":{\"access_token\":\"APP_USR-1\"}}");
    crypto_free_secret(plain);
    /* Without a key id, another key and an alteration look the same. */
    char kid[CRYPTO_KID_BYTES] = "x";
    assert_null(crypto_unseal(other, sealed));
    assert_int_equal(crypto_seal_problem(other, sealed, kid), SEAL_UNIDENTIFIED);
    assert_string_equal(kid, "");
    sealed[10] = sealed[10] == 'A' ? 'B' : 'A';
    assert_null(crypto_unseal(key, sealed));
    assert_int_equal(crypto_seal_problem(key, sealed, kid), SEAL_UNIDENTIFIED);
    free(sealed);
}

static void test_unseal_refuses_malformed(void **state)
{
    (void)state;
    uint8_t key[SHA256_BYTES];
    key_of(key, 7);
    char kid[CRYPTO_KID_BYTES];
    crypto_key_id(key, kid);
    char header[32];
    snprintf(header, sizeof(header), "v2:%s:", kid);
    static const char *const bad[] = {
        "",
        "v2",
        "v2:",
        "v2:0123abcd",
        "v2:0123ABCD:AAAA",
        "v2:0123abc:AAAA",
        "v3:0123abcd:AAAA",
        "v1:",
        "v1:!!!!",
        "{\"webhook_secrets\":[]}",
        "v2:0123abcdXAAAA",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_null(crypto_unseal(key, bad[i]));
        assert_int_equal(crypto_seal_problem(key, bad[i], kid), SEAL_MALFORMED);
        assert_string_equal(seal_problem_text(SEAL_MALFORMED), "not a sealed value");
    }
    /* Well-formed headers with too little behind them. */
    char shorter[64];
    snprintf(shorter, sizeof(shorter), "%sAAAA", header); /* 3 bytes: less than nonce + tag */
    assert_null(crypto_unseal(key, shorter));
    assert_int_equal(crypto_seal_problem(key, shorter, kid), SEAL_MALFORMED);
    snprintf(shorter, sizeof(shorter), "%s", header);
    assert_null(crypto_unseal(key, shorter));
    assert_int_equal(crypto_seal_problem(key, shorter, kid), SEAL_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_hmac_sha256_rfc4231),
        cmocka_unit_test(test_crypto_equal),
        cmocka_unit_test(test_crypto_str_equal),
        cmocka_unit_test(test_hex_encode),
        cmocka_unit_test(test_base64_vectors),
        cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_base64_rejects_malformed),
        cmocka_unit_test(test_base64_rejects_misplaced_padding),
        cmocka_unit_test(test_base62_random),
        cmocka_unit_test(test_crypto_random_fills),
        cmocka_unit_test(test_key_prefix),
        cmocka_unit_test(test_key_hash),
        cmocka_unit_test(test_key_id),
        cmocka_unit_test(test_seal_format_and_round_trip),
        cmocka_unit_test(test_unseal_refuses_tampering),
        cmocka_unit_test(test_unseal_tells_another_key_apart),
        cmocka_unit_test(test_unseal_reads_v1),
        cmocka_unit_test(test_unseal_refuses_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
