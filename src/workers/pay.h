/* pay.h — the "pay" channel: a payment's way through its provider (payprov.h), from link to check.
 *
 * payment.create queues one outbox row per payment for this channel ("pay:<order>", event "create"); its sender
 * tells the provider the order (the payment's idempotency key makes retries safe) and writes the link as a reply to
 * the conversation that asked. The provider's notifications (YooKassa's webhook, Sberbank's callback) are
 * authenticated by the provider module and then only make kabinet ask the provider again; a poller asks, every
 * KABINET_PAY_POLL_S, about pending payments nobody told us about, and expires those older than KABINET_PAY_EXPIRE_S.
 * A decision runs payment.settle or payment.fail in its own transaction, which also queues "payment accepted",
 * "declined" or "expired" to the customer's conversation, once. For paid payments the poller then fetches the fiscal
 * receipt until it exists; receipt.add queues the check for the "doc" channel (docs.h), which renders it and sends
 * it to the conversation the customer paid from.
 *
 * Routes: the provider's notification path (POST /pay/yookassa/webhook, GET /pay/sber/callback), GET /p/<token>
 * (kabinet's short link: a redirect to the provider's page while the payment is payable), GET /pay/done
 * (where the provider's page sends the customer back) and, for the fake provider, its pay page GET /pay/fake/<token>
 * with POST …/pay and …/decline. */
#ifndef KB_PAY_H
#define KB_PAY_H

#include "channel.h"
#include "db.h"
#include "engine.h"
#include "httpd.h"
#include "outbox.h"
#include "payprov.h"

typedef struct pay_s pay_t;

typedef struct {
    int poll_s;                    /* KABINET_PAY_POLL_S */
    int expire_s;                  /* KABINET_PAY_EXPIRE_S */
    const char *public_url;        /* how customers reach this server: short links are <public_url>/p/<token> */
} pay_options_t;

/* Makes the channel around prov (which it owns from now on): its sender, poller and routes on h. kick wakes the
 * sender of the channel a reply was written for (the server's hook). */
int pay_new(uv_loop_t *loop, httpd_t *h, db_t *db, payprov_t *prov, const pay_options_t *opt,
            engine_outbox_hook kick, void *kick_ctx, pay_t **out);
/* The sender (kicked after commits that wrote "pay" rows). */
outbox_t *pay_outbox(pay_t *p);
/* Stops the sender and the poller; frees everything (the provider too) once the work in flight has ended. */
void pay_close(pay_t *p);

/* The worker as the server sees it (channel.h). */
extern const channel_def_t worker_pay;

#endif
