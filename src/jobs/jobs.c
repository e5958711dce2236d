#include "jobs/jobs.h"

#include <pthread.h>
#include <time.h>

#include "app.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"

#define JOBS_CLAIM_BATCH 16
#define JOBS_LEASE_MS 300000 /* a claimed job is someone else's for five minutes */
#define JOBS_IDLE_WAIT_MS 50
#define JOBS_MAX_WORKERS 16

struct jobs {
    struct app *app;
    const struct job_kind *kinds;
    size_t nkinds;
    pthread_t threads[JOBS_MAX_WORKERS];
    int nworkers;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    bool notified;
};

enum perr_code jobs_enqueue(struct store_tx *tx, const char *kind, const char *tenant_id,
                            json_t *payload, int64_t delay_ms, const char *correlation_id,
                            struct perr *err)
{
    char id[LIMIT_ID_BYTES], now[RFC3339_BYTES];
    id_new("job", id);
    int64_t now_us = time_now_unix_us();
    time_format_rfc3339_us(now_us, now);
    char *text = json_dump_compact(payload);
    enum perr_code rc = store_exec(
        tx,
        "INSERT INTO jobs (id, tenant_id, kind, payload, state, attempts, max_attempts,"
        " run_after_us, correlation_id, created, updated)"
        " VALUES (?, ?, ?, ?, 'queued', 0, 0, ?, ?, ?, ?)",
        SQL_PARAMS(SV_T(id), SV_T(tenant_id), SV_T(kind), SV_T(text),
                   SV_I(now_us + delay_ms * 1000), SV_T(correlation_id), SV_T(now), SV_T(now)),
        NULL, err);
    free(text);
    return rc;
}

int64_t jobs_backoff_ms(const struct job_kind *k, int attempt, int base_override_ms)
{
    int64_t base = base_override_ms ? base_override_ms : k->base_delay_ms;
    int64_t max = base_override_ms ? (int64_t)base_override_ms * 64 : k->max_delay_ms;
    int64_t cap = base;
    for (int i = 1; i < attempt && cap < max; i++) {
        cap *= 2;
    }
    if (cap > max) {
        cap = max;
    }
    uint64_t r;
    crypto_random(&r, sizeof(r));
    return (int64_t)(r % (uint64_t)(cap + 1));
}

static const struct job_kind *find_kind(const struct jobs *j, const char *name)
{
    for (size_t i = 0; i < j->nkinds; i++) {
        if (strcmp(j->kinds[i].name, name) == 0) {
            return &j->kinds[i];
        }
    }
    return NULL;
}

/* True when some job is due: a cheap read that spares the writer an empty claim. */
static bool any_due(struct jobs *j, int64_t now)
{
    struct store_tx tx;
    struct store_rows rows;
    struct perr err;
    if (store_tx_begin(j->app->store, STORE_TX_READ, &tx, &err) != PERR_OK) {
        return false;
    }
    enum perr_code rc = store_exec(&tx,
                                   "SELECT 1 FROM jobs WHERE state IN ('queued', 'running')"
                                   " AND run_after_us <= ? LIMIT 1",
                                   SQL_PARAMS(SV_I(now)), &rows, &err);
    store_tx_rollback(&tx);
    bool due = rc == PERR_OK && rows.nrows > 0;
    store_rows_free(&rows);
    return due;
}

/* Claims up to JOBS_CLAIM_BATCH due jobs (queued and due, or running with an expired lease). */
struct claim {
    int64_t now_us;
    struct store_rows *rows;
};

static enum perr_code claim_tx(struct store_tx *tx, void *arg, struct perr *err)
{
    struct claim *c = arg;
    enum perr_code rc =
        store_exec(tx,
                   "SELECT id, tenant_id, kind, payload, correlation_id, attempts"
                   " FROM jobs WHERE state IN ('queued', 'running')"
                   " AND run_after_us <= ? ORDER BY run_after_us LIMIT ?",
                   SQL_PARAMS(SV_I(c->now_us), SV_I(JOBS_CLAIM_BATCH)), c->rows, err);
    for (size_t i = 0; rc == PERR_OK && i < c->rows->nrows; i++) {
        rc = store_exec(
            tx,
            "UPDATE jobs SET state = 'running', attempts = attempts + 1,"
            " run_after_us = ? WHERE id = ?",
            SQL_PARAMS(SV_I(c->now_us + JOBS_LEASE_MS * 1000), SV_T(store_rows_get(c->rows, i, 0))),
            NULL, err);
    }
    return rc;
}

