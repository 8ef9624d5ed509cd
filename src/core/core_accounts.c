/* core_accounts.c — the core operation "account.link": a customer links a personal account by its number and a
 * proof beyond it — the ЕЛС ГИС ЖКХ code, the holder's surname (case- and ё/е-insensitive), or a meter photo that
 * staff check first (the link waits as "pending"). Wrong proofs are capped per customer and per account (5 an hour
 * each), so rotating customers does not help against one account. The first active link is the primary one.
 * Runs inside the caller's transaction: a wrong proof is recorded with the same commit as the reply that says so;
 * both a link and a refused proof leave an audit row. Also here: "account.lookup", the masked view of an account
 * for a customer who has not linked it (below).
 *
 * args: {"customer_id", "number" (as typed), "proof": "els"|"surname"|"photo", "value" (the code, the surname or
 *        the photo's file id)}
 * result: {"status": "linked", "primary": bool, "account_id"} | {"status": "pending", "account_id", "link_id",
 *         "number", "photo"} (the link waits for staff, who get the photo in an appeal)
 *       | {"status": "wrong_proof", "attempts_left"} | {"status": "too_many_attempts"}
 *       | {"status": "already_linked"} | {"status": "not_found"} | {"status": "invalid_number"}
 *       | {"status": "surname_not_enough"} (the account is linked to another customer: only the ЕЛС or a photo)
 * A link that becomes active tells every other customer of the account, in their channel (kb_link_tell_others). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "account.h"
#include "core.h"
#include "err.h"

#define LINK_MAX_FAILURES 5

typedef struct {
    db_t *db;
    db_txn_t *txn;
    core_cb cb;
    void *data;
    char customer[24], number[24], proof[16], value[256], account[24], conv[160], event_id[160];
    int bad_number;              /* the typed number is not an account number at all */
    int attempts_left;
} link_t;

static const char *const sql_find =
    "SELECT a.id, a.holder_surname, coalesce(a.els_code, ''), "
    " (SELECT count(*) FROM kb_proof_failure f WHERE f.customer_id = $2::bigint AND f.at > now() - interval '1 hour'),"
    " (SELECT count(*) FROM kb_proof_failure f WHERE f.account_id = a.id AND f.at > now() - interval '1 hour'),"
    " EXISTS (SELECT 1 FROM kb_account_link l WHERE l.account_id = a.id AND l.status = 'active'"
    "  AND l.customer_id <> $2::bigint) "
    "FROM kb_account a WHERE a.number = $1";
static const char *const sql_failure =
    "WITH f AS (INSERT INTO kb_proof_failure (customer_id, account_id) VALUES ($1::bigint, $2::bigint)) "
    "INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) "
    "VALUES ($3, $4, 'account.link_refused', json_build_object('account_id', $2::bigint, 'proof', $5::text), $1::bigint,"
    " 'customer')";
static const char *const sql_link =
    "WITH l AS (INSERT INTO kb_account_link (customer_id, account_id, is_primary, status, proof, photo_file) "
    " SELECT $1::bigint, $2::bigint, $3 = 'active' AND NOT EXISTS (SELECT 1 FROM kb_account_link l WHERE"
    "  l.customer_id = $1::bigint AND l.is_primary AND l.status = 'active'), $3, $4, $5 "
    " ON CONFLICT (customer_id, account_id) WHERE status <> 'removed' DO NOTHING RETURNING is_primary, id), "
    "a AS (INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) "
    " SELECT $6, $7, 'account.link', json_build_object('account_id', $2::bigint, 'proof', $4::text, 'status', $3::text), $1::bigint,"
    " 'customer' FROM l), "
    /* an active link: every other customer of the account hears of it (kb_link_tell_others) */
    "t AS (SELECT kb_link_tell_others(l.id) AS n FROM l WHERE $3 = 'active') "
    "SELECT is_primary, id, (SELECT sum(n) FROM t) FROM l";

static void finish(link_t *l, int err, cJSON *result)
{
    l->cb(err, err ? NULL : result, l->data);
    if (err)
        cJSON_Delete(result);
    free(l);
}

