#include "payments/payments.h"

#include "app.h"
#include "audit/audit.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "ledger/ledger.h"

enum perr_code payment_load(struct store_tx *tx, const char *tenant_id, const char *id,
                            struct store_rows *rows, struct perr *err)
{
    enum perr_code rc = store_exec(tx,
                                   "SELECT " PAYMENT_COLUMNS " FROM payments"
                                   " WHERE tenant_id = ? AND id = ?",
                                   SQL_PARAMS(SV_T(tenant_id), SV_T(id)), rows, err);
    if (rc == PERR_OK && rows->nrows == 0) {
        store_rows_free(rows);
        rc = perr_set(err, PERR_RESOURCE_MISSING, "id", "No payment %.48s.", id);
    }
    return rc;
}

static json_t *json_or_null(const char *text)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    return v ? v : json_null();
}

json_t *payment_json(const struct store_rows *r, size_t i)
{
    const char *fee = store_rows_get(r, i, PC_FEE);
    return json_pack(
        "{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:o, s:s?, s:o, s:I, s:o, s:s, s:s}",
        "id", store_rows_get(r, i, PC_ID), "object", "payment", "amount",
        (json_int_t)store_rows_int(r, i, PC_AMOUNT), "currency", store_rows_get(r, i, PC_CURRENCY),
        "status", store_rows_get(r, i, PC_STATUS), "status_detail", store_rows_get(r, i, PC_DETAIL),
        "provider", store_rows_get(r, i, PC_PROVIDER), "provider_payment_id",
        store_rows_get(r, i, PC_PROVIDER_ID), "checkout_url", store_rows_get(r, i, PC_CHECKOUT),
        "description", store_rows_get(r, i, PC_DESCRIPTION), "customer",
        json_or_null(store_rows_get(r, i, PC_CUSTOMER)), "external_reference",
        store_rows_get(r, i, PC_EXTREF), "metadata",
        json_or_null(store_rows_get(r, i, PC_METADATA)), "amount_refunded",
        (json_int_t)store_rows_int(r, i, PC_REFUNDED), "provider_fee",
        fee ? json_integer(strtoll(fee, NULL, 10)) : json_null(), "created",
        store_rows_get(r, i, PC_CREATED), "updated", store_rows_get(r, i, PC_UPDATED));
}

void payment_month(char out[8])
{
    char now[RFC3339_BYTES];
    time_format_rfc3339(time_now_unix_us(), now);
    snprintf(out, 8, "%.7s", now);
}

enum perr_code event_append(struct store_tx *tx, const char *tenant_id, const char *type,
                            const char *object_id, json_t *data, const char *correlation_id,
                            struct perr *err)
{
    char *text = json_dump_compact(data);
    enum perr_code rc =
        event_append_text(tx, tenant_id, type, object_id, text, correlation_id, err);
    free(text);
    return rc;
}

enum perr_code event_append_text(struct store_tx *tx, const char *tenant_id, const char *type,
                                 const char *object_id, const char *data,
                                 const char *correlation_id, struct perr *err)
{
    char id[LIMIT_ID_BYTES], now[RFC3339_BYTES];
    id_new("evt", id);
    time_format_rfc3339(time_now_unix_us(), now);
    return store_exec(
        tx,
        "INSERT INTO events (tenant_id, id, type, object_id, data, correlation_id, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        SQL_PARAMS(SV_T(tenant_id), SV_T(id), SV_T(type), SV_T(object_id), SV_T(data),
                   SV_T(correlation_id), SV_T(now)),
        NULL, err);
}

static enum perr_code release_volume(struct store_tx *tx, const char *tenant_id, const char *id,
                                     struct perr *err)
{
    return store_exec(tx,
                      "UPDATE tenant_volume SET amount = amount - (SELECT amount FROM payments"
                      " WHERE tenant_id = ? AND id = ?) WHERE tenant_id = ? AND currency ="
                      " (SELECT currency FROM payments WHERE tenant_id = ? AND id = ?)"
                      " AND month = substr((SELECT created FROM payments WHERE tenant_id = ?"
                      " AND id = ?), 1, 7)",
                      SQL_PARAMS(SV_T(tenant_id), SV_T(id), SV_T(tenant_id), SV_T(tenant_id),
                                 SV_T(id), SV_T(tenant_id), SV_T(id)),
                      NULL, err);
}

static enum perr_code record_transition(struct store_tx *tx, const struct change_ctx *c,
                                        const char *tenant_id, const char *id,
                                        enum payment_status from, enum payment_status to,
                                        const char *detail, struct perr *err)
{
    char now[RFC3339_BYTES];
    time_format_rfc3339_us(time_now_unix_us(), now);
    enum perr_code rc = store_exec(
        tx,
        "INSERT INTO payment_transitions (tenant_id, payment_id, from_status, to_status, cause,"
        " detail, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
        SQL_PARAMS(SV_T(tenant_id), SV_T(id), SV_T(payment_status_name(from)),
                   SV_T(payment_status_name(to)), SV_T(c->cause), SV_T(detail), SV_T(now)),
        NULL, err);
    if (rc != PERR_OK) {
        return rc;
    }
    json_t *changes = json_pack(
        "{s:{s:s}, s:{s:s, s:s}, s:s}", "before", "status", payment_status_name(from), "after",
        "status", payment_status_name(to), "status_detail", detail, "cause", c->cause);
    struct audit_event ev = {.chain_id = tenant_id,
                             .tenant_id = tenant_id,
                             .actor = c->actor,
                             .correlation_id = c->correlation_id,
                             .action = "payment.transition",
                             .entity_type = "payment",
                             .entity_id = id,
                             .changes = changes};
    rc = audit_append(tx, c->app->audit_key, &ev, err);
    json_decref(changes);
    return rc;
}

