#include "providers/outbound.h"

#include "app.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "providers/accounts.h"
#include "providers/breaker.h"

#define BACKOFF_BASE_MS 100 /* the first retry waits 50-100 ms, then twice as long each time */
#define BACKOFF_CAP_MS 1000

static const char *breaker_account(const struct outbound *o)
{
    return o->ctx->account ? o->ctx->account->owner : ACCOUNT_OWNER_PLATFORM;
}

static bool failed(enum perr_code rc, long status)
{
    return rc != PERR_OK || status >= 500 || status == 429;
}

/* An answer worth asking again with the same idempotency key: the provider is still working
 * on the first request (Stripe 409, MercadoPago 423). Not a failure of the provider. */
static bool busy(long status)
{
    return status == 409 || status == 423;
}

/* Waits before retry `attempt` (1-based): half the step, plus up to as much again at random. */
static void backoff(int attempt)
{
    int64_t step = (int64_t)BACKOFF_BASE_MS << (attempt - 1);
    step = step < BACKOFF_CAP_MS ? step : BACKOFF_CAP_MS;
    uint32_t r;
    crypto_random(&r, sizeof(r));
    time_sleep_ms((long)(step / 2 + (int64_t)r % (step / 2 + 1)));
}

/* The URL without its query, for the log. */
static void url_path(const char *url, char *out, size_t size)
{
    str_copy(out, size, url);
    char *q = strchr(out, '?');
    if (q) {
        *q = '\0';
    }
}

/* One call; *open when the breaker did not let it out. */
static enum perr_code attempt(const struct outbound *o, struct http_result *res, bool *open,
                              struct perr *err)
{
    struct breakers *b = o->ctx->app->breakers;
    *open = !breaker_allow(b, o->provider, breaker_account(o));
    if (*open) {
        return perr_set(err, PERR_PROVIDER_UNAVAILABLE, NULL,
                        "%s keeps failing for this account; pasarela stops calling it for a "
                        "while (circuit open).",
                        o->provider);
    }
    struct http_call call = {.method = o->method,
                             .url = o->url,
                             .body = o->body,
                             .body_len = o->body ? strlen(o->body) : 0,
                             .timeout_ms = o->ctx->app->cfg->provider_timeout_ms};
    memcpy(call.headers, o->headers, sizeof(call.headers));
    enum perr_code rc = http_client_call(&call, res, err);
    breaker_record(b, o->provider, breaker_account(o), !failed(rc, res->status));
    if (failed(rc, res->status)) {
        char path[256];
        url_path(o->url, path, sizeof(path));
        log_emit(LOG_WARN, "provider call failed",
                 json_pack("{s:s, s:s, s:s, s:i, s:s, s:s?}", "provider", o->provider, "method",
                           o->method, "url", path, "status", (int)res->status, "error",
                           rc == PERR_OK ? "http status" : perr_code_name(rc), "request_id",
                           o->ctx->correlation_id));
    }
    return rc;
}

enum perr_code outbound_call(const struct outbound *o, struct outbound_result *out,
                             struct perr *err)
{
    *out = (struct outbound_result){0};
    struct http_result res = {0};
    enum perr_code rc = PERR_OK;
    int attempts = o->idempotent ? OUTBOUND_ATTEMPTS : 1;
    for (int i = 0; i < attempts; i++) {
        if (i > 0) {
            buf_release(&res.body);
            backoff(i);
        }
        bool open;
        rc = attempt(o, &res, &open, err);
        if ((!failed(rc, res.status) && !busy(res.status)) || open) {
            break;
        }
    }
    if (rc == PERR_OK) {
        out->status = res.status;
        out->json = json_loads_exact(res.body.data ? res.body.data : "", res.body.len);
    }
    buf_release(&res.body);
    return rc;
}

void outbound_result_release(struct outbound_result *r)
{
    json_decref(r->json);
    *r = (struct outbound_result){0};
}

static const char *message_at(json_t *root, const char *path)
{
    char key[64];
    const char *dot = strchr(path, '.');
    if (!dot) {
        return json_string_value(json_object_get(root, path));
    }
    size_t n = (size_t)(dot - path) < sizeof(key) ? (size_t)(dot - path) : sizeof(key) - 1;
    memcpy(key, path, n);
    key[n] = '\0';
    return message_at(json_object_get(root, key), dot + 1);
}

enum perr_code outbound_fail(const struct outbound *o, const struct outbound_result *r,
                             const char *message_path, struct perr *err)
{
    const char *said = message_at(r->json, message_path);
    char path[256];
    url_path(o->url, path, sizeof(path));
    log_emit(LOG_WARN, "provider refused a call",
             json_pack("{s:s, s:s, s:s, s:i, s:s, s:s?}", "provider", o->provider, "method",
                       o->method, "url", path, "status", (int)r->status, "provider_message",
                       said ? said : "(none)", "request_id", o->ctx->correlation_id));
    if (r->status == 404) {
        return perr_set(err, PERR_RESOURCE_MISSING, NULL, "%s has no such object.", o->provider);
    }
    enum perr_code code =
        r->status == 429 || r->status == 503 ? PERR_PROVIDER_UNAVAILABLE : PERR_PROVIDER_ERROR;
    return perr_set(err, code, NULL, "%s answered %ld: %.160s", o->provider, r->status,
                    said ? said : "no message");
}

enum perr_code outbound_authorize_url(const char *prefix, const char *client_id, const char *state,
                                      const char *redirect_uri, char *url, size_t size,
                                      struct perr *err)
{
    struct buf b;
    buf_init(&b, size - 1);
    bool ok = buf_append_str(&b, prefix) && buf_append_str(&b, "client_id=") &&
              outbound_urlencode(&b, client_id) && buf_append_str(&b, "&state=") &&
              outbound_urlencode(&b, state) && buf_append_str(&b, "&redirect_uri=") &&
              outbound_urlencode(&b, redirect_uri);
    if (ok) {
        str_copy(url, size, buf_str(&b));
    }
    buf_release(&b);
    return ok ? PERR_OK : perr_set(err, PERR_INTERNAL, NULL, "authorization URL too long");
}

bool outbound_urlencode(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    bool ok = true;
    for (const unsigned char *p = (const unsigned char *)s; *p && ok; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        ok = plain ? buf_append(b, p, 1) : buf_append(b, esc, 3);
    }
    return ok;
}
