/* The connector interface every payment provider implements, and the registry that maps a
 * provider's name to it. Connector calls do network I/O (or, for the sandbox, their own
 * store transactions): never call one inside a store transaction. */
#ifndef PASARELA_CONNECTOR_H
#define PASARELA_CONNECTOR_H

#include "core/errors.h"
#include "core/money.h"
#include "domain/payment.h"

struct app;
struct provider_account;

enum provider_caps {
    PROVIDER_CAP_REFUNDS = 1 << 0,
    PROVIDER_CAP_CANCEL = 1 << 1,
    PROVIDER_CAP_SEARCH = 1 << 2,
    PROVIDER_CAP_WEBHOOKS = 1 << 3,
    PROVIDER_CAP_OAUTH = 1 << 4,
};

#define PROVIDER_ID_BYTES 128
#define PROVIDER_URL_BYTES 512
#define PROVIDER_DETAIL_BYTES 64

/* The account a call acts for: a tenant's own, or the platform's (tenant_id NULL). account
 * holds its settings and unsealed secrets (NULL for the sandbox, which needs none); platform
 * is the operator's account at the provider when configured (its OAuth application, Stripe's
 * platform key for connected accounts). */
struct provider_ctx {
    struct app *app;
    const char *tenant_id;
    const char *correlation_id;
    const struct provider_account *account;
    const struct provider_account *platform;
};

struct provider_payment_request {
    const char *payment_id;      /* pasarela's id, sent as the provider's external reference */
    const char *idempotency_key; /* stable across retries of the same creation */
    int64_t amount;
    const struct currency *currency;
    const char *description;
    const char *customer_email;
    const char *customer_name;
    const char *customer_country;
    const char *method;
    const char *notification_url; /* where the provider sends this payment's webhooks */
    int64_t application_fee;      /* the operator's fee kept from a connected account, or 0 */
};

/* A provider's view of one payment. */
struct store_tx;
struct provider_payment;

/* The record an in-process provider (the sandbox) keeps of a payment it created. The caller
 * writes it in the transaction that records the payment, so that both commit or neither,
 * with no store round trip of the provider's own. */
typedef enum perr_code (*provider_record_fn)(struct store_tx *tx, const struct provider_ctx *ctx,
                                             const struct provider_payment_request *req,
                                             const struct provider_payment *created,
                                             struct perr *err);

struct provider_payment {
    char id[PROVIDER_ID_BYTES];
    enum payment_status status;
    char status_detail[PROVIDER_DETAIL_BYTES];
    char checkout_url[PROVIDER_URL_BYTES];
    int64_t amount;
    char currency[4];
    int64_t amount_refunded;
    bool has_fee;
    int64_t fee;
    char external_reference[PROVIDER_ID_BYTES];
    char account_ref[PROVIDER_ID_BYTES]; /* the provider's id of the receiving account, if told */
    provider_record_fn record;           /* set by an in-process provider's create_payment */
};

struct provider_refund {
    char id[PROVIDER_ID_BYTES];
    int64_t amount;
};

/* A verified webhook reduced to what pasarela needs. */
struct provider_event {
    char type[64];
    bool has_payment;                    /* the event carries the payment's state */
    struct provider_payment payment;     /* when has_payment */
    char payment_ref[PROVIDER_ID_BYTES]; /* the provider's payment id ("" when not a payment) */
    char account_ref[PROVIDER_ID_BYTES]; /* the connected account it came from, if told */
};

/* What an OAuth exchange or refresh yields. */
struct provider_tokens {
    char access_token[PROVIDER_URL_BYTES];
    char refresh_token[PROVIDER_URL_BYTES];
    char account_ref[PROVIDER_ID_BYTES]; /* the provider's id of the connected account */
    int64_t expires_in_s;                /* 0: the token does not expire */
};

typedef void (*provider_search_fn)(const struct provider_payment *p, int64_t created_us, void *arg);

struct provider_ops {
    const char *name;
    unsigned caps; /* enum provider_caps */
    /* Creates a payment; out receives its provider id, status and checkout URL. Errors:
     * PERR_PROVIDER_ERROR (502), PERR_PROVIDER_TIMEOUT (504), PERR_PROVIDER_UNAVAILABLE. */
    enum perr_code (*create_payment)(const struct provider_ctx *ctx,
                                     const struct provider_payment_request *req,
                                     struct provider_payment *out, struct perr *err);
    /* The authoritative state of a payment. */
    enum perr_code (*get_payment)(const struct provider_ctx *ctx, const char *provider_id,
                                  struct provider_payment *out, struct perr *err);
    /* Refunds amount (minor units) of a payment. */
    enum perr_code (*refund)(const struct provider_ctx *ctx, const char *provider_id,
                             int64_t amount, const char *idempotency_key,
                             struct provider_refund *out, struct perr *err);
    /* Cancels a pending payment; out receives the state after the call. */
    enum perr_code (*cancel)(const struct provider_ctx *ctx, const char *provider_id,
                             struct provider_payment *out, struct perr *err);
    /* Calls fn for every payment created in [from_us, to_us). */
    enum perr_code (*search)(const struct provider_ctx *ctx, int64_t from_us, int64_t to_us,
                             provider_search_fn fn, void *arg, struct perr *err);
    /* Parses a webhook body that was already verified. */
    enum perr_code (*parse_webhook)(const struct provider_ctx *ctx, const char *body, size_t len,
                                    struct provider_event *out, struct perr *err);
    /* OAuth (NULL for providers without it), acting with the platform account's application:
     * the authorization URL for state, the exchange of a code for tokens, their refresh, and
     * the revocation of a connected account (may be NULL: nothing to tell the provider). */
    enum perr_code (*oauth_authorize_url)(const struct provider_ctx *ctx, const char *state,
                                          const char *redirect_uri, char *url, size_t size,
                                          struct perr *err);
    enum perr_code (*oauth_exchange)(const struct provider_ctx *ctx, const char *code,
                                     const char *redirect_uri, struct provider_tokens *out,
                                     struct perr *err);
    enum perr_code (*oauth_refresh)(const struct provider_ctx *ctx, const char *refresh_token,
                                    struct provider_tokens *out, struct perr *err);
    enum perr_code (*oauth_revoke)(const struct provider_ctx *ctx, const char *account_ref,
                                   struct perr *err);
};

/* The connector registered under name, or NULL. */
const struct provider_ops *provider_find(const char *name);

/* Wrappers: the one seam through which every connector call goes (and tests inject). */
enum perr_code provider_create_payment(const struct provider_ops *p, const struct provider_ctx *ctx,
                                       const struct provider_payment_request *req,
                                       struct provider_payment *out, struct perr *err) WARN_UNUSED;
enum perr_code provider_get_payment(const struct provider_ops *p, const struct provider_ctx *ctx,
                                    const char *provider_id, struct provider_payment *out,
                                    struct perr *err) WARN_UNUSED;
enum perr_code provider_refund(const struct provider_ops *p, const struct provider_ctx *ctx,
                               const char *provider_id, int64_t amount, const char *idempotency_key,
                               struct provider_refund *out, struct perr *err) WARN_UNUSED;
enum perr_code provider_cancel(const struct provider_ops *p, const struct provider_ctx *ctx,
                               const char *provider_id, struct provider_payment *out,
                               struct perr *err) WARN_UNUSED;

extern const struct provider_ops provider_sandbox;
extern const struct provider_ops provider_mercadopago;
extern const struct provider_ops provider_stripe;

#endif
