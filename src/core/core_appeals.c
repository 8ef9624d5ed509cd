/* core_appeals.c — appeals (обращения) to support staff, on the functions of sql/011_appeals.sql. An appeal is a
 * thread with a life cycle: bot (handed back to the bot, still open), waiting (for a person), open (a staff member
 * took it), resolved. The customer's side adds messages (and opens, or within appeal.reopen_hours reopens, the
 * appeal); the staff side acts on it from its forum topic; every staff action leaves an audit row with the staff
 * member's id, /ls on an account included.
 *
 * appeal.add {customer_id, text, attachment, size, kind: "text"|"photo"|"document", reason: "asked"|"stuck"|"link",
 *     link_id} → {"status": "ok", appeal_id, new, reopened, appeal_status, next_open ("DD.MM HH:MM" when support is
 *     closed now and the customer was not told yet in this appeal, else null), staffed (a staff seat was seen in
 *     the last two minutes: kb_staff_seat)}
 * appeal.staff {chat, topic, staff, name, action: "say"|"note"|"take"|"take_say"|"close"|"bot"|"reopen"|"approve"|
 *     "reject", text, event_id, attachment (a Telegram file id), kind: "photo"|"document"} → {"status": "ok"|"no_appeal"|"resolved"|"not_assigned"|"not_resolved"|"no_link"|
 *     "not_pending", appeal_id, conv, channel, action, assignee_name, number, reason}
 * appeal.rate {appeal_id, rating 1..5} (of this conversation's appeal) → {"status": "ok"|"already"|"not_found"}
 * staff.ls {number, staff, event_id} → {"status": "ok", number, address, holder, branch, balance_kopecks, meters,
 *     linked} | {"status": "not_found"} */
#include "core.h"

static const core_sql_op_t op_add = {
    {{"customer_id", 'i', 0}, {"$conv"}, {"text", 's', 0}, {"attachment", 's', 0}, {"size", 'i', 0},
     {"kind", 's', 0}, {"reason", 's', 0}, {"link_id", 'i', 0}},
    {"SELECT (kb_appeal_add($1::bigint, $2, $3, $4, $5::int, $6, $7, $8::bigint)::jsonb || jsonb_build_object("
     " 'staffed', EXISTS (SELECT 1 FROM kb_staff_seat WHERE seen_at > now() - interval '2 minutes')))::text"}};

static const core_sql_op_t op_staff = {
    {{"chat", 'i', 1}, {"topic", 'i', 1}, {"staff", 's', 1}, {"name", 's', 0}, {"action", 's', 1}, {"text", 's', 0},
     {"$conv"}, {"event_id", 's', 0}, {"attachment", 's', 0}, {"kind", 's', 0}},
    {"SELECT kb_appeal_staff($1::bigint, $2::bigint, $3, coalesce($4, ''), $5, $6, $7, coalesce($8, ''), $9,"
     " coalesce($10, 'text'))::text"}};

static const core_sql_op_t op_rate = {
    {{"appeal_id", 'i', 1}, {"rating", 'i', 1}, {"$conv"}},
    {"WITH r AS (UPDATE kb_appeal SET rating = $2::smallint, rated_at = now() WHERE id = $1::bigint AND conv = $3"
     "  AND status = 'resolved' AND rating IS NULL AND $2::int BETWEEN 1 AND 5 RETURNING id) "
     "SELECT json_build_object('status', CASE WHEN EXISTS (SELECT 1 FROM r) THEN 'ok' WHEN EXISTS (SELECT 1 FROM"
     " kb_appeal WHERE id = $1::bigint AND conv = $3) THEN 'already' ELSE 'not_found' END)::text"}};

static const core_sql_op_t op_ls = {
    {{"number", 's', 1}, {"staff", 's', 1}, {"$conv"}, {"event_id", 's', 0}},
    {"INSERT INTO kb_audit (conv, event_id, what, details, actor) "
     "VALUES ($3, coalesce($4, ''), 'staff.ls', json_build_object('number', $1::text), 'staff:' || $2::text)",
     "SELECT coalesce(kb_staff_account($1), json_build_object('status', 'not_found', 'number', $1::text)::jsonb)::text"}};

CORE_SQL_OP(appeal_add, op_add)
CORE_SQL_OP(appeal_staff, op_staff)
CORE_SQL_OP(appeal_rate, op_rate)
CORE_SQL_OP(staff_ls, op_ls)

void core_appeals_register(void)
{
    core_register("appeal.add", appeal_add);
    core_register("appeal.staff", appeal_staff);
    core_register("appeal.rate", appeal_rate);
    core_register("staff.ls", staff_ls);
}
