#include "core/common.h"

static void *check(void *p)
{
    if (!p) {
        fputs("pasarela: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *xmalloc(size_t n) { return check(malloc(n ? n : 1)); }

void *xcalloc(size_t count, size_t n) { return check(calloc(count ? count : 1, n ? n : 1)); }

void *xrealloc(void *p, size_t n) { return check(realloc(p, n ? n : 1)); }

char *xstrdup(const char *s) { return check(strdup(s)); }

char *xstrndup(const char *s, size_t n) { return check(strndup(s, n)); }

bool str_copy(char *dst, size_t dst_size, const char *src)
{
    size_t len = strlen(src);
    bool fits = len < dst_size;
    size_t n = fits ? len : dst_size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return fits;
}
