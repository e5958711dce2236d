/* Unit tests for core/money.h: the currency table, amount and currency parsing, exact decimal
 * conversion both ways, overflow-checked addition and half-up basis-point fees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/money.h"

#define ROUND_TRIP_RANDOM 20000
#define FEE_SWEEP_AMOUNTS 20001

struct decimal_case {
    int64_t minor;
    int exponent;
    const char *decimal;
};

/* Known answers, valid in both directions: to_decimal(minor) == decimal and back. */
static const struct decimal_case decimal_cases[] = {
    {0, 0, "0"},
    {1, 0, "1"},
    {1234, 0, "1234"},
    {-1234, 0, "-1234"},
    {MONEY_MAX_MINOR, 0, "999999999999"},
    {INT64_MAX, 0, "9223372036854775807"},
    {INT64_MIN, 0, "-9223372036854775808"},
    {0, 2, "0.00"},
    {1, 2, "0.01"},
    {5, 2, "0.05"},
    {-5, 2, "-0.05"},
    {10, 2, "0.10"},
    {99, 2, "0.99"},
    {100, 2, "1.00"},
    {123450, 2, "1234.50"},
    {-123450, 2, "-1234.50"},
    {MONEY_MAX_MINOR, 2, "9999999999.99"},
    {INT64_MAX, 2, "92233720368547758.07"},
    {INT64_MIN, 2, "-92233720368547758.08"},
    {0, 3, "0.000"},
    {1, 3, "0.001"},
    {-1, 3, "-0.001"},
    {999, 3, "0.999"},
    {1000, 3, "1.000"},
    {1234567, 3, "1234.567"},
    {MONEY_MAX_MINOR, 3, "999999999.999"},
    {0, 4, "0.0000"},
    {1, 4, "0.0001"},
    {12345, 4, "1.2345"},
    {-12345, 4, "-1.2345"},
    {390123456, 4, "39012.3456"},
    {MONEY_MAX_MINOR, 4, "99999999.9999"},
    {INT64_MIN, 4, "-922337203685477.5808"},
};

static void test_currency_table_sanity(void **state)
{
    (void)state;
    size_t n = 0;
    const struct currency *all = money_currencies(&n);
    assert_non_null(all);
    assert_true(n >= 57);
    for (size_t i = 0; i < n; i++) {
        const struct currency *c = &all[i];
        assert_int_equal(strlen(c->code), 3);
        for (size_t k = 0; k < 3; k++) {
            assert_true(c->code[k] >= 'A' && c->code[k] <= 'Z');
        }
        assert_true(c->numeric > 0 && c->numeric < 1000);
        assert_in_range(c->exponent, 0, 4);
        assert_true(c->max_minor == MONEY_MAX_MINOR);
        assert_ptr_equal(money_currency(c->code), c);
        for (size_t j = i + 1; j < n; j++) {
            assert_string_not_equal(c->code, all[j].code);
            /* The one shared numeric: XCG replaced ANG in 2025 and kept 532. */
            bool guilders = c->numeric == 532 && all[j].numeric == 532;
            if (!guilders) {
                assert_int_not_equal(c->numeric, all[j].numeric);
            }
        }
    }
}

static void expect_currency(const char *code, int numeric, int exponent)
{
    const struct currency *c = money_currency(code);
    assert_non_null(c);
    assert_string_equal(c->code, code);
    assert_int_equal(c->numeric, numeric);
    assert_int_equal(c->exponent, exponent);
}

