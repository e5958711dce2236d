/* Connecting a tenant's account at a provider by OAuth, and keeping its tokens fresh.
 *
 * The `state` sent to the provider is "<nonce>.<expiry>.<mac>": the nonce names a row of
 * oauth_states bound to the tenant and the provider, the expiry ends it after
 * OAUTH_STATE_TTL_S, and the MAC (HMAC-SHA256 under a key derived from the secrets key)
 * authenticates all three, so a forged or altered state is refused before anything else;
 * consuming the row makes it single-use. Tokens are stored sealed in the tenant's account
 * (mode "connected"), with the provider's id of the account as config.account_ref; a job
 * refreshes them before they expire, and a call that finds the refresh overdue refreshes
 * first. */
#ifndef PASARELA_OAUTH_H
#define PASARELA_OAUTH_H

#include "app.h"
#include "jobs/jobs.h"
#include "providers/connector.h"

#define OAUTH_STATE_TTL_S 600
#define OAUTH_STATE_BYTES 128

struct oauth_state {
    char tenant_id[LIMIT_ID_BYTES];
    char provider[32];
    char return_url[LIMIT_PATH_BYTES];
};

/* Records a new state for the tenant in tx; out receives its text. */
enum perr_code oauth_state_create(struct app *app, struct store_tx *tx, const char *tenant_id,
                                  const char *provider, const char *return_url,
                                  char out[OAUTH_STATE_BYTES], struct perr *err) WARN_UNUSED;
/* Checks and consumes a state in tx: PERR_OAUTH_STATE_INVALID when it is forged, altered,
 * unknown, for another provider, already used or expired (reason says which, for the
 * security event only). */
enum perr_code oauth_state_consume(struct app *app, struct store_tx *tx, const char *text,
                                   const char *provider, struct oauth_state *out,
                                   const char **reason, struct perr *err) WARN_UNUSED;

/* The URL the provider sends the browser back to: PUBLIC_URL/oauth/<provider>/callback. */
void oauth_redirect_uri(const struct app *app, const char *provider, char *out, size_t size);

/* Stores the tokens in the tenant's account at the provider (mode connected) in tx, audited
 * with actor and correlation_id, and schedules their refresh. */
enum perr_code oauth_store_tokens(struct app *app, struct store_tx *tx, const char *tenant_id,
                                  const char *provider, const struct provider_tokens *t,
                                  const char *actor, const char *correlation_id,
                                  struct perr *err) WARN_UNUSED;

/* Refreshes the tenant's tokens now (one refresh at a time per process: refresh tokens are
 * single-use). */
enum perr_code oauth_refresh_now(struct app *app, const char *tenant_id, const char *provider,
                                 const char *correlation_id, struct perr *err) WARN_UNUSED;

/* True when the connected account's token is past the time its refresh was scheduled for
 * (a day before expiry, or halfway for short-lived tokens): the job has not run yet. */
bool oauth_token_due(const json_t *account_config);

extern const struct job_kind oauth_refresh_job_kind;

#endif
