#include "core/common.h"

static void *check(void *p)
{
    if (!p) {
        fputs("pasarela: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *xmalloc(size_t n)
{
    return check(malloc(n ? n : 1));
}

void *xcalloc(size_t count, size_t n)
{
    return check(calloc(count ? count : 1, n ? n : 1));
}

void *xrealloc(void *p, size_t n)
{
    return check(realloc(p, n ? n : 1));
}

char *xstrdup(const char *s)
{
    return check(strdup(s));
}

char *xstrndup(const char *s, size_t n)
{
    return check(strndup(s, n));
}

bool str_copy(char *dst, size_t dst_size, const char *src)
{
    size_t len = strlen(src);
    bool fits = len < dst_size;
    size_t n = fits ? len : dst_size - 1;
    if (!fits) {
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) {
            n--; /* src[n] continues a character: cut before that character starts */
        }
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return fits;
}

/* The length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one. */
static size_t utf8_sequence(const unsigned char *s)
{
    size_t n = s[0] < 0x80             ? 1
               : (s[0] & 0xE0) == 0xC0 ? 2
               : (s[0] & 0xF0) == 0xE0 ? 3
               : (s[0] & 0xF8) == 0xF0 ? 4
                                       : 0;
    if (n == 0 || (n == 2 && s[0] < 0xC2) || (n == 4 && s[0] > 0xF4)) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    bool overlong3 = n == 3 && s[0] == 0xE0 && s[1] < 0xA0;
    bool surrogate = n == 3 && s[0] == 0xED && s[1] >= 0xA0;
    bool overlong4 = n == 4 && s[0] == 0xF0 && s[1] < 0x90;
    bool too_big = n == 4 && s[0] == 0xF4 && s[1] >= 0x90;
    return overlong3 || surrogate || overlong4 || too_big ? 0 : n;
}

void utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = utf8_sequence(p);
        if (n == 0) {
            *p++ = '?';
        } else {
            p += n;
        }
    }
}
