#include "core/config.h"

#include <errno.h>

#include "core/crypto.h"

struct setting {
    const char *flag; /* "--listen"; NULL for environment-only settings */
    const char *env;  /* "PASARELA_LISTEN"; NULL for flag-only settings */
    bool is_switch;   /* a flag without a value */
    enum perr_code (*apply)(struct config *cfg, const char *value, const char *source,
                            struct perr *err);
};

static enum perr_code set_listen(struct config *cfg, const char *v, const char *src,
                                 struct perr *err)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || (size_t)(colon - v) >= sizeof(cfg->listen_host)) {
        return perr_set(err, PERR_PARAM_INVALID, src, "%s must be HOST:PORT, like 127.0.0.1:8080.",
                        src);
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    bool digits = colon[1] >= '0' && colon[1] <= '9';
    if (errno || *end || !digits || port < 0 || port > 65535) {
        return perr_set(err, PERR_PARAM_INVALID, src, "%s has an invalid port; use 0-65535.", src);
    }
    memcpy(cfg->listen_host, v, (size_t)(colon - v));
    cfg->listen_host[colon - v] = '\0';
    cfg->listen_port = (uint16_t)port;
    return PERR_OK;
}

static enum perr_code set_path(char *dst, size_t size, const char *v, const char *src,
                               struct perr *err)
{
    if (!*v || !str_copy(dst, size, v)) {
        return perr_set(err, PERR_PARAM_INVALID, src, "%s must be a path of 1 to %zu bytes.", src,
                        size - 1);
    }
    return PERR_OK;
}

static enum perr_code set_data(struct config *cfg, const char *v, const char *src, struct perr *err)
{
    return set_path(cfg->data_dir, sizeof(cfg->data_dir), v, src, err);
}

static enum perr_code set_url(char *dst, size_t size, const char *v, const char *src,
                              struct perr *err)
{
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
        return perr_set(err, PERR_PARAM_INVALID, src, "%s must start with http:// or https://.",
                        src);
    }
    return set_path(dst, size, v, src, err);
}

static enum perr_code set_public_url(struct config *cfg, const char *v, const char *src,
                                     struct perr *err)
{
    return set_url(cfg->public_url, sizeof(cfg->public_url), v, src, err);
}

static enum perr_code set_mercadopago_api(struct config *cfg, const char *v, const char *src,
                                          struct perr *err)
{
    return set_url(cfg->mercadopago_api_url, sizeof(cfg->mercadopago_api_url), v, src, err);
}

static enum perr_code set_mercadopago_auth(struct config *cfg, const char *v, const char *src,
                                           struct perr *err)
{
    return set_url(cfg->mercadopago_auth_url, sizeof(cfg->mercadopago_auth_url), v, src, err);
}

static enum perr_code set_stripe_api(struct config *cfg, const char *v, const char *src,
                                     struct perr *err)
{
    return set_url(cfg->stripe_api_url, sizeof(cfg->stripe_api_url), v, src, err);
}

static enum perr_code set_stripe_connect(struct config *cfg, const char *v, const char *src,
                                         struct perr *err)
{
    return set_url(cfg->stripe_connect_url, sizeof(cfg->stripe_connect_url), v, src, err);
}

static enum perr_code set_paypal_cert_base(struct config *cfg, const char *v, const char *src,
                                           struct perr *err)
{
    return set_url(cfg->paypal_cert_url_base, sizeof(cfg->paypal_cert_url_base), v, src, err);
}

static enum perr_code set_paypal_ca_file(struct config *cfg, const char *v, const char *src,
                                         struct perr *err)
{
    return set_path(cfg->paypal_ca_file, sizeof(cfg->paypal_ca_file), v, src, err);
}

static enum perr_code set_admin_key(struct config *cfg, const char *v, const char *src,
                                    struct perr *err)
{
    if (!str_copy(cfg->admin_key, sizeof(cfg->admin_key), v)) {
        return perr_set(err, PERR_PARAM_INVALID, src, "%s is longer than %d characters.", src,
                        LIMIT_ADMIN_KEY_MAX);
    }
    return PERR_OK;
}

bool config_parse_master_key(const char *b64, uint8_t out[MASTER_KEY_BYTES])
{
    uint8_t tmp[MASTER_KEY_BYTES + 3];
    int n = base64_decode(b64, tmp, sizeof(tmp));
    if (n != MASTER_KEY_BYTES) {
        return false;
    }
    memcpy(out, tmp, MASTER_KEY_BYTES);
    return true;
}

static enum perr_code set_master_key(struct config *cfg, const char *v, const char *src,
                                     struct perr *err)
{
    if (!config_parse_master_key(v, cfg->master_key)) {
        return perr_set(err, PERR_PARAM_INVALID, src,
                        "%s must be the base64 of exactly 32 bytes (openssl rand -base64 32).",
                        src);
    }
    cfg->has_master_key = true;
    return PERR_OK;
}