static void test_currency_known(void **state)
{
    (void)state;
    expect_currency("MXN", 484, 2);
    expect_currency("USD", 840, 2);
    expect_currency("CLP", 152, 0);
    expect_currency("CLF", 990, 4);
    expect_currency("UYI", 940, 0);
    expect_currency("UYW", 927, 4);
    expect_currency("PYG", 600, 0);
    expect_currency("JPY", 392, 0);
    expect_currency("KRW", 410, 0);
    expect_currency("COP", 170, 2);
    expect_currency("KWD", 414, 3);
    expect_currency("BHD", 48, 3);
    expect_currency("BZD", 84, 2);
    expect_currency("XCG", 532, 2);
    expect_currency("ANG", 532, 2);
    static const char *const americas[] = {
        "USD", "CAD", "MXN", "GTQ", "BZD", "HNL", "NIO", "CRC", "PAB", "SVC", "CUP", "DOP",
        "HTG", "JMD", "TTD", "BBD", "BSD", "XCD", "KYD", "BMD", "AWG", "ANG", "XCG", "SRD",
        "GYD", "COP", "VES", "BRL", "ARS", "CLP", "CLF", "PEN", "BOB", "PYG", "UYU", "UYI",
        "UYW", "FKP", "BOV", "COU", "MXV", "USN", "EUR", "GBP", "CHF", "JPY", "CNY", "INR",
        "KRW", "BHD", "KWD", "JOD", "OMR", "TND", "IQD", "LYD",
    };
    for (size_t i = 0; i < ARRAY_LEN(americas); i++) {
        assert_non_null(money_currency(americas[i]));
    }
}

static void test_currency_lookup_is_exact(void **state)
{
    (void)state;
    static const char *const unknown[] = {"mxn",  "Mxn", "MXn", "MX",  "MXNN",      " MXN",
                                          "MXN ", "",    "XXX", "ISK", "M\xc3\x9bN"};
    for (size_t i = 0; i < ARRAY_LEN(unknown); i++) {
        assert_null(money_currency(unknown[i]));
    }
    assert_null(money_currency(NULL));
}

static void test_to_decimal_known_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(decimal_cases); i++) {
        const struct decimal_case *c = &decimal_cases[i];
        char out[MONEY_DECIMAL_BYTES];
        memset(out, 'X', sizeof(out));
        money_to_decimal(c->minor, c->exponent, out);
        assert_string_equal(out, c->decimal);
    }
}

static void test_from_decimal_known_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(decimal_cases); i++) {
        const struct decimal_case *c = &decimal_cases[i];
        int64_t v = 42;
        assert_true(money_from_decimal(c->decimal, c->exponent, true, &v));
        assert_true(v == c->minor);
        if (c->minor >= 0) {
            v = 42;
            assert_true(money_from_decimal(c->decimal, c->exponent, false, &v));
            assert_true(v == c->minor);
        }
    }
    /* Short fractions are padded, extra zeros are dropped, leading zeros are harmless. */
    static const struct decimal_case lenient[] = {
        {123450, 2, "1234.5"}, {123400, 2, "1234"},  {123, 2, "1.230"}, {123, 2, "1.23000000"},
        {50, 2, "0.5"},        {1000, 3, "1"},       {1200, 3, "1.2"},  {10000, 4, "1"},
        {1234, 0, "1234.0"},   {1234, 0, "1234.00"}, {100, 2, "01"},    {5, 2, "000.05"},
        {0, 2, "-0"},          {0, 2, "-0.00"},      {-150, 2, "-1.5"}, {7, 0, "7"},
    };
    for (size_t i = 0; i < ARRAY_LEN(lenient); i++) {
        int64_t v = 42;
        assert_true(money_from_decimal(lenient[i].decimal, lenient[i].exponent, true, &v));
        assert_true(v == lenient[i].minor);
    }
}

static void expect_refused(const char *s, int exponent, bool allow_negative)
{
    int64_t v = 42;
    if (money_from_decimal(s, exponent, allow_negative, &v)) {
        fail_msg("'%s' (exponent %d) was accepted as %lld", s, exponent, (long long)v);
    }
    assert_true(v == 42); /* untouched on refusal */
}

