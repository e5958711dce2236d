/* /v1/tenants: the operator creates, lists and changes tenants; a tenant reads itself and
 * may rename itself. Every change is audited on the tenant's own chain. */
#include "api/api.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "domain/tenant.h"

#define TENANT_COLUMNS                                                                             \
    "id, slug, name, status, plan, limits, platform_fee_bps, created, updated,"                    \
    " settlement_delay_seconds"

struct tenant_fields {
    const char *slug;
    const char *name;
    const char *status;
    const char *plan;
    json_t *limits; /* borrowed from the request body */
    bool has_fee;
    int64_t fee_bps;
    bool has_delay;
    int64_t delay_s;
};

static json_t *tenant_json(const struct store_rows *r, size_t i)
{
    json_t *limits = json_loads(store_rows_get(r, i, 5), 0, NULL);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:s, s:s}", "id",
                     store_rows_get(r, i, 0), "object", "tenant", "slug", store_rows_get(r, i, 1),
                     "name", store_rows_get(r, i, 2), "status", store_rows_get(r, i, 3), "plan",
                     store_rows_get(r, i, 4), "limits", limits ? limits : json_object(),
                     "platform_fee_bps", (json_int_t)store_rows_int(r, i, 6),
                     "settlement_delay_seconds", (json_int_t)store_rows_int(r, i, 9), "created",
                     store_rows_get(r, i, 7), "updated", store_rows_get(r, i, 8));
}

static enum perr_code read_fields(json_t *body, struct tenant_fields *f, struct perr *err)
{
    static const char *const allowed[] = {
        "slug", "name", "status", "plan", "limits", "platform_fee_bps", "settlement_delay_seconds",
        NULL};
    *f = (struct tenant_fields){0};
    enum perr_code rc = json_only_keys(body, allowed, err);
    if (rc == PERR_OK) {
        rc = json_get_string(body, "slug", LIMIT_SLUG_MAX, &f->slug, err);
    }
    if (rc == PERR_OK && f->slug && !tenant_slug_valid(f->slug)) {
        rc = perr_set(err, PERR_PARAM_INVALID, "slug",
                      "slug must be 3 to 63 lowercase letters, digits or hyphens, starting and "
                      "ending with a letter or digit.");
    }
    if (rc == PERR_OK) {
        rc = json_get_string(body, "name", LIMIT_NAME_BYTES, &f->name, err);
    }
    if (rc == PERR_OK && f->name && !f->name[0]) {
        rc = perr_set(err, PERR_PARAM_INVALID, "name", "name must not be empty.");
    }
    if (rc == PERR_OK) {
        rc = json_get_string(body, "status", 16, &f->status, err);
    }
    if (rc == PERR_OK && f->status && !tenant_status_valid(f->status)) {
        rc = perr_set(err, PERR_PARAM_INVALID, "status", "status must be active or suspended.");
    }
    if (rc == PERR_OK) {
        rc = json_get_string(body, "plan", LIMIT_PLAN_BYTES, &f->plan, err);
    }
    if (rc == PERR_OK && f->plan && !tenant_plan_valid(f->plan)) {
        rc = perr_set(err, PERR_PARAM_INVALID, "plan",
                      "plan must be 1 to 32 lowercase letters, digits, '-' or '_'.");
    }
    f->limits = json_object_get(body, "limits");
    if (rc == PERR_OK && f->limits) {
        rc = tenant_limits_validate(f->limits, err);
    }
    if (rc == PERR_OK) {
        rc = json_get_int(body, "platform_fee_bps", 0, 10000, &f->has_fee, &f->fee_bps, err);
    }
    if (rc == PERR_OK) {
        rc = json_get_int(body, "settlement_delay_seconds", 0, LIMIT_SETTLEMENT_DELAY_S,
                          &f->has_delay, &f->delay_s, err);
    }
    return rc;
}

static enum perr_code select_tenant(struct store_tx *tx, const char *id, struct store_rows *rows,
                                    struct perr *err)
{
    return store_exec(tx, "SELECT " TENANT_COLUMNS " FROM tenants WHERE id = ?",
                      SQL_PARAMS(SV_T(id)), rows, err);
}

/* Answers with the tenant read back in tx, then commits; rolls back on any failure. */
static void commit_and_respond(struct store_tx *tx, const char *id, int status,
                               struct response *res)
{
    struct perr err;
    struct store_rows rows;
    if (select_tenant(tx, id, &rows, &err) != PERR_OK) {
        store_tx_rollback(tx);
        respond_error(res, &err);
        return;
    }
    json_t *body = tenant_json(&rows, 0);
    store_rows_free(&rows);
    if (store_tx_commit(tx, &err) != PERR_OK) {
        json_decref(body);
        respond_error(res, &err);
        return;
    }
    respond_json(res, status, body);
}

