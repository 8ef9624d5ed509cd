/* core_customer.c — the customer's own settings and appeals to support. Settings: the language of replies,
 * notifications on or off, bills by email and paper bills (paper only on the primary account's holder's word, as the
 * portals do). Each change leaves an audit row. (Appeals to support are core_appeals.c.)
 *
 * customer.settings {customer_id} → {"status": "ok", language, notifications, notify_channel, email_bills, paper_bills,
 *     email}
 * customer.set {customer_id, field: "language"|"notifications"|"notify_channel"|"email_bills"|"paper_bills", value}
 *     (notify_channel: "tg", "sms" or "mail", where pushes go, notify.h) → {"status": "ok",
 *     field, value} | {"status": "no_email"} (bills by email need a confirmed email first) | {"status": "no_primary"}
 *     (paper bills are refused for the primary account only: without one there is nothing to refuse) */
#include "core.h"

static const core_sql_op_t op_settings = {
    {{"customer_id", 'i', 1}},
    {"SELECT json_build_object('status', 'ok', 'language', language, 'notifications', notifications,"
     " 'notify_channel', notify_channel, 'email_bills', email_bills, 'paper_bills', paper_bills, 'email', email)::text "
     "FROM kb_customer WHERE id = $1::bigint"}};

/* Paper bills can be refused only for a primary account (the customer's active primary link). */
#define NO_PRIMARY "$2 = 'paper_bills' AND $3 = 'false' AND NOT EXISTS (SELECT 1 FROM kb_account_link"          \
    " WHERE customer_id = $1::bigint AND is_primary AND status = 'active')"

/* One field, as text: "ru"/"en" or "true"/"false". A bad value is refused by the table's checks (a malformed call). */
static const core_sql_op_t op_set = {
    {{"customer_id", 'i', 1}, {"field", 's', 1}, {"value", 's', 1}, {"$conv"}, {"event_id", 's', 0}},
    {"WITH c AS (UPDATE kb_customer SET"
     "  language = CASE WHEN $2 = 'language' THEN $3 ELSE language END,"
     "  notifications = CASE WHEN $2 = 'notifications' THEN $3::boolean ELSE notifications END,"
     "  notify_channel = CASE WHEN $2 = 'notify_channel' THEN $3 ELSE notify_channel END,"
     "  email_bills = CASE WHEN $2 = 'email_bills' THEN $3::boolean ELSE email_bills END,"
     "  paper_bills = CASE WHEN $2 = 'paper_bills' THEN $3::boolean ELSE paper_bills END"
     "  WHERE id = $1::bigint AND $2 IN ('language', 'notifications', 'notify_channel', 'email_bills', 'paper_bills')"
     "  AND NOT ($2 = 'email_bills' AND $3 = 'true' AND email IS NULL) AND NOT (" NO_PRIMARY ") RETURNING id) "
     "INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) "
     "SELECT $4, coalesce($5, ''), 'settings.' || $2, json_build_object('value', $3::text), id, 'customer' FROM c",
     "SELECT CASE WHEN $2 = 'email_bills' AND $3 = 'true' AND email IS NULL THEN json_build_object('status', 'no_email')"
     " WHEN " NO_PRIMARY " THEN json_build_object('status', 'no_primary')"
     " ELSE json_build_object('status', 'ok', 'field', $2::text, 'value', $3::text) END::text "
     "FROM kb_customer WHERE id = $1::bigint"}};

CORE_SQL_OP(customer_settings, op_settings)
CORE_SQL_OP(customer_set, op_set)

void core_customer_register(void)
{
    core_register("customer.settings", customer_settings);
    core_register("customer.set", customer_set);
}
