/* Unit tests for domain/audit_record.h: the canonical form (docs/audit.md) byte for byte, its
 * SHA-256, that every field is covered by the hash, and the record and checkpoint MACs.
 * Expected hashes and MACs were computed once with Python's json, hashlib and hmac. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "domain/audit_record.h"

/* The fixed record, written out by hand in canonical form: keys sorted at every level, no
 * whitespace, tenant_id null, escapes as json.dumps(ensure_ascii=False) writes them. */
static const char fixed_canonical[] =
    "{\"action\":\"tenant.created\",\"actor\":\"admin\",\"chain_id\":\"platform\","
    "\"changes\":{\"after\":{\"fee_bps\":100,\"gone\":null,\"limits\":{\"MXN\":100000},"
    "\"name\":\"Acme, S.A. \xe2\x80\x94 M\xc3\xa9xico\",\"note\":\"tab\\there \\\"q\\\" \\\\ "
    "\\u0001\",\"ok\":true},\"before\":{}},\"correlation_id\":\"req-42\","
    "\"created\":\"2026-11-22T02:46:36.722679Z\",\"entity_id\":\"ten_0VbfNHYuiaKwuAJFUdnQPF7M\","
    "\"entity_type\":\"tenant\",\"id\":\"aud_0VbfNHYwEGzxIWToEGuzrW2I\","
    "\"prev_hash\":\"c147d64d1e1b6fa47207ecc413eed1466d45d115e18c454dac1d60c9fbdfbf0b\","
    "\"seq\":7,\"tenant_id\":null}";
/* hashlib.sha256(fixed_canonical.encode()).hexdigest() */
static const char fixed_hash[] = "c58b5bfd938ff4f070e8a32418d679355d2ac344461b190d4faedca215d03ca1";
/* hmac.new(bytes(range(32)), fixed_hash.encode(), hashlib.sha256).hexdigest() */
static const char fixed_mac[] = "9cafb3d4ac0daf18b089968f7f70311729344a32aaca04537d6f39b933966580";
/* The same key over "platform\n7\n" + fixed_hash + "\n2026-11-22T02:46:36.722679Z". */
static const char fixed_checkpoint_mac[] =
    "737c9472df2ad42f3e7ecdd737e4512646c87179eb5532b3cca1798bc05b926e";

static json_t *fixed_changes(void)
{
    return json_pack("{s:{}, s:{s:s, s:s, s:i, s:{s:i}, s:b, s:n}}", "before", "after", "name",
                     "Acme, S.A. \xe2\x80\x94 M\xc3\xa9xico", "note", "tab\there \"q\" \\ \x01",
                     "fee_bps", 100, "limits", "MXN", 100000, "ok", 1, "gone");
}

/* The fixed record; the caller decrefs r->changes. */
static struct audit_record fixed_record(void)
{
    return (struct audit_record){
        .chain_id = "platform",
        .seq = 7,
        .id = "aud_0VbfNHYwEGzxIWToEGuzrW2I",
        .prev_hash = "c147d64d1e1b6fa47207ecc413eed1466d45d115e18c454dac1d60c9fbdfbf0b",
        .created = "2026-11-22T02:46:36.722679Z",
        .correlation_id = "req-42",
        .actor = "admin",
        .tenant_id = NULL,
        .action = "tenant.created",
        .entity_type = "tenant",
        .entity_id = "ten_0VbfNHYuiaKwuAJFUdnQPF7M",
        .changes = fixed_changes(),
    };
}

static void master_key(uint8_t key[SHA256_BYTES], uint8_t first)
{
    for (size_t i = 0; i < SHA256_BYTES; i++) {
        key[i] = (uint8_t)(first + i);
    }
}

static char *canonical_of(const struct audit_record *r)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    char *s = audit_record_canonical(r, &b) ? xstrdup(buf_str(&b)) : NULL;
    buf_release(&b);
    return s;
}

static void test_canonical_fixed_record(void **state)
{
    (void)state;
    struct audit_record r = fixed_record();
    char *s = canonical_of(&r);
    assert_non_null(s);
    assert_string_equal(s, fixed_canonical);
    free(s);
    json_decref(r.changes);
}