static enum perr_code claim(struct jobs *j, struct store_rows *rows, struct perr *err)
{
    struct claim c = {.now_us = time_now_unix_us(), .rows = rows};
    *rows = (struct store_rows){0};
    if (!any_due(j, c.now_us)) {
        return PERR_OK;
    }
    enum perr_code rc = store_write(j->app->store, claim_tx, &c, err);
    if (rc != PERR_OK) {
        store_rows_free(rows);
    }
    return rc;
}

/* What became of one run, kept until the batch's outcomes are recorded together. */
struct outcome {
    char id[LIMIT_ID_BYTES];
    const char *state; /* "done", "queued" (retry) or "dead" */
    int64_t run_after_us;
    int max_attempts;
    char error[LIMIT_ERROR_MESSAGE_BYTES];
};

static void judge(const struct jobs *j, const struct job *job, const struct job_kind *kind,
                  enum perr_code rc, const struct perr *failure, struct outcome *out)
{
    bool dead = rc != PERR_OK && (!kind || job->attempts >= kind->max_attempts);
    str_copy(out->id, sizeof(out->id), job->id);
    out->state = rc == PERR_OK ? "done" : dead ? "dead" : "queued";
    out->run_after_us =
        time_now_unix_us() +
        (rc == PERR_OK || dead
             ? 0
             : jobs_backoff_ms(kind, job->attempts, j->app->cfg->job_backoff_ms) * 1000);
    out->max_attempts = kind ? kind->max_attempts : 0;
    str_copy(out->error, sizeof(out->error),
             rc == PERR_OK         ? ""
             : failure->message[0] ? failure->message
                                   : perr_code_name(rc));
    if (rc != PERR_OK) {
        log_emit(dead ? LOG_ERROR : LOG_WARN, dead ? "job dead" : "job failed",
                 json_pack("{s:s, s:s, s:i, s:s, s:s}", "job", job->id, "kind", job->kind,
                           "attempts", job->attempts, "error", out->error, "request_id",
                           job->correlation_id));
    }
}

/* Records the outcomes of a batch in one transaction. If it fails, the jobs' leases expire
 * (or the next start requeues them) and they run again: job handlers are idempotent. */
struct outcomes {
    const struct outcome *outs;
    size_t n;
};

static enum perr_code outcomes_tx(struct store_tx *tx, void *arg, struct perr *err)
{
    const struct outcomes *o = arg;
    char now[RFC3339_BYTES];
    time_format_rfc3339_us(time_now_unix_us(), now);
    enum perr_code rc = PERR_OK;
    for (size_t i = 0; i < o->n && rc == PERR_OK; i++) {
        const struct outcome *out = &o->outs[i];
        rc = store_exec(tx,
                        "UPDATE jobs SET state = ?, run_after_us = ?, last_error = ?,"
                        " max_attempts = ?, updated = ? WHERE id = ?",
                        SQL_PARAMS(SV_T(out->state), SV_I(out->run_after_us),
                                   SV_T(out->error[0] ? out->error : NULL), SV_I(out->max_attempts),
                                   SV_T(now), SV_T(out->id)),
                        NULL, err);
    }
    return rc;
}

static void record_outcomes(struct jobs *j, const struct outcome *outs, size_t n)
{
    struct outcomes o = {.outs = outs, .n = n};
    struct perr err;
    if (n > 0 && store_write(j->app->store, outcomes_tx, &o, &err) != PERR_OK) {
        log_msg(LOG_WARN, "job outcomes not recorded (they will run again): %s", err.message);
    }
}

static void run_one(struct jobs *j, const struct store_rows *rows, size_t i, struct outcome *out)
{
    struct job job = {.kind = store_rows_get(rows, i, 2),
                      .attempts = (int)store_rows_int(rows, i, 5) + 1};
    str_copy(job.id, sizeof(job.id), store_rows_get(rows, i, 0));
    str_copy(job.tenant_id, sizeof(job.tenant_id),
             store_rows_get(rows, i, 1) ? store_rows_get(rows, i, 1) : "");
    str_copy(job.correlation_id, sizeof(job.correlation_id), store_rows_get(rows, i, 4));
    job.payload = json_loads(store_rows_get(rows, i, 3), 0, NULL);
    const struct job_kind *kind = find_kind(j, job.kind);
    struct perr err;
    perr_clear(&err);
    enum perr_code rc;
    if (!kind) {
        rc = perr_set(&err, PERR_INTERNAL, NULL, "no handler for job kind %.32s", job.kind);
    } else if (!job.payload) {
        rc = perr_set(&err, PERR_INTERNAL, NULL, "the job's payload is not JSON");
    } else {
        rc = kind->run(j->app, &job, &err);
    }
    judge(j, &job, kind, rc, &err, out);
    json_decref(job.payload);
}

