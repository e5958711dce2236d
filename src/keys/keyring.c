#include "keys/keyring.h"

#include "audit/audit.h"
#include "core/timeutil.h"
#include "domain/audit_record.h"
#include "providers/accounts.h"
#include "providers/sandbox.h"

#define KEYRING_MIGRATION 6 /* src/store/migrations/006_keyring.sql */
#define KEYRING_ROW_NAME_BYTES 160

typedef void keyring_derive_fn(const uint8_t *master_key, size_t len, uint8_t out[SHA256_BYTES]);

/* The stored keys, each with the derivation earlier versions used, which initialises it. */
static const struct keyring_entry {
    const char *name;
    size_t offset; /* of the key in struct keyring */
    keyring_derive_fn *derive;
} entries[] = {
    {"audit", offsetof(struct keyring, audit_key), audit_derive_key},
    {"sandbox_webhooks", offsetof(struct keyring, sandbox_webhook_key), sandbox_derive_webhook_key},
};

/* Every column that holds sealed values: rotation re-seals each. A new sealed column must be
 * listed here. `select` yields the key columns, then the sealed value; `update` takes the new
 * sealed value, then the key columns. */
static const struct sealed_column {
    const char *name;
    const char *select;
    const char *update;
    const char *keys[2];
    size_t nkeys;
} sealed_columns[] = {
    {"provider_accounts.secrets",
     "SELECT owner, provider, secrets FROM provider_accounts ORDER BY owner, provider",
     "UPDATE provider_accounts SET secrets = ? WHERE owner = ? AND provider = ?",
     {"owner", "provider"},
     2},
    {"keyring.sealed",
     "SELECT name, sealed FROM keyring ORDER BY name",
     "UPDATE keyring SET sealed = ? WHERE name = ?",
     {"name"},
     1},
};
_Static_assert(ARRAY_LEN(sealed_columns) <= KEYRING_SEALED_COLUMNS_MAX, "too many columns");

static uint8_t *entry_key(struct keyring *kr, const struct keyring_entry *e)
{
    return (uint8_t *)kr + e->offset;
}

void keyring_release(struct keyring *kr)
{
    crypto_wipe(kr, sizeof(*kr));
}

/* Fills err for `what`, a sealed value that key cannot unseal: whose key sealed it, or why
 * it is unreadable. Never the value. */
static enum perr_code refuse(const uint8_t key[SHA256_BYTES], const char *what, const char *sealed,
                             struct perr *err)
{
    char kid[CRYPTO_KID_BYTES], mine[CRYPTO_KID_BYTES];
    crypto_key_id(key, mine);
    enum seal_problem p = crypto_seal_problem(key, sealed, kid);
    if (p == SEAL_OTHER_KEY) {
        return perr_set(err, PERR_CONFLICT, NULL,
                        "%s is sealed under master key id %s, not under the master key given "
                        "(id %s)",
                        what, kid, mine);
    }
    return perr_set(err, PERR_CONFLICT, NULL,
                    "%s cannot be unsealed with the master key given (id %s): %s", what, mine,
                    seal_problem_text(p));
}

static enum perr_code unseal_entry(struct keyring *kr, const struct keyring_entry *e,
                                   const char *sealed, struct perr *err)
{
    char *clear = crypto_unseal(kr->secrets_key, sealed);
    if (!clear) {
        char what[KEYRING_ROW_NAME_BYTES];
        snprintf(what, sizeof(what), "the keyring's %s key", e->name);
        return refuse(kr->secrets_key, what, sealed, err);
    }
    bool ok = base64_decode(clear, entry_key(kr, e), SHA256_BYTES) == SHA256_BYTES;
    crypto_free_secret(clear);
    return ok ? PERR_OK
              : perr_set(err, PERR_INTERNAL, NULL, "the keyring's %s key is not a key", e->name);
}

static enum perr_code insert_entry(struct store_tx *tx, struct keyring *kr,
                                   const struct keyring_entry *e, const uint8_t *master_key,
                                   struct perr *err)
{
    char b64[4 * ((SHA256_BYTES + 2) / 3) + 1], created[RFC3339_BYTES];
    e->derive(master_key, MASTER_KEY_BYTES, entry_key(kr, e));
    base64_encode(entry_key(kr, e), SHA256_BYTES, b64);
    char *sealed = crypto_seal(kr->secrets_key, b64);
    crypto_wipe(b64, sizeof(b64));
    time_format_rfc3339_us(time_now_unix_us(), created);
    enum perr_code rc =
        store_exec(tx, "INSERT INTO keyring (name, sealed, created) VALUES (?, ?, ?)",
                   SQL_PARAMS(SV_T(e->name), SV_T(sealed), SV_T(created)), NULL, err);
    free(sealed);
    return rc;
}

