/* dlg_privacy.c — the customer's personal data: /logout signs this chat out (privacy.logout: a Telegram or console
 * identity is unbound from the customer; the conversation forgets who it was), /forget erases what the retailer
 * need not keep after a confirmation that says what goes and what stays (privacy.forget), then signs out every
 * conversation of the customer (an event to each: "signed_out"). Pure, like every part of the dialog. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

static const char *const confirm[] = {"forget_yes", "menu", NULL};

/* The conversation forgets who it was: only the language stays. */
static void forget_keep(cust_t *c)
{
    cJSON *lang = cJSON_Duplicate(cJSON_GetObjectItem(c->out->keep, "lang"), 1);
    cJSON_Delete(c->out->keep);
    c->out->keep = cJSON_CreateObject();
    if (lang)
        cJSON_AddItemToObject(c->out->keep, "lang", lang);
    c->customer = 0;
    cust_goto(c, "");
}

void priv_signed_out(cust_t *c) { forget_keep(c); }

static cJSON *who(const cust_t *c)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
    cJSON_AddStringToObject(a, "channel", c->ev->channel ? c->ev->channel : "local");
    cJSON_AddStringToObject(a, "external_id", c->ev->sender && c->ev->sender[0] ? c->ev->sender : c->ev->conv);
    cJSON_AddStringToObject(a, "event_id", c->ev->id ? c->ev->id : "");
    return a;
}

int priv_step(cust_t *c)
{
    const char *op = cust_op(c), *text = c->ev->kind == EV_COMMAND && c->ev->text ? c->ev->text : "";
    if (!strcmp(op, "privacy.logout")) {
        forget_keep(c);
        cust_say(c, "privacy.logged_out", NULL, NULL);
        return 1;
    }
    if (!strcmp(op, "privacy.forget")) {
        const cJSON *convs = cJSON_GetObjectItem(c->ev->payload, "convs"), *v;
        cJSON_ArrayForEach(v, convs) if (cJSON_IsString(v) && strcmp(v->valuestring, c->ev->conv))
            dlg_event(c->out, v->valuestring, EV_STAFF, "signed_out", NULL);
        forget_keep(c);
        cust_say(c, "privacy.forgotten", NULL, NULL);
        return 1;
    }
    if (!c->customer && (!strncmp(text, "/logout", 7) || !strncmp(text, "/forget", 7))) {
        cust_say(c, "privacy.not_signed_in", NULL, NULL);
        return 1;
    }
    if (!strncmp(text, "/logout", 7)) {
        cust_goto(c, "priv.logout");
        cust_call(c, "privacy.logout", who(c));
        return 1;
    }
    if (!strncmp(text, "/forget", 7)) {
        cust_goto(c, "priv.forget");
        cust_ask(c, "privacy.forget_confirm", NULL, confirm);
        return 1;
    }
    if (!strcmp(c->out->step, "priv.forget") && cust_button(c, "forget_yes")) {
        cJSON *a = who(c);
        cust_call(c, "privacy.forget", a);
        return 1;
    }
    if (!strcmp(c->out->step, "priv.forget") && !cust_button(c, "menu") && !cust_button(c, "back") &&
        c->ev->kind != EV_COMMAND && c->ev->kind != EV_TIMEOUT) {
        cust_fail(c, "privacy.forget_confirm", NULL, confirm);
        return 1;
    }
    return 0; /* Menu, /cancel and the like: as everywhere */
}
