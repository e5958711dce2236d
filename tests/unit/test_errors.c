/* Unit tests for core/errors.h (the error table and perr_set) and for the JSON error body
 * respond_error builds from a struct perr (http/http.h, implemented in http/server.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/errors.h"
#include "core/json.h"
#include "http/http.h"

/* Every code of the table, so that a code added to errors.def is checked without touching
 * this file. */
static const enum perr_code all_codes[] = {
#define PERR(name, code, status, type, message) PERR_##name,
#include "core/errors.def"
#undef PERR
};

/* True when s is well-formed UTF-8 (no overlongs, surrogates or truncated sequences). */
static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80           ? 1
                   : (*p >> 5) == 0x6  ? 2
                   : (*p >> 4) == 0xe  ? 3
                   : (*p >> 3) == 0x1e ? 4
                                       : 0;
        if (n == 0 || (n == 2 && *p < 0xc2)) {
            return false;
        }
        uint32_t cp = n == 1 ? *p : n == 2 ? (*p & 0x1fu) : n == 3 ? (*p & 0x0fu) : (*p & 0x07u);
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i] & 0x3fu);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
            return false;
        }
        p += n;
    }
    return true;
}

static void test_table_is_complete(void **state)
{
    (void)state;
    assert_true(ARRAY_LEN(all_codes) > 10);
    assert_int_equal(all_codes[0], PERR_OK);
    for (size_t i = 0; i < ARRAY_LEN(all_codes); i++) {
        enum perr_code c = all_codes[i];
        assert_int_equal(c, (enum perr_code)i); /* dense, in table order */
        const char *name = perr_code_name(c);
        assert_non_null(name);
        assert_true(name[0] != '\0');
        assert_string_not_equal(name, "unknown");
        for (const char *p = name; *p; p++) {
            assert_true((*p >= 'a' && *p <= 'z') || *p == '_'); /* snake_case */
        }
        assert_in_range(perr_http_status(c), 200, 599);
        assert_non_null(perr_type(c));
        assert_non_null(perr_default_message(c));
        if (c == PERR_OK) {
            assert_int_equal(perr_http_status(c), 200);
            continue;
        }
        assert_in_range(perr_http_status(c), 400, 599);
        assert_true(perr_type(c)[0] != '\0');
        const char *msg = perr_default_message(c);
        assert_true(msg[0] != '\0');
        /* A sentence a person can act on. */
        assert_true(msg[0] >= 'A' && msg[0] <= 'Z');
        assert_int_equal(msg[strlen(msg) - 1], '.');
        assert_true(strlen(msg) < LIMIT_ERROR_MESSAGE_BYTES);
    }
}

static void test_names_unique(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(all_codes); i++) {
        for (size_t j = i + 1; j < ARRAY_LEN(all_codes); j++) {
            assert_string_not_equal(perr_code_name(all_codes[i]), perr_code_name(all_codes[j]));
        }
    }
}

/* DESIGN.md: 401 is authentication_error, 403 permission_error, other 4xx
 * invalid_request_error, 5xx api_error or provider_error. */
static void test_types_match_statuses(void **state)
{
    (void)state;
    for (size_t i = 1; i < ARRAY_LEN(all_codes); i++) {
        enum perr_code c = all_codes[i];
        int status = perr_http_status(c);
        const char *type = perr_type(c);
        if (status == 401) {
            assert_string_equal(type, "authentication_error");
        } else if (status == 403) {
            assert_string_equal(type, "permission_error");
        } else if (status == 429) {
            assert_string_equal(type, "rate_limit_error");
        } else if (status < 500) {
            assert_string_equal(type, "invalid_request_error");
        } else if (strcmp(type, "api_error") != 0) {
            assert_string_equal(type, "provider_error");
        }
    }
}

