/* Unit tests for core/ids.h: id shape, validation, time ordering, uniqueness, secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/ids.h"

#define ID_BODY_CHARS (ID_TIME_CHARS + ID_RANDOM_CHARS)
#define MANY_IDS 10000

static bool is_base62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool all_base62(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_base62(s[i])) {
            return false;
        }
    }
    return true;
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_id_shape(void **state)
{
    (void)state;
    static const char *const prefixes[] = {"ten", "key", "aud", "pay", "po"};
    for (size_t i = 0; i < ARRAY_LEN(prefixes); i++) {
        char id[LIMIT_ID_BYTES];
        memset(id, 'X', sizeof(id));
        id_new(prefixes[i], id);
        size_t plen = strlen(prefixes[i]);
        assert_int_equal(strlen(id), plen + 1 + ID_BODY_CHARS);
        assert_memory_equal(id, prefixes[i], plen);
        assert_int_equal(id[plen], '_');
        assert_true(all_base62(id + plen + 1, ID_BODY_CHARS));
        assert_true(id_valid(prefixes[i], id));
    }
}

static void test_id_time_part(void **state)
{
    (void)state;
    char id[LIMIT_ID_BYTES];
    id_new_at("ten", 0, id);
    assert_memory_equal(id, "ten_000000000", 13);
    id_new_at("ten", 61, id);
    assert_memory_equal(id, "ten_00000000z", 13);
    id_new_at("ten", 62, id);
    assert_memory_equal(id, "ten_000000010", 13);
    /* a time in microseconds round-trips through the nine base62 digits */
    id_new_at("ten", 1767225600000ULL, id);
    uint64_t decoded = 0;
    for (int i = 0; i < ID_TIME_CHARS; i++) {
        char c = id[4 + i];
        int digit = c <= '9' ? c - '0' : c <= 'Z' ? c - 'A' + 10 : c - 'a' + 36;
        decoded = decoded * 62 + (uint64_t)digit;
    }
    assert_true(decoded == 1767225600000ULL);
    assert_true(id_valid("ten", id));
}

static void test_id_valid_rejects(void **state)
{
    (void)state;
    char id[LIMIT_ID_BYTES];
    id_new("ten", id);
    assert_true(id_valid("ten", id));

    /* Wrong prefix, including prefixes of one another. */
    assert_false(id_valid("key", id));
    assert_false(id_valid("te", id));
    assert_false(id_valid("tena", id));
    char other[LIMIT_ID_BYTES + 8];
    snprintf(other, sizeof(other), "Ten%s", id + 3);
    assert_false(id_valid("ten", other));
    snprintf(other, sizeof(other), "ten-%s", id + 4);
    assert_false(id_valid("ten", other));
    snprintf(other, sizeof(other), "ten%s", id + 4); /* no separator */
    assert_false(id_valid("ten", other));

    /* Wrong length. */
    snprintf(other, sizeof(other), "%s", id);
    other[strlen(other) - 1] = '\0';
    assert_false(id_valid("ten", other));
    snprintf(other, sizeof(other), "%sA", id);
    assert_false(id_valid("ten", other));
    assert_false(id_valid("ten", "ten_"));
    assert_false(id_valid("ten", "ten"));
    assert_false(id_valid("ten", ""));

    /* Wrong characters, anywhere in the body. */
    static const char bad[] = {'-', '_', '/', '.', ' ', '%', '+', '=', '\x80', '\xff'};
    for (size_t pos = 4; pos < 4 + ID_BODY_CHARS; pos += 7) {
        for (size_t i = 0; i < sizeof(bad); i++) {
            snprintf(other, sizeof(other), "%s", id);
            other[pos] = bad[i];
            assert_false(id_valid("ten", other));
        }
    }
    assert_false(id_valid("ten", "ten_"
                                 "000000000"
                                 "00000000"
                                 "0000000"
                                 "\n"));
    assert_true(id_valid("ten", "ten_"
                                "000000000"
                                "00000000"
                                "0000000"
                                "z"));
}

