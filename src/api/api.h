/* The v1 API: one file per resource, and the route table (routes.c) that maps each
 * (method, pattern) to its handler with its auth and flags. Shared helpers for lists,
 * path parameters and audit records live in common.c. */
#ifndef PASARELA_API_H
#define PASARELA_API_H

#include "app.h"
#include "audit/audit.h"

extern const struct route api_routes[];
extern const size_t api_routes_count;

void api_health(struct request *req, struct response *res);
void api_tenants_create(struct request *req, struct response *res);
void api_tenants_list(struct request *req, struct response *res);
void api_tenants_get(struct request *req, struct response *res);
void api_tenants_patch(struct request *req, struct response *res);
void api_keys_create(struct request *req, struct response *res);
void api_keys_list(struct request *req, struct response *res);
void api_keys_revoke(struct request *req, struct response *res);
void api_audit_list(struct request *req, struct response *res);
void api_payments_create(struct request *req, struct response *res);
void api_payments_get(struct request *req, struct response *res);
void api_payments_list(struct request *req, struct response *res);
void api_payments_cancel(struct request *req, struct response *res);
void api_refunds_create(struct request *req, struct response *res);
void api_events_list(struct request *req, struct response *res);
void api_webhooks_receive(struct request *req, struct response *res);
void api_jobs_list(struct request *req, struct response *res);
void api_jobs_replay(struct request *req, struct response *res);
void api_jobs_replay_all(struct request *req, struct response *res);
void api_security_events_list(struct request *req, struct response *res);
void api_providers_put(struct request *req, struct response *res);
void api_providers_get(struct request *req, struct response *res);
void api_providers_list(struct request *req, struct response *res);
void api_providers_delete(struct request *req, struct response *res);
void api_audit_verify(struct request *req, struct response *res);
void api_providers_connect(struct request *req, struct response *res);
void api_oauth_callback(struct request *req, struct response *res);
void api_balance_get(struct request *req, struct response *res);
void api_ledger_entries_list(struct request *req, struct response *res);
void api_reports_platform(struct request *req, struct response *res);
void api_payouts_create(struct request *req, struct response *res);
void api_payouts_list(struct request *req, struct response *res);
void api_payouts_get(struct request *req, struct response *res);
void api_payouts_paid(struct request *req, struct response *res);
void api_payouts_failed(struct request *req, struct response *res);

/* ?limit= and ?starting_after= of a list endpoint; false after answering 400. */
bool api_list_params(struct request *req, struct response *res, int64_t *limit,
                     const char **starting_after);
/* Adds `cond` (one '?') for the RFC 3339 time in ?param= when present, written as stored
 * (with microseconds when micro). False after answering 400 for a malformed time. */
bool api_time_filter(struct request *req, struct response *res, struct sql_query *q,
                     const char *param, const char *cond, bool micro);
/* {"object": "list", "data": data (consumed), "has_more": has_more}. */
json_t *api_list_json(json_t *data, bool has_more);
/* True when the caller may see tenant_id's objects: the admin on the platform sees every
 * tenant; a tenant context sees only its own. */
bool api_can_see_tenant(const struct request *req, const char *tenant_id);
/* Appends the audit record of a change made by this request, in tx. */
enum perr_code api_audit(struct request *req, struct store_tx *tx, const char *tenant_id,
                         const char *action, const char *entity_type, const char *entity_id,
                         json_t *changes, struct perr *err) WARN_UNUSED;
/* The same record made ready before the transaction (audit_draft_init), for a write that runs
 * on the store's writer; false (logged) when it cannot be serialized. */
bool api_audit_draft(const struct request *req, const char *tenant_id, const char *action,
                     const char *entity_type, const char *entity_id, json_t *changes,
                     struct audit_draft *d) WARN_UNUSED;
/* Stores body as the idempotent answer (when the request holds a key), commits tx, and
 * answers with body (consumed). On failure nothing is answered: the caller reports err. */
enum perr_code api_commit_respond(struct request *req, struct store_tx *tx, struct response *res,
                                  int status, json_t *body, struct perr *err) WARN_UNUSED;
/* Runs q (a SELECT ... LIMIT limit+1) in a read transaction and answers with the list of
 * to_json(row) for its first `limit` rows. */
typedef json_t *(*api_row_json_fn)(const struct store_rows *rows, size_t i);
void api_respond_list(struct request *req, struct response *res, const struct sql_query *q,
                      int64_t limit, api_row_json_fn to_json);
/* {"before": before, "after": after}, both consumed. */
json_t *api_changes(json_t *before, json_t *after);

#endif
