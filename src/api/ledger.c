/* The ledger as the API shows it: a tenant's balance per currency, its ledger entries, and the
 * operator's platform report (fee revenue and volume per tenant and currency over a period,
 * as JSON or CSV). Read-only: the ledger is written by the changes that cause its postings
 * (src/ledger). */
#include "ledger/ledger.h"
#include "api/api.h"
#include "core/money.h"
#include "core/timeutil.h"

#define LIMIT_REPORT_ROWS 10000 /* (tenant, currency) rows in one platform report */
#define LIMIT_REPORT_BYTES (4 * 1024 * 1024)

/* --- GET /v1/balance ------------------------------------------------------------------- */

/* The row of data for currency, made when first seen. */
static json_t *currency_row(json_t *data, const char *currency)
{
    size_t n = json_array_size(data);
    json_t *last = n ? json_array_get(data, n - 1) : NULL;
    if (last && strcmp(json_string_value(json_object_get(last, "currency")), currency) == 0) {
        return last;
    }
    json_t *row = json_pack("{s:s, s:I, s:I, s:I, s:I}", "currency", currency, "pending",
                            (json_int_t)0, "available", (json_int_t)0, "payouts_in_transit",
                            (json_int_t)0, "receivable", (json_int_t)0);
    json_array_append_new(data, row);
    return row;
}

void api_balance_get(struct request *req, struct response *res)
{
    struct store_tx tx;
    struct store_rows rows;
    struct perr err;
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_READ, &tx, &err);
    if (rc == PERR_OK) {
        rc = store_exec(&tx,
                        "SELECT currency, kind, balance FROM ledger_accounts WHERE owner = ?"
                        " AND kind IN ('pending', 'available', 'payouts', 'receivable')"
                        " ORDER BY currency",
                        SQL_PARAMS(SV_T(req->auth.tenant_id)), &rows, &err);
        store_tx_rollback(&tx);
    }
    if (rc != PERR_OK) {
        respond_error(res, &err);
        return;
    }
    json_t *data = json_array();
    for (size_t i = 0; i < rows.nrows; i++) {
        json_t *row = currency_row(data, store_rows_get(&rows, i, 0));
        const char *kind = store_rows_get(&rows, i, 1);
        int64_t balance = store_rows_int(&rows, i, 2);
        /* receivable is what the tenant owes: shown as a positive amount */
        bool owed = strcmp(kind, "receivable") == 0;
        json_object_set_new(row, strcmp(kind, "payouts") == 0 ? "payouts_in_transit" : kind,
                            json_integer(owed ? -balance : balance));
    }
    store_rows_free(&rows);
    respond_json(res, 200, json_pack("{s:s, s:o}", "object", "balance", "data", data));
}

/* --- GET /v1/ledger/entries ------------------------------------------------------------- */

#define ENTRY_COLUMNS                                                                              \
    "e.id, e.transaction_id, e.account_owner, e.account, e.currency, e.amount, e.created,"         \
    " t.kind, t.cause_type, t.cause_id, t.payment_id"

static json_t *entry_json(const struct store_rows *r, size_t i)
{
    bool platform = strcmp(store_rows_get(r, i, 2), LEDGER_OWNER_PLATFORM) == 0;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:{s:s, s:s}, s:s?, s:s}", "id",
                     store_rows_get(r, i, 0), "object", "ledger_entry", "transaction_id",
                     store_rows_get(r, i, 1), "owner", platform ? "platform" : "tenant", "account",
                     store_rows_get(r, i, 3), "currency", store_rows_get(r, i, 4), "amount",
                     (json_int_t)store_rows_int(r, i, 5), "kind", store_rows_get(r, i, 7), "cause",
                     "type", store_rows_get(r, i, 8), "id", store_rows_get(r, i, 9), "payment_id",
                     store_rows_get(r, i, 10), "created", store_rows_get(r, i, 6));
}

