/* The keyring: the keys pasarela keeps in its store because they must outlive a rotation of
 * the master key — the audit key (the MAC of every audit record and checkpoint) and the
 * sandbox's webhook key (it signs deliveries that may still be in flight) — each sealed under
 * the secrets key. The secrets key is derived from the master key, seals every secret at rest
 * and so changes with it; its key id is in every sealed value.
 *
 * On a data directory's first start under this version the stored keys are initialised from
 * the derivations earlier versions used (HMAC-SHA256(master key, label)), so existing records
 * keep verifying; afterwards they are read from the store, whatever the master key.
 * keyring_rotate re-seals every sealed value of the store under a new master key in one
 * transaction. docs/payments.md ("Rotating the master key") is the operator's side. */
#ifndef PASARELA_KEYRING_H
#define PASARELA_KEYRING_H

#include "core/config.h"
#include "core/crypto.h"
#include "store/store.h"

struct keyring {
    uint8_t secrets_key[SHA256_BYTES]; /* derived from the master key; seals secrets at rest */
    char key_id[CRYPTO_KID_BYTES];     /* the secrets key's id, as sealed values name it */
    uint8_t audit_key[SHA256_BYTES];
    uint8_t sandbox_webhook_key[SHA256_BYTES];
};

/* Loads the keyring under master_key. With initialise, stores the keys it lacks (a write
 * transaction; first checking that master_key is the one the store's existing secrets and
 * audit trail were made with); without, never writes, and a store without a keyring yet gets
 * the derived keys (`audit verify` on a data directory not yet served by this version).
 * PERR_CONFLICT, with err naming the key ids, when master_key is not the store's key. */
enum perr_code keyring_open(struct store *st, const uint8_t master_key[MASTER_KEY_BYTES],
                            bool initialise, struct keyring *kr, struct perr *err) WARN_UNUSED;

/* Wipes the keys. */
void keyring_release(struct keyring *kr);

#define KEYRING_SEALED_COLUMNS_MAX 8

/* What keyring_rotate did: per sealed column ("table.column"), how many values it re-sealed. */
struct keyring_rotation {
    char old_key_id[CRYPTO_KID_BYTES];
    char new_key_id[CRYPTO_KID_BYTES];
    size_t ncolumns;
    struct {
        const char *column; /* static */
        int64_t resealed;
    } columns[KEYRING_SEALED_COLUMNS_MAX];
};

/* Re-seals every sealed value of the store (provider account secrets, the keyring) from
 * old_key to new_key in one write transaction: all or nothing. The keyring is first
 * initialised under old_key when the store has none yet. PERR_CONFLICT, with err naming the
 * row (never its contents) and why, when a value cannot be unsealed with old_key; nothing is
 * changed then. The caller makes sure no server uses the store meanwhile. */
enum perr_code keyring_rotate(struct store *st, const uint8_t old_key[MASTER_KEY_BYTES],
                              const uint8_t new_key[MASTER_KEY_BYTES], struct keyring_rotation *rep,
                              struct perr *err) WARN_UNUSED;

#endif
