#include "core/json.h"

/* Depth is checked on the raw bytes before jansson builds anything, so a body of a million
 * '[' costs a scan, not a million allocations. */
static bool depth_within_limit(const char *data, size_t len)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (in_string) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > LIMIT_JSON_DEPTH) {
                return false;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return true;
}

enum perr_code json_parse_object(const char *data, size_t len, json_t **out, struct perr *err)
{
    *out = NULL;
    if (len == 0) {
        return perr_set(err, PERR_INVALID_JSON, NULL,
                        "The request body is empty; send a JSON object.");
    }
    if (!depth_within_limit(data, len)) {
        return perr_set(err, PERR_INVALID_JSON, NULL,
                        "The request body nests deeper than %d levels.", LIMIT_JSON_DEPTH);
    }
    json_error_t jerr;
    json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v) {
        return perr_set(err, PERR_INVALID_JSON, NULL,
                        "The request body is not valid JSON (line %d, column %d): %.120s",
                        jerr.line, jerr.column, jerr.text);
    }
    if (!json_is_object(v)) {
        json_decref(v);
        return perr_set(err, PERR_INVALID_JSON, NULL, "The request body must be a JSON object.");
    }
    *out = v;
    return PERR_OK;
}

enum perr_code json_only_keys(json_t *obj, const char *const *allowed, struct perr *err)
{
    const char *key;
    json_t *value;
    json_object_foreach (obj, key, value) {
        (void)value;
        bool known = false;
        for (size_t i = 0; allowed[i]; i++) {
            if (strcmp(allowed[i], key) == 0) {
                known = true;
                break;
            }
        }
        if (!known) {
            return perr_set(err, PERR_PARAM_UNKNOWN, key, "Unknown parameter '%.64s'.", key);
        }
    }
    return PERR_OK;
}

enum perr_code json_get_string(const json_t *obj, const char *key, size_t max_len, const char **out,
                               struct perr *err)
{
    *out = NULL;
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        return PERR_OK;
    }
    if (!json_is_string(v)) {
        return perr_set(err, PERR_PARAM_INVALID, key, "'%s' must be a string.", key);
    }
    if (json_string_length(v) > max_len) {
        return perr_set(err, PERR_PARAM_INVALID, key, "'%s' must be at most %zu bytes.", key,
                        max_len);
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        return perr_set(err, PERR_PARAM_INVALID, key, "'%s' must not contain NUL characters.", key);
    }
    *out = json_string_value(v);
    return PERR_OK;
}

enum perr_code json_get_int(const json_t *obj, const char *key, int64_t min, int64_t max,
                            bool *present, int64_t *out, struct perr *err)
{
    *present = false;
    json_t *v = json_object_get(obj, key);
    if (!v) {
        return PERR_OK;
    }
    if (!json_is_integer(v)) {
        return perr_set(err, PERR_PARAM_INVALID, key, "'%s' must be an integer.", key);
    }
    json_int_t n = json_integer_value(v);
    if (n < min || n > max) {
        return perr_set(err, PERR_PARAM_INVALID, key, "'%s' must be between %lld and %lld.", key,
                        (long long)min, (long long)max);
    }
    *present = true;
    *out = n;
    return PERR_OK;
}

bool json_canonical_string(const char *s, size_t len, struct buf *out)
{
    bool ok = buf_append(out, "\"", 1);
    size_t run = 0; /* start of the current run of bytes that need no escaping */
    for (size_t i = 0; i < len && ok; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char hex[8];
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        default:
            if (c < 0x20) {
                snprintf(hex, sizeof(hex), "\\u%04x", c);
                esc = hex;
            }
        }
        if (esc) {
            ok = buf_append(out, s + run, i - run) && buf_append_str(out, esc);
            run = i + 1;
        }
    }
    return ok && buf_append(out, s + run, len - run) && buf_append(out, "\"", 1);
}

/* A member of an object being written: its key and value, borrowed from the object. */
struct member {
    const char *key;
    json_t *value;
};

static int compare_members(const void *a, const void *b)
{
    return strcmp(((const struct member *)a)->key, ((const struct member *)b)->key);
}

