/* tg_staff.c — the staff group's sender. It drains the "staff" outbox: rows for "staff:<chat>:<topic>" are the
 * staff dialog's replies in a topic (sent as any Telegram reply, tg_send.c, in that topic); a row for
 * "appeal:<id>" says "this appeal has news": the poster makes sure the appeal has its forum topic (createForumTopic
 * in its branch's group, named "№ <id> · <masked phone> · <account>") and its card as the first post, then posts the
 * customer's messages not posted yet — texts merged into one post (a burst is one post), photos and documents each
 * by their Telegram file_id. Each step is recorded in kb_appeal(_message) as it succeeds, so a retry goes on where
 * the last try stopped; a row with nothing left to post costs no call. Every post of a group takes a slot of the
 * group's rate limit (KABINET_STAFF_PER_MINUTE, shared by all processes); a topic deleted by staff is opened again.
 * Messages less than 1.5 s apart wait for the burst to end and go as one post. A row for "forget:<chat>:<topic>"
 * deletes that topic (deleteForumTopic): the customer's data was erased (/forget). A 10-second timer exports appeal counts by status and ratings (kb_appeals, kb_appeal_ratings). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "keys.h"
#include "log.h"
#include "text.h"
#include "tg_internal.h"
#include "tg_render.h"
#include "tg_update.h"

#define MAX_WAIT_MS 5000           /* longer waits give the row back: a held post must not outlast a drain */
#define BURST_MS 1500              /* messages of a customer this close together go as one post */

typedef struct {
    tg_t *tg;
    outbox_ticket_t *ticket;
    char id[24], chat[24], topic[24];
    cJSON *card;                   /* kb_appeal_card, when the card is still to post */
    cJSON *msgs;                   /* the messages to post: [{id, kind, body, file}] */
    int next;                      /* the first of msgs not posted */
    char *ids;                     /* "{1,2,3}": the ids the call in flight posts */
    const char *method;
    char *body;
    void (*after)(void *);         /* what follows a successful call */
} post_t;

static void post_next(post_t *p);

/* ---------------------------------------------------------------- settling */

static void post_done(post_t *p, outbox_result_t r, int retry_ms, const char *why)
{
    outbox_done(p->ticket, r, retry_ms, why);
    p->tg->posting--;
    cJSON_Delete(p->card);
    cJSON_Delete(p->msgs);
    free(p->ids);
    free(p->body);
    free(p);
}

static void on_recorded(int err, PGresult *res, void *data)
{
    post_t *p = data;
    if (err) {
        post_done(p, OUTBOX_RETRY, -1, "cannot record the post");
        return;
    }
    post_next(p);
}

/* ---------------------------------------------------------------- one Bot API call, in the group's pace */

