#include "webhooks/webhooks.h"

#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "domain/cidr.h"
#include "domain/stdwebhooks.h"
#include "domain/webhook_sigs.h"
#include "payments/payments.h"
#include "providers/binding.h"
#include "webhooks/paypal_certs.h"

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

/* PayPal signs with a certificate of its own, named by the notification and downloaded from
 * PayPal (cached); the message includes the account's webhook id. */
static const char *verify_paypal(const struct request *req, const struct provider_account *a,
                                 char event_id[WEBHOOK_EVENT_ID_BYTES])
{
    const char *webhook_id = json_string_value(json_object_get(a->config, "webhook_id"));
    struct whsig_paypal_headers h = {
        .transmission_id = request_header(req, "PAYPAL-TRANSMISSION-ID"),
        .transmission_time = request_header(req, "PAYPAL-TRANSMISSION-TIME"),
        .transmission_sig = request_header(req, "PAYPAL-TRANSMISSION-SIG"),
        .cert_url = request_header(req, "PAYPAL-CERT-URL"),
        .auth_algo = request_header(req, "PAYPAL-AUTH-ALGO")};
    if (!webhook_id) {
        return "the account has no webhook_id";
    }
    const char *why = NULL;
    char *pem = paypal_cert(req->app, h.cert_url, &why);
    if (!pem) {
        return why;
    }
    enum stdwh_result r = whsig_paypal_verify(&h, webhook_id, buf_str(&req->body), req->body.len,
                                              pem, now_s(), req->app->cfg->webhook_tolerance_s);
    free(pem);
    return verdict(r, r == STDWH_OK && body_event_id(req, "id", NULL, event_id));
}

/* Flow's confirmation is `token=<token>`, unsigned: Flow signs nothing it sends. It is kept
 * as it is (one per token) and becomes trusted only through the signed getStatus call the
 * Flow connector makes with the account's secret key; until then it is not applied. */
static const char *verify_flow(const struct request *req, const struct provider_account *a,
                               char event_id[WEBHOOK_EVENT_ID_BYTES])
{
    (void)a;
    const char *body = buf_str(&req->body);
    size_t n = req->body.len;
    if (n <= 6 || n - 6 >= WEBHOOK_EVENT_ID_BYTES || strncmp(body, "token=", 6) != 0) {
        return "not a Flow confirmation (token=...)";
    }
    for (size_t i = 6; i < n; i++) {
        char c = body[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            return "a Flow token is letters and digits";
        }
    }
    str_copy(event_id, WEBHOOK_EVENT_ID_BYTES, body + 6);
    return NULL;
}

static const struct webhook_verifier verifiers[] = {
    {"sandbox", false, verify_sandbox},        {"stripe", true, verify_stripe},
    {"mercadopago", true, verify_mercadopago}, {"polar", true, verify_polar},
    {"nowpayments", true, verify_nowpayments}, {"conekta", true, verify_conekta},
    {"paypal", true, verify_paypal},           {"flow", true, verify_flow},
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

/* Records a security event (and logs it): what the operator lists at /v1/security_events. */
static enum perr_code security_insert(struct store_tx *tx, const char *kind,
                                     const char *provider, const char *tenant_id,
                                     const char *source, const char *reason,
                                     const char *correlation_id, struct perr *err)
{
    char id[LIMIT_ID_BYTES], now[RFC3339_BYTES];
    id_new("sec", id);
    time_format_rfc3339_us(time_now_unix_us(), now);
    log_emit(LOG_WARN, "webhook refused",
             json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s}", "kind", kind, "provider", provider,
                       "tenant", tenant_id, "source", source, "reason", reason, "request_id",
                       correlation_id));
    return store_exec(
        tx,
        "INSERT INTO security_events (id, kind, provider, tenant_id, source, reason, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        SQL_PARAMS(SV_T(id), SV_T(kind), SV_T(provider), SV_T(tenant_id), SV_T(source),
                   SV_T(reason), SV_T(now)),
        NULL, err);
}

static void security_record(struct app *app, const char *kind, const char *provider,
                            const char *tenant_id, const char *source, const char *reason,
                            const char *correlation_id)
{
    struct store_tx tx;
    struct perr err;
    if (store_tx_begin(app->store, STORE_TX_WRITE, &tx, &err) != PERR_OK) {
        return;
    }
    enum perr_code rc =
        security_insert(&tx, kind, provider, tenant_id, source, reason, correlation_id, &err);
    if (store_tx_finish(&tx, rc, &err) != PERR_OK) {
        log_msg(LOG_WARN, "could not record: %s", err.message);
    }
}