static void test_from_decimal_rejections(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        ".",
        "1.",
        ".5",
        "-",
        "-.5",
        "1e3",
        "1E3",
        " 1",
        "1 ",
        "+1",
        "--1",
        "-+1",
        "1,5",
        "1,000.00",
        "0x10",
        "1.2.3",
        "1..2",
        "1-",
        "1.-2",
        "abc",
        "1a",
        "\t1",
        "1\n",
        "99999999999999999999",
        "99999999999999999999.00",
    };
    for (int exponent = 0; exponent <= 4; exponent++) {
        for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
            expect_refused(bad[i], exponent, true);
            expect_refused(bad[i], exponent, false);
        }
    }
    /* More decimals than the exponent, unless they are zeros. */
    expect_refused("1.234", 2, true);
    expect_refused("1.2301", 2, true);
    expect_refused("1.5", 0, true);
    expect_refused("0.00001", 4, true);
    expect_refused("0.0001", 3, true);
    /* Negatives only when allowed. */
    expect_refused("-1", 2, false);
    expect_refused("-0.05", 2, false);
    expect_refused("-0", 2, false);
    /* Just beyond int64, in both directions and through the exponent's scaling. */
    expect_refused("9223372036854775808", 0, true);
    expect_refused("-9223372036854775809", 0, true);
    expect_refused("92233720368547758.08", 2, true);
    expect_refused("-92233720368547758.09", 2, true);
    expect_refused("92233720368547759", 2, true);
    expect_refused("922337203685477.5808", 4, true);
    expect_refused("18446744073709551616", 0, true); /* 2^64 wraps to 0 if unchecked */
}

static void expect_round_trip(int64_t minor, int exponent)
{
    char s[MONEY_DECIMAL_BYTES];
    money_to_decimal(minor, exponent, s);
    int64_t back = 0;
    assert_true(money_from_decimal(s, exponent, true, &back));
    if (back != minor) {
        fail_msg("%lld -> '%s' -> %lld (exponent %d)", (long long)minor, s, (long long)back,
                 exponent);
    }
    /* The canonical string also survives the opposite trip. */
    char again[MONEY_DECIMAL_BYTES];
    money_to_decimal(back, exponent, again);
    assert_string_equal(again, s);
}

static void test_decimal_round_trips(void **state)
{
    (void)state;
    static const int64_t fixed[] = {
        0,
        1,
        9,
        10,
        11,
        99,
        100,
        101,
        999,
        1000,
        1001,
        12345,
        100000,
        999999,
        MONEY_MAX_MINOR - 1,
        MONEY_MAX_MINOR,
        MONEY_MAX_MINOR + 1,
        INT64_MAX - 1,
        INT64_MAX,
    };
    for (int exponent = 0; exponent <= 4; exponent++) {
        for (size_t i = 0; i < ARRAY_LEN(fixed); i++) {
            expect_round_trip(fixed[i], exponent);
            expect_round_trip(-fixed[i], exponent);
        }
        expect_round_trip(INT64_MIN, exponent);
        int64_t p = 1;
        for (int k = 0; k < 18; k++, p *= 10) {
            expect_round_trip(p, exponent);
            expect_round_trip(p - 1, exponent);
            expect_round_trip(-p, exponent);
        }
        uint64_t x = 0x9e3779b97f4a7c15u + (uint64_t)exponent; /* xorshift64 */
        for (int i = 0; i < ROUND_TRIP_RANDOM; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            expect_round_trip((int64_t)(x % (uint64_t)(MONEY_MAX_MINOR + 1)), exponent);
            expect_round_trip((int64_t)x, exponent); /* any int64, negative included */
        }
    }
}

