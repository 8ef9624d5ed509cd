/* tg_send.c — the Telegram sender: one outbox message → rate limits → Bot API calls → settled (see telegram.h).
 *
 * A delivery (tg_job_t) goes: reserve its slots (per chat; lane 1 also the global broadcast limit) → wait for
 * them and for any 429 pause → for a document, read the file → send the rendered calls one after another → settle
 * the outbox row by what Telegram answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "keys.h"
#include "log.h"
#include "rate.h"
#include "text.h"
#include "tg_internal.h"
#include "tg_render.h"

#define RATE_MARGIN 0.97           /* the broadcast limits are kept 3 % under the rate set, so that Telegram, counting
                                    * at its end after the network's jitter, never sees more than the rate in a second */
#define MAX_WAIT_MS 5000           /* longer waits give the message back (OUTBOX_LATER) instead of holding it: a
                                    * held message must not outlast a drain (KABINET_SHUTDOWN_TIMEOUT_MS, 10 s) */

typedef struct {
    tg_t *tg;
    outbox_ticket_t *ticket;
    char conv[80], chat[32];
    int64_t thread;                /* a staff group's forum topic, or 0 */
    int staff;                     /* 1: to the staff group */
    int paid;                      /* 1: a paid broadcast's message (allow_paid_broadcast, its own rate) */
    int push;                      /* 1: lane 1 (counted by the broadcast limits) */
    int waits, part, refused;
    int64_t wait_ms, edit_id;
    cJSON *payload;
    tg_calls_t calls;
    int64_t file_id;               /* kb_file id of a document, or 0 */
    const char *direct;            /* "photo" or "document": a Telegram file sent by its file_id (tg_file_id) */
    char *file_name, *file_mime, *tg_file_id;
    unsigned char *bytes;
    size_t nbytes;
    uv_timer_t timer;
} tg_job_t;

static void job_send_next(tg_job_t *j);
static int render(tg_job_t *j, int64_t edit_id, int with_document);
static void on_timer(uv_timer_t *t);
static void on_next_part(uv_timer_t *t) { job_send_next(t->data); }

/* ---------------------------------------------------------------- settling */

static void on_timer_closed(uv_handle_t *h)
{
    tg_job_t *j = h->data;
    j->tg->sending--;
    cJSON_Delete(j->payload);
    tg_calls_free(&j->calls);
    free(j->file_name);
    free(j->file_mime);
    free(j->tg_file_id);
    free(j->bytes);
    free(j);
}

/* Settles the delivery and frees the job. */
static void job_done(tg_job_t *j, outbox_result_t r, int retry_ms, const char *error)
{
    outbox_done(j->ticket, r, retry_ms, error);
    uv_close((uv_handle_t *)&j->timer, on_timer_closed);
}

static void on_marked(int err, PGresult *res, void *data)
{
    if (err)
        log_warn("tg", "could not record an unreachable chat (%s)", db_sqlstate(res));
}

/* The chat cannot be reached (blocked, deleted, never started): mark its identity and give up its messages. */
static void unreachable(tg_job_t *j, const char *why)
{
    tg_t *tg = j->tg;
    if (j->staff) { /* the bot is not in the staff group, or the group is gone: an operator's matter */
        log_error("tg", "cannot post to the staff group %s (%s): check KABINET_STAFF_CHAT_ID and the bot's rights",
                  j->chat, why);
        job_done(j, OUTBOX_RETRY, 60000, why);
        return;
    }
    metrics_inc(tg->m_unreachable);
    log_info("tg", "chat %s unreachable (%s): its pending messages are given up until the customer writes again",
             j->chat, why);
    const char *p[] = {j->chat, why};
    db_exec(tg->db, 0, tg->q_unreachable, 2, p, on_marked, NULL);
    /* and the conversation knows it: its next step is a domain step, which marks the chat reachable again */
    char key[96];
    if (keys_conv(key, sizeof key, j->conv, KEY_STATE) > 0)
        kv_command(tg->kv, NULL, NULL, "HSET %s unreach 1", key);
    job_done(j, OUTBOX_GIVE_UP, 0, why);
}

/* One call went through: the next part of a long text (or its document) keeps the per-chat pace, one a second;
 * after the last the delivery is settled. */
static void job_advance(tg_job_t *j)
{
    if (j->part < j->calls.n || ((j->file_id || j->direct) && j->part == j->calls.n))
        uv_timer_start(&j->timer, on_next_part, 1000, 0);
    else
        job_send_next(j);
}

