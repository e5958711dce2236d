/* Verification of the audit trail: walks each chain in sequence order, recomputes every
 * record's hash and MAC and its link to the previous record, then checks the authenticated
 * checkpoints against what is there. Stops at the first problem and names it. */
#include "audit/audit.h"

#include <stdarg.h>

#include "core/json.h"
#include "domain/audit_record.h"

enum col {
    C_SEQ,
    C_ID,
    C_PREV,
    C_HASH,
    C_MAC,
    C_CREATED,
    C_CORR,
    C_ACTOR,
    C_TENANT,
    C_ACTION,
    C_ETYPE,
    C_EID,
    C_CHANGES
};

struct walk {
    struct store_tx *tx;
    const uint8_t *key;
    const char *chain_id;
    int64_t expected;             /* the next sequence number */
    char prev[SHA256_HEX_BYTES];  /* hash of record expected-1 */
    char prev2[SHA256_HEX_BYTES]; /* hash of record expected-2 */
    int64_t max_seq;
    struct audit_verdict *v;
};

__attribute__((format(printf, 4, 5))) static void broken(struct walk *w, int64_t seq,
                                                         const char *problem, const char *fmt, ...)
{
    struct audit_verdict *v = w->v;
    v->intact = false;
    str_copy(v->chain_id, sizeof(v->chain_id), w->chain_id);
    v->seq = seq;
    v->problem = problem;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
    va_end(ap);
}

static bool hash_row(const struct store_rows *rows, size_t i, const char *chain_id, int64_t seq,
                     json_t *changes, char out[SHA256_HEX_BYTES])
{
    struct audit_record r = {.chain_id = chain_id,
                             .seq = seq,
                             .id = store_rows_get(rows, i, C_ID),
                             .prev_hash = store_rows_get(rows, i, C_PREV),
                             .created = store_rows_get(rows, i, C_CREATED),
                             .correlation_id = store_rows_get(rows, i, C_CORR),
                             .actor = store_rows_get(rows, i, C_ACTOR),
                             .tenant_id = store_rows_get(rows, i, C_TENANT),
                             .action = store_rows_get(rows, i, C_ACTION),
                             .entity_type = store_rows_get(rows, i, C_ETYPE),
                             .entity_id = store_rows_get(rows, i, C_EID),
                             .changes = changes};
    return audit_record_hash(&r, out);
}

/* A record whose hash is right for another position was moved there. */
static int64_t original_position(struct walk *w, const struct store_rows *rows, size_t i,
                                 json_t *changes)
{
    const char *stored = store_rows_get(rows, i, C_HASH);
    char h[SHA256_HEX_BYTES];
    for (int64_t s = 1; s <= w->max_seq; s++) {
        if (hash_row(rows, i, w->chain_id, s, changes, h) && strcmp(h, stored) == 0) {
            return s;
        }
    }
    return 0;
}

/* Checks one record; false when it is broken (the verdict says how). */
static bool check_record(struct walk *w, const struct store_rows *rows, size_t i)
{
    int64_t seq = store_rows_int(rows, i, C_SEQ);
    const char *stored = store_rows_get(rows, i, C_HASH);
    if (seq != w->expected) {
        broken(w, w->expected, "missing", "records %lld to %lld are missing",
               (long long)w->expected, (long long)seq - 1);
        return false;
    }
    json_t *changes = json_loads(store_rows_get(rows, i, C_CHANGES), JSON_REJECT_DUPLICATES, NULL);
    char h[SHA256_HEX_BYTES];
    bool hashed = changes && hash_row(rows, i, w->chain_id, seq, changes, h);
    if (!hashed || strcmp(h, stored) != 0) {
        int64_t moved = changes ? original_position(w, rows, i, changes) : 0;
        json_decref(changes);
        if (moved && moved != seq) {
            broken(w, seq, "reordered", "record %lld holds the record written as %lld",
                   (long long)seq, (long long)moved);
        } else {
            broken(w, seq, "modified", "record %lld does not match its hash", (long long)seq);
        }
        return false;
    }
    json_decref(changes);
    char mac[SHA256_HEX_BYTES];
    audit_record_mac(w->key, stored, mac);
    if (!crypto_equal(mac, store_rows_get(rows, i, C_MAC), SHA256_HEX_BYTES - 1) ||
        strlen(store_rows_get(rows, i, C_MAC)) != SHA256_HEX_BYTES - 1) {
        broken(w, seq, "inserted",
               "record %lld was not written by pasarela: its hash was computed without the "
               "audit key (inserted or rewritten)",
               (long long)seq);
        return false;
    }
    const char *prev = store_rows_get(rows, i, C_PREV);
    if (strcmp(prev, w->prev) != 0) {
        if (seq > 2 && strcmp(prev, w->prev2) == 0) {
            broken(w, seq - 1, "inserted", "record %lld was inserted before record %lld",
                   (long long)seq - 1, (long long)seq);
        } else {
            broken(w, seq, "modified", "record %lld does not link to record %lld", (long long)seq,
                   (long long)seq - 1);
        }
        return false;
    }
    str_copy(w->prev2, sizeof(w->prev2), w->prev);
    str_copy(w->prev, sizeof(w->prev), stored);
    w->expected++;
    w->v->records++;
    return true;
}

