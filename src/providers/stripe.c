/* The Stripe connector (shared/PROVIDERS.md section 2): PaymentIntents (form-encoded, with
 * Idempotency-Key on every write), their charge's refunds and fees, listing by creation time,
 * and Connect: a connected account is called with the platform's key and Stripe-Account,
 * and the operator's fee is the PaymentIntent's application_fee_amount. Stripe speaks minor
 * units, so amounts go out as they are. */
#include "app.h"
#include "core/json.h"
#include "core/log.h"
#include "providers/binding.h"
#include "providers/outbound.h"

#define STRIPE "stripe"
#define STRIPE_URL_BYTES (CONFIG_PATH_BYTES + 256)
#define STRIPE_FORM_MAX (16 * 1024)
#define STRIPE_LIST_PAGE 100
#define STRIPE_LIST_PAGES_MAX 100

struct stripe_call {
    struct outbound o;
    char url[STRIPE_URL_BYTES];
    char auth[PROVIDER_URL_BYTES + 32];
    char account[PROVIDER_ID_BYTES + 32];
    char idem[PROVIDER_ID_BYTES + 32];
    struct buf form;
};

static bool is_connected(const struct provider_account *a)
{
    return a && strcmp(a->mode, "connected") == 0;
}

/* The key a call uses: the account's own, or for a connected account the platform's (with
 * the account named in Stripe-Account). */
static enum perr_code stripe_prepare(const struct provider_ctx *ctx, struct stripe_call *c,
                                     const char *method, const char *idempotency_key,
                                     struct perr *err)
{
    bool connected = is_connected(ctx->account);
    const char *key = account_credential(connected ? ctx->platform : ctx->account, "secret_key");
    const char *acct = connected ? account_setting(ctx->account, "account_ref") : NULL;
    if (!key || (connected && !acct)) {
        return perr_set(err, PERR_PROVIDER_NOT_ENABLED, "provider",
                        connected ? "Stripe Connect needs the operator's secret_key and the "
                                    "connected account."
                                  : "The Stripe account has no secret_key.");
    }
    *c = (struct stripe_call){.o = {.ctx = ctx, .provider = STRIPE, .method = method}};
    buf_init(&c->form, STRIPE_FORM_MAX);
    snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", key);
    size_t h = 0;
    c->o.headers[h++] = c->auth;
    c->o.headers[h++] = "Content-Type: application/x-www-form-urlencoded";
    if (acct) {
        snprintf(c->account, sizeof(c->account), "Stripe-Account: %s", acct);
        c->o.headers[h++] = c->account;
    }
    if (idempotency_key) {
        snprintf(c->idem, sizeof(c->idem), "Idempotency-Key: %s", idempotency_key);
        c->o.headers[h++] = c->idem;
    }
    c->o.idempotent = strcmp(method, "GET") == 0 || idempotency_key != NULL;
    c->o.url = c->url;
    return PERR_OK;
}

static void stripe_release(struct stripe_call *c)
{
    buf_release(&c->form);
}

/* Appends key=value to the form (value NULL: nothing). */
static void form_add(struct stripe_call *c, const char *key, const char *value)
{
    if (!value) {
        return;
    }
    bool ok = (c->form.len == 0 || buf_append(&c->form, "&", 1)) && buf_append_str(&c->form, key) &&
              buf_append(&c->form, "=", 1) && outbound_urlencode(&c->form, value);
    PASSERT(ok || c->form.too_big);
}

static void form_add_int(struct stripe_call *c, const char *key, int64_t value)
{
    char text[24];
    snprintf(text, sizeof(text), "%lld", (long long)value);
    form_add(c, key, text);
}

static void stripe_url(struct stripe_call *c, const char *base, const char *fmt, const char *arg)
{
    int n = snprintf(c->url, sizeof(c->url), "%s", base);
    snprintf(c->url + n, sizeof(c->url) - (size_t)n, fmt, arg);
}

