/* /v1/payouts: a tenant (or the operator for it) asks for its available balance to be paid
 * out; the operator marks the payout paid with its bank reference, or failed, which returns
 * the money. Each step is one write transaction on the store's writer: the payout row, its
 * ledger posting, its audit record and the idempotent answer together. The balance is checked
 * inside that transaction, so concurrent payouts never take more than is available. */
#include "api/api.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/money.h"
#include "core/timeutil.h"
#include "http/idempotency.h"
#include "ledger/ledger.h"

#define PAYOUT_COLUMNS                                                                             \
    "tenant_id, id, amount, currency, status, reference, failure_reason, created, updated"
#define LIMIT_PAYOUT_TEXT_BYTES 200 /* a payout's reference or failure reason */

static json_t *payout_json(const struct store_rows *r, size_t i)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s?, s:s?, s:s, s:s}", "id",
                     store_rows_get(r, i, 1), "object", "payout", "amount",
                     (json_int_t)store_rows_int(r, i, 2), "currency", store_rows_get(r, i, 3),
                     "status", store_rows_get(r, i, 4), "reference", store_rows_get(r, i, 5),
                     "failure_reason", store_rows_get(r, i, 6), "created", store_rows_get(r, i, 7),
                     "updated", store_rows_get(r, i, 8));
}

/* Reads the payout; scoped to the request's tenant when it has one (the operator without
 * Pasarela-Tenant sees every tenant's). Another tenant's payout is missing, never forbidden. */
static enum perr_code load_payout(struct request *req, struct store_tx *tx, const char *id,
                                  struct store_rows *rows, struct perr *err)
{
    struct sql_query q;
    sql_init(&q, "SELECT " PAYOUT_COLUMNS " FROM payouts");
    sql_where(&q, "id = ?", SV_T(id));
    if (req->auth.tenant_id[0]) {
        sql_where(&q, "tenant_id = ?", SV_T(req->auth.tenant_id));
    }
    enum perr_code rc = store_exec_query(tx, &q, rows, err);
    sql_release(&q);
    if (rc == PERR_OK && rows->nrows == 0) {
        store_rows_free(rows);
        rc = perr_set(err, PERR_RESOURCE_MISSING, "id", "No payout %.48s.", id);
    }
    return rc;
}

static struct change_ctx change_of(struct request *req)
{
    return (struct change_ctx){.app = req->app,
                               .actor = req->auth.actor,
                               .correlation_id = req->request_id,
                               .cause = "api"};
}

