/* Every size, count and time limit of pasarela, in one place, units last in the name. */
#ifndef PASARELA_LIMITS_H
#define PASARELA_LIMITS_H

#define LIMIT_BODY_BYTES (1024 * 1024) /* request bodies; above: 413 */
#define LIMIT_JSON_DEPTH 32            /* nesting of objects and arrays */
#define LIMIT_REQUEST_ID_BYTES 128
#define LIMIT_PATH_SEGMENTS 8
#define LIMIT_PATH_BYTES 1024
#define LIMIT_ERROR_MESSAGE_BYTES 256
#define LIMIT_ERROR_PARAM_BYTES 64
#define LIMIT_ID_BYTES 48     /* prefixed ids, NUL included */
#define LIMIT_SECRET_BYTES 64 /* sk_ + base62, NUL included */
#define LIMIT_SLUG_MIN 3
#define LIMIT_SLUG_MAX 63
#define LIMIT_NAME_BYTES 200
#define LIMIT_PLAN_BYTES 32
#define LIMIT_LIST_DEFAULT 20
#define LIMIT_LIST_MAX 100
#define LIMIT_LIMITS_ENTRIES 64               /* entries in a tenant's limits object */
#define LIMIT_SETTLEMENT_DELAY_S (90 * 86400) /* a tenant's longest settlement delay */
#define LIMIT_ADMIN_KEY_MIN 32
#define LIMIT_ADMIN_KEY_MAX 256
#define LIMIT_STMT_CACHE 128 /* prepared statements kept per connection */
#define LIMIT_STORE_CONNS 72
#define LIMIT_HTTP_THREADS 64
#define LIMIT_HTTP_CONNECTIONS 4096
#define LIMIT_HTTP_CONNECTION_TIMEOUT_S 30
/* libmicrohttpd's per-connection pool (request line, headers, read buffer), which it zeroes
 * for every request: 16 KiB instead of its 32 KiB default halves that cost. Bodies are copied
 * out as they arrive, so only the headers must fit. */
#define LIMIT_HTTP_CONNECTION_MEMORY_BYTES (16 * 1024)
#define LIMIT_STORE_BUSY_TIMEOUT_MS 5000
#define LIMIT_AUDIT_CHANGES_BYTES (64 * 1024) /* one record's change document */
#define LIMIT_AUDIT_VERIFY_ROWS 1000          /* rows read per page while verifying */
#define LIMIT_LOG_LINE_BYTES 4096

#endif
