#include "http/server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <unistd.h>

#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "http/auth.h"
#include "http/idempotency.h"
#include "http/router.h"

#include <arpa/inet.h>

struct server {
    struct MHD_Daemon *daemon;
    struct app *app;
    uint16_t port;
    _Atomic int inflight;  /* requests begun and not yet completed */
    _Atomic bool draining; /* stopping: new requests answer 503 */
};

#define DRAIN_WAIT_MS 10000

void respond_json(struct response *res, int status, json_t *body)
{
    json_decref(res->body);
    res->status = status;
    res->body = body;
}

void respond_error(struct response *res, const struct perr *err)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "type", perr_type(err->code), "code",
                          perr_code_name(err->code), "message",
                          err->message[0] ? err->message : perr_default_message(err->code));
    if (err->param[0]) {
        json_object_set_new(e, "param", json_string(err->param));
    }
    respond_json(res, perr_http_status(err->code), json_pack("{s:o}", "error", e));
}

void respond_fail(struct response *res, enum perr_code code, const char *param, const char *fmt,
                  ...)
{
    struct perr err = {.code = code};
    str_copy(err.param, sizeof(err.param), param ? param : "");
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err.message, sizeof(err.message), fmt, ap);
        va_end(ap);
    }
    respond_error(res, &err);
}

void respond_raw_json(struct response *res, int status, char *text)
{
    json_decref(res->body);
    res->body = NULL;
    free(res->raw);
    res->status = status;
    res->raw = text;
    res->raw_len = strlen(text);
}

void request_source(const struct request *req, char *out, size_t size)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    str_copy(out, size, "unknown");
    if (!info || !info->client_addr) {
        return;
    }
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)size);
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)size);
    }
}

const char *request_query(const struct request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *request_header(const struct request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static bool valid_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '-' || c == '_' || c == '.' || c == ':';
        if (!ok || n >= LIMIT_REQUEST_ID_BYTES) {
            return false;
        }
    }
    return n > 0;
}

/* True when s[0..n) are lowercase hex digits; *nonzero tells whether one is not '0'. */
static bool lower_hex(const char *s, size_t n, bool *nonzero)
{
    *nonzero = false;
    for (size_t i = 0; i < n; i++) {
        bool digit = s[i] >= '0' && s[i] <= '9';
        if (!digit && !(s[i] >= 'a' && s[i] <= 'f')) {
            return false;
        }
        *nonzero = *nonzero || s[i] != '0';
    }
    return true;
}

/* traceparent (W3C Trace Context) is "<2 hex version>-<32 hex trace id>-<16 hex parent
 * id>-<2 hex flags>", lowercase; version ff and all-zero ids are invalid, and a version
 * after 00 may append "-<more>". Its trace id becomes the correlation id. */
static bool trace_id_from_traceparent(const char *tp, char *out, size_t size)
{
    size_t len = strlen(tp);
    bool version_nz, trace_nz, parent_nz, flags_nz;
    if (len < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' ||
        !lower_hex(tp, 2, &version_nz) || strncmp(tp, "ff", 2) == 0 ||
        !lower_hex(tp + 3, 32, &trace_nz) || !trace_nz || !lower_hex(tp + 36, 16, &parent_nz) ||
        !parent_nz || !lower_hex(tp + 53, 2, &flags_nz)) {
        return false;
    }
    if (len > 55 && (!version_nz || tp[55] != '-')) {
        return false; /* version 00 is exactly 55 characters */
    }
    snprintf(out, size, "%.32s", tp + 3);
    return true;
}

static void assign_request_id(struct request *req)
{
    const char *given = request_header(req, "X-Request-Id");
    if (given && valid_request_id(given)) {
        str_copy(req->request_id, sizeof(req->request_id), given);
        return;
    }
    const char *tp = request_header(req, "traceparent");
    if (tp && trace_id_from_traceparent(tp, req->request_id, sizeof(req->request_id))) {
        return;
    }
    char id[LIMIT_ID_BYTES];
    id_new("req", id);
    str_copy(req->request_id, sizeof(req->request_id), id);
}

