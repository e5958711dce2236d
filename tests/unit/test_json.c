/* Unit tests for core/json.h: safe parsing of request bodies, typed field readers, and the
 * canonical serialization the audit chain hashes (which must equal Python's
 * json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) byte for byte). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/json.h"

/* Parses a C string as a request body. */
static enum perr_code parse(const char *text, json_t **out, struct perr *err)
{
    perr_clear(err);
    return json_parse_object(text, strlen(text), out, err);
}

static void expect_parse_rejected(const char *text)
{
    json_t *v = json_true(); /* json_parse_object must reset it */
    struct perr err;
    assert_int_equal(parse(text, &v, &err), PERR_INVALID_JSON);
    assert_int_equal(err.code, PERR_INVALID_JSON);
    assert_true(err.message[0] != '\0');
    assert_null(v);
}

/* `depth` nested objects {"a":{"a":...{"a":inner}...}}; inner is a JSON text. */
static char *nested_objects(int depth, const char *inner)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    for (int i = 0; i < depth; i++) {
        PASSERT(buf_append_str(&b, "{\"a\":"));
    }
    PASSERT(buf_append_str(&b, inner));
    for (int i = 0; i < depth; i++) {
        PASSERT(buf_append_str(&b, "}"));
    }
    char *s = xstrdup(buf_str(&b));
    buf_release(&b);
    return s;
}

/* An object holding `depth` - 1 nested arrays: {"a":[[...[1]...]]}. */
static char *object_with_arrays(int depth)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    PASSERT(buf_append_str(&b, "{\"a\":"));
    for (int i = 1; i < depth; i++) {
        PASSERT(buf_append_str(&b, "["));
    }
    PASSERT(buf_append_str(&b, "1"));
    for (int i = 1; i < depth; i++) {
        PASSERT(buf_append_str(&b, "]"));
    }
    PASSERT(buf_append_str(&b, "}"));
    char *s = xstrdup(buf_str(&b));
    buf_release(&b);
    return s;
}

static void test_parse_accepts_object(void **state)
{
    (void)state;
    json_t *v = NULL;
    struct perr err;
    assert_int_equal(parse(" {\"a\": 1, \"b\": [true, null], \"c\": {\"d\": \"e\"}} \n", &v, &err),
                     PERR_OK);
    assert_non_null(v);
    assert_true(json_is_object(v));
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "c"), "d")), "e");
    json_decref(v);

    assert_int_equal(parse("{}", &v, &err), PERR_OK);
    assert_int_equal(json_object_size(v), 0);
    json_decref(v);
}

static void test_parse_rejects_empty_and_invalid(void **state)
{
    (void)state;
    json_t *v = json_true();
    struct perr err;
    assert_int_equal(json_parse_object("", 0, &v, &err), PERR_INVALID_JSON);
    assert_null(v);
    v = json_true();
    /* len governs, not the terminator: a zero-length slice of a longer string is empty. */
    assert_int_equal(json_parse_object("{}", 0, &v, &err), PERR_INVALID_JSON);
    assert_null(v);

    expect_parse_rejected("   ");
    expect_parse_rejected("{");
    expect_parse_rejected("{\"a\":}");
    expect_parse_rejected("{\"a\":1,}");
    expect_parse_rejected("{'a':1}");
    expect_parse_rejected("{\"a\":01}");
    expect_parse_rejected("{\"a\":NaN}");
    expect_parse_rejected("{} {}");
    expect_parse_rejected("{}x");
    expect_parse_rejected("{\"a\":\"\xff\"}");    /* not UTF-8 */
    expect_parse_rejected("{\"a\":\"\\u0000\"}"); /* NUL in a string */
}

static void test_parse_rejects_non_objects(void **state)
{
    (void)state;
    expect_parse_rejected("[]");
    expect_parse_rejected("[{\"a\":1}]");
    expect_parse_rejected("1");
    expect_parse_rejected("\"{}\"");
    expect_parse_rejected("null");
    expect_parse_rejected("true");
}

static void test_parse_rejects_duplicate_keys(void **state)
{
    (void)state;
    expect_parse_rejected("{\"a\":1,\"a\":2}");
    expect_parse_rejected("{\"a\":1,\"b\":{\"c\":1,\"c\":1}}");
    /* The same key in two different objects is fine. */
    json_t *v;
    struct perr err;
    assert_int_equal(parse("{\"a\":{\"a\":1},\"b\":{\"a\":2}}", &v, &err), PERR_OK);
    json_decref(v);
}

