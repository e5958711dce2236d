#include "webhooks/paypal_certs.h"

#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "domain/webhook_sigs.h"
#include "providers/http_client.h"

struct cached_cert {
    char url[512];
    char *pem;
    int64_t fetched_us;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cached_cert cache[PAYPAL_CERT_CACHE];

static char *cache_get(const char *url)
{
    char *pem = NULL;
    int64_t now = time_now_unix_us();
    PASSERT(pthread_mutex_lock(&cache_lock) == 0);
    for (size_t i = 0; i < PAYPAL_CERT_CACHE && !pem; i++) {
        if (cache[i].pem && strcmp(cache[i].url, url) == 0 &&
            now - cache[i].fetched_us < (int64_t)PAYPAL_CERT_TTL_S * 1000000) {
            pem = xstrdup(cache[i].pem);
        }
    }
    pthread_mutex_unlock(&cache_lock);
    return pem;
}

/* Keeps pem for url in the oldest slot. */
static void cache_put(const char *url, const char *pem)
{
    PASSERT(pthread_mutex_lock(&cache_lock) == 0);
    size_t oldest = 0;
    for (size_t i = 1; i < PAYPAL_CERT_CACHE; i++) {
        if (cache[i].fetched_us < cache[oldest].fetched_us) {
            oldest = i;
        }
    }
    free(cache[oldest].pem);
    str_copy(cache[oldest].url, sizeof(cache[oldest].url), url);
    cache[oldest].pem = xstrdup(pem);
    cache[oldest].fetched_us = time_now_unix_us();
    pthread_mutex_unlock(&cache_lock);
}

/* Where to download url from: as it is, or its path under the configured base. */
static void fetch_url(const struct app *app, const char *url, char *out, size_t size)
{
    const char *base = app->cfg->paypal_cert_url_base;
    const char *path = strchr(url + strlen("https://"), '/');
    if (base[0] && path) {
        snprintf(out, size, "%s%s", base, path);
    } else {
        str_copy(out, size, url);
    }
}

/* True when the certificate chains to a trusted root. */
static bool chains(const struct app *app, const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    STACK_OF(X509) *rest = sk_X509_new_null();
    for (X509 *more; bio && rest && (more = PEM_read_bio_X509(bio, NULL, NULL, NULL));) {
        sk_X509_push(rest, more); /* intermediates sent along with the leaf */
    }
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    bool ok = cert && rest && store && ctx && X509_STORE_set_default_paths(store) == 1 &&
              (!app->cfg->paypal_ca_file[0] ||
               X509_STORE_load_locations(store, app->cfg->paypal_ca_file, NULL) == 1) &&
              X509_STORE_CTX_init(ctx, store, cert, rest) == 1 && X509_verify_cert(ctx) == 1;
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_pop_free(rest, X509_free);
    X509_free(cert);
    BIO_free(bio);
    return ok;
}

static char *download(struct app *app, const char *url, const char **why)
{
    char from[CONFIG_PATH_BYTES + 512];
    fetch_url(app, url, from, sizeof(from));
    struct http_call call = {.method = "GET",
                             .url = from,
                             .timeout_ms = app->cfg->provider_timeout_ms,
                             .headers = {"Accept: application/x-pem-file, */*"}};
    struct http_result res;
    struct perr err;
    enum perr_code rc = http_client_call(&call, &res, &err);
    char *pem = NULL;
    if (rc != PERR_OK || res.status != 200 || res.body.len == 0 ||
        res.body.len > PAYPAL_CERT_MAX_BYTES) {
        *why = "the certificate could not be downloaded";
        log_emit(LOG_WARN, "PayPal certificate not downloaded",
                 json_pack("{s:s, s:i}", "url", url, "status", (int)res.status));
    } else {
        pem = xstrdup(buf_str(&res.body));
    }
    buf_release(&res.body);
    return pem;
}

char *paypal_cert(struct app *app, const char *url, const char **why)
{
    if (!url || !whsig_paypal_cert_url_ok(url)) {
        *why = "the certificate URL is not PayPal's";
        return NULL;
    }
    char *pem = cache_get(url);
    if (pem) {
        return pem;
    }
    pem = download(app, url, why);
    if (pem && !chains(app, pem)) {
        *why = "the certificate does not chain to a trusted root";
        free(pem);
        return NULL;
    }
    if (pem) {
        cache_put(url, pem);
    }
    return pem;
}
