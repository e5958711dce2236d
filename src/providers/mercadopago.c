/* The MercadoPago connector (shared/PROVIDERS.md section 1): payments through Checkout Pro
 * preferences (the payment's checkout_url is the preference's init_point) or, when the
 * request names a method, through /v1/payments directly; refunds, cancellation, search, and
 * OAuth for connected sellers with the operator's marketplace fee. Amounts go out as exact
 * decimals; every write carries X-Idempotency-Key, so retries never duplicate a payment. */
#include "app.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "providers/binding.h"
#include "providers/outbound.h"

#define MP "mercadopago"
#define MP_URL_BYTES (CONFIG_PATH_BYTES + 256)
#define MP_SEARCH_PAGE 100
#define MP_SEARCH_PAGES_MAX 100

struct mp_call {
    struct outbound o;
    char url[MP_URL_BYTES];
    char auth[PROVIDER_URL_BYTES + 32];
    char idem[PROVIDER_ID_BYTES + 32];
};

/* Prepares a call with the account's access token; PERR_PROVIDER_NOT_ENABLED without one. */
static enum perr_code mp_prepare(const struct provider_ctx *ctx, struct mp_call *c,
                                 const char *method, const char *idempotency_key, struct perr *err)
{
    const char *token = account_credential(ctx->account, "access_token");
    if (!token) {
        return perr_set(err, PERR_PROVIDER_NOT_ENABLED, "provider",
                        "The MercadoPago account has no access_token.");
    }
    *c = (struct mp_call){.o = {.ctx = ctx, .provider = MP, .method = method}};
    snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", token);
    size_t h = 0;
    c->o.headers[h++] = c->auth;
    c->o.headers[h++] = "Content-Type: application/json";
    c->o.headers[h++] = "Accept: application/json";
    if (idempotency_key) {
        snprintf(c->idem, sizeof(c->idem), "X-Idempotency-Key: %.64s", idempotency_key);
        c->o.headers[h++] = c->idem;
    }
    c->o.idempotent = strcmp(method, "GET") == 0 || idempotency_key != NULL;
    c->o.url = c->url;
    return PERR_OK;
}

/* Performs the call; on an unsuccessful answer maps it (and releases the result). */
static enum perr_code mp_perform(struct mp_call *c, struct outbound_result *r, struct perr *err)
{
    enum perr_code rc = outbound_call(&c->o, r, err);
    if (rc == PERR_OK && (r->status < 200 || r->status > 299)) {
        rc = outbound_fail(&c->o, r, "message", err);
        outbound_result_release(r);
    }
    return rc;
}

/* An amount MercadoPago wrote as a number (integer, or a decimal kept as its digits). */
static bool mp_amount(json_t *v, int exponent, int64_t *out)
{
    char text[32];
    if (json_is_integer(v)) {
        snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
    } else if (!json_is_string(v) || !str_copy(text, sizeof(text), json_string_value(v))) {
        return false;
    }
    return money_from_decimal(text, exponent, false, out);
}

/* An id MercadoPago writes as a number or a string. */
static void mp_id(json_t *v, char *out, size_t size)
{
    if (json_is_integer(v)) {
        snprintf(out, size, "%lld", (long long)json_integer_value(v));
    } else {
        str_copy(out, size, json_string_value(v) ? json_string_value(v) : "");
    }
}

static enum payment_status mp_status(const char *status, const char *detail)
{
    static const struct {
        const char *mp;
        enum payment_status ours;
    } map[] = {
        {"approved", PAYMENT_APPROVED},  {"authorized", PAYMENT_PENDING},
        {"in_process", PAYMENT_PENDING}, {"in_mediation", PAYMENT_APPROVED},
        {"rejected", PAYMENT_REJECTED},  {"cancelled", PAYMENT_CANCELLED},
        {"refunded", PAYMENT_REFUNDED},  {"charged_back", PAYMENT_CHARGED_BACK},
    };
    if (strcmp(status, "cancelled") == 0 && strcmp(detail, "expired") == 0) {
        return PAYMENT_EXPIRED;
    }
    for (size_t i = 0; i < ARRAY_LEN(map); i++) {
        if (strcmp(map[i].mp, status) == 0) {
            return map[i].ours;
        }
    }
    return PAYMENT_PENDING;
}

