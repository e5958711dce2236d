/* The SQLite backend: one database file in WAL mode, synchronous=FULL, foreign keys on.
 * Readers use a pool of connections and run in parallel on WAL snapshots. Writes share one
 * connection and are group-committed, in two ways that share one batch:
 * - store_write: the caller hands over a function; the writer thread runs whatever functions
 *   are queued back to back, each in its own SAVEPOINT, commits the batch with one fsync and
 *   wakes their callers. The hot paths (payments, webhooks, jobs) take this way: no lock is
 *   handed from thread to thread per transaction.
 * - store_tx_begin(WRITE): the caller runs its statements under the write lock, in a
 *   SAVEPOINT of the open batch; when it ends and another writer is queued it leaves the
 *   COMMIT to that writer and waits; the last one in line commits the batch.
 * Either way a member's failure undoes only its own savepoint, and nobody is answered before
 * the batch that holds its change is committed.
 * Checkpoints (copying the WAL into the database file and syncing it) run on a connection and
 * thread of their own: the writer's commits never wait for one. The writer's WAL hook wakes
 * the checkpointer once the WAL has grown past CHECKPOINT_WAL_PAGES; past WAL_RESTART_PAGES
 * the writer finishes one between two rounds, so that the WAL starts over. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "store/store.h"

#define STMT_SLOTS 256 /* open-addressing table; at most LIMIT_STMT_CACHE entries used */

struct stmt_slot {
    char *sql;
    sqlite3_stmt *stmt;
};

struct store_conn {
    sqlite3 *db;
    bool in_use;
    size_t cached;
    struct stmt_slot slots[STMT_SLOTS];
};

/* A write transaction waiting for its batch to commit. */
struct batch_member {
    bool done;
    enum perr_code result;
};

#define BATCH_MAX_MEMBERS 64
#define CHECKPOINT_WAL_PAGES 1000 /* SQLite's own autocheckpoint threshold */
/* Checkpoints at most this often: a page the writer changes again and again (the last leaf of
 * every growing index) is copied and synced once a round, not once a commit. */
#define CHECKPOINT_INTERVAL_MS 200
/* Past this size the writer itself finishes the checkpoint between two batches, so that the
 * next batch starts the WAL over instead of growing it: the background checkpointer alone
 * never catches up with a writer that always has a batch open. It waits for a pass of the
 * checkpointer begun after the WAL got this big, so that little is left for it to copy. */
#define WAL_RESTART_PAGES 4096

struct write_item {
    enum perr_code (*fn)(struct store_tx *tx, void *ctx, struct perr *err);
    void *ctx;
    struct perr *err;
    struct store *st;
    enum perr_code result;
    bool done;
    unsigned round; /* the writer's round that runs it (parity picks its condition) */
    struct write_item *next;
};

struct store_backend {
    char *path;
    ino_t inode;
    int nconns;
    struct store_conn *conns; /* readers */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;

    struct store_conn writer;
    pthread_mutex_t write_lock; /* held by the one member running statements */
    pthread_cond_t batch_done;
    int write_waiters; /* threads queued for write_lock; guarded by waiters_lock */
    pthread_mutex_t waiters_lock;
    bool batch_open;  /* BEGIN issued, COMMIT not yet */
    size_t nfinished; /* members of the open batch waiting for its commit */
    struct batch_member *finished[BATCH_MAX_MEMBERS];
    /* The writer thread: runs queued write functions back to back in the open batch. */
    pthread_t writer_thread;
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_ready;
    /* Broadcast when a round's items are done: one for odd rounds, one for even, so that the
     * callers queued for the next round sleep on through it. */
    pthread_cond_t round_done[2];
    unsigned rounds; /* rounds started */
    struct write_item *queue_head;
    struct write_item **queue_tail;
    bool writer_stopping;
    /* The checkpointer: its own connection, woken by the writer's WAL hook. */
    sqlite3 *checkpoint_db;
    int db_fd; /* the database file, for the checkpointer's syncs; -1 when it could not open it */
    pthread_t checkpoint_thread;
    bool checkpoint_started;
    pthread_mutex_t checkpoint_lock;
    pthread_cond_t checkpoint_wake;
    bool checkpoint_due;      /* guarded by checkpoint_lock */
    int wal_pages;            /* the WAL's size after the last commit; writer only */
    uint64_t restart_pass;    /* writer only: the checkpointer's pass to wait for, or 0 */
    bool checkpoint_stopping; /* guarded by checkpoint_lock */
    uint64_t stat_checkpoints;
    uint64_t stat_checkpoint_us;
    uint64_t stat_writer_checkpoints;
    uint64_t stat_writer_checkpoint_us;
    /* Counters for the shutdown report (guarded by write_lock). */
    uint64_t stat_members;
    uint64_t stat_commits;
    uint64_t stat_held_us;
    uint64_t held_since_us;
};

