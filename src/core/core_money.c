/* core_money.c — what an account owes and what happened on it: the balance (debt positive, overpayment negative;
 * penalties and duties apart; kabinet payments that billing has not credited yet shown as such), the histories of
 * charges, payments and readings with ranges and pages, and the monthly ledger (свод). Only a customer with an
 * active link to the account sees them (a staff member passes "staff" instead). Every range is on the account's
 * local calendar; the defaults are the seeds': charges and readings for the current and previous year, payments
 * for the last 3 months, the ledger for the last 12 months (at most 60); and the calculator (kWh per zone at the
 * account's tariff in force on a date). Amounts are integer kopecks, kWh and readings exact decimal text.
 *
 * account.balance {customer_id | staff, account_id} → {"status": "ok", number, address, balance_kopecks,
 *     to_pay_kopecks, penalties_kopecks, duties_kopecks, uncredited_kopecks, last_month} | {"status": "not_linked"}
 * account.history {customer_id | staff, account_id, kind: "charges"|"payments"|"readings", from, to (YYYY-MM-DD),
 *     page (0), limit (12, at most 100)} → {"status": "ok", from, to, page, more, rows: […]} | {"status": "not_linked"}
 * account.ledger {customer_id | staff, account_id, from, to} → {"status": "ok", rows: [{month, opening_kopecks,
 *     consumed_kwh, charged_kopecks, paid_kopecks, closing_kopecks}]} | {"status": "not_linked"}
 * bill.send: below. */
#include <string.h>
#include "core.h"
#include "err.h"

/* The account $2 with its local "today", when customer $1 has an active link to it or staff $3 asks. */
#define ACCOUNT_CTE                                                                                                   \
    "acc AS (SELECT a.id, a.number, a.address, kb_local_day(now(), b.utc_offset_min) AS today "                     \
    " FROM kb_account a JOIN kb_branch b ON b.id = a.branch_id WHERE a.id = $2::bigint AND ($3::text IS NOT NULL OR " \
    " EXISTS (SELECT 1 FROM kb_account_link l WHERE l.customer_id = $1::bigint AND l.account_id = a.id"              \
    "         AND l.status = 'active'))) "
#define NOT_LINKED "json_build_object('status', 'not_linked')"

#define WHO {"customer_id", 'i', 0}, {"account_id", 'i', 1}, {"staff", 's', 0}

/* ---------------------------------------------------------------- account.balance */

/* The hot one: two index reads (the account, its totals) and the link check; no function, no branch. */
static const core_sql_op_t op_balance = {
    {WHO},
    {"SELECT coalesce((SELECT json_build_object('status', 'ok', 'account_id', a.id, 'number', a.number,"
     " 'address', a.address, 'balance_kopecks', b.balance, 'to_pay_kopecks', greatest(b.balance, 0),"
     " 'penalties_kopecks', coalesce(t.penalty_kopecks - t.paid_penalty_kopecks, 0),"
     " 'duties_kopecks', coalesce(t.duty_kopecks, 0), 'uncredited_kopecks', coalesce(t.uncredited_kopecks, 0),"
     " 'last_month', to_char(t.last_month, 'YYYY-MM'))"
     " FROM kb_account a LEFT JOIN kb_account_totals t ON t.account_id = a.id,"
     " LATERAL (SELECT a.opening_kopecks + coalesce(t.charged_kopecks - t.paid_energy_kopecks, 0) AS balance) b"
     " WHERE a.id = $2::bigint AND ($3::text IS NOT NULL OR EXISTS (SELECT 1 FROM kb_account_link l"
     "  WHERE l.customer_id = $1::bigint AND l.account_id = a.id AND l.status = 'active'))), " NOT_LINKED ")::text"}};

/* ---------------------------------------------------------------- account.history */

/* One page of rows of a history: ROWS selects them from table rows of the account within [rng.f, rng.t] in
 * display order (ORDER), JSON builds one; FROM_DEFAULT is the range's start when none is given. */
