#include "providers/sandbox.h"

#include "app.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "domain/stdwebhooks.h"
#include "providers/http_client.h"

#define SANDBOX_COLUMNS                                                                            \
    "id, account, amount, currency, status, status_detail, fee, amount_refunded,"                  \
    " external_reference, created_us"

void sandbox_derive_webhook_key(const uint8_t *master_key, size_t len, uint8_t out[32])
{
    static const char label[] = "pasarela sandbox webhooks v1";
    crypto_hmac_sha256(master_key, len, label, sizeof(label) - 1, out);
}

static const char *account_of(const struct provider_ctx *ctx)
{
    return ctx->tenant_id ? ctx->tenant_id : "platform";
}

enum outcome { OUT_APPROVE, OUT_REJECT, OUT_PENDING, OUT_CHARGEBACK, OUT_ERROR, OUT_TIMEOUT };

static enum outcome outcome_of(const char *email)
{
    size_t local = email ? strcspn(email, "@") : 0;
    if (!email || !email[local]) {
        return OUT_APPROVE;
    }
    static const struct {
        const char *name;
        enum outcome outcome;
    } table[] = {{"pending", OUT_PENDING},
                 {"chargeback", OUT_CHARGEBACK},
                 {"error", OUT_ERROR},
                 {"timeout", OUT_TIMEOUT},
                 {"reject", OUT_REJECT}};
    for (size_t i = 0; i < ARRAY_LEN(table); i++) {
        size_t n = strlen(table[i].name);
        if (local == n && strncmp(email, table[i].name, n) == 0) {
            return table[i].outcome;
        }
    }
    return strncmp(email, "reject+", 7) == 0 ? OUT_REJECT : OUT_APPROVE;
}

static void row_to_payment(const struct store_rows *r, struct provider_payment *out)
{
    str_copy(out->id, sizeof(out->id), store_rows_get(r, 0, 0));
    out->amount = store_rows_int(r, 0, 2);
    str_copy(out->currency, sizeof(out->currency), store_rows_get(r, 0, 3));
    PASSERT(payment_status_parse(store_rows_get(r, 0, 4), &out->status));
    str_copy(out->status_detail, sizeof(out->status_detail), store_rows_get(r, 0, 5));
    out->has_fee = true;
    out->fee = store_rows_int(r, 0, 6);
    out->amount_refunded = store_rows_int(r, 0, 7);
    str_copy(out->external_reference, sizeof(out->external_reference), store_rows_get(r, 0, 8));
}

static enum perr_code load(struct store_tx *tx, const char *account, const char *id,
                           struct store_rows *rows, struct perr *err)
{
    enum perr_code rc = store_exec(tx,
                                   "SELECT " SANDBOX_COLUMNS " FROM sandbox_payments"
                                   " WHERE id = ? AND account = ?",
                                   SQL_PARAMS(SV_T(id), SV_T(account)), rows, err);
    if (rc == PERR_OK && rows->nrows == 0) {
        store_rows_free(rows);
        rc = perr_set(err, PERR_PROVIDER_ERROR, NULL, "the sandbox has no payment %.64s", id);
    }
    return rc;
}

/* Schedules the change of a sandbox payment to `to` (NULL: only notify its current state)
 * after delay_ms, then `then` after another delay. */
static enum perr_code schedule(struct store_tx *tx, const struct provider_ctx *ctx, const char *id,
                               const char *to, const char *then, int64_t delay_ms, struct perr *err)
{
    char event_id[LIMIT_ID_BYTES];
    id_new("msg", event_id);
    json_t *payload = json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "payment", id, "event_id", event_id,
                                "to", to, "then", then, "tenant_id", ctx->tenant_id);
    enum perr_code rc = jobs_enqueue(tx, sandbox_job_kind.name, ctx->tenant_id, payload, delay_ms,
                                     ctx->correlation_id, err);
    json_decref(payload);
    return rc;
}

/* The sandbox's own record of a new payment, and the job that will move it on; written in
 * the transaction that records the payment (provider_record_fn). */
