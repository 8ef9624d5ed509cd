/* core_payments.c — a payment's life in kabinet: created pending under an idempotency key (the same key gives the
 * same payment back, never a second one), settled exactly once when the provider says it was paid (concurrent
 * settlements of one payment change the balance once: the row lock decides, the loser is told "already"), failed
 * or expired otherwise; and its receipt (чек) with the fiscal data. The amount must lie within the retailer's
 * limits (settings payment.min_kopecks, 1 by default, and payment.max_kopecks, 100,000 RUB by default: above it
 * the customer pays in parts). A payment is known to providers by its order id "kb-<id>". Billing later credits
 * it (kabinetd import payments matches it by order or provider id), which moves it from "paid" to "credited"
 * without touching the balance again. Every change writes an audit row and clears the export batch.
 *
 * payment.create {idempotency_key, account_id, amount_kopecks, customer_id, purpose ("energy"|"penalty"),
 *     source ("bot"), provider, receipt_email, lang} (the conversation is kept: the link and "payment accepted" go
 *     there; a new payment also queues its provider call in the "pay" channel's outbox) → {"status": "created"|"existing", payment_id, order_id,
 *     amount_kopecks, payment_status} | {"status": "invalid_amount", min_kopecks, max_kopecks}
 *     | {"status": "key_reused"} (the key was used for another account or amount) | {"status": "not_found"}
 * payment.settle {order_id, amount_kopecks, provider_payment_id, paid_at (ISO 8601)} (also queues "payment
 *     accepted" to the payment's conversation, once) → {"status": "settled",
 *     payment_id, account_id, customer_id, late (it had been declined or expired: the customer hears it went through
 *     after all, staff get an appeal, kb_payment_late)} | {"status": "already_settled"} | {"status": "amount_mismatch"}
 * payment.fail {order_id, reason: "failed"|"expired"} (also queues "declined" or "expired" to the payment's
 *     conversation, once) → {"status": reason, conv} | {"status": "not_pending"}
 * payment.expire_due {older_than_s (1200)} → {"status": "ok", expired, payments: [{payment_id, customer_id}]}
 * receipt.add {order_id, kkt_reg, fn, fd, fpd, check_url, issued_at} (also queues the check for the "doc" channel,
 *     which renders it and sends it to the payment's conversation) → {"status": "added"|"exists"|"not_paid"}
 * receipt.get {customer_id | staff, payment_id} → {"status": "ok", amount, time, account, address, tariff,
 *     meters, fiscal} */
#include "core.h"

#define LIMITS                                                                                                        \
    "lim AS (SELECT coalesce((SELECT (value #>> '{}')::bigint FROM kb_setting WHERE key = 'payment.min_kopecks'), 1)" \
    " AS lo, coalesce((SELECT (value #>> '{}')::bigint FROM kb_setting WHERE key = 'payment.max_kopecks'),"          \
    " 10000000) AS hi)"

/* The audit row of a change that CTE src returned (id, account_id, customer_id, amount_kopecks). */
#define AUDIT(CONV, EVENT, WHAT, ACTOR, SRC)                                                                          \
    "INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) "                                       \
    "SELECT " CONV ", coalesce(" EVENT ", ''), " WHAT ", json_build_object('payment_id', id, 'account_id',"           \
    " account_id, 'amount_kopecks', amount_kopecks), customer_id, " ACTOR " FROM " SRC

/* ---------------------------------------------------------------- payment.create */

