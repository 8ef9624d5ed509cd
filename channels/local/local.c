/* local.c — the local channel (see local.h): JSON events in, replies out of kb_outbox. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "err.h"
#include "chat.h"
#include "local.h"
#include "text.h"
#include "log.h"

struct local_s {
    engine_t *e;
    db_t *db;
    outbox_t *out;
    const db_stmt_t *q_replies, *q_replies_sms;
};

static void bad(httpd_req_t *r, int status, const char *msg)
{
    char body[256];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", msg);
    httpd_respond(r, status, "application/json", body, (size_t)n);
}

/* ---------------------------------------------------------------- inbound */

static void on_accepted(int err, int is_new, void *data)
{
    httpd_req_t *r = data;
    if (err) {
        httpd_set_header(r, "Retry-After", "1");
        bad(r, 503, "not accepted now; try again");
        return;
    }
    httpd_respond(r, 200, "application/json", is_new ? "{\"new\":true}\n" : "{\"new\":false}\n",
                  is_new ? 13 : 14);
}

/* POST /local/events */
static void on_event(httpd_req_t *r, void *data)
{
    local_t *l = data;
    size_t len;
    const char *body = httpd_body(r, &len);
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!j) {
        bad(r, 400, "body is not JSON");
        return;
    }
    const cJSON *conv = cJSON_GetObjectItemCaseSensitive(j, "conv"), *id = cJSON_GetObjectItemCaseSensitive(j, "id"),
                *kind = cJSON_GetObjectItemCaseSensitive(j, "kind"), *text = cJSON_GetObjectItemCaseSensitive(j, "text"),
                *ver = cJSON_GetObjectItemCaseSensitive(j, "ver");
    int k = dlg_kind_parse(cJSON_IsString(kind) ? kind->valuestring : "text");
    const char *why = NULL;
    if (!cJSON_IsString(conv) || strncmp(conv->valuestring, "local:", 6) || !event_conv_valid(conv->valuestring))
        why = "conv must be local:<name> (no spaces or braces, at most 100 bytes)";
    else if (!cJSON_IsString(id) || !id->valuestring[0] || strlen(id->valuestring) > 128)
        why = "id must be a string of 1 to 128 bytes";
    else if (k < 0 || k == EV_TIMEOUT || k == EV_CORE_RESULT)
        why = "kind must be text, command, button, contact, photo or document";
    else if (text && !cJSON_IsString(text))
        why = "text must be a string";
    else if (!event_utf8_valid(body, len))
        why = "the body must be valid UTF-8";
    if (why) {
        cJSON_Delete(j);
        bad(r, 400, why);
        return;
    }
    event_t ev = {.id = id->valuestring, .channel = "local", .conv = conv->valuestring, .sender = conv->valuestring + 6,
                  .text = cJSON_IsString(text) ? text->valuestring : "", .kind = (dlg_event_kind_t)k,
                  .version = cJSON_IsNumber(ver) ? (int64_t)ver->valuedouble : 0};
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    ev.ts_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    char cut[EVENT_MAX_TEXT + 1];
    size_t tl = event_text_cut(ev.text, EVENT_MAX_TEXT);
    if (tl < strlen(ev.text)) { /* cut long texts at a UTF-8 character boundary */
        memcpy(cut, ev.text, tl);
        cut[tl] = 0;
        ev.text = cut;
    }
    int rc = engine_intake(l->e, &ev, on_accepted, r);
    cJSON_Delete(j);
    if (rc) {
        httpd_set_header(r, "Retry-After", "1");
        bad(r, 503, "not accepted now; try again");
    }
}

/* ---------------------------------------------------------------- replies */

/* Adds what the customer reads to a reply: "text" from its template in its language (ru by default), and a
 * "labels" array for its buttons (templates "btn.<id>"). */
static void render(cJSON *reply)
{
    const cJSON *tmpl = cJSON_GetObjectItem(reply, "tmpl"), *lang = cJSON_GetObjectItem(reply, "lang"), *b;
    if (!cJSON_IsString(tmpl))
        return;
    const char *lg = cJSON_IsString(lang) ? lang->valuestring : "ru";
    char label[256];
    size_t size = 20000; /* the longest customer text (16 KB) and its template */
    char *text = malloc(size);
    if (!text)
        return;
    txt_render(lg, tmpl->valuestring, cJSON_GetObjectItem(reply, "params"), text, size);
    cJSON_AddStringToObject(reply, "text", text);
    free(text);
    cJSON *labels = cJSON_CreateArray();
    cJSON_ArrayForEach(b, cJSON_GetObjectItem(reply, "buttons"))
    {
        txt_button(lg, cJSON_IsString(b) ? b->valuestring : "", reply, label, sizeof label);
        cJSON_AddItemToArray(labels, cJSON_CreateString(label));
    }
    cJSON_AddItemToObject(reply, "labels", labels);
}

static void on_replies(int err, PGresult *res, void *data)
{
    httpd_req_t *r = data;
    if (err) {
        bad(r, 503, "database unavailable");
        return;
    }
    cJSON *list = cJSON_Parse(PQntuples(res) ? PQgetvalue(res, 0, 0) : "[]"), *item;
    cJSON_ArrayForEach(item, list) render(cJSON_GetObjectItem(item, "reply"));
    char *json = list ? cJSON_PrintUnformatted(list) : NULL;
    if (json)
        httpd_respond(r, 200, "application/json", json, strlen(json));
    else
        bad(r, 500, "cannot render the replies");
    free(json);
    cJSON_Delete(list);
}