static enum perr_code record_created(struct store_tx *tx, const struct provider_ctx *ctx,
                                     const struct provider_payment_request *req,
                                     const struct provider_payment *out, struct perr *err)
{
    enum perr_code rc =
        store_exec(tx,
                   "INSERT INTO sandbox_payments (" SANDBOX_COLUMNS ")"
                   " VALUES (?, ?, ?, ?, 'pending', '', ?, 0, ?, ?)",
                   SQL_PARAMS(SV_T(out->id), SV_T(account_of(ctx)), SV_I(req->amount),
                              SV_T(req->currency->code), SV_I(out->fee), SV_T(req->payment_id),
                              SV_I(time_now_unix_us())),
                   NULL, err);
    enum outcome outcome = outcome_of(req->customer_email);
    if (rc == PERR_OK && outcome != OUT_PENDING) {
        const char *to = outcome == OUT_REJECT ? "rejected" : "approved";
        const char *then = outcome == OUT_CHARGEBACK ? "charged_back" : NULL;
        rc = schedule(tx, ctx, out->id, to, then, ctx->app->cfg->sandbox_delay_ms, err);
    }
    return rc;
}

static void new_payment(const struct provider_ctx *ctx, const struct provider_payment_request *req,
                        struct provider_payment *out)
{
    const struct config *cfg = ctx->app->cfg;
    id_new("sbx", out->id);
    out->status = PAYMENT_PENDING;
    out->amount = req->amount;
    str_copy(out->currency, sizeof(out->currency), req->currency->code);
    out->has_fee = true;
    out->fee = money_fee_bps(req->amount, SANDBOX_FEE_BPS);
    str_copy(out->external_reference, sizeof(out->external_reference), req->payment_id);
    if ((size_t)snprintf(out->checkout_url, sizeof(out->checkout_url), "%s/sandbox/checkout/%s",
                         cfg->public_url, out->id) >= sizeof(out->checkout_url)) {
        out->checkout_url[0] = '\0';
    }
    out->record = record_created;
}

static enum perr_code sandbox_create(const struct provider_ctx *ctx,
                                     const struct provider_payment_request *req,
                                     struct provider_payment *out, struct perr *err)
{
    enum outcome outcome = outcome_of(req->customer_email);
    if (outcome == OUT_ERROR) {
        return perr_set(err, PERR_PROVIDER_ERROR, NULL,
                        "The sandbox failed the payment as asked (customer error@...).");
    }
    if (outcome == OUT_TIMEOUT) {
        time_sleep_ms(ctx->app->cfg->provider_timeout_ms);
        return perr_set(err, PERR_PROVIDER_TIMEOUT, NULL, NULL);
    }
    new_payment(ctx, req, out);
    return PERR_OK;
}

static enum perr_code sandbox_get(const struct provider_ctx *ctx, const char *provider_id,
                                  struct provider_payment *out, struct perr *err)
{
    struct store_tx tx;
    struct store_rows rows;
    enum perr_code rc = store_tx_begin(ctx->app->store, STORE_TX_READ, &tx, err);
    if (rc == PERR_OK) {
        rc = load(&tx, account_of(ctx), provider_id, &rows, err);
        store_tx_rollback(&tx);
    }
    if (rc == PERR_OK) {
        row_to_payment(&rows, out);
        store_rows_free(&rows);
    }
    return rc;
}