static void test_add(void **state)
{
    (void)state;
    int64_t out = 7;
    assert_true(money_add(1, 2, &out));
    assert_true(out == 3);
    assert_true(money_add(MONEY_MAX_MINOR, MONEY_MAX_MINOR, &out));
    assert_true(out == 2 * MONEY_MAX_MINOR);
    assert_true(money_add(INT64_MAX - 1, 1, &out));
    assert_true(out == INT64_MAX);
    assert_true(money_add(INT64_MAX, 0, &out));
    assert_true(out == INT64_MAX);
    assert_true(money_add(INT64_MAX, INT64_MIN, &out));
    assert_true(out == -1);
    assert_true(money_add(INT64_MIN + 1, -1, &out));
    assert_true(out == INT64_MIN);
    assert_true(money_add(-5, 3, &out));
    assert_true(out == -2);

    out = 7;
    assert_false(money_add(INT64_MAX, 1, &out));
    assert_false(money_add(1, INT64_MAX, &out));
    assert_false(money_add(INT64_MAX, INT64_MAX, &out));
    assert_false(money_add(INT64_MIN, -1, &out));
    assert_false(money_add(-1, INT64_MIN, &out));
    assert_false(money_add(INT64_MIN, INT64_MIN, &out));
    assert_true(out == 7); /* untouched on overflow */
}

static void test_fee_known_answers(void **state)
{
    (void)state;
    static const int bps[] = {0, 100, 250, 299, 10000};
    static const int64_t amounts[] = {1, 99, 101, 150, 10000, MONEY_MAX_MINOR};
    /* expected[i][j]: bps[i] of amounts[j], worked by hand with half up. */
    static const int64_t expected[ARRAY_LEN(bps)][ARRAY_LEN(amounts)] = {
        {0, 0, 0, 0, 0, 0},
        {0, 1, 1, 2, 100, INT64_C(10000000000)}, /* 0.99 -> 1, 1.01 -> 1, 1.5 -> 2,
                                                    9999999999.99 -> 10000000000 */
        {0, 2, 3, 4, 250, INT64_C(25000000000)}, /* 2.475 -> 2, 2.525 -> 3, 3.75 -> 4 */
        {0, 3, 3, 4, 299, INT64_C(29900000000)}, /* 2.9601 -> 3, 3.0199 -> 3, 4.485 -> 4 */
        {1, 99, 101, 150, 10000, MONEY_MAX_MINOR},
    };
    for (size_t i = 0; i < ARRAY_LEN(bps); i++) {
        for (size_t j = 0; j < ARRAY_LEN(amounts); j++) {
            int64_t fee = money_fee_bps(amounts[j], bps[i]);
            if (fee != expected[i][j]) {
                fail_msg("%d bps of %lld: got %lld, want %lld", bps[i], (long long)amounts[j],
                         (long long)fee, (long long)expected[i][j]);
            }
        }
    }
    assert_true(money_fee_bps(100, 50) == 1); /* 0.5 rounds up */
    assert_true(money_fee_bps(100, 49) == 0); /* 0.49 rounds down */
    assert_true(money_fee_bps(300, 50) == 2); /* 1.5 rounds up */
    assert_true(money_fee_bps(1, 5000) == 1); /* 0.5 rounds up */
    assert_true(money_fee_bps(1, 4999) == 0);
    assert_true(money_fee_bps(10000, 299) == 299);
    assert_true(money_fee_bps(0, 10000) == 0);
    assert_true(money_fee_bps(MONEY_MAX_MINOR, 1) == INT64_C(100000000)); /* 99999999.9999 */
}

static void test_fee_bounds(void **state)
{
    (void)state;
    static const int bps[] = {0, 1, 49, 50, 51, 100, 250, 299, 333, 4999, 5000, 5001, 9999, 10000};
    for (size_t i = 0; i < ARRAY_LEN(bps); i++) {
        for (int64_t a = 0; a < FEE_SWEEP_AMOUNTS; a++) {
            int64_t fee = money_fee_bps(a, bps[i]);
            assert_true(fee >= 0 && fee <= a);
            /* Half up: the exact fee a*bps/10000 lies in [fee - 0.5, fee + 0.5). */
            int64_t scaled = a * bps[i];
            assert_true(fee * 10000 - 5000 <= scaled && scaled < fee * 10000 + 5000);
        }
        int64_t top = money_fee_bps(MONEY_MAX_MINOR, bps[i]);
        assert_true(top >= 0 && top <= MONEY_MAX_MINOR);
    }
}