static bool wait_for_work(struct jobs *j)
{
    pthread_mutex_lock(&j->lock);
    if (!j->notified && !j->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += JOBS_IDLE_WAIT_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&j->wake, &j->lock, &until);
    }
    j->notified = false;
    bool go_on = !j->stopping;
    pthread_mutex_unlock(&j->lock);
    return go_on;
}

static bool stopping(struct jobs *j)
{
    pthread_mutex_lock(&j->lock);
    bool stop = j->stopping;
    pthread_mutex_unlock(&j->lock);
    return stop;
}

/* Claims batch after batch while they come full; a stop ends the loop after the batch at
 * hand, leaving the rest of the backlog queued for the next start. */
static void *worker(void *arg)
{
    struct jobs *j = arg;
    do {
        for (;;) {
            struct store_rows rows;
            struct perr err;
            if (claim(j, &rows, &err) != PERR_OK) {
                break;
            }
            size_t n = rows.nrows;
            struct outcome outs[JOBS_CLAIM_BATCH];
            for (size_t i = 0; i < n; i++) {
                run_one(j, &rows, i, &outs[i]);
            }
            record_outcomes(j, outs, n);
            store_rows_free(&rows);
            if (n < JOBS_CLAIM_BATCH || stopping(j)) {
                break;
            }
        }
    } while (wait_for_work(j));
    return NULL;
}

/* Jobs left running by a process that died are queued again at once: the SQLite store
 * belongs to one process, so nobody else can be running them (with a shared store their lease
 * expires instead). */
static void recover_abandoned(struct store *st)
{
    struct store_tx tx;
    struct perr err;
    int64_t n = 0;
    if (store_tx_begin(st, STORE_TX_WRITE, &tx, &err) != PERR_OK) {
        return;
    }
    enum perr_code rc = store_exec_changes(&tx,
                                           "UPDATE jobs SET state = 'queued', run_after_us = ?"
                                           " WHERE state = 'running'",
                                           SQL_PARAMS(SV_I(time_now_unix_us())), &n, &err);
    if (store_tx_finish(&tx, rc, &err) == PERR_OK && n > 0) {
        log_emit(LOG_WARN, "requeued jobs left running by a previous process",
                 json_pack("{s:I}", "jobs", (json_int_t)n));
    }
}

struct jobs *jobs_start(struct app *app, const struct job_kind *kinds, size_t nkinds, int nworkers)
{
    recover_abandoned(app->store);
    PASSERT(nworkers > 0 && nworkers <= JOBS_MAX_WORKERS);
    struct jobs *j = xcalloc(1, sizeof(*j));
    j->app = app;
    j->kinds = kinds;
    j->nkinds = nkinds;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->wake, NULL);
    for (int i = 0; i < nworkers; i++) {
        PASSERT(pthread_create(&j->threads[i], NULL, worker, j) == 0);
        j->nworkers++;
    }
    return j;
}

void jobs_notify(struct jobs *j)
{
    if (!j) {
        return;
    }
    pthread_mutex_lock(&j->lock);
    j->notified = true;
    pthread_cond_signal(&j->wake);
    pthread_mutex_unlock(&j->lock);
}

void jobs_stop(struct jobs *j)
{
    pthread_mutex_lock(&j->lock);
    j->stopping = true;
    pthread_cond_broadcast(&j->wake);
    pthread_mutex_unlock(&j->lock);
    for (int i = 0; i < j->nworkers; i++) {
        pthread_join(j->threads[i], NULL);
    }
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->wake);
    free(j);
}

enum perr_code jobs_replay(struct store_tx *tx, const char *id, int64_t *count, struct perr *err)
{
    char now[RFC3339_BYTES];
    time_format_rfc3339_us(time_now_unix_us(), now);
    if (id) {
        return store_exec_changes(
            tx,
            "UPDATE jobs SET state = 'queued', attempts = 0, run_after_us = ?,"
            " updated = ? WHERE id = ? AND state = 'dead'",
            SQL_PARAMS(SV_I(time_now_unix_us()), SV_T(now), SV_T(id)), count, err);
    }
    return store_exec_changes(tx,
                              "UPDATE jobs SET state = 'queued', attempts = 0, run_after_us = ?,"
                              " updated = ? WHERE state = 'dead'",
                              SQL_PARAMS(SV_I(time_now_unix_us()), SV_T(now)), count, err);
}