static enum perr_code stripe_perform(struct stripe_call *c, struct outbound_result *r,
                                     const char *message_path, struct perr *err)
{
    if (c->form.too_big) {
        return perr_set(err, PERR_INTERNAL, NULL, "Stripe request too large");
    }
    c->o.body = c->form.len ? buf_str(&c->form) : NULL;
    if (strcmp(c->o.method, "POST") == 0 && !c->o.body) {
        c->o.body = "";
    }
    enum perr_code rc = outbound_call(&c->o, r, err);
    json_t *declined = r->status == 402
                           ? json_object_get(json_object_get(r->json, "error"), "payment_intent")
                           : NULL;
    if (rc == PERR_OK && json_is_object(declined)) {
        /* a declined card: the PaymentIntent exists and waits for another payment method */
        json_incref(declined);
        json_decref(r->json);
        r->json = declined;
        return PERR_OK;
    }
    if (rc == PERR_OK && (r->status < 200 || r->status > 299)) {
        rc = outbound_fail(&c->o, r, message_path, err);
        outbound_result_release(r);
    }
    return rc;
}

static enum payment_status stripe_status(const char *status)
{
    if (strcmp(status, "succeeded") == 0) {
        return PAYMENT_APPROVED;
    }
    return strcmp(status, "canceled") == 0 ? PAYMENT_CANCELLED : PAYMENT_PENDING;
}

/* The charge's refunds and fee (when the charge and its balance transaction are expanded). */
static void stripe_charge(json_t *charge, struct provider_payment *out)
{
    if (!json_is_object(charge)) {
        return;
    }
    out->amount_refunded = json_integer_value(json_object_get(charge, "amount_refunded"));
    json_t *fee = json_object_get(json_object_get(charge, "balance_transaction"), "fee");
    if (json_is_integer(fee)) {
        out->has_fee = true;
        out->fee = json_integer_value(fee);
    }
    if (out->status == PAYMENT_APPROVED && json_is_true(json_object_get(charge, "disputed"))) {
        out->status = PAYMENT_CHARGED_BACK;
    } else if (out->status == PAYMENT_APPROVED && out->amount_refunded > 0) {
        out->status =
            out->amount_refunded >= out->amount ? PAYMENT_REFUNDED : PAYMENT_PARTIALLY_REFUNDED;
    }
}

static enum perr_code stripe_parse_intent(json_t *pi, struct provider_payment *out,
                                          struct perr *err)
{
    const char *id = json_string_value(json_object_get(pi, "id"));
    const char *status = json_string_value(json_object_get(pi, "status"));
    const char *currency = json_string_value(json_object_get(pi, "currency"));
    json_t *amount = json_object_get(pi, "amount");
    if (!id || !status || !currency || strlen(currency) != 3 || !json_is_integer(amount)) {
        return perr_set(err, PERR_PROVIDER_ERROR, NULL,
                        "Stripe answered an unreadable "
                        "PaymentIntent.");
    }
    str_copy(out->id, sizeof(out->id), id);
    out->status = stripe_status(status);
    json_t *failure = json_object_get(pi, "last_payment_error");
    const char *decline = json_string_value(json_object_get(failure, "decline_code"));
    const char *code = json_string_value(json_object_get(failure, "code"));
    str_copy(out->status_detail, sizeof(out->status_detail),
             decline ? decline
             : code  ? code
                     : status);
    out->amount = json_integer_value(amount);
    for (int i = 0; i < 3; i++) {
        out->currency[i] =
            (char)(currency[i] >= 'a' && currency[i] <= 'z' ? currency[i] - 32 : currency[i]);
    }
    out->currency[3] = '\0';
    const char *ref =
        json_string_value(json_object_get(json_object_get(pi, "metadata"), "pasarela_payment_id"));
    str_copy(out->external_reference, sizeof(out->external_reference), ref ? ref : "");
    stripe_charge(json_object_get(pi, "latest_charge"), out);
    return PERR_OK;
}

static const char *api_url(const struct provider_ctx *ctx)
{
    return ctx->app->cfg->stripe_api_url;
}

