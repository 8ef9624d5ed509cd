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

/* The email step: an address typed (a code goes to it), or the code from it typed. */
static void email_step(cust_t *c)
{
    const char *op = cust_op(c), *st = cust_res(c, "status");
    static const char *const again[] = {"resend", "menu", NULL};
    if (!strcmp(op, "auth.code_send") && !strcmp(st, "sent")) {
        char to[128];
        snprintf(to, sizeof to, "mail:%s", cust_res(c, "address"));
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "code", cust_res(c, "code"));
        dlg_send(c->out, "mail", to, "set.email_code_mail", p, 0);
        cJSON *sent = cJSON_CreateObject();
        cJSON_AddStringToObject(sent, "email", cust_res(c, "address"));
        cust_goto(c, "set.email_code");
        cust_set(c, "email", cJSON_CreateString(cust_res(c, "address")));
        cust_ask(c, "set.email_code_sent", sent, again);
    } else if (!strcmp(op, "auth.code_send")) {
        cust_fail(c, !strcmp(st, "invalid_phone") ? "set.email_invalid" : "reg.limit", NULL, back);
    } else if (!strcmp(op, "auth.code_verify") && !strcmp(st, "ok")) {
        set(c, "email_bills", "true");
    } else if (!strcmp(op, "auth.code_verify")) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "left", atof(cust_res(c, "attempts_left")));
        cust_fail(c, !strcmp(st, "wrong") ? "reg.code_wrong" : !strcmp(st, "invalid_code") ? "reg.code_format"
                   : !strcmp(st, "locked") ? "reg.code_locked" : "reg.code_expired", p, again);
    } else if (!strcmp(c->out->step, "set.email") && c->ev->kind == EV_TEXT && c->text[0]) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "email", c->text);
        cust_call(c, "auth.code_send", a);
    } else if (cust_button(c, "resend")) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "email", cJSON_GetStringValue(cust_get(c, "email")) ?: "");
        cust_call(c, "auth.code_send", a);
    } else if (c->ev->kind == EV_TEXT && c->text[0]) {
        char digits[8] = "";
        size_t n = 0;
        for (const char *p = c->text; *p && n < 7; p++)
            if (*p != ' ' && *p != '-')
                digits[n++] = *p;
        digits[n] = 0;
        cJSON *a = who(c);
        cJSON_AddStringToObject(a, "email", cJSON_GetStringValue(cust_get(c, "email")) ?: "");
        cJSON_AddStringToObject(a, "code", digits);
        cJSON_AddStringToObject(a, "channel", c->ev->channel ? c->ev->channel : "local");
        cJSON_AddStringToObject(a, "external_id", c->ev->sender && c->ev->sender[0] ? c->ev->sender : c->ev->conv);
        cust_call(c, "auth.code_verify", a);
    } else {
        cust_fail(c, !strcmp(c->out->step, "set.email") ? "set.email_ask" : "reg.code_format", NULL, back);
    }
}

int set_step(cust_t *c)
{
    const char *op = cust_op(c);
    if (!strncmp(c->out->step, "set.email", 9) && strcmp(op, "customer.set")) {
        email_step(c);
    } else if (!strcmp(op, "customer.settings")) {
        int on = !strcmp(cust_res(c, "notifications"), "true");
        /* pushes come here: offered in a channel that can take them and does not already */
        const char *ch = c->ev->channel ? c->ev->channel : "";
        int here = on && (!strcmp(ch, "tg") || !strcmp(ch, "sms") || !strcmp(ch, "mail")) &&
                   strcmp(cust_res(c, "notify_channel"), ch);
        const char *buttons[] = {"lang_switch", on ? "notify_off" : "notify_on",
                                 !strcmp(cust_res(c, "email_bills"), "true") ? "ebill_off" : "ebill_on",
                                 !strcmp(cust_res(c, "paper_bills"), "true") ? "paper_off" : "paper_on",
                                 here ? "notify_here" : "menu", here ? "menu" : NULL, NULL};
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
    } else if (cust_button(c, "notify_here") && c->ev->channel) {
        set(c, "notify_channel", c->ev->channel);
    } else if (cust_button(c, "notify_on") || cust_button(c, "notify_off")) {
        set(c, "notifications", cust_button(c, "notify_on") ? "true" : "false");
    } else {
        cust_fail(c, "common.use_buttons", NULL, back);
    }
    return 0;
}
