/* The double-entry ledger inside the store (docs/ledger.md). Every function here writes in
 * the caller's transaction, together with the change that causes it: a journal transaction of
 * two or more entries summing to zero, its audit record, and the cached balances of the
 * accounts it touches. Postings are idempotent by cause: what a payment's state calls for is
 * compared with what is already posted for it, and only the difference is posted.
 *
 * Accounts: per (tenant, currency) pending, available, payouts (in transit), provider_fees and
 * receivable (what the tenant owes after a reversal its available balance could not cover);
 * per (platform, currency) fee_revenue and provider_clearing. Pointer arguments are borrowed
 * for the call. */
#ifndef PASARELA_LEDGER_H
#define PASARELA_LEDGER_H

#include "jobs/jobs.h"
#include "payments/payments.h"

#define LEDGER_OWNER_PLATFORM "platform"

/* A new payment's account mode, given the owner of the account it goes through: "connected"
 * when that is the tenant's own account at the provider (manual or connected), else
 * "platform". */
const char *ledger_account_mode(const char *provider_account);

/* Posts, in tx, whatever the payment's current state calls for that is not posted yet: the
 * approval (and, with no settlement delay, its release to available; otherwise a
 * ledger.release job), refunds up to its refunded amount, the chargeback. Does nothing for
 * payments never approved, and nothing the second time. */
enum perr_code ledger_sync_payment(struct store_tx *tx, const struct change_ctx *c,
                                   const char *tenant_id, const char *payment_id,
                                   struct perr *err) WARN_UNUSED;

/* Moves a payment's pending funds to available once its settlement delay has passed. */
extern const struct job_kind ledger_release_job_kind;

enum ledger_payout_step {
    LEDGER_PAYOUT_REQUESTED, /* available -> payouts; refused beyond the available balance */
    LEDGER_PAYOUT_PAID,      /* payouts -> provider_clearing: the money left the platform */
    LEDGER_PAYOUT_FAILED,    /* payouts -> available (first repaying any receivable) */
};

/* Posts one step of a payout in tx. LEDGER_PAYOUT_REQUESTED answers
 * PERR_BALANCE_INSUFFICIENT (naming `amount`) when amount_minor exceeds the tenant's
 * available balance in that currency at this moment of the write transaction. */
enum perr_code ledger_post_payout(struct store_tx *tx, const struct change_ctx *c,
                                  const char *tenant_id, const char *payout_id,
                                  const char *currency, int64_t amount_minor,
                                  enum ledger_payout_step step, struct perr *err) WARN_UNUSED;

#define LEDGER_CHECK_PROBLEMS_MAX 20

/* What `pasarela ledger check` found: counts, and up to LEDGER_CHECK_PROBLEMS_MAX problems
 * (problems_total counts them all). */
struct ledger_check_report {
    int64_t transactions;
    int64_t entries;
    int64_t accounts;
    int64_t payments;
    int64_t payouts;
    int64_t problems_total;
    size_t nproblems;
    char problems[LEDGER_CHECK_PROBLEMS_MAX][LIMIT_ERROR_MESSAGE_BYTES];
};

/* Proves the invariants over the whole store: every transaction has two or more entries in
 * its currency summing to zero; every cached balance equals the sum of its entries; no
 * pending, available or in-transit balance below zero and no receivable above it; every
 * approved (refunded, charged back) payment posted exactly once (but those of mode
 * "legacy", which moved on before the ledger existed: never), never-approved ones not at all,
 * reversals equal to what was refunded or charged back, released payments with nothing left
 * pending; every payout posted as its state says. A problem is a verdict, not an error: the return
 * is an error only when the store cannot be read. */
enum perr_code ledger_check(struct store *st, struct ledger_check_report *r,
                            struct perr *err) WARN_UNUSED;

#endif
