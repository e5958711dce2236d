#include "ledger/ledger.h"

#include "app.h"
#include "audit/audit.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "domain/ledger.h"

#define LEDGER_ENTRIES_MAX 6
#define LEDGER_CAUSE_ID_BYTES (LIMIT_ID_BYTES + 24)

struct entry {
    const char *owner;
    const char *account;
    int64_t amount_minor;
};

/* One journal transaction to write. */
struct posting {
    const char *tenant_id;
    const char *currency;
    const char *kind; /* payment, release, refund, chargeback, payout, payout_paid, ... */
    const char *cause_type;
    const char *cause_id;
    const char *payment_id; /* NULL for payouts */
    const char *mode;       /* the account mode: platform or connected */
    int64_t volume_minor;   /* the gross it concerns: + approvals, - reversals, 0 otherwise */
    struct entry entries[LEDGER_ENTRIES_MAX];
    size_t nentries;
};

static void add_entry(struct posting *p, const char *owner, const char *account, int64_t amount)
{
    PASSERT(p->nentries < LEDGER_ENTRIES_MAX);
    p->entries[p->nentries++] = (struct entry){owner, account, amount};
}

static enum perr_code audit_posting(struct store_tx *tx, const struct change_ctx *c,
                                    const struct posting *p, const char *id, struct perr *err)
{
    json_t *entries = json_array();
    for (size_t i = 0; i < p->nentries; i++) {
        json_array_append_new(entries, json_pack("{s:s, s:s, s:I}", "owner", p->entries[i].owner,
                                                 "account", p->entries[i].account, "amount",
                                                 (json_int_t)p->entries[i].amount_minor));
    }
    json_t *changes =
        json_pack("{s:{}, s:{s:s, s:{s:s, s:s}, s:s?, s:s, s:s, s:I, s:o}}", "before", "after",
                  "kind", p->kind, "cause", "type", p->cause_type, "id", p->cause_id, "payment_id",
                  p->payment_id, "currency", p->currency, "account_mode", p->mode, "volume",
                  (json_int_t)p->volume_minor, "entries", entries);
    struct audit_event ev = {.chain_id = p->tenant_id,
                             .tenant_id = p->tenant_id,
                             .actor = c->actor,
                             .correlation_id = c->correlation_id,
                             .action = "ledger.posted",
                             .entity_type = "ledger_transaction",
                             .entity_id = id,
                             .changes = changes};
    enum perr_code rc = audit_append(tx, c->app->audit_key, &ev, err);
    json_decref(changes);
    return rc;
}

static enum perr_code write_entry(struct store_tx *tx, const struct posting *p, const char *txn_id,
                                  const struct entry *e, const char *now, struct perr *err)
{
    char id[LIMIT_ID_BYTES];
    id_new("ent", id);
    enum perr_code rc = store_exec(
        tx,
        "INSERT INTO ledger_entries (tenant_id, id, transaction_id, account_owner, account,"
        " currency, amount, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        SQL_PARAMS(SV_T(p->tenant_id), SV_T(id), SV_T(txn_id), SV_T(e->owner), SV_T(e->account),
                   SV_T(p->currency), SV_I(e->amount_minor), SV_T(now)),
        NULL, err);
    if (rc != PERR_OK) {
        return rc;
    }
    return store_exec(
        tx,
        "INSERT INTO ledger_accounts (owner, currency, kind, balance)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (owner, currency, kind)"
        " DO UPDATE SET balance = ledger_accounts.balance + excluded.balance",
        SQL_PARAMS(SV_T(e->owner), SV_T(p->currency), SV_T(e->account), SV_I(e->amount_minor)),
        NULL, err);
}

/* Writes p (two or more entries summing to zero: asserted), its entries, the balances they
 * change and its audit record. A cause posted before answers PERR_CONFLICT. */
static enum perr_code post(struct store_tx *tx, const struct change_ctx *c, const struct posting *p,
                           struct perr *err)
{
    int64_t sum = 0;
    for (size_t i = 0; i < p->nentries; i++) {
        sum += p->entries[i].amount_minor;
    }
    PASSERT(p->nentries >= 2 && sum == 0);
    char id[LIMIT_ID_BYTES], now[RFC3339_BYTES];
    id_new("ltx", id);
    time_format_rfc3339_us(time_now_unix_us(), now);
    enum perr_code rc = store_exec(
        tx,
        "INSERT INTO ledger_transactions (tenant_id, id, currency, kind, cause_type, cause_id,"
        " payment_id, account_mode, volume, correlation_id, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        SQL_PARAMS(SV_T(p->tenant_id), SV_T(id), SV_T(p->currency), SV_T(p->kind),
                   SV_T(p->cause_type), SV_T(p->cause_id), SV_T(p->payment_id), SV_T(p->mode),
                   SV_I(p->volume_minor), SV_T(c->correlation_id), SV_T(now)),
        NULL, err);
    for (size_t i = 0; i < p->nentries && rc == PERR_OK; i++) {
        rc = write_entry(tx, p, id, &p->entries[i], now, err);
    }
    return rc == PERR_OK ? audit_posting(tx, c, p, id, err) : rc;
}