/* Parses the JSON text json and runs money_parse_amount on its "amount" key. */
static enum perr_code parse_amount(const char *json, const char *code, int64_t *out,
                                   struct perr *err)
{
    json_error_t jerr;
    json_t *body = json_loads(json, 0, &jerr);
    if (!body) {
        fail_msg("test JSON '%s' does not parse: %s", json, jerr.text);
    }
    const struct currency *cur = money_currency(code);
    assert_non_null(cur);
    enum perr_code rc = money_parse_amount(body, "amount", cur, out, err);
    json_decref(body);
    return rc;
}

static void test_parse_amount_rejections(void **state)
{
    (void)state;
    static const char *const invalid[] = {
        "{\"amount\": 100.0}",
        "{\"amount\": 1.5}",
        "{\"amount\": 1e3}",
        "{\"amount\": \"100\"}",
        "{\"amount\": true}",
        "{\"amount\": false}",
        "{\"amount\": 0}",
        "{\"amount\": -1}",
        "{\"amount\": 1000000000000}",
        "{\"amount\": null}",
        "{\"amount\": [100]}",
        "{\"amount\": {\"value\": 1}}",
        "{\"amount\": -0.0}",
        "{\"amount\": 9223372036854775807}",
    };
    for (size_t i = 0; i < ARRAY_LEN(invalid); i++) {
        int64_t v = 42;
        struct perr err;
        perr_clear(&err);
        enum perr_code rc = parse_amount(invalid[i], "MXN", &v, &err);
        if (rc != PERR_PARAM_INVALID) {
            fail_msg("%s: got %d", invalid[i], (int)rc);
        }
        assert_int_equal(err.code, PERR_PARAM_INVALID);
        assert_string_equal(err.param, "amount");
        assert_non_null(strstr(err.message, "'amount'"));
        assert_non_null(strstr(err.message, "999999999999"));
        assert_non_null(strstr(err.message, "10.50 MXN"));
        assert_true(v == 42);
    }

    static const char *const missing[] = {"{}", "{\"Amount\": 100}", "{\"amount_minor\": 1}"};
    for (size_t i = 0; i < ARRAY_LEN(missing); i++) {
        int64_t v = 42;
        struct perr err;
        assert_int_equal(parse_amount(missing[i], "MXN", &v, &err), PERR_PARAM_MISSING);
        assert_string_equal(err.param, "amount");
        assert_non_null(strstr(err.message, "'amount'"));
        assert_true(v == 42);
    }

    /* The example in the message follows the currency's exponent. */
    int64_t v;
    struct perr err;
    assert_int_equal(parse_amount("{\"amount\": 0}", "CLP", &v, &err), PERR_PARAM_INVALID);
    assert_non_null(strstr(err.message, "1050 CLP"));
    assert_int_equal(parse_amount("{\"amount\": 0}", "KWD", &v, &err), PERR_PARAM_INVALID);
    assert_non_null(strstr(err.message, "1.050 KWD"));
    /* A NULL err is allowed: the code alone comes back. */
    json_t *body = json_loads("{\"amount\": \"1\"}", 0, NULL);
    assert_int_equal(money_parse_amount(body, "amount", money_currency("USD"), &v, NULL),
                     PERR_PARAM_INVALID);
    json_decref(body);
}

