/* Circuit breakers, one per (provider, account), kept in memory: closed while calls succeed;
 * open after `failures` consecutive failures, or when at least half of the last
 * BREAKER_WINDOW calls failed (with BREAKER_WINDOW_MIN calls seen), failing fast for the
 * cool-down; then half-open, letting one probe through, whose outcome closes or reopens it.
 * A failure is a call the provider did not answer (timeout, connection) or answered 5xx/429. */
#ifndef PASARELA_BREAKER_H
#define PASARELA_BREAKER_H

#include <jansson.h>

#include "core/common.h"

#define BREAKER_WINDOW 20
#define BREAKER_WINDOW_MIN 10
#define BREAKER_MAX 1024 /* accounts tracked; beyond, calls go out unguarded */

struct breakers;

struct breakers *breakers_new(int failures, int cooldown_ms);
void breakers_free(struct breakers *b);

/* Whether a call to the account may go out now; false: fail fast (the breaker is open, or
 * half-open with its probe already out). */
bool breaker_allow(struct breakers *b, const char *provider, const char *account);
/* The outcome of a call that breaker_allow let out. */
void breaker_record(struct breakers *b, const char *provider, const char *account, bool ok);
/* [{"provider", "account", "state", "consecutive_failures"}] for every breaker not closed
 * or with failures; new reference. */
json_t *breakers_json(struct breakers *b);

#endif
