/* dlg_staff.c — the staff side of appeals: one conversation per forum topic of the staff group
 * ("staff:<chat>:<topic>"), whose events come only from checked members of that group (the Telegram channel checks
 * before the intake). In an appeal's topic a message goes to the customer in the customer's own channel, "note:"
 * stays internal, and the commands act on the appeal: /take, /close [reason], /bot, /reopen, /approve, /reject;
 * /ls <number> shows an account anywhere in the group, /help the commands. A message in an appeal nobody has
 * taken asks "take over?" with a button instead of going out. Every action is the core's appeal.staff or staff.ls
 * (audited with the staff member's id); what reaches the customer is an EV_STAFF event for their conversation,
 * which their dialog turns into words in their language (dlg_appeal.c).
 *
 * An event's payload carries {name, lang} of the staff member; data holds "op" (the call awaited), "text" (the
 * message waiting for "take over?"). Staff read ru unless their Telegram is in English. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "dialog.h"

static const char *const confirm_buttons[] = {"take_say", "cancel", NULL};

typedef struct {
    const dlg_event_t *ev;
    dlg_result_t *out;
    const char *lang, *name;
    char chat[24], topic[24];
} staff_t;

static void say(staff_t *s, const char *tmpl, cJSON *params, const char *const *buttons)
{
    cJSON *e = dlg_reply(s->out, tmpl, params, buttons);
    cJSON_AddStringToObject(e, "lang", s->lang);
}

static void set(staff_t *s, const char *name, cJSON *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(s->out->data, name);
    cJSON_AddItemToObject(s->out->data, name, v);
}

static const char *res(const staff_t *s, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s->ev->payload, name)) ?: "";
}

/* Asks the core to act on the topic's appeal. */
static void act(staff_t *s, const char *action, const char *text)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "chat", atof(s->chat));
    cJSON_AddNumberToObject(a, "topic", atof(s->topic));
    cJSON_AddStringToObject(a, "staff", s->ev->sender ? s->ev->sender : "");
    cJSON_AddStringToObject(a, "name", s->name);
    cJSON_AddStringToObject(a, "action", action);
    if (text)
        cJSON_AddStringToObject(a, "text", text);
    cJSON_AddStringToObject(a, "event_id", s->ev->id ? s->ev->id : "");
    set(s, "op", cJSON_CreateString("appeal.staff"));
    set(s, "name", cJSON_CreateString(s->name));
    dlg_core(s->out, "appeal.staff", a);
}

/* The command word ("/close" of "/close done") matches cmd; *arg gets what follows it. */
static int command(const staff_t *s, const char *cmd, const char **arg)
{
    const char *t = s->ev->text;
    size_t n = strlen(cmd);
    if (s->ev->kind != EV_COMMAND || !t || strncasecmp(t, cmd, n) || (t[n] && t[n] != ' '))
        return 0;
    for (t += n; *t == ' '; t++)
        ;
    *arg = t;
    return 1;
}

/* appeal.staff answered: tell the topic, and the customer through their conversation. */
static void acted(staff_t *s)
{
    const char *st = res(s, "status"), *action = res(s, "action");
    cJSON *p = cJSON_Duplicate(s->ev->payload, 1);
    if (!strcmp(st, "not_assigned")) { /* keep the message; ask first */
        snprintf(s->out->step, sizeof s->out->step, "%s", "confirm_take");
        say(s, "staff.confirm_take", p, confirm_buttons);
        return;
    }
    if (strcmp(st, "ok")) {
        char tmpl[48];
        snprintf(tmpl, sizeof tmpl, "staff.%s", st);
        say(s, tmpl, p, NULL);
        return;
    }
    if (!strcmp(action, "note")) {
        cJSON_Delete(p);
        return;
    }
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddItemToObject(ev, "appeal_id", cJSON_Duplicate(cJSON_GetObjectItem(s->ev->payload, "appeal_id"), 1));
    cJSON_AddStringToObject(ev, "name", s->name);
    static const char *const kept[] = {"said", "file", "kind"}, *const as[] = {"text", "file", "kind"};
    for (size_t i = 0; i < 3; i++) { /* what the staff member sent: text, and a file by its Telegram id */
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->out->data, kept[i]);
        if (cJSON_IsString(v))
            cJSON_AddStringToObject(ev, as[i], v->valuestring);
    }
    static const char *const copied[] = {"number", "reason"};
    for (size_t i = 0; i < 2; i++)
        if (res(s, copied[i])[0])
            cJSON_AddStringToObject(ev, copied[i], res(s, copied[i]));
    dlg_event(s->out, res(s, "conv"), EV_STAFF, action, ev);
    if (strcmp(action, "say")) { /* "say" needs no echo: the message is in the topic already */
        char tmpl[48];
        snprintf(tmpl, sizeof tmpl, "staff.done_%s", action);
        say(s, tmpl, p, NULL);
    } else {
        cJSON_Delete(p);
    }
    snprintf(s->out->step, sizeof s->out->step, "%s", "");
}

