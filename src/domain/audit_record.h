/* The pure part of the audit chain: a record's canonical form, its hash and its MAC. No I/O;
 * the store side is src/audit/. */
#ifndef PASARELA_AUDIT_RECORD_H
#define PASARELA_AUDIT_RECORD_H

#include <jansson.h>

#include "core/buf.h"
#include "core/crypto.h"

struct audit_record {
    const char *chain_id;
    int64_t seq;
    const char *id;
    const char *prev_hash; /* "" for the first record of a chain */
    const char *created;   /* RFC 3339 UTC with microseconds */
    const char *correlation_id;
    const char *actor;
    const char *tenant_id; /* NULL when the record concerns no tenant */
    const char *action;
    const char *entity_type;
    const char *entity_id;
    json_t *changes;
};

/* The canonical form (docs/audit.md): the record as one JSON object, keys sorted, no
 * whitespace, hashed as UTF-8. False when the record cannot be serialized (a float in
 * changes, or over the size limit). */
bool audit_record_canonical(const struct audit_record *r, struct buf *out) WARN_UNUSED;
/* hex SHA-256 of the canonical form. */
bool audit_record_hash(const struct audit_record *r, char out[SHA256_HEX_BYTES]) WARN_UNUSED;
/* The hash in two steps, for a writer that learns prev_hash and seq last: begin hashes the
 * canonical form up to prev_hash (changes_text, when not NULL, is the changes already
 * canonical) and may run anywhere; end, given the record with prev_hash and seq set, hashes
 * the rest into out and frees *h. False when the record cannot be serialized (h is freed). */
bool audit_record_begin_hash(const struct audit_record *r, const char *changes_text,
                             struct crypto_sha256 **h) WARN_UNUSED;
bool audit_record_end_hash(const struct audit_record *r, struct crypto_sha256 *h,
                           char out[SHA256_HEX_BYTES]) WARN_UNUSED;
/* hex HMAC-SHA256(key, hash): proves pasarela, holding the key, wrote the record. */
void audit_record_mac(const uint8_t key[SHA256_BYTES], const char *hash,
                      char out[SHA256_HEX_BYTES]);
/* hex HMAC-SHA256(key, chain "\n" seq "\n" hash "\n" created) of a checkpoint. */
void audit_checkpoint_mac(const uint8_t key[SHA256_BYTES], const char *chain_id, int64_t seq,
                          const char *hash, const char *created, char out[SHA256_HEX_BYTES]);

#endif