/* In tx: moves the sandbox payment to `to` when its current state allows it; *moved tells. */
static enum perr_code move(struct store_tx *tx, const char *account, const char *id,
                           enum payment_status to, int64_t refunded, bool *moved,
                           struct provider_payment *out, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = load(tx, account, id, &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    row_to_payment(&rows, out);
    store_rows_free(&rows);
    *moved = payment_transition_allowed(out->status, to) ||
             (to == PAYMENT_PARTIALLY_REFUNDED && out->status == to);
    if (!*moved) {
        return PERR_OK;
    }
    out->status = to;
    out->amount_refunded = refunded;
    str_copy(out->status_detail, sizeof(out->status_detail),
             to == PAYMENT_REJECTED ? "insufficient_funds" : "");
    return store_exec(tx,
                      "UPDATE sandbox_payments SET status = ?, status_detail = ?,"
                      " amount_refunded = ? WHERE id = ?",
                      SQL_PARAMS(SV_T(payment_status_name(to)), SV_T(out->status_detail),
                                 SV_I(refunded), SV_T(id)),
                      NULL, err);
}

static enum perr_code sandbox_refund(const struct provider_ctx *ctx, const char *provider_id,
                                     int64_t amount, const char *idempotency_key,
                                     struct provider_refund *out, struct perr *err)
{
    (void)idempotency_key;
    struct store_tx tx;
    struct provider_payment p;
    struct store_rows rows;
    enum perr_code rc = store_tx_begin(ctx->app->store, STORE_TX_WRITE, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    rc = load(&tx, account_of(ctx), provider_id, &rows, err);
    if (rc == PERR_OK) {
        row_to_payment(&rows, &p);
        store_rows_free(&rows);
        if (amount <= 0 || amount > p.amount - p.amount_refunded ||
            (p.status != PAYMENT_APPROVED && p.status != PAYMENT_PARTIALLY_REFUNDED)) {
            rc = perr_set(err, PERR_PROVIDER_ERROR, NULL, "the sandbox refused the refund");
        }
    }
    bool moved = false;
    if (rc == PERR_OK) {
        int64_t refunded = p.amount_refunded + amount;
        enum payment_status to =
            refunded == p.amount ? PAYMENT_REFUNDED : PAYMENT_PARTIALLY_REFUNDED;
        rc = move(&tx, account_of(ctx), provider_id, to, refunded, &moved, &p, err);
    }
    if (rc == PERR_OK) {
        rc = schedule(&tx, ctx, provider_id, NULL, NULL, 0, err);
    }
    rc = store_tx_finish(&tx, rc, err);
    if (rc == PERR_OK) {
        id_new("sbxr", out->id);
        out->amount = amount;
        jobs_notify(ctx->app->jobs);
    }
    return rc;
}

static enum perr_code sandbox_cancel(const struct provider_ctx *ctx, const char *provider_id,
                                     struct provider_payment *out, struct perr *err)
{
    struct store_tx tx;
    bool moved = false;
    enum perr_code rc = store_tx_begin(ctx->app->store, STORE_TX_WRITE, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    rc = move(&tx, account_of(ctx), provider_id, PAYMENT_CANCELLED, 0, &moved, out, err);
    if (rc == PERR_OK && !moved) {
        rc = perr_set(err, PERR_PAYMENT_NOT_CANCELLABLE, NULL,
                      "The payment is %s at the provider and can no longer be cancelled.",
                      payment_status_name(out->status));
    }
    if (rc == PERR_OK) {
        rc = schedule(&tx, ctx, provider_id, NULL, NULL, 0, err);
    }
    rc = store_tx_finish(&tx, rc, err);
    if (rc == PERR_OK) {
        jobs_notify(ctx->app->jobs);
    }
    return rc;
}

static enum perr_code sandbox_search(const struct provider_ctx *ctx, int64_t from_us, int64_t to_us,
                                     provider_search_fn fn, void *arg, struct perr *err)
{
    struct store_tx tx;
    struct store_rows rows;
    enum perr_code rc = store_tx_begin(ctx->app->store, STORE_TX_READ, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    rc = store_exec(&tx,
                    "SELECT " SANDBOX_COLUMNS " FROM sandbox_payments WHERE account = ?"
                    " AND created_us >= ? AND created_us < ? ORDER BY created_us",
                    SQL_PARAMS(SV_T(account_of(ctx)), SV_I(from_us), SV_I(to_us)), &rows, err);
    store_tx_rollback(&tx);
    for (size_t i = 0; rc == PERR_OK && i < rows.nrows; i++) {
        struct store_rows one = {
            .nrows = 1, .ncols = rows.ncols, .cells = rows.cells + i * rows.ncols};
        struct provider_payment p = {0};
        row_to_payment(&one, &p);
        fn(&p, store_rows_int(&rows, i, 9), arg);
    }
    store_rows_free(&rows);
    return rc;
}

static enum perr_code sandbox_parse_webhook(const struct provider_ctx *ctx, const char *body,
                                            size_t len, struct provider_event *out,
                                            struct perr *err)
{
    (void)ctx;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *data = json_object_get(root, "data");
    const char *type = json_string_value(json_object_get(root, "type"));
    const char *id = json_string_value(json_object_get(data, "id"));
    const char *status = json_string_value(json_object_get(data, "status"));
    const char *detail = json_string_value(json_object_get(data, "status_detail"));
    const char *ref = json_string_value(json_object_get(data, "external_reference"));
    json_t *amount = json_object_get(data, "amount"),
           *refunded = json_object_get(data, "amount_refunded");
    json_t *fee = json_object_get(data, "fee");
    enum perr_code rc = PERR_OK;
    *out = (struct provider_event){.has_payment = true};
    if (!type || !id || !status || !ref || !json_is_integer(amount) || !json_is_integer(refunded) ||
        !json_is_integer(fee) || !payment_status_parse(status, &out->payment.status)) {
        rc = perr_set(err, PERR_PARAM_INVALID, NULL, "the sandbox event is malformed");
    } else {
        str_copy(out->type, sizeof(out->type), type);
        str_copy(out->payment_ref, sizeof(out->payment_ref), id);
        str_copy(out->payment.id, sizeof(out->payment.id), id);
        str_copy(out->payment.status_detail, sizeof(out->payment.status_detail),
                 detail ? detail : "");
        str_copy(out->payment.external_reference, sizeof(out->payment.external_reference), ref);
        out->payment.amount = json_integer_value(amount);
        out->payment.amount_refunded = json_integer_value(refunded);
        out->payment.has_fee = true;
        out->payment.fee = json_integer_value(fee);
    }
    json_decref(root);
    return rc;
}

static json_t *event_json(const char *event_id, const struct provider_payment *p)
{
    return json_pack("{s:s, s:s, s:I, s:{s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:s}}", "id", event_id,
                     "type", "payment.updated", "created",
                     (json_int_t)(time_now_unix_us() / 1000000), "data", "id", p->id, "status",
                     payment_status_name(p->status), "status_detail", p->status_detail, "amount",
                     (json_int_t)p->amount, "currency", p->currency, "amount_refunded",
                     (json_int_t)p->amount_refunded, "fee", (json_int_t)p->fee,
                     "external_reference", p->external_reference);
}

static enum perr_code deliver(struct app *app, const struct job *job, const char *event_id,
                              const char *body, struct perr *err)
{
    const char *tenant = job->tenant_id[0] ? job->tenant_id : NULL;
    char url[CONFIG_PATH_BYTES + 64], idh[96], tsh[64], sigh[96], corr[LIMIT_REQUEST_ID_BYTES + 32];
    PASSERT(strlen(event_id) < LIMIT_ID_BYTES &&
            strlen(job->correlation_id) <= LIMIT_REQUEST_ID_BYTES);
    int n = snprintf(url, sizeof(url), "%s/webhooks/sandbox%s%s", app->cfg->public_url,
                     tenant ? "/" : "", tenant ? tenant : "");
    PASSERT(n > 0 && (size_t)n < sizeof(url)); /* public_url is at most CONFIG_PATH_BYTES */
    int64_t now = time_now_unix_us() / 1000000;
    char sig[STDWH_SIGNATURE_BYTES];
    stdwh_sign(app->sandbox_webhook_key, SHA256_BYTES, event_id, now, body, strlen(body), sig);
    snprintf(idh, sizeof(idh), "webhook-id: %s", event_id);
    snprintf(tsh, sizeof(tsh), "webhook-timestamp: %lld", (long long)now);
    snprintf(sigh, sizeof(sigh), "webhook-signature: %s", sig);
    snprintf(corr, sizeof(corr), "X-Request-Id: %s", job->correlation_id);
    struct http_call call = {.method = "POST",
                             .url = url,
                             .body = body,
                             .body_len = strlen(body),
                             .timeout_ms = app->cfg->provider_timeout_ms,
                             .headers = {"Content-Type: application/json", idh, tsh, sigh, corr}};
    struct http_result res;
    enum perr_code rc = http_client_call(&call, &res, err);
    buf_release(&res.body);
    if (rc == PERR_OK && (res.status < 200 || res.status > 299)) {
        rc = perr_set(err, PERR_PROVIDER_ERROR, NULL,
                      "pasarela answered %ld to the sandbox webhook", res.status);
    }
    return rc;
}

/* In tx: applies the scheduled change to `to` (NULL: none) when the payment's state still
 * allows it, and reads the payment as it now is. */
static enum perr_code advance(struct store_tx *tx, const char *account, const char *id,
                              const char *to, bool *moved, struct provider_payment *out,
                              struct perr *err)
{
    enum payment_status target;
    *moved = false;
    if (to) {
        PASSERT(payment_status_parse(to, &target));
        return move(tx, account, id, target, 0, moved, out, err);
    }
    struct store_rows rows;
    enum perr_code rc = load(tx, account, id, &rows, err);
    if (rc == PERR_OK) {
        row_to_payment(&rows, out);
        store_rows_free(&rows);
    }
    return rc;
}

/* Applies the scheduled change (once, however often the job runs), schedules the next one
 * of a chain (chargeback), then delivers the payment's state as a webhook. */
static enum perr_code sandbox_job(struct app *app, const struct job *job, struct perr *err)
{
    const char *id = json_string_value(json_object_get(job->payload, "payment"));
    const char *event_id = json_string_value(json_object_get(job->payload, "event_id"));
    const char *to = json_string_value(json_object_get(job->payload, "to"));
    const char *then = json_string_value(json_object_get(job->payload, "then"));
    struct provider_ctx ctx = {.app = app,
                               .tenant_id = job->tenant_id[0] ? job->tenant_id : NULL,
                               .correlation_id = job->correlation_id};
    enum payment_status ignored;
    if (!id || !event_id || (to && !payment_status_parse(to, &ignored))) {
        return perr_set(err, PERR_INTERNAL, NULL, "malformed sandbox job");
    }
    struct store_tx tx;
    struct provider_payment p = {0};
    bool moved;
    enum perr_code rc = store_tx_begin(app->store, STORE_TX_WRITE, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    rc = advance(&tx, account_of(&ctx), id, to, &moved, &p, err);
    if (rc == PERR_OK && moved && then) {
        rc = schedule(&tx, &ctx, id, then, NULL, app->cfg->sandbox_delay_ms, err);
    }
    rc = store_tx_finish(&tx, rc, err);
    if (rc != PERR_OK) {
        return rc;
    }
    if (moved && then) {
        jobs_notify(app->jobs);
    }
    json_t *event = event_json(event_id, &p);
    char *body = json_dump_compact(event);
    json_decref(event);
    rc = deliver(app, job, event_id, body, err);
    free(body);
    return rc;
}

const struct job_kind sandbox_job_kind = {
    .name = "sandbox.deliver",
    .max_attempts = 10,
    .base_delay_ms = 200,
    .max_delay_ms = 60000,
    .run = sandbox_job,
};

const struct provider_ops provider_sandbox = {
    .name = "sandbox",
    .caps =
        PROVIDER_CAP_REFUNDS | PROVIDER_CAP_CANCEL | PROVIDER_CAP_SEARCH | PROVIDER_CAP_WEBHOOKS,
    .create_payment = sandbox_create,
    .get_payment = sandbox_get,
    .refund = sandbox_refund,
    .cancel = sandbox_cancel,
    .search = sandbox_search,
    .parse_webhook = sandbox_parse_webhook,
    .oauth_authorize_url = NULL,
    .oauth_exchange = NULL,
};
