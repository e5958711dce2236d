#include <errno.h>

#include "api/api.h"
#include "core/timeutil.h"
#include "http/idempotency.h"

bool api_list_params(struct request *req, struct response *res, int64_t *limit,
                     const char **starting_after)
{
    *limit = LIMIT_LIST_DEFAULT;
    const char *l = request_query(req, "limit");
    if (l) {
        char *end;
        errno = 0;
        long long n = strtoll(l, &end, 10);
        if (errno || *end || end == l || n < 1 || n > LIMIT_LIST_MAX) {
            respond_fail(res, PERR_PARAM_INVALID, "limit", "limit must be an integer from 1 to %d.",
                         LIMIT_LIST_MAX);
            return false;
        }
        *limit = n;
    }
    *starting_after = request_query(req, "starting_after");
    if (*starting_after && (!**starting_after || strlen(*starting_after) >= LIMIT_ID_BYTES)) {
        respond_fail(res, PERR_PARAM_INVALID, "starting_after",
                     "starting_after must be an object id.");
        return false;
    }
    return true;
}

bool api_time_filter(struct request *req, struct response *res, struct sql_query *q,
                     const char *param, const char *cond, bool micro)
{
    const char *v = request_query(req, param);
    int64_t us;
    if (!v) {
        return true;
    }
    if (!time_parse_rfc3339(v, &us)) {
        respond_fail(res, PERR_PARAM_INVALID, param,
                     "%s must be an RFC 3339 UTC time like 2026-01-31T12:00:00Z.", param);
        return false;
    }
    char canon[RFC3339_BYTES];
    if (micro) {
        time_format_rfc3339_us(us, canon);
    } else {
        time_format_rfc3339(us, canon);
    }
    sql_where(q, cond, SV_T(sql_keep(q, canon)));
    return true;
}

json_t *api_list_json(json_t *data, bool has_more)
{
    return json_pack("{s:s, s:o, s:b}", "object", "list", "data", data, "has_more", has_more);
}

bool api_can_see_tenant(const struct request *req, const char *tenant_id)
{
    if (req->auth.tenant_id[0]) {
        return strcmp(req->auth.tenant_id, tenant_id) == 0;
    }
    return req->auth.is_admin;
}

static struct audit_event request_event(const struct request *req, const char *tenant_id,
                                        const char *action, const char *entity_type,
                                        const char *entity_id, json_t *changes)
{
    return (struct audit_event){
        .chain_id = tenant_id ? tenant_id : AUDIT_PLATFORM_CHAIN,
        .tenant_id = tenant_id,
        .actor = req->auth.actor,
        .correlation_id = req->request_id,
        .action = action,
        .entity_type = entity_type,
        .entity_id = entity_id,
        .changes = changes,
    };
}

enum perr_code api_audit(struct request *req, struct store_tx *tx, const char *tenant_id,
                         const char *action, const char *entity_type, const char *entity_id,
                         json_t *changes, struct perr *err)
{
    struct audit_event ev = request_event(req, tenant_id, action, entity_type, entity_id, changes);
    return audit_append(tx, req->app->audit_key, &ev, err);
}

bool api_audit_draft(const struct request *req, const char *tenant_id, const char *action,
                     const char *entity_type, const char *entity_id, json_t *changes,
                     struct audit_draft *d)
{
    struct audit_event ev = request_event(req, tenant_id, action, entity_type, entity_id, changes);
    return audit_draft_init(d, &ev);
}

json_t *api_changes(json_t *before, json_t *after)
{
    return json_pack("{s:o, s:o}", "before", before, "after", after);
}

enum perr_code api_commit_respond(struct request *req, struct store_tx *tx, struct response *res,
                                  int status, json_t *body, struct perr *err)
{
    enum perr_code rc = idempotency_store(req, tx, status, body, err);
    rc = store_tx_finish(tx, rc, err);
    if (rc != PERR_OK) {
        req->idem.stored = false;
        json_decref(body);
        return rc;
    }
    respond_json(res, status, body);
    return PERR_OK;
}

void api_respond_list(struct request *req, struct response *res, const struct sql_query *q,
                      int64_t limit, api_row_json_fn to_json)
{
    struct perr err;
    struct store_tx tx;
    struct store_rows rows = {0};
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_READ, &tx, &err);
    if (rc == PERR_OK) {
        rc = store_exec_query(&tx, q, &rows, &err);
        store_tx_rollback(&tx);
    }
    if (rc != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    json_t *data = json_array();
    for (size_t i = 0; i < rows.nrows && (int64_t)i < limit; i++) {
        json_array_append_new(data, to_json(&rows, i));
    }
    respond_json(res, 200, api_list_json(data, (int64_t)rows.nrows > limit));
    store_rows_free(&rows);
}
