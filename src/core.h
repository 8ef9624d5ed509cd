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
/* The operation of that name, or NULL. */
core_fn core_find(const char *op);
/* A new result object {"status": st} (operations answer with a status and fields). */
cJSON *core_status(const char *st);
/* Registers the demo dialog's operations (demo.counter_add). */
void core_demo_register(void);
/* Registers reading.submit (core_readings.c). */
void core_readings_register(void);
/* Registers account.link (core_accounts.c). */
void core_accounts_register(void);

#endif
