/* Connecting a tenant's provider account by OAuth: POST /v1/providers/{provider}/connect gives
 * the authorization URL (with a single-use, expiring, authenticated state bound to the
 * tenant); GET /oauth/{provider}/callback is where the provider sends the browser back: the
 * state is checked and consumed, the code exchanged for tokens with the operator's
 * application, and the tokens stored sealed in the tenant's account (mode connected). */
#include "providers/oauth.h"
#include "api/api.h"
#include "core/json.h"
#include "core/log.h"
#include "providers/binding.h"
#include "webhooks/webhooks.h"

#define LIMIT_CODE_BYTES 512

/* The provider, its OAuth support and the operator's account that runs the application. */
static enum perr_code bind_platform(struct request *req, const char *provider,
                                    struct provider_binding *b, struct perr *err)
{
    if (!provider_name_known(provider)) {
        return perr_set(err, PERR_RESOURCE_MISSING, "provider",
                        "pasarela knows no provider "
                        "'%.32s'.",
                        provider);
    }
    const struct provider_ops *ops = provider_find(provider);
    if (!ops || !ops->oauth_authorize_url) {
        return perr_set(err, PERR_OAUTH_NOT_SUPPORTED, "provider", NULL);
    }
    enum perr_code rc = provider_bind_owner(req->app, ACCOUNT_OWNER_PLATFORM, provider, b, err);
    if (rc == PERR_OK && !b->has_platform) {
        provider_binding_release(b);
        rc = perr_set(err, PERR_PROVIDER_NOT_ENABLED, "provider",
                      "The operator has not configured its %s application (PUT "
                      "/v1/providers/%s without Pasarela-Tenant).",
                      provider, provider);
    }
    return rc;
}

static enum perr_code read_return_url(json_t *body, const char **out, struct perr *err)
{
    static const char *const allowed[] = {"return_url", NULL};
    enum perr_code rc = body ? json_only_keys(body, allowed, err) : PERR_OK;
    *out = NULL;
    if (rc == PERR_OK && body) {
        rc = json_get_string(body, "return_url", LIMIT_PATH_BYTES - 1, out, err);
    }
    if (rc == PERR_OK && *out && strncmp(*out, "https://", 8) != 0 &&
        strncmp(*out, "http://", 7) != 0) {
        rc = perr_set(err, PERR_PARAM_INVALID, "return_url",
                      "return_url must be an http:// or https:// URL.");
    }
    if (rc == PERR_OK && *out && strpbrk(*out, "\r\n ")) {
        rc = perr_set(err, PERR_PARAM_INVALID, "return_url", "return_url must be one URL.");
    }
    return rc;
}

void api_providers_connect(struct request *req, struct response *res)
{
    const char *provider = req->path_params[0];
    const char *return_url;
    struct provider_binding b;
    struct perr err;
    if (read_return_url(req->json, &return_url, &err) != PERR_OK ||
        bind_platform(req, provider, &b, &err) != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    char state[OAUTH_STATE_BYTES], redirect[CONFIG_PATH_BYTES + 64], url[LIMIT_PATH_BYTES * 2];
    oauth_redirect_uri(req->app, provider, redirect, sizeof(redirect));
    struct provider_ctx ctx = provider_binding_ctx(&b, req->app, req->request_id);
    struct store_tx tx;
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, &err);
    if (rc == PERR_OK) {
        rc = oauth_state_create(req->app, &tx, req->auth.tenant_id, provider, return_url, state,
                                &err);
        if (rc == PERR_OK) {
            rc = b.ops->oauth_authorize_url(&ctx, state, redirect, url, sizeof(url), &err);
        }
        if (rc == PERR_OK) {
            json_t *changes =
                api_changes(json_object(), json_pack("{s:s}", "redirect_uri", redirect));
            rc = api_audit(req, &tx, req->auth.tenant_id, "provider.connect_started",
                           "provider_account", provider, changes, &err);
            json_decref(changes);
        }
        if (rc != PERR_OK) {
            store_tx_rollback(&tx);
        }
    }
    provider_binding_release(&b);
    if (rc == PERR_OK) {
        json_t *body = json_pack("{s:s, s:s, s:s, s:i}", "object", "oauth_authorization",
                                 "provider", provider, "url", url, "expires_in", OAUTH_STATE_TTL_S);
        rc = api_commit_respond(req, &tx, res, 201, body, &err);
    }
    if (rc != PERR_OK) {
        respond_error(res, &err);
    }
}

