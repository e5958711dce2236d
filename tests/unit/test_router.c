/* Unit tests for http/router.h: literal and {param} segments, 405 with the methods a path
 * accepts, 404 for anything else, and malformed paths (empty segments, trailing or double
 * slashes, too many segments, no leading slash, too long). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/router.h"

static void dummy(struct request *req, struct response *res)
{
    (void)req;
    (void)res;
}

/* The router looks only at method and pattern; auth and flags are the dispatcher's. */
#define ROUTE(m, p)                                                                                \
    {                                                                                              \
        .method = m, .pattern = p, .handler = dummy                                                \
    }

static const struct route routes[] = {
    ROUTE("GET", "/health"),
    ROUTE("POST", "/v1/tenants"),
    ROUTE("GET", "/v1/tenants"),
    ROUTE("GET", "/v1/tenants/search"),
    ROUTE("GET", "/v1/tenants/{id}"),
    ROUTE("PATCH", "/v1/tenants/{id}"),
    ROUTE("POST", "/v1/tenants/{id}/keys"),
    ROUTE("DELETE", "/v1/tenants/{id}/keys/{key_id}"),
    ROUTE("GET", "/a/b/c/d/e/f/g/{h}"),   /* LIMIT_PATH_SEGMENTS segments */
    ROUTE("GET", "/a/b/c/d/e/f/g/h/{i}"), /* one more: can never match */
};

struct matched {
    enum router_result result;
    struct router_match m;
    char storage[LIMIT_PATH_BYTES];
};

static enum router_result match(const char *method, const char *path, struct matched *out)
{
    memset(&out->m, 0xa5, sizeof(out->m)); /* router_match must not rely on a clean struct */
    out->result = router_match(routes, ARRAY_LEN(routes), method, path, out->storage, &out->m);
    return out->result;
}

static void expect_found(const char *method, const char *path, size_t route_index,
                         const char *const *params, size_t nparams)
{
    struct matched x;
    assert_int_equal(match(method, path, &x), ROUTER_FOUND);
    assert_ptr_equal(x.m.route, &routes[route_index]);
    assert_int_equal(x.m.nparams, nparams);
    for (size_t i = 0; i < nparams; i++) {
        assert_string_equal(x.m.params[i], params[i]);
        /* Values point into the caller's storage, not into the path. */
        assert_true(x.m.params[i] >= x.storage && x.m.params[i] < x.storage + sizeof(x.storage));
    }
}

static void expect_not_found(const char *method, const char *path)
{
    struct matched x;
    assert_int_equal(match(method, path, &x), ROUTER_NOT_FOUND);
    assert_null(x.m.route);
    assert_int_equal(x.m.nparams, 0);
}

static void expect_wrong_method(const char *method, const char *path, const char *allow)
{
    struct matched x;
    assert_int_equal(match(method, path, &x), ROUTER_WRONG_METHOD);
    assert_null(x.m.route);
    assert_string_equal(x.m.allow, allow);
}

static void test_literal_match(void **state)
{
    (void)state;
    expect_found("GET", "/health", 0, NULL, 0);
    expect_found("POST", "/v1/tenants", 1, NULL, 0);
    expect_found("GET", "/v1/tenants", 2, NULL, 0);
    /* A literal earlier in the table wins over a {param} that would also match. */
    expect_found("GET", "/v1/tenants/search", 3, NULL, 0);
}

static void test_param_capture(void **state)
{
    (void)state;
    static const char *const one[] = {"ten_0VbfNHYuiaKwuAJFUdnQPF7M"};
    expect_found("GET", "/v1/tenants/ten_0VbfNHYuiaKwuAJFUdnQPF7M", 4, one, 1);
    expect_found("PATCH", "/v1/tenants/ten_0VbfNHYuiaKwuAJFUdnQPF7M", 5, one, 1);
    expect_found("POST", "/v1/tenants/ten_0VbfNHYuiaKwuAJFUdnQPF7M/keys", 6, one, 1);

    /* Any non-empty segment is a value, byte for byte. */
    static const char *const odd[] = {"a.b~c%20d:e@f"};
    expect_found("GET", "/v1/tenants/a.b~c%20d:e@f", 4, odd, 1);
    static const char *const utf8[] = {"M\xc3\xa9xico"};
    expect_found("GET", "/v1/tenants/M\xc3\xa9xico", 4, utf8, 1);
}

static void test_multiple_params(void **state)
{
    (void)state;
    static const char *const two[] = {"ten_1", "key_2"};
    expect_found("DELETE", "/v1/tenants/ten_1/keys/key_2", 7, two, 2);

    static const char *const last[] = {"eighth"};
    expect_found("GET", "/a/b/c/d/e/f/g/eighth", 8, last, 1);

    /* The path itself is left as it was. */
    struct matched x;
    const char path[] = "/v1/tenants/ten_1/keys/key_2";
    assert_int_equal(match("DELETE", path, &x), ROUTER_FOUND);
    assert_string_equal(path, "/v1/tenants/ten_1/keys/key_2");
}

static void test_wrong_method(void **state)
{
    (void)state;
    expect_wrong_method("DELETE", "/v1/tenants", "POST, GET");
    expect_wrong_method("PUT", "/v1/tenants/ten_1", "GET, PATCH");
    expect_wrong_method("GET", "/v1/tenants/ten_1/keys", "POST");
    expect_wrong_method("POST", "/health", "GET");
    expect_wrong_method("GET", "/v1/tenants/ten_1/keys/key_2", "DELETE");
    /* Methods are case-sensitive (RFC 9110). */
    expect_wrong_method("get", "/health", "GET");
    /* A literal and a {param} route both matching the path both count. */
    struct matched x;
    assert_int_equal(match("DELETE", "/v1/tenants/search", &x), ROUTER_WRONG_METHOD);
    assert_non_null(strstr(x.m.allow, "GET"));
    assert_non_null(strstr(x.m.allow, "PATCH"));
}