static enum perr_code set_log(struct config *cfg, const char *v, const char *src, struct perr *err)
{
    if (!log_parse_level(v, &cfg->log_level)) {
        return perr_set(err, PERR_PARAM_INVALID, src, "%s must be debug, info, warn or error.",
                        src);
    }
    return PERR_OK;
}

static enum perr_code set_int(int *dst, int min, int max, const char *v, const char *src,
                              struct perr *err)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < min || n > max) {
        return perr_set(err, PERR_PARAM_INVALID, src, "%s must be an integer from %d to %d.", src,
                        min, max);
    }
    *dst = (int)n;
    return PERR_OK;
}

static enum perr_code set_threads(struct config *cfg, const char *v, const char *src,
                                  struct perr *err)
{
    return set_int(&cfg->http_threads, 1, LIMIT_HTTP_THREADS, v, src, err);
}

static enum perr_code set_checkpoint(struct config *cfg, const char *v, const char *src,
                                     struct perr *err)
{
    return set_int(&cfg->audit_checkpoint_s, 1, 86400, v, src, err);
}

static enum perr_code set_workers(struct config *cfg, const char *v, const char *src,
                                  struct perr *err)
{
    return set_int(&cfg->workers, 1, 16, v, src, err);
}

static enum perr_code set_job_backoff(struct config *cfg, const char *v, const char *src,
                                      struct perr *err)
{
    return set_int(&cfg->job_backoff_ms, 1, 600000, v, src, err);
}

static enum perr_code set_provider_timeout(struct config *cfg, const char *v, const char *src,
                                           struct perr *err)
{
    return set_int(&cfg->provider_timeout_ms, 100, 120000, v, src, err);
}

static enum perr_code set_webhook_tolerance(struct config *cfg, const char *v, const char *src,
                                            struct perr *err)
{
    return set_int(&cfg->webhook_tolerance_s, 1, 86400, v, src, err);
}

static enum perr_code set_sandbox_delay(struct config *cfg, const char *v, const char *src,
                                        struct perr *err)
{
    return set_int(&cfg->sandbox_delay_ms, 0, 3600000, v, src, err);
}

static enum perr_code set_breaker_failures(struct config *cfg, const char *v, const char *src,
                                           struct perr *err)
{
    return set_int(&cfg->breaker_failures, 1, 1000, v, src, err);
}

static enum perr_code set_breaker_cooldown(struct config *cfg, const char *v, const char *src,
                                           struct perr *err)
{
    return set_int(&cfg->breaker_cooldown_ms, 10, 3600000, v, src, err);
}

static enum perr_code set_sandbox(struct config *cfg, const char *v, const char *src,
                                  struct perr *err)
{
    if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
        return perr_set(err, PERR_PARAM_INVALID, src, "%s must be on or off.", src);
    }
    cfg->sandbox_enabled = strcmp(v, "on") == 0;
    return PERR_OK;
}

static enum perr_code set_demo(struct config *cfg, const char *v, const char *src, struct perr *err)
{
    (void)v, (void)src, (void)err;
    cfg->demo = true;
    return PERR_OK;
}

static enum perr_code set_tenant(struct config *cfg, const char *v, const char *src,
                                 struct perr *err)
{
    if (!str_copy(cfg->tenant, sizeof(cfg->tenant), v)) {
        return perr_set(err, PERR_PARAM_INVALID, src, "%s is not a tenant id.", src);
    }
    return PERR_OK;
}

static const struct setting settings[] = {
    {"--listen", "PASARELA_LISTEN", false, set_listen},
    {"--data", "PASARELA_DATA", false, set_data},
    {"--public-url", "PASARELA_PUBLIC_URL", false, set_public_url},
    {"--log", "PASARELA_LOG", false, set_log},
    {"--threads", "PASARELA_THREADS", false, set_threads},
    {"--audit-checkpoint-seconds", "PASARELA_AUDIT_CHECKPOINT_SECONDS", false, set_checkpoint},
    {"--workers", "PASARELA_WORKERS", false, set_workers},
    {"--job-backoff-ms", "PASARELA_JOB_BACKOFF_MS", false, set_job_backoff},
    {"--provider-timeout-ms", "PASARELA_PROVIDER_TIMEOUT_MS", false, set_provider_timeout},
    {"--webhook-tolerance-seconds", "PASARELA_WEBHOOK_TOLERANCE_SECONDS", false,
     set_webhook_tolerance},
    {"--breaker-failures", "PASARELA_BREAKER_FAILURES", false, set_breaker_failures},
    {"--breaker-cooldown-ms", "PASARELA_BREAKER_COOLDOWN_MS", false, set_breaker_cooldown},
    {"--mercadopago-api-url", "PASARELA_MERCADOPAGO_API_URL", false, set_mercadopago_api},
    {"--mercadopago-auth-url", "PASARELA_MERCADOPAGO_AUTH_URL", false, set_mercadopago_auth},
    {"--stripe-api-url", "PASARELA_STRIPE_API_URL", false, set_stripe_api},
    {"--stripe-connect-url", "PASARELA_STRIPE_CONNECT_URL", false, set_stripe_connect},
    {"--paypal-cert-url-base", "PASARELA_PAYPAL_CERT_URL_BASE", false, set_paypal_cert_base},
    {"--paypal-ca-file", "PASARELA_PAYPAL_CA_FILE", false, set_paypal_ca_file},
    {"--sandbox", "PASARELA_SANDBOX", false, set_sandbox},
    {"--sandbox-delay-ms", "PASARELA_SANDBOX_DELAY_MS", false, set_sandbox_delay},
    {"--demo", NULL, true, set_demo},
    {"--tenant", NULL, false, set_tenant},
    {NULL, "PASARELA_ADMIN_KEY", false, set_admin_key},
    {NULL, "PASARELA_MASTER_KEY", false, set_master_key},
};

