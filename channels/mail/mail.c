/* mail.c — the email channel (see mail.h): rendering and sending by SMTP, reply tokens, the confirmation and
 * unsubscribe pages, and the channel's lifecycle. Inbound mail is mail_in.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "err.h"
#include "form.h"
#include "log.h"
#include "mail_int.h"
#include "phone.h"
#include "sms_text.h"
#include "text.h"

void mail_token(const mail_t *m, const char *conv, char out[MAIL_TOKEN_LEN + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), m->key, (int)strlen(m->key), (const unsigned char *)conv, strlen(conv), mac, &len);
    for (int i = 0; i < MAIL_TOKEN_LEN / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

int64_t mail_now_ms(void)
{
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void mail_job_done(mail_t *m)
{
    if (--m->jobs == 0 && m->closing && !m->timer_open) {
        free(m->smtp_url), free(m->from), free(m->imap_url), free(m->secret), free(m->key), free(m->ca_file);
        free(m);
    }
}

/* ---------------------------------------------------------------- rendering */

/* The text of key in lang into buf when the catalog has it; 0, or -1 (buf untouched). */
static int render_if(const char *lang, const char *key, const cJSON *params, char *buf, size_t size)
{
    if (!txt_get(lang, key))
        return -1;
    txt_render(lang, key, params, buf, size);
    return 0;
}

/* A reply as an email: subject and text (the email form of a template when the catalog has one — "<tmpl>_mail" —,
 * the menu as the keywords, the numbered choices, the foot); a sign-in code gets its one-click link. */
static void render(const mail_t *m, const cJSON *payload, const char *token, char *subject, size_t ssize, char *text,
                   size_t tsize)
{
    const char *tmpl = cJSON_GetStringValue(cJSON_GetObjectItem(payload, "tmpl")) ?: "";
    const char *lang = cJSON_GetStringValue(cJSON_GetObjectItem(payload, "lang")) ?: "ru";
    cJSON *params = cJSON_Duplicate(cJSON_GetObjectItem(payload, "params"), 1);
    if (!cJSON_IsObject(params)) {
        cJSON_Delete(params);
        params = cJSON_CreateObject();
    }
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItem(params, "code"));
    if (code && code[0] && !strcmp(tmpl, "reg.code_mail")) {
        char link[512];
        snprintf(link, sizeof link, "%s/mail/confirm?t=%s&c=%s", m->public_url, token, code);
        cJSON_AddStringToObject(params, "link", link);
    }
    char key[112];
    snprintf(key, sizeof key, "mail.subject.%s", tmpl);
    if (render_if(lang, key, params, subject, ssize))
        txt_render(lang, "mail.subject", params, subject, ssize);
    if (!strncmp(tmpl, "menu.main", 9))
        snprintf(key, sizeof key, "mail.menu");
    else
        snprintf(key, sizeof key, "%s_mail", tmpl);
    if (render_if(lang, key, params, text, tsize))
        txt_render(lang, tmpl, params, text, tsize);
    cJSON_Delete(params);
    const char *ids[9];
    int n = sms_choices(payload, ids, 9);
    for (int i = 0; i < n; i++) {
        char label[128];
        size_t at = strlen(text);
        if (i == 0) {
            snprintf(text + at, tsize - at, "\n\n");
            at += 2;
            txt_render(lang, "mail.choices", NULL, text + at, tsize - at);
            at = strlen(text);
        }
        txt_button(lang, ids[i], payload, label, sizeof label);
        snprintf(text + at, tsize - at, "\n%d — %s", i + 1, label);
    }
    size_t at = strlen(text);
    if (at + 2 < tsize) {
        snprintf(text + at, tsize - at, "\n\n");
        txt_render(lang, "mail.footer", NULL, text + at + 2, tsize - at - 2);
    }
}

/* ---------------------------------------------------------------- the sender */

typedef struct {
    mail_t *m;
    outbox_ticket_t *t;
    int64_t id;
    int lane, has_code;
    char conv[128], to[EMAIL_MAX + 1], token[MAIL_TOKEN_LEN + 1];
    cJSON *payload;
} send_t;

