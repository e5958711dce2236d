/* Unit tests for domain/tenant.h: slug, plan and status rules and the limits object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "domain/tenant.h"

/* A string of n copies of c (n < 128). */
static const char *repeat(char c, size_t n)
{
    static char s[128];
    PASSERT(n < sizeof(s));
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_slug_valid(void **state)
{
    (void)state;
    static const char *const good[] = {"abc", "acme", "acme-corp", "a1b",
                                       "123", "a-b",  "a--b",      "tienda-123-mx"};
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        assert_true(tenant_slug_valid(good[i]));
    }
    assert_true(tenant_slug_valid(repeat('a', LIMIT_SLUG_MAX)));
    assert_true(tenant_slug_valid(repeat('7', LIMIT_SLUG_MIN)));
}

static void test_slug_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",      "a",           "ab",     "-ab",   "ab-",   "-a-",   "---",
        "Acme",  "acmE",        "ac_me",  "ac me", "acme ", " acme", "ac.me",
        "ac/me", "acm\xc3\xa9", "ac\tme", "ac+me", "ACME",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_false(tenant_slug_valid(bad[i]));
    }
    assert_false(tenant_slug_valid(repeat('a', LIMIT_SLUG_MAX + 1)));
    assert_false(tenant_slug_valid(repeat('a', LIMIT_SLUG_MIN - 1)));
    assert_int_equal(LIMIT_SLUG_MIN, 3);
    assert_int_equal(LIMIT_SLUG_MAX, 63);
}

static void test_plan(void **state)
{
    (void)state;
    static const char *const good[] = {"default", "pro", "pro_2", "enterprise-mx",
                                       "a",       "0",   "_",     "-"};
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        assert_true(tenant_plan_valid(good[i]));
    }
    assert_true(tenant_plan_valid(repeat('p', 32)));

    static const char *const bad[] = {"",      "Pro",        "pro plan", "pro.1",
                                      "pro/1", "pr\xc3\xb3", " pro",     "pro\n"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_false(tenant_plan_valid(bad[i]));
    }
    assert_false(tenant_plan_valid(repeat('p', 33)));
}

static void test_status(void **state)
{
    (void)state;
    assert_true(tenant_status_valid("active"));
    assert_true(tenant_status_valid("suspended"));
    static const char *const bad[] = {"",      "Active",  "ACTIVE",     "deleted", "active ",
                                      "activ", "suspend", "suspendedx", "disabled"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_false(tenant_status_valid(bad[i]));
    }
}

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    PASSERT(v != NULL);
    return v;
}

static void expect_limits_ok(const char *text)
{
    json_t *v = load(text);
    struct perr err;
    perr_clear(&err);
    assert_int_equal(tenant_limits_validate(v, &err), PERR_OK);
    json_decref(v);
}

/* Expects a 400 naming "limits"; returns the message (static) for further checks. */
static const char *expect_limits_rejected_json(json_t *v)
{
    static struct perr err;
    perr_clear(&err);
    assert_int_equal(tenant_limits_validate(v, &err), PERR_PARAM_INVALID);
    assert_int_equal(err.code, PERR_PARAM_INVALID);
    assert_string_equal(err.param, "limits");
    assert_true(err.message[0] != '\0');
    return err.message;
}

static const char *expect_limits_rejected(const char *text)
{
    json_t *v = load(text);
    const char *msg = expect_limits_rejected_json(v);
    json_decref(v);
    return msg;
}

static void test_limits_valid(void **state)
{
    (void)state;
    expect_limits_ok("{}");
    expect_limits_ok("{\"max_payment_amount\":{}}");
    expect_limits_ok("{\"max_payment_amount\":{\"MXN\":100000,\"USD\":1}}");
    expect_limits_ok("{\"monthly_volume\":{\"CLP\":9223372036854775807}}");
    expect_limits_ok("{\"max_payment_amount\":{\"MXN\":5},\"monthly_volume\":{\"MXN\":500}}");
}

static void test_limits_not_object(void **state)
{
    (void)state;
    expect_limits_rejected("[]");
    expect_limits_rejected("\"limits\"");
    expect_limits_rejected("null");
    expect_limits_rejected("42");
    expect_limits_rejected("true");
    expect_limits_rejected("[{\"max_payment_amount\":{}}]");
    /* Each kind must itself be an object. */
    expect_limits_rejected("{\"max_payment_amount\":[]}");
    expect_limits_rejected("{\"max_payment_amount\":100000}");
    expect_limits_rejected("{\"monthly_volume\":null}");
    expect_limits_rejected("{\"monthly_volume\":\"MXN\"}");
}

static void test_limits_unknown_key(void **state)
{
    (void)state;
    const char *msg = expect_limits_rejected("{\"daily_volume\":{\"MXN\":1}}");
    assert_non_null(strstr(msg, "daily_volume"));
    expect_limits_rejected("{\"max_payment_amount\":{},\"extra\":{}}");
    expect_limits_rejected("{\"Max_Payment_Amount\":{}}");
    expect_limits_rejected("{\"\":{}}");
}

static void test_limits_bad_currency(void **state)
{
    (void)state;
    static const char *const bad[] = {"mxn", "Mxn", "MX",  "MXNN",      "M1N",
                                      "",    "MX ", "US$", "\xc3\x89UR"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        json_t *v = json_pack("{s:{s:i}}", "max_payment_amount", bad[i], 100);
        expect_limits_rejected_json(v);
        json_decref(v);
    }
    /* One bad code among good ones is enough. */
    expect_limits_rejected("{\"monthly_volume\":{\"MXN\":1,\"usd\":1,\"CLP\":1}}");
}

static void test_limits_bad_amounts(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "0",    "-1",    "-9223372036854775808", "1.5", "100.0", "1e3", "\"100\"", "true", "false",
        "null", "[100]", "{\"amount\":100}"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        char text[128];
        snprintf(text, sizeof(text), "{\"max_payment_amount\":{\"MXN\":%s}}", bad[i]);
        const char *msg = expect_limits_rejected(text);
        assert_non_null(strstr(msg, "MXN"));
        snprintf(text, sizeof(text), "{\"monthly_volume\":{\"USD\":%s}}", bad[i]);
        expect_limits_rejected(text);
    }
}

static void test_limits_too_many_entries(void **state)
{
    (void)state;
    json_t *amounts = json_object();
    for (int i = 0; i < LIMIT_LIMITS_ENTRIES; i++) {
        char code[4] = {(char)('A' + i / 26 % 26), (char)('A' + i % 26), 'X', '\0'};
        json_object_set_new(amounts, code, json_integer(i + 1));
    }
    json_t *limits = json_pack("{s:O}", "max_payment_amount", amounts);
    struct perr err;
    assert_int_equal(tenant_limits_validate(limits, &err), PERR_OK);

    json_object_set_new(amounts, "ZZZ", json_integer(1)); /* one more */
    const char *msg = expect_limits_rejected_json(limits);
    assert_non_null(strstr(msg, "max_payment_amount"));
    json_decref(limits);
    json_decref(amounts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slug_valid),
        cmocka_unit_test(test_slug_invalid),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_limits_valid),
        cmocka_unit_test(test_limits_not_object),
        cmocka_unit_test(test_limits_unknown_key),
        cmocka_unit_test(test_limits_bad_currency),
        cmocka_unit_test(test_limits_bad_amounts),
        cmocka_unit_test(test_limits_too_many_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
