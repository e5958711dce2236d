/* Every endpoint of the API, as data: the dispatcher (http/server.c) matches, authenticates,
 * scopes, limits and parses before any handler runs. */
#include "api/api.h"
#include "webhooks/webhooks.h"

#define T ROUTE_TENANT
#define I ROUTE_IDEMPOTENT

const struct route api_routes[] = {
    {"GET", "/health", api_health, AUTH_NONE, 0, 0},
    {"POST", "/v1/tenants", api_tenants_create, AUTH_ADMIN, I, 0},
    {"GET", "/v1/tenants", api_tenants_list, AUTH_ANY, 0, 0},
    {"GET", "/v1/tenants/{id}", api_tenants_get, AUTH_ANY, 0, 0},
    {"PATCH", "/v1/tenants/{id}", api_tenants_patch, AUTH_ANY, 0, 0},
    {"POST", "/v1/tenants/{id}/keys", api_keys_create, AUTH_ADMIN, 0, 0},
    {"GET", "/v1/tenants/{id}/keys", api_keys_list, AUTH_ANY, 0, 0},
    {"DELETE", "/v1/tenants/{id}/keys/{key_id}", api_keys_revoke, AUTH_ADMIN, 0, 0},
    {"POST", "/v1/payments", api_payments_create, AUTH_ANY, T | I, 0},
    {"GET", "/v1/payments", api_payments_list, AUTH_ANY, T, 0},
    {"GET", "/v1/payments/{id}", api_payments_get, AUTH_ANY, T, 0},
    {"POST", "/v1/payments/{id}/refunds", api_refunds_create, AUTH_ANY, T | I, 0},
    {"POST", "/v1/payments/{id}/cancel", api_payments_cancel, AUTH_ANY, T | I, 0},
    {"GET", "/v1/events", api_events_list, AUTH_ANY, T, 0},
    {"PUT", "/v1/providers/{provider}", api_providers_put, AUTH_ANY, 0, 0},
    {"GET", "/v1/providers", api_providers_list, AUTH_ANY, 0, 0},
    {"GET", "/v1/providers/{provider}", api_providers_get, AUTH_ANY, 0, 0},
    {"DELETE", "/v1/providers/{provider}", api_providers_delete, AUTH_ANY, 0, 0},
    {"POST", "/v1/providers/{provider}/connect", api_providers_connect, AUTH_ANY, T, 0},
    {"GET", "/oauth/{provider}/callback", api_oauth_callback, AUTH_NONE, 0, 0},
    {"GET", "/v1/audit", api_audit_list, AUTH_ANY, 0, 0},
    {"GET", "/v1/audit/verify", api_audit_verify, AUTH_ANY, 0, 0},
    {"GET", "/v1/jobs", api_jobs_list, AUTH_ADMIN, 0, 0},
    {"POST", "/v1/jobs/replay", api_jobs_replay_all, AUTH_ADMIN, I, 0},
    {"POST", "/v1/jobs/{id}/replay", api_jobs_replay, AUTH_ADMIN, I, 0},
    {"GET", "/v1/security_events", api_security_events_list, AUTH_ADMIN, 0, 0},
    {"GET", "/v1/balance", api_balance_get, AUTH_ANY, T, 0},
    {"GET", "/v1/ledger/entries", api_ledger_entries_list, AUTH_ANY, T, 0},
    {"POST", "/v1/payouts", api_payouts_create, AUTH_ANY, T | I, 0},
    {"GET", "/v1/payouts", api_payouts_list, AUTH_ANY, 0, 0},
    {"GET", "/v1/payouts/{id}", api_payouts_get, AUTH_ANY, 0, 0},
    {"POST", "/v1/payouts/{id}/paid", api_payouts_paid, AUTH_ADMIN, I, 0},
    {"POST", "/v1/payouts/{id}/failed", api_payouts_failed, AUTH_ADMIN, I, 0},
    {"GET", "/v1/reports/platform", api_reports_platform, AUTH_ADMIN, 0, 0},
    {"POST", "/webhooks/{provider}", api_webhooks_receive, AUTH_NONE, ROUTE_RAW_BODY,
     WEBHOOK_BODY_MAX},
    {"POST", "/webhooks/{provider}/{tenant_id}", api_webhooks_receive, AUTH_NONE, ROUTE_RAW_BODY,
     WEBHOOK_BODY_MAX},
};

const size_t api_routes_count = ARRAY_LEN(api_routes);