static void send_done(send_t *j, outbox_result_t r, const char *error)
{
    mail_t *m = j->m;
    outbox_done(j->t, r, -1, error);
    cJSON_Delete(j->payload);
    free(j);
    mail_job_done(m);
}

static void on_recorded(int err, PGresult *res, void *data)
{
    (void)res;
    send_t *j = data;
    if (err) /* sent; only the code's blanking is missing: not worth a second mail */
        log_warn("mail", "message %lld went out but could not be marked", (long long)j->id);
    send_done(j, OUTBOX_SENT, NULL);
}

static void on_sent(int err, const http_response_t *res, void *data)
{
    (void)res;
    send_t *j = data;
    char masked[128];
    if (err) {
        metrics_inc(j->m->m_failed);
        log_warn("mail", "SMTP did not take message %lld to %s: %s", (long long)j->id,
                 log_mask_email(j->to, masked, sizeof masked), kb_strerror(err));
        send_done(j, err == KB_ERR_REFUSED ? OUTBOX_DEAD : OUTBOX_RETRY,
                  err == KB_ERR_REFUSED ? "the mail server refused it" : "the mail server did not take it now");
        return;
    }
    metrics_inc(j->m->m_sent);
    if (!j->has_code) {
        send_done(j, OUTBOX_SENT, NULL);
        return;
    }
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)j->id);
    const char *params[] = {id};
    if (db_exec(j->m->db, 0, j->m->q_sent, 1, params, on_recorded, j) != 0)
        on_recorded(KB_ERR_NOTCONN, NULL, j);
}

/* The thread's token is recorded and the document read: the message is built and handed to SMTP. */
static void on_prepared(int err, PGresult *res, void *data)
{
    send_t *j = data;
    mail_t *m = j->m;
    if (err || PQntuples(res) != 1) {
        send_done(j, OUTBOX_RETRY, "postgres unavailable");
        return;
    }
    char subject[512], text[8192], msgid[160], reply_to[160], unsub[700];
    render(m, j->payload, j->token, subject, sizeof subject, text, sizeof text);
    snprintf(msgid, sizeof msgid, "kb.%lld.%s@%s", (long long)j->id, j->token, m->domain);
    snprintf(reply_to, sizeof reply_to, "reply+%s@%s", j->token, m->domain);
    const char *tmpl = cJSON_GetStringValue(cJSON_GetObjectItem(j->payload, "tmpl")) ?: "";
    int bulk = j->lane == 1 || !strncmp(tmpl, "bill.ebill", 10);
    snprintf(unsub, sizeof unsub, "<mailto:%s?subject=STOP>, <%s/mail/unsubscribe?t=%s>", reply_to, m->public_url,
             j->token);
    mime_attachment_t att = {0};
    unsigned char *bytes = NULL;
    if (!PQgetisnull(res, 0, 3)) {
        size_t n = 0;
        bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 3), &n);
        att = (mime_attachment_t){PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), bytes, n};
    }
    mime_out_t out = {m->from, j->to, subject, msgid, PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0),
                      reply_to, bulk ? "auto-generated" : "auto-replied", bulk ? unsub : NULL, text,
                      bytes ? &att : NULL, bytes ? 1 : 0, time(NULL)};
    size_t len = 0;
    char *msg = mime_build(&out, &len);
    PQfreemem(bytes);
    const char *rcpt[] = {j->to, NULL};
    http_request_t rq = {.url = m->smtp_url, .body = msg, .body_len = len, .mail_from = m->from_addr,
                         .mail_rcpt = rcpt, .ca_file = m->ca_file[0] ? m->ca_file : NULL, .timeout_ms = 60000};
    int rc = msg ? http_request(m->http, &rq, on_sent, j) : KB_ERR_NOMEM;
    free(msg);
    if (rc)
        send_done(j, OUTBOX_RETRY, "cannot start the SMTP transfer");
}

