/* `pasarela ledger check`: each invariant is one query that returns the rows breaking it (at
 * most CHECK_ROWS_MAX of each), so the check holds only problems in memory. The SQL is
 * portable (no SQLite-only functions), for the PostgreSQL backend to come. */
#include "ledger/ledger.h"

/* One invariant: a query for the rows that break it, and how to describe one. */
struct invariant {
    const char *sql; /* its result columns are substituted into `what`, in order */
    const char *what;
};

#define APPROVED_LIKE "('approved', 'partially_refunded', 'refunded', 'charged_back')"
/* How many transactions of this kind a payout (o) has. */
#define POSTED(kind)                                                                               \
    "(SELECT count(*) FROM ledger_transactions t WHERE t.tenant_id = o.tenant_id"                  \
    " AND t.cause_type = 'payout' AND t.cause_id = o.id AND t.kind = '" kind "')"
#define CHECK_ROWS_MAX (LEDGER_CHECK_PROBLEMS_MAX + 1) /* rows read per invariant */
#define CHECK_COLUMNS_MAX 6

static const struct invariant invariants[] = {
    {"SELECT t.tenant_id, t.id, count(e.id), coalesce(sum(e.amount), 0)"
     " FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.tenant_id = t.tenant_id"
     " AND e.transaction_id = t.id GROUP BY t.tenant_id, t.id"
     " HAVING count(e.id) < 2 OR coalesce(sum(e.amount), 0) <> 0",
     "transaction %s/%s: %s entries summing to %s (two or more summing to 0 expected)"},
    {"SELECT e.tenant_id, e.id, e.currency, coalesce(t.currency, 'no transaction')"
     " FROM ledger_entries e LEFT JOIN ledger_transactions t ON t.tenant_id = e.tenant_id"
     " AND t.id = e.transaction_id WHERE t.id IS NULL OR t.currency <> e.currency",
     "entry %s/%s: in %s, its transaction in %s"},
    {"SELECT a.owner, a.currency, a.kind, a.balance, coalesce(sum(e.amount), 0)"
     " FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_owner = a.owner"
     " AND e.currency = a.currency AND e.account = a.kind"
     " GROUP BY a.owner, a.currency, a.kind HAVING a.balance <> coalesce(sum(e.amount), 0)",
     "account %s %s %s: cached balance %s, entries sum to %s"},
    {"SELECT DISTINCT e.account_owner, e.currency, e.account FROM ledger_entries e"
     " LEFT JOIN ledger_accounts a ON a.owner = e.account_owner AND a.currency = e.currency"
     " AND a.kind = e.account WHERE a.owner IS NULL",
     "account %s %s %s: has entries but no balance"},
    {"SELECT owner, currency, kind, balance FROM ledger_accounts"
     " WHERE (kind IN ('pending', 'available', 'payouts') AND balance < 0)"
     " OR (kind = 'receivable' AND balance > 0)",
     "account %s %s %s: balance %s is on the wrong side of zero"},
    {"SELECT tenant_id, id, status, n FROM (SELECT p.tenant_id, p.id, p.status, (SELECT"
     " count(*) FROM ledger_transactions t WHERE t.tenant_id = p.tenant_id"
     " AND t.payment_id = p.id AND t.kind = 'payment') AS n FROM payments p"
     " WHERE p.account_mode <> 'legacy') x"
     " WHERE n <> CASE WHEN status IN " APPROVED_LIKE " THEN 1 ELSE 0 END",
     "payment %s/%s: %s, with its approval posted %s times"},
    {"SELECT tenant_id, id, status, reversed, expected FROM (SELECT p.tenant_id, p.id,"
     " p.status, (SELECT -coalesce(sum(t.volume), 0) FROM ledger_transactions t"
     " WHERE t.tenant_id = p.tenant_id AND t.payment_id = p.id"
     " AND t.kind IN ('refund', 'chargeback')) AS reversed,"
     " CASE WHEN p.status = 'charged_back' THEN p.amount WHEN p.status IN " APPROVED_LIKE
     " AND p.amount_refunded > p.amount THEN p.amount WHEN p.status IN " APPROVED_LIKE
     " THEN p.amount_refunded ELSE 0 END AS expected FROM payments p"
     " WHERE p.account_mode <> 'legacy') x"
     " WHERE reversed <> expected",
     "payment %s/%s: %s, reversals posted for %s, %s expected"},
    {"SELECT t.tenant_id, t.payment_id, t.kind, p.account_mode FROM ledger_transactions t"
     " LEFT JOIN payments p ON p.tenant_id = t.tenant_id AND p.id = t.payment_id"
     " WHERE t.payment_id IS NOT NULL AND (p.id IS NULL OR p.account_mode <> t.account_mode"
     " OR p.currency <> t.currency)",
     "payment %s/%s: %s posted in another mode or currency (payment: %s)"},
    {"SELECT t.tenant_id, t.payment_id, sum(e.amount) FROM ledger_transactions t"
     " JOIN ledger_entries e ON e.tenant_id = t.tenant_id AND e.transaction_id = t.id"
     " WHERE t.payment_id IS NOT NULL AND e.account = 'pending' GROUP BY t.tenant_id,"
     " t.payment_id HAVING sum(e.amount) < 0 OR (sum(e.amount) <> 0 AND EXISTS (SELECT 1 FROM"
     " ledger_transactions r WHERE r.tenant_id = t.tenant_id AND r.payment_id = t.payment_id"
     " AND r.kind = 'release'))",
     "payment %s/%s: %s left pending after its release, or below zero"},
    {"SELECT tenant_id, id, status, requested, paid, failed FROM (SELECT o.tenant_id, o.id,"
     " o.status, " POSTED("payout") " AS requested, " POSTED("payout_paid") " AS paid, " POSTED(
         "payout_failed") " AS failed FROM payouts o) x WHERE requested <> 1"
                          " OR paid <> CASE WHEN status = 'paid' THEN 1 ELSE 0 END"
                          " OR failed <> CASE WHEN status = 'failed' THEN 1 ELSE 0 END",
     "payout %s/%s: %s, posted as requested %s, paid %s and failed %s times"},
    {"SELECT o.tenant_id, o.currency, sum(o.amount), coalesce(a.balance, 0) FROM payouts o"
     " LEFT JOIN ledger_accounts a ON a.owner = o.tenant_id AND a.currency = o.currency"
     " AND a.kind = 'payouts' WHERE o.status = 'requested' GROUP BY o.tenant_id, o.currency"
     " HAVING sum(o.amount) <> coalesce(a.balance, 0)",
     "payouts of %s in %s: %s requested, %s in transit"},
};