static enum perr_code stripe_create(const struct provider_ctx *ctx,
                                    const struct provider_payment_request *req,
                                    struct provider_payment *out, struct perr *err)
{
    struct stripe_call c;
    struct outbound_result r;
    enum perr_code rc = stripe_prepare(ctx, &c, "POST", req->idempotency_key, err);
    if (rc != PERR_OK) {
        return rc;
    }
    char currency[4];
    for (int i = 0; i < 4; i++) {
        currency[i] = (char)(req->currency->code[i] >= 'A' && req->currency->code[i] <= 'Z'
                                 ? req->currency->code[i] + 32
                                 : req->currency->code[i]);
    }
    stripe_url(&c, api_url(ctx), "%s", "/v1/payment_intents");
    form_add_int(&c, "amount", req->amount);
    form_add(&c, "currency", currency);
    form_add(&c, "description", req->description);
    form_add(&c, "receipt_email", req->customer_email);
    form_add(&c, "metadata[pasarela_payment_id]", req->payment_id);
    if (req->method) {
        form_add(&c, "payment_method", req->method);
        form_add(&c, "confirm", "true");
    } else {
        form_add(&c, "automatic_payment_methods[enabled]", "true");
    }
    if (req->application_fee > 0) {
        form_add_int(&c, "application_fee_amount", req->application_fee);
    }
    form_add(&c, "expand[0]", "latest_charge.balance_transaction");
    rc = stripe_perform(&c, &r, "error.message", err);
    stripe_release(&c);
    if (rc == PERR_OK) {
        rc = stripe_parse_intent(r.json, out, err);
        outbound_result_release(&r);
    }
    return rc;
}

/* A call about one PaymentIntent (path: a format with one %s, its id percent-encoded) whose
 * answer is the PaymentIntent. */
static enum perr_code intent_call(const struct provider_ctx *ctx, const char *method,
                                  const char *idempotency_key, const char *path,
                                  const char *provider_id, struct provider_payment *out,
                                  struct perr *err)
{
    struct stripe_call c;
    struct outbound_result r;
    enum perr_code rc = stripe_prepare(ctx, &c, method, idempotency_key, err);
    if (rc != PERR_OK) {
        return rc;
    }
    struct buf id;
    buf_init(&id, PROVIDER_ID_BYTES * 3);
    bool ok = outbound_urlencode(&id, provider_id);
    stripe_url(&c, api_url(ctx), path, ok ? buf_str(&id) : "");
    buf_release(&id);
    rc = stripe_perform(&c, &r, "error.message", err);
    stripe_release(&c);
    if (rc == PERR_OK) {
        rc = stripe_parse_intent(r.json, out, err);
        outbound_result_release(&r);
    }
    return rc;
}

static enum perr_code stripe_get(const struct provider_ctx *ctx, const char *provider_id,
                                 struct provider_payment *out, struct perr *err)
{
    return intent_call(ctx, "GET", NULL,
                       "/v1/payment_intents/%s?expand%%5B%%5D=latest_charge.balance_transaction",
                       provider_id, out, err);
}

static enum perr_code stripe_refund(const struct provider_ctx *ctx, const char *provider_id,
                                    int64_t amount, const char *idempotency_key,
                                    struct provider_refund *out, struct perr *err)
{
    struct stripe_call c;
    struct outbound_result r;
    enum perr_code rc = stripe_prepare(ctx, &c, "POST", idempotency_key, err);
    if (rc != PERR_OK) {
        return rc;
    }
    stripe_url(&c, api_url(ctx), "%s", "/v1/refunds");
    form_add(&c, "payment_intent", provider_id);
    form_add_int(&c, "amount", amount);
    rc = stripe_perform(&c, &r, "error.message", err);
    stripe_release(&c);
    if (rc == PERR_OK) {
        const char *id = json_string_value(json_object_get(r.json, "id"));
        str_copy(out->id, sizeof(out->id), id ? id : "");
        out->amount = amount;
        outbound_result_release(&r);
    }
    return rc;
}

static enum perr_code stripe_cancel(const struct provider_ctx *ctx, const char *provider_id,
                                    struct provider_payment *out, struct perr *err)
{
    char key[PROVIDER_ID_BYTES + 8];
    snprintf(key, sizeof(key), "cancel-%s", provider_id);
    return intent_call(ctx, "POST", key, "/v1/payment_intents/%s/cancel", provider_id, out, err);
}

/* One page of PaymentIntents created in [from, to); *last receives the last id ("" at the
 * end of the list). */