static void deliver(void *ctx, const outbox_msg_t *msg, outbox_ticket_t *t)
{
    mail_t *m = ctx;
    char to[EMAIL_MAX + 1];
    if (strncmp(msg->conv, "mail:", 5) || email_normalize(msg->conv + 5, to, sizeof to)) {
        outbox_done(t, OUTBOX_DEAD, 0, "not an email address");
        return;
    }
    send_t *j = calloc(1, sizeof *j);
    if (!j || !(j->payload = cJSON_Duplicate(msg->payload, 1))) {
        free(j);
        outbox_done(t, OUTBOX_RETRY, -1, "out of memory");
        return;
    }
    j->m = m;
    j->t = t;
    j->id = msg->id;
    j->lane = msg->lane;
    m->jobs++;
    snprintf(j->conv, sizeof j->conv, "%s", msg->conv);
    snprintf(j->to, sizeof j->to, "%s", to);
    mail_token(m, j->conv, j->token);
    j->has_code = cJSON_GetObjectItem(cJSON_GetObjectItem(msg->payload, "params"), "code") != NULL;
    const cJSON *file = cJSON_GetObjectItem(cJSON_GetObjectItem(msg->payload, "document"), "file");
    char fid[24] = "";
    if (cJSON_IsNumber(file))
        snprintf(fid, sizeof fid, "%lld", (long long)file->valuedouble);
    const char *params[] = {j->token, j->conv, fid};
    if (db_exec(m->db, 0, m->q_prep, 3, params, on_prepared, j) != 0)
        send_done(j, OUTBOX_RETRY, "postgres unavailable");
}

/* ---------------------------------------------------------------- link pages */

typedef struct {
    mail_t *m;
    httpd_req_t *r;
    char token[MAIL_TOKEN_LEN + 1], code[8];
} page_t;

static void page(httpd_req_t *r, int status, const char *key)
{
    char text[1024], html[1400];
    txt_render("ru", key, NULL, text, sizeof text);
    snprintf(html, sizeof html, "<!doctype html><html lang=\"ru\"><meta charset=\"utf-8\"><title>kabinet</title>"
                                "<body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\">%s</body></html>",
             text);
    httpd_set_header(r, "Cache-Control", "no-store");
    httpd_respond(r, status, "text/html; charset=utf-8", html, strlen(html));
}

/* The token and code of a link's query or a form's body; 0, or -1 when they are not well formed. */
static int link_args(const char *query, page_t *p, int need_code)
{
    char buf[512], *names[4], *values[4];
    int n = form_parse(query, buf, sizeof buf, names, values, 4);
    for (int i = 0; i < n; i++) {
        if (!strcmp(names[i], "t") && strlen(values[i]) == MAIL_TOKEN_LEN &&
            strspn(values[i], "0123456789abcdef") == MAIL_TOKEN_LEN)
            snprintf(p->token, sizeof p->token, "%s", values[i]);
        if (!strcmp(names[i], "c") && strlen(values[i]) == 6 && strspn(values[i], "0123456789") == 6)
            snprintf(p->code, sizeof p->code, "%s", values[i]);
    }
    return p->token[0] && (p->code[0] || !need_code) ? 0 : -1;
}

static void page_done(page_t *p, int status, const char *key)
{
    mail_t *m = p->m;
    page(p->r, status, key);
    free(p);
    mail_job_done(m);
}

static void on_confirm_taken(int err, int is_new, void *data)
{
    (void)is_new;
    page_t *p = data;
    page_done(p, err ? 503 : 200, err ? "mail.page_later" : "mail.page_confirmed");
}