static const core_sql_op_t op_create = {
    {{"idempotency_key", 's', 1}, {"account_id", 'i', 1}, {"amount_kopecks", 'i', 1}, {"customer_id", 'i', 0},
     {"purpose", 's', 0}, {"source", 's', 0}, {"provider", 's', 0}, {"receipt_email", 's', 0}, {"$conv"},
     {"event_id", 's', 0}, {"lang", 's', 0}},
    {"WITH " LIMITS ", id AS (SELECT nextval('kb_payment_id_seq') AS id), "
     "ins AS (INSERT INTO kb_payment (id, account_id, customer_id, amount_kopecks, purpose, source, status, provider,"
     "  order_id, idempotency_key, receipt_email, conv, lang) "
     " SELECT id.id, a.id, $4::bigint, $3::bigint, coalesce($5, 'energy'), coalesce($6, 'bot'), 'pending', $7,"
     "  'kb-' || id.id, $1, $8, nullif($9, ''), CASE WHEN $11 = 'en' THEN 'en' ELSE 'ru' END"
     "  FROM kb_account a, lim, id WHERE a.id = $2::bigint AND $3::bigint BETWEEN lim.lo AND lim.hi"
     " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, account_id, customer_id, amount_kopecks, order_id), "
     /* the provider call, made durable: the "pay" channel's sender asks the provider for a link */
     "o AS (SELECT kb_outbox_put('pay:' || order_id, 'pay', 0, 'create', 0, jsonb_build_object('payment_id', id))"
     " FROM ins) "
     AUDIT("$9", "$10", "'payment.create'", "'customer'", "ins, (SELECT count(*) FROM o) put"),
     "WITH " LIMITS " "
     "SELECT CASE WHEN $3::bigint NOT BETWEEN lim.lo AND lim.hi THEN"
     "  json_build_object('status', 'invalid_amount', 'min_kopecks', lim.lo, 'max_kopecks', lim.hi)"
     " ELSE (SELECT CASE WHEN p.account_id <> $2::bigint OR p.amount_kopecks <> $3::bigint THEN"
     "   json_build_object('status', 'key_reused') ELSE json_build_object('status', CASE WHEN p.created_at = now()"
     "   THEN 'created' ELSE 'existing' END, 'payment_id', p.id, 'order_id', p.order_id, 'amount_kopecks',"
     "   p.amount_kopecks, 'payment_status', p.status) END FROM kb_payment p WHERE p.idempotency_key = $1) END::text "
     "FROM lim"}};

/* ---------------------------------------------------------------- payment.settle, payment.fail, expiry */

static const core_sql_op_t op_settle = {
    {{"order_id", 's', 1}, {"amount_kopecks", 'i', 1}, {"provider_payment_id", 's', 0}, {"paid_at", 's', 0},
     {"$conv"}, {"event_id", 's', 0}},
    {"WITH cur AS (SELECT id, amount_kopecks, status FROM kb_payment WHERE order_id = $1), "
     "s AS (UPDATE kb_payment p SET status = 'paid', paid_at = coalesce($4::timestamptz, now()),"
     "  provider_payment_id = coalesce($3, p.provider_payment_id), export_batch = NULL"
     "  WHERE p.order_id = $1 AND p.amount_kopecks = $2::bigint AND p.status IN ('pending', 'failed', 'expired')"
     "  RETURNING p.id, p.account_id, p.customer_id, p.amount_kopecks, p.conv, p.lang, p.order_id), "
     "a AS (" AUDIT("$5", "$6", "'payment.settle'", "'provider'", "s") "), "
     /* "payment accepted" to the conversation that paid, once: keyed by the order */
     /* …or, for a payment kabinet had closed as declined or expired, that it went through after all; and staff see
      * the anomaly (kb_payment_late: an appeal with reason "payment") */
     "n AS (SELECT kb_outbox_put(s.conv, split_part(s.conv, ':', 1), 0, 'paid:' || s.order_id, 0,"
     "  jsonb_build_object('tmpl', CASE WHEN cur.status = 'pending' THEN 'pay.accepted' ELSE 'pay.late_paid' END,"
     "  'lang', s.lang, 'params', jsonb_build_object('amount', s.amount_kopecks, 'account', ac.number)))"
     " FROM s JOIN cur ON cur.id = s.id JOIN kb_account ac ON ac.id = s.account_id WHERE s.conv IS NOT NULL), "
     "late AS (SELECT kb_payment_late(s.id, cur.status) FROM s JOIN cur ON cur.id = s.id WHERE cur.status <> 'pending') "
     "SELECT CASE WHEN EXISTS (SELECT 1 FROM s) THEN (SELECT json_build_object('status', 'settled', 'payment_id', s.id,"
     "  'account_id', s.account_id, 'customer_id', s.customer_id, 'amount_kopecks', s.amount_kopecks,"
     "  'late', (SELECT count(*) FROM late) > 0) FROM s)"
     " WHEN cur.amount_kopecks <> $2::bigint THEN"
     "  json_build_object('status', 'amount_mismatch', 'expected_kopecks', cur.amount_kopecks)"
     " ELSE json_build_object('status', 'already_settled', 'payment_id', cur.id) END::text"
     " FROM cur, (SELECT count(*) FROM n) put"}};

