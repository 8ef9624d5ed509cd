/* mail_in.c — inbound mail (see mail.h, "In"): a parsed message to an event of the right conversation, once; the
 * webhook mail services post to (Postmark's inbound JSON, or the raw message as message/rfc822); the IMAP poller. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include "err.h"
#include "event.h"
#include "log.h"
#include "mail_int.h"
#include "secret.h"
#include "sms_text.h"

#define MAIL_MAX_TOKENS 8
#define IMAP_BATCH 50                /* messages read per poll at most */

/* ---------------------------------------------------------------- taking a message in */

typedef struct {
    mail_t *m;
    mail_take_cb cb;
    void *data;
    char conv[128], id[48], message_id[256], token[MAIL_TOKEN_LEN + 1];
    char subject[1024], from[EMAIL_MAX + 1];
    char *text;
    sms_cmd_t cmd;
    int choice;
    const char *auth;          /* who vouches for the sender: "token", "dmarc" or "none" (the event's payload) */
} take_t;

static void take_done(take_t *t, int err)
{
    mail_t *m = t->m;
    t->cb(err, t->data);
    free(t->text);
    free(t);
    mail_job_done(m);
}

/* Reply tokens a message names, in the order they count: reply+<token>@ among its recipients, then ours among
 * In-Reply-To and References (kb.<id>.<token>@<our domain>). */
static int tokens(const mail_t *m, const mime_msg_t *msg, char out[][MAIL_TOKEN_LEN + 1], int max)
{
    int n = 0;
    for (const char *p = msg->recipients; n < max && (p = strcasestr(p, "reply+")); p += 6)
        if (strspn(p + 6, "0123456789abcdef") == MAIL_TOKEN_LEN && p[6 + MAIL_TOKEN_LEN] == '@')
            snprintf(out[n++], MAIL_TOKEN_LEN + 1, "%.*s", MAIL_TOKEN_LEN, p + 6);
    const char *ids[] = {msg->in_reply_to, msg->references};
    for (int k = 0; k < 2; k++)
        for (const char *p = ids[k]; n < max && (p = strstr(p, "kb.")); p += 3) {
            const char *dot = p + 3 + strspn(p + 3, "0123456789");
            if (*dot == '.' && strspn(dot + 1, "0123456789abcdef") == MAIL_TOKEN_LEN &&
                dot[1 + MAIL_TOKEN_LEN] == '@' && !strncasecmp(dot + 2 + MAIL_TOKEN_LEN, m->domain, strlen(m->domain)))
                snprintf(out[n++], MAIL_TOKEN_LEN + 1, "%.*s", MAIL_TOKEN_LEN, dot + 1);
        }
    return n;
}

static void on_recorded(int err, PGresult *res, void *data)
{
    (void)res;
    take_t *t = data;
    if (err) /* accepted: a second copy would be caught by the engine's dedupe of its event id */
        log_warn("mail", "a message was taken but its Message-ID was not recorded");
    take_done(t, 0);
}

static void on_accepted(int err, int is_new, void *data)
{
    (void)is_new;
    take_t *t = data;
    if (err) {
        take_done(t, err);
        return;
    }
    metrics_inc(t->m->m_in);
    const char *params[] = {t->message_id, t->conv, t->token};
    if (db_exec(t->m->db, 0, t->m->q_seen, 3, params, on_recorded, t) != 0)
        on_recorded(KB_ERR_NOTCONN, NULL, t);
}

static void submit(take_t *t, dlg_event_kind_t kind, const char *text, int64_t version)
{
    event_t ev = {.id = t->id, .channel = "mail", .conv = t->conv, .sender = t->conv + 5, .kind = kind,
                  .version = version, .payload = cJSON_CreateObject()};
    cJSON_AddStringToObject(ev.payload, "auth", t->auth); /* a From alone proves nothing (dialogs/customer.h) */
    size_t n = event_text_cut(text, EVENT_MAX_TEXT);
    ev.text = strndup(text, n);
    ev.ts_ms = mail_now_ms();
    if (!ev.text || !ev.payload || engine_intake(t->m->e, &ev, on_accepted, t) != 0)
        on_accepted(ev.text && ev.payload ? KB_ERR_BUSY : KB_ERR_NOMEM, 0, t);
    free(ev.text);
    cJSON_Delete(ev.payload);
}

