/* relay.h — events from one conversation to another: the "relay" outbox sender. A dialog's event effect
 * (dlg_event: a staff member's answer for a customer's conversation) is written as a kb_outbox row in the same
 * transaction as the change that caused it; the relay hands each row to the engine's intake as an event of the
 * target conversation with the id "r<row id>", so a row delivered twice (a crash after the intake, before the row is
 * marked sent) is still one event: the intake's dedupe drops the second. */
#ifndef KB_RELAY_H
#define KB_RELAY_H

#include "channel.h"
#include <uv.h>
#include "db.h"
#include "engine.h"
#include "outbox.h"

typedef struct relay_s relay_t;

/* Makes and starts the relay over db into engine e; *out is set. Returns 0 or a negative error. */
int relay_new(uv_loop_t *loop, db_t *db, engine_t *e, relay_t **out);
/* The relay's outbox sender (kicked after commits that wrote event effects). */
outbox_t *relay_outbox(relay_t *r);
/* Frees the relay once its outbox is stopped and idle. */
void relay_close(relay_t *r);

/* The worker as the server sees it (channel.h). */
extern const channel_def_t worker_relay;

#endif