void webhook_security_event(const struct request *req, const char *kind, const char *provider,
                            const char *tenant_id, const char *reason)
{
    char source[64];
    request_source(req, source, sizeof(source));
    security_record(req->app, kind, provider, tenant_id, source, reason, req->request_id);
}

/* A connected account's notifications are signed by the operator's application at the
 * provider (MercadoPago signs with the application's secret): unless the tenant set secrets
 * of its own, the platform account's verify them. */
static enum perr_code inherit_platform_secrets(struct store_tx *tx, const uint8_t *key,
                                               struct provider_account *a, struct perr *err)
{
    if (strcmp(a->mode, "connected") != 0 || json_object_get(a->secrets, "webhook_secrets")) {
        return PERR_OK;
    }
    struct provider_account platform;
    bool found = false;
    enum perr_code rc =
        account_load(tx, key, ACCOUNT_OWNER_PLATFORM, a->provider, &platform, &found, err);
    if (rc == PERR_OK && found) {
        json_t *secrets = json_object_get(platform.secrets, "webhook_secrets");
        if (secrets) {
            json_object_set(a->secrets, "webhook_secrets", secrets);
        }
        account_release(&platform);
    }
    return rc;
}

enum perr_code webhook_account(struct app *app, const char *tenant_id, const char *provider,
                               struct provider_account *out, bool *found, struct perr *err)
{
    struct store_tx tx;
    *found = false;
    enum perr_code rc = store_tx_begin(app->store, STORE_TX_READ, &tx, err);
    if (rc == PERR_OK) {
        rc = account_load(&tx, app->secrets_key, tenant_id ? tenant_id : ACCOUNT_OWNER_PLATFORM,
                          provider, out, found, err);
        if (rc == PERR_OK && *found) {
            rc = inherit_platform_secrets(&tx, app->secrets_key, out, err);
        }
        store_tx_rollback(&tx);
    }
    if (rc != PERR_OK && *found) {
        account_release(out);
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
        *processed = strcmp(store_rows_get(&rows, 0, 1), "received") != 0;
    }
    store_rows_free(&rows);
    return rc;
}

/* The payment a provider's report is about, and the account it was made through. */
struct target {
    char tenant[LIMIT_ID_BYTES];
    char id[LIMIT_ID_BYTES];
    char account[LIMIT_ID_BYTES];
    bool by_reference; /* found by pasarela's id: the provider's id is still to be recorded */
};

static bool take_target(struct store_rows *rows, const char *inbox_account, struct target *t)
{
    bool mine = rows->nrows == 1 && (strcmp(inbox_account, ACCOUNT_OWNER_PLATFORM) == 0 ||
                                     strcmp(inbox_account, store_rows_get(rows, 0, 0)) == 0);
    if (mine) {
        str_copy(t->tenant, sizeof(t->tenant), store_rows_get(rows, 0, 0));
        str_copy(t->id, sizeof(t->id), store_rows_get(rows, 0, 1));
        str_copy(t->account, sizeof(t->account), store_rows_get(rows, 0, 2));
    }
    store_rows_free(rows);
    return mine;
}

/* By the provider's payment id, else by the external reference pasarela gave the provider
 * (its own payment id: a MercadoPago checkout has no payment id until the buyer pays). For a
 * tenant's own account, only that tenant's payments. */
static enum perr_code find_payment(struct store_tx *tx, const char *provider, const char *account,
                                   const struct provider_event *ev, struct target *t,
                                   struct perr *err)
{
    struct store_rows rows;
    *t = (struct target){0};
    enum perr_code rc = store_exec(tx,
                                   "SELECT tenant_id, id, provider_account FROM payments"
                                   " WHERE provider = ? AND provider_payment_id = ?",
                                   SQL_PARAMS(SV_T(provider), SV_T(ev->payment_ref)), &rows, err);
    if (rc == PERR_OK && take_target(&rows, account, t)) {
        return PERR_OK;
    }
    const char *ref = ev->payment.external_reference;
    if (rc == PERR_OK && ref[0]) {
        rc = store_exec(tx,
                        "SELECT tenant_id, id, provider_account FROM payments WHERE id = ?"
                        " AND provider = ?",
                        SQL_PARAMS(SV_T(ref), SV_T(provider)), &rows, err);
        t->by_reference = rc == PERR_OK && take_target(&rows, account, t);
        if (t->by_reference) {
            return PERR_OK;
        }
    }
    /* Not (yet) known: the creating transaction may still be committing; retried. */
    return rc != PERR_OK ? rc
                         : perr_set(err, PERR_RESOURCE_MISSING, NULL, "no payment for %.64s at %s",
                                    ev->payment_ref, provider);
}

/* Whether the report comes from another provider account than the one the payment was made
 * through: the account's known id at the provider (config.account_ref, set when it was
 * connected) against the one the event or the payment names. A platform payment must not be
 * moved by an event of a connected account. */