/* A digit: the choice it names among the buttons of the last message sent to this conversation. */
static void on_last(int err, PGresult *res, void *data)
{
    take_t *t = data;
    if (err) {
        take_done(t, err);
        return;
    }
    cJSON *payload = PQntuples(res) == 1 ? cJSON_Parse(PQgetvalue(res, 0, 0)) : NULL;
    const char *ids[9];
    int n = sms_choices(payload, ids, 9);
    if (t->choice >= 1 && t->choice <= n) {
        const cJSON *ver = cJSON_GetObjectItem(payload, "ver");
        submit(t, EV_BUTTON, ids[t->choice - 1], cJSON_IsNumber(ver) ? (int64_t)ver->valuedouble : 0);
    } else {
        submit(t, EV_TEXT, t->text, 0);
    }
    cJSON_Delete(payload);
}

/* The subject without "Re:", "Fwd:", "Ответ:" and the like (strncasecmp folds Latin letters only: the Cyrillic
 * prefixes are listed as mail clients write them). */
static const char *bare_subject(const char *s)
{
    static const char *const prefixes[] = {"re:", "fw:", "fwd:", "aw:", "ответ:", "Ответ:", "ОТВЕТ:", "отв:", "Отв:",
                                           "ОТВ:", "пересл:", "Пересл:", "ПЕРЕСЛ:", NULL};
    for (int again = 1; again;) {
        again = 0;
        while (*s == ' ')
            s++;
        for (int i = 0; prefixes[i]; i++)
            if (!strncasecmp(s, prefixes[i], strlen(prefixes[i]))) {
                s += strlen(prefixes[i]);
                again = 1;
            }
    }
    return s;
}

/* The conversation is known, and whether the message was taken before: the event. */
static void on_lookup(int err, PGresult *res, void *data)
{
    take_t *t = data;
    if (err || PQntuples(res) != 1) {
        take_done(t, err ? err : KB_ERR_IO);
        return;
    }
    if (PQgetvalue(res, 0, 1)[0] == 't') { /* taken before (IMAP after a UIDVALIDITY change, a webhook retry) */
        metrics_inc(t->m->m_ignored);
        take_done(t, 0);
        return;
    }
    /* a reply carrying our token of a conversation speaks for it; otherwise the From's conversation, vouched for
     * only by the receiving server's Authentication-Results (mail_take) */
    if (!PQgetisnull(res, 0, 0)) {
        snprintf(t->conv, sizeof t->conv, "%s", PQgetvalue(res, 0, 0));
        t->auth = "token";
    } else {
        snprintf(t->conv, sizeof t->conv, "mail:%s", t->from);
    }
    mail_token(t->m, t->conv, t->token);
    /* a keyword command in the subject, or else in the first line; a digit there chooses */
    sms_cmd_kind_t k = sms_parse(bare_subject(t->subject), &t->cmd);
    char first[256];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(t->text, "\n"), t->text);
    if (k == SMS_CMD_NONE || k == SMS_CMD_CHOICE)
        k = sms_parse(first, &t->cmd);
    char cmd[128];
    if (k == SMS_CMD_CHOICE) {
        t->choice = atoi(t->cmd.arg);
        const char *params[] = {t->conv};
        if (db_exec(t->m->db, 0, t->m->q_last, 1, params, on_last, t) != 0)
            take_done(t, KB_ERR_NOTCONN);
    } else if (k != SMS_CMD_NONE && sms_command(&t->cmd, cmd, sizeof cmd) == 0) {
        submit(t, EV_COMMAND, cmd, 0);
    } else {
        submit(t, EV_TEXT, t->text[0] ? t->text : bare_subject(t->subject), 0);
    }
}

