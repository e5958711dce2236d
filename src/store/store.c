#include "store/store.h"

#include <errno.h>
#include <sys/stat.h>

#include "core/log.h"
#include "store/migrations.h"

struct store {
    const struct store_ops *ops;
    struct store_backend *backend;
};

enum perr_code store_open(const char *data_dir, int nconns, struct store **out, struct perr *err)
{
    *out = NULL;
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        return perr_set(err, PERR_STORE_UNAVAILABLE, "data",
                        "cannot create the data directory %.200s: %s", data_dir, strerror(errno));
    }
    char path[1024];
    if ((size_t)snprintf(path, sizeof(path), "%s/pasarela.db", data_dir) >= sizeof(path)) {
        return perr_set(err, PERR_PARAM_INVALID, "data", "the data directory path is too long");
    }
    struct store *st = xcalloc(1, sizeof(*st));
    st->ops = &store_sqlite_ops;
    enum perr_code rc = st->ops->open(path, nconns, &st->backend, err);
    if (rc != PERR_OK) {
        free(st);
        return rc;
    }
    *out = st;
    return PERR_OK;
}

void store_close(struct store *st)
{
    if (!st) {
        return;
    }
    st->ops->close(st->backend);
    free(st);
}

enum perr_code store_ping(struct store *st, struct perr *err)
{
    return st->ops->ping(st->backend, err);
}

enum perr_code store_tx_begin(struct store *st, enum store_tx_kind kind, struct store_tx *tx,
                              struct perr *err)
{
    *tx = (struct store_tx){.store = st, .kind = kind};
    return st->ops->begin(st->backend, kind, &tx->conn, err);
}

enum perr_code store_tx_commit(struct store_tx *tx, struct perr *err)
{
    PASSERT(tx->conn != NULL);
    enum perr_code rc = tx->store->ops->commit(tx->store->backend, tx->conn, err);
    tx->conn = NULL;
    return rc;
}

void store_tx_rollback(struct store_tx *tx)
{
    if (!tx->conn) {
        return;
    }
    tx->store->ops->rollback(tx->store->backend, tx->conn);
    tx->conn = NULL;
}

enum perr_code store_write(struct store *st, store_write_fn fn, void *ctx, struct perr *err)
{
    return st->ops->write(st->backend, st, fn, ctx, err);
}

enum perr_code store_tx_finish(struct store_tx *tx, enum perr_code rc, struct perr *err)
{
    if (rc != PERR_OK) {
        store_tx_rollback(tx);
        return rc;
    }
    return store_tx_commit(tx, err);
}

enum perr_code store_exec(struct store_tx *tx, const char *sql, const struct sv *params,
                          size_t nparams, struct store_rows *rows, struct perr *err)
{
    PASSERT(tx->conn != NULL);
    return tx->store->ops->exec(tx->conn, sql, params, nparams, rows, NULL, err);
}

enum perr_code store_exec_changes(struct store_tx *tx, const char *sql, const struct sv *params,
                                  size_t nparams, int64_t *changes, struct perr *err)
{
    PASSERT(tx->conn != NULL);
    return tx->store->ops->exec(tx->conn, sql, params, nparams, NULL, changes, err);
}

void sql_init(struct sql_query *q, const char *base)
{
    *q = (struct sql_query){0};
    buf_init(&q->text, 4096);
    PASSERT(buf_append_str(&q->text, base));
}

void sql_append(struct sql_query *q, const char *text, const struct sv *params, size_t n)
{
    PASSERT(q->nparams + n <= SQL_QUERY_MAX_PARAMS);
    PASSERT(buf_append_str(&q->text, text));
    for (size_t i = 0; i < n; i++) {
        q->params[q->nparams++] = params[i];
    }
}

void sql_where(struct sql_query *q, const char *cond, struct sv param)
{
    PASSERT(buf_append_str(&q->text, q->has_where ? " AND " : " WHERE "));
    q->has_where = true;
    sql_append(q, cond, &param, 1);
}

const char *sql_keep(struct sql_query *q, const char *s)
{
    PASSERT(q->nkept < SQL_QUERY_MAX_PARAMS);
    q->kept[q->nkept] = xstrdup(s);
    return q->kept[q->nkept++];
}

void sql_release(struct sql_query *q)
{
    buf_release(&q->text);
    for (size_t i = 0; i < q->nkept; i++) {
        free(q->kept[i]);
    }
    q->nkept = 0;
}

enum perr_code store_exec_query(struct store_tx *tx, const struct sql_query *q,
                                struct store_rows *rows, struct perr *err)
{
    return store_exec(tx, buf_str(&q->text), q->params, q->nparams, rows, err);
}

const char *store_rows_get(const struct store_rows *r, size_t row, size_t col)
{
    PASSERT(row < r->nrows && col < r->ncols);
    return r->cells[row * r->ncols + col];
}

int64_t store_rows_int(const struct store_rows *r, size_t row, size_t col)
{
    const char *s = store_rows_get(r, row, col);
    return s ? strtoll(s, NULL, 10) : 0;
}

void store_rows_free(struct store_rows *r)
{
    for (size_t i = 0; i < r->nrows * r->ncols; i++) {
        free(r->cells[i]);
    }
    free(r->cells);
    *r = (struct store_rows){0};
}

static const char schema_version_table[] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)";

int store_schema_version(struct store *st)
{
    struct store_tx tx;
    struct store_rows rows = {0};
    struct perr err;
    int version = -1;
    if (store_tx_begin(st, STORE_TX_READ, &tx, &err) != PERR_OK) {
        return -1;
    }
    if (store_exec(&tx, "SELECT max(version) FROM schema_version", SQL_NO_PARAMS, &rows, &err) ==
        PERR_OK) {
        version = (int)store_rows_int(&rows, 0, 0);
    }
    store_rows_free(&rows);
    store_tx_rollback(&tx);
    return version;
}

static enum perr_code apply_migration(struct store *st, const struct migration *m, struct perr *err)
{
    struct store_tx tx;
    enum perr_code rc = store_tx_begin(st, STORE_TX_WRITE, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    rc = st->ops->exec_script(tx.conn, m->sql, err);
    if (rc == PERR_OK) {
        rc = store_exec(&tx,
                        "INSERT INTO schema_version (version, name, applied_at)"
                        " VALUES (?, ?, CURRENT_TIMESTAMP)",
                        SQL_PARAMS(SV_I(m->version), SV_T(m->name)), NULL, err);
    }
    if (rc != PERR_OK) {
        store_tx_rollback(&tx);
        return rc;
    }
    return store_tx_commit(&tx, err);
}

enum perr_code store_migrate(struct store *st, int *applied, struct perr *err)
{
    if (applied) {
        *applied = 0;
    }
    struct store_tx tx;
    enum perr_code rc = store_tx_begin(st, STORE_TX_WRITE, &tx, err);
    if (rc == PERR_OK) {
        rc = store_tx_finish(&tx, st->ops->exec_script(tx.conn, schema_version_table, err), err);
    }
    if (rc != PERR_OK) {
        return rc;
    }
    int current = store_schema_version(st);
    for (size_t i = 0; i < migrations_count; i++) {
        const struct migration *m = &migrations[i];
        if (m->version <= current) {
            continue;
        }
        rc = apply_migration(st, m, err);
        if (rc != PERR_OK) {
            return rc;
        }
        log_msg(LOG_INFO, "applied migration %03d %s", m->version, m->name);
        if (applied) {
            (*applied)++;
        }
    }
    return PERR_OK;
}
