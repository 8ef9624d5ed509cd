/* pay.h — the "pay" channel: turns a new payment into a payment link, and the provider's answer into a settled
 * payment. payment.create queues one outbox row per payment for this channel ("pay:<order>"); its sender asks the
 * provider for a link (the payment's idempotency key makes retries safe) and writes the link as a reply to the
 * conversation that asked. Settlement runs payment.settle in its own transaction, which also queues "payment
 * accepted" to that conversation, once.
 *
 * Providers: "fake" — kabinet's own test pay page (GET /pay/fake/<token>, with Pay and Decline), for development
 * and the README run command; refused in production. "none" — no payments (the dialog's links never come). The
 * real providers (YooKassa, Sberbank) come with the rest of the payments issue. */
#ifndef KB_PAY_H
#define KB_PAY_H

#include "db.h"
#include "engine.h"
#include "httpd.h"
#include "outbox.h"

typedef struct pay_s pay_t;

typedef struct {
    const char *provider;          /* "fake" */
    const char *public_url;        /* how customers reach this server: links are <public_url>/pay/… */
} pay_options_t;

/* Makes the channel: its sender and (fake provider) the pay page routes on h. kick wakes the sender of the channel
 * a reply was written for (the server's hook). */
int pay_new(uv_loop_t *loop, httpd_t *h, db_t *db, const pay_options_t *opt, engine_outbox_hook kick, void *kick_ctx,
            pay_t **out);
/* The sender (kicked after commits that wrote "pay" rows). */
outbox_t *pay_outbox(pay_t *p);
/* Stops the sender; frees everything once idle. */
void pay_close(pay_t *p);

#endif
