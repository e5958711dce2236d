/* Matching (method, path) against a route table. Patterns are literal segments and {name}
 * segments that match any one non-empty segment. */
#ifndef PASARELA_ROUTER_H
#define PASARELA_ROUTER_H

#include "http/http.h"

enum router_result { ROUTER_FOUND, ROUTER_WRONG_METHOD, ROUTER_NOT_FOUND };

struct router_match {
    const struct route *route;
    const char *params[LIMIT_PATH_SEGMENTS]; /* point into `storage` */
    size_t nparams;
    char allow[64]; /* methods the path accepts, for a 405 */
};

/* storage (LIMIT_PATH_BYTES) receives a copy of path that the params point into. */
enum router_result router_match(const struct route *routes, size_t nroutes, const char *method,
                                const char *path, char *storage, struct router_match *m);

#endif
