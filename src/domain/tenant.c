#include "domain/tenant.h"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool tenant_slug_valid(const char *slug)
{
    size_t n = strlen(slug);
    if (n < LIMIT_SLUG_MIN || n > LIMIT_SLUG_MAX || !is_lower_alnum(slug[0]) ||
        !is_lower_alnum(slug[n - 1])) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_lower_alnum(slug[i]) && slug[i] != '-') {
            return false;
        }
    }
    return true;
}

bool tenant_plan_valid(const char *plan)
{
    size_t n = strlen(plan);
    if (n < 1 || n > LIMIT_PLAN_BYTES) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_lower_alnum(plan[i]) && plan[i] != '-' && plan[i] != '_') {
            return false;
        }
    }
    return true;
}

bool tenant_status_valid(const char *status)
{
    return strcmp(status, "active") == 0 || strcmp(status, "suspended") == 0;
}

static bool currency_shaped(const char *code)
{
    return strlen(code) == 3 && code[0] >= 'A' && code[0] <= 'Z' && code[1] >= 'A' &&
           code[1] <= 'Z' && code[2] >= 'A' && code[2] <= 'Z';
}

static enum perr_code validate_amounts(const char *kind, json_t *v, struct perr *err)
{
    if (!json_is_object(v)) {
        return perr_set(err, PERR_PARAM_INVALID, "limits",
                        "limits.%s must be an object of currency codes to amounts.", kind);
    }
    if (json_object_size(v) > LIMIT_LIMITS_ENTRIES) {
        return perr_set(err, PERR_PARAM_INVALID, "limits", "limits.%s has more than %d currencies.",
                        kind, LIMIT_LIMITS_ENTRIES);
    }
    const char *code;
    json_t *amount;
    json_object_foreach (v, code, amount) {
        if (!currency_shaped(code)) {
            return perr_set(err, PERR_PARAM_INVALID, "limits",
                            "limits.%s: '%.16s' is not a currency code like MXN.", kind, code);
        }
        if (!json_is_integer(amount) || json_integer_value(amount) <= 0) {
            return perr_set(err, PERR_PARAM_INVALID, "limits",
                            "limits.%s.%s must be a positive integer in minor units.", kind, code);
        }
    }
    return PERR_OK;
}

enum perr_code tenant_limits_validate(json_t *limits, struct perr *err)
{
    if (!json_is_object(limits)) {
        return perr_set(err, PERR_PARAM_INVALID, "limits", "limits must be an object.");
    }
    const char *key;
    json_t *v;
    json_object_foreach (limits, key, v) {
        if (strcmp(key, "max_payment_amount") != 0 && strcmp(key, "monthly_volume") != 0) {
            return perr_set(err, PERR_PARAM_INVALID, "limits",
                            "limits accepts max_payment_amount and monthly_volume, not '%.32s'.",
                            key);
        }
        enum perr_code rc = validate_amounts(key, v, err);
        if (rc != PERR_OK) {
            return rc;
        }
    }
    return PERR_OK;
}