void mail_take(mail_t *m, const mime_msg_t *msg, mail_take_cb cb, void *data)
{
    char masked[128];
    int ours = !strcmp(msg->from, m->from_addr) ||
               (!strncmp(msg->message_id, "kb.", 3) && strstr(msg->message_id, m->domain));
    if (msg->automatic || ours) { /* no mail loops: machines and we ourselves are never answered */
        log_info("mail", "%s from %s not answered", ours ? "our own message" : "an automatic message",
                 log_mask_email(msg->from, masked, sizeof masked));
        metrics_inc(m->m_ignored);
        cb(0, data);
        return;
    }
    take_t *t = calloc(1, sizeof *t);
    if (!t || !(t->text = strdup(msg->text ? msg->text : ""))) {
        free(t);
        cb(KB_ERR_NOMEM, data);
        return;
    }
    t->m = m, t->cb = cb, t->data = data;
    m->jobs++;
    mime_strip_reply(t->text);
    snprintf(t->message_id, sizeof t->message_id, "%s", msg->message_id);
    snprintf(t->subject, sizeof t->subject, "%s", msg->subject);
    snprintf(t->from, sizeof t->from, "%s", msg->from);
    t->auth = mime_auth_pass(msg->auth_results, m->authserv_id, msg->from) ? "dmarc" : "none";
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)msg->message_id, strlen(msg->message_id), h);
    int at = snprintf(t->id, sizeof t->id, "mail:");
    for (int i = 0; i < 16; i++)
        at += snprintf(t->id + at, sizeof t->id - (size_t)at, "%02x", h[i]);
    char tok[MAIL_MAX_TOKENS][MAIL_TOKEN_LEN + 1], arr[MAIL_MAX_TOKENS * (MAIL_TOKEN_LEN + 1) + 3] = "{";
    int n = tokens(m, msg, tok, MAIL_MAX_TOKENS);
    for (int i = 0; i < n; i++)
        strcat(strcat(arr, i ? "," : ""), tok[i]);
    strcat(arr, "}");
    const char *params[] = {arr, t->message_id};
    if (db_exec(m->db, 0, m->q_lookup, 2, params, on_lookup, t) != 0)
        take_done(t, KB_ERR_NOTCONN);
}

/* ---------------------------------------------------------------- the webhook */

typedef struct {
    mail_t *m;
    httpd_req_t *r;
} hook_t;

