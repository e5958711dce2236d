#include "core/timeutil.h"

#include <time.h>

int64_t time_now_unix_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t time_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void time_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void format(int64_t unix_us, bool with_us, char out[RFC3339_BYTES])
{
    time_t secs = (time_t)(unix_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, RFC3339_BYTES, "%Y-%m-%dT%H:%M:%S", &tm);
    if (with_us) {
        snprintf(out + n, RFC3339_BYTES - n, ".%06dZ", (int)(unix_us % 1000000));
    } else {
        snprintf(out + n, RFC3339_BYTES - n, "Z");
    }
}

void time_format_rfc3339_us(int64_t unix_us, char out[RFC3339_BYTES])
{
    format(unix_us, true, out);
}

void time_format_rfc3339(int64_t unix_us, char out[RFC3339_BYTES])
{
    format(unix_us, false, out);
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* The offset at p ("Z", "+hh:mm" or "-hh:mm", then the end) in seconds east of UTC. */
static bool parse_offset(const char *p, bool allow_offset, int *seconds)
{
    int h, m;
    *seconds = 0;
    if (strcmp(p, "Z") == 0) {
        return true;
    }
    if (!allow_offset || (p[0] != '+' && p[0] != '-') || strlen(p) != 6 || p[3] != ':' ||
        !digits(p + 1, 2, &h) || !digits(p + 4, 2, &m) || h > 23 || m > 59) {
        return false;
    }
    *seconds = (p[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
    return true;
}

static bool parse_time(const char *s, bool allow_offset, int64_t *unix_us)
{
    int year, mon, day, hour, min, sec, frac = 0;
    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':') {
        return false;
    }
    if (!digits(s, 4, &year) || !digits(s + 5, 2, &mon) || !digits(s + 8, 2, &day) ||
        !digits(s + 11, 2, &hour) || !digits(s + 14, 2, &min) || !digits(s + 17, 2, &sec)) {
        return false;
    }
    const char *p = s + 19;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++) {
            if (n < 6) {
                frac = frac * 10 + (*p - '0');
            }
        }
        if (n == 0) {
            return false;
        }
        for (; n < 6; n++) {
            frac *= 10;
        }
    }
    int offset;
    if (!parse_offset(p, allow_offset, &offset) || mon < 1 || mon > 12 || day < 1 || day > 31 ||
        hour > 23 || min > 59 || sec > 60 || year < 1970) {
        return false;
    }
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = min,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    *unix_us = ((int64_t)t - offset) * 1000000 + frac;
    return true;
}

bool time_parse_rfc3339(const char *s, int64_t *unix_us)
{
    return parse_time(s, false, unix_us);
}

bool time_parse_iso8601(const char *s, int64_t *unix_us)
{
    return parse_time(s, true, unix_us);
}
