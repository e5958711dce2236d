#include "providers/binding.h"

#include "core/log.h"
#include "providers/oauth.h"

const char *account_credential(const struct provider_account *a, const char *name)
{
    return a ? json_string_value(json_object_get(json_object_get(a->secrets, "credentials"), name))
             : NULL;
}

const char *account_setting(const struct provider_account *a, const char *name)
{
    return a ? json_string_value(json_object_get(a->config, name)) : NULL;
}

bool account_is_tenants_own(const struct provider_account *a)
{
    return strcmp(a->owner, ACCOUNT_OWNER_PLATFORM) != 0 &&
           (strcmp(a->mode, "manual") == 0 || strcmp(a->mode, "connected") == 0);
}

/* The provider of the tenant's default account, or "sandbox". */
static enum perr_code default_provider(struct store_tx *tx, const char *tenant_id, char *out,
                                       size_t size, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = store_exec(tx,
                                   "SELECT provider FROM provider_accounts WHERE owner = ?"
                                   " AND is_default = 1",
                                   SQL_PARAMS(SV_T(tenant_id)), &rows, err);
    if (rc == PERR_OK) {
        str_copy(out, size, rows.nrows ? store_rows_get(&rows, 0, 0) : "sandbox");
        store_rows_free(&rows);
    }
    return rc;
}

static enum perr_code not_enabled(const char *provider, struct perr *err)
{
    return perr_set(err, PERR_PROVIDER_NOT_ENABLED, "provider",
                    "The provider %s is not enabled for this tenant: connect an account "
                    "(PUT /v1/providers/%s) or ask the operator for the platform account.",
                    provider, provider);
}

/* In tx: loads the accounts and decides which one serves owner_hint (a tenant id; NULL when
 * only the platform may). */
static enum perr_code bind_in(struct app *app, struct store_tx *tx, const char *tenant_id,
                              bool platform_only, struct provider_binding *b, struct perr *err)
{
    const char *name = b->ops->name;
    enum perr_code rc = PERR_OK;
    if (tenant_id && !platform_only) {
        rc = account_load(tx, app->secrets_key, tenant_id, name, &b->account, &b->has_account, err);
    }
    if (rc == PERR_OK) {
        rc = account_load(tx, app->secrets_key, ACCOUNT_OWNER_PLATFORM, name, &b->platform,
                          &b->has_platform, err);
    }
    if (rc != PERR_OK) {
        return rc;
    }
    if (b->has_account && !account_is_tenants_own(&b->account)) {
        account_release(&b->account); /* mode platform: the tenant opted for the operator's */
        b->has_account = false;
    }
    str_copy(b->owner, sizeof(b->owner), b->has_account ? tenant_id : ACCOUNT_OWNER_PLATFORM);
    bool sandbox = strcmp(name, "sandbox") == 0;
    if (sandbox && !app->cfg->sandbox_enabled) {
        return not_enabled(name, err);
    }
    if (!sandbox && !b->has_account && !b->has_platform) {
        return not_enabled(name, err);
    }
    return PERR_OK;
}

static enum perr_code bind(struct app *app, const char *tenant_id, const char *provider,
                           bool platform_only, struct provider_binding *out, struct perr *err)
{
    *out = (struct provider_binding){0};
    struct store_tx tx;
    enum perr_code rc = store_tx_begin(app->store, STORE_TX_READ, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    char name[32];
    if (provider) {
        str_copy(name, sizeof(name), provider);
    } else {
        rc = default_provider(&tx, tenant_id, name, sizeof(name), err);
    }
    out->ops = rc == PERR_OK ? provider_find(name) : NULL;
    if (rc == PERR_OK && !out->ops) {
        rc = provider_name_known(name) ? not_enabled(name, err)
                                       : perr_set(err, PERR_PARAM_INVALID, "provider",
                                                  "There is no provider '%.32s'.", name);
    }
    if (rc == PERR_OK) {
        rc = bind_in(app, &tx, tenant_id, platform_only, out, err);
    }
    store_tx_rollback(&tx);
    if (rc != PERR_OK) {
        provider_binding_release(out);
    }
    return rc;
}

/* A connected account whose token is about to expire is refreshed before it is used. */
static enum perr_code bind_fresh(struct app *app, const char *tenant_id, const char *provider,
                                 bool platform_only, struct provider_binding *out, struct perr *err)
{
    enum perr_code rc = bind(app, tenant_id, provider, platform_only, out, err);
    if (rc != PERR_OK || !out->has_account || !oauth_token_due(out->account.config)) {
        return rc;
    }
    char name[32];
    str_copy(name, sizeof(name), out->ops->name);
    provider_binding_release(out);
    rc = oauth_refresh_now(app, tenant_id, name, "oauth.refresh", err);
    return rc == PERR_OK ? bind(app, tenant_id, name, platform_only, out, err) : rc;
}

enum perr_code provider_bind(struct app *app, const char *tenant_id, const char *provider,
                             struct provider_binding *out, struct perr *err)
{
    return bind_fresh(app, tenant_id, provider, false, out, err);
}

/* The owner's account as stored; refresh says whether a due token is refreshed first. */
static enum perr_code bind_owner(struct app *app, const char *owner, const char *provider,
                                 bool refresh, struct provider_binding *out, struct perr *err)
{
    bool platform = strcmp(owner, ACCOUNT_OWNER_PLATFORM) == 0;
    const char *tenant = platform ? NULL : owner;
    enum perr_code rc = refresh ? bind_fresh(app, tenant, provider, platform, out, err)
                                : bind(app, tenant, provider, platform, out, err);
    if (rc == PERR_OK && strcmp(out->owner, owner) != 0) {
        log_emit(LOG_WARN, "the account a payment was made through is gone",
                 json_pack("{s:s, s:s}", "owner", owner, "provider", provider));
        provider_binding_release(out);
        return not_enabled(provider, err);
    }
    return rc;
}

enum perr_code provider_bind_owner(struct app *app, const char *owner, const char *provider,
                                   struct provider_binding *out, struct perr *err)
{
    return bind_owner(app, owner, provider, true, out, err);
}

enum perr_code provider_bind_stored(struct app *app, const char *owner, const char *provider,
                                    struct provider_binding *out, struct perr *err)
{
    return bind_owner(app, owner, provider, false, out, err);
}

struct provider_ctx provider_binding_ctx(const struct provider_binding *b, struct app *app,
                                         const char *correlation_id)
{
    bool own = strcmp(b->owner, ACCOUNT_OWNER_PLATFORM) != 0;
    return (struct provider_ctx){
        .app = app,
        .tenant_id = own ? b->owner : NULL,
        .correlation_id = correlation_id,
        .account = b->has_account    ? &b->account
                   : b->has_platform ? &b->platform
                                     : NULL,
        .platform = b->has_platform ? &b->platform : NULL,
    };
}

void provider_binding_release(struct provider_binding *b)
{
    if (b->has_account) {
        account_release(&b->account);
    }
    if (b->has_platform) {
        account_release(&b->platform);
    }
    *b = (struct provider_binding){0};
}
