/* local.h — the local channel: neutral events over HTTP, for development, tests and the console chat.
 *
 *   POST /local/events   {"conv":"local:ann","id":"m1","kind":"text","text":"hi"}  (kind: text, command, button,
 *                        contact, photo, document; "ver" for a button) → 200 {"new":true|false} once durably
 *                        accepted; 400 with a reason for a malformed event; 503 while the engine cannot accept.
 *   GET  /local/replies?conv=local:ann&after=ID   → the replies written for that conversation after outbox id ID,
 *                        each with "text" and button "labels" rendered; with_sms=1 adds the SMS it caused (a login
 *                        code), marked "channel": "sms", as the customer's phone would show them.
 * Its outbox sender marks each reply delivered at once: the replies stay readable through /local/replies.
 * Enabled by KABINET_LOCAL_CHANNEL=on; never in production. */
#ifndef KB_LOCAL_H
#define KB_LOCAL_H

#include "db.h"
#include "engine.h"
#include "httpd.h"
#include "outbox.h"
#include "channel.h"

typedef struct local_s local_t;

/* Adds the routes to h and makes the channel's sender; *out is set. */
int local_new(uv_loop_t *loop, httpd_t *h, engine_t *e, db_t *db, local_t **out);
/* The channel's outbox sender (the engine's commit hook kicks it). */
outbox_t *local_outbox(local_t *l);
/* Stops the sender; frees everything once idle. */
void local_close(local_t *l);

/* The local channel as the server sees it (channel.h), with the `kabinetd chat` subcommand. */
extern const channel_def_t channel_local;

#endif