static void test_allow_does_not_overflow(void **state)
{
    (void)state;
    struct route many[20];
    static const char *const methods[] = {"OPTIONS", "PROPFIND", "PROPPATCH", "MKCOL"};
    for (size_t i = 0; i < ARRAY_LEN(many); i++) {
        many[i] = (struct route){
            .method = methods[i % ARRAY_LEN(methods)], .pattern = "/x", .handler = dummy};
    }
    char storage[LIMIT_PATH_BYTES];
    struct router_match m;
    assert_int_equal(router_match(many, ARRAY_LEN(many), "GET", "/x", storage, &m),
                     ROUTER_WRONG_METHOD);
    assert_true(strlen(m.allow) < sizeof(m.allow));
    assert_string_equal(m.allow, "OPTIONS, PROPFIND, PROPPATCH, MKCOL"); /* each method once */
}

static void test_unknown_path(void **state)
{
    (void)state;
    expect_not_found("GET", "/v2/tenants");
    expect_not_found("GET", "/v1");
    expect_not_found("GET", "/healthz");
    expect_not_found("GET", "/healt");
    expect_not_found("GET", "/Health");
    expect_not_found("GET", "/health/extra");
    expect_not_found("GET", "/v1/tenants/ten_1/other");
    expect_not_found("DELETE", "/v1/tenants/ten_1/keys/key_2/more");
    expect_not_found("GET", "/");

    struct matched x;
    assert_int_equal(match("GET", "/nowhere", &x), ROUTER_NOT_FOUND);
    assert_string_equal(x.m.allow, "");
}

static void test_root(void **state)
{
    (void)state;
    static const struct route root[] = {ROUTE("GET", "/")};
    char storage[LIMIT_PATH_BYTES];
    struct router_match m;
    assert_int_equal(router_match(root, 1, "GET", "/", storage, &m), ROUTER_FOUND);
    assert_ptr_equal(m.route, &root[0]);
    assert_int_equal(m.nparams, 0);
    assert_int_equal(router_match(root, 1, "POST", "/", storage, &m), ROUTER_WRONG_METHOD);
    assert_string_equal(m.allow, "GET");
    assert_int_equal(router_match(root, 1, "GET", "//", storage, &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match(root, 1, "GET", "/x", storage, &m), ROUTER_NOT_FOUND);
}

static void test_trailing_slash(void **state)
{
    (void)state;
    expect_not_found("GET", "/health/");
    expect_not_found("GET", "/v1/tenants/");
    expect_not_found("POST", "/v1/tenants/");
    expect_not_found("GET", "/v1/tenants/ten_1/");
    expect_not_found("DELETE", "/v1/tenants/ten_1/keys/key_2/");
}

static void test_double_slash_and_empty_segments(void **state)
{
    (void)state;
    expect_not_found("GET", "//health");
    expect_not_found("GET", "/v1//tenants");
    expect_not_found("GET", "/v1/tenants//");
    /* An empty segment is not a value for {id}. */
    expect_not_found("POST", "/v1/tenants//keys");
    expect_not_found("DELETE", "/v1/tenants/ten_1/keys/");
    expect_not_found("DELETE", "/v1/tenants//keys/key_2");
    expect_not_found("GET", "///");
}

static void test_too_many_segments(void **state)
{
    (void)state;
    /* Exactly LIMIT_PATH_SEGMENTS segments match; one more is refused before matching, so
     * the nine-segment route is unreachable. */
    expect_found("GET", "/a/b/c/d/e/f/g/h", 8, (const char *const[]){"h"}, 1);
    expect_not_found("GET", "/a/b/c/d/e/f/g/h/i");
    expect_not_found("GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z");
    expect_not_found("POST", "/1/2/3/4/5/6/7/8/9");
}

static void test_path_must_start_with_slash(void **state)
{
    (void)state;
    expect_not_found("GET", "");
    expect_not_found("GET", "health");
    expect_not_found("GET", "xhealth"); /* would be "/health" if the first byte were skipped */
    expect_not_found("POST", "_v1/tenants");
    expect_not_found("POST", "v1/tenants");
    expect_not_found("GET", " /health");
    expect_not_found("GET", "*");
    expect_not_found("GET", "http://x/health");
}

static void test_path_too_long(void **state)
{
    (void)state;
    char path[LIMIT_PATH_BYTES + 16];
    memcpy(path, "/v1/tenants/", 12);
    memset(path + 12, 'x', sizeof(path) - 13);
    path[sizeof(path) - 1] = '\0';
    expect_not_found("GET", path);

    /* The longest path that fits in storage still routes. */
    path[LIMIT_PATH_BYTES - 1] = '\0';
    struct matched x;
    assert_int_equal(match("GET", path, &x), ROUTER_FOUND);
    assert_int_equal(strlen(x.m.params[0]), LIMIT_PATH_BYTES - 1 - 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_match),
        cmocka_unit_test(test_param_capture),
        cmocka_unit_test(test_multiple_params),
        cmocka_unit_test(test_wrong_method),
        cmocka_unit_test(test_allow_does_not_overflow),
        cmocka_unit_test(test_unknown_path),
        cmocka_unit_test(test_root),
        cmocka_unit_test(test_trailing_slash),
        cmocka_unit_test(test_double_slash_and_empty_segments),
        cmocka_unit_test(test_too_many_segments),
        cmocka_unit_test(test_path_must_start_with_slash),
        cmocka_unit_test(test_path_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
