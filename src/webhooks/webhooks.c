#include "webhooks/webhooks.h"

#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "domain/cidr.h"
#include "domain/stdwebhooks.h"
#include "domain/webhook_sigs.h"
#include "payments/payments.h"

/* The sandbox signs with Standard Webhooks under the installation's sandbox key. */
static const char *verify_sandbox(const struct request *req, const struct provider_account *account,
                                  char event_id[WEBHOOK_EVENT_ID_BYTES])
{
    (void)account;
    const char *id = request_header(req, "webhook-id");
    enum stdwh_result r = stdwh_verify(
        req->app->sandbox_webhook_key, SHA256_BYTES, id, request_header(req, "webhook-timestamp"),
        request_header(req, "webhook-signature"), buf_str(&req->body), req->body.len,
        time_now_unix_us() / 1000000, req->app->cfg->webhook_tolerance_s);
    if (r != STDWH_OK) {
        return stdwh_result_reason(r);
    }
    if (strlen(id) >= WEBHOOK_EVENT_ID_BYTES) {
        return "event id too long";
    }
    str_copy(event_id, WEBHOOK_EVENT_ID_BYTES, id);
    return NULL;
}

/* The account's webhook secrets (at most WHSIG_SECRETS_MAX); borrowed from the account. */
static size_t account_secrets(const struct provider_account *a, const char *out[WHSIG_SECRETS_MAX])
{
    json_t *list = json_object_get(a->secrets, "webhook_secrets");
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(list) && n < WHSIG_SECRETS_MAX; i++) {
        const char *s = json_string_value(json_array_get(list, i));
        if (s) {
            out[n++] = s;
        }
    }
    return n;
}