#define HISTORY(FROM_DEFAULT, ROWS, ORDER, JSON)                                                                      \
    "WITH " ACCOUNT_CTE ", "                                                                                          \
    "lim AS (SELECT least(greatest(coalesce($7::int, 12), 1), 100) AS n, greatest(coalesce($6::int, 0), 0) AS page), " \
    "rng AS (SELECT coalesce($4::date, " FROM_DEFAULT ") AS f, coalesce($5::date, acc.today) AS t FROM acc), "        \
    "page AS (" ROWS " ORDER BY " ORDER " LIMIT (SELECT n + 1 FROM lim) OFFSET (SELECT n * page FROM lim)) "          \
    "SELECT coalesce((SELECT json_build_object('status', 'ok', 'from', rng.f, 'to', rng.t,"                          \
    " 'page', (SELECT page FROM lim), 'more', (SELECT count(*) FROM page) > (SELECT n FROM lim),"                    \
    " 'rows', coalesce((SELECT json_agg(" JSON ") FROM (SELECT * FROM page ORDER BY " ORDER                          \
    "  LIMIT (SELECT n FROM lim)) r), '[]')) FROM rng), " NOT_LINKED ")::text"

#define HISTORY_PARAMS WHO, {"from", 'd', 0}, {"to", 'd', 0}, {"page", 'i', 0}, {"limit", 'i', 0}

static const core_sql_op_t op_charges = {
    {HISTORY_PARAMS},
    {HISTORY("make_date(extract(year FROM acc.today)::int - 1, 1, 1)",
             "SELECT c.* FROM kb_charge c, rng WHERE c.account_id = $2::bigint"
             " AND c.month BETWEEN date_trunc('month', rng.f)::date AND rng.t",
             "month DESC, zone",
             "json_build_object('month', to_char(r.month, 'YYYY-MM'), 'zone', r.zone, 'kwh', r.kwh::text,"
             " 'rate', r.rate::text, 'amount_kopecks', r.amount_kopecks, 'correction_kopecks', r.correction_kopecks,"
             " 'odn_kopecks', r.odn_kopecks)")}};

static const core_sql_op_t op_payments = {
    {HISTORY_PARAMS},
    {HISTORY("(acc.today - interval '3 months')::date",
             "SELECT p.id, p.amount_kopecks, p.purpose, p.source, p.status, p.order_id,"
             " coalesce(p.paid_at, p.created_at) AS at, b.utc_offset_min FROM kb_payment p"
             " JOIN kb_account a ON a.id = p.account_id JOIN kb_branch b ON b.id = a.branch_id, rng"
             " WHERE p.account_id = $2::bigint"
             " AND kb_local_day(coalesce(p.paid_at, p.created_at), b.utc_offset_min) BETWEEN rng.f AND rng.t",
             "at DESC, id DESC",
             "json_build_object('payment_id', r.id, 'amount_kopecks', r.amount_kopecks, 'purpose', r.purpose,"
             " 'source', r.source, 'status', r.status, 'order_id', r.order_id,"
             " 'at', to_char((r.at AT TIME ZONE 'UTC') + make_interval(mins => r.utc_offset_min),"
             "               'YYYY-MM-DD HH24:MI'))")}};

static const core_sql_op_t op_readings = {
    {HISTORY_PARAMS},
    {HISTORY("make_date(extract(year FROM acc.today)::int - 1, 1, 1)",
             "SELECT r.id, r.zone, r.value, r.local_day, r.source, r.status, r.consumption, m.serial"
             " FROM kb_reading r JOIN kb_meter m ON m.id = r.meter_id, rng"
             " WHERE m.account_id = $2::bigint AND r.local_day BETWEEN rng.f AND rng.t",
             "local_day DESC, id DESC",
             "json_build_object('reading_id', r.id, 'serial', r.serial, 'zone', r.zone, 'value', r.value::text,"
             " 'day', r.local_day, 'source', r.source, 'status', r.status, 'consumption', r.consumption::text)")}};

static int account_history(db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb, void *data)
{
    const char *kind = core_arg_str(args, "kind");
    const core_sql_op_t *op = !kind                          ? NULL
                              : !strcmp(kind, "charges")     ? &op_charges
                              : !strcmp(kind, "payments")    ? &op_payments
                              : !strcmp(kind, "readings")    ? &op_readings
                                                             : NULL;
    return op ? core_sql_op(op, db, txn, conv, args, cb, data) : KB_ERR_INVAL;
}

