#include "core/buf.h"

#include <stdarg.h>

void buf_init(struct buf *b, size_t max_len)
{
    *b = (struct buf){.max_len = max_len};
}

void buf_release(struct buf *b)
{
    free(b->data);
    *b = (struct buf){.max_len = b->max_len};
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->too_big = false;
    if (b->data) {
        b->data[0] = '\0';
    }
}

bool buf_append(struct buf *b, const void *data, size_t len)
{
    if (b->too_big || len > b->max_len - b->len) {
        b->too_big = true;
        return false;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1) {
            cap *= 2;
        }
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return true;
}

bool buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

bool buf_printf(struct buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return false;
    }
    if ((size_t)n < sizeof(small)) {
        return buf_append(b, small, (size_t)n);
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    bool ok = buf_append(b, big, (size_t)n);
    free(big);
    return ok;
}

const char *buf_str(const struct buf *b)
{
    return b->data ? b->data : "";
}