static void test_known_statuses(void **state)
{
    (void)state;
    assert_int_equal(perr_http_status(PERR_BODY_TOO_LARGE), 413);
    assert_int_equal(perr_http_status(PERR_API_KEY_MISSING), 401);
    assert_int_equal(perr_http_status(PERR_API_KEY_INVALID), 401);
    assert_int_equal(perr_http_status(PERR_PERMISSION_DENIED), 403);
    assert_int_equal(perr_http_status(PERR_RESOURCE_MISSING), 404);
    assert_int_equal(perr_http_status(PERR_ROUTE_NOT_FOUND), 404);
    assert_int_equal(perr_http_status(PERR_METHOD_NOT_ALLOWED), 405);
    assert_int_equal(perr_http_status(PERR_INTERNAL), 500);
    assert_int_equal(perr_http_status(PERR_INVALID_JSON), 400);
    assert_int_equal(perr_http_status(PERR_SLUG_TAKEN), 409);
    assert_string_equal(perr_code_name(PERR_BODY_TOO_LARGE), "body_too_large");
    assert_string_equal(perr_code_name(PERR_PARAM_UNKNOWN), "parameter_unknown");
    assert_string_equal(perr_type(PERR_API_KEY_MISSING), "authentication_error");
    assert_string_equal(perr_type(PERR_INTERNAL), "api_error");
}

static void test_unknown_code(void **state)
{
    (void)state;
    enum perr_code bogus = (enum perr_code)(ARRAY_LEN(all_codes) + 100);
    assert_string_equal(perr_code_name(bogus), "unknown");
    assert_int_equal(perr_http_status(bogus), 500);
    assert_string_equal(perr_type(bogus), "api_error");
    assert_string_equal(perr_default_message(bogus), "");
}

static void test_perr_set(void **state)
{
    (void)state;
    struct perr err;
    perr_clear(&err);
    enum perr_code rc =
        perr_set(&err, PERR_PARAM_INVALID, "amount", "'%s' must be at most %d.", "amount", 100);
    assert_int_equal(rc, PERR_PARAM_INVALID);
    assert_int_equal(err.code, PERR_PARAM_INVALID);
    assert_string_equal(err.param, "amount");
    assert_string_equal(err.message, "'amount' must be at most 100.");

    /* No format: the table's message; no param: "". */
    rc = perr_set(&err, PERR_API_KEY_MISSING, NULL, NULL);
    assert_int_equal(rc, PERR_API_KEY_MISSING);
    assert_int_equal(err.code, PERR_API_KEY_MISSING);
    assert_string_equal(err.param, "");
    assert_string_equal(err.message, perr_default_message(PERR_API_KEY_MISSING));

    /* A NULL err only returns the code. */
    assert_int_equal(perr_set(NULL, PERR_INTERNAL, "x", "y %d", 1), PERR_INTERNAL);

    perr_clear(&err);
    assert_int_equal(err.code, PERR_OK);
    assert_string_equal(err.message, "");
    assert_string_equal(err.param, "");
}