/* An event id taken from the body: a string, or an integer written in decimal. */
static bool body_event_id(const struct request *req, const char *key, const char *second,
                          char event_id[WEBHOOK_EVENT_ID_BYTES])
{
    json_t *root = json_loadb(req->body.data ? req->body.data : "", req->body.len,
                              JSON_REJECT_DUPLICATES, NULL);
    json_t *v = json_object_get(root, key), *w = second ? json_object_get(root, second) : NULL;
    char first[WEBHOOK_EVENT_ID_BYTES] = "";
    if (json_is_string(v)) {
        str_copy(first, sizeof(first), json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(first, sizeof(first), "%lld", (long long)json_integer_value(v));
    }
    if (first[0] && second && json_is_string(w)) {
        snprintf(event_id, WEBHOOK_EVENT_ID_BYTES, "%.60s:%.60s", first, json_string_value(w));
    } else {
        str_copy(event_id, WEBHOOK_EVENT_ID_BYTES, first);
    }
    json_decref(root);
    return event_id[0] != '\0';
}

static int64_t now_s(void)
{
    return time_now_unix_us() / 1000000;
}

static const char *verdict(enum stdwh_result r, bool has_id)
{
    return r != STDWH_OK ? stdwh_result_reason(r) : has_id ? NULL : "the event carries no id";
}

static const char *verify_stripe(const struct request *req, const struct provider_account *a,
                                 char event_id[WEBHOOK_EVENT_ID_BYTES])
{
    const char *secrets[WHSIG_SECRETS_MAX];
    size_t n = account_secrets(a, secrets);
    enum stdwh_result r =
        whsig_stripe_verify(request_header(req, "Stripe-Signature"), buf_str(&req->body),
                            req->body.len, secrets, n, now_s(), req->app->cfg->webhook_tolerance_s);
    return verdict(r, r == STDWH_OK && body_event_id(req, "id", NULL, event_id));
}

/* MercadoPago signs the data.id query parameter, the x-request-id header and a timestamp,
 * not the body; the event is identified by its notification id. */
static const char *verify_mercadopago(const struct request *req, const struct provider_account *a,
                                      char event_id[WEBHOOK_EVENT_ID_BYTES])
{
    const char *secrets[WHSIG_SECRETS_MAX];
    size_t n = account_secrets(a, secrets);
    enum stdwh_result r = whsig_mercadopago_verify(
        request_header(req, "x-signature"), request_header(req, "x-request-id"),
        request_query(req, "data.id"), secrets, n, now_s(), req->app->cfg->webhook_tolerance_s);
    return verdict(r, r == STDWH_OK && body_event_id(req, "id", NULL, event_id));
}

/* Polar secrets made before its cutoff are legacy (the whole string is the key); "whsec_"
 * secrets of the standard kind are base64 keys. */
static const char *verify_polar(const struct request *req, const struct provider_account *a,
                                char event_id[WEBHOOK_EVENT_ID_BYTES])
{
    const char *plain[WHSIG_SECRETS_MAX];
    struct whsig_polar_secret secrets[WHSIG_SECRETS_MAX];
    size_t n = account_secrets(a, plain);
    for (size_t i = 0; i < n; i++) {
        bool standard = strncmp(plain[i], "whsec_", 6) == 0;
        secrets[i] = (struct whsig_polar_secret){plain[i], standard ? WHSIG_POLAR_KEY_STANDARD
                                                                    : WHSIG_POLAR_KEY_LEGACY};
    }
    const char *id = request_header(req, "webhook-id");
    enum stdwh_result r =
        whsig_polar_verify(id, request_header(req, "webhook-timestamp"),
                           request_header(req, "webhook-signature"), buf_str(&req->body),
                           req->body.len, secrets, n, now_s(), req->app->cfg->webhook_tolerance_s);
    if (r == STDWH_OK) {
        str_copy(event_id, WEBHOOK_EVENT_ID_BYTES, id);
    }
    return verdict(r, r == STDWH_OK);
}

/* NOWPayments has no event id and no timestamp: a notification is identified by the payment
 * and the status it reports, so a replay of the same status is a duplicate. */
static const char *verify_nowpayments(const struct request *req, const struct provider_account *a,
                                      char event_id[WEBHOOK_EVENT_ID_BYTES])
{
    const char *secrets[WHSIG_SECRETS_MAX];
    size_t n = account_secrets(a, secrets);
    enum stdwh_result r =
        whsig_nowpayments_verify(request_header(req, "x-nowpayments-sig"), buf_str(&req->body),
                                 req->body.len, secrets, n, false);
    return verdict(r,
                   r == STDWH_OK && body_event_id(req, "payment_id", "payment_status", event_id));
}

/* Conekta's "secrets" are the RSA public keys of the account's webhook key. */
static const char *verify_conekta(const struct request *req, const struct provider_account *a,
                                  char event_id[WEBHOOK_EVENT_ID_BYTES])
{
    const char *keys[WHSIG_SECRETS_MAX];
    size_t n = account_secrets(a, keys);
    enum stdwh_result r = whsig_conekta_verify(request_header(req, "Digest"), buf_str(&req->body),
                                               req->body.len, keys, n);
    return verdict(r, r == STDWH_OK && body_event_id(req, "id", NULL, event_id));
}

/* Flow's confirmation carries only a token (authenticated by the signed getStatus call of its
 * connector) and PayPal's needs its certificate fetched: both arrive with their connectors. */
static const struct webhook_verifier verifiers[] = {
    {"sandbox", false, verify_sandbox},        {"stripe", true, verify_stripe},
    {"mercadopago", true, verify_mercadopago}, {"polar", true, verify_polar},
    {"nowpayments", true, verify_nowpayments}, {"conekta", true, verify_conekta},
};

const struct webhook_verifier *webhook_verifier_find(const char *provider)
{
    for (size_t i = 0; i < ARRAY_LEN(verifiers); i++) {
        if (strcmp(verifiers[i].provider, provider) == 0) {
            return &verifiers[i];
        }
    }
    return NULL;
}

enum perr_code webhook_tenant_exists(struct app *app, const char *tenant_id, bool *exists,
                                     struct perr *err)
{
    struct store_tx tx;
    struct store_rows rows;
    enum perr_code rc = store_tx_begin(app->store, STORE_TX_READ, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    rc = store_exec(&tx, "SELECT 1 FROM tenants WHERE id = ?", SQL_PARAMS(SV_T(tenant_id)), &rows,
                    err);
    store_tx_rollback(&tx);
    if (rc == PERR_OK) {
        *exists = rows.nrows == 1;
        store_rows_free(&rows);
    }
    return rc;
}

void webhook_security_event(const struct request *req, const char *kind, const char *provider,
                            const char *tenant_id, const char *reason)
{
    char id[LIMIT_ID_BYTES], now[RFC3339_BYTES], source[64];
    id_new("sec", id);
    time_format_rfc3339_us(time_now_unix_us(), now);
    request_source(req, source, sizeof(source));
    log_emit(LOG_WARN, "webhook refused",
             json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s}", "kind", kind, "provider", provider,
                       "tenant", tenant_id, "source", source, "reason", reason, "request_id",
                       req->request_id));
    struct store_tx tx;
    struct perr err;
    if (store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, &err) != PERR_OK) {
        return;
    }
    enum perr_code rc = store_exec(
        &tx,
        "INSERT INTO security_events (id, kind, provider, tenant_id, source, reason, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        SQL_PARAMS(SV_T(id), SV_T(kind), SV_T(provider), SV_T(tenant_id), SV_T(source),
                   SV_T(reason), SV_T(now)),
        NULL, &err);
    if (store_tx_finish(&tx, rc, &err) != PERR_OK) {
        log_msg(LOG_WARN, "could not record: %s", err.message);
    }
}