static void hook_answer(httpd_req_t *r, int status, const char *msg)
{
    httpd_respond(r, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

static void on_hook_taken(int err, void *data)
{
    hook_t *k = data;
    hook_answer(k->r, err ? 503 : 200, err ? "try again\n" : "ok\n");
    mail_t *m = k->m;
    free(k);
    mail_job_done(m);
}

/* A header's value from Postmark's "Headers": [{"Name", "Value"}]. */
static const char *json_header(const cJSON *headers, const char *name)
{
    const cJSON *h;
    cJSON_ArrayForEach(h, headers)
    {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(h, "Name"));
        if (n && !strcasecmp(n, name))
            return cJSON_GetStringValue(cJSON_GetObjectItem(h, "Value"));
    }
    return NULL;
}

/* Postmark's inbound JSON as a message: the same fields mime_parse gives. */
static int from_json(const char *body, size_t len, mime_msg_t *msg, char *err, size_t errlen)
{
    memset(msg, 0, sizeof *msg);
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        snprintf(err, errlen, "not JSON");
        return KB_ERR_INVAL;
    }
    const char *from = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "FromFull"), "Email"));
    if (!from)
        from = cJSON_GetStringValue(cJSON_GetObjectItem(j, "From"));
    const cJSON *hs = cJSON_GetObjectItem(j, "Headers");
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(j, "TextBody"));
    int rc = 0;
    if (!from || !from[0]) {
        snprintf(err, errlen, "no From");
        rc = KB_ERR_INVAL;
    } else if (email_normalize(from, msg->from, sizeof msg->from)) {
        snprintf(err, errlen, "the From is not an address kabinet takes");
        rc = KB_ERR_INVAL;
    } else if (text && !event_utf8_valid(text, strlen(text))) {
        snprintf(err, errlen, "a text that is not UTF-8");
        rc = KB_ERR_INVAL;
    } else {
        snprintf(msg->from_name, sizeof msg->from_name, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(j, "FromName")) ?: "");
        snprintf(msg->recipients, sizeof msg->recipients, "%s, %s, %s",
                 cJSON_GetStringValue(cJSON_GetObjectItem(j, "To")) ?: "",
                 cJSON_GetStringValue(cJSON_GetObjectItem(j, "Cc")) ?: "",
                 cJSON_GetStringValue(cJSON_GetObjectItem(j, "OriginalRecipient")) ?: "");
        snprintf(msg->subject, sizeof msg->subject, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(j, "Subject")) ?: "");
        const char *id = json_header(hs, "Message-ID");
        if (!id)
            id = cJSON_GetStringValue(cJSON_GetObjectItem(j, "MessageID"));
        snprintf(msg->message_id, sizeof msg->message_id, "%.*s", (int)strcspn(id ? id + (id[0] == '<') : "", ">"),
                 id ? id + (id[0] == '<') : "");
        const char *irt = json_header(hs, "In-Reply-To");
        snprintf(msg->in_reply_to, sizeof msg->in_reply_to, "%.*s", (int)strcspn(irt ? irt + (irt[0] == '<') : "", ">"),
                 irt ? irt + (irt[0] == '<') : "");
        snprintf(msg->references, sizeof msg->references, "%s", json_header(hs, "References") ?: "");
        snprintf(msg->auth_results, sizeof msg->auth_results, "%s", json_header(hs, "Authentication-Results") ?: "");
        const char *auto_sub = json_header(hs, "Auto-Submitted"), *prec = json_header(hs, "Precedence");
        msg->automatic = (auto_sub && strncasecmp(auto_sub, "no", 2)) ||
                         (prec && (!strncasecmp(prec, "bulk", 4) || !strncasecmp(prec, "junk", 4) ||
                                   !strncasecmp(prec, "list", 4))) ||
                         json_header(hs, "List-Id") || json_header(hs, "X-Autoreply") ||
                         json_header(hs, "X-Autorespond");
        msg->attachments = cJSON_GetArraySize(cJSON_GetObjectItem(j, "Attachments"));
        msg->text = strdup(text ? text : "");
        if (!msg->message_id[0]) {
            snprintf(err, errlen, "no Message-ID");
            rc = KB_ERR_INVAL;
        } else if (!msg->text) {
            rc = KB_ERR_NOMEM;
        }
    }
    cJSON_Delete(j);
    return rc;
}

/* Basic auth whose password is the secret (any user name), compared in constant time (secret_equal). */
static int authorized(const mail_t *m, httpd_req_t *r)
{
    char auth[512], expect[400], dec[400];
    if (httpd_header(r, "Authorization", auth, sizeof auth) != 0 || strncasecmp(auth, "Basic ", 6))
        return 0;
    int n = EVP_DecodeBlock((unsigned char *)dec, (const unsigned char *)auth + 6, (int)strlen(auth + 6));
    if (n <= 0 || n >= (int)sizeof dec)
        return 0;
    dec[n] = 0;
    const char *colon = strchr(dec, ':');
    if (!colon)
        return 0;
    snprintf(expect, sizeof expect, "%s", m->secret);
    /* EVP_DecodeBlock pads with zero bytes: the password ends at the first NUL */
    return secret_equal(colon + 1, expect);
}