static void test_perr_set_truncates(void **state)
{
    (void)state;
    struct {
        struct perr err;
        char canary[32];
    } guarded;
    memset(guarded.canary, 0x5a, sizeof(guarded.canary));

    char long_text[3 * LIMIT_ERROR_MESSAGE_BYTES];
    memset(long_text, 'm', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    char long_param[3 * LIMIT_ERROR_PARAM_BYTES];
    memset(long_param, 'p', sizeof(long_param) - 1);
    long_param[sizeof(long_param) - 1] = '\0';

    perr_set(&guarded.err, PERR_PARAM_INVALID, long_param, "start %s end", long_text);
    assert_int_equal(strlen(guarded.err.message), LIMIT_ERROR_MESSAGE_BYTES - 1);
    assert_memory_equal(guarded.err.message, "start mmm", 9);
    assert_int_equal(strlen(guarded.err.param), LIMIT_ERROR_PARAM_BYTES - 1);
    assert_int_equal(guarded.err.param[0], 'p');
    for (size_t i = 0; i < sizeof(guarded.canary); i++) {
        assert_int_equal((unsigned char)guarded.canary[i], 0x5a);
    }

    /* Exactly at the limit: kept whole. */
    char fits[LIMIT_ERROR_MESSAGE_BYTES];
    memset(fits, 'f', sizeof(fits) - 1);
    fits[sizeof(fits) - 1] = '\0';
    perr_set(&guarded.err, PERR_PARAM_INVALID, NULL, "%s", fits);
    assert_string_equal(guarded.err.message, fits);
}

/* Was a bug in perr_set (src/core/errors.c): the param and the message are cut at a
 * byte count, which can split a multi-byte UTF-8 character. Messages quote client input
 * ("Unknown parameter '%.64s'." in json_only_keys, "%.200s" of the path in the dispatcher), so
 * this happens on ordinary requests, and respond_error then cannot turn them into JSON (see
 * test_respond_error_survives_bad_utf8). Expected: truncation backs off to a character
 * boundary. */
static void test_perr_set_truncates_on_character_boundary(void **state)
{
    (void)state;
    char text[3 * LIMIT_ERROR_MESSAGE_BYTES] = "";
    for (size_t i = 0; i + 2 < sizeof(text); i += 2) {
        memcpy(text + i, "\xc3\xa9", 2); /* U+00E9, two bytes */
        text[i + 2] = '\0';
    }
    struct perr err;
    assert_true(utf8_valid(text));
    /* 255 and 63 bytes, the room there is, are both odd: a byte cut splits an é. */
    perr_set(&err, PERR_PARAM_INVALID, text, "%s", text);
    assert_true(strlen(err.message) < LIMIT_ERROR_MESSAGE_BYTES);
    assert_true(strlen(err.message) >= LIMIT_ERROR_MESSAGE_BYTES - 4);
    assert_true(utf8_valid(err.message));
    assert_true(strlen(err.param) >= LIMIT_ERROR_PARAM_BYTES - 4);
    assert_true(utf8_valid(err.param));
}

/* The body as sorted compact JSON, for exact comparisons. */
static char *body_text(const struct response *res)
{
    assert_non_null(res->body);
    return json_dump_compact(res->body);
}

static void test_respond_error_shape(void **state)
{
    (void)state;
    struct response res = {0};
    struct perr err;
    perr_set(&err, PERR_PARAM_INVALID, "amount", "'amount' must be a positive integer.");
    respond_error(&res, &err);
    assert_int_equal(res.status, 400);
    char *text = body_text(&res);
    assert_string_equal(text,
                        "{\"error\":{\"code\":\"parameter_invalid\",\"message\":\"'amount' must"
                        " be a positive integer.\",\"param\":\"amount\",\"type\":"
                        "\"invalid_request_error\"}}");
    free(text);
    json_decref(res.body);
}

static void test_respond_error_statuses_and_types(void **state)
{
    (void)state;
    for (size_t i = 1; i < ARRAY_LEN(all_codes); i++) {
        struct response res = {0};
        struct perr err;
        perr_set(&err, all_codes[i], NULL, NULL);
        respond_error(&res, &err);
        assert_int_equal(res.status, perr_http_status(all_codes[i]));
        json_t *e = json_object_get(res.body, "error");
        assert_true(json_is_object(e));
        assert_string_equal(json_string_value(json_object_get(e, "type")), perr_type(all_codes[i]));
        assert_string_equal(json_string_value(json_object_get(e, "code")),
                            perr_code_name(all_codes[i]));
        assert_string_equal(json_string_value(json_object_get(e, "message")),
                            perr_default_message(all_codes[i]));
        /* No param to name: absent (or null), never "". */
        json_t *param = json_object_get(e, "param");
        assert_true(param == NULL || json_is_null(param));
        json_decref(res.body);
    }
}

static void test_respond_error_default_message_and_escaping(void **state)
{
    (void)state;
    struct response res = {0};
    struct perr err = {.code = PERR_API_KEY_MISSING}; /* message left empty */
    str_copy(err.param, sizeof(err.param), "Authorization");
    respond_error(&res, &err);
    assert_int_equal(res.status, 401);
    json_t *e = json_object_get(res.body, "error");
    assert_string_equal(json_string_value(json_object_get(e, "message")),
                        "Send an API key as 'Authorization: Bearer <key>'.");
    assert_string_equal(json_string_value(json_object_get(e, "param")), "Authorization");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "authentication_error");

    /* A message with quotes, backslashes and non-ASCII comes out as the same string. */
    perr_set(&err, PERR_PARAM_UNKNOWN, "nombre\xc3\xa9", "Unknown parameter '%s' \"\\\".",
             "nombre\xc3\xa9");
    respond_error(&res, &err); /* replaces (and releases) the previous body */
    assert_int_equal(res.status, 400);
    e = json_object_get(res.body, "error");
    assert_string_equal(json_string_value(json_object_get(e, "message")),
                        "Unknown parameter 'nombre\xc3\xa9' \"\\\".");
    assert_string_equal(json_string_value(json_object_get(e, "param")), "nombre\xc3\xa9");
    json_decref(res.body);
}

