/* tg_update.c — Telegram Update → event, notice or nothing (see tg_update.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "tg_update.h"

#define J(o, k) cJSON_GetObjectItemCaseSensitive(o, k)
#define MAX_STAFF_CHATS 16

static int64_t staff_chats[MAX_STAFF_CHATS];
static int nstaff_chats;

void tg_update_set_staff(const int64_t *chats, int n)
{
    nstaff_chats = 0;
    for (int i = 0; i < n && i < MAX_STAFF_CHATS; i++)
        staff_chats[nstaff_chats++] = chats[i];
}

int tg_update_is_staff(int64_t chat)
{
    for (int i = 0; i < nstaff_chats; i++)
        if (staff_chats[i] == chat)
            return 1;
    return 0;
}

/* 1 when a text is one of the staff's commands ("/take", "/close@bot reason"). */
static int staff_command(const char *t)
{
    static const char *const cmds[] = {"/take", "/close", "/bot", "/reopen", "/ls", "/approve", "/reject"};
    for (size_t i = 0; t && i < sizeof cmds / sizeof cmds[0]; i++) {
        size_t n = strlen(cmds[i]);
        if (!strncmp(t, cmds[i], n) && (!t[n] || t[n] == ' ' || t[n] == '@'))
            return 1;
    }
    return 0;
}

int tg_id(const cJSON *n, int64_t *out)
{
    if (!cJSON_IsNumber(n))
        return KB_ERR_INVAL;
    double v = n->valuedouble;
    if (v != v || v >= 9007199254740992.0 || v <= -9007199254740992.0 || (double)(int64_t)v != v)
        return KB_ERR_INVAL;
    *out = (int64_t)v;
    return 0;
}

/* Copies s (at most EVENT_MAX_TEXT bytes, cut at a character boundary) as the event's text. */
static void set_text(tg_update_t *u, const char *s)
{
    size_t n = event_text_cut(s, EVENT_MAX_TEXT);
    free(u->text);
    u->text = malloc(n + 1);
    if (u->text) {
        memcpy(u->text, s, n);
        u->text[n] = 0;
    }
}

/* A command's first word loses its "@botname" ("/start@kabinet_bot x" → "/start x"). */
static void strip_bot_name(char *t)
{
    char *at = strchr(t, '@'), *sp = strchr(t, ' ');
    if (at && sp && at < sp)
        memmove(at, sp, strlen(sp) + 1);
    else if (at && !sp)
        *at = 0;
}

static void notice(tg_update_t *u, const char *tmpl)
{
    u->action = TGU_NOTICE;
    u->notice = tmpl;
}

/* A message (not edited) in a private chat. */
static void from_message(tg_update_t *u, const cJSON *m, const cJSON *from)
{
    const cJSON *text = J(m, "text"), *contact = J(m, "contact"), *photo = J(m, "photo"), *doc = J(m, "document");
    u->action = TGU_EVENT;
    if (cJSON_IsString(text)) {
        set_text(u, text->valuestring);
        u->ev.kind = EV_TEXT;
        if (u->text && u->text[0] == '/') {
            u->ev.kind = EV_COMMAND;
            strip_bot_name(u->text);
        }
    } else if (cJSON_IsObject(contact)) {
        int64_t owner = 0, sender = 0;
        int forwarded = J(m, "forward_origin") || J(m, "forward_from") || J(m, "forward_date") ||
                        J(m, "forward_sender_name");
        const cJSON *phone = J(contact, "phone_number");
        if (forwarded || tg_id(J(contact, "user_id"), &owner) || tg_id(J(from, "id"), &sender) || owner != sender ||
            !cJSON_IsString(phone)) {
            notice(u, "tg.contact_not_yours");
            return;
        }
        set_text(u, phone->valuestring);
        u->ev.kind = EV_CONTACT;
    } else if (cJSON_IsArray(photo) && cJSON_GetArraySize(photo) > 0) {
        /* the sizes come smallest first: keep the largest */
        const cJSON *big = cJSON_GetArrayItem(photo, cJSON_GetArraySize(photo) - 1), *fid = J(big, "file_id");
        if (!cJSON_IsString(fid)) {
            notice(u, "tg.unsupported");
            return;
        }
        set_text(u, fid->valuestring);
        u->ev.kind = EV_PHOTO;
    } else if (cJSON_IsObject(doc)) {
        const cJSON *fid = J(doc, "file_id"), *size = J(doc, "file_size");
        if (!cJSON_IsString(fid)) {
            notice(u, "tg.unsupported");
            return;
        }
        if (cJSON_IsNumber(size) && size->valuedouble > TG_MAX_DOCUMENT) {
            notice(u, "tg.file_too_big");
            return;
        }
        set_text(u, fid->valuestring);
        u->ev.kind = EV_DOCUMENT;
    } else {
        notice(u, "tg.unsupported");
    }
}