static void set_defaults(struct config *cfg)
{
    *cfg = (struct config){.listen_port = 8080,
                           .log_level = LOG_INFO,
                           .http_threads = 0,
                           .audit_checkpoint_s = 60,
                           .workers = 2,
                           .provider_timeout_ms = 10000,
                           .webhook_tolerance_s = 300,
                           .sandbox_enabled = true,
                           .sandbox_delay_ms = 100,
                           .breaker_failures = 5,
                           .breaker_cooldown_ms = 30000};
    str_copy(cfg->mercadopago_api_url, sizeof(cfg->mercadopago_api_url),
             "https://api.mercadopago.com");
    str_copy(cfg->mercadopago_auth_url, sizeof(cfg->mercadopago_auth_url),
             "https://auth.mercadopago.com");
    str_copy(cfg->stripe_api_url, sizeof(cfg->stripe_api_url), "https://api.stripe.com");
    str_copy(cfg->stripe_connect_url, sizeof(cfg->stripe_connect_url),
             "https://connect.stripe.com");
    str_copy(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
    str_copy(cfg->data_dir, sizeof(cfg->data_dir), "./data");
}

static const struct setting *find_flag(const char *arg, const char **inline_value);

/* True when argv sets s with its flag: the environment is then not read for s at all, so a
 * bad variable does not stop a command whose flag overrides it. */
static bool flag_given(const struct setting *s, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *value;
        if (find_flag(argv[i], &value) == s) {
            return true;
        }
    }
    return false;
}

static enum perr_code apply_env(struct config *cfg, int argc, char **argv, config_getenv_fn env,
                                struct perr *err)
{
    for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
        bool overridden = settings[i].flag && flag_given(&settings[i], argc, argv);
        const char *v = settings[i].env && !overridden ? env(settings[i].env) : NULL;
        if (v && *v) {
            enum perr_code rc = settings[i].apply(cfg, v, settings[i].env, err);
            if (rc != PERR_OK) {
                return rc;
            }
        }
    }
    return PERR_OK;
}

static const struct setting *find_flag(const char *arg, const char **inline_value)
{
    for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
        const char *flag = settings[i].flag;
        size_t n = flag ? strlen(flag) : 0;
        if (!flag || strncmp(arg, flag, n) != 0) {
            continue;
        }
        if (arg[n] == '\0') {
            *inline_value = NULL;
            return &settings[i];
        }
        if (arg[n] == '=' && !settings[i].is_switch) {
            *inline_value = arg + n + 1;
            return &settings[i];
        }
    }
    return NULL;
}

static enum perr_code apply_flags(struct config *cfg, int argc, char **argv, struct perr *err)
{
    for (int i = 0; i < argc; i++) {
        const char *value = NULL;
        const struct setting *s = find_flag(argv[i], &value);
        if (!s) {
            return perr_set(err, PERR_PARAM_UNKNOWN, argv[i], "unknown option '%.64s'", argv[i]);
        }
        if (!s->is_switch && !value) {
            if (i + 1 >= argc) {
                return perr_set(err, PERR_PARAM_MISSING, s->flag, "%s needs a value", s->flag);
            }
            value = argv[++i];
        }
        enum perr_code rc = s->apply(cfg, value ? value : "", s->flag, err);
        if (rc != PERR_OK) {
            return rc;
        }
    }
    return PERR_OK;
}

enum perr_code config_load(struct config *cfg, int argc, char **argv, config_getenv_fn env,
                           struct perr *err)
{
    set_defaults(cfg);
    enum perr_code rc = apply_env(cfg, argc, argv, env, err);
    if (rc == PERR_OK) {
        rc = apply_flags(cfg, argc, argv, err);
    }
    if (rc == PERR_OK && !cfg->public_url[0]) {
        snprintf(cfg->public_url, sizeof(cfg->public_url), "http://%s:%u", cfg->listen_host,
                 (unsigned)cfg->listen_port);
    }
    return rc;
}
