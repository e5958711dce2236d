/* The store owns every durable byte of pasarela. Callers speak portable SQL (standard types,
 * '?' placeholders, no backend-only syntax) through the store_* wrappers below; a backend
 * (SQLite now, PostgreSQL later) implements struct store_ops. Transactions are explicit and
 * short: never hold one across network I/O. Write transactions of one store are serialized
 * by the backend; read transactions run in parallel. */
#ifndef PASARELA_STORE_H
#define PASARELA_STORE_H

#include "core/buf.h"
#include "core/errors.h"

enum store_tx_kind { STORE_TX_READ, STORE_TX_WRITE };

/* A bound parameter. Text is borrowed for the duration of the call. */
enum sv_type { SV_NULL, SV_INT, SV_TEXT };
struct sv {
    enum sv_type type;
    int64_t i;
    const char *s;
};
#define SV_I(x) ((struct sv){.type = SV_INT, .i = (x)})
/* Text, or SQL NULL when s is NULL. */
static inline struct sv sv_text(const char *s)
{
    return (struct sv){.type = s ? SV_TEXT : SV_NULL, .s = s};
}
#define SV_T(x) sv_text(x)
/* Expands to the `params, nparams` arguments of store_exec. */
#define SQL_PARAMS(...)                                                                            \
    (const struct sv[]){__VA_ARGS__}, (sizeof((struct sv[]){__VA_ARGS__}) / sizeof(struct sv))
#define SQL_NO_PARAMS NULL, 0

/* A query result, materialized as text (NULL for SQL NULL); owned by the caller, released by
 * store_rows_free. */
struct store_rows {
    size_t nrows;
    size_t ncols;
    char **cells; /* row-major */
};

struct store_backend;
struct store_conn;
struct store;
struct store_tx;

struct store_ops {
    const char *name;
    /* Opens the store at `location` with a pool of nconns connections. */
    enum perr_code (*open)(const char *location, int nconns, struct store_backend **out,
                           struct perr *err);
    void (*close)(struct store_backend *b);
    /* Starts a transaction and returns the connection it runs on. Write transactions of one
     * store may be committed together (group commit): commit returns only once the
     * transaction is durable, and a rollback undoes only the caller's own statements. */
    enum perr_code (*begin)(struct store_backend *b, enum store_tx_kind kind,
                            struct store_conn **conn, struct perr *err);
    enum perr_code (*commit)(struct store_backend *b, struct store_conn *c, struct perr *err);
    void (*rollback)(struct store_backend *b, struct store_conn *c);
    /* Runs one statement; rows (may be NULL) receives its result, changes (may be NULL) the
     * number of rows it changed. A uniqueness or foreign-key violation is PERR_CONFLICT. */
    enum perr_code (*exec)(struct store_conn *c, const char *sql, const struct sv *params,
                           size_t nparams, struct store_rows *rows, int64_t *changes,
                           struct perr *err);
    /* Runs several statements with no parameters (migrations). */
    enum perr_code (*exec_script)(struct store_conn *c, const char *sql, struct perr *err);
    /* Cheap liveness check of the storage itself. */
    enum perr_code (*ping)(struct store_backend *b, struct perr *err);
    /* Runs fn in a write transaction on the backend's writer, returning once it is durable
     * (or rolled back when fn fails). fn must not begin transactions of its own. */
    enum perr_code (*write)(struct store_backend *b, struct store *st,
                            enum perr_code (*fn)(struct store_tx *tx, void *ctx, struct perr *err),
                            void *ctx, struct perr *err);
};

extern const struct store_ops store_sqlite_ops;

struct store;
struct store_tx {
    struct store *store;
    struct store_conn *conn;
    enum store_tx_kind kind;
};

/* Opens (creating when needed) the store in data_dir. */
enum perr_code store_open(const char *data_dir, int nconns, struct store **out,
                          struct perr *err) WARN_UNUSED;
void store_close(struct store *st);
/* Applies every embedded migration newer than the store's schema version, each in its own
 * transaction; *applied (may be NULL) receives how many ran. */
enum perr_code store_migrate(struct store *st, int *applied, struct perr *err) WARN_UNUSED;
int store_schema_version(struct store *st);
enum perr_code store_ping(struct store *st, struct perr *err) WARN_UNUSED;

enum perr_code store_tx_begin(struct store *st, enum store_tx_kind kind, struct store_tx *tx,
                              struct perr *err) WARN_UNUSED;
/* Commits and returns the connection to the pool; on failure the transaction is rolled back. */
enum perr_code store_tx_commit(struct store_tx *tx, struct perr *err) WARN_UNUSED;
/* Rolls back and returns the connection; does nothing for a finished transaction. */
void store_tx_rollback(struct store_tx *tx);

/* A write transaction as a function: fn runs with tx open and returns PERR_OK to commit or
 * an error to roll back. The backend may run many such functions, from many threads, back to
 * back in one batch on its writer thread: the hot write paths use this form. */
typedef enum perr_code (*store_write_fn)(struct store_tx *tx, void *ctx, struct perr *err);
enum perr_code store_write(struct store *st, store_write_fn fn, void *ctx,
                           struct perr *err) WARN_UNUSED;

/* Commits when rc is PERR_OK, otherwise rolls back; returns the outcome. */
enum perr_code store_tx_finish(struct store_tx *tx, enum perr_code rc,
                               struct perr *err) WARN_UNUSED;

enum perr_code store_exec(struct store_tx *tx, const char *sql, const struct sv *params,
                          size_t nparams, struct store_rows *rows, struct perr *err) WARN_UNUSED;
/* Like store_exec, returning the number of rows changed. */
enum perr_code store_exec_changes(struct store_tx *tx, const char *sql, const struct sv *params,
                                  size_t nparams, int64_t *changes, struct perr *err) WARN_UNUSED;

/* A statement assembled from optional filters: sql_where adds " WHERE cond" or " AND cond"
 * with its one parameter. Owns its text; release with sql_release. */
#define SQL_QUERY_MAX_PARAMS 16
struct sql_query {
    struct buf text;
    struct sv params[SQL_QUERY_MAX_PARAMS];
    size_t nparams;
    bool has_where;
    char *kept[SQL_QUERY_MAX_PARAMS];
    size_t nkept;
};
void sql_init(struct sql_query *q, const char *base);
void sql_where(struct sql_query *q, const char *cond, struct sv param);
/* Appends text with any number of parameters (params may be NULL when n is 0). */
void sql_append(struct sql_query *q, const char *text, const struct sv *params, size_t n);
/* A copy of s that lives as long as q: for parameters built on the stack. */
const char *sql_keep(struct sql_query *q, const char *s);
void sql_release(struct sql_query *q);
enum perr_code store_exec_query(struct store_tx *tx, const struct sql_query *q,
                                struct store_rows *rows, struct perr *err) WARN_UNUSED;

const char *store_rows_get(const struct store_rows *r, size_t row, size_t col);
int64_t store_rows_int(const struct store_rows *r, size_t row, size_t col);
void store_rows_free(struct store_rows *r);

#endif
