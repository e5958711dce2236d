/* Unit tests for domain/ledger.h: known answers for the split of a payment (platform fee bps
 * 0, 100, 250, 10000; amounts 1, 99, 101 and the largest; currencies of exponent 0, 2 and 3),
 * the proration of reversals, and a sweep of random reversal sequences proving that a full
 * reversal returns exactly the original figures and that the net never steps backwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/money.h"
#include "domain/ledger.h"

#define SANDBOX_BPS 299 /* the sandbox's provider fee (docs/payments.md) */
#define SWEEP_PAYMENTS 20000
#define SWEEP_STEPS_MAX 6

static const int fee_bps[] = {0, 100, 250, 10000};
static const int64_t amounts[] = {1, 99, 101, MONEY_MAX_MINOR};

/* expected[bps][amount] = {platform fee, provider fee (capped), net}, with the sandbox's fee. */
static const int64_t expected[4][4][3] = {
    /* 0 bps: no platform fee; the sandbox's 2.99 % is 0, 3, 3 and 29900000000 */
    {{0, 0, 1}, {0, 3, 96}, {0, 3, 98}, {0, INT64_C(29900000000), INT64_C(970099999999)}},
    /* 100 bps: 0.01 -> 0, 0.99 -> 1, 1.01 -> 1, 9999999999.99 -> 10000000000 */
    {{0, 0, 1},
     {1, 3, 95},
     {1, 3, 97},
     {INT64_C(10000000000), INT64_C(29900000000), INT64_C(960099999999)}},
    /* 250 bps: 0.025 -> 0, 2.475 -> 2, 2.525 -> 3, 24999999999.975 -> 25000000000 */
    {{0, 0, 1},
     {2, 3, 94},
     {3, 3, 95},
     {INT64_C(25000000000), INT64_C(29900000000), INT64_C(945099999999)}},
    /* 10000 bps: the platform takes everything; the provider's fee is capped at what is left */
    {{1, 0, 0}, {99, 0, 0}, {101, 0, 0}, {MONEY_MAX_MINOR, 0, 0}},
};

static void test_split_known_answers(void **state)
{
    (void)state;
    static const char *const currencies[] = {"CLP", "MXN", "KWD"}; /* exponents 0, 2, 3 */
    for (size_t c = 0; c < ARRAY_LEN(currencies); c++) {
        const struct currency *cur = money_currency(currencies[c]);
        assert_non_null(cur);
        for (size_t b = 0; b < ARRAY_LEN(fee_bps); b++) {
            for (size_t a = 0; a < ARRAY_LEN(amounts); a++) {
                struct ledger_split s;
                int64_t provider = money_fee_bps(amounts[a], SANDBOX_BPS);
                ledger_split_payment(amounts[a], fee_bps[b], provider, &s);
                const int64_t *want = expected[b][a];
                if (s.platform_fee_minor != want[0] || s.provider_fee_minor != want[1] ||
                    s.net_minor != want[2] || s.gross_minor != amounts[a]) {
                    fail_msg("%s %lld at %d bps: got %lld/%lld/%lld", cur->code,
                             (long long)amounts[a], fee_bps[b], (long long)s.platform_fee_minor,
                             (long long)s.provider_fee_minor, (long long)s.net_minor);
                }
            }
        }
    }
}

/* The same minor units read in each currency's own unit. */
static void test_split_decimals_by_exponent(void **state)
{
    (void)state;
    struct ledger_split s;
    char d[MONEY_DECIMAL_BYTES];
    ledger_split_payment(101, 250, 0, &s); /* fee 3 minor units */
    money_to_decimal(s.platform_fee_minor, money_currency("CLP")->exponent, d);
    assert_string_equal(d, "3");
    money_to_decimal(s.platform_fee_minor, money_currency("MXN")->exponent, d);
    assert_string_equal(d, "0.03");
    money_to_decimal(s.platform_fee_minor, money_currency("KWD")->exponent, d);
    assert_string_equal(d, "0.003");
    money_to_decimal(s.net_minor, money_currency("KWD")->exponent, d);
    assert_string_equal(d, "0.098");
}

/* The README's story: 100.00 with a 1 % platform fee and the sandbox's 2.99 %. */
static void test_readme_story(void **state)
{
    (void)state;
    struct ledger_split s, step, done = {0};
    ledger_split_payment(10000, 100, 299, &s);
    assert_true(s.platform_fee_minor == 100 && s.provider_fee_minor == 299 && s.net_minor == 9601);
    ledger_reversal_step(&s, &done, 2500, &step); /* a refund of 25.00 */
    assert_true(step.gross_minor == 2500 && step.platform_fee_minor == 25);
    assert_true(step.provider_fee_minor == 75 && step.net_minor == 2400);
}