static void test_hash_fixed_record(void **state)
{
    (void)state;
    struct audit_record r = fixed_record();
    char hash[SHA256_HEX_BYTES];
    assert_true(audit_record_hash(&r, hash));
    assert_string_equal(hash, fixed_hash);

    /* It is the SHA-256 of the canonical form, nothing more. */
    char direct[SHA256_HEX_BYTES];
    crypto_sha256_hex(fixed_canonical, strlen(fixed_canonical), direct);
    assert_string_equal(hash, direct);
    json_decref(r.changes);
}

/* Record 2 of docs/audit-example.json, whose canonical form and hash docs/audit.md prints. */
static void test_documented_example(void **state)
{
    (void)state;
    json_t *changes =
        json_pack("{s:{}, s:{s:s, s:s, s:s, s:s, s:s, s:n, s:s}}", "before", "after", "created",
                  "2026-11-22T02:46:36Z", "id", "key_0VbfNHd8GQJfG48i3X1YQ7iN", "last4", "g8TG",
                  "name", "web \"shop\"", "object", "api_key", "revoked", "tenant_id",
                  "ten_0VbfNHYuiaKwuAJFUdnQPF7M");
    struct audit_record r = {
        .chain_id = "ten_0VbfNHYuiaKwuAJFUdnQPF7M",
        .seq = 2,
        .id = "aud_0VbfNHd9iLXPPrXVSsrpL7wu",
        .prev_hash = "c147d64d1e1b6fa47207ecc413eed1466d45d115e18c454dac1d60c9fbdfbf0b",
        .created = "2026-11-22T02:46:36.983154Z",
        .correlation_id = "example-2",
        .actor = "admin",
        .tenant_id = "ten_0VbfNHYuiaKwuAJFUdnQPF7M",
        .action = "key.created",
        .entity_type = "api_key",
        .entity_id = "key_0VbfNHd8GQJfG48i3X1YQ7iN",
        .changes = changes,
    };
    char *s = canonical_of(&r);
    assert_non_null(s);
    assert_string_equal(
        s,
        "{\"action\":\"key.created\",\"actor\":\"admin\",\"chain_id\":\"ten_"
        "0VbfNHYuiaKwuAJFUdnQPF7M\","
        "\"changes\":{\"after\":{\"created\":\"2026-11-22T02:46:36Z\",\"id\":"
        "\"key_0VbfNHd8GQJfG48i3X1YQ7iN\",\"last4\":\"g8TG\",\"name\":\"web \\\"shop\\\"\","
        "\"object\":\"api_key\",\"revoked\":null,\"tenant_id\":\"ten_0VbfNHYuiaKwuAJFUdnQPF7M\"},"
        "\"before\":{}},\"correlation_id\":\"example-2\",\"created\":"
        "\"2026-11-22T02:46:36.983154Z\",\"entity_id\":\"key_0VbfNHd8GQJfG48i3X1YQ7iN\","
        "\"entity_type\":\"api_key\",\"id\":\"aud_0VbfNHd9iLXPPrXVSsrpL7wu\",\"prev_hash\":"
        "\"c147d64d1e1b6fa47207ecc413eed1466d45d115e18c454dac1d60c9fbdfbf0b\",\"seq\":2,"
        "\"tenant_id\":\"ten_0VbfNHYuiaKwuAJFUdnQPF7M\"}");
    free(s);
    char hash[SHA256_HEX_BYTES];
    assert_true(audit_record_hash(&r, hash));
    assert_string_equal(hash, "ccf4ab8f27949df828884fdef4675f29ad592e6013ee47130f28daedee6c56c7");
    json_decref(changes);
}

static void test_tenant_id_null_and_set(void **state)
{
    (void)state;
    struct audit_record r = fixed_record();
    char *s = canonical_of(&r);
    assert_non_null(strstr(s, "\"tenant_id\":null}"));
    free(s);

    r.tenant_id = "ten_0VbfNHYuiaKwuAJFUdnQPF7M";
    s = canonical_of(&r);
    assert_non_null(strstr(s, "\"tenant_id\":\"ten_0VbfNHYuiaKwuAJFUdnQPF7M\"}"));
    free(s);

    /* null and the string "null" are different records. */
    r.tenant_id = "null";
    s = canonical_of(&r);
    assert_non_null(strstr(s, "\"tenant_id\":\"null\"}"));
    free(s);
    json_decref(r.changes);
}

