/* Times as pasarela reads them: RFC 3339 in UTC for its own API, and with offsets as the
 * providers write them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "core/timeutil.h"

static void test_rfc3339_utc_only(void **state)
{
    (void)state;
    int64_t us;
    assert_true(time_parse_rfc3339("2026-11-22T10:11:12Z", &us));
    assert_int_equal(us, 1795342272LL * 1000000);
    assert_true(time_parse_rfc3339("2026-11-22T10:11:12.5Z", &us));
    assert_int_equal(us, 1795342272LL * 1000000 + 500000);
    assert_false(time_parse_rfc3339("2026-11-22T10:11:12-04:00", &us));
    assert_false(time_parse_rfc3339("2026-11-22 10:11:12Z", &us));
}

static void test_iso8601_offsets(void **state)
{
    (void)state;
    int64_t utc, west, east;
    assert_true(time_parse_iso8601("2026-11-22T14:11:12.000Z", &utc));
    assert_true(time_parse_iso8601("2026-11-22T10:11:12.000-04:00", &west));
    assert_true(time_parse_iso8601("2026-11-22T19:41:12+05:30", &east));
    assert_int_equal(utc, west);
    assert_int_equal(utc, east);
    assert_false(time_parse_iso8601("2026-11-22T10:11:12-4:00", &utc));
    assert_false(time_parse_iso8601("2026-11-22T10:11:12+24:00", &utc));
    assert_false(time_parse_iso8601("2026-11-22T10:11:12-04:00x", &utc));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_utc_only),
        cmocka_unit_test(test_iso8601_offsets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
