/* Webhook signature verification of the payment providers (MercadoPago, Stripe, Polar,
 * NOWPayments, Flow, Conekta, PayPal), after shared/PROVIDERS.md; docs/webhooks.md says
 * what each function checks and which reading of an unconfirmed fact it takes. Pure functions:
 * no I/O, no store, no HTTP types; the caller passes raw header values (NULL when the header
 * is absent), the raw body bytes as received, the account's secrets, the clock and the
 * tolerance.
 *
 * Every verifier returns an enum stdwh_result (stdwebhooks.h): STDWH_OK, STDWH_MALFORMED (a
 * header is missing, too long or not in the documented shape), STDWH_STALE (an authentic
 * message whose timestamp is outside now_s +- tolerance_s), STDWH_BAD_SIGNATURE (no signature
 * matches any secret); stdwh_result_reason() gives the text. Signatures are compared in
 * constant time, and every candidate signature is tried against every secret without an
 * early exit. All pointer arguments are borrowed; nothing is retained.
 *
 * Rotation: an account has up to WHSIG_SECRETS_MAX active secrets (the current one and the
 * previous one while a rotation is under way), passed as an array of 1..WHSIG_SECRETS_MAX
 * entries; NULL or empty entries are skipped. A message verifies when any secret matches. */
#ifndef PASARELA_WEBHOOK_SIGS_H
#define PASARELA_WEBHOOK_SIGS_H

#include "core/buf.h"
#include "domain/stdwebhooks.h"

#define WHSIG_SECRETS_MAX 2             /* active secrets (or keys) per account */
#define WHSIG_TOLERANCE_DEFAULT_S 300   /* replay window callers pass by default */
#define WHSIG_HEADER_MAX_BYTES 1024     /* one signature header value */
#define WHSIG_HEADER_PARTS_MAX 16       /* comma-separated items in one header */
#define WHSIG_SIGNATURES_MAX 8          /* v1 entries of one header that are tried */
#define WHSIG_SECRET_MAX_BYTES 512      /* one HMAC secret string */
#define WHSIG_ID_MAX_BYTES 256          /* data.id, x-request-id, webhook-id values */
#define WHSIG_TIMESTAMP_DIGITS_MAX 15   /* unix seconds or milliseconds */
#define WHSIG_SHA256_HEX_BYTES 65       /* 64 hex digits and NUL */
#define WHSIG_SHA512_HEX_BYTES 129      /* 128 hex digits and NUL */
#define WHSIG_STRIPE_HEADER_BYTES 96    /* "t=<digits>,v1=<64 hex>" and NUL */
#define WHSIG_MP_MANIFEST_BYTES 640     /* id:..;request-id:..;ts:..; and NUL */
#define WHSIG_FLOW_PARAMS_MAX 64        /* parameters of one Flow call */
#define WHSIG_FLOW_VALUE_MAX_BYTES 4096 /* one Flow parameter name or value */
#define WHSIG_NOWPAYMENTS_CANONICAL_MAX_BYTES (4 * LIMIT_BODY_BYTES)
#define WHSIG_PEM_MAX_BYTES 16384          /* a PEM public key or certificate */
#define WHSIG_RSA_MIN_BITS 2048            /* smaller RSA keys are refused */
#define WHSIG_RSA_SIGNATURE_MAX_BYTES 1024 /* RSA-8192 */
#define WHSIG_PAYPAL_MESSAGE_BYTES 256     /* id|time|webhook_id|crc32 and NUL */

/* ---- MercadoPago: x-signature "ts=<digits>,v1=<64 hex>" (PROVIDERS.md 1.3) ---- */

/* Writes the manifest "id:<data.id>;request-id:<x-request-id>;ts:<ts>;" into out. data_id
 * is the `data.id` query parameter (not the body's), used with its ASCII letters lowercased;
 * request_id the x-request-id header, used as received; a NULL or blank (spaces and tabs only)
 * value drops its whole pair. ts is the ts item of x-signature, verbatim. False when a value is
 * longer than WHSIG_ID_MAX_BYTES or contains ';' or a control character other than tab, or ts
 * is not 1..WHSIG_TIMESTAMP_DIGITS_MAX digits. */
bool whsig_mercadopago_manifest(const char *data_id, const char *request_id, const char *ts,
                                char out[WHSIG_MP_MANIFEST_BYTES]) WARN_UNUSED;
/* The v1 value (lowercase hex HMAC-SHA256 of the manifest, key = the secret's UTF-8 bytes);
 * false as for the manifest. For simulators and tests. */
bool whsig_mercadopago_sign(const char *secret, const char *data_id, const char *request_id,
                            const char *ts, char out[WHSIG_SHA256_HEX_BYTES]) WARN_UNUSED;
/* x_signature: items split on ',', each on its first '=', whitespace trimmed, keys compared
 * case-insensitively, unknown keys (v2, ...) ignored, every v1 tried. ts is seconds, or
 * milliseconds when above 10^11; it must be within now_s +- tolerance_s. The body is not
 * signed by MercadoPago, so it is not an argument: the caller must take the payment id to
 * fetch from data_id (the signed value), not from the body. */