static void test_first_record_prev_hash_empty(void **state)
{
    (void)state;
    struct audit_record r = fixed_record();
    r.seq = 1;
    r.prev_hash = "";
    char *s = canonical_of(&r);
    assert_non_null(strstr(s, ",\"prev_hash\":\"\",\"seq\":1,"));
    free(s);
    json_decref(r.changes);
}

/* Changes field number `field` (0..11) of r to another value. */
static void mutate(struct audit_record *r, int field, json_t *other_changes)
{
    switch (field) {
    case 0:
        r->chain_id = "platforn";
        break;
    case 1:
        r->seq = 8;
        break;
    case 2:
        r->id = "aud_0VbfNHYwEGzxIWToEGuzrW2J";
        break;
    case 3:
        r->prev_hash = "c147d64d1e1b6fa47207ecc413eed1466d45d115e18c454dac1d60c9fbdfbf0c";
        break;
    case 4:
        r->created = "2026-11-22T02:46:36.722680Z";
        break;
    case 5:
        r->correlation_id = "req-43";
        break;
    case 6:
        r->actor = "key:key_0VbfNHd8GQJfG48i3X1YQ7iN";
        break;
    case 7:
        r->tenant_id = "ten_0VbfNHYuiaKwuAJFUdnQPF7M";
        break;
    case 8:
        r->action = "tenant.updated";
        break;
    case 9:
        r->entity_type = "api_key";
        break;
    case 10:
        r->entity_id = "ten_0VbfNHYuiaKwuAJFUdnQPF7N";
        break;
    case 11:
        r->changes = other_changes;
        break;
    default:
        fail_msg("no field %d", field);
    }
}

static void test_every_field_changes_hash(void **state)
{
    (void)state;
    struct audit_record base = fixed_record();
    json_t *other = fixed_changes();
    json_object_set_new(json_object_get(other, "after"), "fee_bps", json_integer(101));
    char hashes[12][SHA256_HEX_BYTES];
    for (int field = 0; field < 12; field++) {
        struct audit_record r = base;
        mutate(&r, field, other);
        char h[SHA256_HEX_BYTES];
        assert_true(audit_record_hash(&r, h));
        assert_string_not_equal(h, fixed_hash);
        for (int earlier = 0; earlier < field; earlier++) {
            assert_string_not_equal(h, hashes[earlier]);
        }
        memcpy(hashes[field], h, sizeof(h));
    }
    /* The unchanged record still hashes as before: the loop mutated copies only. */
    char hash[SHA256_HEX_BYTES];
    assert_true(audit_record_hash(&base, hash));
    assert_string_equal(hash, fixed_hash);

    /* A key order change inside changes is not a change: the form is canonical. */
    json_t *reordered =
        json_pack("{s:{s:b, s:n, s:{s:i}, s:i, s:s, s:s}, s:{}}", "after", "ok", 1, "gone",
                  "limits", "MXN", 100000, "fee_bps", 100, "note", "tab\there \"q\" \\ \x01",
                  "name", "Acme, S.A. \xe2\x80\x94 M\xc3\xa9xico", "before");
    struct audit_record r = base;
    r.changes = reordered;
    assert_true(audit_record_hash(&r, hash));
    assert_string_equal(hash, fixed_hash);
    json_decref(reordered);
    json_decref(other);
    json_decref(base.changes);
}

