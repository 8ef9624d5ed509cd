/* dlg_appeal.c — the customer's side of an appeal to support staff. An appeal opens when the customer writes to
 * support, when a step fails three times (the bot gives up and says so), or when a meter photo needs a staff check
 * for a link. While it waits for a person or a person has it, what the customer writes at rest goes to it (the
 * staff topic); commands and buttons still work. Staff act from their topic (dlg_staff.c), and what they do reaches
 * this conversation as an EV_STAFF event: an answer, "taken", "back to the bot", "resolved" (then a rating 1–5),
 * "reopened", or the decision on a pending link.
 *
 * keep: "appeal" (the last appeal's id), "appeal_mode" ("waiting", "open"; "resolved" with "appeal_closed", the
 * time, after which free text at rest goes back to support; absent when the bot has the customer).
 * Every message added also kicks the staff sender for the appeal ("staff", "appeal:<id>"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

#define MAX_ATTACHMENT 2097152
#define REOPEN_LOOK_MS (7LL * 24 * 3600 * 1000) /* after "resolved", free text goes back to support this long */

static const char *const back[] = {"menu", NULL};
static const char *const rate_buttons[] = {"rate_1", "rate_2", "rate_3", "rate_4", "rate_5", "menu", NULL};

static void set_keep(cust_t *c, const char *name, cJSON *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(c->out->keep, name);
    if (v)
        cJSON_AddItemToObject(c->out->keep, name, v);
}

static const char *mode(const cust_t *c)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->st->keep, "appeal_mode"));
}

void app_open(cust_t *c, const char *reason, const char *text, const char *attachment, const char *kind, double size,
              long long link_id)
{
    cJSON *a = cJSON_CreateObject();
    if (c->customer)
        cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
    cJSON_AddStringToObject(a, "text", text ? text : "");
    if (attachment) {
        cJSON_AddStringToObject(a, "attachment", attachment);
        if (size > 0)
            cJSON_AddNumberToObject(a, "size", size);
    }
    cJSON_AddStringToObject(a, "kind", kind ? kind : "text");
    cJSON_AddStringToObject(a, "reason", reason);
    if (link_id)
        cJSON_AddNumberToObject(a, "link_id", (double)link_id);
    cust_call(c, "appeal.add", a);
    cust_set(c, "reason", cJSON_CreateString(reason));
}

int app_message(cust_t *c, const char *reason)
{
    const cJSON *size = cJSON_GetObjectItem(c->ev->payload, "size");
    int file = c->ev->kind == EV_PHOTO || c->ev->kind == EV_DOCUMENT;
    if (file && cJSON_IsNumber(size) && size->valuedouble > MAX_ATTACHMENT) {
        cust_say(c, "sup.too_large", NULL, back);
        return 0;
    }
    if (file && c->ev->text && c->ev->text[0]) {
        const cJSON *caption = cJSON_GetObjectItem(c->ev->payload, "caption");
        app_open(c, reason, cJSON_GetStringValue(caption), c->ev->text, c->ev->kind == EV_PHOTO ? "photo" : "document",
                 cJSON_IsNumber(size) ? size->valuedouble : 0, 0);
        return 0;
    }
    if (c->ev->kind == EV_TEXT && c->text[0]) { /* the whole message, not the cut c->text */
        app_open(c, reason, c->ev->text, NULL, "text", 0, 0);
        return 0;
    }
    return -1;
}

int app_routes(const cust_t *c)
{
    const char *m = mode(c);
    if (!m || c->out->step[0] || !(c->ev->kind == EV_TEXT || c->ev->kind == EV_PHOTO || c->ev->kind == EV_DOCUMENT))
        return 0;
    if (!strcmp(m, "resolved")) { /* a later message reopens it (or, past appeal.reopen_hours, opens a new one) */
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(c->st->keep, "appeal_closed");
        return cJSON_IsNumber(at) && c->ev->ts_ms - (int64_t)at->valuedouble < REOPEN_LOOK_MS;
    }
    return !strcmp(m, "waiting") || !strcmp(m, "open");
}