static const core_sql_op_t op_fail = {
    {{"order_id", 's', 1}, {"reason", 's', 1}, {"$conv"}, {"event_id", 's', 0}},
    {"WITH cur AS (SELECT id, status FROM kb_payment WHERE order_id = $1), "
     "f AS (UPDATE kb_payment SET status = $2, export_batch = NULL"
     "  WHERE order_id = $1 AND status = 'pending' AND $2 IN ('failed', 'expired')"
     "  RETURNING id, account_id, customer_id, amount_kopecks, conv, lang, order_id), "
     "a AS (" AUDIT("$3", "$4", "'payment.' || $2", "'provider'", "f") "), "
     /* the customer hears of it, once: "declined" or "the link expired" */
     "n AS (SELECT kb_outbox_put(f.conv, split_part(f.conv, ':', 1), 0, 'fail:' || f.order_id, 0,"
     "  jsonb_build_object('tmpl', 'pay.' || $2, 'lang', f.lang, 'params', jsonb_build_object('amount',"
     "  f.amount_kopecks, 'account', ac.number))) FROM f JOIN kb_account ac ON ac.id = f.account_id"
     " WHERE f.conv IS NOT NULL) "
     "SELECT CASE WHEN EXISTS (SELECT 1 FROM f) THEN json_build_object('status', $2, 'conv', (SELECT conv FROM f))"
     " ELSE json_build_object('status', 'not_pending', 'payment_status', cur.status) END::text"
     " FROM cur, (SELECT count(*) FROM n) put"}};

static const core_sql_op_t op_expire_due = {
    {{"older_than_s", 'i', 0}, {"$conv"}},
    {"WITH e AS (UPDATE kb_payment SET status = 'expired', export_batch = NULL WHERE status = 'pending'"
     "  AND created_at < now() - make_interval(secs => coalesce($1::int, 1200))"
     "  RETURNING id, account_id, customer_id, amount_kopecks), "
     "a AS (" AUDIT("$2", "''", "'payment.expired'", "'system'", "e") ") "
     "SELECT json_build_object('status', 'ok', 'expired', (SELECT count(*) FROM e), 'payments',"
     " (SELECT coalesce(json_agg(json_build_object('payment_id', id, 'customer_id', customer_id) ORDER BY id), '[]')"
     "  FROM e))::text"}};

/* ---------------------------------------------------------------- receipts */