static void test_parse_depth_limit(void **state)
{
    (void)state;
    json_t *v;
    struct perr err;

    char *ok = nested_objects(LIMIT_JSON_DEPTH, "1");
    assert_int_equal(parse(ok, &v, &err), PERR_OK);
    json_decref(v);
    free(ok);

    char *deep = nested_objects(LIMIT_JSON_DEPTH + 1, "1");
    expect_parse_rejected(deep);
    free(deep);

    /* Arrays count as levels too. */
    char *arrays_ok = object_with_arrays(LIMIT_JSON_DEPTH);
    assert_int_equal(parse(arrays_ok, &v, &err), PERR_OK);
    json_decref(v);
    free(arrays_ok);

    char *arrays_deep = object_with_arrays(LIMIT_JSON_DEPTH + 1);
    expect_parse_rejected(arrays_deep);
    free(arrays_deep);

    /* Siblings do not add up: 32 levels twice side by side is still 32 deep. */
    char *one = nested_objects(LIMIT_JSON_DEPTH - 1, "1");
    char both[4096];
    int n = snprintf(both, sizeof(both), "{\"x\":%s,\"y\":%s}", one, one);
    PASSERT(n > 0 && (size_t)n < sizeof(both));
    assert_int_equal(parse(both, &v, &err), PERR_OK);
    json_decref(v);
    free(one);

    /* The message says what the limit is. */
    char *deeper = nested_objects(100, "1");
    assert_int_equal(parse(deeper, &v, &err), PERR_INVALID_JSON);
    assert_non_null(strstr(err.message, "32"));
    free(deeper);
}

static void test_parse_brackets_in_strings(void **state)
{
    (void)state;
    json_t *v;
    struct perr err;
    char brackets[LIMIT_JSON_DEPTH * 4 + 1];
    for (size_t i = 0; i < sizeof(brackets) - 1; i++) {
        brackets[i] = (i % 2) ? '[' : '{';
    }
    brackets[sizeof(brackets) - 1] = '\0';

    char text[1024];
    snprintf(text, sizeof(text), "{\"a\":\"%s\",\"%s\":1}", brackets, brackets);
    assert_int_equal(parse(text, &v, &err), PERR_OK);
    assert_string_equal(json_string_value(json_object_get(v, "a")), brackets);
    json_decref(v);

    /* An escaped quote does not end the string... */
    snprintf(text, sizeof(text), "{\"a\":\"\\\"%s\"}", brackets);
    assert_int_equal(parse(text, &v, &err), PERR_OK);
    json_decref(v);

    /* ...but an escaped backslash before the quote does not hide the quote: what follows is
     * structure again and counts. */
    char *deep = nested_objects(LIMIT_JSON_DEPTH, "1");
    snprintf(text, sizeof(text), "{\"s\":\"\\\\\",\"b\":%s}", deep);
    expect_parse_rejected(text);
    free(deep);
}

static void test_only_keys(void **state)
{
    (void)state;
    static const char *const allowed[] = {"slug", "name", "plan", NULL};
    static const char *const none[] = {NULL};
    struct perr err;
    json_t *obj = json_pack("{s:s, s:s}", "slug", "acme", "name", "Acme");
    perr_clear(&err);
    assert_int_equal(json_only_keys(obj, allowed, &err), PERR_OK);
    assert_int_equal(err.code, PERR_OK);

    json_object_set_new(obj, "colour", json_string("red"));
    assert_int_equal(json_only_keys(obj, allowed, &err), PERR_PARAM_UNKNOWN);
    assert_int_equal(err.code, PERR_PARAM_UNKNOWN);
    assert_string_equal(err.param, "colour");
    assert_non_null(strstr(err.message, "colour"));

    /* Matching is exact: neither a prefix nor a different case of a known key passes. */
    json_t *near = json_pack("{s:i}", "Slug", 1);
    assert_int_equal(json_only_keys(near, allowed, &err), PERR_PARAM_UNKNOWN);
    assert_string_equal(err.param, "Slug");
    json_decref(near);
    near = json_pack("{s:i}", "slu", 1);
    assert_int_equal(json_only_keys(near, allowed, &err), PERR_PARAM_UNKNOWN);
    json_decref(near);

    json_t *empty = json_object();
    assert_int_equal(json_only_keys(empty, none, &err), PERR_OK);
    assert_int_equal(json_only_keys(obj, none, &err), PERR_PARAM_UNKNOWN);
    json_decref(empty);
    json_decref(obj);
}

