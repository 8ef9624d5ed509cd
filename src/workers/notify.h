/* notify.h — notifications: the scheduler's jobs (sql/014_notify.sql) run with this process's channel rates, and
 * what they do shown in metrics. The planners find what customers should hear of (a readings reminder in the
 * window, a meter's verification, a debt after the bill, a new bill, a payment credited, an operator's broadcast)
 * and keep each as a notice, once per customer and idempotency key; the dispatcher moves due notices into the
 * outbox's push lane, in each customer's preferred channel, outside the quiet hours of the account's clock, at the
 * pace of each channel (Telegram's broadcast rate, paid broadcasts at theirs, SMS and email at theirs), earlier due
 * first. The senders then keep the exact rate (tg_send.c, sms.c). Operators drive broadcasts with `kabinetd notify`
 * (notify_cli.c). */
#ifndef KB_NOTIFY_H
#define KB_NOTIFY_H

#include "channel.h"
#include <uv.h>
#include "config.h"
#include "db.h"

typedef struct notify_s notify_t;

/* Makes the scheduler with every notification job; owner names this process in kb_job. Returns 0 or an error. */
int notify_new(uv_loop_t *loop, db_t *db, const cfg_t *cfg, const char *owner, notify_t **out);
int notify_start(notify_t *n);
/* Stops stepping jobs; a step in flight finishes. */
void notify_stop(notify_t *n);
/* 1 while a step is in flight. */
int notify_busy(const notify_t *n);
/* Frees it once stopped (keep running the loop). */
void notify_close(notify_t *n);

/* `kabinetd notify …` (status, broadcast, pause, resume, cancel): prints to out; returns 0, KB_ERR_INVAL (a refused
 * command, said in err) or KB_ERR_NOTCONN. */
int notify_cli(const cfg_t *cfg, int argc, char **argv, FILE *out, char *err, size_t errlen);

/* The worker as the server sees it (channel.h). */
extern const channel_def_t worker_notify;

#endif