static enum perr_code balance_of(struct store_tx *tx, const char *owner, const char *currency,
                                 const char *account, int64_t *out, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc =
        store_exec(tx,
                   "SELECT balance FROM ledger_accounts"
                   " WHERE owner = ? AND currency = ? AND kind = ?",
                   SQL_PARAMS(SV_T(owner), SV_T(currency), SV_T(account)), &rows, err);
    if (rc == PERR_OK) {
        *out = rows.nrows ? store_rows_int(&rows, 0, 0) : 0;
        store_rows_free(&rows);
    }
    return rc;
}

/* Adds the entries that pay amount to the tenant: first what it owes (receivable), the rest
 * to available. */
static enum perr_code credit_tenant(struct store_tx *tx, struct posting *p, int64_t amount,
                                    struct perr *err)
{
    int64_t receivable;
    enum perr_code rc = balance_of(tx, p->tenant_id, p->currency, "receivable", &receivable, err);
    if (rc != PERR_OK) {
        return rc;
    }
    int64_t owed = -receivable;
    int64_t repay = owed > 0 ? (owed < amount ? owed : amount) : 0;
    add_entry(p, p->tenant_id, "available", amount - repay);
    if (repay > 0) {
        add_entry(p, p->tenant_id, "receivable", repay);
    }
    return PERR_OK;
}

/* Adds the entries that take amount from the tenant's released funds: available down to zero,
 * the rest as receivable. */
static enum perr_code debit_tenant(struct store_tx *tx, struct posting *p, int64_t amount,
                                   struct perr *err)
{
    int64_t available;
    enum perr_code rc = balance_of(tx, p->tenant_id, p->currency, "available", &available, err);
    if (rc != PERR_OK) {
        return rc;
    }
    int64_t take = available > 0 ? (available < amount ? available : amount) : 0;
    add_entry(p, p->tenant_id, "available", -take);
    if (amount - take > 0) {
        add_entry(p, p->tenant_id, "receivable", -(amount - take));
    }
    return PERR_OK;
}

/* --- payments ------------------------------------------------------------------------ */

const char *ledger_account_mode(const char *provider_account)
{
    return strcmp(provider_account, LEDGER_OWNER_PLATFORM) == 0 ? "platform" : "connected";
}

/* A payment as the ledger sees it, and what is already posted for it. */
struct payment_ledger {
    const char *tenant_id;
    const char *id;
    char currency[4];
    char mode[16];
    enum payment_status status;
    int64_t amount;
    int64_t refunded;
    int64_t provider_fee;
    bool approved;            /* the approval is posted */
    bool released;            /* its pending funds moved to available */
    bool charged;             /* the chargeback is posted */
    struct ledger_split orig; /* the approval's split */
    struct ledger_split done; /* what reversals took back so far */
    int64_t pending;          /* what of it is still in the tenant's pending account */
};

static bool is_platform(const struct payment_ledger *pl)
{
    return strcmp(pl->mode, "platform") == 0;
}

static enum perr_code load_payment(struct store_tx *tx, struct payment_ledger *pl, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = store_exec(tx,
                                   "SELECT amount, currency, status, amount_refunded,"
                                   " coalesce(provider_fee, 0), account_mode FROM payments"
                                   " WHERE tenant_id = ? AND id = ?",
                                   SQL_PARAMS(SV_T(pl->tenant_id), SV_T(pl->id)), &rows, err);
    if (rc == PERR_OK && rows.nrows == 0) {
        rc = perr_set(err, PERR_RESOURCE_MISSING, "id", "No payment %.48s.", pl->id);
    }
    if (rc == PERR_OK) {
        pl->amount = store_rows_int(&rows, 0, 0);
        str_copy(pl->currency, sizeof(pl->currency), store_rows_get(&rows, 0, 1));
        PASSERT(payment_status_parse(store_rows_get(&rows, 0, 2), &pl->status));
        pl->refunded = store_rows_int(&rows, 0, 3);
        pl->provider_fee = store_rows_int(&rows, 0, 4);
        str_copy(pl->mode, sizeof(pl->mode), store_rows_get(&rows, 0, 5));
    }
    store_rows_free(&rows);
    return rc;
}