static void fail_tx(struct store_tx *tx, struct response *res, struct perr *err)
{
    store_tx_rollback(tx);
    if (err->code == PERR_CONFLICT) {
        perr_set(err, PERR_SLUG_TAKEN, "slug", NULL);
    }
    respond_error(res, err);
}

void api_tenants_create(struct request *req, struct response *res)
{
    struct tenant_fields f;
    struct perr err;
    if (read_fields(req->json, &f, &err) != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    if (!f.slug || !f.name) {
        respond_fail(res, PERR_PARAM_MISSING, f.slug ? "name" : "slug", "%s is required.",
                     f.slug ? "name" : "slug");
        return;
    }
    char id[LIMIT_ID_BYTES], now[RFC3339_BYTES];
    id_new("ten", id);
    time_format_rfc3339(time_now_unix_us(), now);
    char *limits = f.limits ? json_dump_compact(f.limits) : xstrdup("{}");
    struct store_tx tx;
    if (store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, &err) != PERR_OK) {
        free(limits);
        respond_error(res, &err);
        return;
    }
    enum perr_code rc = store_exec(
        &tx, "INSERT INTO tenants (" TENANT_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        SQL_PARAMS(SV_T(id), SV_T(f.slug), SV_T(f.name), SV_T(f.status ? f.status : "active"),
                   SV_T(f.plan ? f.plan : "default"), SV_T(limits), SV_I(f.fee_bps), SV_T(now),
                   SV_T(now), SV_I(f.delay_s)),
        NULL, &err);
    free(limits);
    struct store_rows rows = {0};
    if (rc == PERR_OK) {
        rc = select_tenant(&tx, id, &rows, &err);
    }
    if (rc == PERR_OK) {
        json_t *changes = api_changes(json_object(), tenant_json(&rows, 0));
        rc = api_audit(req, &tx, id, "tenant.created", "tenant", id, changes, &err);
        json_decref(changes);
    }
    store_rows_free(&rows);
    if (rc != PERR_OK) {
        fail_tx(&tx, res, &err);
        return;
    }
    commit_and_respond(&tx, id, 201, res);
}

void api_tenants_get(struct request *req, struct response *res)
{
    const char *id = req->path_params[0];
    struct perr err;
    struct store_tx tx;
    struct store_rows rows = {0};
    if (!api_can_see_tenant(req, id)) {
        respond_fail(res, PERR_RESOURCE_MISSING, "id", "No tenant %.48s.", id);
        return;
    }
    if (store_tx_begin(req->app->store, STORE_TX_READ, &tx, &err) != PERR_OK ||
        select_tenant(&tx, id, &rows, &err) != PERR_OK) {
        store_tx_rollback(&tx);
        respond_error(res, &err);
        return;
    }
    store_tx_rollback(&tx);
    if (rows.nrows == 0) {
        respond_fail(res, PERR_RESOURCE_MISSING, "id", "No tenant %.48s.", id);
    } else {
        respond_json(res, 200, tenant_json(&rows, 0));
    }
    store_rows_free(&rows);
}

void api_tenants_list(struct request *req, struct response *res)
{
    int64_t limit;
    const char *after;
    if (!api_list_params(req, res, &limit, &after)) {
        return;
    }
    const char *status = request_query(req, "status");
    if (status && !tenant_status_valid(status)) {
        respond_fail(res, PERR_PARAM_INVALID, "status", "status must be active or suspended.");
        return;
    }
    struct sql_query q;
    sql_init(&q, "SELECT " TENANT_COLUMNS " FROM tenants");
    if (req->auth.tenant_id[0]) {
        sql_where(&q, "id = ?", SV_T(req->auth.tenant_id));
    }
    if (after) {
        sql_where(&q, "id < ?", SV_T(after));
    }
    if (status) {
        sql_where(&q, "status = ?", SV_T(status));
    }
    sql_append(&q, " ORDER BY id DESC LIMIT ?", (struct sv[]){SV_I(limit + 1)}, 1);
    api_respond_list(req, res, &q, limit, tenant_json);
    sql_release(&q);
}

/* A tenant key may rename its own tenant; everything else is the operator's. */
static const char *forbidden_for_tenant(const struct tenant_fields *f)
{
    return f->slug        ? "slug"
           : f->status    ? "status"
           : f->plan      ? "plan"
           : f->limits    ? "limits"
           : f->has_fee   ? "platform_fee_bps"
           : f->has_delay ? "settlement_delay_seconds"
                          : NULL;
}

