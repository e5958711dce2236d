#include "api/api.h"

void api_health(struct request *req, struct response *res)
{
    struct perr err;
    bool ok = store_ping(req->app->store, &err) == PERR_OK;
    respond_json(res, ok ? 200 : 503,
                 json_pack("{s:s, s:s, s:s}", "status", ok ? "ok" : "degraded", "version",
                           PASARELA_VERSION, "store", ok ? "ok" : "unavailable"));
}
