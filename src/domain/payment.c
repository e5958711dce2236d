#include "domain/payment.h"

static const char *const names[PAYMENT_STATUS_COUNT] = {
    [PAYMENT_PENDING] = "pending",   [PAYMENT_APPROVED] = "approved",
    [PAYMENT_REJECTED] = "rejected", [PAYMENT_CANCELLED] = "cancelled",
    [PAYMENT_EXPIRED] = "expired",   [PAYMENT_PARTIALLY_REFUNDED] = "partially_refunded",
    [PAYMENT_REFUNDED] = "refunded", [PAYMENT_CHARGED_BACK] = "charged_back",
};

static const char *const event_types[PAYMENT_STATUS_COUNT] = {
    [PAYMENT_PENDING] = "payment.created",
    [PAYMENT_APPROVED] = "payment.approved",
    [PAYMENT_REJECTED] = "payment.rejected",
    [PAYMENT_CANCELLED] = "payment.cancelled",
    [PAYMENT_EXPIRED] = "payment.expired",
    [PAYMENT_PARTIALLY_REFUNDED] = "payment.partially_refunded",
    [PAYMENT_REFUNDED] = "payment.refunded",
    [PAYMENT_CHARGED_BACK] = "payment.charged_back",
};

const char *payment_status_name(enum payment_status s)
{
    PASSERT((unsigned)s < PAYMENT_STATUS_COUNT);
    return names[s];
}

const char *payment_event_type(enum payment_status s)
{
    PASSERT((unsigned)s < PAYMENT_STATUS_COUNT);
    return event_types[s];
}

bool payment_status_parse(const char *name, enum payment_status *out)
{
    for (int i = 0; i < PAYMENT_STATUS_COUNT; i++) {
        if (strcmp(names[i], name) == 0) {
            *out = (enum payment_status)i;
            return true;
        }
    }
    return false;
}

bool payment_status_terminal(enum payment_status s)
{
    return s == PAYMENT_REJECTED || s == PAYMENT_CANCELLED || s == PAYMENT_EXPIRED ||
           s == PAYMENT_REFUNDED || s == PAYMENT_CHARGED_BACK;
}

bool payment_transition_allowed(enum payment_status from, enum payment_status to)
{
    switch (from) {
    case PAYMENT_PENDING:
        return to == PAYMENT_APPROVED || to == PAYMENT_REJECTED || to == PAYMENT_CANCELLED ||
               to == PAYMENT_EXPIRED;
    case PAYMENT_APPROVED:
        return to == PAYMENT_PARTIALLY_REFUNDED || to == PAYMENT_REFUNDED ||
               to == PAYMENT_CHARGED_BACK;
    case PAYMENT_PARTIALLY_REFUNDED:
        return to == PAYMENT_REFUNDED || to == PAYMENT_CHARGED_BACK;
    case PAYMENT_REJECTED:
    case PAYMENT_CANCELLED:
    case PAYMENT_EXPIRED:
    case PAYMENT_REFUNDED:
    case PAYMENT_CHARGED_BACK:
        return false;
    }
    return false;
}

size_t payment_transition_path(enum payment_status from, enum payment_status to,
                               enum payment_status path[PAYMENT_PATH_MAX])
{
    if (payment_transition_allowed(from, to)) {
        path[0] = to;
        return 1;
    }
    /* Every state after approval is reached through approved. */
    if (from == PAYMENT_PENDING && payment_transition_allowed(PAYMENT_APPROVED, to)) {
        path[0] = PAYMENT_APPROVED;
        path[1] = to;
        return 2;
    }
    return 0;
}
