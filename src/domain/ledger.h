/* The ledger's arithmetic, without I/O (docs/ledger.md states every rule): how an approved
 * payment splits into the platform fee, the provider's fee and the tenant's net, and how a
 * refund or chargeback reverses a share of that split. All amounts are minor units. */
#ifndef PASARELA_DOMAIN_LEDGER_H
#define PASARELA_DOMAIN_LEDGER_H

#include "core/common.h"

/* A payment's figures: gross = platform_fee + provider_fee + net, each >= 0. */
struct ledger_split {
    int64_t gross_minor;
    int64_t platform_fee_minor;
    int64_t provider_fee_minor;
    int64_t net_minor;
};

/* The split of an approved payment of gross (1..MONEY_MAX_MINOR): the platform fee is
 * platform_fee_bps (0..10000) of gross rounded half up (money_fee_bps); the provider's fee
 * (>= 0) is capped at what the platform fee leaves; the tenant's net is the rest. */
void ledger_split_payment(int64_t gross_minor, int platform_fee_bps, int64_t provider_fee_minor,
                          struct ledger_split *out);

/* part * reversed / gross rounded half up, for 0 <= part <= gross, 0 <= reversed <= gross,
 * gross >= 1, all <= MONEY_MAX_MINOR (computed in 128 bits). */
int64_t ledger_prorate(int64_t part_minor, int64_t reversed_minor, int64_t gross_minor);

/* The step that takes a payment's reversed total from done->gross_minor to to_minor
 * (done->gross_minor <= to_minor <= orig->gross_minor), given what earlier steps reversed
 * (done, the sums of their steps). Cumulative: the platform fee reversed so far is
 * prorate(platform fee, to), the fees together prorate(platform + provider fee, to), the
 * provider's fee their difference, the net the rest; so the steps of a full reversal add up
 * exactly to orig, and the net and the platform fee never step backwards. */
void ledger_reversal_step(const struct ledger_split *orig, const struct ledger_split *done,
                          int64_t to_minor, struct ledger_split *step);

#endif
