#include "providers/oauth.h"

#include <pthread.h>

#include "audit/audit.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "providers/binding.h"

#define NONCE_CHARS 22
#define DAY_S 86400

static pthread_mutex_t refresh_lock = PTHREAD_MUTEX_INITIALIZER;

static void state_mac(const struct app *app, const char *tenant_id, const char *provider,
                      const char *nonce, long long expires_s, char hex[SHA256_HEX_BYTES])
{
    static const char label[] = "pasarela oauth state v1";
    uint8_t key[SHA256_BYTES], mac[SHA256_BYTES];
    crypto_hmac_sha256(app->secrets_key, SHA256_BYTES, label, sizeof(label) - 1, key);
    char message[LIMIT_ID_BYTES + 32 + NONCE_CHARS + 32];
    int n =
        snprintf(message, sizeof(message), "%s|%s|%s|%lld", tenant_id, provider, nonce, expires_s);
    crypto_hmac_sha256(key, sizeof(key), message, (size_t)n, mac);
    hex_encode(mac, sizeof(mac), hex);
}

enum perr_code oauth_state_create(struct app *app, struct store_tx *tx, const char *tenant_id,
                                  const char *provider, const char *return_url,
                                  char out[OAUTH_STATE_BYTES], struct perr *err)
{
    char nonce[NONCE_CHARS + 1], mac[SHA256_HEX_BYTES];
    base62_random(nonce, NONCE_CHARS);
    nonce[NONCE_CHARS] = '\0';
    long long expires_s = time_now_unix_us() / 1000000 + OAUTH_STATE_TTL_S;
    state_mac(app, tenant_id, provider, nonce, expires_s, mac);
    snprintf(out, OAUTH_STATE_BYTES, "%s.%lld.%s", nonce, expires_s, mac);
    return store_exec(tx,
                      "INSERT INTO oauth_states (nonce, tenant_id, provider, return_url,"
                      " expires_us) VALUES (?, ?, ?, ?, ?)",
                      SQL_PARAMS(SV_T(nonce), SV_T(tenant_id), SV_T(provider), SV_T(return_url),
                                 SV_I(expires_s * 1000000)),
                      NULL, err);
}

/* Splits "<nonce>.<expiry>.<mac>"; false when it is not of that shape. */
static bool split_state(const char *text, char nonce[NONCE_CHARS + 1], long long *expires_s,
                        char mac[SHA256_HEX_BYTES])
{
    const char *dot1 = strchr(text, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || dot1 - text != NONCE_CHARS || strlen(dot2 + 1) != SHA256_HEX_BYTES - 1 ||
        dot2 - dot1 < 2 || dot2 - dot1 > 20) {
        return false;
    }
    memcpy(nonce, text, NONCE_CHARS);
    nonce[NONCE_CHARS] = '\0';
    *expires_s = 0;
    for (const char *p = dot1 + 1; p < dot2; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        *expires_s = *expires_s * 10 + (*p - '0');
    }
    memcpy(mac, dot2 + 1, SHA256_HEX_BYTES);
    return true;
}

static enum perr_code refuse_state(const char *why, const char **reason, struct perr *err)
{
    *reason = why;
    return perr_set(err, PERR_OAUTH_STATE_INVALID, "state", NULL);
}

