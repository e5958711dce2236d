#include "http/auth.h"

#include "app.h"
#include "core/crypto.h"
#include "core/ids.h"

void auth_key_prefix(const char *secret, char *out)
{
    size_t n = strnlen(secret, SECRET_PREFIX_CHARS);
    memcpy(out, secret, n);
    out[n] = '\0';
}

static const char *bearer_token(const struct request *req)
{
    const char *h = request_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        return NULL;
    }
    h += 7;
    while (*h == ' ') {
        h++;
    }
    return *h ? h : NULL;
}

/* Finds the unrevoked tenant key whose SHA-256 matches token. tenant_status receives the
 * tenant's status. */
static enum perr_code find_tenant_key(struct request *req, const char *token, char *tenant_status,
                                      size_t status_size, struct perr *err)
{
    char prefix[SECRET_PREFIX_CHARS + 1];
    char digest[SHA256_HEX_BYTES];
    auth_key_prefix(token, prefix);
    crypto_sha256_hex(token, strlen(token), digest);

    struct store_tx tx;
    struct store_rows rows;
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_READ, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    rc = store_exec(&tx,
                    "SELECT k.id, k.tenant_id, k.secret_sha256, t.status FROM tenant_keys k"
                    " JOIN tenants t ON t.id = k.tenant_id"
                    " WHERE k.lookup_prefix = ? AND k.revoked IS NULL",
                    SQL_PARAMS(SV_T(prefix)), &rows, err);
    store_tx_rollback(&tx);
    if (rc != PERR_OK) {
        return rc;
    }
    rc = perr_set(err, PERR_API_KEY_INVALID, NULL, NULL);
    for (size_t i = 0; i < rows.nrows; i++) {
        const char *stored = store_rows_get(&rows, i, 2);
        if (strlen(stored) == SHA256_HEX_BYTES - 1 &&
            crypto_equal(stored, digest, SHA256_HEX_BYTES - 1)) {
            str_copy(req->auth.key_id, sizeof(req->auth.key_id), store_rows_get(&rows, i, 0));
            str_copy(req->auth.tenant_id, sizeof(req->auth.tenant_id), store_rows_get(&rows, i, 1));
            str_copy(tenant_status, status_size, store_rows_get(&rows, i, 3));
            rc = PERR_OK;
        }
    }
    store_rows_free(&rows);
    return rc;
}

static enum perr_code tenant_exists(struct request *req, const char *id, bool *exists,
                                    struct perr *err)
{
    struct store_tx tx;
    struct store_rows rows;
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_READ, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    rc = store_exec(&tx, "SELECT 1 FROM tenants WHERE id = ?", SQL_PARAMS(SV_T(id)), &rows, err);
    store_tx_rollback(&tx);
    if (rc == PERR_OK) {
        *exists = rows.nrows == 1;
        store_rows_free(&rows);
    }
    return rc;
}

static enum perr_code admin_context(struct request *req, unsigned flags, struct perr *err)
{
    req->auth.is_admin = true;
    str_copy(req->auth.actor, sizeof(req->auth.actor), "admin");
    const char *tenant = request_header(req, "Pasarela-Tenant");
    if (!tenant) {
        return (flags & ROUTE_TENANT) ? perr_set(err, PERR_TENANT_REQUIRED, "Pasarela-Tenant", NULL)
                                      : PERR_OK;
    }
    bool exists = false;
    enum perr_code rc =
        id_valid("ten", tenant) ? tenant_exists(req, tenant, &exists, err) : PERR_OK;
    if (rc != PERR_OK) {
        return rc;
    }
    if (!exists) {
        return perr_set(err, PERR_RESOURCE_MISSING, "Pasarela-Tenant",
                        "The Pasarela-Tenant header names no tenant.");
    }
    str_copy(req->auth.tenant_id, sizeof(req->auth.tenant_id), tenant);
    return PERR_OK;
}

static enum perr_code tenant_context(struct request *req, const char *token, enum auth_need need,
                                     struct perr *err)
{
    char status[16] = "";
    enum perr_code rc = find_tenant_key(req, token, status, sizeof(status), err);
    if (rc != PERR_OK) {
        return rc;
    }
    snprintf(req->auth.actor, sizeof(req->auth.actor), "key:%s", req->auth.key_id);
    if (strcmp(status, "active") != 0) {
        return perr_set(err, PERR_TENANT_SUSPENDED, NULL, NULL);
    }
    const char *asked = request_header(req, "Pasarela-Tenant");
    if (asked && strcmp(asked, req->auth.tenant_id) != 0) {
        return perr_set(err, PERR_PERMISSION_DENIED, "Pasarela-Tenant",
                        "Only the admin key may act on another tenant.");
    }
    if (need == AUTH_ADMIN) {
        return perr_set(
            err, PERR_PERMISSION_DENIED, NULL,
            "This endpoint is for the operator's admin key; a tenant key may not use it.");
    }
    return PERR_OK;
}

enum perr_code auth_authenticate(struct request *req, enum auth_need need, unsigned flags,
                                 struct perr *err)
{
    req->auth = (struct auth){0};
    if (need == AUTH_NONE) {
        return PERR_OK;
    }
    const char *token = bearer_token(req);
    if (!token) {
        return perr_set(err, PERR_API_KEY_MISSING, "Authorization", NULL);
    }
    uint8_t digest[SHA256_BYTES];
    crypto_sha256(token, strlen(token), digest);
    if (crypto_equal(digest, req->app->admin_key_sha256, SHA256_BYTES)) {
        return admin_context(req, flags, err);
    }
    if (strncmp(token, "sk_", 3) != 0 || strlen(token) >= LIMIT_SECRET_BYTES) {
        return perr_set(err, PERR_API_KEY_INVALID, NULL, NULL);
    }
    return tenant_context(req, token, need, err);
}