static void test_get_string(void **state)
{
    (void)state;
    struct perr err;
    const char *s = "sentinel";
    json_t *obj = json_pack("{s:s, s:n, s:i, s:b, s:s, s:s}", "name", "Acme", "nothing", "num", 5,
                            "flag", 1, "accent", "\xc3\xa9t\xc3\xa9", "five", "abcde");

    assert_int_equal(json_get_string(obj, "name", 10, &s, &err), PERR_OK);
    assert_string_equal(s, "Acme");

    s = "sentinel";
    assert_int_equal(json_get_string(obj, "absent", 10, &s, &err), PERR_OK);
    assert_null(s);
    s = "sentinel";
    assert_int_equal(json_get_string(obj, "nothing", 10, &s, &err), PERR_OK);
    assert_null(s);

    perr_clear(&err);
    assert_int_equal(json_get_string(obj, "num", 10, &s, &err), PERR_PARAM_INVALID);
    assert_string_equal(err.param, "num");
    assert_null(s);
    assert_int_equal(json_get_string(obj, "flag", 10, &s, &err), PERR_PARAM_INVALID);
    assert_string_equal(err.param, "flag");

    /* max_len is in bytes and inclusive. */
    assert_int_equal(json_get_string(obj, "five", 5, &s, &err), PERR_OK);
    assert_string_equal(s, "abcde");
    assert_int_equal(json_get_string(obj, "five", 4, &s, &err), PERR_PARAM_INVALID);
    assert_string_equal(err.param, "five");
    assert_null(s);
    assert_int_equal(json_get_string(obj, "accent", 5, &s, &err), PERR_OK);
    assert_int_equal(json_get_string(obj, "accent", 4, &s, &err), PERR_PARAM_INVALID);

    /* A string with an embedded NUL would be silently cut by C code: refused. */
    json_object_set_new(obj, "nul", json_stringn("a\0b", 3));
    assert_int_equal(json_get_string(obj, "nul", 10, &s, &err), PERR_PARAM_INVALID);
    assert_string_equal(err.param, "nul");

    json_object_set_new(obj, "arr", json_array());
    assert_int_equal(json_get_string(obj, "arr", 10, &s, &err), PERR_PARAM_INVALID);
    json_decref(obj);
}

static void expect_int_rejected(json_t *obj, const char *key, int64_t min, int64_t max)
{
    struct perr err;
    bool present = true;
    int64_t out = 12345;
    perr_clear(&err);
    assert_int_equal(json_get_int(obj, key, min, max, &present, &out, &err), PERR_PARAM_INVALID);
    assert_int_equal(err.code, PERR_PARAM_INVALID);
    assert_string_equal(err.param, key);
    assert_false(present);
    assert_int_equal(out, 12345);
}

static void test_get_int(void **state)
{
    (void)state;
    struct perr err;
    bool present = true;
    int64_t out = 0;
    json_t *obj = json_pack("{s:i, s:f, s:s, s:b, s:b, s:I, s:I, s:i}", "one", 1, "real", 1.0,
                            "str", "1", "yes", 1, "no", 0, "big", (json_int_t)INT64_MAX, "small",
                            (json_int_t)INT64_MIN, "neg", -5);

    assert_int_equal(json_get_int(obj, "one", 0, 10, &present, &out, &err), PERR_OK);
    assert_true(present);
    assert_int_equal(out, 1);

    present = true;
    assert_int_equal(json_get_int(obj, "absent", 0, 10, &present, &out, &err), PERR_OK);
    assert_false(present);

    expect_int_rejected(obj, "real", 0, 10);
    expect_int_rejected(obj, "str", 0, 10);
    expect_int_rejected(obj, "yes", 0, 10);
    expect_int_rejected(obj, "no", 0, 10);
    expect_int_rejected(obj, "one", 2, 10);
    expect_int_rejected(obj, "one", -10, 0);
    expect_int_rejected(obj, "neg", 0, INT64_MAX);
    expect_int_rejected(obj, "big", 0, INT64_MAX - 1);
    expect_int_rejected(obj, "small", INT64_MIN + 1, 0);

    /* Bounds are inclusive. */
    assert_int_equal(json_get_int(obj, "one", 1, 1, &present, &out, &err), PERR_OK);
    assert_int_equal(out, 1);
    assert_int_equal(json_get_int(obj, "big", 0, INT64_MAX, &present, &out, &err), PERR_OK);
    assert_true(out == INT64_MAX);
    assert_int_equal(json_get_int(obj, "small", INT64_MIN, 0, &present, &out, &err), PERR_OK);
    assert_true(out == INT64_MIN);
    assert_int_equal(json_get_int(obj, "neg", -5, -5, &present, &out, &err), PERR_OK);
    assert_true(out == -5);
    json_decref(obj);
}