/* ---------------------------------------------------------------- account.ledger */

static const core_sql_op_t op_ledger = {
    {WHO, {"from", 'd', 0}, {"to", 'd', 0}},
    {"WITH " ACCOUNT_CTE ", "
     "t AS (SELECT date_trunc('month', coalesce($5::date, acc.today))::date AS t FROM acc), "
     "rng AS (SELECT greatest(date_trunc('month', coalesce($4::date, t.t - interval '11 months'))::date,"
     "                        (t.t - interval '59 months')::date) AS f, t.t FROM t) "
     "SELECT coalesce((SELECT json_build_object('status', 'ok', 'number', acc.number,"
     " 'zones', (SELECT coalesce(max(zone), 1) FROM kb_charge WHERE account_id = acc.id), 'rows',"
     " coalesce((SELECT json_agg(json_build_object("
     " 'month', to_char(l.month, 'YYYY-MM'), 'opening_kopecks', l.opening_kopecks, 'consumed_kwh', l.consumed_kwh::text,"
     " 'charged_kopecks', l.charged_kopecks, 'paid_kopecks', l.paid_kopecks, 'closing_kopecks', l.closing_kopecks,"
     " 'zones_kwh', (SELECT coalesce(json_agg(z.kwh ORDER BY z.zone), '[]') FROM (SELECT c.zone, sum(c.kwh)::text AS kwh"
     "   FROM kb_charge c WHERE c.account_id = acc.id AND c.month = l.month GROUP BY c.zone) z))"
     " ORDER BY l.month) FROM kb_ledger_rows($2::bigint, rng.f, rng.t) l), '[]')) FROM rng, acc), " NOT_LINKED ")::text"}};

/* ---------------------------------------------------------------- customer.warnings */

/* customer.warnings {customer_id} → {"status": "ok", "verify": [{number, serial, date, expired}], "debts": [{number,
 * amount_kopecks}], "business"}: what the menu warns about — meters whose verification has passed or comes within
 * 90 days, and debts, over the customer's active accounts; business: whether one of them is a business's (only
 * then does the menu offer documents). */
static const core_sql_op_t op_warnings = {
    {{"customer_id", 'i', 1}},
    {"SELECT json_build_object('status', 'ok',"
     " 'verify', (SELECT coalesce(json_agg(json_build_object('number', a.number, 'serial', m.serial,"
     "   'date', to_char(m.verify_by, 'DD.MM.YYYY'), 'expired', m.verify_by < current_date) ORDER BY m.verify_by), '[]')"
     "  FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id"
     "  JOIN kb_meter m ON m.account_id = a.id AND m.removed_on IS NULL"
     "  WHERE l.customer_id = $1::bigint AND l.status = 'active' AND m.verify_by < current_date + 90),"
     " 'debts', (SELECT coalesce(json_agg(json_build_object('number', a.number, 'amount_kopecks', mo.balance_kopecks)"
     "   ORDER BY a.number), '[]')"
     "  FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id CROSS JOIN kb_account_money(a.id) mo"
     "  WHERE l.customer_id = $1::bigint AND l.status = 'active' AND mo.balance_kopecks > 0),"
     " 'business', EXISTS (SELECT 1 FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id"
     "  WHERE l.customer_id = $1::bigint AND l.status = 'active' AND a.customer_kind = 'business'))::text"}};

/* ---------------------------------------------------------------- bill.send */

/* bill.send {customer_id | staff, account_id, lang} → {"status": "queued", number, month} | {"status": "no_bill",
 * number} | {"status": "not_linked"}: the account's latest bill, queued for the "doc" channel, which renders it and
 * sends it to this conversation as a PDF (once per request: keyed by the event). */