/* Checks and consumes the state in its own transaction: a state is spent even when the
 * exchange that follows fails. A refused state is a security event. */
static enum perr_code consume_state(struct request *req, struct oauth_state *st, struct perr *err)
{
    const char *provider = req->path_params[0];
    const char *reason = NULL;
    struct store_tx tx;
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_WRITE, &tx, err);
    if (rc == PERR_OK) {
        rc = oauth_state_consume(req->app, &tx, request_query(req, "state"), provider, st, &reason,
                                 err);
        rc = store_tx_finish(&tx, rc, err);
    }
    if (reason) {
        webhook_security_event(req, "oauth_state_refused", provider, NULL, reason);
    }
    return rc;
}

struct connected {
    struct request *req;
    const struct oauth_state *st;
    const struct provider_tokens *tokens;
};

static enum perr_code store_connected_tx(struct store_tx *tx, void *arg, struct perr *err)
{
    const struct connected *c = arg;
    char actor[LIMIT_ID_BYTES + 16];
    snprintf(actor, sizeof(actor), "oauth:%s", c->st->tenant_id);
    return oauth_store_tokens(c->req->app, tx, c->st->tenant_id, c->st->provider, c->tokens, actor,
                              c->req->request_id, err);
}

static enum perr_code exchange_and_store(struct request *req, const struct oauth_state *st,
                                         const char *code, struct perr *err)
{
    struct provider_binding b;
    enum perr_code rc = bind_platform(req, st->provider, &b, err);
    if (rc != PERR_OK) {
        return rc;
    }
    char redirect[CONFIG_PATH_BYTES + 64];
    oauth_redirect_uri(req->app, st->provider, redirect, sizeof(redirect));
    struct provider_ctx ctx = provider_binding_ctx(&b, req->app, req->request_id);
    struct provider_tokens t = {0};
    rc = b.ops->oauth_exchange(&ctx, code, redirect, &t, err);
    provider_binding_release(&b);
    if (rc == PERR_OK) {
        struct connected c = {.req = req, .st = st, .tokens = &t};
        rc = store_write(req->app->store, store_connected_tx, &c, err);
    }
    crypto_wipe(&t, sizeof(t));
    return rc;
}

/* Back to the tenant's page when it gave one: ?provider=..&status=connected|failed. */
static bool redirect_back(struct response *res, const struct oauth_state *st, bool ok)
{
    if (!st->return_url[0]) {
        return false;
    }
    snprintf(res->location, sizeof(res->location), "%s%sprovider=%s&status=%s", st->return_url,
             strchr(st->return_url, '?') ? "&" : "?", st->provider, ok ? "connected" : "failed");
    respond_json(
        res, 302,
        json_pack("{s:s, s:s}", "provider", st->provider, "status", ok ? "connected" : "failed"));
    return true;
}

void api_oauth_callback(struct request *req, struct response *res)
{
    struct oauth_state st;
    struct perr err;
    if (consume_state(req, &st, &err) != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    const char *code = request_query(req, "code");
    enum perr_code rc;
    if (request_query(req, "error") || !code || strlen(code) > LIMIT_CODE_BYTES) {
        rc = perr_set(&err, PERR_PARAM_INVALID, "code",
                      "The account owner did not authorize the connection (no code).");
    } else {
        rc = exchange_and_store(req, &st, code, &err);
    }
    if (rc != PERR_OK) {
        log_emit(LOG_WARN, "OAuth connection failed",
                 json_pack("{s:s, s:s, s:s, s:s}", "tenant", st.tenant_id, "provider", st.provider,
                           "detail", err.message, "request_id", req->request_id));
        if (err.code != PERR_PARAM_INVALID) {
            perr_set(&err, err.code, NULL, NULL); /* the provider's words stay in the log */
        }
    }
    if (redirect_back(res, &st, rc == PERR_OK)) {
        return;
    }
    if (rc != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    respond_json(res, 200,
                 json_pack("{s:s, s:s, s:s, s:s}", "object", "provider_account", "provider",
                           st.provider, "tenant_id", st.tenant_id, "mode", "connected"));
}
