#include "domain/ledger.h"

#include "core/money.h"

void ledger_split_payment(int64_t gross_minor, int platform_fee_bps, int64_t provider_fee_minor,
                          struct ledger_split *out)
{
    PASSERT(gross_minor >= 1 && gross_minor <= MONEY_MAX_MINOR && provider_fee_minor >= 0);
    int64_t platform = money_fee_bps(gross_minor, platform_fee_bps);
    int64_t room = gross_minor - platform;
    int64_t provider = provider_fee_minor < room ? provider_fee_minor : room;
    *out = (struct ledger_split){.gross_minor = gross_minor,
                                 .platform_fee_minor = platform,
                                 .provider_fee_minor = provider,
                                 .net_minor = room - provider};
}

int64_t ledger_prorate(int64_t part_minor, int64_t reversed_minor, int64_t gross_minor)
{
    PASSERT(gross_minor >= 1 && gross_minor <= MONEY_MAX_MINOR);
    PASSERT(part_minor >= 0 && part_minor <= gross_minor);
    PASSERT(reversed_minor >= 0 && reversed_minor <= gross_minor);
    /* 2 * part * reversed < 2^81: beyond int64, well within 128 bits. Half up:
     * floor((2 * part * reversed + gross) / (2 * gross)). The result is <= part. */
    __extension__ typedef unsigned __int128 u128;
    u128 num = (u128)2 * (u128)part_minor * (u128)reversed_minor + (u128)gross_minor;
    return (int64_t)(num / ((u128)2 * (u128)gross_minor));
}

void ledger_reversal_step(const struct ledger_split *orig, const struct ledger_split *done,
                          int64_t to_minor, struct ledger_split *step)
{
    PASSERT(done->gross_minor <= to_minor && to_minor <= orig->gross_minor);
    int64_t g = orig->gross_minor;
    int64_t platform = ledger_prorate(orig->platform_fee_minor, to_minor, g);
    int64_t fees = ledger_prorate(orig->platform_fee_minor + orig->provider_fee_minor, to_minor, g);
    step->gross_minor = to_minor - done->gross_minor;
    step->platform_fee_minor = platform - done->platform_fee_minor;
    step->provider_fee_minor = (fees - platform) - done->provider_fee_minor;
    step->net_minor = step->gross_minor - step->platform_fee_minor - step->provider_fee_minor;
}
