/* /v1/audit: the trail, filtered and paginated, scoped to the caller's chain; and
 * /v1/audit/verify, the same verification as `pasarela audit verify`. */
#include "api/api.h"
#include "core/timeutil.h"

#define AUDIT_COLUMNS                                                                              \
    "id, chain_id, seq, prev_hash, hash, created, correlation_id, actor, tenant_id, action,"       \
    " entity_type, entity_id, changes"

static json_t *record_json(const struct store_rows *r, size_t i)
{
    json_t *changes = json_loads(store_rows_get(r, i, 12), 0, NULL);
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:o}",
                     "id", store_rows_get(r, i, 0), "object", "audit_record", "chain_id",
                     store_rows_get(r, i, 1), "seq", (json_int_t)store_rows_int(r, i, 2),
                     "prev_hash", store_rows_get(r, i, 3), "hash", store_rows_get(r, i, 4),
                     "created", store_rows_get(r, i, 5), "correlation_id", store_rows_get(r, i, 6),
                     "actor", store_rows_get(r, i, 7), "tenant_id", store_rows_get(r, i, 8),
                     "action", store_rows_get(r, i, 9), "entity_type", store_rows_get(r, i, 10),
                     "entity_id", store_rows_get(r, i, 11), "changes",
                     changes ? changes : json_null());
}

/* The chain the caller may read: its tenant's, or for the operator ?chain_id= (NULL: all). */
static const char *scope_chain(const struct request *req)
{
    return req->auth.tenant_id[0] ? req->auth.tenant_id : request_query(req, "chain_id");
}

static bool add_filters(struct request *req, struct response *res, struct sql_query *q)
{
    static const char *const exact[][2] = {
        {"correlation_id", "correlation_id = ?"},
        {"entity_id", "entity_id = ?"},
        {"entity_type", "entity_type = ?"},
        {"action", "action = ?"},
    };
    const char *chain = scope_chain(req);
    if (chain) {
        sql_where(q, "chain_id = ?", SV_T(chain));
    }
    for (size_t i = 0; i < ARRAY_LEN(exact); i++) {
        const char *v = request_query(req, exact[i][0]);
        if (v) {
            sql_where(q, exact[i][1], SV_T(v));
        }
    }
    return api_time_filter(req, res, q, "created_gte", "created >= ?", true) &&
           api_time_filter(req, res, q, "created_lt", "created < ?", true);
}

/* Rows come newest first: (created desc, chain_id, seq desc); the cursor continues after
 * the record named by starting_after. */
static enum perr_code add_cursor(struct store_tx *tx, struct sql_query *q, const char *after,
                                 const char *chain, struct store_rows *cursor, struct perr *err)
{
    enum perr_code rc =
        store_exec(tx, "SELECT created, chain_id, seq FROM audit_records WHERE id = ?",
                   SQL_PARAMS(SV_T(after)), cursor, err);
    if (rc != PERR_OK) {
        return rc;
    }
    if (cursor->nrows == 0 || (chain && strcmp(store_rows_get(cursor, 0, 1), chain) != 0)) {
        return perr_set(err, PERR_PARAM_INVALID, "starting_after",
                        "starting_after names no audit record you can see.");
    }
    const char *created = store_rows_get(cursor, 0, 0), *c = store_rows_get(cursor, 0, 1);
    sql_append(q, q->has_where ? " AND " : " WHERE ", NULL, 0);
    q->has_where = true;
    sql_append(q, "(created < ? OR (created = ? AND (chain_id > ? OR (chain_id = ? AND seq < ?))))",
               (struct sv[]){SV_T(created), SV_T(created), SV_T(c), SV_T(c),
                             SV_I(store_rows_int(cursor, 0, 2))},
               5);
    return PERR_OK;
}

void api_audit_list(struct request *req, struct response *res)
{
    int64_t limit;
    const char *after;
    if (!api_list_params(req, res, &limit, &after)) {
        return;
    }
    struct sql_query q;
    sql_init(&q, "SELECT " AUDIT_COLUMNS " FROM audit_records");
    if (!add_filters(req, res, &q)) {
        sql_release(&q);
        return;
    }
    struct perr err;
    struct store_tx tx;
    struct store_rows rows = {0}, cursor = {0};
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_READ, &tx, &err);
    if (rc == PERR_OK && after) {
        rc = add_cursor(&tx, &q, after, scope_chain(req), &cursor, &err);
    }
    if (rc == PERR_OK) {
        sql_append(&q, " ORDER BY created DESC, chain_id, seq DESC LIMIT ?",
                   (struct sv[]){SV_I(limit + 1)}, 1);
        rc = store_exec_query(&tx, &q, &rows, &err);
    }
    store_tx_rollback(&tx);
    store_rows_free(&cursor);
    sql_release(&q);
    if (rc != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    json_t *data = json_array();
    for (size_t i = 0; i < rows.nrows && (int64_t)i < limit; i++) {
        json_array_append_new(data, record_json(&rows, i));
    }
    respond_json(res, 200, api_list_json(data, (int64_t)rows.nrows > limit));
    store_rows_free(&rows);
}

void api_audit_verify(struct request *req, struct response *res)
{
    struct audit_verdict v;
    struct perr err;
    if (audit_verify(req->app->store, req->app->audit_key, scope_chain(req), &v, &err) != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    respond_json(res, 200, audit_verdict_json(&v));
}
