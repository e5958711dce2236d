#include "http/router.h"

/* Splits path (a copy in storage) into segments; false when it has too many or is malformed. */
static bool split(const char *path, char *storage, const char **segs, size_t *n)
{
    if (path[0] != '/' || !str_copy(storage, LIMIT_PATH_BYTES, path)) {
        return false;
    }
    *n = 0;
    char *p = storage + 1;
    if (*p == '\0') {
        return true; /* "/" */
    }
    for (;;) {
        if (*n == LIMIT_PATH_SEGMENTS) {
            return false;
        }
        segs[(*n)++] = p;
        char *slash = strchr(p, '/');
        if (!slash) {
            break;
        }
        *slash = '\0';
        p = slash + 1;
    }
    for (size_t i = 0; i < *n; i++) {
        if (segs[i][0] == '\0') {
            return false; /* "//" or a trailing "/" */
        }
    }
    return true;
}

/* True when pattern matches the segments; fills params with the {name} values. */
static bool match_pattern(const char *pattern, const char *const *segs, size_t nsegs,
                          const char **params, size_t *nparams)
{
    size_t i = 0;
    *nparams = 0;
    const char *p = pattern + 1;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (i >= nsegs) {
            return false;
        }
        if (p[0] == '{') {
            params[(*nparams)++] = segs[i];
        } else if (strlen(segs[i]) != len || strncmp(segs[i], p, len) != 0) {
            return false;
        }
        i++;
        p += len + (end ? 1 : 0);
    }
    return i == nsegs;
}

enum router_result router_match(const struct route *routes, size_t nroutes, const char *method,
                                const char *path, char *storage, struct router_match *m)
{
    const char *segs[LIMIT_PATH_SEGMENTS];
    size_t nsegs;
    *m = (struct router_match){0};
    if (!split(path, storage, segs, &nsegs)) {
        return ROUTER_NOT_FOUND;
    }
    bool path_known = false;
    for (size_t r = 0; r < nroutes; r++) {
        const char *params[LIMIT_PATH_SEGMENTS];
        size_t nparams;
        if (!match_pattern(routes[r].pattern, segs, nsegs, params, &nparams)) {
            continue;
        }
        if (strcmp(routes[r].method, method) == 0) {
            m->route = &routes[r];
            memcpy(m->params, params, nparams * sizeof(*params));
            m->nparams = nparams;
            return ROUTER_FOUND;
        }
        path_known = true;
        if (strstr(m->allow, routes[r].method)) {
            continue; /* a literal and a {param} route of one method both match */
        }
        size_t used = strlen(m->allow);
        snprintf(m->allow + used, sizeof(m->allow) - used, "%s%s", used ? ", " : "",
                 routes[r].method);
    }
    return path_known ? ROUTER_WRONG_METHOD : ROUTER_NOT_FOUND;
}