/* Canonical form of v as a new string; NULL when json_canonical refuses v. */
static char *canonical(json_t *v)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    char *s = json_canonical(v, &b) ? xstrdup(buf_str(&b)) : NULL;
    buf_release(&b);
    return s;
}

static void expect_canonical(json_t *v, const char *expected)
{
    char *s = canonical(v);
    assert_non_null(s);
    assert_string_equal(s, expected);
    free(s);
    json_decref(v);
}

static void test_canonical_sorted_and_compact(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *v =
        json_loads("{ \"t\" : true, \"n\" : -42, \"b\" : { \"z\" : 1, \"y\" : [ 3, { \"k\" :"
                   " \"v\", \"j\" : false } ] }, \"a\" : null }",
                   0, &jerr);
    assert_non_null(v);
    /* Python: {"a":null,"b":{"y":[3,{"j":false,"k":"v"}],"z":1},"n":-42,"t":true} */
    expect_canonical(v, "{\"a\":null,\"b\":{\"y\":[3,{\"j\":false,\"k\":\"v\"}],\"z\":1},"
                        "\"n\":-42,\"t\":true}");

    expect_canonical(json_object(), "{}");
    expect_canonical(json_array(), "[]");
    expect_canonical(json_pack("[[],{},[{}]]"), "[[],{},[{}]]");
    expect_canonical(json_pack("{s:I, s:I, s:i}", "max", (json_int_t)INT64_MAX, "min",
                               (json_int_t)INT64_MIN, "zero", 0),
                     "{\"max\":9223372036854775807,\"min\":-9223372036854775808,\"zero\":0}");
    expect_canonical(json_string(""), "\"\"");
    expect_canonical(json_true(), "true");
    expect_canonical(json_null(), "null");
}

static void test_canonical_key_order_is_code_point_order(void **state)
{
    (void)state;
    json_t *v = json_object();
    json_object_set_new(v, "B", json_integer(1));
    json_object_set_new(v, "a", json_integer(2));
    json_object_set_new(v, "\xc3\xa9", json_integer(3)); /* U+00E9 */
    json_object_set_new(v, "Z", json_integer(4));
    json_object_set_new(v, "aa", json_integer(5));
    json_object_set_new(v, "", json_integer(6));
    json_object_set_new(v, "\xef\xbd\xa1", json_integer(7));     /* U+FF61 */
    json_object_set_new(v, "\xf0\x9f\x98\x80", json_integer(8)); /* U+1F600 */
    json_object_set_new(v, "\xee\x80\x80", json_integer(9));     /* U+E000 */
    json_object_set_new(v, "k\"\n", json_integer(10));
    /* Python, sorted by code point; keys escaped like values. */
    expect_canonical(v, "{\"\":6,\"B\":1,\"Z\":4,\"a\":2,\"aa\":5,\"k\\\"\\n\":10,"
                        "\"\xc3\xa9\":3,\"\xee\x80\x80\":9,\"\xef\xbd\xa1\":7,"
                        "\"\xf0\x9f\x98\x80\":8}");
}

static void test_canonical_string_escapes(void **state)
{
    (void)state;
    static const char raw[] = "q\"b\\s/ n\nr\rt\tb\bf\f x\0y\x01z\x1f del\x7f "
                              "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xe2\x80\xa8";
    /* json.dumps(raw, ensure_ascii=False): short escapes for " \ \n \r \t \b \f, lowercase
     * \u00XX for the other controls, '/', DEL, U+2028 and all non-ASCII left raw. */
    static const char expected[] =
        "\"q\\\"b\\\\s/ n\\nr\\rt\\tb\\bf\\f x\\u0000y\\u0001z\\u001f del\x7f "
        "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xe2\x80\xa8\"";
    expect_canonical(json_stringn(raw, sizeof(raw) - 1), expected);

    /* Every control character, one at a time. */
    for (int c = 0; c < 0x20; c++) {
        char in[1] = {(char)c};
        char want[16];
        switch (c) {
        case '\b':
            snprintf(want, sizeof(want), "\"\\b\"");
            break;
        case '\t':
            snprintf(want, sizeof(want), "\"\\t\"");
            break;
        case '\n':
            snprintf(want, sizeof(want), "\"\\n\"");
            break;
        case '\f':
            snprintf(want, sizeof(want), "\"\\f\"");
            break;
        case '\r':
            snprintf(want, sizeof(want), "\"\\r\"");
            break;
        default:
            snprintf(want, sizeof(want), "\"\\u%04x\"", (unsigned)c);
            break;
        }
        expect_canonical(json_stringn(in, 1), want);
    }
    expect_canonical(json_string("\x1b[0m"), "\"\\u001b[0m\"");
    expect_canonical(json_string("\x7f"), "\"\x7f\"");
}