/* POST /mail/inbound: a message a mail service received for us. 200 once taken (or rightly ignored), 400 for what
 * can never be taken, 401 without the secret, 413 over the size limit, 503 to be posted again. */
static void on_hook(httpd_req_t *r, void *data)
{
    mail_t *m = data;
    char ct[128] = "", err[200];
    if (!authorized(m, r)) {
        hook_answer(r, 401, "unauthorized\n");
        return;
    }
    size_t len = 0;
    const char *body = httpd_body(r, &len);
    if (len > m->max_bytes) {
        log_warn("mail", "an inbound message of %zu bytes refused: the limit is %zu", len, m->max_bytes);
        metrics_inc(m->m_refused);
        hook_answer(r, 413, "too large\n");
        return;
    }
    httpd_header(r, "Content-Type", ct, sizeof ct);
    mime_msg_t msg;
    int rc = !strncasecmp(ct, "application/json", 16) ? from_json(body, len, &msg, err, sizeof err)
                                                      : mime_parse(body, len, &msg, err, sizeof err);
    if (rc) {
        log_warn("mail", "an inbound message refused: %s", err);
        metrics_inc(m->m_refused);
        mime_msg_free(&msg);
        char answer[256];
        snprintf(answer, sizeof answer, "refused: %s\n", err);
        hook_answer(r, 400, answer);
        return;
    }
    hook_t *k = malloc(sizeof *k);
    if (!k) {
        mime_msg_free(&msg);
        hook_answer(r, 503, "try again\n");
        return;
    }
    k->m = m;
    k->r = r;
    m->jobs++;
    mail_take(m, &msg, on_hook_taken, k);
    mime_msg_free(&msg);
}

/* ---------------------------------------------------------------- IMAP */

typedef struct mail_imap_s {
    mail_t *m;
    long long validity, next;       /* the folder's UIDVALIDITY and the next UID to read, as stored */
    long long uids[IMAP_BATCH];
    int n, at, rescan;
} imap_t;

static void imap_next(imap_t *p);

static void imap_end(imap_t *p, const char *why)
{
    mail_t *m = p->m;
    if (why)
        log_warn("mail", "IMAP poll stopped: %s (again in %d s)", why, m->poll_s);
    m->imap = NULL;
    free(p);
    mail_job_done(m);
}

static void on_advanced(int err, PGresult *res, void *data)
{
    imap_t *p = data;
    if (err || PQntuples(res) != 1) {
        imap_end(p, err ? "postgres unavailable" : "the lease passed to another process");
        return;
    }
    p->next = p->uids[p->at] + 1;
    p->at++;
    imap_next(p);
}

/* The marker moves past a message once it was taken (or refused for good). */
static void advance(imap_t *p)
{
    char next[24], v[24];
    snprintf(next, sizeof next, "%lld", p->uids[p->at] + 1);
    snprintf(v, sizeof v, "%lld", p->validity);
    const char *params[] = {p->m->folder, p->m->owner, next, v};
    if (db_exec(p->m->db, 0, p->m->q_advance, 4, params, on_advanced, p) != 0)
        imap_end(p, "postgres unavailable");
}

static void on_taken(int err, void *data)
{
    imap_t *p = data;
    if (err) {
        imap_end(p, "the message could not be accepted now");
        return;
    }
    advance(p);
}

static void on_fetched(int err, const http_response_t *res, void *data)
{
    imap_t *p = data;
    char why[200];
    if (err == KB_ERR_TOOBIG) {
        log_warn("mail", "IMAP message UID %lld refused: larger than %zu bytes", p->uids[p->at], p->m->max_bytes);
        metrics_inc(p->m->m_refused);
        advance(p);
        return;
    }
    if (err) {
        imap_end(p, kb_strerror(err));
        return;
    }
    mime_msg_t msg;
    if (mime_parse(res->body, res->body_len, &msg, why, sizeof why) != 0) {
        log_warn("mail", "IMAP message UID %lld refused: %s", p->uids[p->at], why);
        metrics_inc(p->m->m_refused);
        mime_msg_free(&msg);
        advance(p);
        return;
    }
    mail_take(p->m, &msg, on_taken, p);
    mime_msg_free(&msg);
}