/* The conversation of the link's token: the code goes to it as "/confirm <code>", as if the customer typed it. */
static void on_confirm_conv(int err, PGresult *res, void *data)
{
    page_t *p = data;
    if (err) {
        page_done(p, 503, "mail.page_later");
        return;
    }
    if (PQntuples(res) != 1) {
        page_done(p, 404, "mail.page_unknown");
        return;
    }
    char conv[128], id[64], text[24];
    snprintf(conv, sizeof conv, "%s", PQgetvalue(res, 0, 0));
    /* a press is one event; a second press later is another (it hears that the customer is signed in) */
    snprintf(id, sizeof id, "mail:confirm:%s:%s:%lld", p->token, p->code, (long long)mail_now_ms());
    snprintf(text, sizeof text, "/confirm %s", p->code);
    /* the link came in our mail to that address: its token vouches for whoever opens it */
    event_t ev = {.id = id, .channel = "mail", .conv = conv, .sender = conv + 5, .text = text, .kind = EV_COMMAND,
                  .payload = cJSON_CreateObject()};
    cJSON_AddStringToObject(ev.payload, "auth", "token");
    ev.ts_ms = mail_now_ms();
    if (!ev.payload || engine_intake(p->m->e, &ev, on_confirm_taken, p) != 0)
        on_confirm_taken(KB_ERR_BUSY, 0, p);
    cJSON_Delete(ev.payload);
}

static void on_unsubscribed(int err, PGresult *res, void *data)
{
    (void)res;
    page_t *p = data;
    page_done(p, err ? 503 : 200, err ? "mail.page_later" : "mail.page_unsubscribed");
}

/* GET shows a button (mail scanners open links; only a person's press, a POST, acts); POST acts: /mail/confirm
 * passes the code to the conversation, /mail/unsubscribe (RFC 8058 one-click too) turns email bills and
 * reminders off. */
static void on_page(httpd_req_t *r, void *data)
{
    mail_t *m = data;
    int confirm = !strcmp(httpd_path(r), "/mail/confirm"), post = !strcmp(httpd_method(r), "POST");
    page_t *p = calloc(1, sizeof *p);
    size_t blen = 0;
    const char *body = post ? httpd_body(r, &blen) : NULL;
    char args[600];
    snprintf(args, sizeof args, "%s%s%.*s", httpd_query(r), body && blen ? "&" : "",
             (int)(blen < 300 ? blen : 0), body ? body : "");
    if (!p || link_args(args, p, confirm)) {
        free(p);
        page(r, 404, "mail.page_unknown");
        return;
    }
    if (!post) {
        char key[40], text[600], html[1600];
        snprintf(key, sizeof key, confirm ? "mail.page_confirm" : "mail.page_unsubscribe");
        txt_render("ru", key, NULL, text, sizeof text);
        snprintf(html, sizeof html, "<!doctype html><html lang=\"ru\"><meta charset=\"utf-8\"><title>kabinet</title>"
                 "<body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\"><form method=\"post\">"
                 "<input type=\"hidden\" name=\"t\" value=\"%s\"><input type=\"hidden\" name=\"c\" value=\"%s\">"
                 "<p>%s</p><button type=\"submit\">OK</button></form></body></html>", p->token, p->code, text);
        free(p);
        httpd_set_header(r, "Cache-Control", "no-store");
        httpd_respond(r, 200, "text/html; charset=utf-8", html, strlen(html));
        return;
    }
    p->m = m;
    p->r = r;
    m->jobs++;
    const char *params[] = {p->token};
    if (db_exec(m->db, 0, confirm ? m->q_conv : m->q_unsub, 1, params, confirm ? on_confirm_conv : on_unsubscribed,
                p) != 0)
        page_done(p, 503, "mail.page_later");
}

/* ---------------------------------------------------------------- lifecycle */

/* The address inside "Name <address>" (or the whole), and its domain. */
static int own_address(mail_t *m, const char *from)
{
    const char *lt = strrchr(from, '<');
    char raw[256];
    snprintf(raw, sizeof raw, "%.*s", (int)(lt ? strcspn(lt + 1, ">") : strlen(from)), lt ? lt + 1 : from);
    if (email_normalize(raw, m->from_addr, sizeof m->from_addr))
        return KB_ERR_INVAL;
    snprintf(m->domain, sizeof m->domain, "%s", strchr(m->from_addr, '@') + 1);
    return 0;
}

