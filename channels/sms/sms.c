/* sms.c — the SMS channel (see sms.h): rendering for SMS and sending through the gateway; callbacks in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include "err.h"
#include "event.h"
#include "log.h"
#include "metrics.h"
#include "phone.h"
#include "rate.h"
#include "sms.h"
#include "sms_text.h"
#include "keys.h"
#include "text.h"

#define SMS_MAX_ITEMS 32

struct sms_s {
    uv_loop_t *loop;
    db_t *db;
    kv_t *kv;                      /* the pushes' rate and daily cost cap (sms_set_push_limits), or NULL */
    double push_rate;
    int64_t push_cap, price;
    engine_t *e;
    smsprov_t *prov;
    outbox_t *out;
    int jobs, closing;
    metrics_series_t *m_sent, *m_segments, *m_failed, *m_in, *m_capped;
    const db_stmt_t *q_optout, *q_sent, *q_status, *q_last;
};

static void maybe_free(sms_t *s)
{
    if (s->closing && s->jobs == 0) {
        s->prov->ops->free(s->prov);
        free(s);
    }
}

/* ---------------------------------------------------------------- rendering */

/* The text of a reply as an SMS: SMS forms of what is too long or cannot go (the menu, links, documents), then
 * the numbered choices (the menu: a line of keywords and the four main choices). */
static void render(const cJSON *payload, char *text, size_t size)
{
    const char *tmpl = cJSON_GetStringValue(cJSON_GetObjectItem(payload, "tmpl")) ?: "";
    const char *lang = cJSON_GetStringValue(cJSON_GetObjectItem(payload, "lang")) ?: "ru";
    const cJSON *params = cJSON_GetObjectItem(payload, "params");
    char key[96];
    if (!strncmp(tmpl, "menu.main", 9))
        snprintf(key, sizeof key, "sms.menu");
    else /* the SMS form of a template when the catalog has one ("pay.link_sms", "reg.consent_sms", …) */
        snprintf(key, sizeof key, "%s_sms", tmpl);
    if (strncmp(tmpl, "menu.main", 9) && !txt_get(lang, key))
        snprintf(key, sizeof key, "%s", tmpl);
    txt_render(lang, key, params, text, size);
    if (cJSON_GetObjectItem(payload, "tg_file")) { /* a file staff sent: it cannot go by SMS; say so */
        size_t at = strlen(text);
        text[at] = '\n';
        txt_render(lang, "sms.file_not_sent", NULL, text + at + 1, size - at - 1);
    }
    const char *ids[9];
    int n = sms_choices(payload, ids, 9);
    for (int i = 0; i < n; i++) {
        char label[128], bkey[96];
        snprintf(bkey, sizeof bkey, "btn.%s", ids[i]);
        txt_render(lang, bkey, NULL, label, sizeof label);
        size_t at = strlen(text);
        snprintf(text + at, size - at, "%s%d %s", i ? " " : "\n", i + 1, label);
    }
}

/* ---------------------------------------------------------------- the sender */

typedef struct {
    sms_t *s;
    outbox_ticket_t *t;
    char id[24], to[24], text[1600];
    int segments, timed;
    uv_timer_t timer;              /* a push waiting for its slot of the rate */
} send_t;

static void send_free(send_t *j)
{
    sms_t *s = j->s;
    free(j);
    s->jobs--;
    maybe_free(s);
}

static void on_timer_closed(uv_handle_t *h) { send_free(h->data); }

static void send_done_after(send_t *j, outbox_result_t r, int retry_ms, const char *error)
{
    outbox_done(j->t, r, retry_ms, error);
    if (j->timed)
        uv_close((uv_handle_t *)&j->timer, on_timer_closed);
    else
        send_free(j);
}

static void send_done(send_t *j, outbox_result_t r, const char *error) { send_done_after(j, r, -1, error); }

static void on_recorded(int err, PGresult *res, void *data)
{
    (void)res;
    send_t *j = data;
    if (err) /* sent: only the record of it is missing (id, segments); not worth a second SMS */
        log_warn("sms", "message %s went out but its gateway id was not recorded", j->id);
    send_done(j, OUTBOX_SENT, NULL);
}

static void on_sent(int err, const char *msg_id, void *data)
{
    send_t *j = data;
    if (err) {
        metrics_inc(j->s->m_failed);
        send_done(j, err == KB_ERR_AGAIN ? OUTBOX_RETRY : OUTBOX_DEAD,
                  err == KB_ERR_AGAIN ? "the gateway did not take it now" : "the gateway refused it");
        return;
    }
    metrics_inc(j->s->m_sent);
    metrics_add(j->s->m_segments, j->segments);
    char seg[8];
    snprintf(seg, sizeof seg, "%d", j->segments);
    const char *params[] = {j->id, msg_id, seg, j->s->prov->ops->name};
    if (db_exec(j->s->db, 0, j->s->q_sent, 4, params, on_recorded, j) != 0)
        on_recorded(KB_ERR_NOTCONN, NULL, j);
}