static void test_ids_sort_by_time(void **state)
{
    (void)state;
    static const uint64_t times[] = {
        0,
        1,
        61,
        62,
        3843,
        3844,
        1000000,
        1700000000000ULL,
        1700000000001ULL,
        1767225600000ULL,
        1767225600061ULL,
        1767225600062ULL,
        4102444800000ULL,
        218340105584895ULL, /* 62^8 - 1: the largest time the 8 characters hold */
    };
    char prev[LIMIT_ID_BYTES];
    id_new_at("pay", times[0], prev);
    for (size_t i = 1; i < ARRAY_LEN(times); i++) {
        char next[LIMIT_ID_BYTES];
        id_new_at("pay", times[i], next);
        assert_true(strcmp(prev, next) < 0);
        assert_true(memcmp(prev, next, strlen(next)) < 0);
        memcpy(prev, next, sizeof(prev));
    }
}

static void test_ids_same_time_differ_only_in_random(void **state)
{
    (void)state;
    char a[LIMIT_ID_BYTES], b[LIMIT_ID_BYTES];
    id_new_at("evt", 1767225600000ULL, a);
    id_new_at("evt", 1767225600000ULL, b);
    assert_memory_equal(a, b, 4 + ID_TIME_CHARS);
    assert_string_not_equal(a, b);
}

static void test_many_ids_unique(void **state)
{
    (void)state;
    char(*ids)[LIMIT_ID_BYTES] = xcalloc(MANY_IDS, LIMIT_ID_BYTES);
    for (size_t i = 0; i < MANY_IDS; i++) {
        id_new("aud", ids[i]);
        assert_true(id_valid("aud", ids[i]));
    }
    qsort(ids, MANY_IDS, LIMIT_ID_BYTES, compare_ids);
    for (size_t i = 1; i < MANY_IDS; i++) {
        assert_string_not_equal(ids[i - 1], ids[i]);
    }
    free(ids);
}

static void test_many_ids_unique_at_one_instant(void **state)
{
    (void)state;
    char(*ids)[LIMIT_ID_BYTES] = xcalloc(MANY_IDS, LIMIT_ID_BYTES);
    for (size_t i = 0; i < MANY_IDS; i++) {
        id_new_at("aud", 1767225600000ULL, ids[i]);
    }
    qsort(ids, MANY_IDS, LIMIT_ID_BYTES, compare_ids);
    for (size_t i = 1; i < MANY_IDS; i++) {
        assert_string_not_equal(ids[i - 1], ids[i]);
    }
    free(ids);
}

static void test_secret_shape_and_uniqueness(void **state)
{
    (void)state;
    enum { N = 1000 };
    char(*secrets)[LIMIT_SECRET_BYTES] = xcalloc(N, LIMIT_SECRET_BYTES);
    bool seen[128] = {false};
    for (size_t i = 0; i < N; i++) {
        memset(secrets[i], 'X', LIMIT_SECRET_BYTES);
        secret_new(secrets[i]);
        assert_int_equal(strlen(secrets[i]), 3 + SECRET_RANDOM_CHARS);
        assert_memory_equal(secrets[i], "sk_", 3);
        assert_true(all_base62(secrets[i] + 3, SECRET_RANDOM_CHARS));
        for (size_t j = 3; j < 3 + SECRET_RANDOM_CHARS; j++) {
            seen[(unsigned char)secrets[i][j]] = true;
        }
    }
    assert_int_equal(SECRET_RANDOM_CHARS, 43);
    qsort(secrets, N, LIMIT_SECRET_BYTES, compare_ids);
    for (size_t i = 1; i < N; i++) {
        assert_string_not_equal(secrets[i - 1], secrets[i]);
    }
    /* 43,000 draws from 62 characters: every one of them shows up. */
    size_t distinct = 0;
    for (size_t c = 0; c < ARRAY_LEN(seen); c++) {
        distinct += seen[c] ? 1 : 0;
    }
    assert_int_equal(distinct, 62);
    free(secrets);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_shape),
        cmocka_unit_test(test_id_time_part),
        cmocka_unit_test(test_id_valid_rejects),
        cmocka_unit_test(test_ids_sort_by_time),
        cmocka_unit_test(test_ids_same_time_differ_only_in_random),
        cmocka_unit_test(test_many_ids_unique),
        cmocka_unit_test(test_many_ids_unique_at_one_instant),
        cmocka_unit_test(test_secret_shape_and_uniqueness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