static void test_parse_amount_accepts(void **state)
{
    (void)state;
    struct perr err;
    int64_t v = 0;
    assert_int_equal(parse_amount("{\"amount\": 1}", "MXN", &v, &err), PERR_OK);
    assert_true(v == 1);
    assert_int_equal(parse_amount("{\"amount\": 999999999999}", "CLP", &v, &err), PERR_OK);
    assert_true(v == MONEY_MAX_MINOR);
    assert_int_equal(parse_amount("{\"amount\": 123450, \"currency\": \"KWD\"}", "KWD", &v, &err),
                     PERR_OK);
    assert_true(v == 123450);
    assert_int_equal(parse_amount("{\"amount\": 999999999998}", "CLF", &v, &err), PERR_OK);
    assert_true(v == MONEY_MAX_MINOR - 1);
}

static enum perr_code parse_currency(const char *json, const struct currency **out,
                                     struct perr *err)
{
    json_t *body = json_loads(json, JSON_ALLOW_NUL, NULL); /* NUL cases below */
    assert_non_null(body);
    enum perr_code rc = money_parse_currency(body, "currency", out, err);
    json_decref(body);
    return rc;
}

static void test_parse_currency(void **state)
{
    (void)state;
    const struct currency *cur = NULL;
    struct perr err;
    assert_int_equal(parse_currency("{\"currency\": \"MXN\"}", &cur, &err), PERR_OK);
    assert_ptr_equal(cur, money_currency("MXN"));
    assert_int_equal(parse_currency("{\"currency\": \"CLF\"}", &cur, &err), PERR_OK);
    assert_int_equal(cur->exponent, 4);

    static const char *const invalid[] = {
        "{\"currency\": \"mxn\"}",
        "{\"currency\": \"Mxn\"}",
        "{\"currency\": \"XYZ\"}",
        "{\"currency\": \"\"}",
        "{\"currency\": \"MX\"}",
        "{\"currency\": \"MXNN\"}",
        "{\"currency\": \" MXN\"}",
        "{\"currency\": 484}",
        "{\"currency\": null}",
        "{\"currency\": true}",
        "{\"currency\": [\"MXN\"]}",
        "{\"currency\": {}}",
        "{\"currency\": \"MXN\\u0000x\"}",
        "{\"currency\": \"MX\\u0000\"}",
        "{\"currency\": \"M\\u00dbN\"}",
    };
    for (size_t i = 0; i < ARRAY_LEN(invalid); i++) {
        cur = NULL;
        perr_clear(&err);
        enum perr_code rc = parse_currency(invalid[i], &cur, &err);
        if (rc != PERR_PARAM_INVALID) {
            fail_msg("%s: got %d", invalid[i], (int)rc);
        }
        assert_null(cur);
        assert_string_equal(err.param, "currency");
        assert_non_null(strstr(err.message, "'currency'"));
    }
    assert_int_equal(parse_currency("{\"currency\": \"mxn\"}", &cur, &err), PERR_PARAM_INVALID);
    assert_non_null(strstr(err.message, "'MXN'"));
    assert_int_equal(parse_currency("{\"currency\": \"XYZ\"}", &cur, &err), PERR_PARAM_INVALID);
    assert_non_null(strstr(err.message, "'XYZ'"));

    cur = NULL;
    assert_int_equal(parse_currency("{}", &cur, &err), PERR_PARAM_MISSING);
    assert_string_equal(err.param, "currency");
    assert_non_null(strstr(err.message, "'currency'"));
    assert_null(cur);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_currency_table_sanity),
        cmocka_unit_test(test_currency_known),
        cmocka_unit_test(test_currency_lookup_is_exact),
        cmocka_unit_test(test_to_decimal_known_answers),
        cmocka_unit_test(test_from_decimal_known_answers),
        cmocka_unit_test(test_from_decimal_rejections),
        cmocka_unit_test(test_decimal_round_trips),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_fee_known_answers),
        cmocka_unit_test(test_fee_bounds),
        cmocka_unit_test(test_parse_amount_rejections),
        cmocka_unit_test(test_parse_amount_accepts),
        cmocka_unit_test(test_parse_currency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
