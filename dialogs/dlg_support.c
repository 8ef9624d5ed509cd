/* dlg_support.c — support: what the customer writes (text, or a photo or document up to 2 MB) joins their open
 * appeal (dlg_appeal.c; the first message opens one, and staff answer in the same chat), and settings
 * (customer.settings, customer.set): the language of replies, notifications on or off and where they come,
 * monthly bills by email (the first time without a confirmed email: the address is asked for and confirmed with a code sent to it,
 * auth.code_send / auth.code_verify with customer_id) and paper bills off or on (the primary account's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

static const char *const back[] = {"menu", NULL};

static cJSON *who(const cust_t *c)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
    return a;
}

/* ---------------------------------------------------------------- support */

void sup_start(cust_t *c)
{
    cust_goto(c, "sup.text");
    cust_ask(c, "sup.ask", NULL, back);
}

int sup_step(cust_t *c)
{
    if (app_message(c, "asked") != 0)
        cust_fail(c, "sup.ask", NULL, back);
    return 0;
}

/* ---------------------------------------------------------------- settings */

void set_start(cust_t *c)
{
    cust_goto(c, "set.menu");
    cust_call(c, "customer.settings", who(c));
}

static void set(cust_t *c, const char *field, const char *value)
{
    cJSON *a = who(c);
    cJSON_AddStringToObject(a, "field", field);
    cJSON_AddStringToObject(a, "value", value);
    cJSON_AddStringToObject(a, "event_id", c->ev->id ? c->ev->id : "");
    cust_call(c, "customer.set", a);
}

/* The address steps (set.email…, set.phone…): an address typed (a code goes to it), or the code from it typed. The
 * step's data says what for: "ebill" (bills by email, asked when turning them on without an email) or "add" (Settings
 * → add an email or a phone: then the customer may write from it too). The address may turn out to be another
 * customer's — the same person registered twice — and the core makes the two one; their other chats are told. */
static int is_phone_step(const cust_t *c) { return !strncmp(c->out->step, "set.phone", 9); }

static void address_added(cust_t *c)
{
    const cJSON *merged = cJSON_GetObjectItem(c->ev->payload, "merged"), *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(merged, "convs")) if (cJSON_IsString(v) && strcmp(v->valuestring, c->ev->conv))
    {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "customer_id", (double)c->customer);
        cJSON_AddItemToObject(p, "from", cJSON_Duplicate(cJSON_GetObjectItem(merged, "from"), 1));
        dlg_event(c->out, v->valuestring, EV_STAFF, "rebind", p);
    }
    const cJSON *addr = cust_get(c, is_phone_step(c) ? "phone" : "email");
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "address", cJSON_GetStringValue(addr) ?: "");
    cust_say(c, cJSON_IsObject(merged) ? "set.address_merged" : is_phone_step(c) ? "set.phone_added" : "set.email_added",
             p, NULL);
    cust_menu(c);
}

static void address_step(cust_t *c)
{
    const char *op = cust_op(c), *st = cust_res(c, "status"), *key = is_phone_step(c) ? "phone" : "email";
    int add = !strcmp(cJSON_GetStringValue(cust_get(c, "purpose")) ?: "", "add");
    static const char *const again[] = {"resend", "menu", NULL};
    if (!strcmp(op, "auth.code_send") && !strcmp(st, "sent")) {
        char to[128];
        cJSON *p = cJSON_CreateObject(), *sent = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "code", cust_res(c, "code"));
        if (is_phone_step(c)) {
            snprintf(to, sizeof to, "sms:%s", cust_res(c, "phone"));
            dlg_send(c->out, "sms", to, "reg.code_sms", p, 0);
        } else {
            snprintf(to, sizeof to, "mail:%s", cust_res(c, "address"));
            dlg_send(c->out, "mail", to, "set.email_code_mail", p, 0);
        }
        const char *addr = is_phone_step(c) ? cust_res(c, "phone") : cust_res(c, "address");
        cJSON_AddStringToObject(sent, key, addr);
        if (is_phone_step(c))
            cust_goto(c, "set.phone_code");
        else
            cust_goto(c, "set.email_code");
        cust_set(c, key, cJSON_CreateString(addr));
        cust_set(c, "purpose", cJSON_CreateString(add ? "add" : "ebill"));
        cust_ask(c, is_phone_step(c) ? "reg.code_sent" : "set.email_code_sent", sent, again);
    } else if (!strcmp(op, "auth.code_send")) {
        cust_fail(c, strcmp(st, "invalid_phone") ? "reg.limit" : is_phone_step(c) ? "reg.phone_invalid"
                                                                                 : "set.email_invalid", NULL, back);
    } else if (!strcmp(op, "auth.code_verify") && !strcmp(st, "ok")) {
        if (add)
            address_added(c);
        else
            set(c, "email_bills", "true");
    } else if (!strcmp(op, "auth.code_verify")) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "left", atof(cust_res(c, "attempts_left")));
        cust_fail(c, !strcmp(st, "wrong") ? "reg.code_wrong" : !strcmp(st, "invalid_code") ? "reg.code_format"
                   : !strcmp(st, "locked") ? "reg.code_locked" : "reg.code_expired", p, again);
    } else if ((!strcmp(c->out->step, "set.email") || !strcmp(c->out->step, "set.phone")) &&
               (c->ev->kind == EV_TEXT || c->ev->kind == EV_CONTACT) && c->text[0]) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, key, c->text);
        cust_call(c, "auth.code_send", a);
    } else if (cust_button(c, "resend")) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, key, cJSON_GetStringValue(cust_get(c, key)) ?: "");
        cust_call(c, "auth.code_send", a);
    } else if (c->ev->kind == EV_TEXT && c->text[0] && strcmp(c->out->step, "set.email") &&
               strcmp(c->out->step, "set.phone")) {
        char digits[8] = "";
        size_t n = 0;
        for (const char *p = c->text; *p && n < 7; p++)
            if (*p != ' ' && *p != '-')
                digits[n++] = *p;
        digits[n] = 0;
        cJSON *a = who(c);
        cJSON_AddStringToObject(a, key, cJSON_GetStringValue(cust_get(c, key)) ?: "");
        cJSON_AddStringToObject(a, "code", digits);
        cJSON_AddStringToObject(a, "channel", c->ev->channel ? c->ev->channel : "local");
        cJSON_AddStringToObject(a, "external_id", c->ev->sender && c->ev->sender[0] ? c->ev->sender : c->ev->conv);
        cJSON_AddStringToObject(a, "event_id", c->ev->id ? c->ev->id : "");
        cust_call(c, "auth.code_verify", a);
    } else {
        cust_fail(c, !strcmp(c->out->step, "set.email") ? (add ? "set.email_ask_add" : "set.email_ask")
                     : !strcmp(c->out->step, "set.phone") ? "set.phone_ask" : "reg.code_format", NULL, back);
    }
}

