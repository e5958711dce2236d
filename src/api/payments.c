/* /v1/payments: create through a connector, read, list, refund, cancel. The connector is
 * called outside any transaction; the change it caused is then committed in one transaction
 * with its audit record, its event and (with an Idempotency-Key) the answer itself. */
#include "payments/payments.h"
#include "api/api.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/money.h"
#include "core/timeutil.h"
#include "http/idempotency.h"
#include "ledger/ledger.h"
#include "providers/binding.h"

#define LIMIT_DESCRIPTION_BYTES 1000
#define LIMIT_EMAIL_BYTES 254
#define LIMIT_REFERENCE_BYTES 256
#define LIMIT_METADATA_KEYS 20
#define LIMIT_METADATA_KEY_BYTES 40
#define LIMIT_METADATA_VALUE_BYTES 500

struct payment_input {
    int64_t amount;
    const struct currency *currency;
    const char *description;
    const char *email;
    const char *name;
    const char *country;
    const char *provider;
    const char *method;
    const char *external_reference;
    json_t *customer; /* borrowed from the body */
    json_t *metadata; /* borrowed from the body */
};

static enum perr_code read_customer(json_t *body, struct payment_input *in, struct perr *err)
{
    static const char *const allowed[] = {"email", "name", "country", NULL};
    in->customer = json_object_get(body, "customer");
    if (!in->customer || json_is_null(in->customer)) {
        in->customer = NULL;
        return PERR_OK;
    }
    if (!json_is_object(in->customer)) {
        return perr_set(err, PERR_PARAM_INVALID, "customer", "customer must be an object.");
    }
    struct perr inner;
    enum perr_code rc = json_only_keys(in->customer, allowed, &inner);
    if (rc != PERR_OK) {
        return perr_set(err, rc, "customer",
                        "customer accepts email, name and country, not '%.40s'.", inner.param);
    }
    if (json_get_string(in->customer, "email", LIMIT_EMAIL_BYTES, &in->email, &inner) != PERR_OK ||
        (in->email &&
         (in->email[0] == '@' || !strchr(in->email, '@') || !strchr(in->email, '@')[1]))) {
        return perr_set(err, PERR_PARAM_INVALID, "customer.email",
                        "customer.email must be an e-mail address of at most %d bytes.",
                        LIMIT_EMAIL_BYTES);
    }
    if (json_get_string(in->customer, "name", LIMIT_NAME_BYTES, &in->name, &inner) != PERR_OK) {
        return perr_set(err, PERR_PARAM_INVALID, "customer.name",
                        "customer.name must be a string of at most %d bytes.", LIMIT_NAME_BYTES);
    }
    if (json_get_string(in->customer, "country", 2, &in->country, &inner) != PERR_OK ||
        (in->country && (strlen(in->country) != 2 || in->country[0] < 'A' || in->country[0] > 'Z' ||
                         in->country[1] < 'A' || in->country[1] > 'Z'))) {
        return perr_set(
            err, PERR_PARAM_INVALID, "customer.country",
            "customer.country must be an ISO 3166 code of two capital letters, like MX.");
    }
    return PERR_OK;
}

static enum perr_code read_metadata(json_t *body, struct payment_input *in, struct perr *err)
{
    in->metadata = json_object_get(body, "metadata");
    if (!in->metadata || json_is_null(in->metadata)) {
        in->metadata = NULL;
        return PERR_OK;
    }
    if (!json_is_object(in->metadata) || json_object_size(in->metadata) > LIMIT_METADATA_KEYS) {
        return perr_set(err, PERR_PARAM_INVALID, "metadata",
                        "metadata must be an object of at most %d string values.",
                        LIMIT_METADATA_KEYS);
    }
    const char *key;
    json_t *v;
    json_object_foreach (in->metadata, key, v) {
        if (strlen(key) > LIMIT_METADATA_KEY_BYTES || !json_is_string(v) ||
            json_string_length(v) > LIMIT_METADATA_VALUE_BYTES) {
            return perr_set(err, PERR_PARAM_INVALID, "metadata",
                            "metadata keys have at most %d bytes and values are strings of at "
                            "most %d bytes.",
                            LIMIT_METADATA_KEY_BYTES, LIMIT_METADATA_VALUE_BYTES);
        }
    }
    return PERR_OK;
}