/* A photo's or document's caption goes with the event (payload "caption"). */
static void add_caption(tg_update_t *u, const cJSON *m)
{
    const cJSON *caption = J(m, "caption");
    if (!cJSON_IsString(caption) || (u->ev.kind != EV_PHOTO && u->ev.kind != EV_DOCUMENT))
        return;
    if (!u->ev.payload)
        u->ev.payload = cJSON_CreateObject();
    size_t n = event_text_cut(caption->valuestring, 1024);
    char *c = strndup(caption->valuestring, n);
    if (c && event_utf8_valid(c, n))
        cJSON_AddStringToObject(u->ev.payload, "caption", c);
    free(c);
}

/* The event's fields point into the update (its id, conversation, sender, text). */
static void fill_event(tg_update_t *u, const char *channel)
{
    u->ev.id = u->id;
    u->ev.channel = (char *)channel;
    u->ev.conv = u->conv;
    u->ev.sender = u->sender;
    u->ev.text = u->text ? u->text : "";
}

/* A press of an inline button: callback_data "<version>:<button id>". Anything else (forged, or from an old
 * keyboard format) is answered with a notice and goes no further. */
static void from_callback(tg_update_t *u, const cJSON *q)
{
    const cJSON *data = J(q, "data"), *id = J(q, "id"), *msg = J(q, "message");
    if (cJSON_IsString(id))
        snprintf(u->callback_id, sizeof u->callback_id, "%s", id->valuestring);
    int64_t mid = 0;
    const char *d = cJSON_IsString(data) ? data->valuestring : "", *colon = strchr(d, ':');
    size_t vl = colon ? (size_t)(colon - d) : 0, il = colon ? strlen(colon + 1) : 0;
    int ok = colon && vl >= 1 && vl <= 18 && strspn(d, "0123456789") == vl && il >= 1 && il <= 48 &&
             strspn(colon + 1, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == il;
    if (!ok || tg_id(J(msg, "message_id"), &mid)) {
        u->action = TGU_IGNORE;
        u->callback_notice = "tg.button_invalid";
        return;
    }
    u->action = TGU_EVENT;
    u->ev.kind = EV_BUTTON;
    u->ev.version = atoll(d);
    set_text(u, colon + 1);
    /* the pressed message, which the reply may replace; a push's (version 0) keeps its text: the answer comes below */
    if (u->ev.version != 0)
        snprintf(u->id + strlen(u->id), sizeof u->id - strlen(u->id), ":m%lld", (long long)mid);
}

int tg_update_from(const cJSON *j, tg_update_t *u)
{
    memset(u, 0, sizeof *u);
    if (tg_id(J(j, "update_id"), &u->update_id) || u->update_id < 0)
        return KB_ERR_INVAL;
    snprintf(u->id, sizeof u->id, "u%lld", (long long)u->update_id);
    const cJSON *m = J(j, "message"), *cq = J(j, "callback_query"), *chat = NULL, *from = NULL, *cm = J(j, "chat_member");
    if (cm) { /* someone's membership changed: for a staff group, whether they may still act there */
        const cJSON *nm = J(cm, "new_chat_member");
        const cJSON *st = J(nm, "status");
        int64_t cid = 0, uid = 0;
        u->action = TGU_IGNORE;
        if (!tg_id(J(J(cm, "chat"), "id"), &cid) && !tg_id(J(J(nm, "user"), "id"), &uid) && tg_update_is_staff(cid) &&
            cJSON_IsString(st) && (!strcmp(st->valuestring, "left") || !strcmp(st->valuestring, "kicked") ||
                                   (!strcmp(st->valuestring, "restricted") && !cJSON_IsTrue(J(nm, "is_member"))))) {
            u->action = TGU_LEFT;
            u->staff_chat = cid;
            u->user_id = uid;
        }
        return 0;
    }
    int edited = 0;
    if (!m && (m = J(j, "edited_message")))
        edited = 1;
    if (m) {
        chat = J(m, "chat");
        from = J(m, "from");
    } else if (cq) {
        chat = J(J(cq, "message"), "chat");
        from = J(cq, "from");
    }
    int64_t chat_id = 0, user_id = 0;
    if (!chat || tg_id(J(chat, "id"), &chat_id)) { /* channel posts, polls, member updates…: nothing for us */
        if (cq && cJSON_IsString(J(cq, "id"))) {  /* a button on a message too old to carry its chat */
            snprintf(u->callback_id, sizeof u->callback_id, "%s", J(cq, "id")->valuestring);
            u->callback_notice = "tg.button_invalid";
        }
        u->action = TGU_IGNORE;
        return 0;
    }
    tg_id(J(from, "id"), &user_id);
    const cJSON *lc = J(from, "language_code");
    snprintf(u->lang, sizeof u->lang, "%s", cJSON_IsString(lc) && !strncmp(lc->valuestring, "en", 2) ? "en" : "ru");
    snprintf(u->conv, sizeof u->conv, "tg:%lld", (long long)chat_id);
    snprintf(u->sender, sizeof u->sender, "%lld", (long long)user_id);
    const cJSON *type = J(chat, "type");
    int private_chat = cJSON_IsString(type) && !strcmp(type->valuestring, "private");
    const cJSON *in = m ? m : J(cq, "message");
    if (!private_chat && tg_update_is_staff(chat_id)) {
        /* the staff group: people only, one conversation per forum topic */
        int64_t topic = 0;
        if (cJSON_IsTrue(J(in, "is_topic_message")))
            tg_id(J(in, "message_thread_id"), &topic);
        if (edited || user_id <= 0 || cJSON_IsTrue(J(from, "is_bot")) || (m && J(m, "sender_chat"))) {
            u->action = TGU_IGNORE;
            return 0;
        }
        u->staff = 1;
        u->staff_chat = chat_id;
        u->user_id = user_id;
        snprintf(u->conv, sizeof u->conv, "staff:%lld:%lld", (long long)chat_id, (long long)topic);
        if (m)
            from_message(u, m, from);
        else
            from_callback(u, cq);
        if (u->action == TGU_NOTICE) /* nothing to tell staff about a sticker */
            u->action = TGU_IGNORE;
        if (u->action == TGU_EVENT) {
            const cJSON *fn = J(from, "first_name"), *ln = J(from, "last_name"), *un = J(from, "username");
            char name[160];
            snprintf(name, sizeof name, "%s%s%s", cJSON_IsString(fn) ? fn->valuestring : "",
                     cJSON_IsString(ln) ? " " : "", cJSON_IsString(ln) ? ln->valuestring : "");
            if (!name[0] && cJSON_IsString(un))
                snprintf(name, sizeof name, "@%s", un->valuestring);
            u->ev.payload = cJSON_CreateObject();
            cJSON_AddStringToObject(u->ev.payload, "name", name);
            cJSON_AddStringToObject(u->ev.payload, "lang", u->lang);
            add_caption(u, m);
            fill_event(u, "staff");
            if (!u->text || !u->ev.payload)
                return KB_ERR_NOMEM;
            if (!event_utf8_valid(u->text, strlen(u->text)))
                u->action = TGU_IGNORE;
        }
        return 0;
    }
    if (m && cJSON_IsString(J(m, "text")) && staff_command(J(m, "text")->valuestring))
        u->refused = 1; /* a staff command outside the staff group: it changes nothing; logged by the caller */
    if (!private_chat) {
        /* a group: answer a command only (so a whole group is not answered message by message) */
        const cJSON *text = J(m, "text");
        if (cq) {
            snprintf(u->callback_id, sizeof u->callback_id, "%s",
                     cJSON_IsString(J(cq, "id")) ? J(cq, "id")->valuestring : "");
            u->callback_notice = "tg.private_only";
            u->action = TGU_IGNORE;
        } else if (!edited && cJSON_IsString(text) && text->valuestring[0] == '/')
            notice(u, "tg.private_only");
        else
            u->action = TGU_IGNORE;
        return 0;
    }
    if (user_id <= 0) {
        u->action = TGU_IGNORE;
        return 0;
    }
    if (edited)
        notice(u, "tg.edited");
    else if (m)
        from_message(u, m, from);
    else
        from_callback(u, cq);
    if (u->action == TGU_EVENT) {
        const cJSON *date = J(m ? m : J(cq, "message"), "date");
        if (m)
            add_caption(u, m);
        fill_event(u, "tg");
        int64_t secs = cq ? 0 : event_json_int(date);
        u->ev.ts_ms = secs > 0 && secs < 100000000000LL ? secs * 1000 : 0; /* a date within reason, in ms */
        if (!u->text) /* out of memory */
            return KB_ERR_NOMEM;
        if (!event_utf8_valid(u->text, strlen(u->text)))
            notice(u, "tg.unsupported");
    }
    return 0;
}

int tg_update_parse(const char *json, size_t len, tg_update_t *out)
{
    memset(out, 0, sizeof *out);
    cJSON *j = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return KB_ERR_INVAL;
    }
    int rc = tg_update_from(j, out);
    cJSON_Delete(j);
    return rc;
}

void tg_update_free(tg_update_t *u)
{
    free(u->text);
    u->text = NULL;
    cJSON_Delete(u->ev.payload);
    u->ev.payload = NULL;
}
