/* A connector's call to its provider, with the policy every connector shares: the account's
 * circuit breaker (fail fast while open), the configured total timeout, retries with
 * backoff and jitter for idempotent calls only (GETs, and writes that carry an idempotency
 * key) when the provider failed or is still busy with the same key, and the answer read as
 * JSON with exact decimals. What the provider said
 * on a failure goes to the log for the operator, never to the API client. */
#ifndef PASARELA_OUTBOUND_H
#define PASARELA_OUTBOUND_H

#include <jansson.h>

#include "providers/connector.h"
#include "providers/http_client.h"

#define OUTBOUND_ATTEMPTS 4

struct outbound {
    const struct provider_ctx *ctx;
    const char *provider;
    const char *method;
    const char *url;
    const char *headers[HTTP_CLIENT_MAX_HEADERS]; /* NULL-terminated */
    const char *body;                             /* may be NULL */
    bool idempotent;
};

struct outbound_result {
    long status;
    json_t *json; /* owned; NULL when the answer is not JSON */
};

/* Performs the call. PERR_PROVIDER_UNAVAILABLE when the breaker is open or the provider could
 * not be reached, PERR_PROVIDER_TIMEOUT when it did not answer in time; any HTTP answer is
 * PERR_OK (look at out->status, and map a failure with outbound_fail). */
enum perr_code outbound_call(const struct outbound *o, struct outbound_result *out,
                             struct perr *err) WARN_UNUSED;
void outbound_result_release(struct outbound_result *r);

/* Maps an unsuccessful answer onto pasarela's errors (404: PERR_RESOURCE_MISSING; 429 and
 * 503: PERR_PROVIDER_UNAVAILABLE; anything else: PERR_PROVIDER_ERROR) and logs the
 * provider's own message (found at message_path, e.g. "message" or "error.message"). */
enum perr_code outbound_fail(const struct outbound *o, const struct outbound_result *r,
                             const char *message_path, struct perr *err) WARN_UNUSED;

/* "<prefix>client_id=..&state=..&redirect_uri=.." (values percent-encoded) into url, where
 * prefix is the provider's authorization URL up to its own fixed parameters and a '&'. */
enum perr_code outbound_authorize_url(const char *prefix, const char *client_id, const char *state,
                                      const char *redirect_uri, char *url, size_t size,
                                      struct perr *err) WARN_UNUSED;

/* Appends s to b percent-encoded for a URL query or a form body. */
bool outbound_urlencode(struct buf *b, const char *s) WARN_UNUSED;

#endif
