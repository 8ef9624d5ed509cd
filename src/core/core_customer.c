/* core_customer.c — the customer's own settings and appeals to support. Settings: the language of replies,
 * notifications on or off, bills by email and paper bills (paper only on the primary account's holder's word, as the
 * portals do). Each change leaves an audit row. (Appeals to support are core_appeals.c.)
 *
 * customer.settings {customer_id} → {"status": "ok", language, notifications, notify_channel, email_bills, paper_bills,
 *     email}
 * customer.set {customer_id, field: "language"|"notifications"|"notify_channel"|"email_bills"|"paper_bills", value}
 *     (notify_channel: "tg", "sms" or "mail", where pushes go, notify.h) → {"status": "ok",
 *     field, value} | {"status": "no_email"} (bills by email need a confirmed email first) | {"status": "no_primary"}
 *     (paper bills are refused for the primary account only: without one there is nothing to refuse)
 * customer.activity {customer_id, page (0)} → {"status": "ok", rows: [{line, at, channel, number, amount}]}: the
 *     account's history (seed 001's «История аккаунта»): sign-ins with their channel, account links, unlinks and the
 *     primary's changes, readings sent, payments made and settled, settings changed, merges and sign-outs, ten at a
 *     time, newest first, in Moscow time (kb_setting notify.default_utc_offset_min); line names each row's template. */
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

static const core_sql_op_t op_activity = {
    {{"customer_id", 'i', 1}, {"page", 'i', 0}},
    {"WITH a AS (SELECT au.id, au.at, au.what, au.details FROM kb_audit au WHERE au.customer_id = $1::bigint"
     "  AND (au.what IN ('login', 'account.link', 'account.unlink', 'account.set_primary', 'reading.submit',"
     "  'payment.create', 'payment.settle', 'customer.merged', 'privacy.logout') OR au.what LIKE 'settings.%')"
     "  ORDER BY au.at DESC, au.id DESC LIMIT 10 OFFSET 10 * greatest(coalesce($2::int, 0), 0)) "
     "SELECT json_build_object('status', 'ok', 'rows', coalesce(json_agg(json_build_object("
     " 'line', 'his.act_' || CASE WHEN a.what LIKE 'settings.%' THEN 'settings' ELSE replace(a.what, '.', '_') END,"
     " 'at', to_char((a.at AT TIME ZONE 'UTC') + make_interval(mins => kb_setting_int('notify.default_utc_offset_min',"
     "  180)), 'DD.MM.YYYY HH24:MI'), 'channel', coalesce(a.details ->> 'channel', ''),"
     " 'number', coalesce((SELECT k.number FROM kb_account k WHERE k.id = coalesce((a.details ->> 'account_id')::bigint,"
     "  (SELECT m.account_id FROM kb_meter m WHERE m.id = (a.details ->> 'meter_id')::bigint))), ''),"
     " 'amount', coalesce((a.details ->> 'amount_kopecks')::bigint, 0)) ORDER BY a.at DESC, a.id DESC), '[]'))::text "
     "FROM a"}};

CORE_SQL_OP(customer_settings, op_settings)
CORE_SQL_OP(customer_activity, op_activity)
CORE_SQL_OP(customer_set, op_set)

void core_customer_register(void)
{
    core_register("customer.settings", customer_settings);
    core_register("customer.set", customer_set);
    core_register_read("customer.activity", customer_activity);
}
