/* The durable job queue: anything slow or external runs as a job. A job is enqueued inside
 * the caller's write transaction (so it exists exactly when the change that caused it
 * commits); worker threads claim due jobs, run them outside any transaction, and on failure
 * retry with exponential backoff and full jitter up to the kind's maximum attempts, then move
 * them to the dead-letter state, from which the operator can replay them. Jobs left running by a
 * process that died are queued again when the next one starts (the SQLite store belongs to
 * one process); a claimed job whose lease expires is claimed again. */
#ifndef PASARELA_JOBS_H
#define PASARELA_JOBS_H

#include <jansson.h>

#include "store/store.h"

struct app;

struct job {
    char id[LIMIT_ID_BYTES];
    char tenant_id[LIMIT_ID_BYTES]; /* "" when the job concerns no tenant */
    const char *kind;
    json_t *payload; /* owned by the worker for the run */
    char correlation_id[LIMIT_REQUEST_ID_BYTES + 1];
    int attempts; /* including this one */
};

struct job_kind {
    const char *name;
    int max_attempts;
    int base_delay_ms; /* the first retry waits up to this, doubling per attempt */
    int max_delay_ms;
    /* Runs the job; any error schedules a retry (the message is kept as last_error). */
    enum perr_code (*run)(struct app *app, const struct job *job, struct perr *err);
};

/* Enqueues a job in tx, due after delay_ms. payload is borrowed. */
enum perr_code jobs_enqueue(struct store_tx *tx, const char *kind, const char *tenant_id,
                            json_t *payload, int64_t delay_ms, const char *correlation_id,
                            struct perr *err) WARN_UNUSED;

struct jobs;
/* Starts nworkers threads running the given kinds (a static table, borrowed). */
struct jobs *jobs_start(struct app *app, const struct job_kind *kinds, size_t nkinds, int nworkers);
/* Wakes the workers: call after committing a transaction that enqueued due jobs. */
void jobs_notify(struct jobs *j);
/* Lets running jobs finish, then stops the workers and frees j. */
void jobs_stop(struct jobs *j);

/* Moves a dead job (or every dead job when id is NULL) back to the queue with its attempts
 * reset; returns how many through *count. Audited by the caller. */
enum perr_code jobs_replay(struct store_tx *tx, const char *id, int64_t *count,
                           struct perr *err) WARN_UNUSED;

/* The delay before retry `attempt` (1-based): uniform in [0, min(max, base * 2^(attempt-1))].
 * base_override_ms, when not 0, replaces the kind's base (and the cap becomes 64 times it). */
int64_t jobs_backoff_ms(const struct job_kind *k, int attempt, int base_override_ms);

#endif
