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
    ROUTE_TENANT = 1 << 0,     /* acts on one tenant: the admin key must name it */
    ROUTE_IDEMPOTENT = 1 << 1, /* honours Idempotency-Key */
    ROUTE_RAW_BODY = 1 << 2,   /* the handler reads req->body itself (webhooks); otherwise a
                                  body must be one JSON object, parsed into req->json */
};

#define IDEMPOTENCY_KEY_MAX 255

/* The Idempotency-Key state of one request (http/idempotency.c). */
struct idempotency {
    bool claimed;               /* this request owns the key and must store or release it */
    bool stored;                /* the answer was stored with the change */
    char scope[LIMIT_ID_BYTES]; /* the tenant id, or "platform" */
    char key[IDEMPOTENCY_KEY_MAX + 1];
    char request_sha256[65];
};

struct auth {
    bool is_admin;
    char tenant_id[LIMIT_ID_BYTES]; /* "" when acting on the platform */
    char key_id[LIMIT_ID_BYTES];    /* the tenant key used; "" for the admin key */
    char actor[LIMIT_ID_BYTES + 8]; /* "admin" or "key:<id>", for the audit trail */
};

struct server;

struct request {
    struct app *app;
    struct server *server;
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
    bool path_too_long;
    bool body_too_large;
    struct idempotency idem;
    char path_storage[LIMIT_PATH_BYTES]; /* path_params point into it */
};

struct response {
    int status;
    json_t *body;             /* owned; NULL for an empty body */
    char allow[64];           /* the Allow header of a 405 */
    const char *content_type; /* default application/json; static strings only */
    char *raw;                /* a non-JSON body (owned), e.g. CSV; used when body is NULL */
    size_t raw_len;
    bool replayed;                       /* an idempotent replay: adds Idempotent-Replayed: true */
    char location[LIMIT_PATH_BYTES * 2]; /* a redirect's Location, or "" */
};

typedef void (*handler_fn)(struct request *req, struct response *res);

struct route {
    const char *method;
    const char *pattern; /* "/v1/tenants/{id}" */
    handler_fn handler;
    enum auth_need auth;
    unsigned flags;    /* enum route_flags */
    size_t body_limit; /* bytes; 0 for LIMIT_BODY_BYTES */
};

/* Answers with a JSON body (consumed). */
void respond_json(struct response *res, int status, json_t *body);
/* Answers with the error shape of DESIGN.md for err. */
void respond_error(struct response *res, const struct perr *err);
/* Shorthand for respond_error with a fresh perr. */
void respond_fail(struct response *res, enum perr_code code, const char *param, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

/* Answers with a JSON text already serialized (consumed). */
void respond_raw_json(struct response *res, int status, char *text);

/* A query-string argument, or NULL. */
const char *request_query(const struct request *req, const char *name);
const char *request_header(const struct request *req, const char *name);
/* The client's address as text ("127.0.0.1"), for security events. */
void request_source(const struct request *req, char *out, size_t size);

#endif
