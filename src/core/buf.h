/* A growable byte buffer with a ceiling (after curl's dynbuf): appends past the ceiling fail
 * and leave the buffer marked too big instead of growing without bound. The buffer owns its
 * memory; buf_release frees it. */
#ifndef PASARELA_BUF_H
#define PASARELA_BUF_H

#include "core/common.h"

struct buf {
    char *data; /* always NUL-terminated when len > 0 */
    size_t len;
    size_t cap;
    size_t max_len;
    bool too_big;
};

void buf_init(struct buf *b, size_t max_len);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
bool buf_append(struct buf *b, const void *data, size_t len) WARN_UNUSED;
bool buf_append_str(struct buf *b, const char *s) WARN_UNUSED;
bool buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3))) WARN_UNUSED;
/* The contents as a C string ("" when empty); borrowed until the next change. */
const char *buf_str(const struct buf *b);

#endif
