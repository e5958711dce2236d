/* /v1/tenants/{id}/keys: the operator issues and revokes tenant API keys. A secret is shown
 * once, at creation; the store keeps its SHA-256, its lookup prefix and its last four
 * characters. */
#include "api/api.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "http/auth.h"

#define KEY_COLUMNS "id, tenant_id, name, last4, created, revoked"
#define LIMIT_KEY_NAME_BYTES 100

static json_t *key_json(const struct store_rows *r, size_t i)
{
    const char *revoked = store_rows_get(r, i, 5);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?}", "id", store_rows_get(r, i, 0),
                     "object", "api_key", "tenant_id", store_rows_get(r, i, 1), "name",
                     store_rows_get(r, i, 2), "last4", store_rows_get(r, i, 3), "created",
                     store_rows_get(r, i, 4), "revoked", revoked);
}

static enum perr_code select_key(struct store_tx *tx, const char *tenant_id, const char *key_id,
                                 struct store_rows *rows, struct perr *err)
{
    return store_exec(tx, "SELECT " KEY_COLUMNS " FROM tenant_keys WHERE tenant_id = ? AND id = ?",
                      SQL_PARAMS(SV_T(tenant_id), SV_T(key_id)), rows, err);
}

static enum perr_code tenant_must_exist(struct store_tx *tx, const char *id, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc =
        store_exec(tx, "SELECT 1 FROM tenants WHERE id = ?", SQL_PARAMS(SV_T(id)), &rows, err);
    if (rc == PERR_OK && rows.nrows == 0) {
        rc = perr_set(err, PERR_RESOURCE_MISSING, "id", "No tenant %.48s.", id);
    }
    store_rows_free(&rows);
    return rc;
}

static enum perr_code insert_key(struct request *req, struct store_tx *tx, const char *tenant_id,
                                 const char *name, const char *secret, json_t **out,
                                 struct perr *err)
{
    char id[LIMIT_ID_BYTES], now[RFC3339_BYTES], prefix[SECRET_PREFIX_CHARS + 1];
    char digest[SHA256_HEX_BYTES];
    id_new("key", id);
    time_format_rfc3339(time_now_unix_us(), now);
    auth_key_prefix(secret, prefix);
    crypto_sha256_hex(secret, strlen(secret), digest);
    const char *last4 = secret + strlen(secret) - 4;
    enum perr_code rc = store_exec(
        tx,
        "INSERT INTO tenant_keys (tenant_id, id, name, lookup_prefix, secret_sha256, last4,"
        " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
        SQL_PARAMS(SV_T(tenant_id), SV_T(id), SV_T(name), SV_T(prefix), SV_T(digest), SV_T(last4),
                   SV_T(now)),
        NULL, err);
    struct store_rows rows = {0};
    if (rc == PERR_OK) {
        rc = select_key(tx, tenant_id, id, &rows, err);
    }
    if (rc == PERR_OK) {
        *out = key_json(&rows, 0);
        json_t *changes = api_changes(json_object(), json_incref(*out));
        rc = api_audit(req, tx, tenant_id, "key.created", "api_key", id, changes, err);
        json_decref(changes);
    }
    store_rows_free(&rows);
    return rc;
}

void api_keys_create(struct request *req, struct response *res)
{
    static const char *const allowed[] = {"name", NULL};
    const char *tenant_id = req->path_params[0];
    const char *name = NULL;
    struct perr err;
    if (!api_can_see_tenant(req, tenant_id)) {
        respond_fail(res, PERR_RESOURCE_MISSING, "id", "No tenant %.48s.", tenant_id);
        return;
    }
    if (json_only_keys(req->json, allowed, &err) != PERR_OK ||
        json_get_string(req->json, "name", LIMIT_KEY_NAME_BYTES, &name, &err) != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    char secret[LIMIT_SECRET_BYTES];
    secret_new(secret);
    struct store_tx tx;
    json_t *key = NULL;
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, &err);
    if (rc == PERR_OK) {
        rc = tenant_must_exist(&tx, tenant_id, &err);
    }
    if (rc == PERR_OK) {
        rc = insert_key(req, &tx, tenant_id, name ? name : "", secret, &key, &err);
    }
    rc = store_tx_finish(&tx, rc, &err);
    if (rc != PERR_OK) {
        json_decref(key);
        respond_error(res, &err);
        return;
    }
    json_object_set_new(key, "secret", json_string(secret));
    respond_json(res, 201, key);
}