int mail_new(uv_loop_t *loop, httpd_t *h, http_client_t *http, db_t *db, engine_t *e, const mail_options_t *o,
             mail_t **out)
{
    mail_t *m = calloc(1, sizeof *m);
    if (!m)
        return KB_ERR_NOMEM;
    m->loop = loop, m->httpd = h, m->http = http, m->db = db, m->e = e;
    m->smtp_url = strdup(o->smtp_url), m->from = strdup(o->from), m->imap_url = strdup(o->imap_url);
    m->secret = strdup(o->webhook_secret), m->key = strdup(o->token_key), m->ca_file = strdup(o->ca_file);
    m->poll_s = o->imap_poll_s;
    m->max_bytes = o->max_bytes;
    snprintf(m->authserv_id, sizeof m->authserv_id, "%s", o->authserv_id ? o->authserv_id : "");
    form_base_url(m->public_url, sizeof m->public_url, o->public_url);
    if (!m->smtp_url || !m->from || !m->imap_url || !m->secret || !m->key || !m->ca_file || own_address(m, o->from)) {
        free(m->smtp_url), free(m->from), free(m->imap_url), free(m->secret), free(m->key), free(m->ca_file);
        free(m);
        return KB_ERR_INVAL;
    }
    m->m_sent = metrics_counter("kb_mail_sent_total", "Messages the SMTP server took", NULL);
    m->m_failed = metrics_counter("kb_mail_failed_total", "Messages the SMTP server did not take (retried or not)", NULL);
    m->m_in = metrics_counter("kb_mail_incoming_total", "Inbound messages taken as events", NULL);
    m->m_ignored = metrics_counter("kb_mail_ignored_total", "Inbound messages not answered: machines', ours, seen", NULL);
    m->m_refused = metrics_counter("kb_mail_refused_total", "Inbound messages refused: too large, malformed", NULL);
    /* the thread's token (once), the customer's latest Message-ID, and the document to attach */
    m->q_prep = db_prepare(db, "WITH t AS (INSERT INTO kb_mail_thread (token, conv) VALUES ($1, $2) ON CONFLICT (token)"
                               " DO UPDATE SET conv = EXCLUDED.conv RETURNING last_in) "
                               "SELECT t.last_in, f.name, f.mime, f.bytes FROM t LEFT JOIN kb_file f"
                               " ON f.id = nullif($3, '')::bigint");
    /* a sign-in code, once mailed, is not kept in the clear */
    m->q_sent = db_prepare(db, "UPDATE kb_outbox SET payload = jsonb_set(payload, '{params,code}', '\"\"')"
                               " WHERE id = $1::bigint");
    m->q_conv = db_prepare(db, "SELECT conv FROM kb_mail_thread WHERE token = $1");
    m->q_unsub = db_prepare(db,
        "WITH t AS (SELECT conv FROM kb_mail_thread WHERE token = $1), "
        "c AS (UPDATE kb_customer k SET email_bills = false, notifications = false FROM kb_identity i, t"
        "  WHERE i.channel = 'mail' AND 'mail:' || i.external_id = t.conv AND k.id = i.customer_id RETURNING k.id) "
        "INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) "
        "SELECT (SELECT conv FROM t), '', 'settings.unsubscribe', '{}', id, 'customer' FROM c");
    httpd_route(h, "GET", "/mail/confirm", on_page, m);
    httpd_route(h, "POST", "/mail/confirm", on_page, m);
    httpd_route(h, "GET", "/mail/unsubscribe", on_page, m);
    httpd_route(h, "POST", "/mail/unsubscribe", on_page, m);
    mail_in_setup(m);
    if (m->smtp_url[0]) {
        outbox_options_t oo = {{8, 4}, 12, 1000, 70};
        int rc = outbox_new(loop, db, "mail", deliver, m, &oo, &m->out);
        if (rc) {
            m->closing = 1;
            m->jobs = 1;
            mail_job_done(m);
            return rc;
        }
    }
    *out = m;
    return 0;
}