static void on_answer(const tg_answer_t *a, void *data)
{
    post_t *p = data;
    char why[300];
    snprintf(why, sizeof why, "%s: %s%d %s", p->method, a->err ? kb_strerror(a->err) : "", a->error_code,
             a->description ? a->description : "");
    if (a->err) {
        post_done(p, OUTBOX_RETRY, -1, why);
        return;
    }
    if (!strcmp(p->method, "deleteForumTopic") && (a->ok || (a->error_code == 400 && a->description &&
                                                            strstr(a->description, "TOPIC_ID_INVALID")))) {
        post_done(p, OUTBOX_SENT, -1, NULL); /* gone (or gone already) */
        return;
    }
    if (a->ok) {
        metrics_inc(p->tg->m_staff_posts);
        if (!strcmp(p->method, "createForumTopic")) {
            const cJSON *t = cJSON_GetObjectItem(a->result, "message_thread_id");
            snprintf(p->topic, sizeof p->topic, "%lld", cJSON_IsNumber(t) ? (long long)t->valuedouble : 0LL);
            const char *q[] = {p->id, p->chat, p->topic};
            db_exec(p->tg->db, 0, p->tg->q_topic, 3, q, on_recorded, p);
        } else if (p->ids) {
            const char *q[] = {p->ids};
            db_exec(p->tg->db, 0, p->tg->q_posted, 1, q, on_recorded, p);
        } else {
            const char *q[] = {p->id};
            db_exec(p->tg->db, 0, p->tg->q_card_posted, 1, q, on_recorded, p);
        }
        return;
    }
    if (a->error_code == 429) {
        int ms = (a->retry_after > 0 ? a->retry_after : 1) * 1000;
        uint64_t until = uv_now(p->tg->loop) + (uint64_t)ms;
        if (until > p->tg->pause_until)
            p->tg->pause_until = until;
        metrics_inc(p->tg->m_flood);
        post_done(p, OUTBOX_LATER, ms, why);
        return;
    }
    if (a->error_code == 400 && strstr(a->description, "thread not found")) { /* staff deleted the topic */
        log_warn("tg", "the topic of appeal %s is gone; opening a new one", p->id);
        const char *q[] = {p->id};
        db_exec(p->tg->db, 0, p->tg->q_topic_lost, 1, q, NULL, NULL);
        post_done(p, OUTBOX_RETRY, 1000, why);
        return;
    }
    if (a->error_code == 400 || a->error_code == 403) {
        log_error("tg", "the staff group %s refused a post of appeal %s (%s): check KABINET_STAFF_CHAT_ID, that it is "
                  "a forum and that the bot may manage topics", p->chat, p->id, why);
        post_done(p, OUTBOX_RETRY, 60000, why);
        return;
    }
    post_done(p, OUTBOX_RETRY, -1, why);
}

static void on_slot_wait(uv_timer_t *t);

static void on_slot(int err, int64_t wait_ms, void *data)
{
    post_t *p = data;
    if (err)
        wait_ms = 0;
    if (wait_ms < 0) {
        post_done(p, OUTBOX_LATER, (int)-wait_ms, "staff group rate limit");
        return;
    }
    uint64_t now = uv_now(p->tg->loop);
    if (p->tg->pause_until > now + (uint64_t)wait_ms)
        wait_ms = (int64_t)(p->tg->pause_until - now);
    if (wait_ms > MAX_WAIT_MS) {
        post_done(p, OUTBOX_LATER, (int)wait_ms, "paused by a 429");
        return;
    }
    uv_timer_t *t = malloc(sizeof *t);
    if (!t) {
        post_done(p, OUTBOX_RETRY, -1, "out of memory");
        return;
    }
    uv_timer_init(p->tg->loop, t);
    t->data = p;
    uv_timer_start(t, on_slot_wait, (uint64_t)wait_ms, 0);
}

static void free_handle(uv_handle_t *h) { free(h); }

static void on_slot_wait(uv_timer_t *t)
{
    post_t *p = t->data;
    uv_close((uv_handle_t *)t, free_handle);
    if (p->tg->stopping) { /* draining: the next process posts it */
        post_done(p, OUTBOX_LATER, 1000, "stopping");
        return;
    }
    if (tg_api_call(p->tg->api, p->method, p->body, 0, on_answer, p) != 0)
        post_done(p, OUTBOX_RETRY, -1, "cannot call Telegram");
}

/* Calls method with body (owned) once the group's rate limit gives a slot. */
static void call(post_t *p, const char *method, char *body)
{
    free(p->body);
    p->method = method;
    p->body = body;
    if (!body) {
        post_done(p, OUTBOX_RETRY, -1, "out of memory");
        return;
    }
    char key[96];
    rate_limit_t lim;
    tg_staff_rate(p->tg, atoll(p->chat), key, sizeof key, &lim);
    if (rate_reserve(p->tg->kv, key, &lim, on_slot, p) != 0)
        on_slot(KB_ERR_NOTCONN, 0, p);
}

static cJSON *message_body(post_t *p)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddRawToObject(b, "chat_id", p->chat);
    cJSON_AddRawToObject(b, "message_thread_id", p->topic);
    return b;
}

static char *print(cJSON *b)
{
    char *s = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    return s;
}

