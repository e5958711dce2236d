#include "core/errors.h"

#include <stdarg.h>

const char *perr_code_name(enum perr_code code)
{
    switch (code) {
#define PERR(name, code, status, type, message)                                                    \
    case PERR_##name:                                                                              \
        return code;
#include "core/errors.def"
#undef PERR
    }
    return "unknown";
}

int perr_http_status(enum perr_code code)
{
    switch (code) {
#define PERR(name, code, status, type, message)                                                    \
    case PERR_##name:                                                                              \
        return status;
#include "core/errors.def"
#undef PERR
    }
    return 500;
}

const char *perr_type(enum perr_code code)
{
    switch (code) {
#define PERR(name, code, status, type, message)                                                    \
    case PERR_##name:                                                                              \
        return type;
#include "core/errors.def"
#undef PERR
    }
    return "api_error";
}

const char *perr_default_message(enum perr_code code)
{
    switch (code) {
#define PERR(name, code, status, type, message)                                                    \
    case PERR_##name:                                                                              \
        return message;
#include "core/errors.def"
#undef PERR
    }
    return "";
}

enum perr_code perr_set(struct perr *err, enum perr_code code, const char *param, const char *fmt,
                        ...)
{
    if (!err) {
        return code;
    }
    err->code = code;
    str_copy(err->param, sizeof(err->param), param ? param : "");
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    } else {
        str_copy(err->message, sizeof(err->message), perr_default_message(code));
    }
    /* Messages quote client input: keep them valid UTF-8, whatever was cut or sent. */
    utf8_sanitize(err->message);
    utf8_sanitize(err->param);
    return code;
}

void perr_clear(struct perr *err)
{
    err->code = PERR_OK;
    err->message[0] = '\0';
    err->param[0] = '\0';
}
