/* core.h — the domain operations dialogs may call, by name.
 *
 * An operation runs inside the engine's transaction for the event (so its change commits together with the replies
 * that report it, or not at all) and answers with a JSON result, which goes back to the dialog as an EV_CORE_RESULT
 * event. Operations register themselves at start; the registry is process-wide. */
#ifndef KB_CORE_H
#define KB_CORE_H

#include <cjson/cJSON.h>
#include "db.h"

/* result is owned by the receiver; NULL when err is not 0. */
typedef void (*core_cb)(int err, cJSON *result, void *data);
/* An operation: runs its statements on txn for conversation conv with args, then calls cb once. Returns 0 or a
 * negative error (then cb is not called). */
typedef int (*core_fn)(db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb, void *data);

/* Registers op (the name is not copied). Returns 0 or KB_ERR_BUSY when the table is full. */
int core_register(const char *op, core_fn fn);
/* Registers op as a read that may see data a few seconds old (histories, the ledger): with a replica configured it
 * runs there, as its one statement without a transaction. The operation must be one read-only statement. */
int core_register_read(const char *op, core_fn fn);
/* Registers op as a read of the primary's latest data, one read-only statement (a balance, the menu's warnings):
 * it may run without a transaction, so that a step that only reads and answers writes nothing (the engine's fast
 * path). */
int core_register_query(const char *op, core_fn fn);
/* 1 when op only reads (core_register_read or core_register_query). */
int core_read_only(const char *op);
/* The operation of that name, or NULL. */
core_fn core_find(const char *op);
/* 1 when op was registered with core_register_read. */
int core_lagging(const char *op);
/* Sets the replica's pool (KABINET_DATABASE_REPLICA_URL), or NULL for none. */
void core_set_replica(db_t *replica);
/* Where a read that may lag goes: the replica while one is set and connected, else primary. */
db_t *core_reader(db_t *primary);
/* Where op runs: a read that may lag on core_reader(primary), anything else on primary. When the answer is not
 * primary, op runs there without a transaction. */
db_t *core_db_for(const char *op, db_t *primary);
/* A new result object {"status": st} (operations answer with a status and fields). */
cJSON *core_status(const char *st);
/* Runs the statements sqls[0..nsql-1] in order in txn (pipelined: one round trip), each with the same text params;
 * the last one answers one row whose first column is the result as JSON text, which cb gets parsed. No row at all
 * becomes {"status": "not_found"}. Returns 0 or a negative error (then cb is not called). A single statement may
 * also run without a transaction (txn NULL), on any pool connection: read-only lookups such as account.balance
 * outside the engine (staff tools, benchmarks). */
int core_json(db_t *db, db_txn_t *txn, int nsql, const char *const *sqls, int nparams, const char *const *params,
              core_cb cb, void *data);
/* An operation written as SQL: its arguments, taken from the args object in order as $1, $2, … (absent optional
 * ones are NULL), and its statements, run by core_json (each gets the parameters up to the highest $n it names). */
typedef struct {
    const char *name;            /* the args field, "$conv" for the conversation, "$key" for the server's key */
    char type;                   /* 'i' integer, 's' string, 'b' boolean, 'd' date YYYY-MM-DD */
    int required;
} core_param_t;
typedef struct {
    core_param_t params[12];
    const char *sql[6];
} core_sql_op_t;
/* Runs op for conv with args; a missing required or malformed argument is KB_ERR_INVAL. */
int core_sql_op(const core_sql_op_t *op, db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb,
                void *data);
/* Defines the core_fn fn that runs the core_sql_op_t spec. */
#define CORE_SQL_OP(fn, spec)                                                                                         \
    static int fn(db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb, void *data)              \
    {                                                                                                                 \
        return core_sql_op(&spec, db, txn, conv, args, cb, data);                                                     \
    }
/* Runs operation op in a transaction of its own (begin, op, commit; rolled back when it fails): how providers'
 * callbacks and staff tools change the domain outside the engine. cb gets the result after the commit. Returns 0
 * or a negative error (KB_ERR_INVAL for an unknown op; then cb is not called). */
int core_run(db_t *db, const char *op, const char *conv, const cJSON *args, core_cb cb, void *data);
/* The integer field name of args as decimal text in buf (24 bytes will do): 0, or KB_ERR_INVAL when it is absent
 * or not an integer. */
int core_arg_int(const cJSON *args, const char *name, char *buf, size_t size);
/* The string field name of args, or NULL. */
const char *core_arg_str(const cJSON *args, const char *name);
/* Registers the demo dialog's operations (demo.counter_add). */
void core_demo_register(void);
/* Registers reading.submit (core_readings.c). */
void core_readings_register(void);
/* Registers account.link and account.lookup (core_accounts.c). */
void core_accounts_register(void);
/* Registers account.list, account.unlink, account.set_primary, account.approve, account.reject (core_links.c). */
void core_links_register(void);
/* Registers account.balance, account.history, account.ledger, customer.warnings, bill.send (core_money.c). */
void core_money_register(void);
/* Registers payment.create, payment.settle, payment.fail, payment.expire_due, receipt.add, receipt.get
 * (core_payments.c). */
void core_payments_register(void);
/* Registers customer.settings, customer.set (core_customer.c). */
void core_customer_register(void);
/* Registers consent.terms, consent.accept, privacy.logout, privacy.forget (core_privacy.c). */
void core_privacy_register(void);
/* Registers appeal.add, appeal.staff, appeal.rate, staff.ls (core_appeals.c). */
void core_appeals_register(void);
/* Registers auth.code_send, auth.code_verify and auth.sms_login (core_auth.c). */
void core_auth_register(void);
/* The server's key for the HMAC of login codes (KABINET_CODE_KEY); codes cannot be sent or checked without it. */
void core_auth_set_key(const char *key);
/* That key: what the core keeps as an HMAC under it (the consent of an erased customer). */
const char *core_auth_key(void);
/* Registers every operation above. */
void core_register_all(void);

#endif
