#include "domain/audit_record.h"

#include "core/json.h"

/* One `"key":"string"` member, with the separator before it unless it is the first. */
static bool member(struct buf *out, const char *key, const char *value, bool first)
{
    return buf_append_str(out, first ? "{\"" : ",\"") && buf_append_str(out, key) &&
           buf_append_str(out, "\":") &&
           (value ? json_canonical_string(value, strlen(value), out) : buf_append_str(out, "null"));
}

/* The members in the canonical (sorted) order of their keys, written directly: the same text
 * json_canonical gives for the record as one object. The head runs up to the previous hash's
 * value, which only the chain's writer knows, and the tail from there. */
static bool canonical_head(const struct audit_record *r, const char *changes_text, struct buf *out)
{
    /* Every field but tenant_id is required: a missing one is refused, not written as null. */
    if (!r->action || !r->actor || !r->chain_id || !r->correlation_id || !r->created ||
        !r->entity_id || !r->entity_type || !r->id || (!changes_text && !r->changes)) {
        return false;
    }
    bool ok = member(out, "action", r->action, true) && member(out, "actor", r->actor, false) &&
              member(out, "chain_id", r->chain_id, false) && buf_append_str(out, ",\"changes\":");
    ok = ok && (changes_text ? buf_append_str(out, changes_text) : json_canonical(r->changes, out));
    return ok && member(out, "correlation_id", r->correlation_id, false) &&
           member(out, "created", r->created, false) &&
           member(out, "entity_id", r->entity_id, false) &&
           member(out, "entity_type", r->entity_type, false) && member(out, "id", r->id, false) &&
           buf_append_str(out, ",\"prev_hash\":");
}

static bool canonical_tail(const struct audit_record *r, struct buf *out)
{
    return r->prev_hash && json_canonical_string(r->prev_hash, strlen(r->prev_hash), out) &&
           buf_printf(out, ",\"seq\":%lld", (long long)r->seq) &&
           member(out, "tenant_id", r->tenant_id, false) && buf_append_str(out, "}");
}

static bool canonical(const struct audit_record *r, const char *changes_text, struct buf *out)
{
    return r->prev_hash && canonical_head(r, changes_text, out) && canonical_tail(r, out);
}

bool audit_record_canonical(const struct audit_record *r, struct buf *out)
{
    return canonical(r, NULL, out);
}

static bool hash_of(const struct audit_record *r, const char *changes_text,
                    char out[SHA256_HEX_BYTES])
{
    struct buf b;
    buf_init(&b, LIMIT_AUDIT_CHANGES_BYTES + 4096);
    bool ok = canonical(r, changes_text, &b);
    if (ok) {
        crypto_sha256_hex(b.data, b.len, out);
    }
    buf_release(&b);
    return ok;
}

bool audit_record_hash(const struct audit_record *r, char out[SHA256_HEX_BYTES])
{
    return hash_of(r, NULL, out);
}

bool audit_record_begin_hash(const struct audit_record *r, const char *changes_text,
                             struct crypto_sha256 **out)
{
    struct buf b;
    buf_init(&b, LIMIT_AUDIT_CHANGES_BYTES + 4096);
    bool ok = canonical_head(r, changes_text, &b);
    *out = NULL;
    if (ok) {
        *out = crypto_sha256_begin();
        crypto_sha256_update(*out, b.data, b.len);
    }
    buf_release(&b);
    return ok;
}

bool audit_record_end_hash(const struct audit_record *r, struct crypto_sha256 *h,
                           char out[SHA256_HEX_BYTES])
{
    struct buf b;
    buf_init(&b, 1024);
    bool ok = canonical_tail(r, &b);
    if (ok) {
        uint8_t digest[SHA256_BYTES];
        crypto_sha256_update(h, b.data, b.len);
        crypto_sha256_end(h, digest);
        hex_encode(digest, sizeof(digest), out);
    } else {
        crypto_sha256_discard(h);
    }
    buf_release(&b);
    return ok;
}

void audit_record_mac(const uint8_t key[SHA256_BYTES], const char *hash, char out[SHA256_HEX_BYTES])
{
    uint8_t mac[SHA256_BYTES];
    crypto_hmac_sha256(key, SHA256_BYTES, hash, strlen(hash), mac);
    hex_encode(mac, sizeof(mac), out);
}

void audit_checkpoint_mac(const uint8_t key[SHA256_BYTES], const char *chain_id, int64_t seq,
                          const char *hash, const char *created, char out[SHA256_HEX_BYTES])
{
    char text[512];
    int n =
        snprintf(text, sizeof(text), "%s\n%lld\n%s\n%s", chain_id, (long long)seq, hash, created);
    PASSERT(n > 0 && (size_t)n < sizeof(text));
    uint8_t mac[SHA256_BYTES];
    crypto_hmac_sha256(key, SHA256_BYTES, text, (size_t)n, mac);
    hex_encode(mac, sizeof(mac), out);
}