/* What the collector pays MercadoPago (every fee it bears but the marketplace's own). */
static bool mp_fee(json_t *fees, int exponent, int64_t *out)
{
    size_t i;
    json_t *f;
    *out = 0;
    json_array_foreach (fees, i, f) {
        const char *type = json_string_value(json_object_get(f, "type"));
        const char *payer = json_string_value(json_object_get(f, "fee_payer"));
        int64_t amount;
        if (!type || strcmp(type, "application_fee") == 0 || !payer ||
            strcmp(payer, "collector") != 0) {
            continue;
        }
        if (!mp_amount(json_object_get(f, "amount"), exponent, &amount) ||
            !money_add(*out, amount, out)) {
            return false;
        }
    }
    return true;
}

static enum perr_code mp_parse_payment(const struct outbound *o, json_t *p,
                                       struct provider_payment *out, struct perr *err)
{
    const char *status = json_string_value(json_object_get(p, "status"));
    const char *detail = json_string_value(json_object_get(p, "status_detail"));
    const char *code = json_string_value(json_object_get(p, "currency_id"));
    const struct currency *cur = code ? money_currency(code) : NULL;
    json_t *refunded = json_object_get(p, "transaction_amount_refunded");
    if (!status || !cur ||
        !mp_amount(json_object_get(p, "transaction_amount"), cur->exponent, &out->amount)) {
        log_emit(LOG_WARN, "unreadable MercadoPago payment",
                 json_pack("{s:s?}", "request_id", o->ctx->correlation_id));
        return perr_set(err, PERR_PROVIDER_ERROR, NULL,
                        "MercadoPago answered an unreadable payment.");
    }
    mp_id(json_object_get(p, "id"), out->id, sizeof(out->id));
    str_copy(out->status_detail, sizeof(out->status_detail), detail ? detail : "");
    out->status = mp_status(status, out->status_detail);
    str_copy(out->currency, sizeof(out->currency), cur->code);
    if (refunded && !mp_amount(refunded, cur->exponent, &out->amount_refunded)) {
        out->amount_refunded = 0;
    }
    if (out->status == PAYMENT_APPROVED && out->amount_refunded > 0) {
        out->status =
            out->amount_refunded >= out->amount ? PAYMENT_REFUNDED : PAYMENT_PARTIALLY_REFUNDED;
    }
    out->has_fee = out->status != PAYMENT_PENDING &&
                   mp_fee(json_object_get(p, "fee_details"), cur->exponent, &out->fee);
    const char *ref = json_string_value(json_object_get(p, "external_reference"));
    str_copy(out->external_reference, sizeof(out->external_reference), ref ? ref : "");
    mp_id(json_object_get(p, "collector_id"), out->account_ref, sizeof(out->account_ref));
    return PERR_OK;
}

static void mp_url(struct mp_call *c, const char *fmt, const char *arg)
{
    int n = snprintf(c->url, sizeof(c->url), "%s", c->o.ctx->app->cfg->mercadopago_api_url);
    snprintf(c->url + n, sizeof(c->url) - (size_t)n, fmt, arg);
}

/* The payer: an e-mail (required by MercadoPago for direct payments) and a first name. */
static json_t *mp_payer(const struct provider_payment_request *req, const char *name_key)
{
    json_t *payer = json_object();
    if (req->customer_email) {
        json_object_set_new(payer, "email", json_string(req->customer_email));
    }
    if (req->customer_name) {
        json_object_set_new(payer, name_key, json_string(req->customer_name));
    }
    return payer;
}

