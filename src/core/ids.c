#include "core/ids.h"

#include <stdatomic.h>

#include "core/crypto.h"
#include "core/timeutil.h"

static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

void id_new_at(const char *prefix, uint64_t unix_us, char out[LIMIT_ID_BYTES])
{
    size_t plen = strlen(prefix);
    PASSERT(plen + 1 + ID_TIME_CHARS + ID_RANDOM_CHARS < LIMIT_ID_BYTES);
    memcpy(out, prefix, plen);
    out[plen] = '_';
    char *t = out + plen + 1;
    for (int i = ID_TIME_CHARS - 1; i >= 0; i--) {
        t[i] = alphabet[unix_us % 62];
        unix_us /= 62;
    }
    base62_random_pooled(t + ID_TIME_CHARS, ID_RANDOM_CHARS);
}

/* The last microsecond handed out; the next id takes a later one even when the clock has
 * not moved (or moved back). */
static _Atomic uint64_t last_us;

static uint64_t next_us(void)
{
    uint64_t now = (uint64_t)time_now_unix_us();
    uint64_t prev = atomic_load(&last_us);
    for (;;) {
        uint64_t next = now > prev ? now : prev + 1;
        if (atomic_compare_exchange_weak(&last_us, &prev, next)) {
            return next;
        }
    }
}

void id_new(const char *prefix, char out[LIMIT_ID_BYTES])
{
    id_new_at(prefix, next_us(), out);
}

static bool is_base62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool id_valid(const char *prefix, const char *s)
{
    size_t plen = strlen(prefix);
    if (strncmp(s, prefix, plen) != 0 || s[plen] != '_') {
        return false;
    }
    const char *rest = s + plen + 1;
    size_t n = 0;
    for (; rest[n]; n++) {
        if (!is_base62(rest[n])) {
            return false;
        }
    }
    return n == ID_TIME_CHARS + ID_RANDOM_CHARS;
}

void secret_new(char out[LIMIT_SECRET_BYTES])
{
    PASSERT(3 + SECRET_RANDOM_CHARS < LIMIT_SECRET_BYTES);
    memcpy(out, "sk_", 3);
    base62_random(out + 3, SECRET_RANDOM_CHARS);
}