static bool append_int(struct buf *out, int64_t n)
{
    char digits[24];
    size_t at = sizeof(digits);
    uint64_t u = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
    do {
        digits[--at] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (n < 0) {
        digits[--at] = '-';
    }
    return buf_append(out, digits + at, sizeof(digits) - at);
}

static bool write_value(json_t *v, struct buf *out, int depth, bool sorted);

/* An object's members, in the order of their keys when sorted, else in insertion order. */
static bool write_object(json_t *v, struct buf *out, int depth, bool sorted)
{
    struct member small[32];
    size_t n = json_object_size(v);
    struct member *members = n <= ARRAY_LEN(small) ? small : xcalloc(n, sizeof(*members));
    size_t i = 0;
    const char *key;
    json_t *value;
    json_object_foreach (v, key, value) {
        members[i++] = (struct member){.key = key, .value = value};
    }
    if (sorted) {
        qsort(members, n, sizeof(*members), compare_members);
    }
    bool ok = buf_append(out, "{", 1);
    for (i = 0; i < n && ok; i++) {
        ok = (i == 0 || buf_append(out, ",", 1)) &&
             json_canonical_string(members[i].key, strlen(members[i].key), out) &&
             buf_append(out, ":", 1) && write_value(members[i].value, out, depth + 1, sorted);
    }
    if (members != small) {
        free(members);
    }
    return ok && buf_append(out, "}", 1);
}

/* Writes v without whitespace; false for a real (nothing pasarela writes is a float), nesting
 * past the limit, or a buffer past its ceiling. */
static bool write_value(json_t *v, struct buf *out, int depth, bool sorted)
{
    if (depth > LIMIT_JSON_DEPTH) {
        return false;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return write_object(v, out, depth, sorted);
    case JSON_ARRAY: {
        bool ok = buf_append(out, "[", 1);
        for (size_t i = 0; i < json_array_size(v) && ok; i++) {
            ok = (i == 0 || buf_append(out, ",", 1)) &&
                 write_value(json_array_get(v, i), out, depth + 1, sorted);
        }
        return ok && buf_append(out, "]", 1);
    }
    case JSON_STRING:
        return json_canonical_string(json_string_value(v), json_string_length(v), out);
    case JSON_INTEGER:
        return append_int(out, json_integer_value(v));
    case JSON_TRUE:
        return buf_append_str(out, "true");
    case JSON_FALSE:
        return buf_append_str(out, "false");
    case JSON_NULL:
        return buf_append_str(out, "null");
    case JSON_REAL:
        return false;
    }
    return false;
}

bool json_canonical(json_t *v, struct buf *out)
{
    return write_value(v, out, 0, true);
}

/* jansson's own writer is several times slower: it serves only what ours refuses. */
static char *dump(json_t *v, bool sorted, size_t flags)
{
    struct buf b;
    buf_init(&b, SIZE_MAX / 2);
    if (write_value(v, &b, 0, sorted)) {
        return b.data;
    }
    buf_release(&b);
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | flags);
    PASSERT(s != NULL);
    return s;
}

char *json_dump_compact(json_t *v)
{
    return dump(v, true, JSON_SORT_KEYS);
}

char *json_dump_ordered(json_t *v)
{
    return dump(v, false, JSON_PRESERVE_ORDER);
}

static bool is_number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

json_t *json_loads_exact(const char *text, size_t len)
{
    struct buf out;
    buf_init(&out, 2 * len + 16);
    bool in_string = false, ok = true;
    for (size_t i = 0; i < len && ok; i++) {
        char c = text[i];
        if (in_string || (c != '-' && (c < '0' || c > '9'))) {
            if (in_string && c == '\\' && i + 1 < len) {
                ok = buf_append(&out, text + i, 2);
                i++;
                continue;
            }
            in_string = c == '"' ? !in_string : in_string;
            ok = buf_append(&out, &c, 1);
            continue;
        }
        size_t end = i;
        while (end < len && is_number_char(text[end])) {
            end++;
        }
        bool decimal = memchr(text + i, '.', end - i) || memchr(text + i, 'e', end - i) ||
                       memchr(text + i, 'E', end - i);
        ok = (!decimal || buf_append(&out, "\"", 1)) && buf_append(&out, text + i, end - i) &&
             (!decimal || buf_append(&out, "\"", 1));
        i = end - 1;
    }
    json_t *v =
        ok ? json_loadb(out.data ? out.data : "", out.len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    buf_release(&out);
    return v;
}

char *json_dump_with_raw(json_t *obj, const char *raw_members)
{
    char *dumped = json_dump_compact(obj);
    size_t n = strlen(dumped), raw = strlen(raw_members);
    PASSERT(n >= 2 && dumped[0] == '{');
    char *out = xmalloc(n + raw + 2);
    out[0] = '{';
    memcpy(out + 1, raw_members, raw);
    size_t at = 1 + raw;
    if (n > 2) {
        out[at++] = ',';
    }
    memcpy(out + at, dumped + 1, n - 1);
    out[at + n - 1] = '\0';
    free(dumped);
    return out;
}