static const core_sql_op_t op_bill_send = {
    {WHO, {"lang", 's', 0}, {"$conv"}, {"event_id", 's', 0}},
    {"WITH " ACCOUNT_CTE ", "
     "m AS (SELECT (SELECT max(month) FROM kb_charge WHERE account_id = acc.id) AS month FROM acc), "
     "q AS (SELECT kb_outbox_put('doc:' || $5, 'doc', 0, coalesce($6, '') || '/' || acc.number, 0, jsonb_build_object("
     "  'kind', 'bill', 'account', acc.number, 'month', to_char(m.month, 'YYYY-MM'), 'conv', $5,"
     "  'lang', CASE WHEN $4 = 'en' THEN 'en' ELSE 'ru' END)) FROM acc, m WHERE m.month IS NOT NULL AND $5 <> '') "
     "SELECT coalesce((SELECT CASE WHEN m.month IS NULL THEN json_build_object('status', 'no_bill', 'number',"
     " acc.number) ELSE json_build_object('status', 'queued', 'number', acc.number, 'month', to_char(m.month,"
     " 'MM.YYYY')) END FROM acc, m), " NOT_LINKED ")::text FROM (SELECT count(*) FROM q) put"}};

/* ledger.chart {customer_id | staff, account_id, lang} → {"status": "queued", number} | {"status": "not_linked"}: the
 * ledger of the last 12 months as a picture (chart.h), queued for the "doc" channel, which draws it and sends it to
 * this conversation as an image (once per request). */
static const core_sql_op_t op_chart = {
    {WHO, {"lang", 's', 0}, {"$conv"}, {"event_id", 's', 0}},
    {"WITH " ACCOUNT_CTE ", "
     "q AS (SELECT kb_outbox_put('doc:' || $5, 'doc', 0, coalesce($6, '') || '/chart/' || acc.number, 0,"
     "  jsonb_build_object('kind', 'chart', 'account_id', acc.id, 'conv', $5, 'lang', CASE WHEN $4 = 'en' THEN 'en'"
     "  ELSE 'ru' END)) FROM acc WHERE $5 <> '') "
     "SELECT coalesce((SELECT json_build_object('status', 'queued', 'number', acc.number) FROM acc), " NOT_LINKED ")::text"
     " FROM (SELECT count(*) FROM q) put"}};

/* docs.request {customer_id, account_id, kind: "invoice"|"vat"|"act"|"recon", from, to (YYYY-MM-DD), lang} →
 * {"status": "queued", number} | {"status": "business_only"} | {"status": "not_linked"}: a business's document for
 * the period (doc_biz.h), queued for the "doc" channel, which renders it and sends it here as a PDF (once per
 * request). */
static const core_sql_op_t op_docs = {
    {{"customer_id", 'i', 1}, {"account_id", 'i', 1}, {"kind", 's', 1}, {"from", 'd', 1}, {"to", 'd', 1},
     {"lang", 's', 0}, {"$conv"}, {"event_id", 's', 0}},
    {"WITH acc AS (SELECT a.id, a.number, a.customer_kind FROM kb_account a JOIN kb_account_link l ON l.account_id = a.id"
     "  AND l.customer_id = $1::bigint AND l.status = 'active' WHERE a.id = $2::bigint), "
     "q AS (SELECT kb_outbox_put('doc:' || $7, 'doc', 0, coalesce($8, '') || '/' || $3 || '/' || acc.number, 0,"
     "  jsonb_build_object('kind', 'biz', 'doc', $3::text, 'account', acc.number, 'from', $4::text, 'to', $5::text,"
     "  'conv', $7::text, 'lang', CASE WHEN $6 = 'en' THEN 'en' ELSE 'ru' END)) FROM acc"
     "  WHERE acc.customer_kind = 'business' AND $7 <> '' AND $3 IN ('invoice', 'vat', 'act', 'recon')"
     "  AND $4::date <= $5::date) "
     "SELECT coalesce((SELECT CASE WHEN acc.customer_kind <> 'business' THEN json_build_object('status', 'business_only')"
     " ELSE json_build_object('status', 'queued', 'number', acc.number) END FROM acc), " NOT_LINKED ")::text"
     " FROM (SELECT count(*) FROM q) put"}};

/* ---------------------------------------------------------------- tariff.calculate */