/* Before the keyring is first written: master_key must be the key that sealed the store's
 * secrets and authenticated its audit trail, or the keyring would keep a wrong audit key. */
static enum perr_code check_master_key(struct store_tx *tx, const struct keyring *kr,
                                       const uint8_t *master_key, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = store_exec(tx,
                                   "SELECT owner, provider, secrets FROM provider_accounts"
                                   " ORDER BY owner, provider LIMIT 1",
                                   SQL_NO_PARAMS, &rows, err);
    if (rc == PERR_OK && rows.nrows == 1) {
        char *clear = crypto_unseal(kr->secrets_key, store_rows_get(&rows, 0, 2));
        if (clear) {
            crypto_free_secret(clear);
        } else {
            char what[KEYRING_ROW_NAME_BYTES];
            snprintf(what, sizeof(what), "the secrets of provider account %s/%s",
                     store_rows_get(&rows, 0, 0), store_rows_get(&rows, 0, 1));
            rc = refuse(kr->secrets_key, what, store_rows_get(&rows, 0, 2), err);
        }
    }
    store_rows_free(&rows);
    if (rc != PERR_OK) {
        return rc;
    }
    rc = store_exec(tx, "SELECT hash, mac FROM audit_records ORDER BY chain_id, seq LIMIT 1",
                    SQL_NO_PARAMS, &rows, err);
    if (rc == PERR_OK && rows.nrows == 1) {
        uint8_t audit_key[SHA256_BYTES];
        char mac[SHA256_HEX_BYTES];
        audit_derive_key(master_key, MASTER_KEY_BYTES, audit_key);
        audit_record_mac(audit_key, store_rows_get(&rows, 0, 0), mac);
        crypto_wipe(audit_key, sizeof(audit_key));
        if (!crypto_equal(mac, store_rows_get(&rows, 0, 1), SHA256_HEX_BYTES - 1)) {
            rc = perr_set(err, PERR_CONFLICT, NULL,
                          "the audit trail was not authenticated with the master key given "
                          "(id %s): start with the key this data directory was created with",
                          kr->key_id);
        }
    }
    store_rows_free(&rows);
    return rc;
}

static enum perr_code load_entries(struct store_tx *tx, struct keyring *kr,
                                   const uint8_t *master_key, bool initialise, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc =
        store_exec(tx, "SELECT name, sealed FROM keyring", SQL_NO_PARAMS, &rows, err);
    bool missing[ARRAY_LEN(entries)] = {0};
    bool any_stored = false;
    for (size_t i = 0; rc == PERR_OK && i < ARRAY_LEN(entries); i++) {
        missing[i] = true;
        for (size_t r = 0; r < rows.nrows && missing[i]; r++) {
            if (strcmp(store_rows_get(&rows, r, 0), entries[i].name) == 0) {
                missing[i] = false;
                any_stored = true;
                rc = unseal_entry(kr, &entries[i], store_rows_get(&rows, r, 1), err);
            }
        }
    }
    store_rows_free(&rows);
    if (rc == PERR_OK && initialise && !any_stored) {
        rc = check_master_key(tx, kr, master_key, err);
    }
    for (size_t i = 0; rc == PERR_OK && i < ARRAY_LEN(entries); i++) {
        if (!missing[i]) {
            continue;
        }
        if (initialise) {
            rc = insert_entry(tx, kr, &entries[i], master_key, err);
        } else {
            entries[i].derive(master_key, MASTER_KEY_BYTES, entry_key(kr, &entries[i]));
        }
    }
    return rc;
}

