/* dlg_customer.c — the customer's dialog's router (see customer.h): an event goes through the rules every step
 * shares, in order, and the first that matches handles it; otherwise to the area of the current step, or from the
 * menu to the area whose button was pressed. Two tables, read top to bottom; the helpers are in cust.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

/* ---------------------------------------------------------------- matching */

static int is_command(const dlg_event_t *ev, const char *cmd)
{
    size_t n = strlen(cmd);
    return ev->kind == EV_COMMAND && ev->text && !strncmp(ev->text, cmd, n) && (!ev->text[n] || ev->text[n] == ' ');
}

static int is_staff(const cust_t *c, const char *what)
{
    return c->ev->kind == EV_STAFF && c->ev->text && !strcmp(c->ev->text, what);
}

/* Back to where a customer starts: the menu, or the welcome before login. */
static void home(cust_t *c)
{
    if (c->customer)
        cust_menu(c);
    else
        reg_start(c);
}

/* ---------------------------------------------------------------- the rules every step shares */

/* Over the conversation's limits (the engine's "/throttled <s>"): told once, nothing else. */
static int m_throttled(cust_t *c) { return is_command(c->ev, "/throttled"); }
static int r_throttled(cust_t *c)
{
    long secs = c->ev->text[10] ? atol(c->ev->text + 11) : 60;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, secs < 120 ? "seconds" : "minutes", secs < 120 ? secs : (secs + 59) / 60);
    cust_say(c, secs < 120 ? "common.throttled_s" : "common.throttled_m", p, NULL);
    return 0;
}

/* Erased from another chat: this one forgets who it was. */
static int m_signed_out(cust_t *c) { return is_staff(c, "signed_out"); }
static int r_signed_out(cust_t *c)
{
    priv_signed_out(c);
    return 0;
}

/* Merged into the customer who proved one of this chat's addresses. */
static int m_rebind(cust_t *c) { return is_staff(c, "rebind"); }
static int r_rebind(cust_t *c)
{
    const cJSON *from = cJSON_GetObjectItem(c->ev->payload, "from"), *to = cJSON_GetObjectItem(c->ev->payload, "customer_id");
    if (c->customer && cJSON_IsNumber(from) && cJSON_IsNumber(to) && c->customer == (long long)from->valuedouble) {
        cJSON_DeleteItemFromObject(c->out->keep, "customer_id");
        cJSON_AddNumberToObject(c->out->keep, "customer_id", to->valuedouble);
    }
    return 0;
}

/* Staff acted on this conversation's appeal. */
static int m_staff(cust_t *c) { return c->ev->kind == EV_STAFF; }
static int r_staff(cust_t *c)
{
    app_staff(c);
    return 0;
}

/* An email nobody vouches for, to a signed-in conversation: a From alone is no proof; how to write as oneself, once. */
static int m_unvouched(cust_t *c) { return c->customer && c->ev->kind <= EV_DOCUMENT && cust_mail_unvouched(c); }
static int r_unvouched(cust_t *c)
{
    if (!cJSON_IsTrue(cust_get(c, "unvouched_told"))) {
        cust_set(c, "unvouched_told", cJSON_CreateTrue());
        cust_say(c, "mail.unvouched", NULL, NULL);
    }
    return 0;
}

/* A push's button (notify.h) leads on from wherever one is: leave the step, then go on through the rules. */
static int m_push_button(cust_t *c) { return c->ev->kind == EV_BUTTON && c->ev->version == 0; }
static int r_push_button(cust_t *c)
{
    cust_goto(c, "");
    return 1;
}

/* /logout, /forget and their steps (1 from priv_step: handled). */
static int m_privacy(cust_t *c)
{
    return !strncmp(cust_op(c), "privacy.", 8) || !strncmp(c->out->step, "priv.", 5) || is_command(c->ev, "/logout") ||
           is_command(c->ev, "/forget");
}
static int r_privacy(cust_t *c) { return priv_step(c) ? 0 : 1; }

static int m_appeal_added(cust_t *c) { return !strcmp(cust_op(c), "appeal.add"); }
static int r_appeal_added(cust_t *c)
{
    app_result(c);
    return 0;
}