static void send_now(send_t *j)
{
    int ucs2;
    j->segments = sms_segments(j->text, &ucs2);
    if (j->s->prov->ops->send(j->s->prov, j->to, j->text, j->id, on_sent, j) != 0)
        send_done(j, OUTBOX_RETRY, "cannot reach the gateway");
}

/* ---------------------------------------------------------------- pushes: opt-out, cost cap, rate */

#define MAX_WAIT_MS 5000           /* a longer wait for the rate gives the push back to the outbox */
#define CAP_OFFSET_MIN 180         /* the cap's day is Moscow's */

static void on_slot_time(uv_timer_t *t) { send_now(t->data); }

/* The push's slot of KABINET_SMS_PUSH_RATE (all processes together): wait for it, or give the push back. */
static void on_slot(int err, int64_t wait_ms, void *data)
{
    send_t *j = data;
    if (err)
        send_done(j, OUTBOX_RETRY, "redis unavailable");
    else if (wait_ms < 0)
        send_done_after(j, OUTBOX_LATER, (int)-wait_ms, "the push rate");
    else if (wait_ms == 0)
        send_now(j);
    else {
        uv_timer_init(j->s->loop, &j->timer);
        j->timer.data = j;
        j->timed = 1;
        uv_timer_start(&j->timer, on_slot_time, (uint64_t)wait_ms, 0);
    }
}

static void take_slot(send_t *j)
{
    rate_limit_t lim = {j->s->push_rate, 1, MAX_WAIT_MS};
    char key[64];
    keys_global(key, sizeof key, "sms-push");
    if (rate_reserve(j->s->kv, key, &lim, on_slot, j) != 0)
        send_done(j, OUTBOX_RETRY, "redis unavailable");
}

/* Milliseconds until the cap's next day begins. */
static int64_t ms_to_next_day(void)
{
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    int64_t local_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 + (int64_t)CAP_OFFSET_MIN * 60000;
    return 86400000 - local_ms % 86400000;
}

/* Within the day's cap: on to the rate; over it: back to the outbox until the next day. */
static void on_spent(int err, int64_t total, void *data)
{
    send_t *j = data;
    if (err)
        send_done(j, OUTBOX_RETRY, "redis unavailable");
    else if (total < 0) {
        metrics_inc(j->s->m_capped);
        send_done_after(j, OUTBOX_LATER, (int)ms_to_next_day() + 1000, "the day's SMS push cap");
    } else
        take_slot(j);
}

