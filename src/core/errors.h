/* Errors: one enum generated from errors.def, and struct perr, which a failing function fills
 * with a code, a public message (safe to show a client: never a secret, SQL or provider
 * payload) and the parameter it concerns. */
#ifndef PASARELA_ERRORS_H
#define PASARELA_ERRORS_H

#include "core/common.h"

enum perr_code {
#define PERR(name, code, status, type, message) PERR_##name,
#include "core/errors.def"
#undef PERR
};

struct perr {
    enum perr_code code;
    char message[LIMIT_ERROR_MESSAGE_BYTES];
    char param[LIMIT_ERROR_PARAM_BYTES];
};

const char *perr_code_name(enum perr_code code);
int perr_http_status(enum perr_code code);
const char *perr_type(enum perr_code code);
const char *perr_default_message(enum perr_code code);

/* Sets err (may be NULL) and returns code, so failures read `return perr_set(...)`.
 * fmt may be NULL for the table's message. */
enum perr_code perr_set(struct perr *err, enum perr_code code, const char *param, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
void perr_clear(struct perr *err);

#endif