enum perr_code webhook_account(struct app *app, const char *tenant_id, const char *provider,
                               struct provider_account *out, bool *found, struct perr *err)
{
    struct store_tx tx;
    enum perr_code rc = store_tx_begin(app->store, STORE_TX_READ, &tx, err);
    if (rc == PERR_OK) {
        rc = account_load(&tx, app->secrets_key, tenant_id ? tenant_id : ACCOUNT_OWNER_PLATFORM,
                          provider, out, found, err);
        store_tx_rollback(&tx);
    }
    return rc;
}

bool webhook_source_allowed(const struct request *req, const struct provider_account *account)
{
    json_t *list = account ? json_object_get(account->config, "ip_allowlist") : NULL;
    if (json_array_size(list) == 0) {
        return true;
    }
    char source[64];
    request_source(req, source, sizeof(source));
    size_t i;
    json_t *v;
    json_array_foreach (list, i, v) {
        struct cidr c;
        if (cidr_parse(json_string_value(v), &c) && cidr_contains(&c, source)) {
            return true;
        }
    }
    return false;
}

struct inbox_entry {
    struct request *req;
    const char *provider;
    const char *tenant_id;
    const char *account;
    const char *event_id;
    bool duplicate;
};

/* The inbox row and, when the provider has a connector, the job that will process it. A
 * duplicate event id is not an error: nothing is written and the caller answers 200. */
static enum perr_code inbox_tx(struct store_tx *tx, void *arg, struct perr *err)
{
    struct inbox_entry *e = arg;
    char now[RFC3339_BYTES];
    time_format_rfc3339_us(time_now_unix_us(), now);
    enum perr_code rc =
        store_exec(tx,
                   "INSERT INTO webhook_inbox (provider, account, event_id, tenant_id, body, state,"
                   " received) VALUES (?, ?, ?, ?, ?, 'received', ?)",
                   SQL_PARAMS(SV_T(e->provider), SV_T(e->account), SV_T(e->event_id),
                              SV_T(e->tenant_id), SV_T(buf_str(&e->req->body)), SV_T(now)),
                   NULL, err);
    if (rc == PERR_CONFLICT) {
        e->duplicate = true;
        return PERR_OK;
    }
    if (rc == PERR_OK && provider_find(e->provider)) {
        /* Without a connector yet the event waits in the inbox, verified and durable. */
        json_t *payload = json_pack("{s:s, s:s, s:s}", "provider", e->provider, "account",
                                    e->account, "event_id", e->event_id);
        rc = jobs_enqueue(tx, webhook_job_kind.name, e->tenant_id, payload, 0, e->req->request_id,
                          err);
        json_decref(payload);
    }
    return rc;
}

enum perr_code webhook_inbox_commit(struct request *req, const char *provider,
                                    const char *tenant_id, const char *event_id, bool *duplicate,
                                    struct perr *err)
{
    struct inbox_entry e = {.req = req,
                            .provider = provider,
                            .tenant_id = tenant_id,
                            .account = tenant_id ? tenant_id : "platform",
                            .event_id = event_id};
    enum perr_code rc = store_write(req->app->store, inbox_tx, &e, err);
    *duplicate = e.duplicate;
    return rc;
}

/* --- processing --------------------------------------------------------------------------- */