static void test_prorate_known_answers(void **state)
{
    (void)state;
    assert_true(ledger_prorate(399, 2500, 10000) == 100); /* 99.75 */
    assert_true(ledger_prorate(100, 2500, 10000) == 25);
    assert_true(ledger_prorate(1, 1, 2) == 1); /* 0.5 goes up */
    assert_true(ledger_prorate(1, 1, 3) == 0); /* 0.33 */
    assert_true(ledger_prorate(2, 1, 3) == 1); /* 0.67 */
    assert_true(ledger_prorate(5, 0, 7) == 0); /* nothing reversed */
    assert_true(ledger_prorate(5, 7, 7) == 5); /* everything */
    assert_true(ledger_prorate(0, 7, 7) == 0);
    assert_true(ledger_prorate(MONEY_MAX_MINOR, MONEY_MAX_MINOR, MONEY_MAX_MINOR) ==
                MONEY_MAX_MINOR);
    /* (M-1)^2 / M = M - 2 + 1/M: beyond 64 bits on the way, exact in 128 */
    assert_true(ledger_prorate(MONEY_MAX_MINOR - 1, MONEY_MAX_MINOR - 1, MONEY_MAX_MINOR) ==
                MONEY_MAX_MINOR - 2);
    assert_true(ledger_prorate(INT64_C(29900000000), INT64_C(500000000000), MONEY_MAX_MINOR) ==
                INT64_C(14950000000)); /* 14950000000.01495 */
}

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One random payment reversed in random steps, ending fully reversed. */
static void sweep_one(uint64_t *rng)
{
    int64_t gross = (int64_t)(next_random(rng) % 3 == 0 ? next_random(rng) % 20 + 1
                                                        : next_random(rng) % MONEY_MAX_MINOR + 1);
    int bps = (int)(next_random(rng) % 10001);
    int64_t provider = (int64_t)(next_random(rng) % (uint64_t)gross + 1);
    struct ledger_split orig, done = {0}, step;
    ledger_split_payment(gross, bps, provider, &orig);
    assert_true(orig.platform_fee_minor + orig.provider_fee_minor + orig.net_minor == gross);
    assert_true(orig.net_minor >= 0 && orig.provider_fee_minor >= 0);
    int steps = (int)(next_random(rng) % SWEEP_STEPS_MAX) + 1;
    for (int i = 0; i < steps; i++) {
        int64_t room = gross - done.gross_minor;
        int64_t to = i == steps - 1
                         ? gross
                         : done.gross_minor + (int64_t)(next_random(rng) % (uint64_t)(room + 1));
        ledger_reversal_step(&orig, &done, to, &step);
        assert_true(step.net_minor >= 0 && step.platform_fee_minor >= 0);
        assert_true(step.provider_fee_minor >= -1);
        assert_true(step.gross_minor ==
                    step.platform_fee_minor + step.provider_fee_minor + step.net_minor);
        done.gross_minor += step.gross_minor;
        done.platform_fee_minor += step.platform_fee_minor;
        done.provider_fee_minor += step.provider_fee_minor;
        done.net_minor += step.net_minor;
        assert_true(done.net_minor <= orig.net_minor);
        assert_true(done.platform_fee_minor <= orig.platform_fee_minor);
        assert_true(done.provider_fee_minor >= 0 &&
                    done.provider_fee_minor <= orig.provider_fee_minor);
    }
    assert_true(done.gross_minor == orig.gross_minor && done.net_minor == orig.net_minor);
    assert_true(done.platform_fee_minor == orig.platform_fee_minor);
    assert_true(done.provider_fee_minor == orig.provider_fee_minor);
}

static void test_reversal_sweep(void **state)
{
    (void)state;
    uint64_t rng = UINT64_C(0x9e3779b97f4a7c15);
    for (int i = 0; i < SWEEP_PAYMENTS; i++) {
        sweep_one(&rng);
    }
}

/* The reversed share depends only on the total reversed, not on the path to it. */
static void test_reversal_is_path_independent(void **state)
{
    (void)state;
    struct ledger_split orig, none = {0}, one, two = {0}, step;
    ledger_split_payment(3333, 100, 100, &orig); /* fees 33 + 100 */
    ledger_reversal_step(&orig, &none, 2000, &one);
    int64_t path[] = {1, 999, 1500, 2000};
    for (size_t i = 0; i < ARRAY_LEN(path); i++) {
        ledger_reversal_step(&orig, &two, path[i], &step);
        two.gross_minor += step.gross_minor;
        two.platform_fee_minor += step.platform_fee_minor;
        two.provider_fee_minor += step.provider_fee_minor;
        two.net_minor += step.net_minor;
    }
    assert_true(one.gross_minor == two.gross_minor && one.net_minor == two.net_minor);
    assert_true(one.platform_fee_minor == two.platform_fee_minor);
    assert_true(one.provider_fee_minor == two.provider_fee_minor);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_known_answers),
        cmocka_unit_test(test_split_decimals_by_exponent),
        cmocka_unit_test(test_readme_story),
        cmocka_unit_test(test_prorate_known_answers),
        cmocka_unit_test(test_reversal_sweep),
        cmocka_unit_test(test_reversal_is_path_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
