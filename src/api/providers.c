/* /v1/providers: a tenant's accounts at providers (with Pasarela-Tenant, or a tenant key), or
 * the operator's platform accounts (the admin key without Pasarela-Tenant). PUT creates or
 * updates (absent fields keep their values), GET shows settings and masked secrets, DELETE
 * disconnects. Every change is audited, secrets masked. */
#include "api/api.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "domain/cidr.h"
#include "providers/binding.h"

#define LIMIT_WEBHOOK_SECRET_MIN 8
#define LIMIT_WEBHOOK_SECRET_BYTES 4096 /* Conekta's are RSA public keys in PEM */
#define LIMIT_CREDENTIALS 10
#define LIMIT_WEBHOOK_ID_BYTES 50
#define LIMIT_CREDENTIAL_BYTES 4096

static const char *owner_of(const struct request *req)
{
    return req->auth.tenant_id[0] ? req->auth.tenant_id : ACCOUNT_OWNER_PLATFORM;
}

static const char *audit_tenant(const struct request *req)
{
    return req->auth.tenant_id[0] ? req->auth.tenant_id : NULL;
}

static enum perr_code read_secrets(json_t *body, json_t *secrets, json_t *hints, struct perr *err)
{
    json_t *list = json_object_get(body, "webhook_secrets");
    if (!list) {
        return PERR_OK;
    }
    if (!json_is_array(list) || json_array_size(list) > ACCOUNT_WEBHOOK_SECRETS_MAX) {
        return perr_set(err, PERR_PARAM_INVALID, "webhook_secrets",
                        "webhook_secrets must be a list of at most %d secrets (two during a "
                        "rotation).",
                        ACCOUNT_WEBHOOK_SECRETS_MAX);
    }
    json_t *clear = json_array(), *masked = json_array();
    size_t i;
    json_t *v;
    json_array_foreach (list, i, v) {
        size_t n = json_is_string(v) ? json_string_length(v) : 0;
        if (n < LIMIT_WEBHOOK_SECRET_MIN || n > LIMIT_WEBHOOK_SECRET_BYTES ||
            strlen(json_string_value(v)) != n) {
            json_decref(clear);
            json_decref(masked);
            return perr_set(err, PERR_PARAM_INVALID, "webhook_secrets",
                            "Each webhook secret is a string of %d to %d bytes.",
                            LIMIT_WEBHOOK_SECRET_MIN, LIMIT_WEBHOOK_SECRET_BYTES);
        }
        json_array_append(clear, v);
        json_array_append_new(masked, account_mask(json_string_value(v)));
    }
    json_object_set_new(secrets, "webhook_secrets", clear);
    json_object_set_new(hints, "webhook_secrets", masked);
    return PERR_OK;
}

static enum perr_code read_credentials(json_t *body, json_t *secrets, json_t *hints,
                                       struct perr *err)
{
    json_t *creds = json_object_get(body, "credentials");
    if (!creds) {
        return PERR_OK;
    }
    if (!json_is_object(creds) || json_object_size(creds) > LIMIT_CREDENTIALS) {
        return perr_set(err, PERR_PARAM_INVALID, "credentials",
                        "credentials must be an object of at most %d strings.", LIMIT_CREDENTIALS);
    }
    json_t *masked = json_object();
    const char *k;
    json_t *v;
    json_object_foreach (creds, k, v) {
        if (!json_is_string(v) || json_string_length(v) > LIMIT_CREDENTIAL_BYTES ||
            strlen(k) > 64) {
            json_decref(masked);
            return perr_set(err, PERR_PARAM_INVALID, "credentials",
                            "credentials values are strings of at most %d bytes.",
                            LIMIT_CREDENTIAL_BYTES);
        }
        json_object_set_new(masked, k, account_mask(json_string_value(v)));
    }
    json_object_set(secrets, "credentials", creds);
    json_object_set_new(hints, "credentials", masked);
    return PERR_OK;
}

static enum perr_code read_allowlist(json_t *body, json_t *config, struct perr *err)
{
    json_t *list = json_object_get(body, "ip_allowlist");
    if (!list) {
        return PERR_OK;
    }
    if (!json_is_array(list) || json_array_size(list) > ACCOUNT_IP_ALLOWLIST_MAX) {
        return perr_set(err, PERR_PARAM_INVALID, "ip_allowlist",
                        "ip_allowlist must be a list of at most %d CIDR ranges.",
                        ACCOUNT_IP_ALLOWLIST_MAX);
    }
    size_t i;
    json_t *v;
    json_array_foreach (list, i, v) {
        struct cidr c;
        if (!json_is_string(v) || !cidr_parse(json_string_value(v), &c)) {
            return perr_set(err, PERR_PARAM_INVALID, "ip_allowlist",
                            "ip_allowlist[%zu] is not an address or CIDR range like "
                            "203.0.113.0/24.",
                            i);
        }
    }
    json_object_set(config, "ip_allowlist", list);
    return PERR_OK;
}