void api_keys_list(struct request *req, struct response *res)
{
    const char *tenant_id = req->path_params[0];
    int64_t limit;
    const char *after;
    if (!api_can_see_tenant(req, tenant_id)) {
        respond_fail(res, PERR_RESOURCE_MISSING, "id", "No tenant %.48s.", tenant_id);
        return;
    }
    if (!api_list_params(req, res, &limit, &after)) {
        return;
    }
    struct sql_query q;
    sql_init(&q, "SELECT " KEY_COLUMNS " FROM tenant_keys");
    sql_where(&q, "tenant_id = ?", SV_T(tenant_id));
    if (after) {
        sql_where(&q, "id < ?", SV_T(after));
    }
    sql_append(&q, " ORDER BY id DESC LIMIT ?", (struct sv[]){SV_I(limit + 1)}, 1);
    struct perr err;
    struct store_tx tx;
    struct store_rows rows = {0};
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_READ, &tx, &err);
    if (rc == PERR_OK) {
        rc = tenant_must_exist(&tx, tenant_id, &err);
    }
    if (rc == PERR_OK) {
        rc = store_exec_query(&tx, &q, &rows, &err);
    }
    store_tx_rollback(&tx);
    sql_release(&q);
    if (rc != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    json_t *data = json_array();
    for (size_t i = 0; i < rows.nrows && (int64_t)i < limit; i++) {
        json_array_append_new(data, key_json(&rows, i));
    }
    respond_json(res, 200, api_list_json(data, (int64_t)rows.nrows > limit));
    store_rows_free(&rows);
}

static enum perr_code revoke_key(struct request *req, struct store_tx *tx, const char *tenant_id,
                                 const char *key_id, json_t **out, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = select_key(tx, tenant_id, key_id, &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    if (rows.nrows == 0) {
        store_rows_free(&rows);
        return perr_set(err, PERR_RESOURCE_MISSING, "key_id", "No key %.48s.", key_id);
    }
    bool already = store_rows_get(&rows, 0, 5) != NULL;
    store_rows_free(&rows);
    if (!already) {
        char now[RFC3339_BYTES];
        time_format_rfc3339(time_now_unix_us(), now);
        rc = store_exec(tx, "UPDATE tenant_keys SET revoked = ? WHERE tenant_id = ? AND id = ?",
                        SQL_PARAMS(SV_T(now), SV_T(tenant_id), SV_T(key_id)), NULL, err);
        json_t *changes =
            api_changes(json_pack("{s:n}", "revoked"), json_pack("{s:s}", "revoked", now));
        if (rc == PERR_OK) {
            rc = api_audit(req, tx, tenant_id, "key.revoked", "api_key", key_id, changes, err);
        }
        json_decref(changes);
    }
    if (rc == PERR_OK) {
        rc = select_key(tx, tenant_id, key_id, &rows, err);
    }
    if (rc == PERR_OK) {
        *out = key_json(&rows, 0);
        store_rows_free(&rows);
    }
    return rc;
}

void api_keys_revoke(struct request *req, struct response *res)
{
    const char *tenant_id = req->path_params[0];
    const char *key_id = req->path_params[1];
    struct perr err;
    if (!api_can_see_tenant(req, tenant_id)) {
        respond_fail(res, PERR_RESOURCE_MISSING, "id", "No tenant %.48s.", tenant_id);
        return;
    }
    struct store_tx tx;
    json_t *key = NULL;
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, &err);
    if (rc == PERR_OK) {
        rc = revoke_key(req, &tx, tenant_id, key_id, &key, &err);
    }
    rc = store_tx_finish(&tx, rc, &err);
    if (rc != PERR_OK) {
        json_decref(key);
        respond_error(res, &err);
        return;
    }
    respond_json(res, 200, key);
}