static bool account_known(const char *name)
{
    static const char *const accounts[] = {"pending",          "available",     "payouts",
                                           "receivable",       "provider_fees", "fee_revenue",
                                           "provider_clearing"};
    for (size_t i = 0; i < ARRAY_LEN(accounts); i++) {
        if (strcmp(accounts[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static bool add_entry_filters(struct request *req, struct response *res, struct sql_query *q)
{
    const char *account = request_query(req, "account");
    const char *currency = request_query(req, "currency");
    if (account && !account_known(account)) {
        respond_fail(res, PERR_PARAM_INVALID, "account",
                     "account must be one of pending, available, payouts, receivable, "
                     "provider_fees, fee_revenue, provider_clearing.");
        return false;
    }
    if (currency && !money_currency(currency)) {
        respond_fail(res, PERR_PARAM_INVALID, "currency",
                     "currency must be an ISO 4217 code in capitals, like MXN.");
        return false;
    }
    static const char *const equal[][2] = {{"account", "e.account = ?"},
                                           {"currency", "e.currency = ?"},
                                           {"payment_id", "t.payment_id = ?"},
                                           {"transaction_id", "e.transaction_id = ?"},
                                           {"kind", "t.kind = ?"}};
    for (size_t i = 0; i < ARRAY_LEN(equal); i++) {
        const char *v = request_query(req, equal[i][0]);
        if (v) {
            sql_where(q, equal[i][1], SV_T(v));
        }
    }
    return api_time_filter(req, res, q, "created_gte", "e.created >= ?", true) &&
           api_time_filter(req, res, q, "created_lt", "e.created < ?", true);
}

void api_ledger_entries_list(struct request *req, struct response *res)
{
    int64_t limit;
    const char *after;
    if (!api_list_params(req, res, &limit, &after)) {
        return;
    }
    struct sql_query q;
    sql_init(&q, "SELECT " ENTRY_COLUMNS " FROM ledger_entries e JOIN ledger_transactions t"
                 " ON t.tenant_id = e.tenant_id AND t.id = e.transaction_id");
    sql_where(&q, "e.tenant_id = ?", SV_T(req->auth.tenant_id));
    if (!add_entry_filters(req, res, &q)) {
        sql_release(&q);
        return;
    }
    if (after) {
        sql_where(&q, "e.id < ?", SV_T(after));
    }
    sql_append(&q, " ORDER BY e.id DESC LIMIT ?", (struct sv[]){SV_I(limit + 1)}, 1);
    api_respond_list(req, res, &q, limit, entry_json);
    sql_release(&q);
}

/* --- GET /v1/reports/platform ----------------------------------------------------------- */

/* Volume by kind of transaction, and the fee accounts' movements, per (tenant, currency). */
static const char report_volume_sql[] =
    "SELECT t.tenant_id, t.currency, sum(CASE WHEN t.kind = 'payment' THEN 1 ELSE 0 END),"
    " sum(CASE WHEN t.kind = 'payment' THEN t.volume ELSE 0 END),"
    " -sum(CASE WHEN t.kind = 'refund' THEN t.volume ELSE 0 END),"
    " -sum(CASE WHEN t.kind = 'chargeback' THEN t.volume ELSE 0 END)"
    " FROM ledger_transactions t";
static const char report_fees_sql[] =
    "SELECT t.tenant_id, t.currency,"
    " sum(CASE WHEN e.account = 'fee_revenue' THEN e.amount ELSE 0 END),"
    " sum(CASE WHEN e.account = 'provider_fees' THEN e.amount ELSE 0 END)"
    " FROM ledger_transactions t JOIN ledger_entries e ON e.tenant_id = t.tenant_id"
    " AND e.transaction_id = t.id";

static const char *const report_fields[] = {"payments",     "volume",      "refunded",
                                            "charged_back", "fee_revenue", "provider_fees"};

/* Runs sql over the period and adds its columns from the third on, as report_fields[first..],
 * to the row of each (tenant, currency) in rows (an object keyed "tenant currency"). */
static enum perr_code report_query(struct store_tx *tx, const char *sql, const char *from,
                                   const char *to, size_t first, json_t *rows, struct perr *err)
{
    struct sql_query q;
    struct store_rows r;
    sql_init(&q, sql);
    sql_where(&q, "t.created >= ?", SV_T(from));
    sql_where(&q, "t.created < ?", SV_T(to));
    sql_append(&q, " GROUP BY t.tenant_id, t.currency ORDER BY t.tenant_id, t.currency LIMIT ?",
               (struct sv[]){SV_I(LIMIT_REPORT_ROWS)}, 1);
    enum perr_code rc = store_exec_query(tx, &q, &r, err);
    sql_release(&q);
    for (size_t i = 0; rc == PERR_OK && i < r.nrows; i++) {
        char key[LIMIT_ID_BYTES + 8];
        snprintf(key, sizeof(key), "%s %s", store_rows_get(&r, i, 0), store_rows_get(&r, i, 1));
        json_t *row = json_object_get(rows, key);
        if (!row) {
            row = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "tenant_id",
                            store_rows_get(&r, i, 0), "currency", store_rows_get(&r, i, 1),
                            "payments", (json_int_t)0, "volume", (json_int_t)0, "refunded",
                            (json_int_t)0, "charged_back", (json_int_t)0, "fee_revenue",
                            (json_int_t)0, "provider_fees", (json_int_t)0);
            json_object_set_new(rows, key, row);
        }
        for (size_t c = 2; c < r.ncols; c++) {
            json_object_set_new(row, report_fields[first + c - 2],
                                json_integer(store_rows_int(&r, i, c)));
        }
    }
    store_rows_free(&r);
    return rc;
}

/* The period's bounds as stored (RFC 3339 with microseconds); false after answering 400. */
static bool report_period(struct request *req, struct response *res, char from[RFC3339_BYTES],
                          char to[RFC3339_BYTES])
{
    const char *names[2] = {"from", "to"};
    char *out[2] = {from, to};
    int64_t defaults[2] = {0, time_now_unix_us() + 1};
    for (size_t i = 0; i < 2; i++) {
        const char *v = request_query(req, names[i]);
        int64_t us = defaults[i];
        if (v && !time_parse_rfc3339(v, &us)) {
            respond_fail(res, PERR_PARAM_INVALID, names[i],
                         "%s must be an RFC 3339 UTC time like 2026-01-31T00:00:00Z.", names[i]);
            return false;
        }
        time_format_rfc3339_us(us, out[i]);
    }
    return true;
}

static char *report_csv(json_t *data)
{
    struct buf b;
    buf_init(&b, LIMIT_REPORT_BYTES);
    bool ok = buf_append_str(&b, "tenant_id,currency,payments,volume,refunded,charged_back,"
                                 "fee_revenue,provider_fees\n");
    size_t i;
    json_t *row;
    json_array_foreach (data, i, row) {
        /* ids and ISO codes: nothing in a row needs CSV quoting */
        ok = ok && buf_printf(&b, "%s,%s", json_string_value(json_object_get(row, "tenant_id")),
                              json_string_value(json_object_get(row, "currency")));
        for (size_t f = 0; f < ARRAY_LEN(report_fields); f++) {
            ok = ok &&
                 buf_printf(&b, ",%lld",
                            (long long)json_integer_value(json_object_get(row, report_fields[f])));
        }
        ok = ok && buf_append_str(&b, "\n");
    }
    PASSERT(ok); /* LIMIT_REPORT_ROWS short rows fit in LIMIT_REPORT_BYTES */
    char *text = xstrdup(buf_str(&b));
    buf_release(&b);
    return text;
}

void api_reports_platform(struct request *req, struct response *res)
{
    char from[RFC3339_BYTES], to[RFC3339_BYTES];
    const char *format = request_query(req, "format");
    if (format && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0) {
        respond_fail(res, PERR_PARAM_INVALID, "format", "format must be json or csv.");
        return;
    }
    if (!report_period(req, res, from, to)) {
        return;
    }
    struct store_tx tx;
    struct perr err;
    json_t *rows = json_object();
    enum perr_code rc = store_tx_begin(req->app->store, STORE_TX_READ, &tx, &err);
    if (rc == PERR_OK) {
        rc = report_query(&tx, report_volume_sql, from, to, 0, rows, &err);
    }
    if (rc == PERR_OK) {
        rc = report_query(&tx, report_fees_sql, from, to, 4, rows, &err);
    }
    store_tx_rollback(&tx);
    if (rc != PERR_OK) {
        json_decref(rows);
        respond_error(res, &err);
        return;
    }
    json_t *data = json_array();
    const char *key;
    json_t *row;
    json_object_foreach (rows, key, row) {
        json_array_append(data, row);
    }
    json_decref(rows);
    if (format && strcmp(format, "csv") == 0) {
        respond_raw_json(res, 200, report_csv(data));
        res->content_type = "text/csv; charset=utf-8";
        json_decref(data);
        return;
    }
    respond_json(res, 200,
                 json_pack("{s:s, s:s, s:s, s:o}", "object", "platform_report", "from", from, "to",
                           to, "data", data));
}
