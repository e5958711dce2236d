/* Incoming provider webhooks: each provider's verification scheme (a table by name), the
 * durable inbox, security events for failures, and the job that applies a verified event
 * to its payment. */
#ifndef PASARELA_WEBHOOKS_H
#define PASARELA_WEBHOOKS_H

#include "app.h"
#include "jobs/jobs.h"
#include "providers/accounts.h"

#define WEBHOOK_EVENT_ID_BYTES 128
#define WEBHOOK_BODY_MAX (256 * 1024)

struct webhook_verifier {
    const char *provider;
    bool needs_account; /* verified with the account's webhook secrets */
    /* Verifies req (headers and raw body) with the account's secrets (account is NULL for
     * providers that need none); on success fills event_id and returns NULL, else returns
     * the reason, for the security event only (never for the client). */
    const char *(*verify)(const struct request *req, const struct provider_account *account,
                          char event_id[WEBHOOK_EVENT_ID_BYTES]);
};

const struct webhook_verifier *webhook_verifier_find(const char *provider);

enum perr_code webhook_tenant_exists(struct app *app, const char *tenant_id, bool *exists,
                                     struct perr *err) WARN_UNUSED;
/* Records a refused webhook: kind, provider, tenant, source address, reason. */
void webhook_security_event(const struct request *req, const char *kind, const char *provider,
                            const char *tenant_id, const char *reason);
/* Loads the account a webhook is for (owner: the tenant, or the platform). */
enum perr_code webhook_account(struct app *app, const char *tenant_id, const char *provider,
                               struct provider_account *out, bool *found,
                               struct perr *err) WARN_UNUSED;
/* True when the account has no IP allowlist or the request's source is in it. */
bool webhook_source_allowed(const struct request *req, const struct provider_account *account);
/* Commits the event to the inbox with its processing job; *duplicate when the provider's
 * event id was already there (nothing is written then). */
enum perr_code webhook_inbox_commit(struct request *req, const char *provider,
                                    const char *tenant_id, const char *event_id, bool *duplicate,
                                    struct perr *err) WARN_UNUSED;

extern const struct job_kind webhook_job_kind;

#endif