static int staff_step(const dlg_state_t *st, const dlg_event_t *ev, dlg_result_t *out)
{
    dlg_result_init(out, st);
    staff_t s = {ev, out, "ru", "", "", ""};
    const cJSON *lang = cJSON_GetObjectItem(ev->payload, "lang"), *name = cJSON_GetObjectItem(ev->payload, "name");
    if (cJSON_IsString(lang) && !strcmp(lang->valuestring, "en"))
        s.lang = "en";
    if (cJSON_IsString(name))
        s.name = name->valuestring;
    else if (ev->kind == EV_CORE_RESULT && cJSON_IsString(cJSON_GetObjectItem(st->data, "name")))
        s.name = cJSON_GetObjectItem(st->data, "name")->valuestring; /* who acted, for the answer */
    if (sscanf(ev->conv, "staff:%23[-0-9]:%23[0-9]", s.chat, s.topic) != 2)
        return -1;
    int in_topic = strcmp(s.topic, "0") != 0;
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(st->data, "op");
    const char *arg = "";
    if (ev->kind == EV_CORE_RESULT) {
        const char *o = cJSON_GetStringValue(op) ?: "";
        if (!strcmp(o, "staff.ls")) {
            cJSON *p = cJSON_Duplicate(ev->payload, 1);
            say(&s, strcmp(res(&s, "status"), "ok") ? "staff.ls_not_found" : "staff.ls", p, NULL);
        } else if (!strcmp(o, "appeal.staff")) {
            acted(&s);
        }
        return 0;
    }
    if (ev->kind == EV_TIMEOUT || ev->kind == EV_STAFF)
        return 0;
    /* a new message: whatever waited for "take over?" is dropped unless this is the answer */
    if (ev->kind == EV_BUTTON && !strcmp(st->step, "confirm_take")) {
        const cJSON *waiting = cJSON_GetObjectItemCaseSensitive(st->data, "said");
        snprintf(out->step, sizeof out->step, "%s", "");
        if (!strcmp(ev->text, "take_say") && cJSON_IsString(waiting)) {
            act(&s, "take_say", waiting->valuestring);
            set(&s, "said", cJSON_CreateString(waiting->valuestring));
            const cJSON *file = cJSON_GetObjectItemCaseSensitive(st->data, "file"),
                        *kind = cJSON_GetObjectItemCaseSensitive(st->data, "kind");
            if (cJSON_IsString(file) && cJSON_IsString(kind)) { /* a file waited: it goes too */
                cJSON *a = cJSON_GetObjectItem(cJSON_GetArrayItem(out->effects, 0), "args");
                cJSON_AddStringToObject(a, "attachment", file->valuestring);
                cJSON_AddStringToObject(a, "kind", kind->valuestring);
                set(&s, "file", cJSON_Duplicate(file, 1));
                set(&s, "kind", cJSON_Duplicate(kind, 1));
            }
        } else {
            say(&s, "staff.not_sent", NULL, NULL);
        }
        return 0;
    }
    cJSON_Delete(out->data);
    out->data = cJSON_CreateObject();
    snprintf(out->step, sizeof out->step, "%s", "");
    if (command(&s, "/ls", &arg)) {
        if (!arg[0]) {
            say(&s, "staff.ls_usage", NULL, NULL);
            return 0;
        }
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "staff", ev->sender ? ev->sender : "");
        cJSON_AddStringToObject(a, "number", arg);
        cJSON_AddStringToObject(a, "event_id", ev->id ? ev->id : "");
        set(&s, "op", cJSON_CreateString("staff.ls"));
        dlg_core(out, "staff.ls", a);
        return 0;
    }
    if (command(&s, "/help", &arg) || command(&s, "/start", &arg)) {
        say(&s, "staff.help", NULL, NULL);
        return 0;
    }
    static const char *const actions[] = {"take", "close", "bot", "reopen", "approve", "reject"};
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        char cmd[16];
        snprintf(cmd, sizeof cmd, "/%s", actions[i]);
        if (command(&s, cmd, &arg)) {
            if (!in_topic)
                say(&s, "staff.no_appeal", NULL, NULL);
            else
                act(&s, actions[i], arg[0] ? arg : NULL);
            return 0;
        }
    }
    if (ev->kind == EV_COMMAND) {
        say(&s, "staff.unknown_command", NULL, NULL);
        return 0;
    }
    if (!in_topic) /* the group's general chat: staff talk among themselves */
        return 0;
    if ((ev->kind == EV_PHOTO || ev->kind == EV_DOCUMENT) && ev->text && ev->text[0]) {
        const cJSON *caption = cJSON_GetObjectItem(ev->payload, "caption");
        act(&s, "say", cJSON_GetStringValue(caption) ?: "");
        cJSON *a = cJSON_GetObjectItem(cJSON_GetArrayItem(out->effects, 0), "args");
        cJSON_AddStringToObject(a, "attachment", ev->text);
        cJSON_AddStringToObject(a, "kind", ev->kind == EV_PHOTO ? "photo" : "document");
        set(&s, "said", cJSON_CreateString(cJSON_GetStringValue(caption) ?: ""));
        set(&s, "file", cJSON_CreateString(ev->text));
        set(&s, "kind", cJSON_CreateString(ev->kind == EV_PHOTO ? "photo" : "document"));
        return 0;
    }
    if (ev->kind != EV_TEXT || !ev->text || !ev->text[0])
        return 0;
    if (!strncasecmp(ev->text, "note:", 5)) {
        const char *t = ev->text + 5;
        while (*t == ' ')
            t++;
        act(&s, "note", t);
        return 0;
    }
    act(&s, "say", ev->text);
    set(&s, "said", cJSON_CreateString(ev->text));
    return 0;
}

/* A stale "take over?" button: the message it was for is gone; say so. */
static int staff_render(const dlg_state_t *st, dlg_result_t *out)
{
    dlg_result_init(out, st);
    cJSON *e = dlg_reply(out, "staff.not_sent", NULL, NULL);
    cJSON_AddStringToObject(e, "lang", "ru");
    return 0;
}

const dlg_def_t dlg_staff = {"staff", staff_step, staff_render};
