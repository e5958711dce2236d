/* Clocks: wall time for records (RFC 3339 UTC with microseconds), monotonic time for
 * durations. */
#ifndef PASARELA_TIMEUTIL_H
#define PASARELA_TIMEUTIL_H

#include "core/common.h"

#define RFC3339_BYTES 32

int64_t time_now_unix_us(void);
uint64_t time_monotonic_us(void);
/* Sleeps ms milliseconds (the whole time, even when a signal interrupts). */
void time_sleep_ms(long ms);
/* "2026-11-22T02:32:55.123456Z" */
void time_format_rfc3339_us(int64_t unix_us, char out[RFC3339_BYTES]);
/* "2026-11-22T02:32:55Z", for API responses. */
void time_format_rfc3339(int64_t unix_us, char out[RFC3339_BYTES]);
/* Parses "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" into microseconds; false when malformed. */
bool time_parse_rfc3339(const char *s, int64_t *unix_us);
/* The same with an offset instead of Z allowed ("2026-11-22T10:11:12.000-04:00"), as
 * providers write their times. */
bool time_parse_iso8601(const char *s, int64_t *unix_us);

#endif