static enum perr_code read_input(json_t *body, struct payment_input *in, struct perr *err)
{
    static const char *const allowed[] = {"amount",   "currency", "description",        "customer",
                                          "provider", "method",   "external_reference", "metadata",
                                          NULL};
    *in = (struct payment_input){0};
    enum perr_code rc = json_only_keys(body, allowed, err);
    if (rc == PERR_OK) {
        rc = money_parse_currency(body, "currency", &in->currency, err);
    }
    if (rc == PERR_OK) {
        rc = money_parse_amount(body, "amount", in->currency, &in->amount, err);
    }
    if (rc == PERR_OK) {
        rc = json_get_string(body, "description", LIMIT_DESCRIPTION_BYTES, &in->description, err);
    }
    if (rc == PERR_OK) {
        rc = read_customer(body, in, err);
    }
    if (rc == PERR_OK) {
        rc = json_get_string(body, "provider", 32, &in->provider, err);
    }
    if (rc == PERR_OK) {
        rc = json_get_string(body, "method", 32, &in->method, err);
    }
    if (rc == PERR_OK) {
        rc = json_get_string(body, "external_reference", LIMIT_REFERENCE_BYTES,
                             &in->external_reference, err);
    }
    if (rc == PERR_OK) {
        rc = read_metadata(body, in, err);
    }
    return rc;
}