static enum perr_code foreign_account(struct store_tx *tx, const char *provider,
                                      const struct target *t, const struct provider_event *ev,
                                      bool *foreign, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc =
        store_exec(tx, "SELECT config FROM provider_accounts WHERE owner = ? AND provider = ?",
                   SQL_PARAMS(SV_T(t->account), SV_T(provider)), &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    json_t *config = rows.nrows ? json_loads(store_rows_get(&rows, 0, 0), 0, NULL) : NULL;
    store_rows_free(&rows);
    const char *expected = json_string_value(json_object_get(config, "account_ref"));
    const char *reported = ev->account_ref[0] ? ev->account_ref : ev->payment.account_ref;
    *foreign = expected ? strcmp(reported, expected) != 0
                        : strcmp(t->account, ACCOUNT_OWNER_PLATFORM) == 0 && ev->account_ref[0];
    json_decref(config);
    return PERR_OK;
}

struct applied_event {
    struct app *app;
    const struct job *job;
    const char *provider;
    const char *account;
    const char *event_id;
    const struct provider_event *ev;
    bool foreign; /* out: refused, the report is another account's */
    const char *refusal; /* why it was refused, for the security event */
};

static enum perr_code mark_inbox(struct store_tx *tx, const struct applied_event *a,
                                 const char *state, const char *tenant, struct perr *err)
{
    char now[RFC3339_BYTES];
    time_format_rfc3339_us(time_now_unix_us(), now);
    return store_exec(tx,
                      "UPDATE webhook_inbox SET state = ?, processed = ?, tenant_id = ?"
                      " WHERE provider = ? AND account = ? AND event_id = ?",
                      SQL_PARAMS(SV_T(state), SV_T(now), SV_T(tenant), SV_T(a->provider),
                                 SV_T(a->account), SV_T(a->event_id)),
                      NULL, err);
}

/* A refused report, in one transaction: a security event, and the inbox row kept as refused
 * (not retried). */
static enum perr_code refuse_tx(struct store_tx *tx, const struct applied_event *a,
                                const char *tenant, struct perr *err)
{
    const char *endpoint = strcmp(a->account, ACCOUNT_OWNER_PLATFORM) == 0 ? NULL : a->account;
    enum perr_code rc = security_insert(tx, "webhook_account_mismatch", a->provider, endpoint,
                                        "job", a->refusal, a->job->correlation_id, err);
    return rc == PERR_OK ? mark_inbox(tx, a, "refused", tenant, err) : rc;
}

/* The event's effect on its payment, and the inbox row marked processed, together. */
static enum perr_code apply_event_tx(struct store_tx *tx, void *arg, struct perr *err)
{
    struct applied_event *a = arg;
    char actor[48];
    snprintf(actor, sizeof(actor), "provider:%s", a->provider);
    struct change_ctx c = {.app = a->app,
                           .actor = actor,
                           .correlation_id = a->job->correlation_id,
                           .cause = "webhook"};
    struct target t;
    bool changed = false;
    enum perr_code rc = find_payment(tx, a->provider, a->account, a->ev, &t, err);
    if (rc == PERR_OK) {
        rc = foreign_account(tx, a->provider, &t, a->ev, &a->foreign, err);
    }
    if (rc == PERR_OK && a->foreign) {
        a->refusal = "the event belongs to another provider account than the payment";
        return refuse_tx(tx, a, t.tenant, err);
    }
    if (rc == PERR_OK && t.by_reference) {
        rc = store_exec(
            tx, "UPDATE payments SET provider_payment_id = ? WHERE tenant_id = ? AND id = ?",
            SQL_PARAMS(SV_T(a->ev->payment_ref), SV_T(t.tenant), SV_T(t.id)), NULL, err);
    }
    if (rc == PERR_OK) {
        rc = payment_apply_provider(tx, &c, t.tenant, t.id, &a->ev->payment, &changed, err);
    }
    return rc == PERR_OK ? mark_inbox(tx, a, "processed", t.tenant, err) : rc;
}

static enum perr_code mark_inbox_tx(struct store_tx *tx, void *arg, struct perr *err)
{
    const struct applied_event *a = arg;
    return a->foreign ? refuse_tx(tx, a, NULL, err) : mark_inbox(tx, a, "processed", NULL, err);
}

/* Asks the provider for the payment's state when the event carries only its id. A payment
 * this account's credentials cannot see is not this account's: the event is refused. */
static enum perr_code fetch_payment(struct applied_event *a, const struct provider_binding *b,
                                    struct provider_event *ev, struct perr *err)
{
    struct provider_ctx ctx = provider_binding_ctx(b, a->app, a->job->correlation_id);
    enum perr_code rc = provider_get_payment(b->ops, &ctx, ev->payment_ref, &ev->payment, err);
    if (rc == PERR_RESOURCE_MISSING) {
        a->foreign = true;
        a->refusal = "the payment is not visible to this account";
        return store_write(a->app->store, mark_inbox_tx, a, err);
    }
    return rc;
}

/* The account whose credentials can see the payment: the one it was made through when
 * pasarela knows the payment (a platform endpoint also receives connected accounts' events),
 * else the endpoint's own. *foreign when a tenant's endpoint reports another tenant's
 * payment. */
static enum perr_code payment_owner(struct applied_event *a, const struct provider_event *ev,
                                    char owner[LIMIT_ID_BYTES], struct perr *err)
{
    struct store_tx tx;
    struct store_rows rows;
    enum perr_code rc = store_tx_begin(a->app->store, STORE_TX_READ, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    rc = store_exec(&tx,
                    "SELECT tenant_id, provider_account FROM payments WHERE provider = ?"
                    " AND provider_payment_id = ?",
                    SQL_PARAMS(SV_T(a->provider), SV_T(ev->payment_ref)), &rows, err);
    store_tx_rollback(&tx);
    if (rc != PERR_OK) {
        return rc;
    }
    bool platform = strcmp(a->account, ACCOUNT_OWNER_PLATFORM) == 0;
    bool known = rows.nrows == 1;
    str_copy(owner, LIMIT_ID_BYTES, known ? store_rows_get(&rows, 0, 1) : a->account);
    a->foreign = known && !platform && strcmp(store_rows_get(&rows, 0, 0), a->account) != 0;
    store_rows_free(&rows);
    if (!known && platform && ev->account_ref[0]) {
        /* a connected account's event before its payment is recorded: try again later */
        return perr_set(err, PERR_RESOURCE_MISSING, NULL, "no payment for %.64s at %s yet",
                        ev->payment_ref, a->provider);
    }
    return PERR_OK;
}

/* Fetches the payment's state when needed, then applies it. */
static enum perr_code apply_payment_event(struct applied_event *a, struct provider_event *ev,
                                          struct perr *err)
{
    char owner[LIMIT_ID_BYTES];
    enum perr_code rc = payment_owner(a, ev, owner, err);
    if (rc != PERR_OK) {
        return rc;
    }
    if (a->foreign) {
        a->refusal = "the event is about another tenant's payment";
        return store_write(a->app->store, mark_inbox_tx, a, err);
    }
    if (!ev->has_payment) {
        struct provider_binding b;
        rc = provider_bind_owner(a->app, owner, a->provider, &b, err);
        if (rc == PERR_OK) {
            rc = fetch_payment(a, &b, ev, err);
            provider_binding_release(&b);
        }
    }
    if (rc == PERR_OK && !a->foreign) {
        rc = store_write(a->app->store, apply_event_tx, a, err);
    }
    return rc;
}

static enum perr_code process_event(struct applied_event *a, const char *body, struct perr *err)
{
    const struct provider_ops *ops = provider_find(a->provider);
    struct provider_ctx ctx = {.app = a->app, .correlation_id = a->job->correlation_id};
    struct provider_event ev;
    a->ev = &ev;
    enum perr_code rc = ops->parse_webhook(&ctx, body, strlen(body), &ev, err);
    if (rc == PERR_OK && !ev.payment_ref[0]) {
        /* not about a payment (an account link, say): nothing to apply */
        return store_write(a->app->store, mark_inbox_tx, a, err);
    }
    return rc == PERR_OK ? apply_payment_event(a, &ev, err) : rc;
}

static enum perr_code process(struct app *app, const struct job *job, struct perr *err)
{
    const char *provider = json_string_value(json_object_get(job->payload, "provider"));
    const char *account = json_string_value(json_object_get(job->payload, "account"));
    const char *event_id = json_string_value(json_object_get(job->payload, "event_id"));
    if (!provider || !provider_find(provider) || !account || !event_id) {
        return perr_set(err, PERR_INTERNAL, NULL, "malformed webhook job");
    }
    char *body = NULL;
    bool processed = false;
    enum perr_code rc = load_inbox(app, provider, account, event_id, &body, &processed, err);
    if (rc == PERR_OK && !processed) {
        struct applied_event a = {
            .app = app, .job = job, .provider = provider, .account = account, .event_id = event_id};
        rc = process_event(&a, body, err);
    }
    free(body);
    return rc;
}

const struct job_kind webhook_job_kind = {
    .name = "webhook.process",
    .max_attempts = 8,
    .base_delay_ms = 100,
    .max_delay_ms = 30000,
    .run = process,
};
