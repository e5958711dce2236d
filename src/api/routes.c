/* Every endpoint of the API, as data: the dispatcher (http/server.c) matches, authenticates,
 * scopes and parses before any handler runs. */
#include "api/api.h"

const struct route api_routes[] = {
    {"GET", "/health", api_health, AUTH_NONE, 0},
    {"POST", "/v1/tenants", api_tenants_create, AUTH_ADMIN, ROUTE_BODY},
    {"GET", "/v1/tenants", api_tenants_list, AUTH_ANY, 0},
    {"GET", "/v1/tenants/{id}", api_tenants_get, AUTH_ANY, 0},
    {"PATCH", "/v1/tenants/{id}", api_tenants_patch, AUTH_ANY, ROUTE_BODY},
    {"POST", "/v1/tenants/{id}/keys", api_keys_create, AUTH_ADMIN, ROUTE_BODY},
    {"GET", "/v1/tenants/{id}/keys", api_keys_list, AUTH_ANY, 0},
    {"DELETE", "/v1/tenants/{id}/keys/{key_id}", api_keys_revoke, AUTH_ADMIN, 0},
    {"GET", "/v1/audit", api_audit_list, AUTH_ANY, 0},
    {"GET", "/v1/audit/verify", api_audit_verify, AUTH_ANY, 0},
};

const size_t api_routes_count = ARRAY_LEN(api_routes);
