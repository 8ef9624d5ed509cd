/* tg_internal.h — what the Telegram channel's files share: the channel object. Not for other modules (they use
 * telegram.h). telegram.c owns intake (webhook, polling, notices) and the lifecycle; tg_send.c the sender. */
#ifndef KB_TG_INTERNAL_H
#define KB_TG_INTERNAL_H

#include "telegram.h"
#include "metrics.h"
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
    const db_stmt_t *q_notice;
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
    size_t sending;
    const db_stmt_t *q_file, *q_file_id, *q_unreachable;
    metrics_series_t *m_updates, *m_refused, *m_possible_dups, *m_unreachable, *m_flood, *m_wait, *m_conflicts;
};

/* tg_send.c: the outbox delivery function, and its statements (made once by tg_new). */
void tg_send_prepare(tg_t *tg);
void tg_send_deliver(void *ctx, const outbox_msg_t *m, outbox_ticket_t *t);

#endif