static void diff_string(json_t *before, json_t *after, const char *key, const char *old,
                        const char *new)
{
    if (new &&strcmp(old, new) != 0) {
        json_object_set_new(before, key, json_string(old));
        json_object_set_new(after, key, json_string(new));
    }
}

/* The fields of f that differ from the stored row, as before/after objects. */
static void diff_fields(const struct store_rows *r, const struct tenant_fields *f, json_t *before,
                        json_t *after)
{
    diff_string(before, after, "slug", store_rows_get(r, 0, 1), f->slug);
    diff_string(before, after, "name", store_rows_get(r, 0, 2), f->name);
    diff_string(before, after, "status", store_rows_get(r, 0, 3), f->status);
    diff_string(before, after, "plan", store_rows_get(r, 0, 4), f->plan);
    json_t *old_limits = json_loads(store_rows_get(r, 0, 5), 0, NULL);
    if (f->limits && !json_equal(old_limits, f->limits)) {
        json_object_set(before, "limits", old_limits);
        json_object_set(after, "limits", f->limits);
    }
    json_decref(old_limits);
    int64_t old_fee = store_rows_int(r, 0, 6);
    if (f->has_fee && old_fee != f->fee_bps) {
        json_object_set_new(before, "platform_fee_bps", json_integer(old_fee));
        json_object_set_new(after, "platform_fee_bps", json_integer(f->fee_bps));
    }
    int64_t old_delay = store_rows_int(r, 0, 9);
    if (f->has_delay && old_delay != f->delay_s) {
        json_object_set_new(before, "settlement_delay_seconds", json_integer(old_delay));
        json_object_set_new(after, "settlement_delay_seconds", json_integer(f->delay_s));
    }
}

static enum perr_code apply_patch(struct request *req, struct store_tx *tx, const char *id,
                                  const struct tenant_fields *f, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = select_tenant(tx, id, &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    if (rows.nrows == 0) {
        store_rows_free(&rows);
        return perr_set(err, PERR_RESOURCE_MISSING, "id", "No tenant %.48s.", id);
    }
    json_t *before = json_object(), *after = json_object();
    diff_fields(&rows, f, before, after);
    if (json_object_size(after) > 0) {
        char now[RFC3339_BYTES];
        time_format_rfc3339(time_now_unix_us(), now);
        char *limits = f->limits ? json_dump_compact(f->limits) : NULL;
        rc = store_exec(tx,
                        "UPDATE tenants SET slug = ?, name = ?, status = ?, plan = ?, limits = ?,"
                        " platform_fee_bps = ?, settlement_delay_seconds = ?, updated = ?"
                        " WHERE id = ?",
                        SQL_PARAMS(SV_T(f->slug ? f->slug : store_rows_get(&rows, 0, 1)),
                                   SV_T(f->name ? f->name : store_rows_get(&rows, 0, 2)),
                                   SV_T(f->status ? f->status : store_rows_get(&rows, 0, 3)),
                                   SV_T(f->plan ? f->plan : store_rows_get(&rows, 0, 4)),
                                   SV_T(limits ? limits : store_rows_get(&rows, 0, 5)),
                                   SV_I(f->has_fee ? f->fee_bps : store_rows_int(&rows, 0, 6)),
                                   SV_I(f->has_delay ? f->delay_s : store_rows_int(&rows, 0, 9)),
                                   SV_T(now), SV_T(id)),
                        NULL, err);
        free(limits);
        json_t *changes = api_changes(json_incref(before), json_incref(after));
        if (rc == PERR_OK) {
            rc = api_audit(req, tx, id, "tenant.updated", "tenant", id, changes, err);
        }
        json_decref(changes);
    }
    json_decref(before);
    json_decref(after);
    store_rows_free(&rows);
    return rc;
}

void api_tenants_patch(struct request *req, struct response *res)
{
    const char *id = req->path_params[0];
    struct tenant_fields f;
    struct perr err;
    if (!api_can_see_tenant(req, id)) {
        respond_fail(res, PERR_RESOURCE_MISSING, "id", "No tenant %.48s.", id);
        return;
    }
    if (read_fields(req->json, &f, &err) != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    const char *forbidden = req->auth.is_admin ? NULL : forbidden_for_tenant(&f);
    if (forbidden) {
        respond_fail(res, PERR_PERMISSION_DENIED, forbidden,
                     "Only the operator may change %s; a tenant key may change name.", forbidden);
        return;
    }
    struct store_tx tx;
    if (store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, &err) != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    if (apply_patch(req, &tx, id, &f, &err) != PERR_OK) {
        fail_tx(&tx, res, &err);
        return;
    }
    commit_and_respond(&tx, id, 200, res);
}