/* The upload's file_id is stored (or could not be: the next send uploads again, which is only slower). */
static void on_file_noted(int err, PGresult *res, void *data)
{
    tg_job_t *j = data;
    if (err)
        log_warn("tg", "could not remember an uploaded file's file_id (%s)", db_sqlstate(res));
    job_advance(j);
}

/* What Telegram's answer to one call means for the delivery. */
static void on_answer(const tg_answer_t *a, void *data)
{
    tg_job_t *j = data;
    tg_t *tg = j->tg;
    const char *method = j->part < j->calls.n ? j->calls.call[j->part].method : "sendDocument";
    char why[300];
    if (a->err == KB_ERR_CANCELED) {
        job_done(j, OUTBOX_RETRY, 1000, "cancelled at shutdown");
        return;
    }
    if (a->err) { /* never reached Telegram, or did and the answer was lost: the retry may be a duplicate */
        if (a->err == KB_ERR_TIMEOUT || a->err == KB_ERR_CONNRESET)
            metrics_inc(tg->m_possible_dups);
        snprintf(why, sizeof why, "%s: %s", method, kb_strerror(a->err));
        job_done(j, OUTBOX_RETRY, -1, why);
        return;
    }
    int edit = !strcmp(method, "editMessageText");
    if (a->ok || (edit && strstr(a->description, "message is not modified"))) {
        if ((!strcmp(method, "sendDocument") || !strcmp(method, "sendPhoto")) && !j->tg_file_id && j->file_id) {
            /* remember the upload's file_id for next time (a photo's: its largest size, the last) */
            const cJSON *doc = !strcmp(method, "sendPhoto")
                                   ? cJSON_GetArrayItem(cJSON_GetObjectItem(a->result, "photo"),
                                                        cJSON_GetArraySize(cJSON_GetObjectItem(a->result, "photo")) - 1)
                                   : cJSON_GetObjectItem(a->result, "document");
            const cJSON *fid = cJSON_GetObjectItem(doc, "file_id");
            if (cJSON_IsString(fid)) {
                /* the delivery settles only once the file_id is stored: the chat's next message, claimed after
                 * this one is settled, then finds it and does not upload the file again */
                char id[24];
                snprintf(id, sizeof id, "%lld", (long long)j->file_id);
                const char *p[] = {id, fid->valuestring};
                j->part++;
                if (db_exec(tg->db, 0, tg->q_file_id, 2, p, on_file_noted, j) != 0)
                    job_advance(j);
                return;
            }
        }
        j->part++;
        job_advance(j);
        return;
    }
    snprintf(why, sizeof why, "%s: %d %s", method, a->error_code, a->description);
    if (edit && a->error_code == 400) { /* the pressed message is gone or cannot be edited: send a new one */
        tg_calls_free(&j->calls);
        if (render(j, 0, 0) != 0) {
            job_done(j, OUTBOX_RETRY, -1, "out of memory");
            return;
        }
        j->part = 0;
        job_send_next(j);
        return;
    }
    if (a->error_code == 429) {
        int ms = (a->retry_after > 0 ? a->retry_after : 1) * 1000;
        uint64_t until = uv_now(tg->loop) + (uint64_t)ms;
        if (until > tg->pause_until)
            tg->pause_until = until;
        metrics_inc(tg->m_flood);
        log_warn("tg", "Telegram asks to slow down (429): sending paused for %d s", ms / 1000);
        job_done(j, OUTBOX_LATER, ms, why);
        return;
    }
    if (a->error_code == 403 || (a->error_code == 400 && (strstr(a->description, "chat not found") ||
                                                          strstr(a->description, "user is deactivated")))) {
        unreachable(j, why);
        return;
    }
    if (a->error_code == 400) { /* kabinet sent something Telegram refuses: a retry would be refused again */
        log_error("tg", "Telegram refused a message to chat %s (%s); not retried", j->chat, why);
        job_done(j, OUTBOX_DEAD, 0, why);
        return;
    }
    if (a->error_code == 401 || a->error_code == 404)
        log_error("tg", "Telegram refused the bot token (%d): check KABINET_TELEGRAM_TOKEN", a->error_code);
    job_done(j, OUTBOX_RETRY, -1, why);
}

/* ---------------------------------------------------------------- sending */