static enum perr_code emit_event(struct store_tx *tx, const struct change_ctx *c,
                                 const char *tenant_id, const char *id, const char *type,
                                 struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = payment_load(tx, tenant_id, id, &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    json_t *data = payment_json(&rows, 0);
    store_rows_free(&rows);
    rc = event_append(tx, tenant_id, type, id, data, c->correlation_id, err);
    json_decref(data);
    return rc;
}

enum perr_code payment_transition(struct store_tx *tx, const struct change_ctx *c,
                                  const char *tenant_id, const char *id, enum payment_status from,
                                  enum payment_status to, const char *detail, struct perr *err)
{
    if (!payment_transition_allowed(from, to)) {
        log_emit(LOG_WARN, "illegal payment transition refused",
                 json_pack("{s:s, s:s, s:s, s:s, s:s}", "payment", id, "from",
                           payment_status_name(from), "to", payment_status_name(to), "cause",
                           c->cause, "request_id", c->correlation_id));
        return perr_set(err, PERR_CONFLICT, NULL, "The payment cannot go from %s to %s.",
                        payment_status_name(from), payment_status_name(to));
    }
    char now[RFC3339_BYTES];
    time_format_rfc3339(time_now_unix_us(), now);
    int64_t changed = 0;
    enum perr_code rc =
        store_exec_changes(tx,
                           "UPDATE payments SET status = ?, status_detail = ?, updated = ?"
                           " WHERE tenant_id = ? AND id = ? AND status = ?",
                           SQL_PARAMS(SV_T(payment_status_name(to)), SV_T(detail), SV_T(now),
                                      SV_T(tenant_id), SV_T(id), SV_T(payment_status_name(from))),
                           &changed, err);
    if (rc == PERR_OK && changed != 1) {
        rc = perr_set(err, PERR_CONFLICT, NULL, "The payment changed meanwhile; try again.");
    }
    if (rc == PERR_OK &&
        (to == PAYMENT_REJECTED || to == PAYMENT_CANCELLED || to == PAYMENT_EXPIRED)) {
        rc = release_volume(tx, tenant_id, id, err);
    }
    if (rc == PERR_OK) {
        rc = record_transition(tx, c, tenant_id, id, from, to, detail, err);
    }
    if (rc == PERR_OK) {
        rc = emit_event(tx, c, tenant_id, id, payment_event_type(to), err);
    }
    if (rc == PERR_OK) {
        rc = ledger_sync_payment(tx, c, tenant_id, id, err);
    }
    return rc;
}

/* Refunds and the fee as the provider reports them; never lowers what is recorded. */
static enum perr_code apply_amounts(struct store_tx *tx, const char *tenant_id, const char *id,
                                    const struct store_rows *row, const struct provider_payment *pp,
                                    bool *changed, struct perr *err)
{
    int64_t amount = store_rows_int(row, 0, PC_AMOUNT);
    int64_t refunded = store_rows_int(row, 0, PC_REFUNDED);
    int64_t reported = pp->amount_refunded > amount ? amount : pp->amount_refunded;
    bool fee_missing = store_rows_get(row, 0, PC_FEE) == NULL && pp->has_fee;
    if (reported <= refunded && !fee_missing) {
        return PERR_OK;
    }
    *changed = true;
    int64_t new_refunded = reported > refunded ? reported : refunded;
    int64_t reserved = store_rows_int(row, 0, PC_RESERVED);
    return store_exec(
        tx,
        "UPDATE payments SET amount_refunded = ?, refund_reserved = ?,"
        " provider_fee = coalesce(provider_fee, ?) WHERE tenant_id = ? AND id = ?",
        SQL_PARAMS(SV_I(new_refunded), SV_I(reserved > new_refunded ? reserved : new_refunded),
                   pp->has_fee ? SV_I(pp->fee) : SV_T(NULL), SV_T(tenant_id), SV_T(id)),
        NULL, err);
}

enum perr_code payment_apply_provider(struct store_tx *tx, const struct change_ctx *c,
                                      const char *tenant_id, const char *id,
                                      const struct provider_payment *pp, bool *changed,
                                      struct perr *err)
{
    struct store_rows rows;
    *changed = false;
    enum perr_code rc = payment_load(tx, tenant_id, id, &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    enum payment_status current;
    PASSERT(payment_status_parse(store_rows_get(&rows, 0, PC_STATUS), &current));
    rc = apply_amounts(tx, tenant_id, id, &rows, pp, changed, err);
    store_rows_free(&rows);
    enum payment_status path[PAYMENT_PATH_MAX];
    size_t steps = rc == PERR_OK ? payment_transition_path(current, pp->status, path) : 0;
    for (size_t i = 0; i < steps && rc == PERR_OK; i++) {
        const char *detail = path[i] == pp->status ? pp->status_detail : "";
        rc = payment_transition(tx, c, tenant_id, id, current, path[i], detail, err);
        current = path[i];
        *changed = true;
    }
    if (rc == PERR_OK && *changed && steps == 0) {
        rc = ledger_sync_payment(tx, c, tenant_id, id, err); /* a refund without a new state */
    }
    return rc;
}
