/* The state a running pasarela shares between its threads: configuration, the store, the
 * keys derived at start-up. Created by main, borrowed by every request. */
#ifndef PASARELA_APP_H
#define PASARELA_APP_H

#include "core/config.h"
#include "core/crypto.h"
#include "http/http.h"
#include "store/store.h"

struct app {
    const struct config *cfg;
    struct store *store;
    uint8_t admin_key_sha256[SHA256_BYTES];
    uint8_t audit_key[SHA256_BYTES];           /* authenticates the trail (keys/keyring.h) */
    uint8_t sandbox_webhook_key[SHA256_BYTES]; /* the sandbox's per-installation secret */
    uint8_t secrets_key[SHA256_BYTES];         /* seals provider credentials and webhook secrets */
    struct jobs *jobs;
    struct breakers *breakers; /* one circuit breaker per (provider, account) */
    const struct route *routes;
    size_t nroutes;
};

#endif