/* Rendered messages for a forum topic carry its message_thread_id (edits address the message itself); those of a
 * paid broadcast carry allow_paid_broadcast. */
static int add_fields(tg_job_t *j)
{
    if (!j->thread && !j->paid)
        return 0;
    for (int i = 0; i < j->calls.n; i++) {
        if (strcmp(j->calls.call[i].method, "sendMessage"))
            continue;
        cJSON *b = cJSON_Parse(j->calls.call[i].body);
        if (!b)
            return KB_ERR_NOMEM;
        if (j->thread)
            cJSON_AddNumberToObject(b, "message_thread_id", (double)j->thread);
        if (j->paid)
            cJSON_AddBoolToObject(b, "allow_paid_broadcast", 1);
        char *body = cJSON_PrintUnformatted(b);
        cJSON_Delete(b);
        if (!body)
            return KB_ERR_NOMEM;
        free(j->calls.call[i].body);
        j->calls.call[i].body = body;
    }
    return 0;
}

/* Renders the job's payload (edit_id: the message to replace, or 0), in its topic when it has one. */
static int render(tg_job_t *j, int64_t edit_id, int with_document)
{
    int rc = tg_render(j->payload, j->chat, edit_id, with_document, &j->calls);
    return rc ? rc : add_fields(j);
}

/* Sends the next rendered call, then the document, then settles. */
static void job_send_next(tg_job_t *j)
{
    tg_t *tg = j->tg;
    int rc;
    if (j->part < j->calls.n) {
        rc = tg_api_call(tg->api, j->calls.call[j->part].method, j->calls.call[j->part].body, 0, on_answer, j);
    } else if ((j->file_id || j->direct) && j->part == j->calls.n) {
        int photo = (j->direct && !strcmp(j->direct, "photo")) || (j->file_mime && !strncmp(j->file_mime, "image/", 6));
        tg_field_t f[4];
        int nf = 0;
        f[nf++] = (tg_field_t){"chat_id", j->chat};
        if (j->calls.caption) {
            f[nf++] = (tg_field_t){"caption", j->calls.caption};
            f[nf++] = (tg_field_t){"parse_mode", "HTML"};
        }
        if (j->calls.doc_markup)
            f[nf++] = (tg_field_t){"reply_markup", j->calls.doc_markup};
        if (j->tg_file_id) { /* sent before: by file_id, no upload */
            cJSON *b = cJSON_CreateObject();
            for (int i = 0; i < nf; i++)
                if (!strcmp(f[i].name, "reply_markup"))
                    cJSON_AddRawToObject(b, f[i].name, f[i].value);
                else if (!strcmp(f[i].name, "chat_id"))
                    cJSON_AddRawToObject(b, f[i].name, f[i].value);
                else
                    cJSON_AddStringToObject(b, f[i].name, f[i].value);
            cJSON_AddStringToObject(b, photo ? "photo" : "document", j->tg_file_id);
            char *body = cJSON_PrintUnformatted(b);
            cJSON_Delete(b);
            rc = body ? tg_api_call(tg->api, photo ? "sendPhoto" : "sendDocument", body, 0, on_answer, j) : KB_ERR_NOMEM;
            free(body);
        } else {
            rc = tg_api_upload(tg->api, photo ? "sendPhoto" : "sendDocument", f, nf, photo ? "photo" : "document",
                               j->file_name, j->file_mime, j->bytes, j->nbytes, on_answer, j);
        }
    } else {
        job_done(j, OUTBOX_SENT, 0, NULL);
        return;
    }
    if (rc)
        job_done(j, OUTBOX_RETRY, -1, kb_strerror(rc));
}

/* Decodes bytea's hex text form ("\x2550…"). */
static unsigned char *unhex(const char *s, size_t *n)
{
    if (strncmp(s, "\\x", 2))
        return NULL;
    s += 2;
    size_t len = strlen(s) / 2;
    unsigned char *b = malloc(len ? len : 1);
    for (size_t i = 0; b && i < len; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            free(b);
            return NULL;
        }
        b[i] = (unsigned char)v;
    }
    *n = len;
    return b;
}

