/* Configuration: each setting from its command-line flag, else its PASARELA_* environment
 * variable, else its default (DESIGN.md lists them). Validation of what a subcommand needs
 * (a strong admin key for serve, say) is the subcommand's; this module only reads. */
#ifndef PASARELA_CONFIG_H
#define PASARELA_CONFIG_H

#include "core/errors.h"
#include "core/log.h"

#define MASTER_KEY_BYTES 32
#define CONFIG_PATH_BYTES 512
#define CONFIG_HOST_BYTES 256

struct config {
    char listen_host[CONFIG_HOST_BYTES];
    uint16_t listen_port;
    char data_dir[CONFIG_PATH_BYTES];
    char public_url[CONFIG_PATH_BYTES];
    char admin_key[LIMIT_ADMIN_KEY_MAX + 1]; /* "" when not set */
    uint8_t master_key[MASTER_KEY_BYTES];
    bool has_master_key;
    enum log_level log_level;
    bool demo;
    int http_threads;       /* requests using the store at once; 0: 16 per core (8-64) */
    int audit_checkpoint_s; /* seconds between audit checkpoints */
    int workers;            /* job worker threads */
    int job_backoff_ms;     /* 0: each job kind's own retry delays; else the base for all */
    int provider_timeout_ms;
    int webhook_tolerance_s; /* replay window of signed webhooks */
    bool sandbox_enabled;
    int sandbox_delay_ms;    /* how long the sandbox keeps a payment pending */
    int breaker_failures;    /* consecutive failures that open a provider's breaker */
    int breaker_cooldown_ms; /* how long an open breaker fails fast before a probe */
    char mercadopago_api_url[CONFIG_PATH_BYTES];
    char mercadopago_auth_url[CONFIG_PATH_BYTES]; /* where sellers authorize (OAuth) */
    char stripe_api_url[CONFIG_PATH_BYTES];
    char stripe_connect_url[CONFIG_PATH_BYTES];   /* Stripe Connect's OAuth host */
    char paypal_cert_url_base[CONFIG_PATH_BYTES]; /* "" or where PayPal's certificates are
                                                   * downloaded from instead (simulators) */
    char paypal_ca_file[CONFIG_PATH_BYTES];       /* "" or a trust anchor beside the system's */
    char tenant[LIMIT_ID_BYTES];                  /* `audit verify --tenant` */
};

/* Environment lookup, injectable for tests; getenv in production. */
typedef char *(*config_getenv_fn)(const char *name);

/* Parses flags (argv[0] is the first flag, not the program) over environment over defaults.
 * On a bad flag or value, fills err (param names the flag or variable) and returns it. */
enum perr_code config_load(struct config *cfg, int argc, char **argv, config_getenv_fn env,
                           struct perr *err) WARN_UNUSED;

/* Decodes a base64 master key of exactly 32 bytes. */
bool config_parse_master_key(const char *b64, uint8_t out[MASTER_KEY_BYTES]);

#endif
