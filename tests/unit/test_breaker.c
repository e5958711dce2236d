/* Circuit breakers: opening on consecutive failures and on a failure rate, failing fast,
 * one half-open probe after the cool-down, and what /health shows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "core/timeutil.h"
#include "providers/breaker.h"

static void record(struct breakers *b, const char *account, bool ok, int n)
{
    for (int i = 0; i < n; i++) {
        assert_true(breaker_allow(b, "stripe", account));
        breaker_record(b, "stripe", account, ok);
    }
}

static const char *state_of(struct breakers *b, const char *account)
{
    static char state[16];
    json_t *all = breakers_json(b);
    size_t i;
    json_t *v;
    str_copy(state, sizeof(state), "closed");
    json_array_foreach (all, i, v) {
        if (strcmp(json_string_value(json_object_get(v, "account")), account) == 0) {
            str_copy(state, sizeof(state), json_string_value(json_object_get(v, "state")));
        }
    }
    json_decref(all);
    return state;
}

static void test_consecutive_failures_open_then_probe_closes(void **ctx)
{
    (void)ctx;
    struct breakers *b = breakers_new(3, 50);
    record(b, "ten_a", false, 2);
    assert_string_equal(state_of(b, "ten_a"), "closed");
    record(b, "ten_a", false, 1);
    assert_string_equal(state_of(b, "ten_a"), "open");
    assert_false(breaker_allow(b, "stripe", "ten_a"));
    assert_true(breaker_allow(b, "stripe", "ten_b")); /* another account is not affected */
    assert_true(breaker_allow(b, "mercadopago", "ten_a"));
    time_sleep_ms(60);
    assert_string_equal(state_of(b, "ten_a"), "half_open");
    assert_true(breaker_allow(b, "stripe", "ten_a"));  /* the probe */
    assert_false(breaker_allow(b, "stripe", "ten_a")); /* one at a time */
    breaker_record(b, "stripe", "ten_a", true);
    assert_string_equal(state_of(b, "ten_a"), "closed");
    assert_true(breaker_allow(b, "stripe", "ten_a"));
    breakers_free(b);
}

static void test_failed_probe_reopens(void **ctx)
{
    (void)ctx;
    struct breakers *b = breakers_new(2, 30);
    record(b, "x", false, 2);
    time_sleep_ms(40);
    assert_true(breaker_allow(b, "stripe", "x"));
    breaker_record(b, "stripe", "x", false);
    assert_string_equal(state_of(b, "x"), "open");
    assert_false(breaker_allow(b, "stripe", "x"));
    breakers_free(b);
}

static void test_failure_rate_opens(void **ctx)
{
    (void)ctx;
    struct breakers *b = breakers_new(100, 1000);
    for (int i = 0; i < 4; i++) {
        record(b, "y", true, 1);
        record(b, "y", false, 1);
    }
    assert_string_equal(state_of(b, "y"), "closed"); /* 8 calls: not enough to judge */
    record(b, "y", true, 1);
    record(b, "y", false, 1);
    assert_string_equal(state_of(b, "y"), "open"); /* 5 of 10 failed */
    breakers_free(b);
}

static void test_health_lists_only_troubled_breakers(void **ctx)
{
    (void)ctx;
    struct breakers *b = breakers_new(5, 1000);
    record(b, "fine", true, 3);
    record(b, "flaky", false, 1);
    json_t *all = breakers_json(b);
    assert_int_equal(json_array_size(all), 1);
    json_t *one = json_array_get(all, 0);
    assert_string_equal(json_string_value(json_object_get(one, "account")), "flaky");
    assert_int_equal(json_integer_value(json_object_get(one, "consecutive_failures")), 1);
    json_decref(all);
    breakers_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consecutive_failures_open_then_probe_closes),
        cmocka_unit_test(test_failed_probe_reopens),
        cmocka_unit_test(test_failure_rate_opens),
        cmocka_unit_test(test_health_lists_only_troubled_breakers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