static bool is_reversal(const char *kind)
{
    return strcmp(kind, "refund") == 0 || strcmp(kind, "chargeback") == 0;
}

/* Adds one (transaction kind, account, sum) row of the payment's postings to pl. */
static void account_posted(struct payment_ledger *pl, const char *kind, const char *account,
                           int64_t sum)
{
    bool reversal = is_reversal(kind);
    bool approval = strcmp(kind, "payment") == 0;
    if (strcmp(account, "pending") == 0) {
        pl->pending += sum;
    }
    if (strcmp(account, "fee_revenue") == 0) {
        pl->orig.platform_fee_minor += approval ? sum : 0;
        pl->done.platform_fee_minor -= reversal ? sum : 0;
    } else if (strcmp(account, "provider_fees") == 0) {
        pl->orig.provider_fee_minor += approval ? sum : 0;
        pl->done.provider_fee_minor -= reversal ? sum : 0;
    }
}

/* Reads what is posted for the payment: its transactions by kind, then their entries. */
static enum perr_code load_posted(struct store_tx *tx, struct payment_ledger *pl, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = store_exec(tx,
                                   "SELECT kind, sum(volume) FROM ledger_transactions"
                                   " WHERE tenant_id = ? AND payment_id = ? GROUP BY kind",
                                   SQL_PARAMS(SV_T(pl->tenant_id), SV_T(pl->id)), &rows, err);
    for (size_t i = 0; rc == PERR_OK && i < rows.nrows; i++) {
        const char *kind = store_rows_get(&rows, i, 0);
        int64_t volume = store_rows_int(&rows, i, 1);
        pl->approved |= strcmp(kind, "payment") == 0;
        pl->released |= strcmp(kind, "release") == 0;
        pl->charged |= strcmp(kind, "chargeback") == 0;
        pl->orig.gross_minor += strcmp(kind, "payment") == 0 ? volume : 0;
        pl->done.gross_minor -= is_reversal(kind) ? volume : 0;
    }
    if (rc != PERR_OK || !pl->approved) {
        store_rows_free(&rows);
        return rc;
    }
    store_rows_free(&rows);
    rc = store_exec(tx,
                    "SELECT t.kind, e.account, sum(e.amount) FROM ledger_transactions t"
                    " JOIN ledger_entries e ON e.tenant_id = t.tenant_id AND"
                    " e.transaction_id = t.id WHERE t.tenant_id = ? AND t.payment_id = ?"
                    " GROUP BY t.kind, e.account",
                    SQL_PARAMS(SV_T(pl->tenant_id), SV_T(pl->id)), &rows, err);
    for (size_t i = 0; rc == PERR_OK && i < rows.nrows; i++) {
        account_posted(pl, store_rows_get(&rows, i, 0), store_rows_get(&rows, i, 1),
                       store_rows_int(&rows, i, 2));
    }
    store_rows_free(&rows);
    struct ledger_split *o = &pl->orig, *d = &pl->done;
    o->net_minor = o->gross_minor - o->platform_fee_minor - o->provider_fee_minor;
    d->net_minor = d->gross_minor - d->platform_fee_minor - d->provider_fee_minor;
    return rc;
}

static void payment_posting(struct posting *p, const struct payment_ledger *pl, const char *kind,
                            const char *cause_type, const char *cause_id, int64_t volume)
{
    *p = (struct posting){.tenant_id = pl->tenant_id,
                          .currency = pl->currency,
                          .kind = kind,
                          .cause_type = cause_type,
                          .cause_id = cause_id,
                          .payment_id = pl->id,
                          .mode = pl->mode,
                          .volume_minor = volume};
}

/* The payment's pending funds to the tenant: repaying what it owes, the rest available. */
static enum perr_code release(struct store_tx *tx, const struct change_ctx *c,
                              struct payment_ledger *pl, struct perr *err)
{
    struct posting p;
    payment_posting(&p, pl, "release", "payment", pl->id, 0);
    add_entry(&p, pl->tenant_id, "pending", -pl->pending);
    enum perr_code rc = credit_tenant(tx, &p, pl->pending, err);
    if (rc == PERR_OK) {
        rc = post(tx, c, &p, err);
    }
    pl->released = true;
    pl->pending = 0;
    return rc;
}

