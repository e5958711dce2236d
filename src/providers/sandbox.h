/* The built-in sandbox provider (PROVIDERS.md section 0): deterministic, no network, no
 * credentials. Its own records live in the store (table sandbox_payments) as a real
 * provider's would live in its database; status changes reach pasarela as Standard Webhooks
 * POSTed to pasarela's own public webhook endpoint by a job, with retries. The outcome is
 * chosen by the local part of the customer's e-mail: reject, pending, chargeback, error,
 * timeout; anything else is approved after PASARELA_SANDBOX_DELAY_MS. */
#ifndef PASARELA_SANDBOX_H
#define PASARELA_SANDBOX_H

#include "jobs/jobs.h"
#include "providers/connector.h"

#define SANDBOX_FEE_BPS 299

/* The job kind that advances a sandbox payment and delivers its webhook. */
extern const struct job_kind sandbox_job_kind;
/* Derives the sandbox's webhook key from the master key. */
void sandbox_derive_webhook_key(const uint8_t *master_key, size_t len, uint8_t out[32]);

#endif