/* The tenant's limit of `kind` for the currency, or 0 when it has none. */
static int64_t tenant_limit(json_t *limits, const char *kind, const char *currency)
{
    json_t *v = json_object_get(json_object_get(limits, kind), currency);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* What a new payment must respect: the tenant's limits in its currency (0: none) and its
 * platform fee. */
struct payment_terms {
    int64_t max_amount;
    int64_t monthly_volume;
    int64_t fee_bps;
};

static enum perr_code over_monthly(const struct payment_input *in, int64_t monthly, int64_t volume,
                                   struct perr *err)
{
    return perr_set(err, PERR_LIMIT_MONTHLY_VOLUME, "amount",
                    "This payment would take the tenant over its monthly volume of %lld %s "
                    "(minor units); %lld remain this month.",
                    (long long)monthly, in->currency->code,
                    (long long)(monthly > volume ? monthly - volume : 0));
}

/* Reads the tenant's terms and refuses a payment over either limit, before the provider is
 * called; the store's writer counts the volume again when it records the payment. */
static enum perr_code check_terms(struct request *req, const struct payment_input *in,
                                  struct payment_terms *terms, struct perr *err)
{
    struct store_tx tx;
    struct store_rows rows;
    char month[8];
    payment_month(month);
    *terms = (struct payment_terms){0};
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_READ, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    const char *code = in->currency->code;
    rc = store_exec(&tx,
                    "SELECT t.limits, v.amount, t.platform_fee_bps FROM tenants t"
                    " LEFT JOIN tenant_volume v ON v.tenant_id = t.id"
                    " AND v.currency = ? AND v.month = ? WHERE t.id = ?",
                    SQL_PARAMS(SV_T(code), SV_T(month), SV_T(req->auth.tenant_id)), &rows, err);
    store_tx_rollback(&tx);
    if (rc != PERR_OK) {
        return rc;
    }
    int64_t volume = 0;
    if (rows.nrows) {
        json_t *limits = json_loads(store_rows_get(&rows, 0, 0), 0, NULL);
        terms->max_amount = tenant_limit(limits, "max_payment_amount", code);
        terms->monthly_volume = tenant_limit(limits, "monthly_volume", code);
        json_decref(limits);
        volume = store_rows_int(&rows, 0, 1);
        terms->fee_bps = store_rows_int(&rows, 0, 2);
    }
    store_rows_free(&rows);
    if (terms->max_amount && in->amount > terms->max_amount) {
        return perr_set(err, PERR_LIMIT_MAX_PAYMENT_AMOUNT, "amount",
                        "The amount is above this tenant's maximum of %lld %s (minor units) per "
                        "payment.",
                        (long long)terms->max_amount, code);
    }
    if (terms->monthly_volume && volume + in->amount > terms->monthly_volume) {
        return over_monthly(in, terms->monthly_volume, volume, err);
    }
    return PERR_OK;
}

/* In the payment's write transaction: counts its amount into the month's volume, refusing it
 * when concurrent payments took the volume past the limit meanwhile. */
static enum perr_code count_volume(struct store_tx *tx, const char *tenant_id,
                                   const struct payment_input *in, int64_t monthly,
                                   struct perr *err)
{
    char month[8];
    payment_month(month);
    struct store_rows rows;
    enum perr_code rc =
        store_exec(tx,
                   "INSERT INTO tenant_volume (tenant_id, currency, month, amount)"
                   " VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id, currency, month)"
                   " DO UPDATE SET amount = tenant_volume.amount + excluded.amount"
                   " RETURNING amount",
                   SQL_PARAMS(SV_T(tenant_id), SV_T(in->currency->code), SV_T(month),
                              SV_I(in->amount)),
                   &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    int64_t volume = rows.nrows ? store_rows_int(&rows, 0, 0) : 0;
    store_rows_free(&rows);
    if (monthly && volume > monthly) {
        return over_monthly(in, monthly, volume - in->amount, err);
    }
    return PERR_OK;
}

/* A new payment as the API shows it, and the text of its JSON columns, made before the
 * transaction so that the store's writer only writes. */
struct new_payment {
    const char *id;
    const struct payment_input *in;
    const char *provider;
    const char *account; /* the owner of the account it goes through */
    const struct provider_payment *pp;
    char now[RFC3339_BYTES];
    char *customer; /* the stored text of the customer object */
    char *metadata;
};

static void new_payment_init(struct new_payment *n, const char *id, const struct payment_input *in,
                             const struct provider_binding *b, const struct provider_payment *pp)
{
    *n = (struct new_payment){
        .id = id, .in = in, .provider = b->ops->name, .account = b->owner, .pp = pp};
    time_format_rfc3339(time_now_unix_us(), n->now);
    n->customer = in->customer ? json_dump_compact(in->customer) : xstrdup("{}");
    n->metadata = in->metadata ? json_dump_compact(in->metadata) : xstrdup("{}");
}

static void new_payment_release(struct new_payment *n)
{
    free(n->customer);
    free(n->metadata);
}

/* A new payment starts pending, with the provider's detail when it is pending there too. */
static const char *pending_detail(const struct provider_payment *pp)
{
    return pp->status == PAYMENT_PENDING ? pp->status_detail : "";
}

/* The same object payment_json gives for the row insert_payment writes. */
static json_t *new_payment_json(const struct new_payment *n)
{
    const struct provider_payment *pp = n->pp;
    return json_pack(
        "{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:o, s:s?, s:o, s:I, s:o, s:s, s:s}",
        "id", n->id, "object", "payment", "amount", (json_int_t)n->in->amount, "currency",
        n->in->currency->code, "status", "pending", "status_detail", pending_detail(pp), "provider",
        n->provider, "provider_payment_id", pp->id, "checkout_url",
        pp->checkout_url[0] ? pp->checkout_url : NULL, "description", n->in->description,
        "customer", json_loads(n->customer, 0, NULL), "external_reference",
        n->in->external_reference, "metadata", json_loads(n->metadata, 0, NULL), "amount_refunded",
        (json_int_t)0, "provider_fee", pp->has_fee ? json_integer(pp->fee) : json_null(), "created",
        n->now, "updated", n->now);
}

static enum perr_code insert_payment(struct request *req, struct store_tx *tx,
                                     const struct new_payment *n, struct perr *err)
{
    const struct provider_payment *pp = n->pp;
    return store_exec(
        tx,
        "INSERT INTO payments (" PAYMENT_COLUMNS ", account_mode)"
        " VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?)",
        SQL_PARAMS(SV_T(req->auth.tenant_id), SV_T(n->id), SV_I(n->in->amount),
                   SV_T(n->in->currency->code), SV_T(pending_detail(pp)), SV_T(n->provider),
                   SV_T(pp->id), SV_T(pp->checkout_url[0] ? pp->checkout_url : NULL),
                   SV_T(n->in->description), SV_T(n->customer), SV_T(n->in->external_reference),
                   SV_T(n->metadata), pp->has_fee ? SV_I(pp->fee) : SV_T(NULL), SV_T(n->now),
                   SV_T(n->now), SV_T(n->account), SV_T(ledger_account_mode(n->account))),
        NULL, err);
}

/* Finishes a transaction that changed payment `id`: on success answers with the payment as
 * it now is (stored as the idempotent answer in the same transaction) and commits. */
static enum perr_code api_commit_payment(struct request *req, struct store_tx *tx,
                                         struct response *res, enum perr_code rc, const char *id,
                                         int status, struct perr *err)
{
    struct store_rows rows;
    if (rc == PERR_OK) {
        rc = payment_load(tx, req->auth.tenant_id, id, &rows, err);
    }
    if (rc != PERR_OK) {
        store_tx_rollback(tx);
        return rc;
    }
    json_t *body = payment_json(&rows, 0);
    store_rows_free(&rows);
    return api_commit_respond(req, tx, res, status, body, err);
}

/* The audit record of a creation: the payment's business fields (the customer's personal
 * data stays out of the trail). */
static bool audit_created(struct request *req, const char *id, json_t *payment,
                          struct audit_draft *d)
{
    static const char *const fields[] = {
        "amount", "currency", "status", "provider", "provider_payment_id", "external_reference"};
    json_t *after = json_object();
    for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
        json_object_set(after, fields[i], json_object_get(payment, fields[i]));
    }
    json_t *changes = api_changes(json_object(), after);
    bool ok = api_audit_draft(req, req->auth.tenant_id, "payment.created", "payment", id, changes,
                              d);
    json_decref(changes);
    return ok;
}

/* The provider's creation of a payment: the call and its answer. */
struct provider_call {
    const struct provider_binding *binding;
    const struct provider_ctx *ctx;
    const struct provider_payment_request *request;
    const struct provider_payment *created;
};

/* A payment the provider created, with everything its write transaction stores made
 * beforehand, so that the store's writer only writes. */
struct created {
    struct request *req;
    const struct provider_call *call;
    const struct new_payment *payment;
    int64_t monthly_volume;
    json_t *json;     /* the new payment as the API shows it (owned) */
    char *json_text;  /* the same dumped, for its event (owned) */
    struct audit_draft audit;
    json_t *body; /* the answer, once the transaction succeeded */
};

/* The transaction that records the payment the provider created: its volume, the provider's
 * own record when the provider is in-process, the payment, its audit record and event, any
 * state the provider already reported, and the idempotent answer. Runs on the store's writer. */
static enum perr_code record_created_tx(struct store_tx *tx, void *arg, struct perr *err)
{
    struct created *c = arg;
    struct request *req = c->req;
    const struct new_payment *n = c->payment;
    const struct provider_call *call = c->call;
    enum perr_code rc = count_volume(tx, req->auth.tenant_id, n->in, c->monthly_volume, err);
    if (rc == PERR_OK && call->created->record) {
        rc = call->created->record(tx, call->ctx, call->request, call->created, err);
    }
    if (rc == PERR_OK) {
        rc = insert_payment(req, tx, n, err);
    }
    if (rc == PERR_OK) {
        rc = audit_append_draft(tx, req->app->audit_key, &c->audit, err);
    }
    if (rc == PERR_OK) {
        rc = event_append_text(tx, req->auth.tenant_id, "payment.created", n->id, c->json_text,
                               req->request_id, err);
    }
    json_t *answer = json_incref(c->json);
    if (rc == PERR_OK && n->pp->status != PAYMENT_PENDING) {
        struct change_ctx cc = {.app = req->app,
                                .actor = req->auth.actor,
                                .correlation_id = req->request_id,
                                .cause = "api"};
        struct store_rows rows;
        bool changed;
        json_decref(answer);
        answer = NULL;
        rc = payment_apply_provider(tx, &cc, req->auth.tenant_id, n->id, n->pp, &changed, err);
        if (rc == PERR_OK) {
            rc = payment_load(tx, req->auth.tenant_id, n->id, &rows, err);
        }
        if (rc == PERR_OK) {
            answer = payment_json(&rows, 0);
            store_rows_free(&rows);
        }
    }
    if (rc == PERR_OK) {
        rc = idempotency_store(req, tx, 201, answer, err);
    }
    if (rc != PERR_OK) {
        json_decref(answer);
        return rc;
    }
    c->body = answer;
    return PERR_OK;
}

/* Records the payment the provider created and answers 201 with it. */
static enum perr_code record_created(struct request *req, struct response *res,
                                     const struct payment_input *in,
                                     const struct provider_call *call, int64_t monthly_volume,
                                     struct perr *err)
{
    const char *id = call->request->payment_id;
    struct new_payment n;
    new_payment_init(&n, id, in, call->binding, call->created);
    struct created c = {.req = req,
                        .call = call,
                        .payment = &n,
                        .monthly_volume = monthly_volume,
                        .json = new_payment_json(&n)};
    c.json_text = json_dump_compact(c.json);
    enum perr_code rc = audit_created(req, id, c.json, &c.audit)
                            ? store_write(req->app->store, record_created_tx, &c, err)
                            : perr_set(err, PERR_INTERNAL, NULL, NULL);
    audit_draft_release(&c.audit);
    free(c.json_text);
    json_decref(c.json);
    new_payment_release(&n);
    if (rc != PERR_OK) {
        req->idem.stored = false; /* the transaction that stored it did not commit */
        json_decref(c.body);
        return rc;
    }
    respond_json(res, 201, c.body);
    return PERR_OK;
}

/* Where the provider sends this payment's webhooks: the endpoint of the account it goes
 * through (MercadoPago is asked for webhooks only, not the legacy IPN). */
static void notification_url(const struct app *app, const struct provider_binding *b, char *out,
                             size_t size)
{
    bool own = strcmp(b->owner, ACCOUNT_OWNER_PLATFORM) != 0;
    bool mp = strcmp(b->ops->name, "mercadopago") == 0;
    snprintf(out, size, "%s/webhooks/%s%s%s%s", app->cfg->public_url, b->ops->name, own ? "/" : "",
             own ? b->owner : "", mp ? "?source_news=webhooks" : "");
}

/* Calls the provider, then records what it created; answers 201, or the error. */
static void create_through(struct request *req, struct response *res,
                           const struct payment_input *in, const struct provider_binding *b,
                           const struct payment_terms *terms)
{
    struct perr err;
    char id[LIMIT_ID_BYTES], url[CONFIG_PATH_BYTES + 128];
    id_new("pay", id);
    notification_url(req->app, b, url, sizeof(url));
    bool connected = b->has_account && strcmp(b->account.mode, "connected") == 0;
    struct provider_payment_request preq = {
        .payment_id = id,
        .idempotency_key = req->idem.claimed ? req->idem.request_sha256 : id,
        .amount = in->amount,
        .currency = in->currency,
        .description = in->description,
        .customer_email = in->email,
        .customer_name = in->name,
        .customer_country = in->country,
        .method = in->method,
        .notification_url = url,
        .application_fee = connected ? money_fee_bps(in->amount, (int)terms->fee_bps) : 0};
    struct provider_ctx ctx = provider_binding_ctx(b, req->app, req->request_id);
    struct provider_payment pp;
    if (provider_create_payment(b->ops, &ctx, &preq, &pp, &err) != PERR_OK) {
        log_emit(LOG_WARN, "provider refused a payment",
                 json_pack("{s:s, s:s, s:s, s:s}", "provider", b->ops->name, "code",
                           perr_code_name(err.code), "detail", err.message, "request_id",
                           req->request_id));
        perr_set(&err, err.code, NULL, NULL); /* the provider's words stay in the log */
        respond_error(res, &err);
        return;
    }
    struct provider_call call = {.binding = b, .ctx = &ctx, .request = &preq, .created = &pp};
    if (record_created(req, res, in, &call, terms->monthly_volume, &err) != PERR_OK) {
        respond_error(res, &err);
    }
}

void api_payments_create(struct request *req, struct response *res)
{
    struct payment_input in;
    struct perr err;
    struct provider_binding b;
    struct payment_terms terms;
    if (read_input(req->json, &in, &err) != PERR_OK ||
        check_terms(req, &in, &terms, &err) != PERR_OK ||
        provider_bind(req->app, req->auth.tenant_id, in.provider, &b, &err) != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    create_through(req, res, &in, &b, &terms);
    provider_binding_release(&b);
}

void api_payments_get(struct request *req, struct response *res)
{
    struct store_tx tx;
    struct store_rows rows;
    struct perr err;
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_READ, &tx, &err);
    if (rc == PERR_OK) {
        rc = payment_load(&tx, req->auth.tenant_id, req->path_params[0], &rows, &err);
        store_tx_rollback(&tx);
    }
    if (rc != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    respond_json(res, 200, payment_json(&rows, 0));
    store_rows_free(&rows);
}

static bool add_list_filters(struct request *req, struct response *res, struct sql_query *q)
{
    const char *status = request_query(req, "status");
    const char *provider = request_query(req, "provider");
    enum payment_status s;
    if (status && !payment_status_parse(status, &s)) {
        respond_fail(res, PERR_PARAM_INVALID, "status",
                     "status must be one of pending, approved, rejected, cancelled, expired, "
                     "partially_refunded, refunded, charged_back.");
        return false;
    }
    if (status) {
        sql_where(q, "status = ?", SV_T(status));
    }
    if (provider) {
        sql_where(q, "provider = ?", SV_T(provider));
    }
    return api_time_filter(req, res, q, "created_gte", "created >= ?", false) &&
           api_time_filter(req, res, q, "created_lt", "created < ?", false);
}

void api_payments_list(struct request *req, struct response *res)
{
    int64_t limit;
    const char *after;
    if (!api_list_params(req, res, &limit, &after)) {
        return;
    }
    struct sql_query q;
    sql_init(&q, "SELECT " PAYMENT_COLUMNS " FROM payments");
    sql_where(&q, "tenant_id = ?", SV_T(req->auth.tenant_id));
    if (!add_list_filters(req, res, &q)) {
        sql_release(&q);
        return;
    }
    if (after) {
        sql_where(&q, "id < ?", SV_T(after));
    }
    sql_append(&q, " ORDER BY id DESC LIMIT ?", (struct sv[]){SV_I(limit + 1)}, 1);
    api_respond_list(req, res, &q, limit, payment_json);
    sql_release(&q);
}

/* --- refunds ------------------------------------------------------------------------- */

struct refund_plan {
    char id[LIMIT_ID_BYTES];
    int64_t amount;
    char provider[32];
    char account[LIMIT_ID_BYTES];
    char provider_payment_id[PROVIDER_ID_BYTES];
};

static json_t *refund_json(const struct refund_plan *r, const char *payment_id, const char *status)
{
    char now[RFC3339_BYTES];
    time_format_rfc3339(time_now_unix_us(), now);
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "id", r->id, "object", "refund",
                     "payment_id", payment_id, "amount", (json_int_t)r->amount, "status", status,
                     "created", now);
}

/* In tx: checks the payment can be refunded by the asked amount (absent: the rest) and
 * reserves it, so concurrent refunds never exceed the payment. */
static enum perr_code reserve_refund(struct request *req, struct store_tx *tx,
                                     struct refund_plan *plan, struct perr *err)
{
    const char *pid = req->path_params[0];
    struct store_rows rows;
    enum perr_code rc = payment_load(tx, req->auth.tenant_id, pid, &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    const char *status = store_rows_get(&rows, 0, PC_STATUS);
    int64_t rest = store_rows_int(&rows, 0, PC_AMOUNT) - store_rows_int(&rows, 0, PC_RESERVED);
    const struct currency *cur = money_currency(store_rows_get(&rows, 0, PC_CURRENCY));
    str_copy(plan->provider, sizeof(plan->provider), store_rows_get(&rows, 0, PC_PROVIDER));
    str_copy(plan->account, sizeof(plan->account), store_rows_get(&rows, 0, PC_ACCOUNT));
    str_copy(plan->provider_payment_id, sizeof(plan->provider_payment_id),
             store_rows_get(&rows, 0, PC_PROVIDER_ID) ? store_rows_get(&rows, 0, PC_PROVIDER_ID)
                                                      : "");
    if (strcmp(status, "approved") != 0 && strcmp(status, "partially_refunded") != 0) {
        rc = perr_set(err, PERR_PAYMENT_NOT_REFUNDABLE, NULL,
                      "The payment is %s; only approved payments can be refunded.", status);
    } else if (json_object_get(req->json, "amount")) {
        rc = money_parse_amount(req->json, "amount", cur, &plan->amount, err);
    } else {
        plan->amount = rest;
    }
    if (rc == PERR_OK && (plan->amount > rest || rest == 0)) {
        rc = perr_set(err, PERR_REFUND_EXCEEDS_PAYMENT, "amount",
                      "The refund of %lld is larger than the %lld left to refund of this payment.",
                      (long long)plan->amount, (long long)rest);
    }
    store_rows_free(&rows);
    char now[RFC3339_BYTES];
    time_format_rfc3339(time_now_unix_us(), now);
    if (rc == PERR_OK) {
        id_new("ref", plan->id);
        rc = store_exec(tx,
                        "INSERT INTO refunds (tenant_id, id, payment_id, amount, status, created,"
                        " updated) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                        SQL_PARAMS(SV_T(req->auth.tenant_id), SV_T(plan->id), SV_T(pid),
                                   SV_I(plan->amount), SV_T(now), SV_T(now)),
                        NULL, err);
    }
    if (rc == PERR_OK) {
        rc = store_exec(tx,
                        "UPDATE payments SET refund_reserved = refund_reserved + ?"
                        " WHERE tenant_id = ? AND id = ?",
                        SQL_PARAMS(SV_I(plan->amount), SV_T(req->auth.tenant_id), SV_T(pid)), NULL,
                        err);
    }
    if (rc == PERR_OK) {
        json_t *changes = api_changes(json_object(), refund_json(plan, pid, "pending"));
        rc = api_audit(req, tx, req->auth.tenant_id, "refund.created", "refund", plan->id, changes,
                       err);
        json_decref(changes);
    }
    return rc;
}

/* After the provider's answer: the refund succeeds (the payment's refunded amount and state
 * follow) or fails (the reservation is released). */
static enum perr_code settle_refund(struct request *req, struct store_tx *tx,
                                    const struct refund_plan *plan, const char *provider_refund_id,
                                    bool succeeded, struct perr *err)
{
    const char *pid = req->path_params[0];
    const char *status = succeeded ? "succeeded" : "failed";
    char now[RFC3339_BYTES];
    time_format_rfc3339(time_now_unix_us(), now);
    enum perr_code rc =
        store_exec(tx,
                   "UPDATE refunds SET status = ?, provider_refund_id = ?, updated = ?"
                   " WHERE tenant_id = ? AND id = ?",
                   SQL_PARAMS(SV_T(status), SV_T(provider_refund_id), SV_T(now),
                              SV_T(req->auth.tenant_id), SV_T(plan->id)),
                   NULL, err);
    if (rc == PERR_OK) {
        rc = succeeded
                 /* capped: the provider's notification of this very refund may have been
                  * applied first */
                 ? store_exec(tx,
                              "UPDATE payments SET amount_refunded = CASE WHEN amount_refunded + ?"
                              " > amount THEN amount ELSE amount_refunded + ? END"
                              " WHERE tenant_id = ? AND id = ?",
                              SQL_PARAMS(SV_I(plan->amount), SV_I(plan->amount),
                                         SV_T(req->auth.tenant_id), SV_T(pid)),
                              NULL, err)
                 : store_exec(tx,
                              "UPDATE payments SET refund_reserved = refund_reserved - ?"
                              " WHERE tenant_id = ? AND id = ?",
                              SQL_PARAMS(SV_I(plan->amount), SV_T(req->auth.tenant_id), SV_T(pid)),
                              NULL, err);
    }
    if (rc == PERR_OK) {
        json_t *changes = api_changes(json_pack("{s:s}", "status", "pending"),
                                      json_pack("{s:s}", "status", status));
        rc = api_audit(req, tx, req->auth.tenant_id,
                       succeeded ? "refund.succeeded" : "refund.failed", "refund", plan->id,
                       changes, err);
        json_decref(changes);
    }
    if (rc != PERR_OK || !succeeded) {
        return rc;
    }
    struct store_rows rows;
    rc = payment_load(tx, req->auth.tenant_id, pid, &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    enum payment_status from;
    PASSERT(payment_status_parse(store_rows_get(&rows, 0, PC_STATUS), &from));
    bool full = store_rows_int(&rows, 0, PC_REFUNDED) >= store_rows_int(&rows, 0, PC_AMOUNT);
    store_rows_free(&rows);
    struct change_ctx c = {.app = req->app,
                           .actor = req->auth.actor,
                           .correlation_id = req->request_id,
                           .cause = "api"};
    enum payment_status to = full ? PAYMENT_REFUNDED : PAYMENT_PARTIALLY_REFUNDED;
    if (to != from) {
        rc = payment_transition(tx, &c, req->auth.tenant_id, pid, from, to, "", err);
    } else {
        rc = ledger_sync_payment(tx, &c, req->auth.tenant_id, pid, err);
    }
    return rc;
}

/* The first transaction: the refund row and its reservation. */
static enum perr_code reserve_in_tx(struct request *req, struct refund_plan *plan, struct perr *err)
{
    struct store_tx tx;
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, err);
    if (rc == PERR_OK) {
        rc = store_tx_finish(&tx, reserve_refund(req, &tx, plan, err), err);
    }
    return rc;
}

/* The second transaction: the outcome, and the answer (201 with the refund and the payment
 * as it now is), committed together. */
static enum perr_code settle_and_respond(struct request *req, struct response *res,
                                         const struct refund_plan *plan,
                                         const struct provider_refund *pr, bool succeeded,
                                         struct perr *err)
{
    struct store_tx tx;
    struct store_rows rows;
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    rc = settle_refund(req, &tx, plan, succeeded ? pr->id : NULL, succeeded, err);
    if (rc == PERR_OK && !succeeded) {
        return store_tx_commit(&tx, err);
    }
    if (rc == PERR_OK) {
        rc = payment_load(&tx, req->auth.tenant_id, req->path_params[0], &rows, err);
    }
    if (rc != PERR_OK) {
        store_tx_rollback(&tx);
        return rc;
    }
    json_t *body = refund_json(plan, req->path_params[0], "succeeded");
    json_object_set_new(body, "payment", payment_json(&rows, 0));
    store_rows_free(&rows);
    return api_commit_respond(req, &tx, res, 201, body, err);
}

void api_refunds_create(struct request *req, struct response *res)
{
    static const char *const allowed[] = {"amount", NULL};
    struct refund_plan plan = {0};
    struct perr err;
    if (json_only_keys(req->json, allowed, &err) != PERR_OK ||
        reserve_in_tx(req, &plan, &err) != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    struct provider_binding b;
    struct provider_refund pr = {0};
    struct perr provider_err;
    bool succeeded = false;
    if (provider_bind_owner(req->app, plan.account, plan.provider, &b, &provider_err) == PERR_OK) {
        struct provider_ctx ctx = provider_binding_ctx(&b, req->app, req->request_id);
        succeeded = provider_refund(b.ops, &ctx, plan.provider_payment_id, plan.amount, plan.id,
                                    &pr, &provider_err) == PERR_OK;
        provider_binding_release(&b);
    }
    if (settle_and_respond(req, res, &plan, &pr, succeeded, &err) != PERR_OK) {
        log_emit(LOG_ERROR, "refund outcome not recorded; reconciliation will settle it",
                 json_pack("{s:s, s:b, s:s}", "refund", plan.id, "provider_succeeded", succeeded,
                           "request_id", req->request_id));
        respond_error(res, &err);
        return;
    }
    if (!succeeded) {
        perr_set(&provider_err, provider_err.code, NULL, NULL); /* details stay in the log */
        respond_error(res, &provider_err);
    }
}

/* --- cancel --------------------------------------------------------------------------- */

void api_payments_cancel(struct request *req, struct response *res)
{
    const char *pid = req->path_params[0];
    struct store_tx tx;
    struct store_rows rows;
    struct perr err;
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_READ, &tx, &err);
    if (rc == PERR_OK) {
        rc = payment_load(&tx, req->auth.tenant_id, pid, &rows, &err);
        store_tx_rollback(&tx);
    }
    if (rc != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    bool pending = strcmp(store_rows_get(&rows, 0, PC_STATUS), "pending") == 0;
    char provider[32], account[LIMIT_ID_BYTES], provider_id[PROVIDER_ID_BYTES];
    str_copy(provider, sizeof(provider), store_rows_get(&rows, 0, PC_PROVIDER));
    str_copy(account, sizeof(account), store_rows_get(&rows, 0, PC_ACCOUNT));
    str_copy(provider_id, sizeof(provider_id),
             store_rows_get(&rows, 0, PC_PROVIDER_ID) ? store_rows_get(&rows, 0, PC_PROVIDER_ID)
                                                      : "");
    if (!pending) {
        respond_fail(res, PERR_PAYMENT_NOT_CANCELLABLE, NULL,
                     "The payment is %s; only pending payments can be cancelled.",
                     store_rows_get(&rows, 0, PC_STATUS));
        store_rows_free(&rows);
        return;
    }
    store_rows_free(&rows);
    struct provider_binding b;
    struct provider_payment pp;
    rc = provider_bind_owner(req->app, account, provider, &b, &err);
    if (rc == PERR_OK) {
        struct provider_ctx ctx = provider_binding_ctx(&b, req->app, req->request_id);
        rc = provider_cancel(b.ops, &ctx, provider_id, &pp, &err);
        provider_binding_release(&b);
    }
    if (rc != PERR_OK) {
        if (err.code != PERR_PAYMENT_NOT_CANCELLABLE) {
            perr_set(&err, err.code, NULL, NULL); /* the provider's words stay in the log */
        }
        respond_error(res, &err);
        return;
    }
    struct change_ctx c = {.app = req->app,
                           .actor = req->auth.actor,
                           .correlation_id = req->request_id,
                           .cause = "api"};
    bool changed;
    rc = store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, &err);
    if (rc == PERR_OK) {
        rc = payment_apply_provider(&tx, &c, req->auth.tenant_id, pid, &pp, &changed, &err);
        rc = api_commit_payment(req, &tx, res, rc, pid, 200, &err);
    }
    if (rc != PERR_OK) {
        respond_error(res, &err);
    }
}