/* GET /local/replies?conv=…&after=… */
static void on_get_replies(httpd_req_t *r, void *data)
{
    local_t *l = data;
    char conv[160] = "", after[24] = "0";
    int with_sms = 0;
    const char *q = httpd_query(r);
    while (q && *q) {
        size_t n = strcspn(q, "&");
        if (!strncmp(q, "conv=", 5))
            snprintf(conv, sizeof conv, "%.*s", (int)(n - 5 < sizeof conv - 1 ? n - 5 : sizeof conv - 1), q + 5);
        else if (!strncmp(q, "with_sms=1", 10))
            with_sms = 1;
        else if (!strncmp(q, "after=", 6))
            snprintf(after, sizeof after, "%lld", atoll(q + 6));
        q += n + (q[n] == '&');
    }
    if (strncmp(conv, "local:", 6) || !event_conv_valid(conv)) {
        bad(r, 400, "conv must be local:<name>");
        return;
    }
    const char *p[] = {conv, after};
    if (db_exec(l->db, 0, with_sms ? l->q_replies_sms : l->q_replies, 2, p, on_replies, r) != 0)
        bad(r, 503, "database unavailable");
}

/* ---------------------------------------------------------------- outbound */

/* The local channel has nobody to push to: a reply is delivered by being there to read. */
static void deliver(void *ctx, const outbox_msg_t *m, outbox_ticket_t *t) { outbox_done(t, OUTBOX_SENT, 0, NULL); }

/* ---------------------------------------------------------------- public */

int local_new(uv_loop_t *loop, httpd_t *h, engine_t *e, db_t *db, local_t **out)
{
    local_t *l = calloc(1, sizeof *l);
    if (!l)
        return KB_ERR_NOMEM;
    l->e = e;
    l->db = db;
    l->q_replies = db_prepare(db,
        "SELECT coalesce(json_agg(json_build_object('id', id, 'event', event_id, 'seq', seq, 'reply', payload) "
        "ORDER BY id), '[]') FROM kb_outbox WHERE conv = $1 AND id > $2::bigint");
    /* the SMS and emails this conversation caused (a login code), as the customer's phone or mailbox would show
     * them — in development no gateway or mail server need be there to read them */
    l->q_replies_sms = db_prepare(db,
        "SELECT coalesce(json_agg(json_build_object('id', id, 'event', event_id, 'seq', seq, 'channel', channel,"
        " 'to', conv, 'reply', payload) ORDER BY id), '[]') FROM kb_outbox "
        "WHERE (conv = $1 OR (channel IN ('sms', 'mail') AND payload->>'from' = $1)) AND id > $2::bigint");
    outbox_options_t oo = {{64, 64}, 10, 500, 3}; /* delivery is instant here: a short claim */
    int rc = outbox_new(loop, db, "local", deliver, l, &oo, &l->out);
    if (rc) {
        free(l);
        return rc;
    }
    httpd_route(h, "POST", "/local/events", on_event, l);
    httpd_route(h, "GET", "/local/replies", on_get_replies, l);
    *out = l;
    return outbox_start(l->out);
}

outbox_t *local_outbox(local_t *l) { return l->out; }

void local_close(local_t *l)
{
    outbox_close(l->out);
    free(l);
}

/* ---------------------------------------------------------------- the channel's seam (channel.h) */

static int local_wanted(const cfg_t *cfg) { return cfg->local_channel; }

static int local_check(cfg_t *cfg, char *err, size_t errlen)
{
    if (cfg->production && cfg->local_channel) {
        snprintf(err, errlen, "KABINET_LOCAL_CHANNEL must be off when KABINET_ENV is production");
        return KB_ERR_INVAL;
    }
    return 0;
}

static int local_create(const channel_env_t *env, void **self, char *err, size_t errlen)
{
    return local_new(env->loop, env->httpd, env->engine, env->db, (local_t **)self);
}

static outbox_t *local_lane(void *self, const char *lane) { return local_outbox(self); }

static void local_free(void *self) { local_close(self); }

/* `kabinetd chat`: a client of a running kabinetd; needs no settings of its own. */
static int local_chat(const cfg_t *cfg, int argc, char **argv)
{
    const char *who = NULL, *url = NULL;
    for (int i = 2; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--as"))
            who = argv[i + 1];
        else if (!strcmp(argv[i], "--url"))
            url = argv[i + 1];
    }
    char def[128];
    snprintf(def, sizeof def, "http://%s", getenv("KABINET_HTTP_LISTEN") ? getenv("KABINET_HTTP_LISTEN")
                                                                         : "127.0.0.1:8080");
    return chat_run(url ? url : def, who ? who : "console") ? 1 : 0;
}

const channel_def_t channel_local = {
    .name = "local", .lanes = {"local", NULL}, .check = local_check, .wanted = local_wanted, .create = local_create,
    .outbox = local_lane, .close = local_free, .command = "chat", .command_needs_cfg = 0, .run = local_chat};
