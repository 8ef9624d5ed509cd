/* core_links.c — what a customer does with the accounts already linked, and the staff check of a photo proof:
 * list them, choose the primary one, remove one (only after the customer confirmed; removing the primary hands
 * that role to the oldest remaining link), and approve or reject a link waiting for a staff check. Every change
 * writes an audit row and clears the link's export batch, so that billing hears of it (kabinetd export links).
 * Each operation is SQL run in the caller's transaction (core_sql_op); "$conv" and "event_id" go to the audit.
 *
 * account.list       {customer_id} → {"status": "ok", "accounts": [{account_id, number, address, primary, status,
 *                    kind: "resident"|"business"}]}
 *                    (a business's supply point: its name and address as the address)
 * account.unlink     {customer_id, account_id, confirm} → {"status": "confirm", number, address} (nothing changed)
 *                    | {"status": "unlinked", "primary_account_id"} | {"status": "not_found"}
 * account.set_primary {customer_id, account_id} → {"status": "ok"} | {"status": "not_found"} (no active link)
 * account.approve / account.reject {link_id, staff} → {"status": "approved"|"rejected", customer_id, account_id,
 *                    primary} | {"status": "not_pending"} | {"status": "not_found"} */
#include "core.h"

/* ---------------------------------------------------------------- account.list */

static const core_sql_op_t op_list = {
    {{"customer_id", 'i', 1}},
    {"SELECT json_build_object('status', 'ok', 'accounts', coalesce(json_agg(json_build_object("
     " 'account_id', a.id, 'link_id', l.id, 'number', a.number,"
     /* a business's account is a supply point: its name first */
     " 'address', coalesce(sp.name || ', ' || sp.address, a.address), 'primary', l.is_primary,"
     " 'status', l.status, 'kind', a.customer_kind) ORDER BY l.is_primary DESC, l.status, l.created_at, l.id), '[]'))::text "
     "FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id "
     "LEFT JOIN LATERAL (SELECT p.name, p.address FROM kb_supply_point p WHERE p.account_id = a.id"
     " AND p.customer_id = l.customer_id ORDER BY p.id LIMIT 1) sp ON true "
     "WHERE l.customer_id = $1::bigint AND l.status <> 'removed'"}};

/* ---------------------------------------------------------------- account.unlink */

/* The primary role goes to the oldest active link when none is primary (after a removal, after an approval). */
static const char *const sql_heir =
    "UPDATE kb_account_link SET is_primary = true, changed_at = now(), export_batch = NULL "
    "WHERE id = (SELECT id FROM kb_account_link WHERE customer_id = $1::bigint AND status = 'active'"
    "            ORDER BY created_at, id LIMIT 1) "
    "AND NOT EXISTS (SELECT 1 FROM kb_account_link WHERE customer_id = $1::bigint AND status = 'active' AND is_primary)";

static const core_sql_op_t op_unlink = {
    {{"customer_id", 'i', 1}, {"account_id", 'i', 1}, {"confirm", 'b', 0}, {"$conv"}, {"event_id", 's', 0}},
    {"WITH gone AS (UPDATE kb_account_link SET status = 'removed', removed_at = now(), changed_at = now(),"
     "  is_primary = false, export_batch = NULL"
     "  WHERE customer_id = $1::bigint AND account_id = $2::bigint AND status <> 'removed' AND coalesce($3::boolean, false)"
     "  RETURNING customer_id, account_id, is_primary) "
     "INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) "
     "SELECT $4, coalesce($5, ''), 'account.unlink', json_build_object('account_id', account_id), customer_id, 'customer' "
     "FROM gone",
     sql_heir,
     "SELECT CASE WHEN NOT coalesce($3::boolean, false) THEN"
     "  (SELECT json_build_object('status', 'confirm', 'number', a.number, 'address', a.address)::text"
     "   FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id"
     "   WHERE l.customer_id = $1::bigint AND l.account_id = $2::bigint AND l.status <> 'removed')"
     " WHEN EXISTS (SELECT 1 FROM kb_account_link WHERE customer_id = $1::bigint AND account_id = $2::bigint"
     "   AND status = 'removed' AND removed_at = now()) THEN"
     "  json_build_object('status', 'unlinked', 'primary_account_id', (SELECT account_id FROM kb_account_link"
     "   WHERE customer_id = $1::bigint AND is_primary AND status = 'active'))::text END"}};

/* ---------------------------------------------------------------- account.set_primary */

