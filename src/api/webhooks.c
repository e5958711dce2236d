/* POST /webhooks/{provider}[/{tenant_id}]: a provider's notification. It is verified with the
 * provider's own scheme before anything is trusted, committed to the inbox (deduplicated by
 * the provider's event id per account) together with the job that will process it, and only
 * then answered 2xx. A failed verification answers 401 without detail and is recorded as a
 * security event. Processing happens in the webhook.process job (webhook_job.c). */
#include "webhooks/webhooks.h"
#include "api/api.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "domain/stdwebhooks.h"
#include "jobs/jobs.h"

void api_webhooks_receive(struct request *req, struct response *res)
{
    const char *provider = req->path_params[0];
    const char *tenant = req->npath_params > 1 ? req->path_params[1] : NULL;
    struct perr err;
    const struct webhook_verifier *v = webhook_verifier_find(provider);
    if (!v) {
        respond_fail(res, PERR_ROUTE_NOT_FOUND, "provider", "No webhook endpoint for %.32s.",
                     provider);
        return;
    }
    bool exists = true;
    if (tenant && webhook_tenant_exists(req->app, tenant, &exists, &err) != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    if (!exists) {
        respond_fail(res, PERR_RESOURCE_MISSING, "tenant_id", "No such webhook endpoint.");
        return;
    }
    struct provider_account account;
    bool configured = false;
    if (webhook_account(req->app, tenant, provider, &account, &configured, &err) != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    if (v->needs_account && !configured) {
        respond_fail(res, PERR_RESOURCE_MISSING, "provider", "No such webhook endpoint.");
        return;
    }
    const struct provider_account *acc = configured ? &account : NULL;
    char event_id[WEBHOOK_EVENT_ID_BYTES];
    const char *refused = NULL;
    if (!webhook_source_allowed(req, acc)) {
        webhook_security_event(req, "webhook_source_refused", provider, tenant,
                               "source address not in the account's ip_allowlist");
        respond_fail(res, PERR_PERMISSION_DENIED, NULL,
                     "This source may not deliver webhooks here.");
        refused = "source";
    } else {
        refused = v->verify(req, acc, event_id);
        if (refused) {
            webhook_security_event(req, "webhook_signature_invalid", provider, tenant, refused);
            respond_fail(res, PERR_WEBHOOK_SIGNATURE_INVALID, NULL, NULL);
        }
    }
    if (configured) {
        account_release(&account);
    }
    if (refused) {
        return;
    }
    bool duplicate = false;
    if (webhook_inbox_commit(req, provider, tenant, event_id, &duplicate, &err) != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    if (!duplicate) {
        jobs_notify(req->app->jobs);
    }
    respond_json(res, 200, json_pack("{s:b, s:b}", "received", 1, "duplicate", duplicate));
}
