/* dlg_support.c — support: what the customer writes (text, or a photo or document up to 2 MB) joins their open
 * appeal (dlg_appeal.c; the first message opens one, and staff answer in the same chat), and settings: the language of replies and notifications on or off (customer.settings, customer.set). */
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

int set_step(cust_t *c)
{
    const char *op = cust_op(c);
    if (!strcmp(op, "customer.settings")) {
        int on = !strcmp(cust_res(c, "notifications"), "true");
        static const char *const when_on[] = {"lang_switch", "notify_off", "menu", NULL};
        static const char *const when_off[] = {"lang_switch", "notify_on", "menu", NULL};
        cust_ask(c, on ? "set.show_on" : "set.show_off", NULL, on ? when_on : when_off);
    } else if (!strcmp(op, "customer.set")) {
        const char *kw = cJSON_GetStringValue(cust_get(c, "kw"));
        cust_say(c, kw ? (!strcmp(kw, "stop") ? "set.stopped" : "set.resumed") : "set.saved", NULL, NULL);
        cust_menu(c);
    } else if (cust_button(c, "lang_switch")) {
        const char *to = strcmp(c->lang, "en") ? "en" : "ru";
        cJSON_DeleteItemFromObject(c->out->keep, "lang");
        cJSON_AddStringToObject(c->out->keep, "lang", to);
        c->lang = to;
        set(c, "language", to);
    } else if (cust_button(c, "notify_on") || cust_button(c, "notify_off")) {
        set(c, "notifications", cust_button(c, "notify_on") ? "true" : "false");
    } else {
        cust_fail(c, "common.use_buttons", NULL, back);
    }
    return 0;
}