static void test_respond_fail(void **state)
{
    (void)state;
    struct response res = {0};
    respond_fail(&res, PERR_RESOURCE_MISSING, "id", "No tenant %s.", "ten_x");
    assert_int_equal(res.status, 404);
    char *text = body_text(&res);
    assert_string_equal(text, "{\"error\":{\"code\":\"resource_missing\",\"message\":\"No tenant "
                              "ten_x.\",\"param\":\"id\",\"type\":\"invalid_request_error\"}}");
    free(text);

    respond_fail(&res, PERR_BODY_TOO_LARGE, NULL, NULL);
    assert_int_equal(res.status, 413);
    text = body_text(&res);
    assert_string_equal(text, "{\"error\":{\"code\":\"body_too_large\",\"message\":\"The request "
                              "body is larger than 1 MiB.\",\"type\":\"invalid_request_error\"}}");
    free(text);
    json_decref(res.body);
}

/* Was a bug in respond_error (src/http/server.c): json_pack fails when the message is not
 * valid UTF-8, leaving e NULL, and the response goes out with its status and no body at all;
 * an invalid param is silently dropped (json_string returns NULL). Both reach clients:
 * GET /%ff answers a bodiless 404 (the path is quoted in the message), and an unknown body
 * key of 63 ASCII bytes followed by "é" is cut inside the "é" by "%.64s". Expected: the
 * error body is always there. */
static void test_respond_error_survives_bad_utf8(void **state)
{
    (void)state;
    struct response res = {0};
    struct perr err;
    perr_set(&err, PERR_ROUTE_NOT_FOUND, NULL, "There is no endpoint GET %s.", "/\xff");
    respond_error(&res, &err);
    assert_int_equal(res.status, 404);
    json_t *e = json_object_get(res.body, "error");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "route_not_found");
    json_decref(res.body);

    res = (struct response){0};
    char key[LIMIT_ERROR_PARAM_BYTES + 8];
    memset(key, 'a', LIMIT_ERROR_PARAM_BYTES - 2);
    memcpy(key + LIMIT_ERROR_PARAM_BYTES - 2, "\xc3\xa9", 3); /* the param cut splits the é */
    perr_set(&err, PERR_PARAM_UNKNOWN, key, "Unknown parameter.");
    respond_error(&res, &err);
    e = json_object_get(res.body, "error");
    assert_non_null(e);
    assert_non_null(json_object_get(e, "param"));
    json_decref(res.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_complete),
        cmocka_unit_test(test_names_unique),
        cmocka_unit_test(test_types_match_statuses),
        cmocka_unit_test(test_known_statuses),
        cmocka_unit_test(test_unknown_code),
        cmocka_unit_test(test_perr_set),
        cmocka_unit_test(test_perr_set_truncates),
        cmocka_unit_test(test_perr_set_truncates_on_character_boundary),
        cmocka_unit_test(test_respond_error_shape),
        cmocka_unit_test(test_respond_error_statuses_and_types),
        cmocka_unit_test(test_respond_error_default_message_and_escaping),
        cmocka_unit_test(test_respond_fail),
        cmocka_unit_test(test_respond_error_survives_bad_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
