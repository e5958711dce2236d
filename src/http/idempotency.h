/* Idempotency-Key (DESIGN.md): per tenant, kept 24 hours. The first request with a key
 * claims it; its answer is stored in the same transaction as the change it made, so a retry
 * after any failure either finds the change with its answer or finds neither. The same key
 * with the same request replays the stored answer (header Idempotent-Replayed: true); with a
 * different request it answers 409 idempotency_key_reused. Concurrent requests with one key
 * wait for the first to finish and then replay its answer. An answer that is an error is
 * not stored: the key is released and the client may retry. */
#ifndef PASARELA_IDEMPOTENCY_H
#define PASARELA_IDEMPOTENCY_H

#include "http/http.h"

#define IDEMPOTENCY_RETENTION_S (24 * 3600)
#define IDEMPOTENCY_WAIT_MS 30000   /* how long a concurrent request waits for the first */
#define IDEMPOTENCY_ABANDONED_S 120 /* a claim this old without an answer was abandoned */

/* Before the handler. False when res already holds the answer (a replay or an error). */
bool idempotency_begin(struct request *req, struct response *res);
/* In the handler's final write transaction: stores the answer under the claimed key. */
enum perr_code idempotency_store(struct request *req, struct store_tx *tx, int status,
                                 json_t *body, struct perr *err) WARN_UNUSED;
/* After the handler: releases a claim whose answer was not stored. */
void idempotency_end(struct request *req);
/* Deletes keys older than the retention; returns how many. */
int64_t idempotency_expire(struct store *st);

#endif