enum stdwh_result whsig_mercadopago_verify(const char *x_signature, const char *x_request_id,
                                           const char *data_id, const char *const secrets[],
                                           size_t n_secrets, int64_t now_s, int64_t tolerance_s);

/* ---- Stripe: Stripe-Signature "t=<unix s>,v1=<64 hex>[,v1=...][,v0=...]" (2.1) ---- */

/* "t=<t>,v1=<hex>" for body under secret (key = the secret string as is, whsec_ included). */
void whsig_stripe_sign(const char *secret, int64_t t, const char *body, size_t body_len,
                       char out[WHSIG_STRIPE_HEADER_BYTES]);
/* Signed payload "<t>.<body>"; valid when any v1 matches any secret and t is within
 * now_s +- tolerance_s (stripe-python rejects only old timestamps; future ones beyond the
 * tolerance are refused here too). A header without t, with two t, or without v1 is
 * malformed. */
enum stdwh_result whsig_stripe_verify(const char *stripe_signature, const char *body,
                                      size_t body_len, const char *const secrets[],
                                      size_t n_secrets, int64_t now_s, int64_t tolerance_s);

/* ---- Polar: Standard Webhooks headers, two key derivations (3.2) ---- */

enum whsig_polar_key {
    WHSIG_POLAR_KEY_LEGACY,   /* key = UTF-8 bytes of the whole secret string, prefix included */
    WHSIG_POLAR_KEY_STANDARD, /* key = base64 decode of the part after "whsec_" */
};

/* One Polar secret and its derivation (Polar's endpoint field
 * uses_standard_webhook_signature says which); a rotation may pair a legacy secret with a
 * standard one. */
struct whsig_polar_secret {
    const char *secret;
    enum whsig_polar_key derivation;
};

/* The HMAC key of secret; false when it cannot be derived (a standard secret that is not
 * "whsec_" + base64 of at most STDWH_KEY_MAX bytes, or an empty or over-long secret). Use it
 * to validate a secret when it is configured. */
bool whsig_polar_key(const char *secret, enum whsig_polar_key derivation,
                     uint8_t key[WHSIG_SECRET_MAX_BYTES], size_t *key_len) WARN_UNUSED;
/* stdwh_verify (id.timestamp.body, every "v1," entry, timestamp checked in both directions)
 * with each derivable secret. Secrets that cannot be derived are skipped. */
enum stdwh_result whsig_polar_verify(const char *webhook_id, const char *webhook_timestamp,
                                     const char *webhook_signature, const char *body,
                                     size_t body_len, const struct whsig_polar_secret secrets[],
                                     size_t n_secrets, int64_t now_s, int64_t tolerance_s);

/* ---- NOWPayments: x-nowpayments-sig = hex HMAC-SHA512 of the canonical body (7) ---- */

enum whsig_nowpayments_form {
    /* The current docs' Node sortObject + JSON.stringify: keys sorted at every level, arrays
     * turned into objects keyed "0", "1", ..., and, as JavaScript objects do, keys that are
     * array indices first in numeric order. */
    WHSIG_NP_FORM_NODE,
    /* Keys sorted at every level, arrays kept as arrays (the docs' PHP tksort shape). */
    WHSIG_NP_FORM_SORTED,
    /* The older docs' JSON.stringify(params, Object.keys(params).sort()): the top-level key
     * list is a filter at every level, so nested objects lose their own keys. */
    WHSIG_NP_FORM_LEGACY,
};

/* Appends the canonical form of body (one JSON object, at most LIMIT_BODY_BYTES, at most
 * LIMIT_JSON_DEPTH deep, no duplicate keys) to out: compact, strings escaped as
 * JSON.stringify does, every number read as a double and written as JavaScript writes it
 * (10, 0.4, 1e-7, 1e+21). False when body is not such an object or out is too small. */
bool whsig_nowpayments_canonical(const char *body, size_t body_len,
                                 enum whsig_nowpayments_form form, struct buf *out) WARN_UNUSED;
/* Lowercase hex HMAC-SHA512 of the WHSIG_NP_FORM_NODE form; false when body is not valid. */
bool whsig_nowpayments_sign(const char *secret, const char *body, size_t body_len,
                            char out[WHSIG_SHA512_HEX_BYTES]) WARN_UNUSED;
/* The header (128 hex digits, either case) must match the HMAC of the NODE or the SORTED form
 * (they differ only when the body has arrays or index-like keys; both cover the whole body),
 * or, when accept_legacy is true, of the LEGACY form, which leaves nested objects
 * unauthenticated and so is off unless the account is known to be signed that way. An
 * unparsable body is malformed. There is no timestamp: replays must be stopped by the
 * caller (payment_id + payment_status already processed). */
enum stdwh_result whsig_nowpayments_verify(const char *x_nowpayments_sig, const char *body,
                                           size_t body_len, const char *const secrets[],
                                           size_t n_secrets, bool accept_legacy);