/* The rating after "resolved"; anything else: the customer moved on. */
static int m_rating(cust_t *c) { return !strcmp(c->out->step, "sup.rate"); }
static int r_rating(cust_t *c)
{
    if (app_rate_step(c))
        return 0;
    cust_goto(c, "");
    return 1;
}

static int m_home(cust_t *c)
{
    return is_command(c->ev, "/start") || is_command(c->ev, "/cancel") || is_command(c->ev, "/menu") ||
           cust_button(c, "menu") || cust_button(c, "back");
}
static int r_home(cust_t *c)
{
    home(c);
    return 0;
}

static int m_help(cust_t *c) { return is_command(c->ev, "/help") || cust_button(c, "help"); }
static int r_help(cust_t *c)
{
    cust_say(c, c->customer ? "common.help" : "common.help_guest", NULL, c->customer ? cust_menu_buttons : NULL);
    return 0;
}

/* "/lang en", "/lang ru" (any case); anything else is answered with the languages there are, changing nothing. */
static int m_lang(cust_t *c) { return is_command(c->ev, "/lang"); }
static int r_lang(cust_t *c)
{
    char want[8] = "";
    const char *arg = c->ev->text + 5;
    arg += strspn(arg, " ");
    size_t n = strcspn(arg, " ");
    if (n < sizeof want && !arg[n + strspn(arg + n, " ")])
        for (size_t i = 0; i < n; i++)
            want[i] = (char)(arg[i] >= 'A' && arg[i] <= 'Z' ? arg[i] - 'A' + 'a' : arg[i]);
    if (strcmp(want, "en") && strcmp(want, "ru")) {
        cust_say(c, "common.lang_unknown", NULL, NULL);
        return 0;
    }
    cJSON_DeleteItemFromObject(c->out->keep, "lang");
    cJSON_AddStringToObject(c->out->keep, "lang", want);
    c->lang = !strcmp(want, "en") ? "en" : "ru";
    home(c);
    return 0;
}

/* A person: by SMS or email only signed in (reg_step asks for the sign-in first). */
static int m_human(cust_t *c)
{
    const dlg_event_t *ev = c->ev;
    return (is_command(ev, "/human") &&
            (c->customer || !ev->channel || (strcmp(ev->channel, "sms") && strcmp(ev->channel, "mail")))) ||
           cust_button(c, "human") || cust_button(c, "support");
}
static int r_human(cust_t *c)
{
    sup_start(c);
    return 0;
}

/* An email's confirmation link pressed again: already in. */
static int m_confirmed(cust_t *c) { return c->customer && is_command(c->ev, "/confirm"); }
static int r_confirmed(cust_t *c)
{
    cust_say(c, "reg.done", NULL, NULL);
    cust_menu(c);
    return 0;
}

/* One-shot commands ("/balance", "показания 12345"…). */
static int m_keyword(cust_t *c) { return c->customer && kw_is_command(c->ev); }
static int r_keyword(cust_t *c)
{
    kw_run(c, c->ev->text);
    return 0;
}

/* A step left half-done: say so, and go home (a timeout at rest says nothing). */
static int m_timeout(cust_t *c) { return c->ev->kind == EV_TIMEOUT; }
static int r_timeout(cust_t *c)
{
    if (c->out->step[0]) {
        cust_say(c, "common.timeout", NULL, NULL);
        home(c);
    }
    return 0;
}

/* Staff have the conversation: what the customer writes goes to them. */
static int m_to_staff(cust_t *c) { return app_routes(c); }
static int r_to_staff(cust_t *c)
{
    app_message(c, "asked");
    return 0;
}

/* Support's own steps work before the sign-in too; everything else asks for it first. */
static int m_support(cust_t *c) { return !strncmp(c->out->step, "sup.", 4); }
static int r_support(cust_t *c) { return sup_step(c) ? -1 : 0; }
static int m_guest(cust_t *c) { return !c->customer; }
static int r_guest(cust_t *c) { return reg_step(c) ? -1 : 0; }

static int m_warnings(cust_t *c) { return !strcmp(cust_op(c), "customer.warnings"); }
static int r_warnings(cust_t *c)
{
    cust_show_menu(c);
    return 0;
}

