/* Object ids: a type prefix ("ten_", "key_", "aud_"...), 9 base62 digits of the creation
 * time in microseconds, then 16 random base62 characters. The time part is strictly
 * increasing within a process (two ids never share a microsecond), so ids sort by creation
 * as plain byte strings, which is what cursor pagination and event order rely on; the random
 * part carries 95 bits, so ids are not guessable. API secrets are "sk_" + 43 random base62
 * characters (256 bits). */
#ifndef PASARELA_IDS_H
#define PASARELA_IDS_H

#include "core/common.h"

#define ID_TIME_CHARS 9
#define ID_RANDOM_CHARS 16
#define SECRET_RANDOM_CHARS 43
#define SECRET_PREFIX_CHARS 12 /* "sk_" + 9: the indexed lookup prefix of a key */

/* Writes prefix + time + random into out (LIMIT_ID_BYTES). prefix is like "ten". */
void id_new(const char *prefix, char out[LIMIT_ID_BYTES]);
/* Same, for a given time in microseconds: unit tests use it to check ordering. */
void id_new_at(const char *prefix, uint64_t unix_us, char out[LIMIT_ID_BYTES]);
/* True when s looks like an id with the given prefix (shape only, no store lookup). */
bool id_valid(const char *prefix, const char *s);
void secret_new(char out[LIMIT_SECRET_BYTES]);

#endif