int mail_start(mail_t *m)
{
    if (m->imap_url[0]) {
        uv_timer_init(m->loop, &m->timer);
        m->timer.data = m;
        m->timer_open = 1;
        uv_timer_start(&m->timer, mail_imap_tick, 100, (uint64_t)m->poll_s * 1000);
    }
    return m->out ? outbox_start(m->out) : 0;
}

outbox_t *mail_outbox(mail_t *m) { return m->out; }

static void on_timer_closed(uv_handle_t *h)
{
    mail_t *m = h->data;
    m->timer_open = 0;
    m->jobs++;
    mail_job_done(m);
}

void mail_close(mail_t *m)
{
    if (m->out)
        outbox_close(m->out);
    m->closing = 1;
    m->jobs++;
    if (m->timer_open)
        uv_close((uv_handle_t *)&m->timer, on_timer_closed);
    mail_job_done(m);
}

/* ---------------------------------------------------------------- the channel's seam (channel.h) */

/* Our address, and the shapes of the SMTP and IMAP URLs. */
static int mail_check(cfg_t *cfg, char *err, size_t errlen)
{
    int on = cfg->smtp_url[0] || cfg->imap_url[0] || cfg->mail_webhook_secret[0];
    char from[EMAIL_MAX + 1];
    const char *lt = strrchr(cfg->mail_from, '<');
    snprintf(from, sizeof from, "%.*s", (int)(lt ? strcspn(lt + 1, ">") : strlen(cfg->mail_from)),
             lt ? lt + 1 : cfg->mail_from);
    if (on && email_normalize(from, from, sizeof from)) {
        snprintf(err, errlen, "KABINET_MAIL_FROM must be our address (`Name <bot@example.ru>`) when a mail setting is on");
        return KB_ERR_INVAL;
    }
    if ((cfg->smtp_url[0] && strncmp(cfg->smtp_url, "smtp://", 7) && strncmp(cfg->smtp_url, "smtps://", 8)) ||
        (cfg->imap_url[0] && strncmp(cfg->imap_url, "imap://", 7) && strncmp(cfg->imap_url, "imaps://", 8))) {
        snprintf(err, errlen, "KABINET_SMTP_URL must be smtp:// or smtps://, KABINET_IMAP_URL imap:// or imaps://");
        return KB_ERR_INVAL;
    }
    if (cfg->imap_url[0] && !strchr(strstr(cfg->imap_url, "://") + 3, '/')) {
        snprintf(err, errlen, "KABINET_IMAP_URL must name the folder: imap://user:password@host/INBOX");
        return KB_ERR_INVAL;
    }
    return 0;
}

static int mail_wanted(const cfg_t *cfg) { return cfg->smtp_url[0] || cfg->imap_url[0] || cfg->mail_webhook_secret[0]; }

static int mail_create(const channel_env_t *env, void **self, char *err, size_t errlen)
{
    const cfg_t *cfg = env->cfg;
    mail_options_t mo = {cfg->smtp_url, cfg->mail_from, cfg->imap_url, cfg->imap_poll_s, cfg->mail_webhook_secret,
                         env->public_url, cfg->code_key, cfg->mail_ca_file, (size_t)cfg->mail_max_bytes,
                         cfg->mail_authserv_id};
    int rc = mail_new(env->loop, env->httpd, env->http, env->db, env->engine, &mo, (mail_t **)self);
    if (rc)
        snprintf(err, errlen, "cannot set up the email channel: %s", kb_strerror(rc));
    return rc;
}

static int mail_start_(void *self) { return mail_start(self); }
static outbox_t *mail_lane(void *self, const char *lane) { return mail_outbox(self); }
static void mail_free(void *self) { mail_close(self); }

const channel_def_t channel_mail = {.name = "mail", .lanes = {"mail", NULL}, .check = mail_check,
                                    .wanted = mail_wanted, .create = mail_create, .start = mail_start_,
                                    .outbox = mail_lane, .close = mail_free};