static void log_request(const struct request *req, int status)
{
    enum log_level level = status >= 500 ? LOG_ERROR : LOG_INFO;
    if (!log_enabled(level)) {
        return;
    }
    json_t *fields = json_pack("{s:s, s:s, s:i, s:I, s:s, s:s}", "method", req->method, "path",
                               req->path, "status", status, "duration_us",
                               (json_int_t)(time_monotonic_us() - req->start_us), "tenant",
                               req->auth.tenant_id, "request_id", req->request_id);
    log_emit(level, "request", fields);
}

static enum MHD_Result send_response(struct request *req, struct response *res)
{
    char *text;
    size_t len;
    if (res->body) {
        if (res->status >= 400) {
            json_t *e = json_object_get(res->body, "error");
            json_object_set_new(e, "request_id", json_string(req->request_id));
        }
        text = json_dump_ordered(res->body);
        PASSERT(text != NULL);
        len = strlen(text);
    } else {
        text = res->raw;
        len = res->raw_len;
        res->raw = NULL;
    }
    if (!text) {
        text = xstrdup("");
        len = 0;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, text, free);
    MHD_add_response_header(r, "Content-Type",
                            res->content_type ? res->content_type : "application/json");
    MHD_add_response_header(r, "Request-Id", req->request_id);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (res->allow[0]) {
        MHD_add_response_header(r, "Allow", res->allow);
    }
    if (res->replayed) {
        MHD_add_response_header(r, "Idempotent-Replayed", "true");
    }
    if (res->location[0]) {
        MHD_add_response_header(r, "Location", res->location);
    }
    enum MHD_Result ret = MHD_queue_response(req->conn, (unsigned)res->status, r);
    MHD_destroy_response(r);
    log_request(req, res->status);
    json_decref(res->body);
    res->body = NULL;
    return ret;
}

static void run_handler(struct request *req, const struct route *route, struct response *res)
{
    if ((route->flags & ROUTE_IDEMPOTENT) && !idempotency_begin(req, res)) {
        return;
    }
    route->handler(req, res);
    idempotency_end(req);
}

