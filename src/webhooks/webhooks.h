/* Incoming provider webhooks: each provider's verification scheme (a table by name), the
 * durable inbox, security events for failures, and the job that applies a verified event
 * to its payment. */
#ifndef PASARELA_WEBHOOKS_H
#define PASARELA_WEBHOOKS_H

#include "app.h"
#include "jobs/jobs.h"

#define WEBHOOK_EVENT_ID_BYTES 128
#define WEBHOOK_BODY_MAX (256 * 1024)

struct webhook_verifier {
    const char *provider;
    /* Verifies req (headers and raw body) for the account (tenant id, or NULL for the
     * platform); on success fills event_id and returns NULL, else returns the reason, for the
     * security event only (never for the client). */
    const char *(*verify)(const struct request *req, const char *tenant_id,
                          char event_id[WEBHOOK_EVENT_ID_BYTES]);
};

const struct webhook_verifier *webhook_verifier_find(const char *provider);

enum perr_code webhook_tenant_exists(struct app *app, const char *tenant_id, bool *exists,
                                     struct perr *err) WARN_UNUSED;
/* Records a failed verification: provider, tenant, source address, reason. */
void webhook_security_event(const struct request *req, const char *provider,
                            const char *tenant_id, const char *reason);
/* Commits the event to the inbox with its processing job; *duplicate when the provider's
 * event id was already there (nothing is written then). */
enum perr_code webhook_inbox_commit(struct request *req, const char *provider,
                                    const char *tenant_id, const char *event_id,
                                    bool *duplicate, struct perr *err) WARN_UNUSED;

extern const struct job_kind webhook_job_kind;

#endif