/* A Checkout Pro preference: one item for the whole amount. */
static char *preference_body(const struct provider_payment_request *req)
{
    char amount[MONEY_DECIMAL_BYTES], fee[MONEY_DECIMAL_BYTES], raw[4 * MONEY_DECIMAL_BYTES + 64];
    money_to_decimal(req->amount, req->currency->exponent, amount);
    json_t *item = json_pack("{s:s, s:s, s:i, s:s}", "id", req->payment_id, "title",
                             req->description ? req->description : "Payment", "quantity", 1,
                             "currency_id", req->currency->code);
    snprintf(raw, sizeof(raw), "\"unit_price\":%s", amount);
    char *item_text = json_dump_with_raw(item, raw);
    json_decref(item);
    struct buf members;
    buf_init(&members, 4 * MONEY_DECIMAL_BYTES + 4096);
    bool ok = buf_printf(&members, "\"items\":[%s]", item_text);
    if (req->application_fee > 0) {
        money_to_decimal(req->application_fee, req->currency->exponent, fee);
        ok = ok && buf_printf(&members, ",\"marketplace_fee\":%s", fee);
    }
    PASSERT(ok);
    free(item_text);
    json_t *body =
        json_pack("{s:o, s:s, s:s, s:{s:s}}", "payer", mp_payer(req, "name"), "external_reference",
                  req->payment_id, "notification_url", req->notification_url, "metadata",
                  "pasarela_payment_id", req->payment_id);
    char *text = json_dump_with_raw(body, buf_str(&members));
    json_decref(body);
    buf_release(&members);
    return text;
}

static char *payment_body(const struct provider_payment_request *req)
{
    char amount[MONEY_DECIMAL_BYTES], fee[MONEY_DECIMAL_BYTES], raw[2 * MONEY_DECIMAL_BYTES + 64];
    money_to_decimal(req->amount, req->currency->exponent, amount);
    int n = snprintf(raw, sizeof(raw), "\"transaction_amount\":%s", amount);
    if (req->application_fee > 0) {
        money_to_decimal(req->application_fee, req->currency->exponent, fee);
        snprintf(raw + n, sizeof(raw) - (size_t)n, ",\"application_fee\":%s", fee);
    }
    json_t *body =
        json_pack("{s:s, s:s?, s:o, s:s, s:s, s:i, s:{s:s}}", "payment_method_id", req->method,
                  "description", req->description, "payer", mp_payer(req, "first_name"),
                  "external_reference", req->payment_id, "notification_url", req->notification_url,
                  "installments", 1, "metadata", "pasarela_payment_id", req->payment_id);
    char *text = json_dump_with_raw(body, raw);
    json_decref(body);
    return text;
}

static enum perr_code mp_create(const struct provider_ctx *ctx,
                                const struct provider_payment_request *req,
                                struct provider_payment *out, struct perr *err)
{
    struct mp_call c;
    struct outbound_result r;
    bool checkout = req->method == NULL;
    enum perr_code rc = mp_prepare(ctx, &c, "POST", req->idempotency_key, err);
    if (rc != PERR_OK) {
        return rc;
    }
    mp_url(&c, "%s", checkout ? "/checkout/preferences" : "/v1/payments");
    char *body = checkout ? preference_body(req) : payment_body(req);
    c.o.body = body;
    rc = mp_perform(&c, &r, err);
    free(body);
    if (rc != PERR_OK) {
        return rc;
    }
    if (!checkout) {
        rc = mp_parse_payment(&c.o, r.json, out, err);
    } else {
        mp_id(json_object_get(r.json, "id"), out->id, sizeof(out->id));
        const char *init = json_string_value(json_object_get(r.json, "init_point"));
        out->status = PAYMENT_PENDING;
        str_copy(out->checkout_url, sizeof(out->checkout_url), init ? init : "");
        str_copy(out->external_reference, sizeof(out->external_reference), req->payment_id);
        out->amount = req->amount;
        str_copy(out->currency, sizeof(out->currency), req->currency->code);
        if (!out->id[0] || !init) {
            rc = perr_set(err, PERR_PROVIDER_ERROR, NULL, "MercadoPago answered no preference.");
        }
    }
    outbound_result_release(&r);
    return rc;
}

/* A checkout whose buyer has not paid is known by its preference id ("<collector>-<uuid>"),
 * a payment by its number. */