static enum perr_code walk_records(struct walk *w, struct perr *err)
{
    for (;;) {
        struct store_rows rows;
        enum perr_code rc = store_exec(
            w->tx,
            "SELECT seq, id, prev_hash, hash, mac, created, correlation_id, actor, tenant_id,"
            " action, entity_type, entity_id, changes FROM audit_records"
            " WHERE chain_id = ? AND seq >= ? ORDER BY seq LIMIT ?",
            SQL_PARAMS(SV_T(w->chain_id), SV_I(w->expected), SV_I(LIMIT_AUDIT_VERIFY_ROWS)), &rows,
            err);
        if (rc != PERR_OK) {
            return rc;
        }
        bool ok = true;
        for (size_t i = 0; i < rows.nrows && ok; i++) {
            ok = check_record(w, &rows, i);
        }
        size_t n = rows.nrows;
        store_rows_free(&rows);
        if (!ok || n < LIMIT_AUDIT_VERIFY_ROWS) {
            return PERR_OK;
        }
    }
}

static bool check_checkpoint(struct walk *w, const struct store_rows *cps, size_t i,
                             const struct store_rows *hashes)
{
    int64_t seq = store_rows_int(cps, i, 0);
    const char *hash = store_rows_get(cps, i, 1);
    char mac[SHA256_HEX_BYTES];
    audit_checkpoint_mac(w->key, w->chain_id, seq, hash, store_rows_get(cps, i, 2), mac);
    if (strlen(store_rows_get(cps, i, 3)) != SHA256_HEX_BYTES - 1 ||
        !crypto_equal(mac, store_rows_get(cps, i, 3), SHA256_HEX_BYTES - 1)) {
        broken(w, seq, "checkpoint_forged", "the checkpoint at %lld is not authentic",
               (long long)seq);
        return false;
    }
    if (seq >= w->expected) {
        broken(w, w->expected, "truncated",
               "records %lld to %lld were deleted: a checkpoint vouches for %lld records",
               (long long)w->expected, (long long)seq, (long long)seq);
        return false;
    }
    if (hashes->nrows != 1 || strcmp(store_rows_get(hashes, 0, 0), hash) != 0) {
        broken(w, seq, "modified", "record %lld differs from its checkpoint", (long long)seq);
        return false;
    }
    return true;
}

static enum perr_code walk_checkpoints(struct walk *w, struct perr *err)
{
    struct store_rows cps;
    enum perr_code rc = store_exec(w->tx,
                                   "SELECT seq, hash, created, mac FROM audit_checkpoints"
                                   " WHERE chain_id = ? ORDER BY seq",
                                   SQL_PARAMS(SV_T(w->chain_id)), &cps, err);
    for (size_t i = 0; i < cps.nrows && rc == PERR_OK && w->v->intact; i++) {
        struct store_rows hashes;
        rc = store_exec(w->tx, "SELECT hash FROM audit_records WHERE chain_id = ? AND seq = ?",
                        SQL_PARAMS(SV_T(w->chain_id), SV_I(store_rows_int(&cps, i, 0))), &hashes,
                        err);
        if (rc == PERR_OK) {
            w->v->checkpoints += check_checkpoint(w, &cps, i, &hashes) ? 1 : 0;
            store_rows_free(&hashes);
        }
    }
    store_rows_free(&cps);
    return rc;
}

static enum perr_code verify_chain(struct walk *w, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = store_exec(w->tx, "SELECT max(seq) FROM audit_records WHERE chain_id = ?",
                                   SQL_PARAMS(SV_T(w->chain_id)), &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    w->max_seq = store_rows_int(&rows, 0, 0);
    store_rows_free(&rows);
    w->expected = 1;
    w->prev[0] = w->prev2[0] = '\0';
    w->v->chains++;
    rc = walk_records(w, err);
    if (rc == PERR_OK && w->v->intact) {
        rc = walk_checkpoints(w, err);
    }
    return rc;
}

enum perr_code audit_verify(struct store *st, const uint8_t key[SHA256_BYTES], const char *chain_id,
                            struct audit_verdict *v, struct perr *err)
{
    *v = (struct audit_verdict){.intact = true};
    struct store_tx tx;
    struct store_rows chains;
    enum perr_code rc = store_tx_begin(st, STORE_TX_READ, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    rc =
        store_exec(&tx,
                   "SELECT chain_id FROM audit_records UNION SELECT chain_id FROM audit_checkpoints"
                   " UNION SELECT chain_id FROM audit_chains ORDER BY 1",
                   SQL_NO_PARAMS, &chains, err);
    for (size_t i = 0; rc == PERR_OK && i < chains.nrows && v->intact; i++) {
        const char *c = store_rows_get(&chains, i, 0);
        if (!chain_id || strcmp(chain_id, c) == 0) {
            struct walk w = {.tx = &tx, .key = key, .chain_id = c, .v = v};
            rc = verify_chain(&w, err);
        }
    }
    store_rows_free(&chains);
    store_tx_rollback(&tx);
    return rc;
}

json_t *audit_verdict_json(const struct audit_verdict *v)
{
    json_t *o = json_pack("{s:s, s:b, s:I, s:I, s:I}", "object", "audit_verification", "intact",
                          v->intact, "chains", (json_int_t)v->chains, "records",
                          (json_int_t)v->records, "checkpoints", (json_int_t)v->checkpoints);
    if (!v->intact) {
        json_object_set_new(o, "problem",
                            json_pack("{s:s, s:I, s:s, s:s}", "chain_id", v->chain_id, "seq",
                                      (json_int_t)v->seq, "kind", v->problem, "detail", v->detail));
    }
    return o;
}