static const core_sql_op_t op_receipt_add = {
    {{"order_id", 's', 1}, {"kkt_reg", 's', 0}, {"fn", 's', 0}, {"fd", 's', 0}, {"fpd", 's', 0}, {"check_url", 's', 0},
     {"issued_at", 's', 0}},
    {"WITH p AS (SELECT id, status, conv, lower(receipt_email) AS email FROM kb_payment WHERE order_id = $1), "
     "ins AS (INSERT INTO kb_receipt (payment_id, kkt_reg, fn_number, fd_number, fpd, check_url, issued_at)"
     "  SELECT id, $2, $3, $4, $5, $6, coalesce($7::timestamptz, now()) FROM p WHERE status IN ('paid', 'credited')"
     "  ON CONFLICT (payment_id) DO NOTHING RETURNING id), "
     /* the check (text and PDF) is made and sent by the "doc" channel, once */
     "o AS (SELECT kb_outbox_put('doc:' || p.conv, 'doc', 0, 'check:' || $1, 0, jsonb_build_object('kind', 'check',"
     " 'payment_id', p.id)) FROM p, ins WHERE p.conv IS NOT NULL), "
     /* and a copy to the email the payer gave for it */
     "m AS (SELECT kb_outbox_put('doc:mail:' || p.email, 'doc', 0, 'check:' || $1, 0, jsonb_build_object('kind', 'check',"
     " 'payment_id', p.id, 'to', 'mail:' || p.email)) FROM p, ins WHERE p.email IS NOT NULL) "
     "SELECT CASE WHEN EXISTS (SELECT 1 FROM ins) THEN json_build_object('status', 'added')"
     " WHEN p.status NOT IN ('paid', 'credited') THEN json_build_object('status', 'not_paid')"
     " ELSE json_build_object('status', 'exists') END::text FROM p, (SELECT count(*) FROM o) put_o,"
     " (SELECT count(*) FROM m) put_m"}};

static const core_sql_op_t op_receipt_get = {
    {{"customer_id", 'i', 0}, {"payment_id", 'i', 1}, {"staff", 's', 0}},
    {"SELECT json_build_object('status', 'ok', 'payment_id', p.id, 'order_id', p.order_id,"
     " 'amount_kopecks', p.amount_kopecks, 'purpose', p.purpose, 'payment_status', p.status,"
     " 'paid_at', to_char((p.paid_at AT TIME ZONE 'UTC') + make_interval(mins => b.utc_offset_min), 'YYYY-MM-DD HH24:MI'),"
     " 'account', a.number, 'address', a.address, 'tariff', coalesce((SELECT t.name FROM kb_tariff t WHERE t.code = a.tariff_code"
     " ORDER BY t.valid_from DESC LIMIT 1), a.tariff_code), 'receipt_email', p.receipt_email,"
     " 'lang', p.lang, 'conv', p.conv,"
     " 'meters', (SELECT coalesce(json_agg(json_build_object('serial', m.serial, 'model', m.model, 'digits', m.digits)"
     "   ORDER BY m.id), '[]') FROM kb_meter m WHERE m.account_id = a.id AND m.removed_on IS NULL),"
     " 'fiscal', CASE WHEN r.id IS NOT NULL THEN json_build_object('kkt_reg', r.kkt_reg, 'fn', r.fn_number,"
     "   'fd', r.fd_number, 'fpd', r.fpd, 'check_url', r.check_url, 'at', to_char((r.issued_at AT TIME ZONE 'UTC')"
     "   + make_interval(mins => b.utc_offset_min), 'YYYY-MM-DD HH24:MI')) END)::text "
     "FROM kb_payment p JOIN kb_account a ON a.id = p.account_id JOIN kb_branch b ON b.id = a.branch_id "
     "LEFT JOIN kb_receipt r ON r.payment_id = p.id "
     "WHERE p.id = $2::bigint AND p.status IN ('paid', 'credited') AND ($3::text IS NOT NULL OR p.customer_id = $1::bigint"
     " OR EXISTS (SELECT 1 FROM kb_account_link l WHERE l.customer_id = $1::bigint AND l.account_id = a.id"
     "            AND l.status = 'active'))"}};

/* ---------------------------------------------------------------- registration */

CORE_SQL_OP(payment_create, op_create)
CORE_SQL_OP(payment_settle, op_settle)
CORE_SQL_OP(payment_fail, op_fail)
CORE_SQL_OP(payment_expire_due, op_expire_due)
CORE_SQL_OP(receipt_add, op_receipt_add)
CORE_SQL_OP(receipt_get, op_receipt_get)

void core_payments_register(void)
{
    core_register("payment.create", payment_create);
    core_register("payment.settle", payment_settle);
    core_register("payment.fail", payment_fail);
    core_register("payment.expire_due", payment_expire_due);
    core_register("receipt.add", receipt_add);
    core_register("receipt.get", receipt_get);
}
