/* tg_internal.h — what the Telegram channel's files share: the channel object. Not for other modules (they use
 * telegram.h). telegram.c owns intake (webhook, polling, notices) and the lifecycle; tg_send.c the sender. */
#ifndef KB_TG_INTERNAL_H
#define KB_TG_INTERNAL_H

#include "telegram.h"
#include "metrics.h"
#include "rate.h"
#include "tg_api.h"

struct tg_s {
    uv_loop_t *loop;
    httpd_t *httpd;
    kv_t *kv;
    db_t *db;
    engine_t *engine;
    tg_api_t *api;
    outbox_t *out;
    tg_options_t opt;
    char secret[257];
    int stopping, handles_open;
    /* intake */
    size_t intakes;                /* webhook requests and poll batches being accepted */
    /* polling */
    uv_timer_t poll_timer;
    int poll_holder, backoff_ms;
    int64_t offset;
    uint64_t conflict_logged;      /* when a 409 was last logged (loop ms), 0: not since the last good poll */
    char lease_key[64];
    char owner[80];
    /* webhook registration */
    uv_timer_t hook_timer;
    /* sender */
    uint64_t pause_until;          /* after a 429: nothing goes out before this (loop time, ms) */
    uint64_t sent_ns[2][1000];     /* pushes: when each of the last `rate` went (free, paid; a ring, uv_hrtime) */
    int sent_pos[2];
    size_t sending;
    const db_stmt_t *q_file, *q_file_id, *q_unreachable;
    metrics_series_t *m_updates, *m_refused, *m_possible_dups, *m_unreachable, *m_flood, *m_wait, *m_conflicts;
    /* the staff group (tg_staff.c) */
    outbox_t *staff_out;
    int nstaff;
    int64_t staff_chat[16];        /* [0] the default group, then the branches' */
    char staff_branch[16][24];     /* the branch code of staff_chat[i] ("" for [0]) */
    size_t posting;                /* appeal posts in flight */
    const db_stmt_t *q_appeal, *q_topic, *q_card_posted, *q_unposted, *q_posted, *q_topic_lost, *q_ratings, *q_seat;
    uv_timer_t ratings_timer;
    metrics_series_t *m_staff_refused, *m_staff_posts, *m_ratings[5], *m_appeals[4];
};

/* tg_staff.c: the staff group's sender ("staff" outbox: an appeal's topic, card and the customer's messages, and
 * the staff dialog's replies in their topics), set up by tg_new when KABINET_STAFF_CHAT_ID is set. */
int tg_staff_new(tg_t *tg);
void tg_staff_deliver(void *ctx, const outbox_msg_t *m, outbox_ticket_t *t);
/* The group's shared rate limit key and limit (about 20 posts a minute per group). */
void tg_staff_rate(tg_t *tg, int64_t chat, char *key, size_t size, rate_limit_t *lim);
void tg_staff_start(tg_t *tg);
void tg_staff_close(tg_t *tg);

/* tg_send.c: the outbox delivery function, and its statements (made once by tg_new). */
void tg_send_prepare(tg_t *tg);
void tg_send_deliver(void *ctx, const outbox_msg_t *m, outbox_ticket_t *t);

#endif