/* Sends text (rendered, plain) as HTML-escaped text in the topic. */
static void send_text(post_t *p, const char *text)
{
    char *esc = txt_html_escape(text, strlen(text));
    size_t n = esc ? event_text_cut(esc, 4000) : 0;
    if (esc)
        esc[n] = 0;
    cJSON *b = message_body(p);
    cJSON_AddStringToObject(b, "text", esc ? esc : "");
    cJSON_AddStringToObject(b, "parse_mode", "HTML");
    free(esc);
    call(p, "sendMessage", print(b));
}

/* Sends template tmpl rendered with params (freed here) in the topic. */
static void send_rendered(post_t *p, const char *tmpl, cJSON *params)
{
    size_t size = 16384;
    char *text = malloc(size);
    if (!text) {
        cJSON_Delete(params);
        post_done(p, OUTBOX_RETRY, -1, "out of memory");
        return;
    }
    txt_render("ru", tmpl, params, text, size);
    cJSON_Delete(params);
    send_text(p, text);
    free(text);
}

/* ---------------------------------------------------------------- the card */

/* One line of the conversation for the card: what the customer said, or the bot's reply rendered. */
static void history_line(const cJSON *h, cJSON *items)
{
    char text[600];
    const char *dir = cJSON_GetStringValue(cJSON_GetObjectItem(h, "dir"));
    const cJSON *reply = cJSON_GetObjectItem(h, "reply");
    if (dir && !strcmp(dir, "out") && reply) { /* a login code the bot sent: never shown */
        const char *lang = cJSON_GetStringValue(cJSON_GetObjectItem(reply, "lang"));
        cJSON *params = cJSON_Duplicate(cJSON_GetObjectItem(reply, "params"), 1);
        if (cJSON_GetObjectItem(params, "code"))
            cJSON_ReplaceItemInObject(params, "code", cJSON_CreateString("••••••"));
        txt_render(lang ? lang : "ru", cJSON_GetStringValue(cJSON_GetObjectItem(reply, "tmpl")) ?: "", params, text,
                   sizeof text);
        cJSON_Delete(params);
    } else {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(h, "text")) ?: "";
        if (!strncmp(t, "btn:", 4)) { /* a button: its label */
            char key[64];
            snprintf(key, sizeof key, "btn.%s", t + 4);
            if (txt_render("ru", key, NULL, text, sizeof text) != 0)
                snprintf(text, sizeof text, "%s", t + 4);
        } else {
            snprintf(text, sizeof text, "%s", t);
        }
    }
    char masked[sizeof text];
    snprintf(text, sizeof text, "%s", log_mask_text(text, masked, sizeof masked)); /* phones, emails: as in logs */
    size_t n = event_text_cut(text, 160);
    if (n < strlen(text))
        snprintf(text + n, sizeof text - n, "…");
    for (char *c = text; *c; c++)
        if (*c == '\n')
            *c = ' ';
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "line", dir && !strcmp(dir, "out") ? "staff.card_out" : "staff.card_in");
    cJSON_AddStringToObject(it, "text", text);
    cJSON_AddItemToArray(items, it);
}

/* The customer's phone as kb_appeal_card masks it (the customer's own, or an SMS conversation's number), or "—". */
static const char *card_phone(const cJSON *card)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(card, "phone")) ?: "—";
}

