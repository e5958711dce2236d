#include "providers/accounts.h"

#include "core/json.h"
#include "core/log.h"

void accounts_derive_key(const uint8_t *master_key, size_t len, uint8_t out[SHA256_BYTES])
{
    static const char label[] = "pasarela secrets v1";
    crypto_hmac_sha256(master_key, len, label, sizeof(label) - 1, out);
}

bool provider_name_known(const char *name)
{
    static const char *const names[] = {"sandbox", "mercadopago", "stripe", "polar",
                                        "conekta", "paypal",      "flow",   "nowpayments"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        if (strcmp(names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

json_t *account_mask(const char *secret)
{
    size_t n = strlen(secret);
    char masked[16];
    snprintf(masked, sizeof(masked), "****%s", n > 8 ? secret + n - 4 : "");
    return json_string(masked);
}

static json_t *load_json(const char *text)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    return v ? v : json_object();
}

enum perr_code account_load(struct store_tx *tx, const uint8_t key[SHA256_BYTES], const char *owner,
                            const char *provider, struct provider_account *out, bool *found,
                            struct perr *err)
{
    struct store_rows rows;
    *out = (struct provider_account){0};
    enum perr_code rc =
        store_exec(tx,
                   "SELECT mode, is_default, config, secrets, hints, created,"
                   " updated FROM provider_accounts WHERE owner = ? AND provider = ?",
                   SQL_PARAMS(SV_T(owner), SV_T(provider)), &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    *found = rows.nrows == 1;
    if (*found) {
        str_copy(out->owner, sizeof(out->owner), owner);
        str_copy(out->provider, sizeof(out->provider), provider);
        str_copy(out->mode, sizeof(out->mode), store_rows_get(&rows, 0, 0));
        out->is_default = store_rows_int(&rows, 0, 1) != 0;
        out->config = load_json(store_rows_get(&rows, 0, 2));
        const char *sealed = store_rows_get(&rows, 0, 3);
        char *clear = crypto_unseal(key, sealed);
        if (!clear) {
            char kid[CRYPTO_KID_BYTES];
            enum seal_problem problem = crypto_seal_problem(key, sealed, kid);
            log_emit(LOG_ERROR, "provider account secrets cannot be unsealed",
                     json_pack("{s:s, s:s, s:s, s:s}", "owner", owner, "provider", provider,
                               "problem", seal_problem_text(problem), "key_id", kid));
        }
        out->secrets = load_json(clear);
        if (clear) {
            crypto_free_secret(clear);
        }
        out->hints = load_json(store_rows_get(&rows, 0, 4));
        str_copy(out->created, sizeof(out->created), store_rows_get(&rows, 0, 5));
        str_copy(out->updated, sizeof(out->updated), store_rows_get(&rows, 0, 6));
    }
    store_rows_free(&rows);
    return PERR_OK;
}

enum perr_code account_save(struct store_tx *tx, const uint8_t key[SHA256_BYTES],
                            const struct provider_account *a, bool exists, struct perr *err)
{
    char *config = json_dump_compact(a->config);
    char *secrets_clear = json_dump_compact(a->secrets);
    char *sealed = crypto_seal(key, secrets_clear);
    crypto_free_secret(secrets_clear);
    char *hints = json_dump_compact(a->hints);
    enum perr_code rc =
        exists
            ? store_exec(tx,
                         "UPDATE provider_accounts SET mode = ?, is_default = ?, config = ?,"
                         " secrets = ?, hints = ?, updated = ? WHERE owner = ? AND provider = ?",
                         SQL_PARAMS(SV_T(a->mode), SV_I(a->is_default), SV_T(config), SV_T(sealed),
                                    SV_T(hints), SV_T(a->updated), SV_T(a->owner),
                                    SV_T(a->provider)),
                         NULL, err)
            : store_exec(tx,
                         "INSERT INTO provider_accounts (owner, provider, mode, is_default, config,"
                         " secrets, hints, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         SQL_PARAMS(SV_T(a->owner), SV_T(a->provider), SV_T(a->mode),
                                    SV_I(a->is_default), SV_T(config), SV_T(sealed), SV_T(hints),
                                    SV_T(a->created), SV_T(a->updated)),
                         NULL, err);
    free(config);
    free(sealed);
    free(hints);
    return rc;
}

void account_init(struct provider_account *a, const char *owner, const char *provider,
                  const char *mode, const char *created)
{
    *a = (struct provider_account){
        .config = json_object(), .secrets = json_object(), .hints = json_object()};
    str_copy(a->owner, sizeof(a->owner), owner);
    str_copy(a->provider, sizeof(a->provider), provider);
    str_copy(a->mode, sizeof(a->mode), mode);
    str_copy(a->created, sizeof(a->created), created);
}

void account_release(struct provider_account *a)
{
    json_decref(a->config);
    json_decref(a->secrets);
    json_decref(a->hints);
    *a = (struct provider_account){0};
}

static json_t *field_or(json_t *obj, const char *key, json_t *fallback)
{
    json_t *v = json_object_get(obj, key);
    if (v) {
        json_decref(fallback);
        return json_incref(v);
    }
    return fallback;
}

json_t *account_json(const struct provider_account *a)
{
    json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:o, s:s, s:s}", "object",
                            "provider_account", "provider", a->provider, "owner", a->owner, "mode",
                            a->mode, "default", a->is_default, "ip_allowlist",
                            field_or(a->config, "ip_allowlist", json_array()), "webhook_secrets",
                            field_or(a->hints, "webhook_secrets", json_array()), "credentials",
                            field_or(a->hints, "credentials", json_object()), "created", a->created,
                            "updated", a->updated);
    static const char *const settings[] = {"webhook_id", "account_ref", "token_expires_at"};
    for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
        json_object_set_new(out, settings[i], field_or(a->config, settings[i], json_null()));
    }
    return out;
}
