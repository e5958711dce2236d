/* Payments inside the store: reading them, the one place that moves a payment between
 * states (recording the transition with its cause, the audit record and the tenant's event
 * in the caller's transaction), and applying what a provider reports. No network I/O here:
 * callers talk to connectors before or after, never inside a transaction. */
#ifndef PASARELA_PAYMENTS_H
#define PASARELA_PAYMENTS_H

#include <jansson.h>

#include "domain/payment.h"
#include "providers/connector.h"
#include "store/store.h"

#define PAYMENT_COLUMNS                                                                            \
    "tenant_id, id, amount, currency, status, status_detail, provider, provider_payment_id,"       \
    " checkout_url, description, customer, external_reference, metadata, amount_refunded,"         \
    " refund_reserved, provider_fee, created, updated, provider_account"

enum payment_col {
    PC_TENANT,
    PC_ID,
    PC_AMOUNT,
    PC_CURRENCY,
    PC_STATUS,
    PC_DETAIL,
    PC_PROVIDER,
    PC_PROVIDER_ID,
    PC_CHECKOUT,
    PC_DESCRIPTION,
    PC_CUSTOMER,
    PC_EXTREF,
    PC_METADATA,
    PC_REFUNDED,
    PC_RESERVED,
    PC_FEE,
    PC_CREATED,
    PC_UPDATED,
    PC_ACCOUNT
};

/* Who causes a change, for the transition log and the audit trail. */
struct change_ctx {
    struct app *app;
    const char *actor; /* "key:...", "admin", "provider:sandbox" */
    const char *correlation_id;
    const char *cause; /* "api", "webhook", "reconciliation" */
};

/* Reads one payment of one tenant; PERR_RESOURCE_MISSING when absent. */
enum perr_code payment_load(struct store_tx *tx, const char *tenant_id, const char *id,
                            struct store_rows *rows, struct perr *err) WARN_UNUSED;
/* The API shape of row i. */
json_t *payment_json(const struct store_rows *rows, size_t i);

/* Moves a payment from `from` to `to` (one allowed step) in tx, with the ledger postings the
 * new state calls for. */
enum perr_code payment_transition(struct store_tx *tx, const struct change_ctx *c,
                                  const char *tenant_id, const char *id, enum payment_status from,
                                  enum payment_status to, const char *detail,
                                  struct perr *err) WARN_UNUSED;

/* Applies a provider's view of the payment: every step from the current state to the
 * reported one (none when the report is behind), the refunded amount and the provider fee,
 * with their ledger postings. *changed tells whether anything moved. */
enum perr_code payment_apply_provider(struct store_tx *tx, const struct change_ctx *c,
                                      const char *tenant_id, const char *id,
                                      const struct provider_payment *pp, bool *changed,
                                      struct perr *err) WARN_UNUSED;

/* Appends an event of the tenant's stream ("payment.approved", ...) with data (borrowed). */
enum perr_code event_append(struct store_tx *tx, const char *tenant_id, const char *type,
                            const char *object_id, json_t *data, const char *correlation_id,
                            struct perr *err) WARN_UNUSED;
/* The same with data already dumped by json_dump_compact. */
enum perr_code event_append_text(struct store_tx *tx, const char *tenant_id, const char *type,
                                 const char *object_id, const char *data,
                                 const char *correlation_id, struct perr *err) WARN_UNUSED;

/* The calendar month (UTC) of now, "2026-11", for volume counters. */
void payment_month(char out[8]);

#endif
