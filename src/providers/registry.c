#include "providers/connector.h"

static const struct provider_ops *const registry[] = {
    &provider_sandbox,
    &provider_mercadopago,
    &provider_stripe,
};

const struct provider_ops *provider_find(const char *name)
{
    const struct provider_ops *found = NULL;
    for (size_t i = 0; i < ARRAY_LEN(registry); i++) {
        if (strcmp(registry[i]->name, name) == 0) {
            PASSERT(found == NULL); /* two connectors registered under one name */
            found = registry[i];
        }
    }
    return found;
}

enum perr_code provider_create_payment(const struct provider_ops *p, const struct provider_ctx *ctx,
                                       const struct provider_payment_request *req,
                                       struct provider_payment *out, struct perr *err)
{
    *out = (struct provider_payment){0};
    return p->create_payment(ctx, req, out, err);
}

enum perr_code provider_get_payment(const struct provider_ops *p, const struct provider_ctx *ctx,
                                    const char *provider_id, struct provider_payment *out,
                                    struct perr *err)
{
    *out = (struct provider_payment){0};
    return p->get_payment(ctx, provider_id, out, err);
}

enum perr_code provider_refund(const struct provider_ops *p, const struct provider_ctx *ctx,
                               const char *provider_id, int64_t amount, const char *idempotency_key,
                               struct provider_refund *out, struct perr *err)
{
    *out = (struct provider_refund){0};
    if (!(p->caps & PROVIDER_CAP_REFUNDS)) {
        return perr_set(err, PERR_PROVIDER_ERROR, "provider", "%s does not support refunds.",
                        p->name);
    }
    return p->refund(ctx, provider_id, amount, idempotency_key, out, err);
}

enum perr_code provider_cancel(const struct provider_ops *p, const struct provider_ctx *ctx,
                               const char *provider_id, struct provider_payment *out,
                               struct perr *err)
{
    *out = (struct provider_payment){0};
    if (!(p->caps & PROVIDER_CAP_CANCEL)) {
        return perr_set(err, PERR_PAYMENT_NOT_CANCELLABLE, NULL,
                        "%s does not support cancelling payments.", p->name);
    }
    return p->cancel(ctx, provider_id, out, err);
}
