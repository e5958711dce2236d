/* GET /health: liveness, the store's state, and every provider circuit breaker that is not
 * plainly closed (open ones fail fast with 503 provider_unavailable). A provider's trouble
 * does not make pasarela unhealthy: only the store does. */
#include "api/api.h"
#include "providers/breaker.h"

void api_health(struct request *req, struct response *res)
{
    struct perr err;
    bool ok = store_ping(req->app->store, &err) == PERR_OK;
    json_t *body = json_pack("{s:s, s:s, s:s}", "status", ok ? "ok" : "degraded", "version",
                             PASARELA_VERSION, "store", ok ? "ok" : "unavailable");
    if (req->app->breakers) {
        json_object_set_new(body, "providers", breakers_json(req->app->breakers));
    }
    respond_json(res, ok ? 200 : 503, body);
}