/* In tx: the answer (the payout as it now is), stored as the idempotent answer. */
static enum perr_code answer(struct request *req, struct store_tx *tx, const char *id, int status,
                             json_t **body, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = load_payout(req, tx, id, &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    *body = payout_json(&rows, 0);
    store_rows_free(&rows);
    rc = idempotency_store(req, tx, status, *body, err);
    if (rc != PERR_OK) {
        json_decref(*body);
        *body = NULL;
    }
    return rc;
}

struct payout_request {
    struct request *req;
    char id[LIMIT_ID_BYTES];
    int64_t amount;
    const struct currency *currency;
    json_t *body; /* the answer, once committed */
};

static enum perr_code request_tx(struct store_tx *tx, void *arg, struct perr *err)
{
    struct payout_request *p = arg;
    struct request *req = p->req;
    const char *tenant = req->auth.tenant_id;
    struct change_ctx c = change_of(req);
    char now[RFC3339_BYTES];
    time_format_rfc3339(time_now_unix_us(), now);
    enum perr_code rc = ledger_post_payout(tx, &c, tenant, p->id, p->currency->code, p->amount,
                                           LEDGER_PAYOUT_REQUESTED, err);
    if (rc == PERR_OK) {
        rc = store_exec(tx,
                        "INSERT INTO payouts (" PAYOUT_COLUMNS ")"
                        " VALUES (?, ?, ?, ?, 'requested', NULL, NULL, ?, ?)",
                        SQL_PARAMS(SV_T(tenant), SV_T(p->id), SV_I(p->amount),
                                   SV_T(p->currency->code), SV_T(now), SV_T(now)),
                        NULL, err);
    }
    if (rc == PERR_OK) {
        json_t *changes = api_changes(
            json_object(), json_pack("{s:I, s:s, s:s}", "amount", (json_int_t)p->amount, "currency",
                                     p->currency->code, "status", "requested"));
        rc = api_audit(req, tx, tenant, "payout.requested", "payout", p->id, changes, err);
        json_decref(changes);
    }
    return rc == PERR_OK ? answer(req, tx, p->id, 201, &p->body, err) : rc;
}

void api_payouts_create(struct request *req, struct response *res)
{
    static const char *const allowed[] = {"amount", "currency", NULL};
    struct payout_request p = {.req = req};
    struct perr err;
    enum perr_code rc = json_only_keys(req->json, allowed, &err);
    if (rc == PERR_OK) {
        rc = money_parse_currency(req->json, "currency", &p.currency, &err);
    }
    if (rc == PERR_OK) {
        rc = money_parse_amount(req->json, "amount", p.currency, &p.amount, &err);
    }
    if (rc == PERR_OK) {
        id_new("po", p.id);
        rc = store_write(req->app->store, request_tx, &p, &err);
    }
    if (rc != PERR_OK) {
        req->idem.stored = false; /* the transaction that stored it did not commit */
        respond_error(res, &err);
        return;
    }
    respond_json(res, 201, p.body);
}

/* --- the operator settles a payout --------------------------------------------------- */

struct payout_settle {
    struct request *req;
    bool paid;
    const char *text; /* the reference, or the failure reason */
    json_t *body;
};

static enum perr_code settle_tx(struct store_tx *tx, void *arg, struct perr *err)
{
    struct payout_settle *s = arg;
    struct request *req = s->req;
    const char *id = req->path_params[0];
    struct store_rows rows;
    enum perr_code rc = load_payout(req, tx, id, &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    char tenant[LIMIT_ID_BYTES], currency[4];
    str_copy(tenant, sizeof(tenant), store_rows_get(&rows, 0, 0));
    str_copy(currency, sizeof(currency), store_rows_get(&rows, 0, 3));
    int64_t amount = store_rows_int(&rows, 0, 2);
    if (strcmp(store_rows_get(&rows, 0, 4), "requested") != 0) {
        rc = perr_set(err, PERR_PAYOUT_NOT_REQUESTED, NULL,
                      "The payout is already %s; only a requested payout can be marked paid or "
                      "failed.",
                      store_rows_get(&rows, 0, 4));
    }
    store_rows_free(&rows);
    const char *status = s->paid ? "paid" : "failed";
    char now[RFC3339_BYTES];
    time_format_rfc3339(time_now_unix_us(), now);
    if (rc == PERR_OK) {
        rc = store_exec(tx,
                        s->paid ? "UPDATE payouts SET status = 'paid', reference = ?, updated = ?"
                                  " WHERE tenant_id = ? AND id = ?"
                                : "UPDATE payouts SET status = 'failed', failure_reason = ?,"
                                  " updated = ? WHERE tenant_id = ? AND id = ?",
                        SQL_PARAMS(SV_T(s->text), SV_T(now), SV_T(tenant), SV_T(id)), NULL, err);
    }
    struct change_ctx c = change_of(req);
    if (rc == PERR_OK) {
        rc = ledger_post_payout(tx, &c, tenant, id, currency, amount,
                                s->paid ? LEDGER_PAYOUT_PAID : LEDGER_PAYOUT_FAILED, err);
    }
    if (rc == PERR_OK) {
        json_t *changes = api_changes(json_pack("{s:s}", "status", "requested"),
                                      json_pack("{s:s, s:s}", "status", status,
                                                s->paid ? "reference" : "failure_reason", s->text));
        rc = api_audit(req, tx, tenant, s->paid ? "payout.paid" : "payout.failed", "payout", id,
                       changes, err);
        json_decref(changes);
    }
    return rc == PERR_OK ? answer(req, tx, id, 200, &s->body, err) : rc;
}

static void settle(struct request *req, struct response *res, bool paid)
{
    const char *field = paid ? "reference" : "reason";
    const char *const allowed[] = {field, NULL};
    struct payout_settle s = {.req = req, .paid = paid};
    struct perr err;
    enum perr_code rc = json_only_keys(req->json, allowed, &err);
    if (rc == PERR_OK) {
        rc = json_get_string(req->json, field, LIMIT_PAYOUT_TEXT_BYTES, &s.text, &err);
    }
    if (rc == PERR_OK && (!s.text || !s.text[0])) {
        rc = perr_set(&err, PERR_PARAM_MISSING, field, "%s is required: a string of 1 to %d bytes.",
                      field, LIMIT_PAYOUT_TEXT_BYTES);
    }
    if (rc == PERR_OK) {
        rc = store_write(req->app->store, settle_tx, &s, &err);
    }
    if (rc != PERR_OK) {
        req->idem.stored = false;
        respond_error(res, &err);
        return;
    }
    respond_json(res, 200, s.body);
}

void api_payouts_paid(struct request *req, struct response *res)
{
    settle(req, res, true);
}

void api_payouts_failed(struct request *req, struct response *res)
{
    settle(req, res, false);
}

/* --- read ------------------------------------------------------------------------------ */

void api_payouts_get(struct request *req, struct response *res)
{
    struct store_tx tx;
    struct store_rows rows;
    struct perr err;
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_READ, &tx, &err);
    if (rc == PERR_OK) {
        rc = load_payout(req, &tx, req->path_params[0], &rows, &err);
        store_tx_rollback(&tx);
    }
    if (rc != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    respond_json(res, 200, payout_json(&rows, 0));
    store_rows_free(&rows);
}

void api_payouts_list(struct request *req, struct response *res)
{
    int64_t limit;
    const char *after;
    if (!api_list_params(req, res, &limit, &after)) {
        return;
    }
    const char *status = request_query(req, "status");
    if (status && strcmp(status, "requested") != 0 && strcmp(status, "paid") != 0 &&
        strcmp(status, "failed") != 0) {
        respond_fail(res, PERR_PARAM_INVALID, "status",
                     "status must be one of requested, paid, failed.");
        return;
    }
    struct sql_query q;
    sql_init(&q, "SELECT " PAYOUT_COLUMNS " FROM payouts");
    if (req->auth.tenant_id[0]) {
        sql_where(&q, "tenant_id = ?", SV_T(req->auth.tenant_id));
    }
    if (status) {
        sql_where(&q, "status = ?", SV_T(status));
    }
    if (after) {
        sql_where(&q, "id < ?", SV_T(after));
    }
    sql_append(&q, " ORDER BY id DESC LIMIT ?", (struct sv[]){SV_I(limit + 1)}, 1);
    api_respond_list(req, res, &q, limit, payout_json);
    sql_release(&q);
}