/* The card's parameters from kb_appeal_card: accounts with their readings as one line each, the history. */
static cJSON *card_params(const cJSON *card)
{
    cJSON *p = cJSON_Duplicate(card, 1), *accounts = cJSON_CreateArray(), *hist = cJSON_CreateArray();
    const cJSON *a, *h;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(card, "accounts"))
    {
        char readings[400] = "";
        size_t off = 0;
        const cJSON *m, *r;
        cJSON_ArrayForEach(m, cJSON_GetObjectItem(a, "meters"))
        {
            cJSON_ArrayForEach(r, cJSON_GetObjectItem(m, "last"))
            {
                char *v = cJSON_PrintUnformatted(cJSON_GetObjectItem(r, "value"));
                off += (size_t)snprintf(readings + off, off < sizeof readings ? sizeof readings - off : 0,
                                        "%s%s T%d %s (%s)", off ? "; " : "",
                                        cJSON_GetStringValue(cJSON_GetObjectItem(m, "serial")) ?: "",
                                        cJSON_GetObjectItem(r, "zone") ? cJSON_GetObjectItem(r, "zone")->valueint : 1,
                                        v ? v : "", cJSON_GetStringValue(cJSON_GetObjectItem(r, "day")) ?: "");
                free(v);
                if (off >= sizeof readings)
                    off = sizeof readings - 1;
            }
        }
        cJSON *it = cJSON_Duplicate(a, 1);
        cJSON_DeleteItemFromObject(it, "meters");
        cJSON_AddStringToObject(it, "readings", readings[0] ? readings : "—");
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(a, "status"));
        cJSON_AddStringToObject(it, "line", st && !strcmp(st, "pending") ? "staff.card_account_pending"
                                                                         : "staff.card_account");
        cJSON_AddItemToArray(accounts, it);
    }
    cJSON_ArrayForEach(h, cJSON_GetObjectItem(card, "history"))
        history_line(h, hist);
    cJSON_ReplaceItemInObject(p, "accounts", accounts);
    cJSON_ReplaceItemInObject(p, "history", hist);
    const char *reason = cJSON_GetStringValue(cJSON_GetObjectItem(card, "reason")) ?: "asked";
    char key[48], why[200];
    snprintf(key, sizeof key, "staff.reason_%s", reason);
    txt_render("ru", key, NULL, why, sizeof why);
    cJSON_AddStringToObject(p, "why", why);
    cJSON_ReplaceItemInObject(p, "phone", cJSON_CreateString(card_phone(card)));
    cJSON_ReplaceItemInObject(p, "name", cJSON_CreateString(cJSON_GetStringValue(cJSON_GetObjectItem(card, "name")) ?: ""));
    return p;
}

/* ---------------------------------------------------------------- the steps */

/* A field of message i of msgs as text ("" when absent or null). */
static const char *msg_field(const post_t *p, int i, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(p->msgs, i), name);
    static char num[24];
    if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof num, "%lld", (long long)v->valuedouble);
        return num;
    }
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* 1 when message i goes as a file (a photo or a document with its file id). */
static int msg_is_file(const post_t *p, int i)
{
    return strcmp(msg_field(p, i, "kind"), "text") && msg_field(p, i, "file")[0];
}

/* Posts the next of the customer's messages: texts up to the next file merged into one post, or one file. */
static void post_messages(post_t *p)
{
    int n = cJSON_GetArraySize(p->msgs);
    if (p->next >= n) {
        post_done(p, OUTBOX_SENT, 0, NULL);
        return;
    }
    free(p->ids);
    p->ids = NULL;
    if (msg_is_file(p, p->next)) { /* a photo or a document, by file_id */
        char caption[1100];
        const char *kind = msg_field(p, p->next, "kind"), *body = msg_field(p, p->next, "body");
        int64_t id = atoll(msg_field(p, p->next, "id"));
        cJSON *params = cJSON_CreateObject();
        cJSON_AddStringToObject(params, "text", body);
        txt_render("ru", body[0] ? "staff.customer_file_text" : "staff.customer_file", params, caption, sizeof caption);
        cJSON_Delete(params);
        cJSON *b = message_body(p);
        cJSON_AddStringToObject(b, !strcmp(kind, "photo") ? "photo" : "document", msg_field(p, p->next, "file"));
        cJSON_AddStringToObject(b, "caption", caption);
        p->ids = db_id_array(&id, 1);
        p->next++;
        call(p, !strcmp(kind, "photo") ? "sendPhoto" : "sendDocument", print(b));
        return;
    }
    /* texts, merged */
    int64_t ids[50]; /* q_unposted reads at most 50 */
    size_t nids = 0;
    cJSON *lines = cJSON_CreateArray();
    for (; p->next < n && !msg_is_file(p, p->next) && nids < 50; p->next++) {
        ids[nids++] = atoll(msg_field(p, p->next, "id"));
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "text", msg_field(p, p->next, "body"));
        cJSON_AddItemToArray(lines, it);
    }
    if (!(p->ids = db_id_array(ids, nids))) {
        cJSON_Delete(lines);
        post_done(p, OUTBOX_RETRY, -1, "out of memory");
        return;
    }
    cJSON *params = cJSON_CreateObject();
    cJSON_AddItemToObject(params, "lines", lines);
    send_rendered(p, "staff.customer_says", params);
}

