/* What a handler sees of one HTTP request, and how it answers. The dispatcher
 * (server.c) has already matched the route, authenticated the caller, resolved the tenant
 * and parsed the body before a handler runs; handlers never repeat those checks. */
#ifndef PASARELA_HTTP_H
#define PASARELA_HTTP_H

#include <jansson.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/errors.h"
#include "store/store.h"

struct app; /* the running server's shared state: see app.h */

enum auth_need {
    AUTH_NONE,  /* public */
    AUTH_ANY,   /* the admin key or a tenant key */
    AUTH_ADMIN, /* the admin key only */
};

enum route_flags {
    ROUTE_BODY = 1 << 0,   /* a JSON object body is required */
    ROUTE_TENANT = 1 << 1, /* acts on one tenant: the admin key must name it */
};

struct auth {
    bool is_admin;
    char tenant_id[LIMIT_ID_BYTES]; /* "" when acting on the platform */
    char key_id[LIMIT_ID_BYTES];    /* the tenant key used; "" for the admin key */
    char actor[LIMIT_ID_BYTES + 8]; /* "admin" or "key:<id>", for the audit trail */
};

struct request {
    struct app *app;
    struct MHD_Connection *conn;
    const char *method;
    char path[LIMIT_PATH_BYTES];
    const char *path_params[LIMIT_PATH_SEGMENTS]; /* values of {name} segments, in order */
    size_t npath_params;
    struct buf body;
    json_t *json; /* the parsed body when the route takes one; owned by the request */
    char request_id[LIMIT_REQUEST_ID_BYTES + 1];
    struct auth auth;
    uint64_t start_us;
    bool body_too_large;
    char path_storage[LIMIT_PATH_BYTES]; /* path_params point into it */
};

struct response {
    int status;
    json_t *body;              /* owned; NULL for an empty body */
    char allow[64];            /* the Allow header of a 405 */
    const char *content_type;  /* default application/json; static strings only */
    char *raw;                 /* a non-JSON body (owned), e.g. CSV; used when body is NULL */
    size_t raw_len;
};

typedef void (*handler_fn)(struct request *req, struct response *res);

struct route {
    const char *method;
    const char *pattern; /* "/v1/tenants/{id}" */
    handler_fn handler;
    enum auth_need auth;
    unsigned flags; /* enum route_flags */
};

/* Answers with a JSON body (consumed). */
void respond_json(struct response *res, int status, json_t *body);
/* Answers with the error shape of DESIGN.md for err. */
void respond_error(struct response *res, const struct perr *err);
/* Shorthand for respond_error with a fresh perr. */
void respond_fail(struct response *res, enum perr_code code, const char *param, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

/* A query-string argument, or NULL. */
const char *request_query(const struct request *req, const char *name);
const char *request_header(const struct request *req, const char *name);

#endif
