/* Included first by every source file: the standard headers everyone needs, then banned.h. */
#ifndef PASARELA_COMMON_H
#define PASARELA_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"

#define WARN_UNUSED __attribute__((warn_unused_result))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Programmer errors abort with file and line; operating errors are returned, never asserted. */
#define PASSERT(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "assertion failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Allocation failure aborts (as redis's zmalloc and postgres's palloc do): callers never
 * check for NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Copies at most dst_size-1 bytes and always terminates, never cutting a UTF-8 character in
 * half; returns false when truncated. */
bool str_copy(char *dst, size_t dst_size, const char *src);
/* Makes s valid UTF-8 in place: each byte of an invalid or truncated sequence becomes '?'. */
void utf8_sanitize(char *s);

#include "core/banned.h"

#endif