/* Settings → add an email or a phone. */
static void add_address(cust_t *c, int phone)
{
    if (phone)
        cust_goto(c, "set.phone");
    else
        cust_goto(c, "set.email");
    cust_set(c, "purpose", cJSON_CreateString("add"));
    cust_ask(c, phone ? "set.phone_ask" : "set.email_ask_add", NULL, back);
}

int set_step(cust_t *c)
{
    const char *op = cust_op(c);
    if ((!strncmp(c->out->step, "set.email", 9) || !strncmp(c->out->step, "set.phone", 9)) &&
        strcmp(op, "customer.set")) {
        address_step(c);
    } else if (!strcmp(op, "customer.settings")) {
        int on = !strcmp(cust_res(c, "notifications"), "true");
        /* pushes come here: offered in a channel that can take them and does not already */
        const char *ch = c->ev->channel ? c->ev->channel : "";
        int here = on && (!strcmp(ch, "tg") || !strcmp(ch, "sms") || !strcmp(ch, "mail")) &&
                   strcmp(cust_res(c, "notify_channel"), ch);
        const char *buttons[] = {"lang_switch", on ? "notify_off" : "notify_on",
                                 !strcmp(cust_res(c, "email_bills"), "true") ? "ebill_off" : "ebill_on",
                                 !strcmp(cust_res(c, "paper_bills"), "true") ? "paper_off" : "paper_on",
                                 "add_email", "add_phone", here ? "notify_here" : "menu", here ? "menu" : NULL, NULL};
        cust_ask(c, on ? "set.show_on" : "set.show_off", NULL, buttons);
    } else if (!strcmp(op, "customer.set") && !strcmp(cust_res(c, "status"), "no_email")) {
        cust_goto(c, "set.email");
        cust_ask(c, "set.email_ask", NULL, back);
    } else if (!strcmp(op, "customer.set") && !strcmp(cust_res(c, "status"), "no_primary")) {
        cust_say(c, "set.paper_primary_only", NULL, NULL);
        cust_menu(c);
    } else if (!strcmp(op, "customer.set")) {
        const char *kw = cJSON_GetStringValue(cust_get(c, "kw")), *field = cust_res(c, "field");
        const char *on = !strcmp(cust_res(c, "value"), "true") ? "on" : "off";
        char tmpl[48];
        if (!strcmp(field, "email_bills") || !strcmp(field, "paper_bills"))
            snprintf(tmpl, sizeof tmpl, "set.%s_%s", field, on);
        else if (!strcmp(field, "notify_channel"))
            snprintf(tmpl, sizeof tmpl, "set.notify_here");
        else
            snprintf(tmpl, sizeof tmpl, "%s", kw ? (!strcmp(kw, "stop") ? "set.stopped" : "set.resumed") : "set.saved");
        cust_say(c, tmpl, NULL, NULL);
        cust_menu(c);
    } else if (cust_button(c, "ebill_on") || cust_button(c, "ebill_off")) {
        set(c, "email_bills", cust_button(c, "ebill_on") ? "true" : "false");
    } else if (cust_button(c, "paper_on") || cust_button(c, "paper_off")) {
        set(c, "paper_bills", cust_button(c, "paper_on") ? "true" : "false");
    } else if (cust_button(c, "lang_switch")) {
        const char *to = strcmp(c->lang, "en") ? "en" : "ru";
        cJSON_DeleteItemFromObject(c->out->keep, "lang");
        cJSON_AddStringToObject(c->out->keep, "lang", to);
        c->lang = to;
        set(c, "language", to);
    } else if (cust_button(c, "add_email") || cust_button(c, "add_phone")) {
        add_address(c, cust_button(c, "add_phone"));
    } else if (cust_button(c, "notify_here") && c->ev->channel) {
        set(c, "notify_channel", c->ev->channel);
    } else if (cust_button(c, "notify_on") || cust_button(c, "notify_off")) {
        set(c, "notifications", cust_button(c, "notify_on") ? "true" : "false");
    } else {
        cust_fail(c, "common.use_buttons", NULL, back);
    }
    return 0;
}
