#include "core/log.h"

#include <stdarg.h>
#include <unistd.h>

#include "core/json.h"
#include "core/timeutil.h"

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    min_level = level;
}

bool log_parse_level(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

bool log_enabled(enum log_level level)
{
    return level >= min_level;
}

void log_emit(enum log_level level, const char *msg, json_t *fields)
{
    if (!log_enabled(level)) {
        json_decref(fields);
        return;
    }
    char now[RFC3339_BYTES];
    time_format_rfc3339_us(time_now_unix_us(), now);
    json_t *line =
        json_pack("{s:s, s:s, s:s}", "time", now, "level", level_names[level], "msg", msg);
    if (fields) {
        json_object_update(line, fields);
        json_decref(fields);
    }
    char *text = json_dump_ordered(line);
    json_decref(line);
    if (!text) {
        return;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* the NUL becomes the newline: one write per line */
    ssize_t written = write(STDERR_FILENO, text, len + 1);
    (void)written;
    free(text);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char text[LIMIT_LOG_LINE_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    log_emit(level, text, NULL);
}
