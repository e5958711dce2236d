/* The HTTP server: libmicrohttpd with its epoll internal thread pool, and the one dispatcher
 * that turns a request into a handler call: route match (404/405), body limit (413), request
 * id, authentication and tenant context, JSON body parsing (400), then the handler; one JSON
 * log line per request. */
#ifndef PASARELA_SERVER_H
#define PASARELA_SERVER_H

#include "app.h"

struct server;

/* Starts listening on cfg->listen_host:listen_port, serving each connection on its own thread. */
enum perr_code server_start(struct app *app, struct server **out, struct perr *err) WARN_UNUSED;
/* The port actually bound (useful with port 0). */
uint16_t server_port(const struct server *s);
/* Stops accepting, lets in-flight requests finish, and frees the server. */
void server_stop(struct server *s);

#endif