static void dispatch(struct request *req, struct response *res)
{
    struct router_match m;
    struct perr err;
    perr_clear(&err);
    if (req->path_too_long) {
        respond_fail(res, PERR_ROUTE_NOT_FOUND, NULL, "The path is longer than %d bytes.",
                     LIMIT_PATH_BYTES - 1);
        return;
    }
    switch (router_match(req->app->routes, req->app->nroutes, req->method, req->path,
                         req->path_storage, &m)) {
    case ROUTER_NOT_FOUND:
        respond_fail(res, PERR_ROUTE_NOT_FOUND, NULL, "There is no endpoint %.8s %.200s.",
                     req->method, req->path);
        return;
    case ROUTER_WRONG_METHOD:
        respond_fail(res, PERR_METHOD_NOT_ALLOWED, NULL, "%.200s accepts %s.", req->path, m.allow);
        str_copy(res->allow, sizeof(res->allow), m.allow);
        return;
    case ROUTER_FOUND:
        break;
    }
    memcpy(req->path_params, m.params, sizeof(m.params));
    req->npath_params = m.nparams;
    if (req->body_too_large ||
        req->body.len > (m.route->body_limit ? m.route->body_limit : LIMIT_BODY_BYTES)) {
        respond_fail(res, PERR_BODY_TOO_LARGE, NULL, "The request body is larger than %zu bytes.",
                     m.route->body_limit ? m.route->body_limit : (size_t)LIMIT_BODY_BYTES);
        return;
    }
    if (auth_authenticate(req, m.route->auth, m.route->flags, &err) != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    if ((m.route->flags & ROUTE_RAW_BODY) == 0) {
        if (req->body.len == 0) {
            req->json = json_object(); /* no body: no parameters */
        } else if (json_parse_object(req->body.data, req->body.len, &req->json, &err) != PERR_OK) {
            respond_error(res, &err);
            return;
        }
    }
    run_handler(req, m.route, res);
}

static struct request *request_new(struct server *s, struct MHD_Connection *conn, const char *url,
                                   const char *method)
{
    struct request *req = xcalloc(1, sizeof(*req));
    atomic_fetch_add(&s->inflight, 1);
    req->server = s;
    req->app = s->app;
    req->conn = conn;
    req->method = method;
    req->start_us = time_monotonic_us();
    req->path_too_long = !str_copy(req->path, sizeof(req->path), url);
    buf_init(&req->body, LIMIT_BODY_BYTES);
    assign_request_id(req);
    const char *cl = request_header(req, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > LIMIT_BODY_BYTES) {
        req->body_too_large = true;
    }
    return req;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct request *req = *con_cls;
    if (!req) {
        req = request_new(cls, conn, url, method);
        *con_cls = req;
        if (!req->body_too_large) {
            return MHD_YES;
        }
        /* Declared too large: answer now, without reading the body. */
    } else if (*upload_data_size) {
        if (!req->body_too_large && !buf_append(&req->body, upload_data, *upload_data_size)) {
            req->body_too_large = true;
            buf_release(&req->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct response res = {.status = 500};
    if (atomic_load(&req->server->draining)) {
        respond_fail(&res, PERR_SHUTTING_DOWN, NULL, NULL);
    } else {
        dispatch(req, &res);
    }
    return send_response(req, &res);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    struct request *req = *con_cls;
    if (!req) {
        return;
    }
    atomic_fetch_sub(&req->server->inflight, 1);
    json_decref(req->json);
    buf_release(&req->body);
    free(req);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char text[LIMIT_LOG_LINE_BYTES];
    vsnprintf(text, sizeof(text), fmt, ap);
    size_t n = strlen(text);
    if (n && text[n - 1] == '\n') {
        text[n - 1] = '\0';
    }
    log_emit(LOG_WARN, "http", json_pack("{s:s}", "detail", text));
}

static enum perr_code resolve(const char *host, uint16_t port, struct sockaddr_storage *addr,
                              bool *ipv6, struct perr *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res) {
        return perr_set(err, PERR_PARAM_INVALID, "listen", "cannot resolve listen host '%.100s'",
                        host);
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *ipv6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return PERR_OK;
}

enum perr_code server_start(struct app *app, struct server **out, struct perr *err)
{
    struct sockaddr_storage addr;
    bool ipv6 = false;
    enum perr_code rc = resolve(app->cfg->listen_host, app->cfg->listen_port, &addr, &ipv6, err);
    if (rc != PERR_OK) {
        return rc;
    }
    struct server *s = xcalloc(1, sizeof(*s));
    s->app = app;
    /* A thread per connection: a request waits for its write's group commit, and with a pool
     * of threads every other connection of its thread would wait behind it. */
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    s->daemon = MHD_start_daemon(
        flags, app->cfg->listen_port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)LIMIT_HTTP_CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)LIMIT_HTTP_CONNECTIONS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)LIMIT_HTTP_CONNECTION_MEMORY_BYTES,
        MHD_OPTION_END);
    if (!s->daemon) {
        free(s);
        return perr_set(err, PERR_PARAM_INVALID, "listen",
                        "cannot listen on %.100s:%u (is the port in use?)", app->cfg->listen_host,
                        (unsigned)app->cfg->listen_port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : app->cfg->listen_port;
    *out = s;
    return PERR_OK;
}

uint16_t server_port(const struct server *s)
{
    return s->port;
}

/* MHD_quiesce_daemon races with the epoll workers in libmicrohttpd 0.9.75 (it may abort
 * with "Failed to remove listen FD from epoll set"), so stopping drains instead: new
 * requests answer 503 while the ones in flight finish (up to DRAIN_WAIT_MS), then the daemon
 * stops. */
void server_stop(struct server *s)
{
    atomic_store(&s->draining, true);
    for (int waited = 0; waited < DRAIN_WAIT_MS && atomic_load(&s->inflight) > 0; waited += 5) {
        time_sleep_ms(5);
    }
    MHD_stop_daemon(s->daemon);
    free(s);
}