void app_result(cust_t *c)
{
    const char *reason = cJSON_GetStringValue(cust_get(c, "reason"));
    reason = reason ? reason : "asked";
    if (strcmp(cust_res(c, "status"), "ok")) { /* cannot happen short of a bug: say so, change nothing else */
        cust_say(c, "common.error", NULL, back);
        return;
    }
    const char *id = cust_res(c, "appeal_id"), *st = cust_res(c, "appeal_status");
    int fresh = !strcmp(cust_res(c, "new"), "true") || !strcmp(cust_res(c, "reopened"), "true");
    int was_live = mode(c) && strcmp(mode(c), "resolved");
    set_keep(c, "appeal", cJSON_CreateNumber(atof(id)));
    /* the customer asked for a person: what they write now goes to staff. The bot stuck, or a photo to check:
     * staff are told, and the customer stays with the bot until someone takes the appeal */
    if (!strcmp(reason, "asked") || was_live)
        set_keep(c, "appeal_mode", cJSON_CreateString(!strcmp(st, "open") ? "open" : "waiting"));
    cJSON *kick = cJSON_CreateObject();
    cJSON_AddNumberToObject(kick, "appeal_id", atof(id));
    char to[48];
    snprintf(to, sizeof to, "appeal:%s", id);
    dlg_send(c->out, "staff", to, "staff.post", kick, 0);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "appeal_id", atof(id));
    /* with no staff seat there now, nobody is promised: the appeal is kept, and answered when someone takes it */
    int staffed = !strcmp(cust_res(c, "staffed"), "true");
    if (!strcmp(reason, "stuck"))
        cust_say(c, staffed ? "sup.stuck" : "sup.stuck_kept", p, NULL);
    else if (!strcmp(reason, "link"))
        cJSON_Delete(p); /* "waiting for a staff check" was said already */
    else if (fresh || !was_live)
        cust_say(c, !strcmp(cust_res(c, "reopened"), "true") ? (staffed ? "sup.reopened" : "sup.reopened_kept")
                    : staffed                                ? "sup.sent"
                                                             : "sup.sent_kept", p, back);
    else
        cJSON_Delete(p); /* one more message in a live conversation with staff: no echo */
    const char *when = cust_res(c, "next_open");
    if (when[0]) {
        cJSON *w = cJSON_CreateObject();
        cJSON_AddStringToObject(w, "when", when);
        cust_say(c, "sup.after_hours", w, NULL);
    }
    if (!strcmp(reason, "link"))
        cust_menu(c);
    else if (strcmp(reason, "stuck")) /* stuck: the customer may still finish the step they are on */
        cust_goto(c, "");
}

/* A staff member's action on this conversation (EV_STAFF; text is the action). */
void app_staff(cust_t *c)
{
    const cJSON *p = c->ev->payload;
    const char *action = c->ev->text ? c->ev->text : "";
    cJSON *params = cJSON_Duplicate(p, 1);
    if (!params)
        params = cJSON_CreateObject();
    const cJSON *id = cJSON_GetObjectItem(p, "appeal_id"), *name = cJSON_GetObjectItem(params, "name");
    if (cJSON_IsNumber(id))
        set_keep(c, "appeal", cJSON_CreateNumber(id->valuedouble));
    if (cJSON_IsString(name)) { /* the customer reads the staff member's first name only */
        char first[96];
        snprintf(first, sizeof first, "%.*s", (int)strcspn(name->valuestring, " "), name->valuestring);
        cJSON_ReplaceItemInObject(params, "name", cJSON_CreateString(first));
    }
    if (!strcmp(action, "say") || !strcmp(action, "take_say")) {
        set_keep(c, "appeal_mode", cJSON_CreateString("open"));
        const char *file = cJSON_GetStringValue(cJSON_GetObjectItem(p, "file")),
                   *kind = cJSON_GetStringValue(cJSON_GetObjectItem(p, "kind"));
        cust_say(c, file ? "sup.staff_sends" : "sup.staff_says", params, NULL);
        if (file && kind) { /* the file itself, where the channel can carry it (by Telegram's file id) */
            cJSON *fx = cJSON_GetArrayItem(c->out->effects, cJSON_GetArraySize(c->out->effects) - 1),
                  *tf = cJSON_CreateObject();
            cJSON_AddStringToObject(tf, "id", file);
            cJSON_AddStringToObject(tf, "kind", kind);
            cJSON_AddItemToObject(fx, "tg_file", tf);
        }
    } else if (!strcmp(action, "take")) {
        set_keep(c, "appeal_mode", cJSON_CreateString("open"));
        cust_say(c, "sup.taken", params, NULL);
    } else if (!strcmp(action, "reopen")) {
        set_keep(c, "appeal_mode", cJSON_CreateString("open"));
        cust_say(c, "sup.reopened_by_staff", params, NULL);
    } else if (!strcmp(action, "bot")) {
        set_keep(c, "appeal_mode", NULL);
        cust_say(c, "sup.bot_back", params, back);
    } else if (!strcmp(action, "close")) {
        set_keep(c, "appeal_mode", cJSON_CreateString("resolved"));
        set_keep(c, "appeal_closed", cJSON_CreateNumber((double)c->ev->ts_ms));
        const char *reason = cJSON_GetStringValue(cJSON_GetObjectItem(p, "reason"));
        cust_say(c, reason && reason[0] ? "sup.closed_reason" : "sup.closed", params, NULL);
        cust_goto(c, "sup.rate");
        cust_set(c, "appeal_id", cJSON_CreateNumber(cJSON_IsNumber(id) ? id->valuedouble : 0));
        cust_ask(c, "sup.rate_ask", NULL, rate_buttons);
    } else if (!strcmp(action, "approve")) {
        cust_say(c, "acc.approved", params, NULL);
    } else if (!strcmp(action, "reject")) {
        cust_say(c, "acc.rejected", params, NULL);
    } else {
        cJSON_Delete(params);
    }
}

int app_rate_step(cust_t *c)
{
    if (!strcmp(cust_op(c), "appeal.rate")) {
        cust_say(c, !strcmp(cust_res(c, "status"), "ok") ? "sup.rated" : "sup.rate_late", NULL, NULL);
        cust_menu(c);
        return 1;
    }
    for (int i = 0; i < 5; i++)
        if (cust_button(c, rate_buttons[i])) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddItemToObject(a, "appeal_id", cJSON_Duplicate(cust_get(c, "appeal_id"), 1));
            cJSON_AddNumberToObject(a, "rating", i + 1);
            cust_call(c, "appeal.rate", a);
            return 1;
        }
    return 0; /* anything else leaves the rating unasked */
}
