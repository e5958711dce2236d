#include "providers/breaker.h"

#include <pthread.h>

#include "core/timeutil.h"

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker {
    char provider[32];
    char account[LIMIT_ID_BYTES];
    enum breaker_state state;
    int consecutive;
    uint32_t window;  /* one bit per recent call, 1 = failed */
    int window_count; /* calls in the window, up to BREAKER_WINDOW */
    int64_t opened_us;
    bool probe_out;
};

struct breakers {
    pthread_mutex_t lock;
    int failures;
    int64_t cooldown_us;
    size_t n;
    struct breaker items[BREAKER_MAX];
};

struct breakers *breakers_new(int failures, int cooldown_ms)
{
    struct breakers *b = xcalloc(1, sizeof(*b));
    PASSERT(pthread_mutex_init(&b->lock, NULL) == 0);
    b->failures = failures;
    b->cooldown_us = (int64_t)cooldown_ms * 1000;
    return b;
}

void breakers_free(struct breakers *b)
{
    if (b) {
        pthread_mutex_destroy(&b->lock);
        free(b);
    }
}

/* The breaker of the account, created closed when new; NULL when the table is full. */
static struct breaker *find(struct breakers *b, const char *provider, const char *account)
{
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->items[i].provider, provider) == 0 &&
            strcmp(b->items[i].account, account) == 0) {
            return &b->items[i];
        }
    }
    if (b->n == BREAKER_MAX) {
        return NULL;
    }
    struct breaker *k = &b->items[b->n++];
    *k = (struct breaker){.state = BREAKER_CLOSED};
    str_copy(k->provider, sizeof(k->provider), provider);
    str_copy(k->account, sizeof(k->account), account);
    return k;
}

bool breaker_allow(struct breakers *b, const char *provider, const char *account)
{
    PASSERT(pthread_mutex_lock(&b->lock) == 0);
    struct breaker *k = find(b, provider, account);
    bool allow = true;
    if (k && k->state == BREAKER_OPEN && time_now_unix_us() - k->opened_us >= b->cooldown_us) {
        k->state = BREAKER_HALF_OPEN;
        k->probe_out = false;
    }
    if (k && k->state == BREAKER_OPEN) {
        allow = false;
    } else if (k && k->state == BREAKER_HALF_OPEN) {
        allow = !k->probe_out;
        k->probe_out = true;
    }
    pthread_mutex_unlock(&b->lock);
    return allow;
}

static int window_failures(const struct breaker *k)
{
    return __builtin_popcount(k->window & ((1u << BREAKER_WINDOW) - 1));
}

static void open_breaker(struct breaker *k)
{
    k->state = BREAKER_OPEN;
    k->opened_us = time_now_unix_us();
    k->probe_out = false;
}

void breaker_record(struct breakers *b, const char *provider, const char *account, bool ok)
{
    PASSERT(pthread_mutex_lock(&b->lock) == 0);
    struct breaker *k = find(b, provider, account);
    if (k) {
        k->window = (k->window << 1) | (ok ? 0u : 1u);
        k->window_count = k->window_count < BREAKER_WINDOW ? k->window_count + 1 : BREAKER_WINDOW;
        k->consecutive = ok ? 0 : k->consecutive + 1;
        if (k->state == BREAKER_HALF_OPEN) {
            if (ok) {
                *k = (struct breaker){.state = BREAKER_CLOSED};
                str_copy(k->provider, sizeof(k->provider), provider);
                str_copy(k->account, sizeof(k->account), account);
            } else {
                open_breaker(k);
            }
        } else if (k->state == BREAKER_CLOSED &&
                   (k->consecutive >= b->failures || (k->window_count >= BREAKER_WINDOW_MIN &&
                                                      2 * window_failures(k) >= k->window_count))) {
            open_breaker(k);
        }
    }
    pthread_mutex_unlock(&b->lock);
}

json_t *breakers_json(struct breakers *b)
{
    static const char *const names[] = {"closed", "open", "half_open"};
    json_t *out = json_array();
    PASSERT(pthread_mutex_lock(&b->lock) == 0);
    int64_t now = time_now_unix_us();
    for (size_t i = 0; i < b->n; i++) {
        const struct breaker *k = &b->items[i];
        if (k->state == BREAKER_CLOSED && k->consecutive == 0) {
            continue;
        }
        /* shown as it behaves for the next call */
        bool cooled = k->state == BREAKER_OPEN && now - k->opened_us >= b->cooldown_us;
        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:i}", "provider", k->provider,
                                             "account", k->account, "state",
                                             names[cooled ? BREAKER_HALF_OPEN : k->state],
                                             "consecutive_failures", k->consecutive));
    }
    pthread_mutex_unlock(&b->lock);
    return out;
}
