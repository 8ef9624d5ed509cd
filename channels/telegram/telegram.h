/* telegram.h — the Telegram channel: updates in (webhook or long polling), replies out (a rate-limited durable
 * sender over kb_outbox).
 *
 * Webhook mode: at start kabinetd registers KABINET_TELEGRAM_WEBHOOK_URL with setWebhook (secret_token,
 * allowed_updates, max_connections), retrying until Telegram accepts it. POST /telegram/webhook answers 401 to a
 * request without the matching X-Telegram-Bot-Api-Secret-Token (and changes nothing), 400 to a body that is not an
 * update, 200 only after the update was durably accepted (the engine's intake, or a notice written to the outbox),
 * and 429 with Retry-After when overloaded or when Redis is down — Telegram then delivers it again.
 *
 * Polling mode: one process of all that share the Redis polls (lease kb:{lease:tg-poll}); getUpdates' offset moves
 * past a batch only once every update of it was accepted. A 409 (a webhook is set, or another program polls with
 * the token) is logged as what it is and retried slowly.
 *
 * Sending: each reply is rendered (tg_render.h) and sent in the engine's two lanes. Per chat: a burst of 3, then 1
 * message a second; lane 1 (pushes, broadcasts) also under a global rate (KABINET_TELEGRAM_BROADCAST_RATE), which
 * live replies never wait behind. Limits are shared by all processes through Redis. A 429 holds this process's
 * sending for its retry_after; 5xx and timeouts are retried with backoff and jitter; "bot was blocked" (403) and
 * "chat not found" (400) mark the identity unreachable and give up that chat's pending messages — a message from
 * the customer makes it reachable again (the engine does that for any inbound event). A send that timed out may
 * have reached Telegram: its retry sends the same content again, counted in kb_tg_possible_duplicates_total.
 *
 * Staff (tg_staff.c): with KABINET_STAFF_CHAT_ID set, the bot works in that supergroup with forum topics — one topic
 * per appeal, opened by a card — and in the groups of KABINET_STAFF_BRANCHES for those branches' appeals. Updates
 * from a staff group become the staff dialog's events once the sender is checked a member (getChatMember,
 * remembered 5 minutes); a staff command anywhere else is refused and logged. */
#ifndef KB_TELEGRAM_H
#define KB_TELEGRAM_H

#include <uv.h>
#include "db.h"
#include "engine.h"
#include "http_client.h"
#include "httpd.h"
#include "kv.h"
#include "outbox.h"
#include "channel.h"

typedef struct tg_s tg_t;

typedef struct {
    const char *token, *api_url;
    int webhook;                   /* 1: webhook mode, 0: polling */
    const char *webhook_url, *secret;
    int poll_timeout_s;            /* getUpdates' long-poll timeout */
    int max_connections;           /* setWebhook's max_connections */
    int max_inflight;              /* webhook requests being accepted before 429 */
    double broadcast_rate;         /* lane 1 messages a second, all processes together */
    double paid_rate;              /* paid broadcasts' messages a second (0: paid broadcasts off: sent as others) */
    int chat_limit;                /* 1: Telegram's per-chat pace (a burst of 3, then 1 a second); 0: off */
    int64_t staff_chat;            /* the staff supergroup with forum topics (0: no escalation channel) */
    const char *staff_branches;    /* "<branch code>=<chat id>,…": branches whose appeals go to their own group */
    int staff_per_minute;          /* posts a minute per staff group (Telegram allows about 20) */
} tg_options_t;

/* Makes the channel: routes on h (webhook mode), the sender over db. */
int tg_new(uv_loop_t *loop, httpd_t *h, http_client_t *http, kv_t *kv, db_t *db, engine_t *e, const tg_options_t *opt,
           tg_t **out);
/* Starts: setWebhook or polling, and the sender. */
int tg_start(tg_t *tg);
/* Stops taking updates (a long poll in flight is cancelled) and stops the sender claiming. */
void tg_stop(tg_t *tg);
/* Work in flight: intakes, the webhook registration, deliveries. */
size_t tg_busy(const tg_t *tg);
/* The sender (the engine's commit hook kicks it). */
outbox_t *tg_outbox(tg_t *tg);
/* The staff group's sender (NULL without KABINET_STAFF_CHAT_ID). */
outbox_t *tg_staff_outbox(tg_t *tg);
/* Frees the channel once stopped and idle (keep running the loop). */
void tg_close(tg_t *tg);

/* Telegram as the server sees it (channel.h): lanes "tg" and "staff", with the `kabinetd tg-file` subcommand. */
extern const channel_def_t channel_telegram;

#endif