enum perr_code keyring_open(struct store *st, const uint8_t master_key[MASTER_KEY_BYTES],
                            bool initialise, struct keyring *kr, struct perr *err)
{
    *kr = (struct keyring){0};
    accounts_derive_key(master_key, MASTER_KEY_BYTES, kr->secrets_key);
    crypto_key_id(kr->secrets_key, kr->key_id);
    if (!initialise && store_schema_version(st) < KEYRING_MIGRATION) {
        for (size_t i = 0; i < ARRAY_LEN(entries); i++) {
            entries[i].derive(master_key, MASTER_KEY_BYTES, entry_key(kr, &entries[i]));
        }
        return PERR_OK;
    }
    struct store_tx tx;
    enum perr_code rc = store_tx_begin(st, initialise ? STORE_TX_WRITE : STORE_TX_READ, &tx, err);
    if (rc == PERR_OK) {
        rc = load_entries(&tx, kr, master_key, initialise, err);
        rc = store_tx_finish(&tx, rc, err);
    }
    if (rc != PERR_OK) {
        keyring_release(kr);
    }
    return rc;
}

/* "provider_accounts.secrets of owner=ten_…, provider=stripe": names a row, not its value. */
static void row_name(const struct sealed_column *c, const struct store_rows *rows, size_t r,
                     char out[KEYRING_ROW_NAME_BYTES])
{
    int n = snprintf(out, KEYRING_ROW_NAME_BYTES, "%s of", c->name);
    for (size_t k = 0; k < c->nkeys && n > 0 && n < KEYRING_ROW_NAME_BYTES; k++) {
        n += snprintf(out + n, KEYRING_ROW_NAME_BYTES - (size_t)n, "%s %s=%s", k ? "," : "",
                      c->keys[k], store_rows_get(rows, r, k));
    }
}

static enum perr_code reseal_row(struct store_tx *tx, const struct sealed_column *c,
                                 const struct store_rows *rows, size_t r,
                                 const uint8_t old_key[SHA256_BYTES],
                                 const uint8_t new_key[SHA256_BYTES], struct perr *err)
{
    const char *sealed = store_rows_get(rows, r, c->nkeys);
    char *clear = crypto_unseal(old_key, sealed);
    if (!clear) {
        char what[KEYRING_ROW_NAME_BYTES];
        row_name(c, rows, r, what);
        return refuse(old_key, what, sealed, err);
    }
    char *resealed = crypto_seal(new_key, clear);
    crypto_free_secret(clear);
    struct sv params[1 + ARRAY_LEN(c->keys)] = {SV_T(resealed)};
    for (size_t k = 0; k < c->nkeys; k++) {
        params[1 + k] = SV_T(store_rows_get(rows, r, k));
    }
    enum perr_code rc = store_exec(tx, c->update, params, 1 + c->nkeys, NULL, err);
    free(resealed);
    return rc;
}

static enum perr_code reseal_column(struct store_tx *tx, const struct sealed_column *c,
                                    const uint8_t old_key[SHA256_BYTES],
                                    const uint8_t new_key[SHA256_BYTES], int64_t *resealed,
                                    struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = store_exec(tx, c->select, SQL_NO_PARAMS, &rows, err);
    for (size_t r = 0; rc == PERR_OK && r < rows.nrows; r++) {
        rc = reseal_row(tx, c, &rows, r, old_key, new_key, err);
        *resealed += rc == PERR_OK;
    }
    store_rows_free(&rows);
    return rc;
}

enum perr_code keyring_rotate(struct store *st, const uint8_t old_key[MASTER_KEY_BYTES],
                              const uint8_t new_key[MASTER_KEY_BYTES], struct keyring_rotation *rep,
                              struct perr *err)
{
    struct keyring old, next;
    *rep = (struct keyring_rotation){.ncolumns = ARRAY_LEN(sealed_columns)};
    enum perr_code rc = keyring_open(st, old_key, true, &old, err);
    if (rc != PERR_OK) {
        return rc;
    }
    next = (struct keyring){0};
    accounts_derive_key(new_key, MASTER_KEY_BYTES, next.secrets_key);
    crypto_key_id(old.secrets_key, rep->old_key_id);
    crypto_key_id(next.secrets_key, rep->new_key_id);
    struct store_tx tx;
    rc = store_tx_begin(st, STORE_TX_WRITE, &tx, err);
    if (rc == PERR_OK) {
        for (size_t i = 0; rc == PERR_OK && i < ARRAY_LEN(sealed_columns); i++) {
            rep->columns[i].column = sealed_columns[i].name;
            rc = reseal_column(&tx, &sealed_columns[i], old.secrets_key, next.secrets_key,
                               &rep->columns[i].resealed, err);
        }
        rc = store_tx_finish(&tx, rc, err);
    }
    keyring_release(&old);
    keyring_release(&next);
    return rc;
}
