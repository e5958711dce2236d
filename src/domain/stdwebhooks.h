/* Standard Webhooks v1 (the scheme of the sandbox's and Polar's webhooks, and of pasarela's
 * own outgoing ones): signature "v1," + base64(HMAC-SHA256(key, id "." timestamp "." body)),
 * secrets "whsec_" + base64 of the key. Pure functions, no I/O. */
#ifndef PASARELA_STDWEBHOOKS_H
#define PASARELA_STDWEBHOOKS_H

#include "core/common.h"

#define STDWH_KEY_MAX 64
#define STDWH_SIGNATURE_BYTES 48 /* "v1," + 44 base64 characters + NUL */
#define STDWH_HEADER_MAX 1024    /* a webhook-signature header with a few signatures */

enum stdwh_result {
    STDWH_OK,
    STDWH_MALFORMED,     /* a header is missing or not in the documented shape */
    STDWH_STALE,         /* the timestamp is outside the tolerance, in either direction */
    STDWH_BAD_SIGNATURE, /* no v1 signature matches */
};

/* Decodes "whsec_<base64>" into key; false when it is not such a secret. */
bool stdwh_secret_key(const char *secret, uint8_t key[STDWH_KEY_MAX], size_t *key_len);
/* "v1,<base64>" for this message. */
void stdwh_sign(const uint8_t *key, size_t key_len, const char *msg_id, int64_t timestamp,
                const char *body, size_t body_len, char out[STDWH_SIGNATURE_BYTES]);
/* Checks the three headers (any may be NULL) against body: every "v1," entry of the
 * space-separated signature list is tried in constant time. */
enum stdwh_result stdwh_verify(const uint8_t *key, size_t key_len, const char *msg_id,
                               const char *timestamp, const char *signatures, const char *body,
                               size_t body_len, int64_t now_s, int64_t tolerance_s);
const char *stdwh_result_reason(enum stdwh_result r);

#endif