static void on_unposted(int err, PGresult *res, void *data)
{
    post_t *p = data;
    if (err) {
        post_done(p, OUTBOX_RETRY, -1, "postgres unavailable");
        return;
    }
    p->msgs = cJSON_Parse(PQgetvalue(res, 0, 0));
    p->next = 0;
    if (!cJSON_IsArray(p->msgs)) {
        post_done(p, OUTBOX_RETRY, -1, "unreadable messages");
        return;
    }
    double newest_ms = PQgetisnull(res, 0, 1) ? BURST_MS : atof(PQgetvalue(res, 0, 1));
    if (newest_ms < BURST_MS) { /* the customer is still typing: wait for the burst to end, then post it as one */
        post_done(p, OUTBOX_LATER, BURST_MS - (int)newest_ms, "merging a burst");
        return;
    }
    post_messages(p);
}

/* After each recorded step: the topic, then the card, then the messages. */
static void post_next(post_t *p)
{
    if (p->ids) { /* a post of messages was recorded: the next ones */
        post_messages(p);
        return;
    }
    if (!strcmp(p->topic, "0") || !p->topic[0]) {
        const cJSON *card = p->card;
        char name[200], account[64];
        snprintf(account, sizeof account, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(card, "account")) ?: "—");
        cJSON *np = cJSON_CreateObject();
        cJSON_AddStringToObject(np, "appeal_id", p->id);
        cJSON_AddStringToObject(np, "phone", card_phone(card));
        cJSON_AddStringToObject(np, "account", account);
        txt_render("ru", "staff.topic_name", np, name, sizeof name);
        cJSON_Delete(np);
        name[event_text_cut(name, 120)] = 0;
        cJSON *b = cJSON_CreateObject();
        cJSON_AddRawToObject(b, "chat_id", p->chat);
        cJSON_AddStringToObject(b, "name", name);
        call(p, "createForumTopic", print(b));
        return;
    }
    if (p->card) { /* the card goes first */
        cJSON *params = card_params(p->card);
        cJSON_Delete(p->card);
        p->card = NULL;
        send_rendered(p, "staff.card", params);
        return;
    }
    const char *q[] = {p->id};
    if (db_exec(p->tg->db, 0, p->tg->q_unposted, 1, q, on_unposted, p) != 0)
        post_done(p, OUTBOX_RETRY, -1, "postgres unavailable");
}

/* The appeal: its group and topic, and the card while it is not posted. */
static void on_appeal(int err, PGresult *res, void *data)
{
    post_t *p = data;
    if (err) {
        post_done(p, OUTBOX_RETRY, -1, "postgres unavailable");
        return;
    }
    if (PQntuples(res) != 1) {
        post_done(p, OUTBOX_DEAD, 0, "no such appeal");
        return;
    }
    p->card = cJSON_Parse(PQgetvalue(res, 0, 3));
    if (!PQgetisnull(res, 0, 0)) {
        snprintf(p->chat, sizeof p->chat, "%s", PQgetvalue(res, 0, 0));
        snprintf(p->topic, sizeof p->topic, "%s", PQgetisnull(res, 0, 1) ? "0" : PQgetvalue(res, 0, 1));
    } else { /* the branch's own group, else the default one */
        const char *branch = cJSON_GetStringValue(cJSON_GetObjectItem(p->card, "branch")) ?: "";
        int64_t chat = p->tg->staff_chat[0];
        for (int i = 1; i < p->tg->nstaff; i++)
            if (!strcmp(p->tg->staff_branch[i], branch))
                chat = p->tg->staff_chat[i];
        snprintf(p->chat, sizeof p->chat, "%lld", (long long)chat);
        snprintf(p->topic, sizeof p->topic, "0");
    }
    if (PQgetvalue(res, 0, 2)[0] == 't') {
        cJSON_Delete(p->card);
        p->card = NULL;
    }
    post_next(p);
}

