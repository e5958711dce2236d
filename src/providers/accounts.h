/* Provider accounts: a tenant's account at a provider, or the operator's platform account
 * (owner "platform"). Non-secret settings (mode, default, IP allowlist) are stored as they
 * are; secrets (webhook secrets, credentials) only sealed with AES-256-GCM under the secrets
 * key, derived from the master key; what the API shows of them are masks like "****abcd". */
#ifndef PASARELA_ACCOUNTS_H
#define PASARELA_ACCOUNTS_H

#include <jansson.h>

#include "core/crypto.h"
#include "store/store.h"

#define ACCOUNT_OWNER_PLATFORM "platform"
#define ACCOUNT_WEBHOOK_SECRETS_MAX 2 /* two, so that a secret can be rotated */
#define ACCOUNT_IP_ALLOWLIST_MAX 32

struct provider_account {
    char owner[LIMIT_ID_BYTES];
    char provider[32];
    char mode[16];
    bool is_default;
    json_t *config;  /* {"ip_allowlist": [...]}; owned */
    json_t *secrets; /* {"webhook_secrets": [...], "credentials": {...}}; owned, in clear */
    json_t *hints;   /* the same shape, masked; owned */
    char created[32];
    char updated[32];
};

/* Derives the key that seals secrets: HMAC-SHA256(master, "pasarela secrets v1"). */
void accounts_derive_key(const uint8_t *master_key, size_t len, uint8_t out[SHA256_BYTES]);
/* True for the providers pasarela knows, whether or not their connector exists yet. */
bool provider_name_known(const char *name);

/* Loads the account; *found false when there is none. */
enum perr_code account_load(struct store_tx *tx, const uint8_t key[SHA256_BYTES], const char *owner,
                            const char *provider, struct provider_account *out, bool *found,
                            struct perr *err) WARN_UNUSED;
/* Inserts or replaces the account (secrets sealed in the process). */
enum perr_code account_save(struct store_tx *tx, const uint8_t key[SHA256_BYTES],
                            const struct provider_account *a, bool exists,
                            struct perr *err) WARN_UNUSED;
/* A new account of owner at provider, with empty settings and secrets, created at `created`. */
void account_init(struct provider_account *a, const char *owner, const char *provider,
                  const char *mode, const char *created);
void account_release(struct provider_account *a);
/* The API shape: settings and masked secrets, never a secret. New reference. */
json_t *account_json(const struct provider_account *a);
/* "****" + the last four characters (or "****" for short values). */
json_t *account_mask(const char *secret);

#endif