static void on_file(int err, PGresult *res, void *data)
{
    tg_job_t *j = data;
    if (err) {
        job_done(j, OUTBOX_RETRY, -1, "file not readable now");
        return;
    }
    if (PQntuples(res) != 1) {
        log_error("tg", "a reply names file %lld, which is not in kb_file; sent without it", (long long)j->file_id);
        j->file_id = 0;
    } else {
        j->file_name = strdup(PQgetvalue(res, 0, 0));
        j->file_mime = strdup(PQgetvalue(res, 0, 1));
        if (!PQgetisnull(res, 0, 2))
            j->tg_file_id = strdup(PQgetvalue(res, 0, 2));
        else if (!(j->bytes = unhex(PQgetvalue(res, 0, 3), &j->nbytes))) {
            job_done(j, OUTBOX_RETRY, -1, "file not readable");
            return;
        }
    }
    if (render(j, 0, j->file_id != 0) != 0) {
        job_done(j, OUTBOX_RETRY, -1, "out of memory");
        return;
    }
    job_send_next(j);
}

/* The last guard of the broadcast limits, in this process: no more than the rate in any second of sending, even
 * when the loop was held up and slots reserved in the past all come due at once. Returns 0, or the milliseconds to
 * wait. */
static uint64_t push_window(tg_job_t *j)
{
    tg_t *tg = j->tg;
    double rate = (j->paid ? tg->opt.paid_rate : tg->opt.broadcast_rate) * RATE_MARGIN;
    int n = rate < 1 ? 1 : rate > 1000 ? 1000 : (int)rate, k = j->paid;
    uint64_t now = uv_hrtime(), *oldest = &tg->sent_ns[k][tg->sent_pos[k] % n];
    if (*oldest && now - *oldest < 1000000000ull)
        return (1000000000ull - (now - *oldest)) / 1000000 + 1;
    *oldest = now;
    tg->sent_pos[k] = (tg->sent_pos[k] + 1) % n;
    return 0;
}

/* The slots are ours: render and send (a document's file first). */
static void job_go(tg_job_t *j)
{
    tg_t *tg = j->tg;
    if (tg->stopping) { /* draining: what has not started goes back to the outbox, for the next process */
        job_done(j, OUTBOX_LATER, 1000, "stopping");
        return;
    }
    if (tg->pause_until > uv_now(tg->loop)) { /* a 429 came meanwhile */
        uv_timer_start(&j->timer, on_timer, tg->pause_until - uv_now(tg->loop), 0);
        return;
    }
    uint64_t wait = j->push ? push_window(j) : 0;
    if (wait) {
        uv_timer_start(&j->timer, on_timer, wait, 0);
        return;
    }
    if (j->direct) { /* a file Telegram has: its caption is the text */
        if (render(j, 0, 1) != 0) {
            job_done(j, OUTBOX_RETRY, -1, "out of memory");
            return;
        }
        job_send_next(j);
        return;
    }
    if (j->file_id) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)j->file_id);
        const char *p[] = {id};
        if (db_exec(tg->db, 0, tg->q_file, 1, p, on_file, j) != 0)
            job_done(j, OUTBOX_RETRY, -1, "postgres unavailable");
        return;
    }
    if (render(j, j->edit_id, 0) != 0) {
        job_done(j, OUTBOX_RETRY, -1, "out of memory");
        return;
    }
    if (j->calls.skipped_buttons)
        log_error("tg", "a reply (%s) had %d button(s) that cannot be Telegram buttons; left out",
                  cJSON_GetStringValue(cJSON_GetObjectItem(j->payload, "tmpl")), j->calls.skipped_buttons);
    job_send_next(j);
}

static void on_timer(uv_timer_t *t) { job_go(t->data); }

/* One reservation answered (per chat, and for lane 1 the global one). */
static void on_reserved(int err, int64_t wait_ms, void *data)
{
    tg_job_t *j = data;
    if (err) /* Redis away: send anyway, Telegram's own 429 still protects */
        wait_ms = 0;
    if (wait_ms < 0) { /* not reserved: that long to wait */
        j->refused = 1;
        wait_ms = -wait_ms;
    }
    if (wait_ms > j->wait_ms)
        j->wait_ms = wait_ms;
    if (--j->waits > 0)
        return;
    if (j->refused) {
        job_done(j, OUTBOX_LATER, (int)j->wait_ms, "rate limit");
        return;
    }
    uint64_t now = uv_now(j->tg->loop), wait = (uint64_t)j->wait_ms;
    if (j->tg->pause_until > now + wait)
        wait = j->tg->pause_until - now;
    metrics_observe(j->tg->m_wait, (double)wait / 1000.0);
    uv_timer_start(&j->timer, on_timer, wait, 0);
}