static bool is_preference(const char *id)
{
    return strchr(id, '-') != NULL;
}

static enum perr_code mp_get(const struct provider_ctx *ctx, const char *provider_id,
                             struct provider_payment *out, struct perr *err)
{
    struct mp_call c;
    struct outbound_result r;
    if (is_preference(provider_id)) {
        out->status = PAYMENT_PENDING; /* nobody paid yet */
        str_copy(out->id, sizeof(out->id), provider_id);
        return PERR_OK;
    }
    enum perr_code rc = mp_prepare(ctx, &c, "GET", NULL, err);
    if (rc == PERR_OK) {
        mp_url(&c, "/v1/payments/%s", provider_id);
        rc = mp_perform(&c, &r, err);
    }
    if (rc == PERR_OK) {
        rc = mp_parse_payment(&c.o, r.json, out, err);
        outbound_result_release(&r);
    }
    return rc;
}

static enum perr_code mp_refund(const struct provider_ctx *ctx, const char *provider_id,
                                int64_t amount, const char *idempotency_key,
                                struct provider_refund *out, struct perr *err)
{
    struct provider_payment p = {0};
    enum perr_code rc =
        is_preference(provider_id)
            ? perr_set(err, PERR_PAYMENT_NOT_REFUNDABLE, NULL, "Nobody has paid this checkout yet.")
            : mp_get(ctx, provider_id, &p, err);
    if (rc != PERR_OK) {
        return rc;
    }
    char decimal[MONEY_DECIMAL_BYTES], raw[MONEY_DECIMAL_BYTES + 16];
    money_to_decimal(amount, money_currency(p.currency)->exponent, decimal);
    snprintf(raw, sizeof(raw), "\"amount\":%s", decimal);
    struct mp_call c;
    struct outbound_result r;
    rc = mp_prepare(ctx, &c, "POST", idempotency_key, err);
    if (rc != PERR_OK) {
        return rc;
    }
    mp_url(&c, "/v1/payments/%s/refunds", provider_id);
    json_t *empty = json_object();
    char *body = json_dump_with_raw(empty, raw);
    json_decref(empty);
    c.o.body = body;
    rc = mp_perform(&c, &r, err);
    free(body);
    if (rc == PERR_OK) {
        mp_id(json_object_get(r.json, "id"), out->id, sizeof(out->id));
        out->amount = amount;
        outbound_result_release(&r);
    }
    return rc;
}

/* A checkout nobody paid is closed by expiring its preference; a payment is cancelled. */
static enum perr_code mp_cancel(const struct provider_ctx *ctx, const char *provider_id,
                                struct provider_payment *out, struct perr *err)
{
    struct mp_call c;
    struct outbound_result r;
    bool preference = is_preference(provider_id);
    enum perr_code rc = mp_prepare(ctx, &c, "PUT", provider_id, err);
    if (rc != PERR_OK) {
        return rc;
    }
    char now[RFC3339_BYTES];
    time_format_rfc3339(time_now_unix_us(), now);
    mp_url(&c, preference ? "/checkout/preferences/%s" : "/v1/payments/%s", provider_id);
    json_t *body = preference ? json_pack("{s:b, s:s}", "expires", 1, "expiration_date_to", now)
                              : json_pack("{s:s}", "status", "cancelled");
    char *text = json_dump_compact(body);
    json_decref(body);
    c.o.body = text;
    rc = mp_perform(&c, &r, err);
    free(text);
    if (rc == PERR_OK && preference) {
        str_copy(out->id, sizeof(out->id), provider_id);
        out->status = PAYMENT_CANCELLED;
        str_copy(out->status_detail, sizeof(out->status_detail), "by_collector");
    } else if (rc == PERR_OK) {
        rc = mp_parse_payment(&c.o, r.json, out, err);
    }
    if (r.json) {
        outbound_result_release(&r);
    }
    return rc;
}