static void on_linked(int err, PGresult *res, void *data)
{
    link_t *l = data;
    if (err) {
        finish(l, err, NULL);
        return;
    }
    if (PQntuples(res) == 0) {
        finish(l, 0, core_status("already_linked"));
        return;
    }
    int pending = !strcmp(l->proof, "photo");
    cJSON *r = core_status(pending ? "pending" : "linked");
    if (!pending)
        cJSON_AddBoolToObject(r, "primary", PQgetvalue(res, 0, 0)[0] == 't');
    cJSON_AddNumberToObject(r, "account_id", atof(l->account));
    if (pending) { /* for the staff check: the link and the photo */
        cJSON_AddNumberToObject(r, "link_id", atof(PQgetvalue(res, 0, 1)));
        cJSON_AddStringToObject(r, "number", l->number);
        cJSON_AddStringToObject(r, "photo", l->value);
    }
    finish(l, 0, r);
}

static void on_failure_recorded(int err, PGresult *res, void *data)
{
    link_t *l = data;
    if (err) {
        finish(l, err, NULL);
        return;
    }
    cJSON *r = core_status("wrong_proof");
    cJSON_AddNumberToObject(r, "attempts_left", l->attempts_left);
    finish(l, 0, r);
}

/* Whether the proof matches the account. */
static int proof_ok(const link_t *l, const char *surname, const char *els)
{
    if (!strcmp(l->proof, "photo"))
        return l->value[0] != 0; /* staff check it; any photo goes to them */
    /* the ЕЛС has Russian letters too ("77МН000000"), typed as often in Latin look-alikes: fold both (acct_els_fold) */
    int els_proof = !strcmp(l->proof, "els");
    const char *expected = els_proof ? els : surname;
    char a[256], b[256];
    int (*fold)(const char *, char *, size_t) = els_proof ? acct_els_fold : acct_surname_fold;
    return expected[0] && fold(l->value, a, sizeof a) == 0 && fold(expected, b, sizeof b) == 0 && !strcmp(a, b);
}

static void on_found(int err, PGresult *res, void *data)
{
    link_t *l = data;
    if (err) {
        finish(l, err, NULL);
        return;
    }
    if (l->bad_number) {
        finish(l, 0, core_status("invalid_number"));
        return;
    }
    if (PQntuples(res) != 1) {
        finish(l, 0, core_status("not_found"));
        return;
    }
    snprintf(l->account, sizeof l->account, "%s", PQgetvalue(res, 0, 0));
    int by_customer = atoi(PQgetvalue(res, 0, 3)), by_account = atoi(PQgetvalue(res, 0, 4));
    if (by_customer >= LINK_MAX_FAILURES || by_account >= LINK_MAX_FAILURES) {
        finish(l, 0, core_status("too_many_attempts"));
        return;
    }
    int rc;
    if (!strcmp(l->proof, "surname") && PQgetvalue(res, 0, 5)[0] == 't') {
        /* linked to someone else already: a surname (easy to know) is not enough — the ЕЛС or a photo for staff */
        finish(l, 0, core_status("surname_not_enough"));
        return;
    }
    if (!proof_ok(l, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2))) {
        l->attempts_left = LINK_MAX_FAILURES - 1 - (by_customer > by_account ? by_customer : by_account);
        const char *p[] = {l->customer, l->account, l->conv, l->event_id, l->proof};
        rc = db_txn_exec(l->txn, db_prepare(l->db, sql_failure), 5, p, on_failure_recorded, l);
    } else {
        int photo = !strcmp(l->proof, "photo");
        const char *p[] = {l->customer, l->account, photo ? "pending" : "active", l->proof, photo ? l->value : NULL,
                           l->conv, l->event_id};
        rc = db_txn_exec(l->txn, db_prepare(l->db, sql_link), 7, p, on_linked, l);
    }
    if (rc)
        finish(l, rc, NULL);
}

