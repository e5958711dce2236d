/* The audit trail: hash chains of records, one per tenant (chain id = tenant id) and one for
 * the platform ("platform"). audit_append writes a record inside the caller's write
 * transaction, so a change and its record commit together or not at all; several appends,
 * to one chain or many, may share one transaction. Checkpoints authenticate each chain's
 * head so that truncation is detected; audit_verify walks chains and checkpoints and names
 * the first broken record. docs/audit.md defines the canonical form. */
#ifndef PASARELA_AUDIT_H
#define PASARELA_AUDIT_H

#include <jansson.h>

#include "core/crypto.h"
#include "core/timeutil.h"
#include "store/store.h"

#define AUDIT_PLATFORM_CHAIN "platform"

struct audit_event {
    const char *chain_id;       /* the tenant id, or AUDIT_PLATFORM_CHAIN */
    const char *tenant_id;      /* NULL for platform-wide changes */
    const char *actor;          /* "admin", "key:<id>", "provider:<name>", "system:<job>" */
    const char *correlation_id; /* the request id, or the job's */
    const char *action;         /* "tenant.created", "key.revoked", ... */
    const char *entity_type;
    const char *entity_id;
    json_t *changes; /* {"before": {...}, "after": {...}}; borrowed; never a secret */
};

/* Derives the audit key from the master key: HMAC-SHA256(master, "pasarela audit v1"). */
void audit_derive_key(const uint8_t *master_key, size_t len, uint8_t out[SHA256_BYTES]);

/* Appends ev to its chain inside tx (a write transaction). */
enum perr_code audit_append(struct store_tx *tx, const uint8_t key[SHA256_BYTES],
                            const struct audit_event *ev, struct perr *err) WARN_UNUSED;

/* A record made ready before its write transaction, so that the store's writer only links it
 * into its chain: its id, time, canonical changes and the hash of everything before its place
 * in the chain. The event's strings are borrowed until audit_draft_release, its changes only
 * during audit_draft_init. */
struct audit_draft {
    struct audit_event ev;
    char id[LIMIT_ID_BYTES];
    char created[RFC3339_BYTES];
    struct buf changes;
    struct crypto_sha256 *head;
};
/* False (logged) when the record cannot be serialized. */
bool audit_draft_init(struct audit_draft *d, const struct audit_event *ev) WARN_UNUSED;
enum perr_code audit_append_draft(struct store_tx *tx, const uint8_t key[SHA256_BYTES],
                                  struct audit_draft *d, struct perr *err) WARN_UNUSED;
void audit_draft_release(struct audit_draft *d);

/* Records an authenticated checkpoint of every chain whose head moved since its last one.
 * *written (may be NULL) receives how many were recorded. */
enum perr_code audit_checkpoint(struct store *st, const uint8_t key[SHA256_BYTES], int *written,
                                struct perr *err) WARN_UNUSED;

struct audit_verdict {
    bool intact;
    int64_t chains;
    int64_t records;
    int64_t checkpoints;
    char chain_id[LIMIT_ID_BYTES]; /* where the first problem is */
    int64_t seq;
    const char *problem; /* "modified", "missing", "inserted", "reordered", "truncated", ... */
    char detail[LIMIT_ERROR_MESSAGE_BYTES];
};

/* Verifies one chain (chain_id) or all (NULL). Returns an error only when the store cannot be
 * read; a broken chain is a verdict, not an error. */
enum perr_code audit_verify(struct store *st, const uint8_t key[SHA256_BYTES], const char *chain_id,
                            struct audit_verdict *v, struct perr *err) WARN_UNUSED;

/* The verdict as a JSON object (new reference). */
json_t *audit_verdict_json(const struct audit_verdict *v);

#endif