void tg_staff_deliver(void *ctx, const outbox_msg_t *m, outbox_ticket_t *t)
{
    tg_t *tg = ctx;
    if (!strncmp(m->conv, "forget:", 7)) { /* a customer's data was erased: their topic goes */
        post_t *p = calloc(1, sizeof *p);
        const cJSON *chat = cJSON_GetObjectItem(m->payload, "chat"), *topic = cJSON_GetObjectItem(m->payload, "topic");
        if (!p || !cJSON_IsNumber(chat) || !cJSON_IsNumber(topic)) {
            free(p);
            outbox_done(t, p ? OUTBOX_RETRY : OUTBOX_DEAD, -1, "not a topic to delete");
            return;
        }
        p->tg = tg;
        p->ticket = t;
        tg->posting++;
        snprintf(p->chat, sizeof p->chat, "%lld", (long long)chat->valuedouble);
        snprintf(p->topic, sizeof p->topic, "%lld", (long long)topic->valuedouble);
        cJSON *b = cJSON_CreateObject();
        cJSON_AddRawToObject(b, "chat_id", p->chat);
        cJSON_AddRawToObject(b, "message_thread_id", p->topic);
        call(p, "deleteForumTopic", print(b));
        return;
    }
    if (strncmp(m->conv, "appeal:", 7)) { /* the staff dialog's reply in a topic */
        tg_send_deliver(ctx, m, t);
        return;
    }
    post_t *p = calloc(1, sizeof *p);
    char *end;
    long long id = strtoll(m->conv + 7, &end, 10);
    if (!p || id <= 0 || *end) {
        free(p);
        outbox_done(t, p ? OUTBOX_DEAD : OUTBOX_RETRY, -1, "not an appeal");
        return;
    }
    p->tg = tg;
    p->ticket = t;
    tg->posting++;
    snprintf(p->id, sizeof p->id, "%lld", id);
    const char *q[] = {p->id};
    if (db_exec(tg->db, 0, tg->q_appeal, 1, q, on_appeal, p) != 0)
        post_done(p, OUTBOX_RETRY, -1, "postgres unavailable");
}

void tg_staff_rate(tg_t *tg, int64_t chat, char *key, size_t size, rate_limit_t *lim)
{
    char name[48];
    snprintf(name, sizeof name, "staff-rate:%lld", (long long)chat);
    keys_global(key, size, name);
    lim->per_s = tg->opt.staff_per_minute / 60.0;
    lim->burst = 3;
    lim->max_wait_ms = MAX_WAIT_MS;
}

/* ---------------------------------------------------------------- metrics */

static void on_ratings_timer(uv_timer_t *t);

static void on_ratings(int err, PGresult *res, void *data)
{
    tg_t *tg = data;
    if (err)
        return;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *kind = PQgetvalue(res, i, 0), *key = PQgetvalue(res, i, 1);
        double n = atof(PQgetvalue(res, i, 2));
        static const char *const statuses[] = {"bot", "waiting", "open", "resolved"};
        if (!strcmp(kind, "rating") && atoi(key) >= 1 && atoi(key) <= 5)
            metrics_set(tg->m_ratings[atoi(key) - 1], n);
        for (int s = 0; s < 4 && !strcmp(kind, "status"); s++)
            if (!strcmp(key, statuses[s]))
                metrics_set(tg->m_appeals[s], n);
    }
}

void tg_staff_start(tg_t *tg)
{
    if (tg->staff_out) {
        outbox_start(tg->staff_out);
        uv_timer_start(&tg->ratings_timer, on_ratings_timer, 0, 10000);
    }
}

/* Every 10 s: the appeals' metrics, and this staff seat marked as there (kb_staff_seat: customers are told an
 * appeal will be read only while a seat is). */
