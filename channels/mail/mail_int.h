/* mail_int.h — what mail.c (the sender, the link pages, the lifecycle) and mail_in.c (inbound: IMAP, webhook)
 * share inside the email channel. */
#ifndef KB_MAIL_INT_H
#define KB_MAIL_INT_H

#include "mail.h"
#include "metrics.h"
#include "mime.h"

#define MAIL_TOKEN_LEN 20

struct mail_s {
    uv_loop_t *loop;
    httpd_t *httpd;
    http_client_t *http;
    db_t *db;
    engine_t *e;
    outbox_t *out;
    char *smtp_url, *from, *imap_url, *secret, *key, *ca_file;
    char public_url[300], from_addr[EMAIL_MAX + 1], domain[128], folder[300], owner[64], authserv_id[128];
    size_t max_bytes;
    int poll_s, jobs, closing;
    uv_timer_t timer;
    int timer_open;
    struct mail_imap_s *imap;       /* the poll in progress, or NULL */
    metrics_series_t *m_sent, *m_failed, *m_in, *m_ignored, *m_refused;
    const db_stmt_t *q_prep, *q_sent, *q_lookup, *q_seen, *q_last, *q_conv, *q_unsub, *q_claim, *q_reset, *q_advance;
};

/* The conversation's reply token: the first MAIL_TOKEN_LEN hex digits of HMAC-SHA256(key, conv). */
void mail_token(const mail_t *m, const char *conv, char out[MAIL_TOKEN_LEN + 1]);

/* What became of an inbound message: 0 taken (or rightly ignored: a machine's, ours, seen before), or an error
 * worth trying again later (Postgres or Redis unavailable). */
typedef void (*mail_take_cb)(int err, void *data);
/* Takes a parsed message in (see mail.h, "In"); msg is copied as needed and may be freed when this returns. */
void mail_take(mail_t *m, const mime_msg_t *msg, mail_take_cb cb, void *data);

/* Inbound: the webhook route and the IMAP poller (mail_in.c). */
void mail_in_setup(mail_t *m);
void mail_imap_tick(uv_timer_t *t);

/* Now, in milliseconds since the epoch (an event's ts_ms). */
int64_t mail_now_ms(void);

/* Ends a job of the channel (the last one frees it once closing). */
void mail_job_done(mail_t *m);

#endif
