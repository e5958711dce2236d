/* PayPal's webhook certificates: fetched only from the URL a notification names when it is
 * one of PayPal's (whsig_paypal_cert_url_ok), over the configured base in tests; checked to
 * chain to a trusted root (the system's, plus PASARELA_PAYPAL_CA_FILE when set); kept in a
 * small in-memory cache for a day, so that a burst of notifications costs one download. */
#ifndef PASARELA_PAYPAL_CERTS_H
#define PASARELA_PAYPAL_CERTS_H

#include "app.h"

#define PAYPAL_CERT_MAX_BYTES (64 * 1024)
#define PAYPAL_CERT_CACHE 16
#define PAYPAL_CERT_TTL_S 86400

/* The PEM of the certificate at url (a new string the caller frees), or NULL with the reason
 * in *why (for the security event): not PayPal's URL, unreachable, not a certificate, or
 * not chaining to a trusted root. */
char *paypal_cert(struct app *app, const char *url, const char **why);

#endif