/* MercadoPago's search dates: "2026-11-22T10:11:12.000Z". */
static void mp_date(int64_t unix_us, char out[RFC3339_BYTES])
{
    char plain[RFC3339_BYTES];
    time_format_rfc3339(unix_us, plain);
    snprintf(out, RFC3339_BYTES, "%.19s.%03dZ", plain, (int)(unix_us / 1000 % 1000));
}

static enum perr_code mp_search_page(const struct provider_ctx *ctx, const char *from,
                                     const char *to, int offset, provider_search_fn fn, void *arg,
                                     int64_t *total, struct perr *err)
{
    struct mp_call c;
    struct outbound_result r;
    enum perr_code rc = mp_prepare(ctx, &c, "GET", NULL, err);
    if (rc != PERR_OK) {
        return rc;
    }
    snprintf(c.url, sizeof(c.url),
             "%s/v1/payments/search?sort=date_created&criteria=asc&range=date_created"
             "&begin_date=%s&end_date=%s&limit=%d&offset=%d",
             ctx->app->cfg->mercadopago_api_url, from, to, MP_SEARCH_PAGE, offset);
    rc = mp_perform(&c, &r, err);
    if (rc != PERR_OK) {
        return rc;
    }
    json_t *results = json_object_get(r.json, "results");
    *total = json_integer_value(json_object_get(json_object_get(r.json, "paging"), "total"));
    size_t i;
    json_t *p;
    json_array_foreach (results, i, p) {
        struct provider_payment pp = {0};
        int64_t created = 0;
        const char *date = json_string_value(json_object_get(p, "date_created"));
        if (mp_parse_payment(&c.o, p, &pp, err) == PERR_OK) {
            fn(&pp, date && time_parse_iso8601(date, &created) ? created : 0, arg);
        }
    }
    if (json_array_size(results) == 0) {
        *total = 0; /* nothing more to page through */
    }
    outbound_result_release(&r);
    return PERR_OK;
}

static enum perr_code mp_search(const struct provider_ctx *ctx, int64_t from_us, int64_t to_us,
                                provider_search_fn fn, void *arg, struct perr *err)
{
    char from[RFC3339_BYTES], to[RFC3339_BYTES];
    mp_date(from_us, from);
    mp_date(to_us, to);
    int64_t total = 0;
    enum perr_code rc = PERR_OK;
    for (int page = 0; page < MP_SEARCH_PAGES_MAX && rc == PERR_OK; page++) {
        rc = mp_search_page(ctx, from, to, page * MP_SEARCH_PAGE, fn, arg, &total, err);
        if ((int64_t)(page + 1) * MP_SEARCH_PAGE >= total) {
            break;
        }
    }
    return rc;
}

/* A notification names its topic and the resource's id; only payments concern pasarela. */
static enum perr_code mp_parse_webhook(const struct provider_ctx *ctx, const char *body, size_t len,
                                       struct provider_event *out, struct perr *err)
{
    (void)ctx;
    *out = (struct provider_event){0};
    json_t *root = json_loads_exact(body, len);
    const char *type = json_string_value(json_object_get(root, "type"));
    const char *action = json_string_value(json_object_get(root, "action"));
    if (!type) {
        json_decref(root);
        return perr_set(err, PERR_INTERNAL, NULL, "a MercadoPago notification without a type");
    }
    snprintf(out->type, sizeof(out->type), "%.30s%s%.30s", type, action ? ":" : "",
             action ? action : "");
    if (strcmp(type, "payment") == 0) {
        mp_id(json_object_get(json_object_get(root, "data"), "id"), out->payment_ref,
              sizeof(out->payment_ref));
    }
    json_decref(root);
    return PERR_OK;
}

/* --- OAuth: sellers connect their account to the operator's application -------------- */

static enum perr_code mp_app(const struct provider_ctx *ctx, const char **id, const char **secret,
                             struct perr *err)
{
    *id = account_credential(ctx->platform, "client_id");
    *secret = account_credential(ctx->platform, "client_secret");
    if (!*id || !*secret) {
        return perr_set(err, PERR_PROVIDER_NOT_ENABLED, "provider",
                        "The operator's MercadoPago account has no client_id and client_secret "
                        "for OAuth.");
    }
    return PERR_OK;
}

