/* Outbound HTTP for connectors and deliveries: libcurl with connect and total timeouts and a
 * ceiling on the response size. One easy handle per call. */
#ifndef PASARELA_HTTP_CLIENT_H
#define PASARELA_HTTP_CLIENT_H

#include "core/buf.h"
#include "core/errors.h"

#define HTTP_CLIENT_MAX_HEADERS 16
#define HTTP_CLIENT_RESPONSE_MAX (1024 * 1024)

struct http_call {
    const char *method; /* "GET", "POST", ... */
    const char *url;
    const char *headers[HTTP_CLIENT_MAX_HEADERS]; /* "Name: value", NULL-terminated */
    const char *body;                             /* may be NULL */
    size_t body_len;
    long timeout_ms;
};

struct http_result {
    long status;     /* 0 when no answer */
    struct buf body; /* owned; release with buf_release */
};

void http_client_global_init(void);
/* Performs the call. PERR_PROVIDER_TIMEOUT when it timed out, PERR_PROVIDER_UNAVAILABLE
 * when the peer could not be reached; any HTTP status is PERR_OK (look at res->status). */
enum perr_code http_client_call(const struct http_call *call, struct http_result *res,
                                struct perr *err) WARN_UNUSED;

#endif
