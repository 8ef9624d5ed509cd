/* sms.h — the SMS channel: replies and codes out through a gateway (smsprov.h), customers' SMS in as events.
 *
 * Out: the sender of channel "sms" renders a reply for SMS — the menu as its keywords and four numbered choices,
 * a payment link as kabinet's short link (pay.link_sms), a check or a bill as a short text (a PDF cannot go by SMS),
 * buttons as numbered choices ("1 Да 2 Нет") — counts its segments (kb_sms_segments_total: the cost), sends it and
 * records the gateway's id and the segments on the outbox row. Gateway errors worth another try are retried, the
 * others never. A push (lane 1) to a customer who sent СТОП is not sent; replies and requested codes always are.
 * Delivery statuses from the gateway's callbacks update the row (delivery: sent, delivered, failed).
 *
 * In: an incoming SMS (SMSC.ru's callback) becomes an event of conversation "sms:<phone>" whose sender is the
 * identity (no code by SMS): a keyword command (sms_text.h) becomes the dialog's one-shot command, a digit the
 * numbered choice of the last message sent to that number, anything else text. The gateway gets its answer only
 * once the event is durably accepted. */
#ifndef KB_SMS_H
#define KB_SMS_H

#include "db.h"
#include "kv.h"
#include "engine.h"
#include "httpd.h"
#include "outbox.h"
#include "channel.h"
#include "smsprov.h"

typedef struct sms_s sms_t;

/* Makes the channel around gateway prov (owned from now on): its sender, and the gateway's callback route on h. */
int sms_new(uv_loop_t *loop, httpd_t *h, db_t *db, engine_t *e, smsprov_t *prov, sms_t **out);
/* Pushes (lane 1) go at most rate a second (all processes together, through Redis kv) and, with cap_kopecks > 0,
 * cost at most that a day (Moscow's; segments × price_kopecks), the rest waiting for the next day. */
void sms_set_push_limits(sms_t *s, kv_t *kv, double rate, int64_t cap_kopecks, int64_t price_kopecks);
/* The sender (kicked after commits that wrote "sms" rows). */
outbox_t *sms_outbox(sms_t *s);
/* Stops the sender; frees everything (the gateway too) once the work in flight has ended. */
void sms_close(sms_t *s);

/* SMS as the server sees it (channel.h): lane "sms", the gateway KABINET_SMS_PROVIDER names. */
extern const channel_def_t channel_sms;

#endif