/* The release now (no settlement delay) or by a job after the delay. */
static enum perr_code release_or_schedule(struct store_tx *tx, const struct change_ctx *c,
                                          struct payment_ledger *pl, int64_t delay_s,
                                          struct perr *err)
{
    if (delay_s == 0) {
        return release(tx, c, pl, err);
    }
    json_t *payload = json_pack("{s:s}", "payment", pl->id);
    enum perr_code rc = jobs_enqueue(tx, ledger_release_job_kind.name, pl->tenant_id, payload,
                                     delay_s * 1000, c->correlation_id, err);
    json_decref(payload);
    return rc;
}

static enum perr_code post_approval(struct store_tx *tx, const struct change_ctx *c,
                                    struct payment_ledger *pl, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = store_exec(tx,
                                   "SELECT platform_fee_bps, settlement_delay_seconds FROM tenants"
                                   " WHERE id = ?",
                                   SQL_PARAMS(SV_T(pl->tenant_id)), &rows, err);
    if (rc != PERR_OK) {
        return rc;
    }
    PASSERT(rows.nrows == 1);
    int bps = (int)store_rows_int(&rows, 0, 0);
    int64_t delay_s = store_rows_int(&rows, 0, 1);
    store_rows_free(&rows);
    bool platform = is_platform(pl);
    ledger_split_payment(pl->amount, bps, platform ? pl->provider_fee : 0, &pl->orig);
    struct posting p;
    payment_posting(&p, pl, "payment", "payment", pl->id, pl->amount);
    const struct ledger_split *s = &pl->orig;
    add_entry(&p, LEDGER_OWNER_PLATFORM, "provider_clearing",
              platform ? -s->gross_minor : -s->platform_fee_minor);
    add_entry(&p, LEDGER_OWNER_PLATFORM, "fee_revenue", s->platform_fee_minor);
    if (platform) {
        add_entry(&p, pl->tenant_id, "provider_fees", s->provider_fee_minor);
        add_entry(&p, pl->tenant_id, "pending", s->net_minor);
    }
    rc = post(tx, c, &p, err);
    pl->approved = true;
    pl->pending = platform ? s->net_minor : 0;
    if (rc == PERR_OK && platform) {
        rc = release_or_schedule(tx, c, pl, delay_s, err);
    }
    return rc;
}

/* Takes the reversed total of the payment to to_minor: its share of the gross, of both fees
 * and of the tenant's net (from pending before the release, else from available). */
static enum perr_code post_reversal(struct store_tx *tx, const struct change_ctx *c,
                                    struct payment_ledger *pl, bool chargeback, int64_t to_minor,
                                    struct perr *err)
{
    struct ledger_split st;
    ledger_reversal_step(&pl->orig, &pl->done, to_minor, &st);
    char cause[LEDGER_CAUSE_ID_BYTES];
    snprintf(cause, sizeof(cause), "%s/%lld", pl->id, (long long)to_minor);
    struct posting p;
    payment_posting(&p, pl, chargeback ? "chargeback" : "refund",
                    chargeback ? "chargeback" : "refund", chargeback ? pl->id : cause,
                    -st.gross_minor);
    bool platform = is_platform(pl);
    add_entry(&p, LEDGER_OWNER_PLATFORM, "provider_clearing",
              platform ? st.gross_minor : st.platform_fee_minor);
    add_entry(&p, LEDGER_OWNER_PLATFORM, "fee_revenue", -st.platform_fee_minor);
    enum perr_code rc = PERR_OK;
    if (platform) {
        add_entry(&p, pl->tenant_id, "provider_fees", -st.provider_fee_minor);
        if (pl->released) {
            rc = debit_tenant(tx, &p, st.net_minor, err);
        } else {
            add_entry(&p, pl->tenant_id, "pending", -st.net_minor);
            pl->pending -= st.net_minor;
        }
    }
    if (rc == PERR_OK) {
        rc = post(tx, c, &p, err);
    }
    pl->done.gross_minor += st.gross_minor;
    pl->done.platform_fee_minor += st.platform_fee_minor;
    pl->done.provider_fee_minor += st.provider_fee_minor;
    pl->done.net_minor += st.net_minor;
    pl->charged |= chargeback;
    return rc;
}

static bool status_posts(enum payment_status s)
{
    return s == PAYMENT_APPROVED || s == PAYMENT_PARTIALLY_REFUNDED || s == PAYMENT_REFUNDED ||
           s == PAYMENT_CHARGED_BACK;
}