/* tariff.calculate {customer_id | staff, account_id, kwh1, kwh2, kwh3, date} → {"status": "tariff", number, tariff,
 * zones, date} without kwh1 (what to ask for) | {"status": "ok", number, tariff, zones, date, lines: [{zone, kwh,
 * rate, amount_kopecks}], total_kopecks} | {"status": "invalid"} (a kWh value of a zone the tariff has is not a
 * number with at most 3 decimals) | {"status": "no_tariff"} | {"status": "not_linked"}: kWh per zone at the rates
 * of the account's tariff in force on date (today on the account's clock by default); each zone's amount rounded to
 * the kopeck, exactly. */
static const core_sql_op_t op_calculate = {
    {WHO, {"kwh1", 's', 0}, {"kwh2", 's', 0}, {"kwh3", 's', 0}, {"date", 'd', 0}},
    {"WITH " ACCOUNT_CTE ", "
     "t AS (SELECT t.id, t.name, t.zones, coalesce($7::date, acc.today) AS on_day FROM acc JOIN kb_account a ON a.id = acc.id"
     "  JOIN kb_tariff t ON t.code = a.tariff_code AND t.valid_from <= coalesce($7::date, acc.today)"
     "  AND (t.valid_to IS NULL OR t.valid_to >= coalesce($7::date, acc.today)) ORDER BY t.valid_from DESC LIMIT 1), "
     "k AS (SELECT z, v FROM (VALUES (1, $4::text), (2, $5::text), (3, $6::text)) x(z, v), t WHERE z <= t.zones), "
     "l AS (SELECT r.zone, replace(k.v, ',', '.')::numeric AS kwh, r.rate,"
     "  round(replace(k.v, ',', '.')::numeric * r.rate * 100)::bigint AS amount FROM t JOIN kb_tariff_rate r"
     "  ON r.tariff_id = t.id JOIN k ON k.z = r.zone WHERE kb_is_decimal(coalesce(k.v, ''))) "
     "SELECT (CASE WHEN NOT EXISTS (SELECT 1 FROM acc) THEN " NOT_LINKED
     " WHEN NOT EXISTS (SELECT 1 FROM t) THEN json_build_object('status', 'no_tariff')"
     " WHEN $4 IS NULL THEN (SELECT json_build_object('status', 'tariff', 'number', acc.number, 'tariff', t.name,"
     "  'zones', t.zones, 'date', to_char(t.on_day, 'DD.MM.YYYY')) FROM acc, t)"
     " WHEN EXISTS (SELECT 1 FROM k WHERE NOT kb_is_decimal(coalesce(k.v, ''))) THEN json_build_object('status', 'invalid')"
     " ELSE (SELECT json_build_object('status', 'ok', 'number', acc.number, 'tariff', t.name, 'zones', t.zones,"
     "  'date', to_char(t.on_day, 'DD.MM.YYYY'), 'lines', (SELECT json_agg(json_build_object('zone', zone, 'kwh',"
     "  replace(kwh::text, '.', ','), 'rate', replace(rate::text, '.', ','), 'amount_kopecks', amount) ORDER BY zone)"
     "  FROM l), 'total_kopecks', (SELECT sum(amount) FROM l)) FROM acc, t) END)::text"}};

/* ---------------------------------------------------------------- registration */

CORE_SQL_OP(account_balance, op_balance)
CORE_SQL_OP(account_ledger, op_ledger)
CORE_SQL_OP(customer_warnings, op_warnings)
CORE_SQL_OP(bill_send, op_bill_send)
CORE_SQL_OP(tariff_calculate, op_calculate)
CORE_SQL_OP(ledger_chart, op_chart)
CORE_SQL_OP(docs_request, op_docs)

void core_money_register(void)
{
    core_register_query("account.balance", account_balance);
    core_register_read("account.history", account_history);
    core_register_read("account.ledger", account_ledger);
    core_register_query("customer.warnings", customer_warnings);
    core_register("bill.send", bill_send);
    core_register("tariff.calculate", tariff_calculate);
    core_register("ledger.chart", ledger_chart);
    core_register("docs.request", docs_request);
}
