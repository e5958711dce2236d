/* The SQLite backend: one database file in WAL mode, synchronous=FULL, foreign keys on, a
 * fixed pool of connections each with its own prepared-statement cache. SQLite allows one
 * writer at a time; a process-wide mutex queues write transactions here (BEGIN IMMEDIATE under
 * the lock) so writers wait on a condition variable instead of spinning in SQLite's busy
 * handler, while readers proceed in parallel on WAL snapshots. */
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "core/common.h"
#include "core/log.h"
#include "store/store.h"

#define STMT_SLOTS 256 /* open-addressing table; at most LIMIT_STMT_CACHE entries used */

struct stmt_slot {
    char *sql;
    sqlite3_stmt *stmt;
};

struct store_conn {
    sqlite3 *db;
    bool in_use;
    bool holds_write_lock;
    size_t cached;
    struct stmt_slot slots[STMT_SLOTS];
    struct store_backend *backend;
};

struct store_backend {
    char *path;
    ino_t inode;
    int nconns;
    struct store_conn *conns;
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    pthread_mutex_t write_lock;
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
    c->backend = b;
    sqlite3_busy_timeout(c->db, LIMIT_STORE_BUSY_TIMEOUT_MS);
    static const char pragmas[] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                  " PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;";
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

static void sqlite_close(struct store_backend *b)
{
    for (int i = 0; i < b->nconns; i++) {
        if (b->conns[i].db) {
            close_conn(&b->conns[i]);
        }
    }
    pthread_mutex_destroy(&b->pool_lock);
    pthread_cond_destroy(&b->pool_cond);
    pthread_mutex_destroy(&b->write_lock);
    free(b->conns);
    free(b->path);
    free(b);
}

static enum perr_code sqlite_open(const char *location, int nconns, struct store_backend **out,
                                  struct perr *err)
{
    PASSERT(nconns > 0 && nconns <= LIMIT_STORE_CONNS);
    struct store_backend *b = xcalloc(1, sizeof(*b));
    b->path = xstrdup(location);
    b->nconns = nconns;
    b->conns = xcalloc((size_t)nconns, sizeof(*b->conns));
    pthread_mutex_init(&b->pool_lock, NULL);
    pthread_cond_init(&b->pool_cond, NULL);
    pthread_mutex_init(&b->write_lock, NULL);
    for (int i = 0; i < nconns; i++) {
        enum perr_code rc = open_conn(b, &b->conns[i], err);
        if (rc != PERR_OK) {
            sqlite_close(b);
            return rc;
        }
    }
    struct stat st;
    if (stat(location, &st) == 0) {
        b->inode = st.st_ino;
    }
    *out = b;
    return PERR_OK;
}

static struct store_conn *sqlite_acquire(struct store_backend *b)
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

static void sqlite_release(struct store_backend *b, struct store_conn *c)
{
    pthread_mutex_lock(&b->pool_lock);
    c->in_use = false;
    pthread_cond_signal(&b->pool_cond);
    pthread_mutex_unlock(&b->pool_lock);
}

static void release_write_lock(struct store_conn *c)
{
    if (c->holds_write_lock) {
        c->holds_write_lock = false;
        pthread_mutex_unlock(&c->backend->write_lock);
    }
}

static enum perr_code sqlite_begin(struct store_conn *c, enum store_tx_kind kind, struct perr *err)
{
    if (kind == STORE_TX_WRITE) {
        pthread_mutex_lock(&c->backend->write_lock);
        c->holds_write_lock = true;
    }
    int rc = sqlite3_exec(c->db, kind == STORE_TX_WRITE ? "BEGIN IMMEDIATE" : "BEGIN", NULL,
                          NULL, NULL);
    if (rc != SQLITE_OK) {
        release_write_lock(c);
        return db_error(c->db, rc, "begin", err);
    }
    return PERR_OK;
}

static enum perr_code sqlite_commit(struct store_conn *c, struct perr *err)
{
    int rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        return db_error(c->db, rc, "commit", err); /* the caller rolls back */
    }
    release_write_lock(c);
    return PERR_OK;
}

static void sqlite_rollback(struct store_conn *c)
{
    if (!sqlite3_get_autocommit(c->db)) {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    }
    release_write_lock(c);
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
        row[i] = text ? xstrndup((const char *)text, (size_t)sqlite3_column_bytes(stmt, (int)i))
                      : NULL;
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
    struct store_conn *c = sqlite_acquire(b);
    enum perr_code rc = sqlite_exec(c, "SELECT count(*) FROM schema_version", NULL, 0, NULL,
                                    NULL, err);
    sqlite_release(b, c);
    return rc;
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .acquire = sqlite_acquire,
    .release = sqlite_release,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .exec = sqlite_exec,
    .exec_script = sqlite_exec_script,
    .ping = sqlite_ping,
};