enum perr_code ledger_sync_payment(struct store_tx *tx, const struct change_ctx *c,
                                   const char *tenant_id, const char *payment_id, struct perr *err)
{
    struct payment_ledger pl = {.tenant_id = tenant_id, .id = payment_id};
    enum perr_code rc = load_payment(tx, &pl, err);
    if (rc != PERR_OK || !status_posts(pl.status) || strcmp(pl.mode, "legacy") == 0) {
        return rc;
    }
    rc = load_posted(tx, &pl, err);
    if (rc == PERR_OK && !pl.approved) {
        rc = post_approval(tx, c, &pl, err);
    }
    int64_t refunded = pl.refunded < pl.amount ? pl.refunded : pl.amount;
    if (rc == PERR_OK && !pl.charged && refunded > pl.done.gross_minor) {
        rc = post_reversal(tx, c, &pl, false, refunded, err);
    }
    if (rc == PERR_OK && pl.status == PAYMENT_CHARGED_BACK && !pl.charged) {
        rc = post_reversal(tx, c, &pl, true, pl.amount, err);
    }
    return rc;
}

/* --- the release job ------------------------------------------------------------------ */

struct release_ctx {
    struct app *app;
    const struct job *job;
    const char *payment_id;
};

static enum perr_code release_tx(struct store_tx *tx, void *arg, struct perr *err)
{
    const struct release_ctx *r = arg;
    struct change_ctx c = {.app = r->app,
                           .actor = "system:ledger.release",
                           .correlation_id = r->job->correlation_id,
                           .cause = "settlement"};
    struct payment_ledger pl = {.tenant_id = r->job->tenant_id, .id = r->payment_id};
    enum perr_code rc = load_payment(tx, &pl, err);
    if (rc == PERR_OK) {
        rc = load_posted(tx, &pl, err);
    }
    if (rc == PERR_OK && pl.approved && !pl.released && is_platform(&pl)) {
        rc = release(tx, &c, &pl, err);
    }
    return rc;
}

static enum perr_code release_job(struct app *app, const struct job *job, struct perr *err)
{
    const char *id = json_string_value(json_object_get(job->payload, "payment"));
    if (!id || !job->tenant_id[0]) {
        return perr_set(err, PERR_INTERNAL, NULL, "malformed ledger release job");
    }
    struct release_ctx r = {.app = app, .job = job, .payment_id = id};
    return store_write(app->store, release_tx, &r, err);
}

const struct job_kind ledger_release_job_kind = {
    .name = "ledger.release",
    .max_attempts = 10,
    .base_delay_ms = 1000,
    .max_delay_ms = 300000,
    .run = release_job,
};

/* --- payouts -------------------------------------------------------------------------- */

enum perr_code ledger_post_payout(struct store_tx *tx, const struct change_ctx *c,
                                  const char *tenant_id, const char *payout_id,
                                  const char *currency, int64_t amount_minor,
                                  enum ledger_payout_step step, struct perr *err)
{
    static const char *const kinds[] = {[LEDGER_PAYOUT_REQUESTED] = "payout",
                                        [LEDGER_PAYOUT_PAID] = "payout_paid",
                                        [LEDGER_PAYOUT_FAILED] = "payout_failed"};
    struct posting p = {.tenant_id = tenant_id,
                        .currency = currency,
                        .kind = kinds[step],
                        .cause_type = "payout",
                        .cause_id = payout_id,
                        .mode = "platform"};
    enum perr_code rc = PERR_OK;
    int64_t available;
    switch (step) {
    case LEDGER_PAYOUT_REQUESTED:
        rc = balance_of(tx, tenant_id, currency, "available", &available, err);
        if (rc == PERR_OK && amount_minor > available) {
            return perr_set(err, PERR_BALANCE_INSUFFICIENT, "amount",
                            "The payout of %lld is larger than the available balance of %lld %s "
                            "(minor units).",
                            (long long)amount_minor, (long long)(available > 0 ? available : 0),
                            currency);
        }
        add_entry(&p, tenant_id, "available", -amount_minor);
        add_entry(&p, tenant_id, "payouts", amount_minor);
        break;
    case LEDGER_PAYOUT_PAID:
        add_entry(&p, tenant_id, "payouts", -amount_minor);
        add_entry(&p, LEDGER_OWNER_PLATFORM, "provider_clearing", amount_minor);
        break;
    case LEDGER_PAYOUT_FAILED:
        add_entry(&p, tenant_id, "payouts", -amount_minor);
        rc = credit_tenant(tx, &p, amount_minor, err);
        break;
    }
    return rc == PERR_OK ? post(tx, c, &p, err) : rc;
}
