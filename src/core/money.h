/* Money: ISO 4217 currencies and amounts as int64_t counts of the currency's minor unit.
 * No float or double anywhere. Decimal strings (what some providers speak) convert exactly
 * in both directions using the currency's exponent. docs/money.md states every rule. */
#ifndef PASARELA_MONEY_H
#define PASARELA_MONEY_H

#include <jansson.h>

#include "core/errors.h"

/* The largest amount accepted for any currency, in minor units: 999,999,999,999. */
#define MONEY_MAX_MINOR INT64_C(999999999999)
#define MONEY_DECIMAL_BYTES 32 /* longest decimal string with NUL */

struct currency {
    char code[4];      /* "MXN" */
    int numeric;       /* 484 */
    int exponent;      /* digits after the decimal point: 0 (CLP, JPY), 2 (MXN), 3 (KWD), 4 (CLF) */
    int64_t max_minor; /* the largest accepted amount in minor units */
};

/* The currency with that exact upper-case code, or NULL. */
const struct currency *money_currency(const char *code);
/* Every known currency, for docs and tests. */
const struct currency *money_currencies(size_t *count);

/* Validates body[key] as an amount of cur: a JSON integer (not 1.0, "100", true), > 0 and
 * <= cur->max_minor. Errors name `key`. */
enum perr_code money_parse_amount(json_t *body, const char *key, const struct currency *cur,
                                  int64_t *out, struct perr *err) WARN_UNUSED;
/* Validates body[key] as a currency code. */
enum perr_code money_parse_currency(json_t *body, const char *key, const struct currency **out,
                                    struct perr *err) WARN_UNUSED;

/* "1234.50" for 123450 with exponent 2; "1234" for CLP; "-0.05" for -5. Always exactly
 * `exponent` decimals. */
void money_to_decimal(int64_t minor, int exponent, char out[MONEY_DECIMAL_BYTES]);
/* Parses "1234.5", "1234.50", "1234" (and "-1.5" when allow_negative) into minor units of
 * the given exponent. Refused (false): empty, signs other than a leading '-', exponents
 * ("1e3"), spaces, more decimals than the exponent unless they are zeros ("1.230" is 123
 * for exponent 2; "1.234" is refused), leading or trailing '.', values beyond int64. */
bool money_from_decimal(const char *s, int exponent, bool allow_negative, int64_t *out);

/* a + b into *out; false on overflow. */
bool money_add(int64_t a, int64_t b, int64_t *out) WARN_UNUSED;
/* The fee of `bps` basis points (0..10000) of amount, rounded half up to the minor unit
 * (amount >= 0): (amount * bps + 5000) / 10000, computed without overflow for every amount
 * <= MONEY_MAX_MINOR. Never exceeds amount. */
int64_t money_fee_bps(int64_t amount, int bps);

#endif