/* PayPal's id of the account's webhook (part of what PayPal signs): letters, digits, - and _. */
static enum perr_code read_webhook_id(json_t *body, json_t *config, struct perr *err)
{
    json_t *v = json_object_get(body, "webhook_id");
    if (!v) {
        return PERR_OK;
    }
    const char *s = json_string_value(v);
    bool ok = s && s[0] && strlen(s) <= LIMIT_WEBHOOK_ID_BYTES;
    for (const char *p = s; ok && *p; p++) {
        ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
             *p == '-' || *p == '_';
    }
    if (!ok) {
        return perr_set(err, PERR_PARAM_INVALID, "webhook_id",
                        "webhook_id is the provider's id of your webhook: 1 to %d letters, digits, "
                        "- or _.",
                        LIMIT_WEBHOOK_ID_BYTES);
    }
    json_object_set(config, "webhook_id", v);
    return PERR_OK;
}

/* Applies the body to a (new or loaded) account; before/after receive what changed, with
 * secrets masked. */
static enum perr_code apply_body(json_t *body, struct provider_account *a, struct perr *err)
{
    static const char *const allowed[] = {
        "mode", "credentials", "webhook_secrets", "ip_allowlist", "default", "webhook_id", NULL};
    const char *mode = NULL;
    enum perr_code rc = json_only_keys(body, allowed, err);
    if (rc == PERR_OK) {
        rc = json_get_string(body, "mode", 16, &mode, err);
    }
    if (rc == PERR_OK && mode && strcmp(mode, "manual") != 0 && strcmp(mode, "platform") != 0 &&
        strcmp(mode, "connected") != 0) {
        rc = perr_set(err, PERR_PARAM_INVALID, "mode",
                      "mode must be manual (your own credentials), platform (the operator's "
                      "account) or connected (OAuth).");
    }
    json_t *def = json_object_get(body, "default");
    if (rc == PERR_OK && def && !json_is_boolean(def)) {
        rc = perr_set(err, PERR_PARAM_INVALID, "default", "default must be true or false.");
    }
    if (rc == PERR_OK) {
        rc = read_secrets(body, a->secrets, a->hints, err);
    }
    if (rc == PERR_OK) {
        rc = read_credentials(body, a->secrets, a->hints, err);
    }
    if (rc == PERR_OK) {
        rc = read_allowlist(body, a->config, err);
    }
    if (rc == PERR_OK) {
        rc = read_webhook_id(body, a->config, err);
    }
    if (rc == PERR_OK && mode) {
        str_copy(a->mode, sizeof(a->mode), mode);
    }
    if (rc == PERR_OK && def) {
        a->is_default = json_is_true(def);
    }
    return rc;
}

static bool check_provider(struct request *req, struct response *res)
{
    if (!provider_name_known(req->path_params[0])) {
        respond_fail(res, PERR_RESOURCE_MISSING, "provider",
                     "pasarela knows no provider '%.32s'; use sandbox, mercadopago, stripe, "
                     "polar, conekta, paypal, flow or nowpayments.",
                     req->path_params[0]);
        return false;
    }
    return true;
}

static enum perr_code put_account(struct request *req, struct store_tx *tx, json_t **out,
                                  struct perr *err)
{
    struct provider_account a;
    bool exists = false;
    enum perr_code rc = account_load(tx, req->app->secrets_key, owner_of(req), req->path_params[0],
                                     &a, &exists, err);
    if (rc != PERR_OK) {
        return rc;
    }
    char now[RFC3339_BYTES];
    time_format_rfc3339(time_now_unix_us(), now);
    if (!exists) {
        account_init(&a, owner_of(req), req->path_params[0],
                     req->auth.tenant_id[0] ? "manual" : "platform", now);
    }
    json_t *before = exists ? account_json(&a) : json_object();
    str_copy(a.updated, sizeof(a.updated), now);
    rc = apply_body(req->json, &a, err);
    if (rc == PERR_OK && a.is_default) {
        rc = store_exec(tx, "UPDATE provider_accounts SET is_default = 0 WHERE owner = ?",
                        SQL_PARAMS(SV_T(a.owner)), NULL, err);
    }
    if (rc == PERR_OK) {
        rc = account_save(tx, req->app->secrets_key, &a, exists, err);
    }
    if (rc == PERR_OK) {
        *out = account_json(&a);
        json_t *changes = api_changes(json_incref(before), json_incref(*out));
        rc = api_audit(req, tx, audit_tenant(req),
                       exists ? "provider.updated" : "provider.connected", "provider_account",
                       a.provider, changes, err);
        json_decref(changes);
    }
    json_decref(before);
    account_release(&a);
    return rc;
}

void api_providers_put(struct request *req, struct response *res)
{
    struct perr err;
    struct store_tx tx;
    json_t *body = NULL;
    if (!check_provider(req, res)) {
        return;
    }
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, &err);
    if (rc == PERR_OK) {
        rc = put_account(req, &tx, &body, &err);
        if (rc != PERR_OK) {
            json_decref(body);
            store_tx_rollback(&tx);
        }
    }
    if (rc == PERR_OK) {
        rc = api_commit_respond(req, &tx, res, 200, body, &err);
    }
    if (rc != PERR_OK) {
        respond_error(res, &err);
    }
}