static int account_link(db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb, void *data)
{
    const cJSON *customer = cJSON_GetObjectItemCaseSensitive(args, "customer_id"),
                *number = cJSON_GetObjectItemCaseSensitive(args, "number"),
                *proof = cJSON_GetObjectItemCaseSensitive(args, "proof"),
                *value = cJSON_GetObjectItemCaseSensitive(args, "value");
    if (!cJSON_IsNumber(customer) || !cJSON_IsString(number) || !cJSON_IsString(proof) || !cJSON_IsString(value) ||
        (strcmp(proof->valuestring, "els") && strcmp(proof->valuestring, "surname") && strcmp(proof->valuestring, "photo")))
        return KB_ERR_INVAL;
    link_t *l = calloc(1, sizeof *l);
    if (!l)
        return KB_ERR_NOMEM;
    l->db = db;
    l->txn = txn;
    l->cb = cb;
    l->data = data;
    snprintf(l->customer, sizeof l->customer, "%lld", (long long)customer->valuedouble);
    snprintf(l->proof, sizeof l->proof, "%s", proof->valuestring);
    snprintf(l->conv, sizeof l->conv, "%s", conv);
    snprintf(l->event_id, sizeof l->event_id, "%s", core_arg_str(args, "event_id") ? core_arg_str(args, "event_id") : "");
    snprintf(l->value, sizeof l->value, "%s", value->valuestring);
    /* an unusable number still goes through the query (finding nothing), so that the answer always comes later */
    l->bad_number = acct_normalize(number->valuestring, l->number, sizeof l->number) != 0;
    if (l->bad_number)
        snprintf(l->number, sizeof l->number, "%s", "-");
    const char *p[] = {l->number, l->customer};
    int rc = db_txn_exec(txn, db_prepare(db, sql_find), 2, p, on_found, l);
    if (rc)
        free(l);
    return rc;
}

/* ---------------------------------------------------------------- account.lookup */

/* What anyone who types an account number may see of it (to pay or send readings without a link), and no more:
 * the amount to pay, the address cut after the street's first letter ("г. Ессентуки, ул. Т…"), each meter by the
 * last 4 characters of its serial with its zones and last readings. No name, no history. Every lookup counts,
 * found or not, against the conversation's limit (setting lookup.per_day, 10 a day). */
#define LOOKUP_LIMIT "coalesce((SELECT (value #>> '{}')::int FROM kb_setting WHERE key = 'lookup.per_day'), 10)"
static const char *const sql_lookup[] = {
    "INSERT INTO kb_lookup (conv, account_id) SELECT $2, (SELECT id FROM kb_account WHERE number = $1) "
    "WHERE (SELECT count(*) FROM kb_lookup WHERE conv = $2 AND at > now() - interval '1 day') < " LOOKUP_LIMIT,
    "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM kb_lookup WHERE conv = $2 AND at = now())"
    "  THEN json_build_object('status', 'too_many_lookups', 'limit', " LOOKUP_LIMIT ")::text "
    " ELSE (SELECT json_build_object('status', 'found', 'account_id', a.id, 'number', a.number,"
    "  'address', CASE WHEN a.address LIKE '%,%' THEN split_part(a.address, ',', 1) || ','"
    "   || left(split_part(a.address, ',', 2), 6) || '…' ELSE left(a.address, 8) || '…' END,"
    "  'to_pay_kopecks', greatest((SELECT balance_kopecks FROM kb_account_money(a.id)), 0),"
    "  'meters', (SELECT coalesce(json_agg(json_build_object('meter_id', m.id, 'serial', '…' || right(m.serial, 4),"
    "   'zones', m.zones, 'digits', m.digits, 'last', (SELECT json_agg(json_build_object('zone', z, 'value', r.value::text,"
    "    'day', to_char(r.local_day, 'DD.MM.YYYY')) ORDER BY z) FROM generate_series(1, m.zones) z"
    "    LEFT JOIN LATERAL (SELECT value, local_day FROM kb_reading WHERE meter_id = m.id AND zone = z"
    "     AND status = 'accepted' ORDER BY local_day DESC, id DESC LIMIT 1) r ON true)) ORDER BY m.id), '[]')"
    "   FROM kb_meter m WHERE m.account_id = a.id AND m.removed_on IS NULL))::text"
    "  FROM kb_account a WHERE a.number = $1) END",
};

/* account.lookup {number (as typed)} → {"status": "found", account_id, number, address (cut), to_pay_kopecks,
 * meters: [{meter_id, serial (last 4), zones, digits, last: [{zone, value, day}]}]} | {"status": "not_found"}
 * | {"status": "invalid_number"} | {"status": "too_many_lookups", limit} */
static int account_lookup(db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb, void *data)
{
    const char *typed = core_arg_str(args, "number");
    char number[24];
    if (!typed)
        return KB_ERR_INVAL;
    if (acct_normalize(typed, number, sizeof number) != 0) {
        static const char *const invalid = "SELECT '{\"status\": \"invalid_number\"}'";
        return core_json(db, txn, 1, &invalid, 0, NULL, cb, data);
    }
    const char *p[] = {number, conv};
    return core_json(db, txn, 2, sql_lookup, 2, p, cb, data);
}

void core_accounts_register(void)
{
    core_register("account.link", account_link);
    core_register("account.lookup", account_lookup);
}