static void imap_next(imap_t *p)
{
    mail_t *m = p->m;
    if (p->at >= p->n || m->closing) {
        imap_end(p, NULL);
        return;
    }
    char url[600];
    snprintf(url, sizeof url, "%s;UIDVALIDITY=%lld/;UID=%lld", m->imap_url, p->validity, p->uids[p->at]);
    http_request_t rq = {.url = url, .max_response = m->max_bytes, .timeout_ms = 120000,
                         .ca_file = m->ca_file[0] ? m->ca_file : NULL};
    if (http_request(m->http, &rq, on_fetched, p) != 0)
        imap_end(p, "cannot start the IMAP transfer");
}

static int cmp_uid(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static void imap_search(imap_t *p);

static void on_reset(int err, PGresult *res, void *data)
{
    imap_t *p = data;
    if (err || PQntuples(res) != 1) {
        imap_end(p, err ? "postgres unavailable" : "the lease passed to another process");
        return;
    }
    p->next = 1;
    p->rescan = 1;
    imap_search(p);
}

/* The folder's UIDVALIDITY (from the SELECT's answer) and the UIDs from the marker on. */
static void on_searched(int err, const http_response_t *res, void *data)
{
    imap_t *p = data;
    if (err) {
        imap_end(p, kb_strerror(err));
        return;
    }
    const char *v = strcasestr(res->headers, "UIDVALIDITY ");
    long long validity = v ? atoll(v + 12) : 0;
    if (validity <= 0) {
        imap_end(p, "the server named no UIDVALIDITY");
        return;
    }
    if (validity != p->validity) {
        if (p->validity > 0 || p->next > 1)
            log_warn("mail", "IMAP UIDVALIDITY changed (%lld → %lld): the folder is read again; Message-IDs taken "
                             "before are skipped", p->validity, validity);
        if (p->rescan) {
            imap_end(p, "UIDVALIDITY keeps changing");
            return;
        }
        p->validity = validity;
        char vs[24];
        snprintf(vs, sizeof vs, "%lld", validity);
        const char *params[] = {p->m->folder, p->m->owner, vs};
        if (db_exec(p->m->db, 0, p->m->q_reset, 3, params, on_reset, p) != 0)
            imap_end(p, "postgres unavailable");
        return;
    }
    p->n = 0;
    for (const char *s = strstr(res->body, "* SEARCH"); s && *s && *s != '\n' && p->n < IMAP_BATCH; s++) {
        if (!isdigit((unsigned char)*s) || !isspace((unsigned char)s[-1]))
            continue;
        long long uid = atoll(s);
        if (uid >= p->next) /* "n:*" names the last message even when it is below n */
            p->uids[p->n++] = uid;
        while (isdigit((unsigned char)s[1]))
            s++;
    }
    qsort(p->uids, (size_t)p->n, sizeof *p->uids, cmp_uid);
    p->at = 0;
    imap_next(p);
}

static void imap_search(imap_t *p)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "UID SEARCH UID %lld:*", p->next);
    http_request_t rq = {.url = p->m->imap_url, .method = cmd, .timeout_ms = 60000,
                         .ca_file = p->m->ca_file[0] ? p->m->ca_file : NULL};
    if (http_request(p->m->http, &rq, on_searched, p) != 0)
        imap_end(p, "cannot start the IMAP transfer");
}

