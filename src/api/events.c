/* GET /v1/events (a tenant's stream of what happened to its objects) and, for the operator,
 * GET /v1/security_events, GET /v1/jobs?state=dead and the replay of dead jobs. */
#include "api/api.h"
#include "jobs/jobs.h"

static json_t *event_json(const struct store_rows *r, size_t i)
{
    json_t *data = json_loads(store_rows_get(r, i, 3), 0, NULL);
    return json_pack("{s:s, s:s, s:s, s:{s:o}, s:s, s:s}", "id", store_rows_get(r, i, 0), "object",
                     "event", "type", store_rows_get(r, i, 1), "data", "object",
                     data ? data : json_null(), "request_id", store_rows_get(r, i, 4), "created",
                     store_rows_get(r, i, 5));
}

void api_events_list(struct request *req, struct response *res)
{
    int64_t limit;
    const char *after;
    if (!api_list_params(req, res, &limit, &after)) {
        return;
    }
    struct sql_query q;
    sql_init(&q, "SELECT id, type, object_id, data, correlation_id, created FROM events");
    sql_where(&q, "tenant_id = ?", SV_T(req->auth.tenant_id));
    const char *type = request_query(req, "type");
    const char *object_id = request_query(req, "object_id");
    if (type) {
        sql_where(&q, "type = ?", SV_T(type));
    }
    if (object_id) {
        sql_where(&q, "object_id = ?", SV_T(object_id));
    }
    if (after) {
        sql_where(&q, "id < ?", SV_T(after));
    }
    sql_append(&q, " ORDER BY id DESC LIMIT ?", (struct sv[]){SV_I(limit + 1)}, 1);
    api_respond_list(req, res, &q, limit, event_json);
    sql_release(&q);
}

static json_t *security_event_json(const struct store_rows *r, size_t i)
{
    return json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s, s:s, s:s}", "id", store_rows_get(r, i, 0),
                     "object", "security_event", "kind", store_rows_get(r, i, 1), "provider",
                     store_rows_get(r, i, 2), "tenant_id", store_rows_get(r, i, 3), "source",
                     store_rows_get(r, i, 4), "reason", store_rows_get(r, i, 5), "created",
                     store_rows_get(r, i, 6));
}

void api_security_events_list(struct request *req, struct response *res)
{
    int64_t limit;
    const char *after;
    if (!api_list_params(req, res, &limit, &after)) {
        return;
    }
    struct sql_query q;
    sql_init(&q,
             "SELECT id, kind, provider, tenant_id, source, reason, created FROM security_events");
    if (after) {
        sql_where(&q, "id < ?", SV_T(after));
    }
    sql_append(&q, " ORDER BY id DESC LIMIT ?", (struct sv[]){SV_I(limit + 1)}, 1);
    api_respond_list(req, res, &q, limit, security_event_json);
    sql_release(&q);
}

static json_t *job_json(const struct store_rows *r, size_t i)
{
    json_t *payload = json_loads(store_rows_get(r, i, 4), 0, NULL);
    return json_pack("{s:s, s:s, s:s, s:s?, s:s, s:I, s:I, s:s?, s:s, s:s, s:o}", "id",
                     store_rows_get(r, i, 0), "object", "job", "kind", store_rows_get(r, i, 1),
                     "tenant_id", store_rows_get(r, i, 2), "state", store_rows_get(r, i, 3),
                     "attempts", (json_int_t)store_rows_int(r, i, 5), "max_attempts",
                     (json_int_t)store_rows_int(r, i, 6), "last_error", store_rows_get(r, i, 7),
                     "request_id", store_rows_get(r, i, 8), "updated", store_rows_get(r, i, 9),
                     "payload", payload ? payload : json_null());
}

void api_jobs_list(struct request *req, struct response *res)
{
    int64_t limit;
    const char *after;
    if (!api_list_params(req, res, &limit, &after)) {
        return;
    }
    const char *state = request_query(req, "state");
    static const char *const states[] = {"queued", "running", "done", "dead"};
    bool known = !state;
    for (size_t i = 0; state && i < ARRAY_LEN(states); i++) {
        known |= strcmp(states[i], state) == 0;
    }
    if (!known) {
        respond_fail(res, PERR_PARAM_INVALID, "state",
                     "state must be queued, running, done or dead.");
        return;
    }
    struct sql_query q;
    sql_init(&q, "SELECT id, kind, tenant_id, state, payload, attempts, max_attempts, last_error,"
                 " correlation_id, updated FROM jobs");
    if (state) {
        sql_where(&q, "state = ?", SV_T(state));
    }
    if (after) {
        sql_where(&q, "id < ?", SV_T(after));
    }
    sql_append(&q, " ORDER BY id DESC LIMIT ?", (struct sv[]){SV_I(limit + 1)}, 1);
    api_respond_list(req, res, &q, limit, job_json);
    sql_release(&q);
}

static void replay(struct request *req, struct response *res, const char *id)
{
    struct store_tx tx;
    struct perr err;
    int64_t count = 0;
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, &err);
    if (rc != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    rc = jobs_replay(&tx, id, &count, &err);
    if (rc == PERR_OK && id && count == 0) {
        rc = perr_set(&err, PERR_RESOURCE_MISSING, "id", "No dead job %.48s.", id);
    }
    if (rc == PERR_OK && count > 0) {
        json_t *changes =
            api_changes(json_pack("{s:s}", "state", "dead"),
                        json_pack("{s:s, s:I}", "state", "queued", "jobs", (json_int_t)count));
        rc = api_audit(req, &tx, NULL, "job.replayed", "job", id ? id : "*", changes, &err);
        json_decref(changes);
    }
    if (rc != PERR_OK) {
        store_tx_rollback(&tx);
        respond_error(res, &err);
        return;
    }
    json_t *body = json_pack("{s:s, s:I}", "object", "job_replay", "replayed", (json_int_t)count);
    if (api_commit_respond(req, &tx, res, 200, body, &err) != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    jobs_notify(req->app->jobs);
}

void api_jobs_replay(struct request *req, struct response *res)
{
    replay(req, res, req->path_params[0]);
}

void api_jobs_replay_all(struct request *req, struct response *res)
{
    replay(req, res, NULL);
}