static void on_ratings_timer(uv_timer_t *t)
{
    tg_t *tg = t->data;
    db_exec(tg->db, 0, tg->q_ratings, 0, NULL, on_ratings, tg);
    db_exec(tg->db, 0, tg->q_seat, 0, NULL, NULL, NULL);
}

/* ---------------------------------------------------------------- set-up */

int tg_staff_new(tg_t *tg)
{
    tg->nstaff = 1;
    tg->staff_chat[0] = tg->opt.staff_chat;
    const char *s = tg->opt.staff_branches ? tg->opt.staff_branches : "";
    while (*s && tg->nstaff < 16) { /* "code=chat,code=chat" (validated by the config) */
        char code[24];
        long long chat;
        int used = 0;
        if (sscanf(s, " %23[^=,]=%lld%n", code, &chat, &used) != 2)
            break;
        snprintf(tg->staff_branch[tg->nstaff], sizeof tg->staff_branch[0], "%s", code);
        tg->staff_chat[tg->nstaff++] = chat;
        s += used;
        while (*s == ',' || *s == ' ')
            s++;
    }
    tg_update_set_staff(tg->staff_chat, tg->nstaff);
    tg->q_appeal = db_prepare(tg->db, "SELECT staff_chat, topic_id, card_posted, kb_appeal_card(id)::text "
                                      "FROM kb_appeal WHERE id = $1::bigint");
    tg->q_topic = db_prepare(tg->db, "UPDATE kb_appeal SET staff_chat = $2::bigint, topic_id = $3::bigint "
                                     "WHERE id = $1::bigint");
    tg->q_card_posted = db_prepare(tg->db, "UPDATE kb_appeal SET card_posted = true WHERE id = $1::bigint");
    tg->q_topic_lost = db_prepare(tg->db, "UPDATE kb_appeal SET staff_chat = NULL, topic_id = NULL, "
                                          "card_posted = false WHERE id = $1::bigint");
    tg->q_unposted = db_prepare(tg->db,
        "SELECT coalesce(json_agg(json_build_object('id', id, 'kind', kind, 'body', body, 'file', attachment_file)"
        " ORDER BY id), '[]'), extract(epoch FROM clock_timestamp() - max(created_at)) * 1000 "
        "FROM (SELECT * FROM kb_appeal_message WHERE appeal_id = $1::bigint AND author = 'customer' "
        "      AND posted_at IS NULL ORDER BY id LIMIT 50) m");
    tg->q_posted = db_prepare(tg->db, "UPDATE kb_appeal_message SET posted_at = now() WHERE id = ANY($1::bigint[])");
    tg->q_ratings = db_prepare(tg->db, "SELECT 'rating', rating::text, count(*) FROM kb_appeal WHERE rating IS NOT NULL "
                                       "GROUP BY rating UNION ALL SELECT 'status', status, count(*) FROM kb_appeal "
                                       "GROUP BY status");
    tg->q_seat = db_prepare(tg->db, "INSERT INTO kb_staff_seat (channel, seen_at) VALUES ('tg', now()) "
                                    "ON CONFLICT (channel) DO UPDATE SET seen_at = now()");
    for (int i = 0; i < 5; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "rating=\"%d\"", i + 1);
        tg->m_ratings[i] = metrics_gauge("kb_appeal_ratings", "Appeals rated by customers, by rating", labels);
    }
    static const char *const statuses[] = {"bot", "waiting", "open", "resolved"};
    for (int i = 0; i < 4; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "status=\"%s\"", statuses[i]);
        tg->m_appeals[i] = metrics_gauge("kb_appeals", "Appeals by status", labels);
    }
    tg->m_staff_posts = metrics_counter("kb_staff_posts_total", "Posts to the staff groups (topics, cards, messages)", "");
    outbox_options_t oo = {{8, 8}, 50, 1000, 15};
    return outbox_new(tg->loop, tg->db, "staff", tg_staff_deliver, tg, &oo, &tg->staff_out);
}

void tg_staff_close(tg_t *tg)
{
    if (tg->staff_out)
        outbox_close(tg->staff_out);
}
