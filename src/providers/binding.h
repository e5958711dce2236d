/* Which account a tenant's call to a provider goes through. A tenant with its own account at
 * the provider (mode manual: its credentials; mode connected: tokens from OAuth) uses it;
 * otherwise the operator's platform account serves it, when the operator configured one.
 * The sandbox needs no account: it serves every tenant while it is enabled, as the platform
 * unless the tenant configured its own sandbox account. A binding holds both accounts with
 * their secrets unsealed, for the duration of one operation. */
#ifndef PASARELA_BINDING_H
#define PASARELA_BINDING_H

#include "app.h"
#include "providers/accounts.h"
#include "providers/connector.h"

struct provider_binding {
    const struct provider_ops *ops;
    char owner[LIMIT_ID_BYTES]; /* the account used: a tenant id or "platform" */
    struct provider_account account;
    struct provider_account platform;
    bool has_account, has_platform;
};

/* The account tenant_id uses at provider (NULL: the tenant's default provider, else the
 * sandbox), a connected account's token refreshed first when due. PERR_PARAM_INVALID for a provider
 * pasarela does not know, and PERR_PROVIDER_NOT_ENABLED when no account can serve the tenant. */
enum perr_code provider_bind(struct app *app, const char *tenant_id, const char *provider,
                             struct provider_binding *out, struct perr *err) WARN_UNUSED;
/* The account owner's at provider, as recorded on a payment made through it. */
enum perr_code provider_bind_owner(struct app *app, const char *owner, const char *provider,
                                   struct provider_binding *out, struct perr *err) WARN_UNUSED;
/* The same without refreshing a due token first (for the refresh itself). */
enum perr_code provider_bind_stored(struct app *app, const char *owner, const char *provider,
                                    struct provider_binding *out, struct perr *err) WARN_UNUSED;
/* The connector context for calls through b. */
struct provider_ctx provider_binding_ctx(const struct provider_binding *b, struct app *app,
                                         const char *correlation_id);
void provider_binding_release(struct provider_binding *b);

/* A credential of the account (credentials.<name>), or NULL. Borrowed. */
const char *account_credential(const struct provider_account *a, const char *name);
/* A non-secret setting of the account (config.<name>), or NULL. Borrowed. */
const char *account_setting(const struct provider_account *a, const char *name);
/* True for an account the tenant brought: its own credentials, or connected by OAuth. */
bool account_is_tenants_own(const struct provider_account *a);

#endif