static enum perr_code mp_authorize_url(const struct provider_ctx *ctx, const char *state,
                                       const char *redirect_uri, char *url, size_t size,
                                       struct perr *err)
{
    const char *id, *secret;
    enum perr_code rc = mp_app(ctx, &id, &secret, err);
    if (rc != PERR_OK) {
        return rc;
    }
    char prefix[CONFIG_PATH_BYTES + 64];
    snprintf(prefix, sizeof(prefix), "%s/authorization?response_type=code&platform_id=mp&",
             ctx->app->cfg->mercadopago_auth_url);
    return outbound_authorize_url(prefix, id, state, redirect_uri, url, size, err);
}

static enum perr_code mp_token(const struct provider_ctx *ctx, json_t *grant,
                               struct provider_tokens *out, struct perr *err)
{
    const char *id, *secret;
    enum perr_code rc = mp_app(ctx, &id, &secret, err);
    if (rc != PERR_OK) {
        json_decref(grant);
        return rc;
    }
    json_object_set_new(grant, "client_id", json_string(id));
    json_object_set_new(grant, "client_secret", json_string(secret));
    char *body = json_dump_compact(grant);
    json_decref(grant);
    /* A code and a refresh token are single-use: the call is never retried. */
    struct mp_call c = {.o = {.ctx = ctx, .provider = MP, .method = "POST"}};
    c.o.headers[0] = "Content-Type: application/json";
    c.o.headers[1] = "Accept: application/json";
    c.o.url = c.url;
    c.o.body = body;
    mp_url(&c, "%s", "/oauth/token");
    struct outbound_result r;
    rc = mp_perform(&c, &r, err);
    crypto_free_secret(body);
    if (rc != PERR_OK) {
        return rc;
    }
    const char *access = json_string_value(json_object_get(r.json, "access_token"));
    const char *refresh = json_string_value(json_object_get(r.json, "refresh_token"));
    *out = (struct provider_tokens){.expires_in_s =
                                        json_integer_value(json_object_get(r.json, "expires_in"))};
    mp_id(json_object_get(r.json, "user_id"), out->account_ref, sizeof(out->account_ref));
    if (!access || !str_copy(out->access_token, sizeof(out->access_token), access) ||
        !str_copy(out->refresh_token, sizeof(out->refresh_token), refresh ? refresh : "") ||
        !out->account_ref[0]) {
        rc = perr_set(err, PERR_PROVIDER_ERROR, NULL, "MercadoPago answered no usable token.");
    }
    outbound_result_release(&r);
    return rc;
}

static enum perr_code mp_exchange(const struct provider_ctx *ctx, const char *code,
                                  const char *redirect_uri, struct provider_tokens *out,
                                  struct perr *err)
{
    return mp_token(ctx,
                    json_pack("{s:s, s:s, s:s}", "grant_type", "authorization_code", "code", code,
                              "redirect_uri", redirect_uri),
                    out, err);
}

static enum perr_code mp_refresh(const struct provider_ctx *ctx, const char *refresh_token,
                                 struct provider_tokens *out, struct perr *err)
{
    return mp_token(
        ctx, json_pack("{s:s, s:s}", "grant_type", "refresh_token", "refresh_token", refresh_token),
        out, err);
}

const struct provider_ops provider_mercadopago = {
    .name = MP,
    .caps = PROVIDER_CAP_REFUNDS | PROVIDER_CAP_CANCEL | PROVIDER_CAP_SEARCH |
            PROVIDER_CAP_WEBHOOKS | PROVIDER_CAP_OAUTH,
    .create_payment = mp_create,
    .get_payment = mp_get,
    .refund = mp_refund,
    .cancel = mp_cancel,
    .search = mp_search,
    .parse_webhook = mp_parse_webhook,
    .oauth_authorize_url = mp_authorize_url,
    .oauth_exchange = mp_exchange,
    .oauth_refresh = mp_refresh,
    .oauth_revoke = NULL,
};