/* ---- Flow: the `s` parameter (6) ---- */

/* One request parameter, name and value already URL-decoded. */
struct whsig_param {
    const char *name;
    const char *value;
};

/* s = lowercase hex HMAC-SHA256(secret_key, name1 value1 name2 value2 ...) over every
 * parameter except one named "s", names sorted bytewise. False when there are more than
 * WHSIG_FLOW_PARAMS_MAX parameters, a name appears twice, or a name or value is longer than
 * WHSIG_FLOW_VALUE_MAX_BYTES. */
bool whsig_flow_sign(const struct whsig_param *params, size_t n_params, const char *secret_key,
                     char out[WHSIG_SHA256_HEX_BYTES]) WARN_UNUSED;
/* Checks the parameter named "s" among params against the others (as a Flow simulator
 * checks pasarela's calls). Flow's payment confirmation callback itself is not signed: it
 * carries only `token`, whose status the caller must fetch with a signed getStatus call. */
enum stdwh_result whsig_flow_verify(const struct whsig_param *params, size_t n_params,
                                    const char *const secrets[], size_t n_secrets);

/* ---- Conekta: Digest header, RSA with the company's webhook key (4.1) ---- */

/* True when pem is an RSA public key ("-----BEGIN PUBLIC KEY-----") of at least
 * WHSIG_RSA_MIN_BITS bits; use it when the key from POST /webhook_keys is stored. */
bool whsig_conekta_key_ok(const char *pem) WARN_UNUSED;
/* digest: base64 (an optional "sha-256=" / "sha256=" prefix is ignored) of an RSA PKCS#1 v1.5
 * block made with Conekta's private key. Accepted contents (see docs/webhooks.md, the exact
 * construction is unconfirmed): a standard SHA256withRSA signature of the raw body; the raw
 * 32-byte SHA-256 of the body or its hex form "encrypted" with the private key; a
 * SHA256withRSA signature of that hex form. public_keys_pem: 1..WHSIG_SECRETS_MAX PEM keys;
 * unusable keys are skipped. No timestamp: the caller must deduplicate on the event id. */
enum stdwh_result whsig_conekta_verify(const char *digest, const char *body, size_t body_len,
                                       const char *const public_keys_pem[], size_t n_keys);

/* ---- PayPal: local (offline) verification, option B of 5.1 ---- */

/* The PAYPAL-* headers of a notification. */
struct whsig_paypal_headers {
    const char *transmission_id;   /* PAYPAL-TRANSMISSION-ID */
    const char *transmission_time; /* PAYPAL-TRANSMISSION-TIME, RFC 3339 UTC */
    const char *transmission_sig;  /* PAYPAL-TRANSMISSION-SIG, base64 */
    const char *cert_url;          /* PAYPAL-CERT-URL */
    const char *auth_algo;         /* PAYPAL-AUTH-ALGO, only SHA256withRSA is accepted */
};

/* CRC-32 (IEEE 802.3 / zlib) of data. */
uint32_t whsig_crc32(const void *data, size_t len);
/* "<transmission_id>|<transmission_time>|<webhook_id>|<unsigned decimal crc32(body)>", the
 * message PayPal signs; false when a value is missing, too long or contains '|'. */
bool whsig_paypal_message(const char *transmission_id, const char *transmission_time,
                          const char *webhook_id, const char *body, size_t body_len,
                          char out[WHSIG_PAYPAL_MESSAGE_BYTES]) WARN_UNUSED;
/* True when url is "https://<host>/v1/notifications/certs/<CERT-id>" with host one of
 * api.paypal.com, api.sandbox.paypal.com, api-m.paypal.com, api-m.sandbox.paypal.com. The
 * caller must fetch the certificate only from such a URL. */
bool whsig_paypal_cert_url_ok(const char *url) WARN_UNUSED;
/* Verifies the notification locally with the certificate the caller fetched from
 * headers->cert_url (PEM). Checked here: every header present and within PayPal's field
 * limits, auth_algo, cert_url shape, transmission time within now_s +- tolerance_s, the
 * certificate issued to messageverificationcerts.paypal.com or
 * messageverificationcerts.sandbox.paypal.com and valid at now_s, an RSA key of at least
 * WHSIG_RSA_MIN_BITS, and the RSA PKCS#1 v1.5 SHA-256 signature over
 * whsig_paypal_message(). webhook_id is the account's own webhook id (configuration, never
 * from the request). NOT checked here, the caller's job: that the certificate chains to a
 * trusted root (X509_verify_cert with the system store; needs files), revocation, and fetching
 * and caching the certificate. Without a certificate, use PayPal's postback API instead
 * (POST /v1/notifications/verify-webhook-signature). An unusable certificate gives
 * STDWH_BAD_SIGNATURE. */
enum stdwh_result whsig_paypal_verify(const struct whsig_paypal_headers *headers,
                                      const char *webhook_id, const char *body, size_t body_len,
                                      const char *cert_pem, int64_t now_s, int64_t tolerance_s);

#endif