enum perr_code oauth_state_consume(struct app *app, struct store_tx *tx, const char *text,
                                   const char *provider, struct oauth_state *out,
                                   const char **reason, struct perr *err)
{
    char nonce[NONCE_CHARS + 1], mac[SHA256_HEX_BYTES], expected[SHA256_HEX_BYTES];
    long long expires_s;
    struct store_rows rows;
    *out = (struct oauth_state){0};
    if (!text || !split_state(text, nonce, &expires_s, mac)) {
        return refuse_state("malformed state", reason, err);
    }
    enum perr_code rc = store_exec(tx,
                                   "SELECT tenant_id, provider, return_url, expires_us, used_us"
                                   " FROM oauth_states WHERE nonce = ?",
                                   SQL_PARAMS(SV_T(nonce)), &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    if (rows.nrows == 0) {
        store_rows_free(&rows);
        return refuse_state("unknown state", reason, err);
    }
    str_copy(out->tenant_id, sizeof(out->tenant_id), store_rows_get(&rows, 0, 0));
    str_copy(out->provider, sizeof(out->provider), store_rows_get(&rows, 0, 1));
    const char *ret = store_rows_get(&rows, 0, 2);
    str_copy(out->return_url, sizeof(out->return_url), ret ? ret : "");
    bool stored_expiry = store_rows_int(&rows, 0, 3) == expires_s * 1000000;
    bool used = store_rows_get(&rows, 0, 4) != NULL;
    store_rows_free(&rows);
    state_mac(app, out->tenant_id, out->provider, nonce, expires_s, expected);
    if (!crypto_equal(mac, expected, SHA256_HEX_BYTES - 1) || !stored_expiry) {
        return refuse_state("forged state", reason, err);
    }
    if (strcmp(out->provider, provider) != 0) {
        return refuse_state("state for another provider", reason, err);
    }
    if (used) {
        return refuse_state("state already used", reason, err);
    }
    int64_t now = time_now_unix_us();
    if (now / 1000000 > expires_s) {
        return refuse_state("state expired", reason, err);
    }
    return store_exec(tx, "UPDATE oauth_states SET used_us = ? WHERE nonce = ?",
                      SQL_PARAMS(SV_I(now), SV_T(nonce)), NULL, err);
}

void oauth_redirect_uri(const struct app *app, const char *provider, char *out, size_t size)
{
    snprintf(out, size, "%s/oauth/%s/callback", app->cfg->public_url, provider);
}

/* When the next refresh runs: a day before expiry, or halfway for short-lived tokens. */
static int64_t refresh_delay_ms(int64_t expires_in_s)
{
    int64_t s = expires_in_s > 2 * DAY_S ? expires_in_s - DAY_S : expires_in_s / 2;
    return s * 1000;
}

static enum perr_code schedule_refresh(struct store_tx *tx, const char *tenant_id,
                                       const char *provider, int64_t expires_in_s,
                                       const char *correlation_id, struct perr *err)
{
    if (expires_in_s <= 0) {
        return PERR_OK;
    }
    json_t *payload = json_pack("{s:s, s:s}", "tenant_id", tenant_id, "provider", provider);
    enum perr_code rc = jobs_enqueue(tx, oauth_refresh_job_kind.name, tenant_id, payload,
                                     refresh_delay_ms(expires_in_s), correlation_id, err);
    json_decref(payload);
    return rc;
}

/* The account as it will be: connected, tokens sealed, the provider's account id and the
 * expiry in config. */
static void set_tokens(struct provider_account *a, const struct provider_tokens *t)
{
    json_t *creds = json_pack("{s:s}", "access_token", t->access_token);
    json_t *hints = json_pack("{s:o}", "access_token", account_mask(t->access_token));
    if (t->refresh_token[0]) {
        json_object_set_new(creds, "refresh_token", json_string(t->refresh_token));
        json_object_set_new(hints, "refresh_token", account_mask(t->refresh_token));
    }
    json_object_set_new(a->secrets, "credentials", creds);
    json_object_set_new(a->hints, "credentials", hints);
    json_object_set_new(a->config, "account_ref", json_string(t->account_ref));
    if (t->expires_in_s > 0) {
        char at[RFC3339_BYTES], after[RFC3339_BYTES];
        int64_t now = time_now_unix_us();
        time_format_rfc3339(now + t->expires_in_s * 1000000, at);
        time_format_rfc3339(now + refresh_delay_ms(t->expires_in_s) * 1000, after);
        json_object_set_new(a->config, "token_expires_at", json_string(at));
        json_object_set_new(a->config, "token_refresh_after", json_string(after));
    } else {
        json_object_del(a->config, "token_expires_at");
        json_object_del(a->config, "token_refresh_after");
    }
    str_copy(a->mode, sizeof(a->mode), "connected");
}

static json_t *audit_view(const struct provider_account *a)
{
    return json_pack("{s:s, s:s?, s:s?, s:O?}", "mode", a->mode, "account_ref",
                     json_string_value(json_object_get(a->config, "account_ref")),
                     "token_expires_at",
                     json_string_value(json_object_get(a->config, "token_expires_at")),
                     "credentials", json_object_get(a->hints, "credentials"));
}

enum perr_code oauth_store_tokens(struct app *app, struct store_tx *tx, const char *tenant_id,
                                  const char *provider, const struct provider_tokens *t,
                                  const char *actor, const char *correlation_id, struct perr *err)
{
    struct provider_account a;
    bool exists = false;
    enum perr_code rc = account_load(tx, app->secrets_key, tenant_id, provider, &a, &exists, err);
    if (rc != PERR_OK) {
        return rc;
    }
    char now[RFC3339_BYTES];
    time_format_rfc3339(time_now_unix_us(), now);
    if (!exists) {
        account_init(&a, tenant_id, provider, "connected", now);
    }
    json_t *before = exists ? audit_view(&a) : json_object();
    set_tokens(&a, t);
    str_copy(a.updated, sizeof(a.updated), now);
    rc = account_save(tx, app->secrets_key, &a, exists, err);
    if (rc == PERR_OK) {
        bool refresh = exists && strcmp(actor, "system:oauth.refresh") == 0;
        struct audit_event ev = {
            .chain_id = tenant_id,
            .tenant_id = tenant_id,
            .actor = actor,
            .correlation_id = correlation_id,
            .action = refresh ? "provider.token_refreshed" : "provider.connected",
            .entity_type = "provider_account",
            .entity_id = provider,
            .changes = json_pack("{s:O, s:o}", "before", before, "after", audit_view(&a)),
        };
        rc = audit_append(tx, app->audit_key, &ev, err);
        json_decref(ev.changes);
    }
    if (rc == PERR_OK) {
        rc = schedule_refresh(tx, tenant_id, provider, t->expires_in_s, correlation_id, err);
    }
    json_decref(before);
    account_release(&a);
    return rc;
}

/* Whether the time in config.<name>, less margin_s, has come. */
static bool time_reached(const json_t *config, const char *name, int64_t margin_s)
{
    const char *text = json_string_value(json_object_get(config, name));
    int64_t at;
    return text && time_parse_rfc3339(text, &at) && at - time_now_unix_us() < margin_s * 1000000;
}

bool oauth_token_due(const json_t *account_config)
{
    return time_reached(account_config, "token_refresh_after", 0);
}

struct refreshed {
    struct app *app;
    const char *tenant_id;
    const char *provider;
    const char *correlation_id;
    const struct provider_tokens *tokens;
};

static enum perr_code store_refreshed_tx(struct store_tx *tx, void *arg, struct perr *err)
{
    const struct refreshed *r = arg;
    return oauth_store_tokens(r->app, tx, r->tenant_id, r->provider, r->tokens,
                              "system:oauth.refresh", r->correlation_id, err);
}

/* Under refresh_lock: refreshes when due (config.token_refresh_after has come; a scheduled
 * job may run a second early), so that a refresh another thread just made, or a job left
 * from an earlier connection, does not spend the single-use refresh token again. */
static enum perr_code refresh_locked(struct app *app, const char *tenant_id, const char *provider,
                                     const char *correlation_id, bool scheduled, struct perr *err)
{
    struct provider_binding b;
    enum perr_code rc = provider_bind_stored(app, tenant_id, provider, &b, err);
    if (rc != PERR_OK) {
        return rc;
    }
    const char *refresh = account_credential(&b.account, "refresh_token");
    bool connected = b.has_account && strcmp(b.account.mode, "connected") == 0;
    bool due = time_reached(b.account.config, "token_refresh_after", scheduled ? 1 : 0);
    if (!connected || !b.ops->oauth_refresh || !refresh || !due) {
        provider_binding_release(&b); /* disconnected, or fresh already */
        return PERR_OK;
    }
    struct provider_ctx ctx = provider_binding_ctx(&b, app, correlation_id);
    struct provider_tokens t = {0};
    rc = b.ops->oauth_refresh(&ctx, refresh, &t, err);
    provider_binding_release(&b);
    if (rc == PERR_OK) {
        struct refreshed r = {.app = app,
                              .tenant_id = tenant_id,
                              .provider = provider,
                              .correlation_id = correlation_id,
                              .tokens = &t};
        rc = store_write(app->store, store_refreshed_tx, &r, err);
    }
    crypto_wipe(&t, sizeof(t));
    return rc;
}

static enum perr_code refresh(struct app *app, const char *tenant_id, const char *provider,
                              const char *correlation_id, bool scheduled, struct perr *err)
{
    PASSERT(pthread_mutex_lock(&refresh_lock) == 0);
    enum perr_code rc = refresh_locked(app, tenant_id, provider, correlation_id, scheduled, err);
    pthread_mutex_unlock(&refresh_lock);
    return rc;
}

enum perr_code oauth_refresh_now(struct app *app, const char *tenant_id, const char *provider,
                                 const char *correlation_id, struct perr *err)
{
    return refresh(app, tenant_id, provider, correlation_id, false, err);
}

/* The scheduled refresh. */
static enum perr_code refresh_job(struct app *app, const struct job *job, struct perr *err)
{
    const char *tenant = json_string_value(json_object_get(job->payload, "tenant_id"));
    const char *provider = json_string_value(json_object_get(job->payload, "provider"));
    if (!tenant || !provider || !provider_find(provider)) {
        return perr_set(err, PERR_INTERNAL, NULL, "malformed oauth.refresh job");
    }
    return refresh(app, tenant, provider, job->correlation_id, true, err);
}

const struct job_kind oauth_refresh_job_kind = {
    .name = "oauth.refresh",
    .max_attempts = 8,
    .base_delay_ms = 1000,
    .max_delay_ms = 600000,
    .run = refresh_job,
};