static const core_sql_op_t op_set_primary = {
    {{"customer_id", 'i', 1}, {"account_id", 'i', 1}, {"$conv"}, {"event_id", 's', 0}},
    {"UPDATE kb_account_link SET is_primary = false, changed_at = now(), export_batch = NULL "
     "WHERE customer_id = $1::bigint AND is_primary AND status = 'active' AND account_id <> $2::bigint "
     "AND EXISTS (SELECT 1 FROM kb_account_link WHERE customer_id = $1::bigint AND account_id = $2::bigint"
     "            AND status = 'active')",
     "WITH made AS (UPDATE kb_account_link SET is_primary = true, changed_at = now(), export_batch = NULL"
     "  WHERE customer_id = $1::bigint AND account_id = $2::bigint AND status = 'active' AND NOT is_primary"
     "  RETURNING customer_id, account_id) "
     "INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) "
     "SELECT $3, coalesce($4, ''), 'account.set_primary', json_build_object('account_id', account_id), customer_id,"
     " 'customer' FROM made",
     "SELECT json_build_object('status', 'ok')::text FROM kb_account_link "
     "WHERE customer_id = $1::bigint AND account_id = $2::bigint AND status = 'active' AND is_primary"}};

/* ---------------------------------------------------------------- account.approve, account.reject */

#define DECIDE_SQL(NEW_STATUS, WHAT)                                                                                  \
    "WITH decided AS (UPDATE kb_account_link SET status = '" NEW_STATUS "', approved_by = $2, changed_at = now(),"   \
    "  export_batch = NULL, removed_at = CASE WHEN '" NEW_STATUS "' = 'removed' THEN now() END"                      \
    "  WHERE id = $1::bigint AND status = 'pending' RETURNING customer_id, account_id) "                              \
    "INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) "                                       \
    "SELECT $3, coalesce($4, ''), '" WHAT "', json_build_object('account_id', account_id, 'link_id', $1::bigint),"   \
    " customer_id, 'staff:' || $2 FROM decided"

/* After the decision: promote the customer's oldest active link when none is primary, then report. */
#define DECIDE_HEIR                                                                                                   \
    "UPDATE kb_account_link SET is_primary = true, changed_at = now(), export_batch = NULL "                         \
    "WHERE id = (SELECT l.id FROM kb_account_link l WHERE l.status = 'active' AND l.customer_id ="                   \
    "            (SELECT customer_id FROM kb_account_link WHERE id = $1::bigint) ORDER BY l.created_at, l.id LIMIT 1) " \
    "AND NOT EXISTS (SELECT 1 FROM kb_account_link l WHERE l.status = 'active' AND l.is_primary AND l.customer_id ="  \
    "                (SELECT customer_id FROM kb_account_link WHERE id = $1::bigint))"
#define DECIDE_RESULT                                                                                                 \
    "SELECT json_build_object('status', CASE WHEN changed_at = now() AND approved_by = $2"                           \
    "  THEN CASE status WHEN 'active' THEN 'approved' ELSE 'rejected' END ELSE 'not_pending' END,"                    \
    " 'customer_id', customer_id, 'account_id', account_id, 'primary', is_primary)::text "                           \
    "FROM kb_account_link WHERE id = $1::bigint"

static const core_sql_op_t op_approve = {
    {{"link_id", 'i', 1}, {"staff", 's', 1}, {"$conv"}, {"event_id", 's', 0}},
    {DECIDE_SQL("active", "account.approve"), DECIDE_HEIR,
     "SELECT kb_link_tell_others($1::bigint) WHERE coalesce($2::text, $3::text, $4::text, '') IS NOT NULL",
     DECIDE_RESULT}};
static const core_sql_op_t op_reject = {
    {{"link_id", 'i', 1}, {"staff", 's', 1}, {"$conv"}, {"event_id", 's', 0}},
    {DECIDE_SQL("removed", "account.reject"), DECIDE_RESULT}};

/* ---------------------------------------------------------------- registration */

CORE_SQL_OP(account_list, op_list)
CORE_SQL_OP(account_unlink, op_unlink)
CORE_SQL_OP(account_set_primary, op_set_primary)
CORE_SQL_OP(account_approve, op_approve)
CORE_SQL_OP(account_reject, op_reject)

void core_links_register(void)
{
    core_register_query("account.list", account_list);
    core_register("account.unlink", account_unlink);
    core_register("account.set_primary", account_set_primary);
    core_register("account.approve", account_approve);
    core_register("account.reject", account_reject);
}
