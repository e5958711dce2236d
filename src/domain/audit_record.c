#include "domain/audit_record.h"

#include "core/json.h"

bool audit_record_canonical(const struct audit_record *r, struct buf *out)
{
    json_t *o = json_pack(
        "{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:O}", "chain_id", r->chain_id,
        "seq", (json_int_t)r->seq, "id", r->id, "prev_hash", r->prev_hash, "created", r->created,
        "correlation_id", r->correlation_id, "actor", r->actor, "tenant_id", r->tenant_id, "action",
        r->action, "entity_type", r->entity_type, "entity_id", r->entity_id, "changes", r->changes);
    if (!o) {
        return false;
    }
    bool ok = json_canonical(o, out);
    json_decref(o);
    return ok;
}

bool audit_record_hash(const struct audit_record *r, char out[SHA256_HEX_BYTES])
{
    struct buf b;
    buf_init(&b, LIMIT_AUDIT_CHANGES_BYTES + 4096);
    bool ok = audit_record_canonical(r, &b);
    if (ok) {
        crypto_sha256_hex(b.data, b.len, out);
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