/* A push goes only within the day's cost cap and the push rate, when they are set. */
static void push_gate(send_t *j)
{
    sms_t *s = j->s;
    if (!s->kv) {
        send_now(j);
        return;
    }
    if (s->push_cap <= 0) {
        take_slot(j);
        return;
    }
    int ucs2;
    char key[64], day[16];
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    time_t local = (time_t)tv.tv_sec + CAP_OFFSET_MIN * 60;
    struct tm tm;
    gmtime_r(&local, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    snprintf(key, sizeof key, "sms-spend:%s", day);
    char full[80];
    keys_global(full, sizeof full, key);
    if (rate_spend(s->kv, full, (int64_t)sms_segments(j->text, &ucs2) * s->price, s->push_cap, 2 * 86400, on_spent,
                   j) != 0)
        send_done(j, OUTBOX_RETRY, "redis unavailable");
}

/* A push to someone who sent СТОП is not sent. */
static void on_optout(int err, PGresult *res, void *data)
{
    send_t *j = data;
    if (err)
        send_done(j, OUTBOX_RETRY, "postgres unavailable");
    else if (PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't')
        send_done(j, OUTBOX_DEAD, "the customer opted out (СТОП)");
    else
        push_gate(j);
}

static void deliver(void *ctx, const outbox_msg_t *m, outbox_ticket_t *t)
{
    sms_t *s = ctx;
    const char *to = strncmp(m->conv, "sms:", 4) ? NULL : m->conv + 4;
    char phone[16];
    if (!to || phone_normalize(to, phone, sizeof phone) != 0) {
        outbox_done(t, OUTBOX_DEAD, 0, "not a phone number");
        return;
    }
    send_t *j = calloc(1, sizeof *j);
    if (!j) {
        outbox_done(t, OUTBOX_RETRY, -1, "out of memory");
        return;
    }
    j->s = s;
    j->t = t;
    s->jobs++;
    snprintf(j->id, sizeof j->id, "%lld", (long long)m->id);
    snprintf(j->to, sizeof j->to, "%s", phone);
    render(m->payload, j->text, sizeof j->text);
    if (m->lane == 1) {
        const char *params[] = {phone};
        if (db_exec(s->db, 0, s->q_optout, 1, params, on_optout, j) != 0)
            send_done(j, OUTBOX_RETRY, "postgres unavailable");
        return;
    }
    send_now(j);
}

/* ---------------------------------------------------------------- callbacks */

typedef struct {
    sms_t *s;
    httpd_req_t *r;
    int pending, failed;
    char answer[64];
    smsprov_in_t items[SMS_MAX_ITEMS];
} cb_job_t;

typedef struct {
    cb_job_t *cj;
    smsprov_in_t *in;
    sms_cmd_t cmd;
} in_job_t;

static void item_done(cb_job_t *cj, int ok)
{
    if (!ok)
        cj->failed = 1;
    if (--cj->pending > 0)
        return;
    if (cj->failed)
        httpd_respond(cj->r, 503, "text/plain", "try again\n", 10);
    else
        httpd_respond(cj->r, 200, "text/plain", cj->answer, strlen(cj->answer));
    sms_t *s = cj->s;
    free(cj);
    s->jobs--;
    maybe_free(s);
}

static void on_status_saved(int err, PGresult *res, void *data)
{
    (void)res;
    item_done(data, !err);
}

static void on_accepted(int err, int is_new, void *data)
{
    (void)is_new;
    in_job_t *ij = data;
    cb_job_t *cj = ij->cj;
    free(ij);
    item_done(cj, !err);
}

/* The event of an incoming SMS: id from the gateway's message id (a redelivered callback is the same event). */
static void submit(in_job_t *ij, dlg_event_kind_t kind, const char *text, int64_t ver)
{
    smsprov_in_t *in = ij->in;
    char conv[40], id[96];
    snprintf(conv, sizeof conv, "sms:%s", in->from);
    if (in->msg_id[0]) {
        snprintf(id, sizeof id, "%s:%s", ij->cj->s->prov->ops->name, in->msg_id);
    } else { /* no id from the gateway: the text and the minute stand for it */
        unsigned char h[SHA256_DIGEST_LENGTH];
        char buf[1200];
        snprintf(buf, sizeof buf, "%s|%s|%lld", in->from, in->text, (long long)(metrics_now() / 60));
        SHA256((unsigned char *)buf, strlen(buf), h);
        snprintf(id, sizeof id, "sms:%02x%02x%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
    }
    event_t ev = {.id = id, .channel = "sms", .conv = conv, .sender = in->from, .text = (char *)text, .kind = kind,
                  .version = ver};
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    ev.ts_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    metrics_inc(ij->cj->s->m_in);
    if (engine_intake(ij->cj->s->e, &ev, on_accepted, ij) != 0)
        on_accepted(KB_ERR_BUSY, 0, ij);
}

/* A digit: the choice it names among the buttons of the last message sent to this number. */
static void on_last(int err, PGresult *res, void *data)
{
    in_job_t *ij = data;
    if (err) {
        cb_job_t *cj = ij->cj;
        free(ij);
        item_done(cj, 0);
        return;
    }
    cJSON *payload = PQntuples(res) == 1 ? cJSON_Parse(PQgetvalue(res, 0, 0)) : NULL;
    const char *ids[9];
    int n = sms_choices(payload, ids, 9), k = atoi(ij->cmd.arg);
    if (k >= 1 && k <= n) {
        const cJSON *ver = cJSON_GetObjectItem(payload, "ver");
        submit(ij, EV_BUTTON, ids[k - 1], cJSON_IsNumber(ver) ? (int64_t)ver->valuedouble : 0);
    } else {
        submit(ij, EV_TEXT, ij->in->text, 0);
    }
    cJSON_Delete(payload);
}

static void incoming(cb_job_t *cj, smsprov_in_t *in)
{
    char phone[16];
    in_job_t *ij = calloc(1, sizeof *ij);
    if (!ij || phone_normalize(in->from, phone, sizeof phone) != 0 || !event_utf8_valid(in->text, strlen(in->text))) {
        if (ij)
            log_warn("sms", "an incoming SMS from a number or with a text kabinet cannot take: ignored");
        free(ij);
        item_done(cj, ij != NULL); /* acknowledged: asking again would not help */
        return;
    }
    snprintf(in->from, sizeof in->from, "%s", phone);
    ij->cj = cj;
    ij->in = in;
    sms_cmd_kind_t k = sms_parse(in->text, &ij->cmd);
    char cmd[128];
    if (k == SMS_CMD_CHOICE) {
        char conv[40];
        snprintf(conv, sizeof conv, "sms:%s", phone);
        const char *params[] = {conv};
        if (db_exec(cj->s->db, 0, cj->s->q_last, 1, params, on_last, ij) != 0) {
            free(ij);
            item_done(cj, 0);
        }
    } else if (k != SMS_CMD_NONE && sms_command(&ij->cmd, cmd, sizeof cmd) == 0) {
        submit(ij, EV_COMMAND, cmd, 0);
    } else {
        submit(ij, EV_TEXT, in->text, 0);
    }
}

static void on_callback(httpd_req_t *r, void *data)
{
    sms_t *s = data;
    cb_job_t *cj = calloc(1, sizeof *cj);
    if (!cj) {
        httpd_respond(r, 503, "text/plain", "try again\n", 10);
        return;
    }
    int n = 0, st = s->prov->ops->callback(s->prov, r, cj->items, SMS_MAX_ITEMS, &n, cj->answer, sizeof cj->answer);
    if (st) {
        const char *msg = st == 400 ? "malformed\n" : "forbidden\n";
        httpd_respond(r, st, "text/plain", msg, strlen(msg));
        free(cj);
        return;
    }
    cj->s = s;
    cj->r = r;
    cj->pending = n + 1; /* held until every item was started */
    s->jobs++;
    for (int i = 0; i < n; i++) {
        smsprov_in_t *in = &cj->items[i];
        if (in->kind == SMSPROV_STATUS) {
            const char *params[] = {s->prov->ops->name, in->msg_id, in->status};
            if (db_exec(s->db, 0, s->q_status, 3, params, on_status_saved, cj) != 0)
                item_done(cj, 0);
        } else {
            incoming(cj, in);
        }
    }
    item_done(cj, 1);
}

/* ---------------------------------------------------------------- lifecycle */

int sms_new(uv_loop_t *loop, httpd_t *h, db_t *db, engine_t *e, smsprov_t *prov, sms_t **out)
{
    sms_t *s = calloc(1, sizeof *s);
    if (!s)
        return KB_ERR_NOMEM;
    s->loop = loop;
    s->db = db;
    s->e = e;
    s->prov = prov;
    s->m_sent = metrics_counter("kb_sms_sent_total", "SMS the gateway took", NULL);
    s->m_segments = metrics_counter("kb_sms_segments_total", "SMS segments sent (what SMS costs)", NULL);
    s->m_failed = metrics_counter("kb_sms_failed_total", "SMS the gateway did not take (retried or not)", NULL);
    s->m_in = metrics_counter("kb_sms_incoming_total", "incoming SMS taken as events", NULL);
    s->m_capped = metrics_counter("kb_sms_push_capped_total", "SMS pushes put off to the next day by the cost cap",
                                  NULL);
    s->q_optout = db_prepare(db, "SELECT NOT c.notifications FROM kb_identity i JOIN kb_customer c ON c.id = i.customer_id"
                                 " WHERE i.channel = 'sms' AND i.external_id = $1 LIMIT 1");
    /* sent: the gateway's id and the segments; a login code no longer needed is blanked (the code policy keeps
     * codes only as HMACs; the log gateway, development only, prints them anyway) */
    s->q_sent = db_prepare(db, "UPDATE kb_outbox SET ext_id = $2, segments = $3::smallint, delivery = 'sent',"
                               " payload = CASE WHEN $4 = 'log' OR NOT coalesce(payload #> '{params}' ? 'code', false) THEN payload"
                               "  ELSE jsonb_set(payload, '{params,code}', '\"\"') END WHERE id = $1::bigint");
    /* the gateway's word on delivery; "delivered" is final */
    s->q_status = db_prepare(db, "UPDATE kb_outbox SET delivery = $3, delivery_at = now() WHERE channel = 'sms'"
                                 " AND ext_id = $2 AND $1 <> '' AND delivery IS DISTINCT FROM 'delivered'");
    s->q_last = db_prepare(db, "SELECT payload FROM kb_outbox WHERE conv = $1 AND channel = 'sms' AND payload ? 'buttons'"
                               " AND sent_at IS NOT NULL ORDER BY id DESC LIMIT 1");
    outbox_options_t oo = {{16, 8}, 12, 1000, 15};
    int rc = outbox_new(loop, db, "sms", deliver, s, &oo, &s->out);
    if (rc) {
        free(s);
        return rc;
    }
    if (prov->ops->callback_path) {
        size_t l = strlen(prov->ops->callback_path);
        httpd_route(h, "POST", prov->ops->callback_path, on_callback, s);
        if (prov->ops->callback_path[l - 1] != '*')
            httpd_route(h, "GET", prov->ops->callback_path, on_callback, s);
    }
    *out = s;
    return outbox_start(s->out);
}

outbox_t *sms_outbox(sms_t *s) { return s->out; }

void sms_set_push_limits(sms_t *s, kv_t *kv, double rate, int64_t cap_kopecks, int64_t price_kopecks)
{
    s->kv = kv;
    s->push_rate = rate > 0 ? rate : 10;
    s->push_cap = cap_kopecks;
    s->price = price_kopecks;
}

void sms_close(sms_t *s)
{
    outbox_close(s->out);
    s->closing = 1;
    maybe_free(s);
}

/* ---------------------------------------------------------------- the channel's seam (channel.h) */

/* The gateway KABINET_SMS_PROVIDER names, and its credentials. */
static int sms_check(cfg_t *cfg, char *err, size_t errlen)
{
    if (strcmp(cfg->sms_provider, "log") && strcmp(cfg->sms_provider, "smsc") && strcmp(cfg->sms_provider, "smsru")) {
        snprintf(err, errlen, "KABINET_SMS_PROVIDER must be smsc, smsru or log, not \"%s\"", cfg->sms_provider);
        return KB_ERR_INVAL;
    }
    if (cfg->production && !strcmp(cfg->sms_provider, "log")) {
        snprintf(err, errlen, "KABINET_SMS_PROVIDER must be smsc or smsru when KABINET_ENV is production (log would "
                              "write login codes to the log)");
        return KB_ERR_INVAL;
    }
    if (!strcmp(cfg->sms_provider, "smsc") && (!cfg->smsc_login[0] || !cfg->smsc_password[0] || !cfg->smsc_secret[0])) {
        snprintf(err, errlen, "KABINET_SMS_PROVIDER=smsc needs KABINET_SMSC_LOGIN, KABINET_SMSC_PASSWORD and "
                              "KABINET_SMSC_SECRET");
        return KB_ERR_INVAL;
    }
    size_t tl = strlen(cfg->smsru_token);
    if (!strcmp(cfg->sms_provider, "smsru") &&
        (!cfg->smsru_api_id[0] || tl < 16 || tl > 100 ||
         strspn(cfg->smsru_token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != tl)) {
        snprintf(err, errlen, "KABINET_SMS_PROVIDER=smsru needs KABINET_SMSRU_API_ID and KABINET_SMSRU_TOKEN (16 to 100 "
                              "letters, digits, - or _)");
        return KB_ERR_INVAL;
    }
    return 0;
}

static int sms_wanted(const cfg_t *cfg) { return 1; }

/* The channel with the gateway KABINET_SMS_PROVIDER names. */
static int sms_create(const channel_env_t *env, void **self, char *err, size_t errlen)
{
    const cfg_t *cfg = env->cfg;
    smsprov_t *prov = NULL;
    int rc;
    if (!strcmp(cfg->sms_provider, "smsc")) {
        smsprov_smsc_options_t o = {cfg->smsc_url, cfg->smsc_login, cfg->smsc_password, cfg->smsc_secret,
                                    cfg->smsc_sender};
        rc = smsprov_smsc_new(env->http, &o, &prov);
    } else if (!strcmp(cfg->sms_provider, "smsru")) {
        smsprov_smsru_options_t o = {cfg->smsru_url, cfg->smsru_api_id, cfg->smsru_token};
        rc = smsprov_smsru_new(env->http, &o, &prov);
    } else {
        rc = smsprov_log_new(&prov);
    }
    if (rc) {
        snprintf(err, errlen, "cannot set up the SMS gateway (a KABINET_SMSC_* or KABINET_SMSRU_* setting is too long)");
        return rc;
    }
    sms_t *s = NULL;
    if ((rc = sms_new(env->loop, env->httpd, env->db, env->engine, prov, &s)) != 0)
        return rc;
    sms_set_push_limits(s, env->kv, cfg->sms_push_rate, cfg->sms_push_cap, cfg->sms_price);
    *self = s;
    return 0;
}

static outbox_t *sms_lane(void *self, const char *lane) { return sms_outbox(self); }
static void sms_free(void *self) { sms_close(self); }

const channel_def_t channel_sms = {.name = "sms", .lanes = {"sms", NULL}, .check = sms_check, .wanted = sms_wanted,
                                   .create = sms_create, .outbox = sms_lane, .close = sms_free};