static enum perr_code db_error(sqlite3 *db, int rc, const char *what, struct perr *err)
{
    int base = rc & 0xff;
    if (base == SQLITE_CONSTRAINT) {
        return perr_set(err, PERR_CONFLICT, NULL, NULL);
    }
    log_emit(LOG_ERROR, "sqlite error",
             json_pack("{s:s, s:i, s:s}", "during", what, "code", rc, "detail",
                       db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    return perr_set(err, PERR_STORE_UNAVAILABLE, NULL, NULL);
}

static enum perr_code open_conn(struct store_backend *b, struct store_conn *c, struct perr *err)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(b->path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        enum perr_code code = db_error(c->db, rc, "open", err);
        sqlite3_close(c->db);
        c->db = NULL;
        return code;
    }
    sqlite3_busy_timeout(c->db, LIMIT_STORE_BUSY_TIMEOUT_MS);
    static const char pragmas[] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                  " PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                                  "";
    rc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
    return rc == SQLITE_OK ? PERR_OK : db_error(c->db, rc, "pragmas", err);
}

static void close_conn(struct store_conn *c)
{
    for (size_t i = 0; i < STMT_SLOTS; i++) {
        if (c->slots[i].stmt) {
            sqlite3_finalize(c->slots[i].stmt);
            free(c->slots[i].sql);
        }
    }
    sqlite3_close(c->db);
}

static void unlock_writer(struct store_backend *b)
{
    b->stat_held_us += time_monotonic_us() - b->held_since_us;
    pthread_mutex_unlock(&b->write_lock);
}

static void *writer_loop(void *arg);

/* The writer's WAL hook, called after each commit with the WAL's size in pages. Replaces
 * SQLite's autocheckpoint, which would run the checkpoint inside the writer's commit. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db, (void)name;
    struct store_backend *b = arg;
    b->wal_pages = pages;
    if (pages >= CHECKPOINT_WAL_PAGES) {
        pthread_mutex_lock(&b->checkpoint_lock);
        b->checkpoint_due = true;
        pthread_cond_signal(&b->checkpoint_wake);
        pthread_mutex_unlock(&b->checkpoint_lock);
    }
    return SQLITE_OK;
}

/* A PASSIVE pass that leaves frames behind (the writer always has more) does not sync the
 * database file; the checkpointer syncs it itself, so that the writer's own checkpoint, which
 * does, finds little to flush and holds the writer up for a few milliseconds, not tens. */
static void sync_database_file(struct store_backend *b)
{
    if (b->db_fd >= 0 && fdatasync(b->db_fd) != 0) {
        log_emit(LOG_WARN, "cannot sync the database file",
                 json_pack("{s:s}", "error", strerror(errno)));
    }
}

/* PASSIVE: copies what it can without blocking the writer or any reader; frames it cannot
 * copy yet (a reader still needs them) wait for the next round. */
static void *checkpoint_loop(void *arg)
{
    struct store_backend *b = arg;
    pthread_mutex_lock(&b->checkpoint_lock);
    for (;;) {
        while (!b->checkpoint_due && !b->checkpoint_stopping) {
            pthread_cond_wait(&b->checkpoint_wake, &b->checkpoint_lock);
        }
        if (b->checkpoint_stopping) {
            break;
        }
        b->checkpoint_due = false;
        pthread_mutex_unlock(&b->checkpoint_lock);
        uint64_t start_us = time_monotonic_us();
        int rc = sqlite3_wal_checkpoint_v2(b->checkpoint_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                           NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
            db_error(b->checkpoint_db, rc, "checkpoint", NULL);
        }
        sync_database_file(b);
        pthread_mutex_lock(&b->checkpoint_lock);
        b->stat_checkpoints++;
        b->stat_checkpoint_us += time_monotonic_us() - start_us;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += CHECKPOINT_INTERVAL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!b->checkpoint_stopping &&
               pthread_cond_timedwait(&b->checkpoint_wake, &b->checkpoint_lock, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&b->checkpoint_lock);
    return NULL;
}

static void start_checkpointer(struct store_backend *b)
{
    b->db_fd = open(b->path, O_RDONLY | O_CLOEXEC);
    if (b->db_fd < 0) {
        log_emit(LOG_WARN, "cannot open the database file to sync it",
                 json_pack("{s:s}", "error", strerror(errno)));
    }
    sqlite3_wal_hook(b->writer.db, on_wal_commit, b);
    PASSERT(pthread_create(&b->checkpoint_thread, NULL, checkpoint_loop, b) == 0);
    pthread_setname_np(b->checkpoint_thread, "store-ckpt");
    b->checkpoint_started = true;
}

static void stop_writer(struct store_backend *b)
{
    pthread_mutex_lock(&b->queue_lock);
    b->writer_stopping = true;
    pthread_cond_signal(&b->queue_ready);
    pthread_mutex_unlock(&b->queue_lock);
    pthread_join(b->writer_thread, NULL);
}

static void stop_checkpointer(struct store_backend *b)
{
    pthread_mutex_lock(&b->checkpoint_lock);
    b->checkpoint_stopping = true;
    pthread_cond_signal(&b->checkpoint_wake);
    pthread_mutex_unlock(&b->checkpoint_lock);
    pthread_join(b->checkpoint_thread, NULL);
}

static void sqlite_close(struct store_backend *b)
{
    if (b->queue_tail) {
        stop_writer(b);
    }
    if (b->checkpoint_started) {
        stop_checkpointer(b);
    }
    if (b->db_fd >= 0) {
        close(b->db_fd);
    }
    if (b->stat_members) {
        log_emit(LOG_INFO, "store write statistics",
                 json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "write_transactions",
                           (json_int_t)b->stat_members, "commits", (json_int_t)b->stat_commits,
                           "writer_busy_us", (json_int_t)b->stat_held_us, "checkpoints",
                           (json_int_t)b->stat_checkpoints, "checkpoint_us",
                           (json_int_t)b->stat_checkpoint_us, "writer_checkpoints",
                           (json_int_t)b->stat_writer_checkpoints, "writer_checkpoint_us",
                           (json_int_t)b->stat_writer_checkpoint_us));
    }
    for (int i = 0; i < b->nconns; i++) {
        if (b->conns[i].db) {
            close_conn(&b->conns[i]);
        }
    }
    if (b->writer.db) {
        close_conn(&b->writer);
    }
    sqlite3_close(b->checkpoint_db);

    pthread_mutex_destroy(&b->pool_lock);
    pthread_cond_destroy(&b->pool_cond);
    pthread_mutex_destroy(&b->write_lock);
    pthread_mutex_destroy(&b->waiters_lock);
    pthread_mutex_destroy(&b->queue_lock);
    pthread_cond_destroy(&b->queue_ready);
    pthread_cond_destroy(&b->round_done[0]);
    pthread_cond_destroy(&b->round_done[1]);
    pthread_cond_destroy(&b->batch_done);
    pthread_mutex_destroy(&b->checkpoint_lock);
    pthread_cond_destroy(&b->checkpoint_wake);
    free(b->conns);
    free(b->path);
    free(b);
}

/* Each connection is used by one thread at a time (the pool and the writer see to it), so
 * SQLite's own per-connection mutexes are not needed; and its memory statistics, which take
 * a global mutex around every allocation, are turned off. Must precede sqlite3_initialize. */
static void configure_sqlite(void)
{
    sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static enum perr_code sqlite_open(const char *location, int nconns, struct store_backend **out,
                                  struct perr *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, configure_sqlite);
    PASSERT(nconns > 0 && nconns <= LIMIT_STORE_CONNS);
    struct store_backend *b = xcalloc(1, sizeof(*b));
    b->db_fd = -1;
    b->path = xstrdup(location);
    b->nconns = nconns;
    b->conns = xcalloc((size_t)nconns, sizeof(*b->conns));
    pthread_mutex_init(&b->pool_lock, NULL);
    pthread_cond_init(&b->pool_cond, NULL);
    pthread_mutex_init(&b->write_lock, NULL);
    pthread_mutex_init(&b->waiters_lock, NULL);
    pthread_cond_init(&b->batch_done, NULL);
    pthread_mutex_init(&b->queue_lock, NULL);
    pthread_cond_init(&b->queue_ready, NULL);
    pthread_cond_init(&b->round_done[0], NULL);
    pthread_cond_init(&b->round_done[1], NULL);
    pthread_mutex_init(&b->checkpoint_lock, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&b->checkpoint_wake, &monotonic);
    pthread_condattr_destroy(&monotonic);
    enum perr_code rc = open_conn(b, &b->writer, err);
    for (int i = 0; i < nconns && rc == PERR_OK; i++) {
        rc = open_conn(b, &b->conns[i], err);
    }
    struct store_conn checkpointer = {0};
    if (rc == PERR_OK) {
        rc = open_conn(b, &checkpointer, err);
        b->checkpoint_db = checkpointer.db;
    }
    if (rc != PERR_OK) {
        sqlite_close(b);
        return rc;
    }
    start_checkpointer(b);
    struct stat st;
    if (stat(location, &st) == 0) {
        b->inode = st.st_ino;
    }
    b->queue_tail = &b->queue_head;
    PASSERT(pthread_create(&b->writer_thread, NULL, writer_loop, b) == 0);
    pthread_setname_np(b->writer_thread, "store-writer");
    *out = b;
    return PERR_OK;
}

static struct store_conn *acquire_reader(struct store_backend *b)
{
    pthread_mutex_lock(&b->pool_lock);
    for (;;) {
        for (int i = 0; i < b->nconns; i++) {
            if (!b->conns[i].in_use) {
                b->conns[i].in_use = true;
                pthread_mutex_unlock(&b->pool_lock);
                return &b->conns[i];
            }
        }
        pthread_cond_wait(&b->pool_cond, &b->pool_lock);
    }
}

static void release_reader(struct store_backend *b, struct store_conn *c)
{
    pthread_mutex_lock(&b->pool_lock);
    c->in_use = false;
    pthread_cond_signal(&b->pool_cond);
    pthread_mutex_unlock(&b->pool_lock);
}

static int prepare(struct store_conn *c, const char *sql, sqlite3_stmt **out, bool *transient);

/* Runs a statement without parameters or results (transaction control), prepared once. */
static int exec_sql(struct store_conn *c, const char *sql)
{
    sqlite3_stmt *stmt;
    bool transient;
    int rc = prepare(c, sql, &stmt, &transient);
    if (rc != SQLITE_OK) {
        return rc;
    }
    rc = sqlite3_step(stmt);
    if (transient) {
        sqlite3_finalize(stmt);
    } else {
        sqlite3_reset(stmt);
    }
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* With write_lock held: commits the open batch and hands every waiting member the result. */
static enum perr_code commit_batch(struct store_backend *b)
{
    enum perr_code result = PERR_OK;
    int rc = exec_sql(&b->writer, "COMMIT");
    if (rc != SQLITE_OK) {
        result = db_error(b->writer.db, rc, "commit", NULL);
        if (!sqlite3_get_autocommit(b->writer.db)) {
            exec_sql(&b->writer, "ROLLBACK");
        }
    }
    b->stat_commits++;
    for (size_t i = 0; i < b->nfinished; i++) {
        b->finished[i]->result = result;
        b->finished[i]->done = true;
    }
    b->nfinished = 0;
    b->batch_open = false;
    pthread_cond_broadcast(&b->batch_done);
    return result;
}

static int queued_writers(struct store_backend *b)
{
    pthread_mutex_lock(&b->waiters_lock);
    int n = b->write_waiters;
    pthread_mutex_unlock(&b->waiters_lock);
    return n;
}

/* With write_lock held, as a member leaves: commit now unless a queued writer will. */
static void maybe_commit(struct store_backend *b)
{
    if (b->batch_open && (queued_writers(b) == 0 || b->nfinished >= BATCH_MAX_MEMBERS)) {
        if (b->nfinished > 0) {
            commit_batch(b);
        }
    }
}

static void lock_writer(struct store_backend *b)
{
    pthread_mutex_lock(&b->waiters_lock);
    b->write_waiters++;
    pthread_mutex_unlock(&b->waiters_lock);
    pthread_mutex_lock(&b->write_lock);
    b->held_since_us = time_monotonic_us();
    pthread_mutex_lock(&b->waiters_lock);
    b->write_waiters--;
    pthread_mutex_unlock(&b->waiters_lock);
}

/* With write_lock held: opens the batch when needed and a savepoint for one member. */
static int open_member(struct store_backend *b)
{
    b->stat_members++;
    if (b->batch_open && sqlite3_get_autocommit(b->writer.db)) {
        commit_batch(b); /* SQLite ended the batch on an error: report it to its members */
    }
    int rc = SQLITE_OK;
    if (!b->batch_open) {
        rc = exec_sql(&b->writer, "BEGIN IMMEDIATE");
        b->batch_open = rc == SQLITE_OK;
    }
    return rc == SQLITE_OK ? exec_sql(&b->writer, "SAVEPOINT member") : rc;
}

static enum perr_code begin_write(struct store_backend *b, struct perr *err)
{
    /* A write function runs on the writer, inside the batch: it must not start another. */
    PASSERT(!pthread_equal(pthread_self(), b->writer_thread));
    lock_writer(b);
    int rc = open_member(b);
    if (rc != SQLITE_OK) {
        enum perr_code code = db_error(b->writer.db, rc, "begin", err);
        maybe_commit(b);
        unlock_writer(b);
        return code;
    }
    return PERR_OK;
}

static enum perr_code sqlite_begin(struct store_backend *b, enum store_tx_kind kind,
                                   struct store_conn **conn, struct perr *err)
{
    if (kind == STORE_TX_WRITE) {
        *conn = &b->writer;
        return begin_write(b, err);
    }
    struct store_conn *c = acquire_reader(b);
    int rc = exec_sql(c, "BEGIN");
    if (rc != SQLITE_OK) {
        enum perr_code code = db_error(c->db, rc, "begin", err);
        release_reader(b, c);
        return code;
    }
    *conn = c;
    return PERR_OK;
}

static void rollback_member(struct store_backend *b)
{
    if (!sqlite3_get_autocommit(b->writer.db)) {
        exec_sql(&b->writer, "ROLLBACK TO member");
        exec_sql(&b->writer, "RELEASE member");
    }
}

static enum perr_code sqlite_commit(struct store_backend *b, struct store_conn *c, struct perr *err)
{
    if (c != &b->writer) {
        int rc = exec_sql(c, "COMMIT");
        enum perr_code code = rc == SQLITE_OK ? PERR_OK : db_error(c->db, rc, "commit", err);
        if (rc != SQLITE_OK && !sqlite3_get_autocommit(c->db)) {
            exec_sql(c, "ROLLBACK");
        }
        release_reader(b, c);
        return code;
    }
    int rc = exec_sql(&b->writer, "RELEASE member");
    if (rc != SQLITE_OK) {
        enum perr_code code = db_error(b->writer.db, rc, "release", err);
        rollback_member(b);
        maybe_commit(b);
        unlock_writer(b);
        return code;
    }
    struct batch_member me = {0};
    PASSERT(b->nfinished < BATCH_MAX_MEMBERS);
    b->finished[b->nfinished++] = &me;
    maybe_commit(b);
    b->stat_held_us += time_monotonic_us() - b->held_since_us;
    while (!me.done) {
        pthread_cond_wait(&b->batch_done, &b->write_lock);
    }
    b->held_since_us = time_monotonic_us();
    unlock_writer(b);
    return me.result == PERR_OK ? PERR_OK : perr_set(err, me.result, NULL, NULL);
}

static void sqlite_rollback(struct store_backend *b, struct store_conn *c)
{
    if (c != &b->writer) {
        if (!sqlite3_get_autocommit(c->db)) {
            exec_sql(c, "ROLLBACK");
        }
        release_reader(b, c);
        return;
    }
    rollback_member(b);
    maybe_commit(b);
    unlock_writer(b);
}

/* One queued write function as a member of the open batch. */
static enum perr_code run_item(struct store_backend *b, struct write_item *it)
{
    int rc = open_member(b);
    if (rc != SQLITE_OK) {
        return db_error(b->writer.db, rc, "begin", it->err);
    }
    struct store_tx tx = {.store = it->st, .conn = &b->writer, .kind = STORE_TX_WRITE};
    enum perr_code result = it->fn(&tx, it->ctx, it->err);
    if (result == PERR_OK) {
        rc = exec_sql(&b->writer, "RELEASE member");
        result = rc == SQLITE_OK ? PERR_OK : db_error(b->writer.db, rc, "release", it->err);
    }
    if (result != PERR_OK) {
        rollback_member(b);
    }
    return result;
}

/* Runs a round of queued write functions back to back in one batch and commits it; each
 * item's result is the batch's outcome when its own function succeeded. */
static void run_round(struct store_backend *b, struct write_item *items)
{
    lock_writer(b);
    bool any_ok = false;
    for (struct write_item *it = items; it; it = it->next) {
        it->result = run_item(b, it);
        any_ok |= it->result == PERR_OK;
    }
    enum perr_code committed = b->batch_open ? commit_batch(b) : PERR_OK;
    for (struct write_item *it = items; any_ok && committed != PERR_OK && it; it = it->next) {
        if (it->result == PERR_OK) {
            it->result = perr_set(it->err, committed, NULL, NULL);
        }
    }
    unlock_writer(b);
}

/* Between batches: copies what the background checkpointer has not yet, so that the next
 * batch can start the WAL over. Busy (the checkpointer is at it) means: next time. */
static void finish_checkpoint(struct store_backend *b)
{
    lock_writer(b);
    if (!b->batch_open) {
        uint64_t start_us = time_monotonic_us();
        int rc = sqlite3_wal_checkpoint_v2(b->writer.db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                           NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
            db_error(b->writer.db, rc, "checkpoint", NULL);
        }
        b->wal_pages = 0; /* the next commit tells the size again */
        b->stat_writer_checkpoints++;
        b->stat_writer_checkpoint_us += time_monotonic_us() - start_us;
    }
    unlock_writer(b);
}

/* True when the writer should finish a checkpoint now (see WAL_RESTART_PAGES). */
static bool restart_due(struct store_backend *b)
{
    if (b->wal_pages < WAL_RESTART_PAGES) {
        return false;
    }
    pthread_mutex_lock(&b->checkpoint_lock);
    if (!b->restart_pass) {
        b->restart_pass = b->stat_checkpoints + 2; /* the one under way may have begun before */
    }
    bool due = b->stat_checkpoints >= b->restart_pass;
    pthread_mutex_unlock(&b->checkpoint_lock);
    if (due) {
        b->restart_pass = 0;
    }
    return due;
}

static void *writer_loop(void *arg)
{
    struct store_backend *b = arg;
    pthread_mutex_lock(&b->queue_lock);
    for (;;) {
        while (!b->queue_head && !b->writer_stopping) {
            pthread_cond_wait(&b->queue_ready, &b->queue_lock);
        }
        if (!b->queue_head) {
            break;
        }
        struct write_item *items = b->queue_head;
        b->queue_head = NULL;
        b->queue_tail = &b->queue_head;
        unsigned round = ++b->rounds;
        pthread_mutex_unlock(&b->queue_lock);
        run_round(b, items);
        pthread_mutex_lock(&b->queue_lock);
        for (struct write_item *it = items, *next; it; it = next) {
            next = it->next; /* read before done: the item lives on its caller's stack */
            it->done = true;
        }
        /* One wake-up for the whole round: signalling each caller in turn would hand the CPU
         * to each in turn while the next round waits. */
        pthread_cond_broadcast(&b->round_done[round & 1]);
        if (restart_due(b)) {
            pthread_mutex_unlock(&b->queue_lock);
            finish_checkpoint(b);
            pthread_mutex_lock(&b->queue_lock);
        }
    }
    pthread_mutex_unlock(&b->queue_lock);
    return NULL;
}

static enum perr_code sqlite_write(struct store_backend *b, struct store *st,
                                   enum perr_code (*fn)(struct store_tx *, void *, struct perr *),
                                   void *ctx, struct perr *err)
{
    struct write_item it = {.fn = fn, .ctx = ctx, .err = err, .st = st};
    PASSERT(!pthread_equal(pthread_self(), b->writer_thread));
    pthread_mutex_lock(&b->queue_lock);
    *b->queue_tail = &it;
    b->queue_tail = &it.next;
    it.round = b->rounds + 1;
    pthread_cond_signal(&b->queue_ready);
    while (!it.done) {
        pthread_cond_wait(&b->round_done[it.round & 1], &b->queue_lock);
    }
    pthread_mutex_unlock(&b->queue_lock);
    return it.result;
}

static uint32_t hash_sql(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 16777619u;
    }
    return h;
}

/* Returns a prepared statement for sql, from the cache when possible. *transient is set when
 * the statement is not cached and must be finalized after use. */
static int prepare(struct store_conn *c, const char *sql, sqlite3_stmt **out, bool *transient)
{
    uint32_t h = hash_sql(sql) & (STMT_SLOTS - 1);
    for (uint32_t probe = 0; probe < STMT_SLOTS; probe++) {
        struct stmt_slot *slot = &c->slots[(h + probe) & (STMT_SLOTS - 1)];
        if (!slot->stmt) {
            break;
        }
        if (strcmp(slot->sql, sql) == 0) {
            *out = slot->stmt;
            *transient = false;
            return SQLITE_OK;
        }
    }
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    if (rc != SQLITE_OK) {
        return rc;
    }
    *transient = c->cached >= LIMIT_STMT_CACHE;
    if (!*transient) {
        for (uint32_t probe = 0;; probe++) {
            struct stmt_slot *slot = &c->slots[(h + probe) & (STMT_SLOTS - 1)];
            if (!slot->stmt) {
                *slot = (struct stmt_slot){.sql = xstrdup(sql), .stmt = *out};
                c->cached++;
                break;
            }
        }
    }
    return SQLITE_OK;
}

static int bind_params(sqlite3_stmt *stmt, const struct sv *params, size_t n)
{
    int rc = SQLITE_OK;
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        int idx = (int)i + 1;
        switch (params[i].type) {
        case SV_NULL:
            rc = sqlite3_bind_null(stmt, idx);
            break;
        case SV_INT:
            rc = sqlite3_bind_int64(stmt, idx, params[i].i);
            break;
        case SV_TEXT:
            rc = sqlite3_bind_text(stmt, idx, params[i].s, -1, SQLITE_STATIC);
            break;
        }
    }
    return rc;
}