static enum perr_code load_inbox(struct app *app, const char *provider, const char *account,
                                 const char *event_id, char **body, bool *processed,
                                 struct perr *err)
{
    struct store_tx tx;
    struct store_rows rows;
    enum perr_code rc = store_tx_begin(app->store, STORE_TX_READ, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    rc = store_exec(&tx,
                    "SELECT body, state FROM webhook_inbox WHERE provider = ? AND account = ?"
                    " AND event_id = ?",
                    SQL_PARAMS(SV_T(provider), SV_T(account), SV_T(event_id)), &rows, err);
    store_tx_rollback(&tx);
    if (rc == PERR_OK && rows.nrows == 0) {
        rc = perr_set(err, PERR_INTERNAL, NULL, "the inbox has no event %.64s", event_id);
    }
    if (rc == PERR_OK) {
        *body = xstrdup(store_rows_get(&rows, 0, 0));
        *processed = strcmp(store_rows_get(&rows, 0, 1), "processed") == 0;
    }
    store_rows_free(&rows);
    return rc;
}

/* The payment a provider's id refers to; for a tenant's own account, only that tenant's. */
static enum perr_code find_payment(struct store_tx *tx, const char *provider, const char *account,
                                   const char *provider_id, char *tenant, char *id,
                                   struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = store_exec(tx,
                                   "SELECT tenant_id, id FROM payments WHERE provider = ?"
                                   " AND provider_payment_id = ?",
                                   SQL_PARAMS(SV_T(provider), SV_T(provider_id)), &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    bool mine = rows.nrows == 1 && (strcmp(account, "platform") == 0 ||
                                    strcmp(account, store_rows_get(&rows, 0, 0)) == 0);
    if (mine) {
        str_copy(tenant, LIMIT_ID_BYTES, store_rows_get(&rows, 0, 0));
        str_copy(id, LIMIT_ID_BYTES, store_rows_get(&rows, 0, 1));
    } else {
        /* Not (yet) known: the creating transaction may still be committing; retried. */
        rc = perr_set(err, PERR_RESOURCE_MISSING, NULL, "no payment for %.64s at %s", provider_id,
                      provider);
    }
    store_rows_free(&rows);
    return rc;
}

struct applied_event {
    struct app *app;
    const struct job *job;
    const char *provider;
    const char *account;
    const char *event_id;
    const struct provider_event *ev;
};

/* The event's effect on its payment, and the inbox row marked processed, together. */
static enum perr_code apply_event_tx(struct store_tx *tx, void *arg, struct perr *err)
{
    const struct applied_event *a = arg;
    char tenant[LIMIT_ID_BYTES], id[LIMIT_ID_BYTES], actor[48], now[RFC3339_BYTES];
    snprintf(actor, sizeof(actor), "provider:%s", a->provider);
    time_format_rfc3339_us(time_now_unix_us(), now);
    struct change_ctx c = {.app = a->app,
                           .actor = actor,
                           .correlation_id = a->job->correlation_id,
                           .cause = "webhook"};
    bool changed = false;
    enum perr_code rc =
        find_payment(tx, a->provider, a->account, a->ev->payment_ref, tenant, id, err);
    if (rc == PERR_OK) {
        rc = payment_apply_provider(tx, &c, tenant, id, &a->ev->payment, &changed, err);
    }
    if (rc == PERR_OK) {
        rc = store_exec(tx,
                        "UPDATE webhook_inbox SET state = 'processed', processed = ?,"
                        " tenant_id = ? WHERE provider = ? AND account = ? AND event_id = ?",
                        SQL_PARAMS(SV_T(now), SV_T(tenant), SV_T(a->provider), SV_T(a->account),
                                   SV_T(a->event_id)),
                        NULL, err);
    }
    return rc;
}

static enum perr_code apply_event(struct app *app, const struct job *job, const char *provider,
                                  const char *account, const char *event_id,
                                  const struct provider_event *ev, struct perr *err)
{
    struct applied_event a = {.app = app,
                              .job = job,
                              .provider = provider,
                              .account = account,
                              .event_id = event_id,
                              .ev = ev};
    return store_write(app->store, apply_event_tx, &a, err);
}

static enum perr_code process(struct app *app, const struct job *job, struct perr *err)
{
    const char *provider = json_string_value(json_object_get(job->payload, "provider"));
    const char *account = json_string_value(json_object_get(job->payload, "account"));
    const char *event_id = json_string_value(json_object_get(job->payload, "event_id"));
    const struct provider_ops *ops = provider ? provider_find(provider) : NULL;
    if (!ops || !account || !event_id) {
        return perr_set(err, PERR_INTERNAL, NULL, "malformed webhook job");
    }
    char *body = NULL;
    bool processed = false;
    enum perr_code rc = load_inbox(app, provider, account, event_id, &body, &processed, err);
    if (rc != PERR_OK || processed) {
        free(body);
        return rc;
    }
    struct provider_ctx ctx = {.app = app,
                               .tenant_id = strcmp(account, "platform") == 0 ? NULL : account,
                               .correlation_id = job->correlation_id};
    struct provider_event ev;
    rc = ops->parse_webhook(&ctx, body, strlen(body), &ev, err);
    free(body);
    if (rc == PERR_OK && !ev.has_payment) {
        rc = provider_get_payment(ops, &ctx, ev.payment_ref, &ev.payment, err);
    }
    return rc == PERR_OK ? apply_event(app, job, provider, account, event_id, &ev, err) : rc;
}

const struct job_kind webhook_job_kind = {
    .name = "webhook.process",
    .max_attempts = 8,
    .base_delay_ms = 100,
    .max_delay_ms = 30000,
    .run = process,
};