static void test_canonical_refuses_reals(void **state)
{
    (void)state;
    json_t *v = json_real(1.5);
    assert_null(canonical(v));
    json_decref(v);

    v = json_pack("{s:i, s:[i, {s:f}]}", "a", 1, "b", 2, "c", 0.0);
    assert_null(canonical(v));
    json_decref(v);

    /* A whole number stored as a real is still a real. */
    v = json_pack("[f]", 100.0);
    assert_null(canonical(v));
    json_decref(v);
}

static void test_canonical_respects_buffer_ceiling(void **state)
{
    (void)state;
    json_t *v = json_string("0123456789");
    struct buf b;
    buf_init(&b, 8);
    assert_false(json_canonical(v, &b));
    assert_true(b.too_big);
    buf_release(&b);
    buf_init(&b, 12);
    assert_true(json_canonical(v, &b));
    assert_string_equal(buf_str(&b), "\"0123456789\"");
    buf_release(&b);
    json_decref(v);
}

static void test_dump_compact(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:i, s:s}", "b", 1, "a", "x");
    char *s = json_dump_compact(v);
    assert_string_equal(s, "{\"a\":\"x\",\"b\":1}");
    free(s);
    json_decref(v);
}

/* Provider answers keep their decimals exact: as the strings of their digits. */
static void test_loads_exact_keeps_decimals(void **state)
{
    (void)state;
    const char *text = "{\"a\": 100.50, \"b\": 7, \"c\": [-0.1, 1e3, 2E-2], "
                       "\"s\": \"x 1.5 \\\" 2.5\", \"n\": {\"d\": 0.10}}";
    json_t *v = json_loads_exact(text, strlen(text));
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "a")), "100.50");
    assert_int_equal(json_integer_value(json_object_get(v, "b")), 7);
    json_t *c = json_object_get(v, "c");
    assert_string_equal(json_string_value(json_array_get(c, 0)), "-0.1");
    assert_string_equal(json_string_value(json_array_get(c, 1)), "1e3");
    assert_string_equal(json_string_value(json_array_get(c, 2)), "2E-2");
    assert_string_equal(json_string_value(json_object_get(v, "s")), "x 1.5 \" 2.5");
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "n"), "d")), "0.10");
    json_decref(v);
    assert_null(json_loads_exact("{\"a\": 1.5", 9));
    assert_null(json_loads_exact("not json", 8));
    assert_null(json_loads_exact("{\"a\":1,\"a\":2}", 13));
}

static void test_dump_with_raw_members(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:s}", "currency_id", "ARS");
    char *s = json_dump_with_raw(v, "\"transaction_amount\":100.50");
    assert_string_equal(s, "{\"transaction_amount\":100.50,\"currency_id\":\"ARS\"}");
    free(s);
    json_decref(v);
    json_t *empty = json_object();
    s = json_dump_with_raw(empty, "\"amount\":1.5");
    assert_string_equal(s, "{\"amount\":1.5}");
    free(s);
    json_decref(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_object),
        cmocka_unit_test(test_parse_rejects_empty_and_invalid),
        cmocka_unit_test(test_parse_rejects_non_objects),
        cmocka_unit_test(test_parse_rejects_duplicate_keys),
        cmocka_unit_test(test_parse_depth_limit),
        cmocka_unit_test(test_parse_brackets_in_strings),
        cmocka_unit_test(test_only_keys),
        cmocka_unit_test(test_get_string),
        cmocka_unit_test(test_get_int),
        cmocka_unit_test(test_canonical_sorted_and_compact),
        cmocka_unit_test(test_canonical_key_order_is_code_point_order),
        cmocka_unit_test(test_canonical_string_escapes),
        cmocka_unit_test(test_canonical_refuses_reals),
        cmocka_unit_test(test_canonical_respects_buffer_ceiling),
        cmocka_unit_test(test_dump_compact),
        cmocka_unit_test(test_loads_exact_keeps_decimals),
        cmocka_unit_test(test_dump_with_raw_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