static void test_unserializable_records(void **state)
{
    (void)state;
    char hash[SHA256_HEX_BYTES] = "";
    struct audit_record r = fixed_record();
    json_t *good = r.changes;

    /* A float anywhere in changes. */
    r.changes = json_pack("{s:{s:f}}", "after", "amount", 10.5);
    assert_null(canonical_of(&r));
    assert_false(audit_record_hash(&r, hash));
    json_decref(r.changes);

    /* Over the size limit. */
    size_t big_len = LIMIT_AUDIT_CHANGES_BYTES + 4096;
    char *big = xmalloc(big_len + 1);
    memset(big, 'a', big_len);
    big[big_len] = '\0';
    r.changes = json_pack("{s:s}", "after", big);
    assert_false(audit_record_hash(&r, hash));
    json_decref(r.changes);
    free(big);

    /* A missing required field or missing changes is refused, not serialized as null. */
    r.changes = NULL;
    assert_null(canonical_of(&r));
    r.changes = good;
    r.actor = NULL;
    assert_null(canonical_of(&r));
    json_decref(good);
}

static void test_record_mac(void **state)
{
    (void)state;
    uint8_t key[SHA256_BYTES], other_key[SHA256_BYTES];
    master_key(key, 0);
    master_key(other_key, 1);
    char mac[SHA256_HEX_BYTES], again[SHA256_HEX_BYTES], other[SHA256_HEX_BYTES];

    audit_record_mac(key, fixed_hash, mac);
    assert_string_equal(mac, fixed_mac);
    audit_record_mac(key, fixed_hash, again);
    assert_string_equal(mac, again);

    audit_record_mac(other_key, fixed_hash, other);
    assert_string_not_equal(mac, other);

    /* It covers the hash: another hash, another MAC. */
    audit_record_mac(key, "c58b5bfd938ff4f070e8a32418d679355d2ac344461b190d4faedca215d03ca2",
                     other);
    assert_string_not_equal(mac, other);

    /* It is not the plain SHA-256 of the hash: without the key it cannot be recomputed. */
    char plain[SHA256_HEX_BYTES];
    crypto_sha256_hex(fixed_hash, strlen(fixed_hash), plain);
    assert_string_not_equal(mac, plain);
}

static void test_checkpoint_mac(void **state)
{
    (void)state;
    static const char created[] = "2026-11-22T02:46:36.722679Z";
    uint8_t key[SHA256_BYTES], other_key[SHA256_BYTES];
    master_key(key, 0);
    master_key(other_key, 1);
    char mac[SHA256_HEX_BYTES], again[SHA256_HEX_BYTES], other[SHA256_HEX_BYTES];

    audit_checkpoint_mac(key, "platform", 7, fixed_hash, created, mac);
    assert_string_equal(mac, fixed_checkpoint_mac);
    audit_checkpoint_mac(key, "platform", 7, fixed_hash, created, again);
    assert_string_equal(mac, again);

    audit_checkpoint_mac(other_key, "platform", 7, fixed_hash, created, other);
    assert_string_not_equal(mac, other);
    audit_checkpoint_mac(key, "platforM", 7, fixed_hash, created, other);
    assert_string_not_equal(mac, other);
    audit_checkpoint_mac(key, "platform", 70, fixed_hash, created, other);
    assert_string_not_equal(mac, other);
    audit_checkpoint_mac(key, "platform", 7, fixed_mac, created, other);
    assert_string_not_equal(mac, other);
    audit_checkpoint_mac(key, "platform", 7, fixed_hash, "2026-11-22T02:46:36.722670Z", other);
    assert_string_not_equal(mac, other);

    /* The fields are separated: moving a digit from seq into chain_id changes the MAC. */
    char a[SHA256_HEX_BYTES], b[SHA256_HEX_BYTES];
    audit_checkpoint_mac(key, "chain1", 23, fixed_hash, created, a);
    audit_checkpoint_mac(key, "chain12", 3, fixed_hash, created, b);
    assert_string_not_equal(a, b);

    /* A checkpoint MAC is not a record MAC of the same hash. */
    audit_record_mac(key, fixed_hash, other);
    assert_string_not_equal(mac, other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_fixed_record),
        cmocka_unit_test(test_hash_fixed_record),
        cmocka_unit_test(test_documented_example),
        cmocka_unit_test(test_tenant_id_null_and_set),
        cmocka_unit_test(test_first_record_prev_hash_empty),
        cmocka_unit_test(test_every_field_changes_hash),
        cmocka_unit_test(test_unserializable_records),
        cmocka_unit_test(test_record_mac),
        cmocka_unit_test(test_checkpoint_mac),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
