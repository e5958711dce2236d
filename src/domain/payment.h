/* The payment state machine, without I/O. One function decides every transition:
 *   pending -> approved | rejected | cancelled | expired
 *   approved -> partially_refunded | refunded | charged_back
 *   partially_refunded -> refunded | charged_back
 * rejected, cancelled, expired, refunded and charged_back are terminal. A provider state that
 * lies beyond the next step (a refund reported for a payment still pending here, because the
 * approval arrived late or never) is reached through the states in between; a state behind
 * the current one is never applied: late and repeated events do not move a payment back. */
#ifndef PASARELA_DOMAIN_PAYMENT_H
#define PASARELA_DOMAIN_PAYMENT_H

#include "core/common.h"

enum payment_status {
    PAYMENT_PENDING,
    PAYMENT_APPROVED,
    PAYMENT_REJECTED,
    PAYMENT_CANCELLED,
    PAYMENT_EXPIRED,
    PAYMENT_PARTIALLY_REFUNDED,
    PAYMENT_REFUNDED,
    PAYMENT_CHARGED_BACK,
};
#define PAYMENT_STATUS_COUNT 8
#define PAYMENT_PATH_MAX 3

const char *payment_status_name(enum payment_status s);
bool payment_status_parse(const char *name, enum payment_status *out);
bool payment_status_terminal(enum payment_status s);
/* True when from -> to is one step of the machine. */
bool payment_transition_allowed(enum payment_status from, enum payment_status to);
/* The steps that lead from `from` to `to` (excluding from), at most PAYMENT_PATH_MAX;
 * 0 when `to` is `from` or cannot be reached (behind it, or past a terminal state). */
size_t payment_transition_path(enum payment_status from, enum payment_status to,
                               enum payment_status path[PAYMENT_PATH_MAX]);
/* The event type a tenant sees for entering s: "payment.approved", ... */
const char *payment_event_type(enum payment_status s);

#endif
