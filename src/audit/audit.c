#include "audit/audit.h"

#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "domain/audit_record.h"

void audit_derive_key(const uint8_t *master_key, size_t len, uint8_t out[SHA256_BYTES])
{
    static const char label[] = "pasarela audit v1";
    crypto_hmac_sha256(master_key, len, label, sizeof(label) - 1, out);
}

/* Advances the chain's head by one and returns the new sequence number and the previous
 * hash. The UPDATE comes first so that, on PostgreSQL, its row lock serializes appends to
 * this chain (and only this chain) until the transaction ends. */
static enum perr_code claim_next_seq(struct store_tx *tx, const char *chain_id, int64_t *seq,
                                     char prev_hash[SHA256_HEX_BYTES], struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = store_exec(
        tx, "UPDATE audit_chains SET seq = seq + 1 WHERE chain_id = ? RETURNING seq, hash",
        SQL_PARAMS(SV_T(chain_id)), &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    if (rows.nrows == 0) {
        *seq = 1;
        prev_hash[0] = '\0';
        return store_exec(tx,
                          "INSERT INTO audit_chains (chain_id, seq, hash, checkpointed_seq)"
                          " VALUES (?, 1, '', 0)",
                          SQL_PARAMS(SV_T(chain_id)), NULL, err);
    }
    *seq = store_rows_int(&rows, 0, 0);
    str_copy(prev_hash, SHA256_HEX_BYTES, store_rows_get(&rows, 0, 1));
    store_rows_free(&rows);
    return PERR_OK;
}

static struct audit_record draft_record(const struct audit_draft *d)
{
    const struct audit_event *ev = &d->ev;
    return (struct audit_record){.chain_id = ev->chain_id,
                                 .id = d->id,
                                 .created = d->created,
                                 .correlation_id = ev->correlation_id,
                                 .actor = ev->actor,
                                 .tenant_id = ev->tenant_id,
                                 .action = ev->action,
                                 .entity_type = ev->entity_type,
                                 .entity_id = ev->entity_id,
                                 .changes = ev->changes};
}

bool audit_draft_init(struct audit_draft *d, const struct audit_event *ev)
{
    *d = (struct audit_draft){.ev = *ev};
    id_new("aud", d->id);
    time_format_rfc3339_us(time_now_unix_us(), d->created);
    buf_init(&d->changes, LIMIT_AUDIT_CHANGES_BYTES);
    struct audit_record r = draft_record(d);
    if (!json_canonical(ev->changes, &d->changes) ||
        !audit_record_begin_hash(&r, buf_str(&d->changes), &d->head)) {
        log_emit(LOG_ERROR, "audit record cannot be serialized",
                 json_pack("{s:s, s:s}", "action", ev->action, "entity_id", ev->entity_id));
        audit_draft_release(d);
        return false;
    }
    d->ev.changes = NULL; /* the caller's, and now held canonical in d->changes */
    return true;
}

void audit_draft_release(struct audit_draft *d)
{
    buf_release(&d->changes);
    crypto_sha256_discard(d->head);
    d->head = NULL;
}

enum perr_code audit_append_draft(struct store_tx *tx, const uint8_t key[SHA256_BYTES],
                                  struct audit_draft *d, struct perr *err)
{
    PASSERT(tx->kind == STORE_TX_WRITE && d->head != NULL);
    const struct audit_event *ev = &d->ev;
    char prev[SHA256_HEX_BYTES], hash[SHA256_HEX_BYTES], mac[SHA256_HEX_BYTES];
    struct audit_record r = draft_record(d);
    enum perr_code rc = claim_next_seq(tx, ev->chain_id, &r.seq, prev, err);
    if (rc != PERR_OK) {
        return rc;
    }
    r.prev_hash = prev;
    bool hashed = audit_record_end_hash(&r, d->head, hash);
    d->head = NULL;
    if (!hashed) {
        return perr_set(err, PERR_INTERNAL, NULL, NULL);
    }
    audit_record_mac(key, hash, mac);
    rc = store_exec(tx,
                    "INSERT INTO audit_records (chain_id, seq, id, prev_hash, hash, mac, created,"
                    " correlation_id, actor, tenant_id, action, entity_type, entity_id, changes)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    SQL_PARAMS(SV_T(ev->chain_id), SV_I(r.seq), SV_T(d->id), SV_T(prev),
                               SV_T(hash), SV_T(mac), SV_T(d->created), SV_T(ev->correlation_id),
                               SV_T(ev->actor), SV_T(ev->tenant_id), SV_T(ev->action),
                               SV_T(ev->entity_type), SV_T(ev->entity_id),
                               SV_T(buf_str(&d->changes))),
                    NULL, err);
    if (rc == PERR_OK) {
        rc = store_exec(tx, "UPDATE audit_chains SET hash = ? WHERE chain_id = ?",
                        SQL_PARAMS(SV_T(hash), SV_T(ev->chain_id)), NULL, err);
    }
    return rc;
}

enum perr_code audit_append(struct store_tx *tx, const uint8_t key[SHA256_BYTES],
                            const struct audit_event *ev, struct perr *err)
{
    struct audit_draft d;
    if (!audit_draft_init(&d, ev)) {
        return perr_set(err, PERR_INTERNAL, NULL, NULL);
    }
    enum perr_code rc = audit_append_draft(tx, key, &d, err);
    audit_draft_release(&d);
    return rc;
}

enum perr_code audit_checkpoint(struct store *st, const uint8_t key[SHA256_BYTES], int *written,
                                struct perr *err)
{
    struct store_tx tx;
    struct store_rows rows;
    if (written) {
        *written = 0;
    }
    enum perr_code rc = store_tx_begin(st, STORE_TX_WRITE, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    rc =
        store_exec(&tx, "SELECT chain_id, seq, hash FROM audit_chains WHERE seq > checkpointed_seq",
                   SQL_NO_PARAMS, &rows, err);
    if (rc != PERR_OK) {
        store_tx_rollback(&tx);
        return rc;
    }
    char created[RFC3339_BYTES], mac[SHA256_HEX_BYTES];
    time_format_rfc3339_us(time_now_unix_us(), created);
    for (size_t i = 0; i < rows.nrows && rc == PERR_OK; i++) {
        const char *chain = store_rows_get(&rows, i, 0);
        int64_t seq = store_rows_int(&rows, i, 1);
        const char *hash = store_rows_get(&rows, i, 2);
        audit_checkpoint_mac(key, chain, seq, hash, created, mac);
        rc = store_exec(&tx,
                        "INSERT INTO audit_checkpoints (chain_id, seq, hash, created, mac)"
                        " VALUES (?, ?, ?, ?, ?)",
                        SQL_PARAMS(SV_T(chain), SV_I(seq), SV_T(hash), SV_T(created), SV_T(mac)),
                        NULL, err);
        if (rc == PERR_OK) {
            rc = store_exec(&tx, "UPDATE audit_chains SET checkpointed_seq = ? WHERE chain_id = ?",
                            SQL_PARAMS(SV_I(seq), SV_T(chain)), NULL, err);
        }
    }
    size_t n = rows.nrows;
    store_rows_free(&rows);
    if (rc != PERR_OK) {
        store_tx_rollback(&tx);
        return rc;
    }
    rc = store_tx_commit(&tx, err);
    if (rc == PERR_OK && written) {
        *written = (int)n;
    }
    return rc;
}