/* In order; the first rule that matches runs. Its answer: 0 handled, 1 go on with the next rules, -1 not
 * understood (the dialog's step fails). */
static const struct {
    int (*match)(cust_t *c);
    int (*run)(cust_t *c);
} rules[] = {
    {m_throttled, r_throttled}, {m_signed_out, r_signed_out}, {m_rebind, r_rebind},   {m_staff, r_staff},
    {m_unvouched, r_unvouched}, {m_push_button, r_push_button}, {m_privacy, r_privacy}, {m_appeal_added, r_appeal_added},
    {m_rating, r_rating},       {m_home, r_home},             {m_help, r_help},         {m_lang, r_lang},
    {m_human, r_human},         {m_confirmed, r_confirmed},   {m_keyword, r_keyword},   {m_timeout, r_timeout},
    {m_to_staff, r_to_staff},   {m_support, r_support},       {m_guest, r_guest},       {m_warnings, r_warnings},
};

/* ---------------------------------------------------------------- the areas of a signed-in customer */

/* A step's prefix → its step function; a menu button → the area's start. */
static const struct {
    const char *prefix;
    int (*step)(cust_t *c);
    const char *button;
    void (*start)(cust_t *c);
} areas[] = {
    {"acc.", acc_step, "accounts", acc_start},  {"rd.", rd_step, "readings", rd_start},
    {"bal.", bal_step, "balance", bal_start},   {"his.", his_step, "history", his_start},
    {"set.", set_step, "settings", set_start},  {"num.", num_step, "by_number", num_start},
    {"pay.", pay_step, "pay", pay_start},       {"bill.", bill_step, "bills", bill_start},
    {"calc.", calc_step, "calc", calc_start},   {"doc.", docs_step, "docs", docs_start},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- the dialog */

static int customer_step(const dlg_state_t *st, const dlg_event_t *ev, dlg_result_t *out)
{
    cust_t c;
    dlg_result_init(out, st);
    cust_init(&c, st, ev, out);
    for (size_t i = 0; i < NELEM(rules); i++) {
        if (!rules[i].match(&c))
            continue;
        int rc = rules[i].run(&c);
        if (rc <= 0)
            return rc;
    }
    for (size_t i = 0; i < NELEM(areas); i++)
        if (!strncmp(out->step, areas[i].prefix, strlen(areas[i].prefix)))
            return areas[i].step(&c);
    for (size_t i = 0; i < NELEM(areas); i++) /* the menu */
        if (cust_button(&c, areas[i].button)) {
            areas[i].start(&c);
            return 0;
        }
    cust_say(&c, "common.not_understood", NULL, NULL);
    cust_menu(&c);
    return 0;
}

/* A stale button: the current step's question again (remembered as "ask"), or the menu. */
static int customer_render(const dlg_state_t *st, dlg_result_t *out)
{
    dlg_event_t none = {0};
    none.kind = EV_TIMEOUT;
    cust_t c;
    dlg_result_init(out, st);
    cust_init(&c, st, &none, out);
    const cJSON *ask = cJSON_GetObjectItem(st->data, "ask");
    if (st->step[0] && cJSON_IsString(cJSON_GetObjectItem(ask, "tmpl"))) {
        const cJSON *params = cJSON_GetObjectItem(ask, "params"), *b;
        const char *buttons[16];
        int n = 0;
        cJSON_ArrayForEach(b, cJSON_GetObjectItem(ask, "buttons")) if (cJSON_IsString(b) && n < 15) buttons[n++] =
            b->valuestring;
        buttons[n] = NULL;
        cust_say(&c, cJSON_GetObjectItem(ask, "tmpl")->valuestring, params ? cJSON_Duplicate(params, 1) : NULL,
                 cJSON_GetObjectItem(ask, "buttons") ? buttons : NULL);
        return 0;
    }
    cust_say(&c, c.customer ? "menu.main" : "reg.welcome", NULL, c.customer ? cust_menu_buttons : NULL);
    return 0;
}

const dlg_def_t dlg_customer = {"customer", customer_step, customer_render};