static enum perr_code stripe_list_page(const struct provider_ctx *ctx, int64_t from_s, int64_t to_s,
                                       char *last, provider_search_fn fn, void *arg,
                                       struct perr *err)
{
    struct stripe_call c;
    struct outbound_result r;
    enum perr_code rc = stripe_prepare(ctx, &c, "GET", NULL, err);
    if (rc != PERR_OK) {
        return rc;
    }
    int n = snprintf(c.url, sizeof(c.url),
                     "%s/v1/payment_intents?created%%5Bgte%%5D=%lld&created%%5Blt%%5D=%lld"
                     "&limit=%d",
                     api_url(ctx), (long long)from_s, (long long)to_s, STRIPE_LIST_PAGE);
    if (last[0]) {
        snprintf(c.url + n, sizeof(c.url) - (size_t)n, "&starting_after=%s", last);
    }
    rc = stripe_perform(&c, &r, "error.message", err);
    stripe_release(&c);
    if (rc != PERR_OK) {
        return rc;
    }
    size_t i;
    json_t *pi;
    last[0] = '\0';
    json_array_foreach (json_object_get(r.json, "data"), i, pi) {
        struct provider_payment pp = {0};
        struct perr ignored;
        if (stripe_parse_intent(pi, &pp, &ignored) == PERR_OK) {
            fn(&pp, json_integer_value(json_object_get(pi, "created")) * 1000000, arg);
            str_copy(last, PROVIDER_ID_BYTES, pp.id);
        }
    }
    if (!json_is_true(json_object_get(r.json, "has_more"))) {
        last[0] = '\0';
    }
    outbound_result_release(&r);
    return PERR_OK;
}

static enum perr_code stripe_search(const struct provider_ctx *ctx, int64_t from_us, int64_t to_us,
                                    provider_search_fn fn, void *arg, struct perr *err)
{
    char last[PROVIDER_ID_BYTES] = "";
    enum perr_code rc = PERR_OK;
    for (int page = 0; page < STRIPE_LIST_PAGES_MAX && rc == PERR_OK; page++) {
        rc = stripe_list_page(ctx, from_us / 1000000, (to_us + 999999) / 1000000, last, fn, arg,
                              err);
        if (!last[0]) {
            break;
        }
    }
    return rc;
}

/* Every event about a PaymentIntent, its charge or a refund names the PaymentIntent; its
 * state is then fetched, so that events arriving out of order never matter. */
static enum perr_code stripe_parse_webhook(const struct provider_ctx *ctx, const char *body,
                                           size_t len, struct provider_event *out, struct perr *err)
{
    (void)ctx;
    *out = (struct provider_event){0};
    json_t *root = json_loads_exact(body, len);
    const char *type = json_string_value(json_object_get(root, "type"));
    json_t *object = json_object_get(json_object_get(root, "data"), "object");
    const char *kind = json_string_value(json_object_get(object, "object"));
    if (!type || !kind) {
        json_decref(root);
        return perr_set(err, PERR_INTERNAL, NULL, "a Stripe event without a type or object");
    }
    str_copy(out->type, sizeof(out->type), type);
    const char *pi = strcmp(kind, "payment_intent") == 0
                         ? json_string_value(json_object_get(object, "id"))
                         : json_string_value(json_object_get(object, "payment_intent"));
    str_copy(out->payment_ref, sizeof(out->payment_ref), pi ? pi : "");
    const char *account = json_string_value(json_object_get(root, "account"));
    str_copy(out->account_ref, sizeof(out->account_ref), account ? account : "");
    json_decref(root);
    return PERR_OK;
}

/* --- Connect OAuth (standard accounts) ------------------------------------------------ */

static enum perr_code platform_key(const struct provider_ctx *ctx, const char **key,
                                   const char **client_id, struct perr *err)
{
    *key = account_credential(ctx->platform, "secret_key");
    *client_id = account_credential(ctx->platform, "client_id");
    if (!*key || !*client_id) {
        return perr_set(err, PERR_PROVIDER_NOT_ENABLED, "provider",
                        "The operator's Stripe account has no secret_key and client_id for "
                        "Connect.");
    }
    return PERR_OK;
}

static enum perr_code stripe_authorize_url(const struct provider_ctx *ctx, const char *state,
                                           const char *redirect_uri, char *url, size_t size,
                                           struct perr *err)
{
    const char *key, *client_id;
    enum perr_code rc = platform_key(ctx, &key, &client_id, err);
    if (rc != PERR_OK) {
        return rc;
    }
    char prefix[CONFIG_PATH_BYTES + 64];
    snprintf(prefix, sizeof(prefix), "%s/oauth/authorize?response_type=code&scope=read_write&",
             ctx->app->cfg->stripe_connect_url);
    return outbound_authorize_url(prefix, client_id, state, redirect_uri, url, size, err);
}

