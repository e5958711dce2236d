/* Structured logging: one JSON object per line on stderr. Callers pass fields as a jansson
 * object; nothing secret is ever put in one (keys, tokens and webhook secrets are logged,
 * when at all, only as their ids). */
#ifndef PASARELA_LOG_H
#define PASARELA_LOG_H

#include <jansson.h>

#include "core/common.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
bool log_parse_level(const char *s, enum log_level *out);
/* True when lines of this level are written: lets a hot path skip building fields that would
 * be thrown away. */
bool log_enabled(enum log_level level);
/* Writes {"time","level","msg", ...fields}. fields may be NULL; it is consumed (decref'd). */
void log_emit(enum log_level level, const char *msg, json_t *fields);
/* printf-style convenience for plain messages without fields. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