static void collect_row(sqlite3_stmt *stmt, struct store_rows *rows, size_t *cap)
{
    if (rows->nrows == 0) {
        rows->ncols = (size_t)sqlite3_column_count(stmt);
    }
    if ((rows->nrows + 1) * rows->ncols > *cap) {
        *cap = *cap ? *cap * 2 : rows->ncols * 8;
        rows->cells = xrealloc(rows->cells, *cap * sizeof(char *));
    }
    char **row = rows->cells + rows->nrows * rows->ncols;
    for (size_t i = 0; i < rows->ncols; i++) {
        const unsigned char *text = sqlite3_column_text(stmt, (int)i);
        row[i] =
            text ? xstrndup((const char *)text, (size_t)sqlite3_column_bytes(stmt, (int)i)) : NULL;
    }
    rows->nrows++;
}

static enum perr_code sqlite_exec(struct store_conn *c, const char *sql, const struct sv *params,
                                  size_t nparams, struct store_rows *rows, int64_t *changes,
                                  struct perr *err)
{
    sqlite3_stmt *stmt;
    bool transient;
    if (rows) {
        *rows = (struct store_rows){0};
    }
    int rc = prepare(c, sql, &stmt, &transient);
    if (rc != SQLITE_OK) {
        return db_error(c->db, rc, "prepare", err);
    }
    rc = bind_params(stmt, params, nparams);
    size_t cap = 0;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW && rows) {
            collect_row(stmt, rows, &cap);
        }
    }
    enum perr_code result = PERR_OK;
    if (rc != SQLITE_DONE) {
        result = db_error(c->db, rc, "step", err);
        if (rows) {
            store_rows_free(rows);
        }
    } else if (changes) {
        *changes = sqlite3_changes64(c->db);
    }
    if (transient) {
        sqlite3_finalize(stmt);
    } else {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
    return result;
}

static enum perr_code sqlite_exec_script(struct store_conn *c, const char *sql, struct perr *err)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? PERR_OK : db_error(c->db, rc, "script", err);
}

static enum perr_code sqlite_ping(struct store_backend *b, struct perr *err)
{
    struct stat st;
    if (stat(b->path, &st) != 0 || st.st_ino != b->inode) {
        log_emit(LOG_ERROR, "the database file is gone or was replaced",
                 json_pack("{s:s}", "path", b->path));
        return perr_set(err, PERR_STORE_UNAVAILABLE, NULL, NULL);
    }
    struct store_conn *c = acquire_reader(b);
    enum perr_code rc =
        sqlite_exec(c, "SELECT count(*) FROM schema_version", NULL, 0, NULL, NULL, err);
    release_reader(b, c);
    return rc;
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .exec = sqlite_exec,
    .exec_script = sqlite_exec_script,
    .ping = sqlite_ping,
    .write = sqlite_write,
};