/* A call to Connect's OAuth host with the platform's key; never retried (codes and refresh
 * tokens are single-use). */
static enum perr_code connect_call(const struct provider_ctx *ctx, const char *path,
                                   const char *const *pairs, struct outbound_result *r,
                                   struct perr *err)
{
    const char *key, *client_id;
    enum perr_code rc = platform_key(ctx, &key, &client_id, err);
    if (rc != PERR_OK) {
        return rc;
    }
    struct stripe_call c = {.o = {.ctx = ctx, .provider = STRIPE, .method = "POST"}};
    buf_init(&c.form, STRIPE_FORM_MAX);
    snprintf(c.auth, sizeof(c.auth), "Authorization: Bearer %s", key);
    c.o.headers[0] = c.auth;
    c.o.headers[1] = "Content-Type: application/x-www-form-urlencoded";
    c.o.url = c.url;
    stripe_url(&c, ctx->app->cfg->stripe_connect_url, "%s", path);
    form_add(&c, "client_id", client_id);
    for (size_t i = 0; pairs[i]; i += 2) {
        form_add(&c, pairs[i], pairs[i + 1]);
    }
    rc = stripe_perform(&c, r, "error_description", err);
    stripe_release(&c);
    return rc;
}

static enum perr_code stripe_token(const struct provider_ctx *ctx, const char *const *pairs,
                                   struct provider_tokens *out, struct perr *err)
{
    struct outbound_result r;
    enum perr_code rc = connect_call(ctx, "/oauth/token", pairs, &r, err);
    if (rc != PERR_OK) {
        return rc;
    }
    const char *access = json_string_value(json_object_get(r.json, "access_token"));
    const char *refresh = json_string_value(json_object_get(r.json, "refresh_token"));
    const char *user = json_string_value(json_object_get(r.json, "stripe_user_id"));
    *out = (struct provider_tokens){0};
    if (!access || !user || !str_copy(out->access_token, sizeof(out->access_token), access) ||
        !str_copy(out->refresh_token, sizeof(out->refresh_token), refresh ? refresh : "") ||
        !str_copy(out->account_ref, sizeof(out->account_ref), user)) {
        rc = perr_set(err, PERR_PROVIDER_ERROR, NULL, "Stripe answered no usable token.");
    }
    outbound_result_release(&r);
    return rc;
}

static enum perr_code stripe_exchange(const struct provider_ctx *ctx, const char *code,
                                      const char *redirect_uri, struct provider_tokens *out,
                                      struct perr *err)
{
    (void)redirect_uri;
    const char *const pairs[] = {"grant_type", "authorization_code", "code", code, NULL};
    return stripe_token(ctx, pairs, out, err);
}

static enum perr_code stripe_refresh(const struct provider_ctx *ctx, const char *refresh_token,
                                     struct provider_tokens *out, struct perr *err)
{
    const char *const pairs[] = {"grant_type", "refresh_token", "refresh_token", refresh_token,
                                 NULL};
    return stripe_token(ctx, pairs, out, err);
}

static enum perr_code stripe_revoke(const struct provider_ctx *ctx, const char *account_ref,
                                    struct perr *err)
{
    const char *const pairs[] = {"stripe_user_id", account_ref, NULL};
    struct outbound_result r;
    enum perr_code rc = connect_call(ctx, "/oauth/deauthorize", pairs, &r, err);
    if (rc == PERR_OK) {
        outbound_result_release(&r);
    }
    return rc;
}

const struct provider_ops provider_stripe = {
    .name = STRIPE,
    .caps = PROVIDER_CAP_REFUNDS | PROVIDER_CAP_CANCEL | PROVIDER_CAP_SEARCH |
            PROVIDER_CAP_WEBHOOKS | PROVIDER_CAP_OAUTH,
    .create_payment = stripe_create,
    .get_payment = stripe_get,
    .refund = stripe_refund,
    .cancel = stripe_cancel,
    .search = stripe_search,
    .parse_webhook = stripe_parse_webhook,
    .oauth_authorize_url = stripe_authorize_url,
    .oauth_exchange = stripe_exchange,
    .oauth_refresh = stripe_refresh,
    .oauth_revoke = stripe_revoke,
};
