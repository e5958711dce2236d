#include "http/idempotency.h"

#include "app.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"

enum claim_result { CLAIMED, REPLAY, MISMATCH, BUSY, FAILED };

static bool valid_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > IDEMPOTENCY_KEY_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (k[i] < 0x21 || k[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

static void request_digest(struct request *req)
{
    struct buf b;
    buf_init(&b, LIMIT_BODY_BYTES * 2);
    bool ok = buf_printf(&b, "%s %s\n", req->method, req->path) &&
              (!req->json || json_canonical(req->json, &b));
    if (!ok) { /* cannot happen for parsed bodies under the limits; hash what we have */
        buf_reset(&b);
    }
    crypto_sha256_hex(buf_str(&b), b.len, req->idem.request_sha256);
    buf_release(&b);
}

/* One attempt: claim the key, or report what holds it. */
static enum claim_result try_claim(struct request *req, struct response *res)
{
    struct store_tx tx;
    struct store_rows rows;
    struct perr err;
    int64_t now = time_now_unix_us();
    if (store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, &err) != PERR_OK) {
        respond_error(res, &err);
        return FAILED;
    }
    enum perr_code rc =
        store_exec(&tx,
                   "SELECT request_sha256, state, status, response, created_us"
                   " FROM idempotency_keys WHERE tenant_id = ? AND idem_key = ?",
                   SQL_PARAMS(SV_T(req->idem.scope), SV_T(req->idem.key)), &rows, &err);
    enum claim_result result = FAILED;
    if (rc != PERR_OK) {
        store_tx_rollback(&tx);
        respond_error(res, &err);
        return FAILED;
    }
    bool expired = rows.nrows == 1 &&
                   store_rows_int(&rows, 0, 4) < now - (int64_t)IDEMPOTENCY_RETENTION_S * 1000000;
    bool abandoned = rows.nrows == 1 && strcmp(store_rows_get(&rows, 0, 1), "running") == 0 &&
                     store_rows_int(&rows, 0, 4) < now - (int64_t)IDEMPOTENCY_ABANDONED_S * 1000000;
    if (rows.nrows == 0 || expired || abandoned) {
        if (rows.nrows == 1) {
            rc =
                store_exec(&tx, "DELETE FROM idempotency_keys WHERE tenant_id = ? AND idem_key = ?",
                           SQL_PARAMS(SV_T(req->idem.scope), SV_T(req->idem.key)), NULL, &err);
        }
        if (rc == PERR_OK) {
            rc = store_exec(&tx,
                            "INSERT INTO idempotency_keys (tenant_id, idem_key, request_sha256,"
                            " state, created_us) VALUES (?, ?, ?, 'running', ?)",
                            SQL_PARAMS(SV_T(req->idem.scope), SV_T(req->idem.key),
                                       SV_T(req->idem.request_sha256), SV_I(now)),
                            NULL, &err);
        }
        result = CLAIMED;
    } else if (strcmp(store_rows_get(&rows, 0, 0), req->idem.request_sha256) != 0) {
        result = MISMATCH;
    } else if (strcmp(store_rows_get(&rows, 0, 1), "done") == 0) {
        respond_raw_json(res, (int)store_rows_int(&rows, 0, 2),
                         xstrdup(store_rows_get(&rows, 0, 3)));
        res->replayed = true;
        result = REPLAY;
    } else {
        result = BUSY;
    }
    store_rows_free(&rows);
    rc = store_tx_finish(&tx, rc, &err);
    if (rc == PERR_CONFLICT) {
        return BUSY; /* another request claimed the key between our read and our insert */
    }
    if (rc != PERR_OK) {
        respond_error(res, &err);
        return FAILED;
    }
    return result;
}

bool idempotency_begin(struct request *req, struct response *res)
{
    const char *key = request_header(req, "Idempotency-Key");
    if (!key) {
        return true;
    }
    if (!valid_key(key)) {
        respond_fail(res, PERR_HEADER_INVALID, "Idempotency-Key",
                     "Idempotency-Key must be 1 to %d printable ASCII characters.",
                     IDEMPOTENCY_KEY_MAX);
        return false;
    }
    str_copy(req->idem.key, sizeof(req->idem.key), key);
    str_copy(req->idem.scope, sizeof(req->idem.scope),
             req->auth.tenant_id[0] ? req->auth.tenant_id : "platform");
    request_digest(req);
    for (int waited_ms = 0; waited_ms < IDEMPOTENCY_WAIT_MS; waited_ms += 5) {
        switch (try_claim(req, res)) {
        case CLAIMED:
            req->idem.claimed = true;
            return true;
        case REPLAY:
        case FAILED:
            return false;
        case MISMATCH:
            respond_fail(res, PERR_IDEMPOTENCY_KEY_REUSED, "Idempotency-Key", NULL);
            return false;
        case BUSY:
            time_sleep_ms(5);
            break;
        }
    }
    respond_fail(res, PERR_IDEMPOTENCY_KEY_IN_USE, "Idempotency-Key", NULL);
    return false;
}

enum perr_code idempotency_store(struct request *req, struct store_tx *tx, int status,
                                 json_t *body, struct perr *err)
{
    if (!req->idem.claimed) {
        return PERR_OK;
    }
    char *text = json_dump_ordered(body);
    PASSERT(text != NULL);
    enum perr_code rc =
        store_exec(tx,
                   "UPDATE idempotency_keys SET state = 'done', status = ?,"
                   " response = ? WHERE tenant_id = ? AND idem_key = ?",
                   SQL_PARAMS(SV_I(status), SV_T(text), SV_T(req->idem.scope), SV_T(req->idem.key)),
                   NULL, err);
    free(text);
    req->idem.stored = rc == PERR_OK;
    return rc;
}

void idempotency_end(struct request *req)
{
    if (!req->idem.claimed || req->idem.stored) {
        return;
    }
    struct store_tx tx;
    struct perr err;
    if (store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, &err) != PERR_OK) {
        return; /* the claim is taken over once abandoned */
    }
    enum perr_code rc =
        store_exec(&tx,
                   "DELETE FROM idempotency_keys WHERE tenant_id = ? AND"
                   " idem_key = ? AND state = 'running'",
                   SQL_PARAMS(SV_T(req->idem.scope), SV_T(req->idem.key)), NULL, &err);
    if (store_tx_finish(&tx, rc, &err) != PERR_OK) {
        log_msg(LOG_WARN, "could not record: %s", err.message);
    }
}

int64_t idempotency_expire(struct store *st)
{
    struct store_tx tx;
    struct perr err;
    int64_t n = 0;
    int64_t cutoff = time_now_unix_us() - (int64_t)IDEMPOTENCY_RETENTION_S * 1000000;
    if (store_tx_begin(st, STORE_TX_WRITE, &tx, &err) != PERR_OK) {
        return 0;
    }
    enum perr_code rc = store_exec_changes(&tx, "DELETE FROM idempotency_keys WHERE created_us < ?",
                                           SQL_PARAMS(SV_I(cutoff)), &n, &err);
    return store_tx_finish(&tx, rc, &err) == PERR_OK ? n : 0;
}
