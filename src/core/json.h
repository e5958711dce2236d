/* JSON on top of jansson: parsing request bodies safely (duplicate keys rejected, depth
 * limited, objects only), reading typed fields with errors that name the field, and the
 * canonical serialization the audit chain hashes. */
#ifndef PASARELA_JSON_H
#define PASARELA_JSON_H

#include <jansson.h>

#include "core/buf.h"
#include "core/errors.h"

/* Parses a request body that must be one JSON object. On success *out is a new reference
 * the caller owns. */
enum perr_code json_parse_object(const char *data, size_t len, json_t **out,
                                 struct perr *err) WARN_UNUSED;

/* Rejects any key of obj not in the NULL-terminated list `allowed` (PERR_PARAM_UNKNOWN). */
enum perr_code json_only_keys(json_t *obj, const char *const *allowed,
                              struct perr *err) WARN_UNUSED;

/* Reads an optional string field (*out stays NULL when absent or null). The string is
 * borrowed from obj. Enforces max_len bytes and valid UTF-8 (jansson guarantees the latter). */
enum perr_code json_get_string(const json_t *obj, const char *key, size_t max_len, const char **out,
                               struct perr *err) WARN_UNUSED;
/* Reads an optional integer field (JSON integer only: 1.0, "1" and true are refused). */
enum perr_code json_get_int(const json_t *obj, const char *key, int64_t min, int64_t max,
                            bool *present, int64_t *out, struct perr *err) WARN_UNUSED;

/* Appends the canonical form of v: object keys sorted by their UTF-8 bytes, no whitespace,
 * integers in decimal, strings escaped exactly as Python's json.dumps(ensure_ascii=False)
 * does. Reals are refused (false): nothing hashed in pasarela is a float. */
bool json_canonical(json_t *v, struct buf *out) WARN_UNUSED;

/* Appends one string in the canonical form's escaping. */
bool json_canonical_string(const char *s, size_t len, struct buf *out) WARN_UNUSED;

/* Dumps compactly (with sorted keys) into a new malloc'd string the caller frees. */
char *json_dump_compact(json_t *v);
/* Dumps compactly with members in insertion order (answers and logs). New string. */
char *json_dump_ordered(json_t *v);

/* Parses a provider's JSON answer keeping its decimals exact: every number with a fraction or
 * an exponent becomes the string of its characters ("12.50"); integers stay integers. NULL
 * when the text is not JSON. New reference. */
json_t *json_loads_exact(const char *text, size_t len);

/* Dumps obj compactly with raw members (`"amount":12.50`, made by the caller from trusted
 * parts only) spliced in first: how exact decimals go out without a float. New string. */
char *json_dump_with_raw(json_t *obj, const char *raw_members);

#endif