void api_providers_get(struct request *req, struct response *res)
{
    struct perr err;
    struct store_tx tx;
    struct provider_account a;
    bool found = false;
    if (!check_provider(req, res)) {
        return;
    }
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_READ, &tx, &err);
    if (rc == PERR_OK) {
        rc = account_load(&tx, req->app->secrets_key, owner_of(req), req->path_params[0], &a,
                          &found, &err);
        store_tx_rollback(&tx);
    }
    if (rc != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    if (!found) {
        respond_fail(res, PERR_RESOURCE_MISSING, "provider", "No %.32s account is configured.",
                     req->path_params[0]);
        return;
    }
    respond_json(res, 200, account_json(&a));
    account_release(&a);
}

static json_t *account_row_json(const struct store_rows *r, size_t i)
{
    json_t *config = json_loads(store_rows_get(r, i, 3), 0, NULL);
    json_t *hints = json_loads(store_rows_get(r, i, 4), 0, NULL);
    struct provider_account a = {.is_default = store_rows_int(r, i, 2) != 0,
                                 .config = config ? config : json_object(),
                                 .hints = hints ? hints : json_object(),
                                 .secrets = json_object()};
    str_copy(a.owner, sizeof(a.owner), store_rows_get(r, i, 0));
    str_copy(a.provider, sizeof(a.provider), store_rows_get(r, i, 1));
    str_copy(a.mode, sizeof(a.mode), store_rows_get(r, i, 5));
    str_copy(a.created, sizeof(a.created), store_rows_get(r, i, 6));
    str_copy(a.updated, sizeof(a.updated), store_rows_get(r, i, 7));
    json_t *out = account_json(&a);
    account_release(&a);
    return out;
}

void api_providers_list(struct request *req, struct response *res)
{
    struct sql_query q;
    sql_init(&q, "SELECT owner, provider, is_default, config, hints, mode, created, updated"
                 " FROM provider_accounts");
    sql_where(&q, "owner = ?", SV_T(owner_of(req)));
    sql_append(&q, " ORDER BY provider LIMIT ?", (struct sv[]){SV_I(LIMIT_LIST_MAX + 1)}, 1);
    api_respond_list(req, res, &q, LIMIT_LIST_MAX, account_row_json);
    sql_release(&q);
}

/* A connected account is also disconnected at the provider, when it has a way to tell it;
 * failing that, pasarela forgets the account anyway (the tenant wants it gone). */
static void revoke_connection(struct request *req)
{
    struct provider_binding b;
    struct perr err;
    if (!req->auth.tenant_id[0] || provider_bind_stored(req->app, req->auth.tenant_id,
                                                        req->path_params[0], &b, &err) != PERR_OK) {
        return;
    }
    const char *ref = account_setting(&b.account, "account_ref");
    if (b.has_account && strcmp(b.account.mode, "connected") == 0 && b.ops->oauth_revoke && ref) {
        struct provider_ctx ctx = provider_binding_ctx(&b, req->app, req->request_id);
        if (b.ops->oauth_revoke(&ctx, ref, &err) != PERR_OK) {
            log_emit(LOG_WARN, "the provider did not confirm the disconnection",
                     json_pack("{s:s, s:s, s:s}", "provider", b.ops->name, "detail", err.message,
                               "request_id", req->request_id));
        }
    }
    provider_binding_release(&b);
}

void api_providers_delete(struct request *req, struct response *res)
{
    struct perr err;
    struct store_tx tx;
    int64_t removed = 0;
    if (!check_provider(req, res)) {
        return;
    }
    revoke_connection(req);
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, &err);
    if (rc != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    rc = store_exec_changes(&tx, "DELETE FROM provider_accounts WHERE owner = ? AND provider = ?",
                            SQL_PARAMS(SV_T(owner_of(req)), SV_T(req->path_params[0])), &removed,
                            &err);
    if (rc == PERR_OK && removed == 0) {
        rc = perr_set(&err, PERR_RESOURCE_MISSING, "provider", "No %.32s account is configured.",
                      req->path_params[0]);
    }
    if (rc == PERR_OK) {
        json_t *changes =
            api_changes(json_pack("{s:s}", "provider", req->path_params[0]), json_object());
        rc = api_audit(req, &tx, audit_tenant(req), "provider.disconnected", "provider_account",
                       req->path_params[0], changes, &err);
        json_decref(changes);
    }
    if (rc != PERR_OK) {
        store_tx_rollback(&tx);
        respond_error(res, &err);
        return;
    }
    json_t *body = json_pack("{s:s, s:s, s:b}", "object", "provider_account", "provider",
                             req->path_params[0], "deleted", 1);
    if (api_commit_respond(req, &tx, res, 200, body, &err) != PERR_OK) {
        respond_error(res, &err);
    }
}