void tg_send_deliver(void *ctx, const outbox_msg_t *m, outbox_ticket_t *t)
{
    tg_t *tg = ctx;
    tg_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        outbox_done(t, OUTBOX_RETRY, -1, "out of memory");
        return;
    }
    j->tg = tg;
    j->ticket = t;
    snprintf(j->conv, sizeof j->conv, "%s", m->conv);
    j->payload = cJSON_Duplicate(m->payload, 1);
    uv_timer_init(tg->loop, &j->timer);
    j->timer.data = j;
    tg->sending++;
    int64_t chat = 0;
    char *end = "";
    if (!strncmp(m->conv, "tg:", 3)) {
        chat = strtoll(m->conv + 3, &end, 10);
    } else if (!strncmp(m->conv, "staff:", 6)) { /* "staff:<chat>:<topic>" */
        chat = strtoll(m->conv + 6, &end, 10);
        j->staff = 1;
        if (*end == ':')
            j->thread = strtoll(end + 1, &end, 10);
    }
    if (!chat || *end || !j->payload) {
        log_error("tg", "an outbox row for %s is not for a Telegram chat; given up", m->conv);
        job_done(j, OUTBOX_DEAD, 0, "not a Telegram conversation");
        return;
    }
    snprintf(j->chat, sizeof j->chat, "%lld", (long long)chat);
    /* a reply to a button press (event "u<update>:m<message>") may replace the pressed message: the first only */
    const char *mpos = strstr(m->event_id, ":m");
    if (m->seq == 0 && m->event_id[0] == 'u' && mpos)
        j->edit_id = atoll(mpos + 2);
    const cJSON *doc = cJSON_GetObjectItem(cJSON_GetObjectItem(m->payload, "document"), "file");
    if (cJSON_IsNumber(doc))
        j->file_id = (int64_t)doc->valuedouble;
    const cJSON *tf = cJSON_GetObjectItem(m->payload, "tg_file"); /* a photo or document staff sent, by file_id */
    const char *tf_id = cJSON_GetStringValue(cJSON_GetObjectItem(tf, "id")),
               *tf_kind = cJSON_GetStringValue(cJSON_GetObjectItem(tf, "kind"));
    if (tf_id && tf_kind && !j->file_id) {
        j->direct = !strcmp(tf_kind, "photo") ? "photo" : "document";
        j->tg_file_id = strdup(tf_id);
    }
    /* the slots: per chat always, the broadcast limit for lane 1 */
    char key[96];
    keys_conv(key, sizeof key, m->conv, KEY_RATE);
    j->push = m->lane == 1 && !j->staff;
    j->paid = j->push && tg->opt.paid_rate > 0 && cJSON_IsTrue(cJSON_GetObjectItem(m->payload, "paid"));
    rate_limit_t per_chat = {1.0, 3, MAX_WAIT_MS},
                 global = {(j->paid ? tg->opt.paid_rate : tg->opt.broadcast_rate) * RATE_MARGIN, 1, MAX_WAIT_MS};
    if (j->staff) /* every topic of a group shares the group's budget */
        tg_staff_rate(tg, chat, key, sizeof key, &per_chat);
    j->waits = m->lane == 1 ? 2 : 1;
    if (!tg->opt.chat_limit && !j->staff) /* off (a benchmark against a fake Bot API that has no limits) */
        on_reserved(0, 0, j);
    else if (rate_reserve(tg->kv, key, &per_chat, on_reserved, j) != 0)
        on_reserved(KB_ERR_NOTCONN, 0, j);
    if (m->lane == 1) {
        keys_global(key, sizeof key, j->paid ? "tg-broadcast-paid" : "tg-broadcast");
        if (rate_reserve(tg->kv, key, &global, on_reserved, j) != 0)
            on_reserved(KB_ERR_NOTCONN, 0, j);
    }
}

void tg_send_prepare(tg_t *tg)
{
    tg->q_file = db_prepare(tg->db, "SELECT name, mime, tg_file_id, CASE WHEN tg_file_id IS NULL THEN bytes END "
                                    "FROM kb_file WHERE id = $1::bigint");
    tg->q_file_id = db_prepare(tg->db, "UPDATE kb_file SET tg_file_id = $2 WHERE id = $1::bigint");
    tg->q_unreachable = db_prepare(tg->db,
        "UPDATE kb_identity SET reachable = false, unreachable_why = $2 WHERE channel = 'tg' AND external_id = $1");
}
