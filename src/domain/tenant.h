/* Rules for a tenant's fields, without I/O: slug and plan shapes, the status values, and the
 * limits object (per-currency maxima in minor units). */
#ifndef PASARELA_DOMAIN_TENANT_H
#define PASARELA_DOMAIN_TENANT_H

#include <jansson.h>

#include "core/errors.h"

/* 3 to 63 of [a-z0-9-], starting and ending with a letter or digit. */
bool tenant_slug_valid(const char *slug);
/* 1 to 32 of [a-z0-9_-]. */
bool tenant_plan_valid(const char *plan);
bool tenant_status_valid(const char *status);
/* limits: {"max_payment_amount": {"MXN": 100000, ...}, "monthly_volume": {...}}: only those
 * keys, each an object of ISO-4217-shaped codes to positive integers. */
enum perr_code tenant_limits_validate(json_t *limits, struct perr *err) WARN_UNUSED;

#endif
