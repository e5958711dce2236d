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

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool canonical_value(json_t *v, struct buf *out, int depth);

static bool canonical_object(json_t *v, struct buf *out, int depth)
{
    size_t n = json_object_size(v);
    const char **keys = xcalloc(n, sizeof(*keys));
    size_t i = 0;
    const char *key;
    json_t *value;
    json_object_foreach (v, key, value) {
        (void)value;
        keys[i++] = key;
    }
    qsort(keys, n, sizeof(*keys), compare_keys);
    bool ok = buf_append(out, "{", 1);
    for (i = 0; i < n && ok; i++) {
        ok = (i == 0 || buf_append(out, ",", 1)) &&
             json_canonical_string(keys[i], strlen(keys[i]), out) && buf_append(out, ":", 1) &&
             canonical_value(json_object_get(v, keys[i]), out, depth + 1);
    }
    free(keys);
    return ok && buf_append(out, "}", 1);
}

static bool canonical_value(json_t *v, struct buf *out, int depth)
{
    if (depth > LIMIT_JSON_DEPTH) {
        return false;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return canonical_object(v, out, depth);
    case JSON_ARRAY: {
        bool ok = buf_append(out, "[", 1);
        for (size_t i = 0; i < json_array_size(v) && ok; i++) {
            ok = (i == 0 || buf_append(out, ",", 1)) &&
                 canonical_value(json_array_get(v, i), out, depth + 1);
        }
        return ok && buf_append(out, "]", 1);
    }
    case JSON_STRING:
        return json_canonical_string(json_string_value(v), json_string_length(v), out);
    case JSON_INTEGER:
        return buf_printf(out, "%lld", (long long)json_integer_value(v));
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
    return canonical_value(v, out, 0);
}

char *json_dump_compact(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    PASSERT(s != NULL);
    return s;
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

char *json_dump_with_raw(const json_t *obj, const char *raw_members)
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