/* Records `what` with each "%s" replaced by the row's next column. */
static void describe(struct ledger_check_report *r, const char *what, const struct store_rows *rows,
                     size_t i)
{
    r->problems_total++;
    if (r->nproblems >= LEDGER_CHECK_PROBLEMS_MAX) {
        return;
    }
    PASSERT(rows->ncols <= CHECK_COLUMNS_MAX);
    struct buf out;
    buf_init(&out, LIMIT_ERROR_MESSAGE_BYTES);
    size_t col = 0;
    bool fits = true;
    for (const char *p = what; *p && fits; p++) {
        if (p[0] == '%' && p[1] == 's' && col < rows->ncols) {
            const char *v = store_rows_get(rows, i, col++);
            fits = buf_append_str(&out, v ? v : "NULL");
            p++;
        } else {
            fits = buf_append(&out, p, 1);
        }
    }
    str_copy(r->problems[r->nproblems++], LIMIT_ERROR_MESSAGE_BYTES, buf_str(&out));
    buf_release(&out);
}

static enum perr_code count(struct store_tx *tx, const char *sql, int64_t *out, struct perr *err)
{
    struct store_rows rows;
    enum perr_code rc = store_exec(tx, sql, SQL_NO_PARAMS, &rows, err);
    if (rc == PERR_OK) {
        *out = store_rows_int(&rows, 0, 0);
        store_rows_free(&rows);
    }
    return rc;
}

static enum perr_code counts(struct store_tx *tx, struct ledger_check_report *r, struct perr *err)
{
    enum perr_code rc =
        count(tx, "SELECT count(*) FROM ledger_transactions", &r->transactions, err);
    if (rc == PERR_OK) {
        rc = count(tx, "SELECT count(*) FROM ledger_entries", &r->entries, err);
    }
    if (rc == PERR_OK) {
        rc = count(tx, "SELECT count(*) FROM ledger_accounts", &r->accounts, err);
    }
    if (rc == PERR_OK) {
        rc = count(tx, "SELECT count(*) FROM payments", &r->payments, err);
    }
    if (rc == PERR_OK) {
        rc = count(tx, "SELECT count(*) FROM payouts", &r->payouts, err);
    }
    return rc;
}

enum perr_code ledger_check(struct store *st, struct ledger_check_report *r, struct perr *err)
{
    *r = (struct ledger_check_report){0};
    struct store_tx tx;
    enum perr_code rc = store_tx_begin(st, STORE_TX_READ, &tx, err);
    if (rc != PERR_OK) {
        return rc;
    }
    rc = counts(&tx, r, err);
    for (size_t k = 0; k < ARRAY_LEN(invariants) && rc == PERR_OK; k++) {
        struct store_rows rows;
        struct sql_query q;
        sql_init(&q, invariants[k].sql);
        sql_append(&q, " LIMIT ?", (struct sv[]){SV_I(CHECK_ROWS_MAX)}, 1);
        rc = store_exec_query(&tx, &q, &rows, err);
        sql_release(&q);
        for (size_t i = 0; rc == PERR_OK && i < rows.nrows; i++) {
            describe(r, invariants[k].what, &rows, i);
        }
        store_rows_free(&rows);
    }
    store_tx_rollback(&tx);
    return rc;
}
