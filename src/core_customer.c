/* core_customer.c — the customer's own settings and appeals to support. Settings: the language of replies,
 * notifications on or off, bills by email and paper bills (paper only on the primary account's holder's word, as the
 * portals do). An appeal (обращение) is a thread: the first message opens it, later ones join the open one; staff
 * answer in the same thread (the escalation issue). Each change leaves an audit row.
 *
 * customer.settings {customer_id} → {"status": "ok", language, notifications, email_bills, paper_bills, email}
 * customer.set {customer_id, field: "language"|"notifications"|"email_bills"|"paper_bills", value} → {"status": "ok",
 *     field, value} | {"status": "no_email"} (bills by email need a confirmed email first)
 * appeal.add {customer_id, text, attachment (a file id), size} → {"status": "ok", appeal_id, new} */
#include "core.h"

static const core_sql_op_t op_settings = {
    {{"customer_id", 'i', 1}},
    {"SELECT json_build_object('status', 'ok', 'language', language, 'notifications', notifications,"
     " 'email_bills', email_bills, 'paper_bills', paper_bills, 'email', email)::text "
     "FROM kb_customer WHERE id = $1::bigint"}};

/* One field, as text: "ru"/"en" or "true"/"false". A bad value is refused by the table's checks (a malformed call). */
static const core_sql_op_t op_set = {
    {{"customer_id", 'i', 1}, {"field", 's', 1}, {"value", 's', 1}, {"$conv"}, {"event_id", 's', 0}},
    {"WITH c AS (UPDATE kb_customer SET"
     "  language = CASE WHEN $2 = 'language' THEN $3 ELSE language END,"
     "  notifications = CASE WHEN $2 = 'notifications' THEN $3::boolean ELSE notifications END,"
     "  email_bills = CASE WHEN $2 = 'email_bills' THEN $3::boolean ELSE email_bills END,"
     "  paper_bills = CASE WHEN $2 = 'paper_bills' THEN $3::boolean ELSE paper_bills END"
     "  WHERE id = $1::bigint AND $2 IN ('language', 'notifications', 'email_bills', 'paper_bills')"
     "  AND NOT ($2 = 'email_bills' AND $3 = 'true' AND email IS NULL) RETURNING id) "
     "INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) "
     "SELECT $4, coalesce($5, ''), 'settings.' || $2, json_build_object('value', $3::text), id, 'customer' FROM c",
     "SELECT CASE WHEN $2 = 'email_bills' AND $3 = 'true' AND email IS NULL THEN json_build_object('status', 'no_email')"
     " ELSE json_build_object('status', 'ok', 'field', $2::text, 'value', $3::text) END::text "
     "FROM kb_customer WHERE id = $1::bigint"}};

/* The open appeal of the conversation gets the message, or a new one opens. */
static const core_sql_op_t op_appeal = {
    {{"customer_id", 'i', 0}, {"text", 's', 0}, {"attachment", 's', 0}, {"size", 'i', 0}, {"$conv"}},
    {"INSERT INTO kb_appeal (customer_id, conv, subject) SELECT $1::bigint, $5, left(coalesce($2, $3, ''), 80) "
     "WHERE NOT EXISTS (SELECT 1 FROM kb_appeal WHERE conv = $5 AND status <> 'closed')"
     " AND coalesce($4::int, 0) <= 2097152",
     "WITH a AS (SELECT id, created_at = now() AS new FROM kb_appeal WHERE conv = $5 AND status <> 'closed'"
     "  ORDER BY id DESC LIMIT 1), "
     "m AS (INSERT INTO kb_appeal_message (appeal_id, author, body, attachment_file, attachment_size)"
     "  SELECT a.id, 'customer', coalesce($2, ''), $3, $4::int FROM a RETURNING appeal_id), "
     "s AS (UPDATE kb_appeal SET status = 'open', customer_id = coalesce(customer_id, $1::bigint)"
     "  WHERE id = (SELECT id FROM a)) "
     "SELECT json_build_object('status', 'ok', 'appeal_id', a.id, 'new', a.new)::text FROM a"}};

CORE_SQL_OP(customer_settings, op_settings)
CORE_SQL_OP(customer_set, op_set)
CORE_SQL_OP(appeal_add, op_appeal)

void core_customer_register(void)
{
    core_register("customer.settings", customer_settings);
    core_register("customer.set", customer_set);
    core_register("appeal.add", appeal_add);
}