/* The lease is ours (or another process polls): the marker. */
static void on_claimed(int err, PGresult *res, void *data)
{
    imap_t *p = data;
    if (err || PQntuples(res) != 1) {
        imap_end(p, err ? "postgres unavailable" : NULL);
        return;
    }
    p->validity = PQgetisnull(res, 0, 0) ? 0 : atoll(PQgetvalue(res, 0, 0));
    p->next = atoll(PQgetvalue(res, 0, 1));
    imap_search(p);
}

void mail_imap_tick(uv_timer_t *t)
{
    mail_t *m = t->data;
    if (m->imap || m->closing)
        return;
    imap_t *p = calloc(1, sizeof *p);
    if (!p)
        return;
    p->m = m;
    m->imap = p;
    m->jobs++;
    char lease[16];
    snprintf(lease, sizeof lease, "%d", m->poll_s * 3 + 60);
    const char *params[] = {m->folder, m->owner, lease};
    if (db_exec(m->db, 0, m->q_claim, 3, params, on_claimed, p) != 0)
        imap_end(p, "postgres unavailable");
}

/* ---------------------------------------------------------------- setup */

void mail_in_setup(mail_t *m)
{
    m->q_lookup = db_prepare(m->db,
        "SELECT (SELECT conv FROM kb_mail_thread t WHERE t.token = ANY($1::text[])"
        "  ORDER BY array_position($1::text[], t.token) LIMIT 1),"
        " EXISTS (SELECT 1 FROM kb_mail_seen WHERE message_id = $2)");
    m->q_seen = db_prepare(m->db,
        "WITH s AS (INSERT INTO kb_mail_seen (message_id, conv) VALUES ($1, $2) ON CONFLICT DO NOTHING) "
        "INSERT INTO kb_mail_thread (token, conv, last_in) VALUES ($3, $2, $1)"
        " ON CONFLICT (token) DO UPDATE SET last_in = EXCLUDED.last_in");
    m->q_last = db_prepare(m->db, "SELECT payload FROM kb_outbox WHERE conv = $1 AND channel = 'mail'"
                                  " AND payload ? 'buttons' AND sent_at IS NOT NULL ORDER BY id DESC LIMIT 1");
    /* one poller per folder among all processes: a lease */
    m->q_claim = db_prepare(m->db,
        "INSERT INTO kb_mail_marker AS k (folder, lease_owner, lease_until)"
        " VALUES ($1, $2, now() + make_interval(secs => $3::int)) ON CONFLICT (folder) DO UPDATE"
        " SET lease_owner = $2, lease_until = now() + make_interval(secs => $3::int)"
        " WHERE k.lease_until IS NULL OR k.lease_until < now() OR k.lease_owner = $2 RETURNING uidvalidity, next_uid");
    m->q_reset = db_prepare(m->db, "UPDATE kb_mail_marker SET uidvalidity = $3::bigint, next_uid = 1"
                                   " WHERE folder = $1 AND lease_owner = $2 RETURNING 1");
    m->q_advance = db_prepare(m->db, "UPDATE kb_mail_marker SET next_uid = greatest(next_uid, $3::bigint)"
                                     " WHERE folder = $1 AND lease_owner = $2 AND uidvalidity = $4::bigint RETURNING 1");
    if (m->secret[0])
        httpd_route(m->httpd, "POST", "/mail/inbound", on_hook, m);
    /* the folder's name in the marker: the URL without its credentials */
    const char *scheme = strstr(m->imap_url, "://"), *at = scheme ? strchr(scheme + 3, '@') : NULL;
    if (scheme && at)
        snprintf(m->folder, sizeof m->folder, "%.*s%s", (int)(scheme + 3 - m->imap_url), m->imap_url, at + 1);
    else
        snprintf(m->folder, sizeof m->folder, "%s", m->imap_url);
    unsigned char r[6];
    RAND_bytes(r, sizeof r);
    snprintf(m->owner, sizeof m->owner, "%d-%02x%02x%02x%02x%02x%02x", (int)getpid(), r[0], r[1], r[2], r[3], r[4], r[5]);
}
