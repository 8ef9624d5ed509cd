/* dlg_customer.c — the customer's dialog: routing by step area, what every step shares, and the helpers the areas
 * use (see customer.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

#define STEP_TIMEOUT_MS (15 * 60 * 1000)

static const char *const menu_buttons[] = {"readings", "balance", "pay", "history", "bills", "accounts",
                                           "by_number", "calc", "docs", "support", "settings", "help", NULL};
static const char *const pick_ids[] = {"pick1", "pick2", "pick3", "pick4", "pick5", "pick6", "pick7", "pick8", "pick9"};

/* ---------------------------------------------------------------- helpers */

void cust_say(cust_t *c, const char *tmpl, cJSON *params, const char *const *buttons)
{
    cJSON *e = dlg_reply(c->out, tmpl, params, buttons);
    cJSON_AddStringToObject(e, "lang", c->lang);
}

/* The question is remembered as small as it goes (every idle conversation keeps it in Redis): its template,
 * parameters when there are any, and buttons; the rest comes back when it is shown again (customer_render). */
void cust_ask(cust_t *c, const char *tmpl, cJSON *params, const char *const *buttons)
{
    cust_say(c, tmpl, params, buttons);
    cJSON *ask = cJSON_Duplicate(cJSON_GetArrayItem(c->out->effects, cJSON_GetArraySize(c->out->effects) - 1), 1);
    cJSON_DeleteItemFromObject(ask, "type");
    cJSON_DeleteItemFromObject(ask, "lang");
    if (!cJSON_GetObjectItem(ask, "params") || !cJSON_GetObjectItem(ask, "params")->child)
        cJSON_DeleteItemFromObject(ask, "params");
    cust_set(c, "ask", ask);
}

const cJSON *cust_get(const cust_t *c, const char *name) { return cJSON_GetObjectItemCaseSensitive(c->out->data, name); }

void cust_set(cust_t *c, const char *name, cJSON *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(c->out->data, name);
    cJSON_AddItemToObject(c->out->data, name, v);
}

void cust_call(cust_t *c, const char *op, cJSON *args)
{
    if (c->ev->kind <= EV_DOCUMENT && c->ev->channel && !strcmp(c->ev->channel, "mail"))
        cust_set(c, "unvouched", cJSON_CreateBool(cust_mail_unvouched(c))); /* for the result's step */
    cust_set(c, "op", cJSON_CreateString(op));
    dlg_core(c->out, op, args);
}

const char *cust_op(const cust_t *c)
{
    const cJSON *op = cust_get(c, "op");
    return c->ev->kind == EV_CORE_RESULT && cJSON_IsString(op) ? op->valuestring : "";
}

const char *cust_res(const cust_t *c, const char *name)
{
    static char num[32];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->ev->payload, name);
    if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof num, "%lld", (long long)v->valuedouble);
        return num;
    }
    return cJSON_IsString(v) ? v->valuestring : cJSON_IsTrue(v) ? "true" : "";
}

void cust_goto(cust_t *c, const char *step)
{
    /* whether the message that began this transition was vouched for outlives the step's scratch (cust_call) */
    cJSON *unvouched = c->ev->kind == EV_CORE_RESULT ? cJSON_DetachItemFromObjectCaseSensitive(c->out->data, "unvouched")
                                                     : NULL;
    snprintf(c->out->step, sizeof c->out->step, "%s", step);
    cJSON_Delete(c->out->data);
    c->out->data = cJSON_CreateObject();
    if (unvouched)
        cJSON_AddItemToObject(c->out->data, "unvouched", unvouched);
    if (step[0])
        dlg_timeout(c->out, STEP_TIMEOUT_MS);
}

/* Goes to step and asks the core for the customer's accounts (the step's answer to account.list follows). */
void cust_list_accounts(cust_t *c, const char *step)
{
    cust_goto(c, step);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
    cust_call(c, "account.list", a);
}

/* Asks the core for the balance of one of the customer's accounts (account.balance). */
void cust_balance(cust_t *c, long long account)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
    cJSON_AddNumberToObject(a, "account_id", (double)account);
    cust_call(c, "account.balance", a);
}

/* The menu comes with what it warns about (customer.warnings): the result is shown by show_menu. */
void cust_menu(cust_t *c)
{
    cust_goto(c, "");
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
    cust_call(c, "customer.warnings", a);
}

/* The menu, with a line for each meter whose verification is due or past and each debt. */
static void show_menu(cust_t *c)
{
    cJSON *items = cJSON_CreateArray();
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItem(c->ev->payload, "verify"))
    {
        cJSON *it = cJSON_Duplicate(w, 1);
        cJSON_AddStringToObject(it, "line", cJSON_IsTrue(cJSON_GetObjectItem(w, "expired")) ? "menu.verify_expired"
                                                                                           : "menu.verify_soon");
        cJSON_AddItemToArray(items, it);
    }
    cJSON_ArrayForEach(w, cJSON_GetObjectItem(c->ev->payload, "debts"))
    {
        cJSON *it = cJSON_Duplicate(w, 1);
        cJSON_AddStringToObject(it, "line", "menu.debt");
        cJSON_AddItemToArray(items, it);
    }
    cust_goto(c, "");
    if (cJSON_GetArraySize(items)) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddItemToObject(p, "items", items);
        cust_say(c, "menu.main_warnings", p, menu_buttons);
    } else {
        cJSON_Delete(items);
        cust_say(c, "menu.main", NULL, menu_buttons);
    }
}

int cust_mail_unvouched(const cust_t *c)
{
    const dlg_event_t *ev = c->ev;
    if (ev->kind == EV_CORE_RESULT) /* a call's result: as the message that made the call (cust_call) */
        return cJSON_IsTrue(cust_get(c, "unvouched"));
    if (!ev->channel || strcmp(ev->channel, "mail") || ev->kind > EV_DOCUMENT) /* the customer's input only */
        return 0;
    const char *auth = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->payload, "auth"));
    return !auth || !strcmp(auth, "none");
}

int cust_button(const cust_t *c, const char *id)
{
    return c->ev->kind == EV_BUTTON && c->ev->text && !strcmp(c->ev->text, id);
}

void cust_fail(cust_t *c, const char *tmpl, cJSON *params, const char *const *buttons)
{
    const cJSON *f = cust_get(c, "fails");
    int n = (cJSON_IsNumber(f) ? f->valueint : 0) + 1;
    cust_set(c, "fails", cJSON_CreateNumber(n));
    cust_say(c, tmpl, params, buttons);
    if (n == 3) /* the bot gives up: a person takes it from here, with what was typed */
        app_open(c, "stuck", c->ev->kind == EV_TEXT || c->ev->kind == EV_COMMAND ? c->ev->text : dlg_kind_name(c->ev->kind),
                 NULL, "text", 0, 0);
}

void cust_choose(cust_t *c, const char *tmpl, const cJSON *accounts)
{
    const char *buttons[11];
    cJSON *items = cJSON_CreateArray(), *ids = cJSON_CreateArray(), *params = cJSON_CreateObject();
    const cJSON *a;
    int n = 0;
    cJSON_ArrayForEach(a, accounts)
    {
        if (n == 9)
            break;
        cJSON *it = cJSON_CreateObject();
        cJSON_AddNumberToObject(it, "n", n + 1);
        cJSON_AddItemToObject(it, "number", cJSON_Duplicate(cJSON_GetObjectItem(a, "number"), 1));
        cJSON_AddItemToObject(it, "address", cJSON_Duplicate(cJSON_GetObjectItem(a, "address"), 1));
        cJSON_AddItemToArray(items, it);
        cJSON_AddItemToArray(ids, cJSON_Duplicate(cJSON_GetObjectItem(a, "account_id"), 1));
        buttons[n] = pick_ids[n];
        n++;
    }
    buttons[n++] = "menu";
    buttons[n] = NULL;
    cJSON_AddItemToObject(params, "items", items);
    cust_set(c, "choices", ids);
    cust_say(c, tmpl, params, buttons);
}

int cust_one_account(cust_t *c, const char *none_tmpl, const char *pick_tmpl, cJSON **one)
{
    static const char *const link[] = {"accounts", "menu", NULL};
    cJSON *usable = cJSON_CreateArray();
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(c->ev->payload, "accounts"))
    {
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(a, "status"));
        if (!st || !strcmp(st, "active"))
            cJSON_AddItemToArray(usable, cJSON_Duplicate(a, 1));
    }
    int n = cJSON_GetArraySize(usable), rc = n == 0 ? 0 : n == 1 ? 1 : 2;
    const char *want = cJSON_GetStringValue(cust_get(c, "want"));
    if (n > 0 && want) { /* a command named the account */
        int i = 0;
        cJSON_ArrayForEach(a, usable)
        {
            if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(a, "number")) ?: "", want))
                break;
            i++;
        }
        if (i < n) {
            *one = cJSON_DetachItemFromArray(usable, i);
            cJSON_Delete(usable);
            return 1;
        }
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "number", want);
        cust_say(c, "common.not_your_account", p, NULL);
        cJSON_Delete(usable);
        cust_menu(c);
        return 0;
    }
    if (n == 0 && cJSON_IsTrue(cust_get(c, "kw"))) { /* a command without any account: link one first */
        cust_say(c, none_tmpl, NULL, NULL);
        acc_link_start(c);
    } else if (n == 0) {
        cust_goto(c, "");
        cust_say(c, none_tmpl, NULL, link);
    } else if (n == 1) {
        *one = cJSON_DetachItemFromArray(usable, 0);
    } else {
        cust_choose(c, pick_tmpl, usable);
    }
    cJSON_Delete(usable);
    return rc;
}

long long cust_chosen(const cust_t *c)
{
    int k = 0;
    if (c->ev->kind == EV_BUTTON && c->ev->text && !strncmp(c->ev->text, "pick", 4))
        k = atoi(c->ev->text + 4);
    else if (c->ev->kind == EV_TEXT && strlen(c->text) == 1)
        k = c->text[0] - '0';
    const cJSON *id = cJSON_GetArrayItem(cust_get(c, "choices"), k - 1);
    return k >= 1 && cJSON_IsNumber(id) ? (long long)id->valuedouble : 0;
}

/* ---------------------------------------------------------------- the dialog */

static void init(cust_t *c, const dlg_state_t *st, const dlg_event_t *ev, dlg_result_t *out)
{
    memset(c, 0, sizeof *c);
    c->st = st;
    c->ev = ev;
    c->out = out;
    const cJSON *lang = cJSON_GetObjectItem(out->keep, "lang"), *id = cJSON_GetObjectItem(out->keep, "customer_id");
    c->lang = cJSON_IsString(lang) && !strcmp(lang->valuestring, "en") ? "en" : "ru";
    c->customer = cJSON_IsNumber(id) ? (long long)id->valuedouble : 0;
    if ((ev->kind == EV_TEXT || ev->kind == EV_CONTACT) && ev->text) {
        const char *t = ev->text;
        while (*t == ' ' || *t == '\n' || *t == '\t')
            t++;
        snprintf(c->text, sizeof c->text, "%s", t);
        size_t n = strlen(c->text);
        if (strlen(t) > n) { /* cut: never inside a UTF-8 character (areas that need all of it read ev->text) */
            size_t lead = n;
            while (lead > 0 && ((unsigned char)c->text[lead - 1] & 0xC0) == 0x80)
                lead--;
            if (lead > 0 && (unsigned char)c->text[lead - 1] >= 0xC0) {
                unsigned char b = (unsigned char)c->text[lead - 1];
                size_t want = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
                if (n - (lead - 1) < want)
                    c->text[n = lead - 1] = 0;
            }
        }
        while (n && (c->text[n - 1] == ' ' || c->text[n - 1] == '\n' || c->text[n - 1] == '\t'))
            c->text[--n] = 0;
    }
}

static int is_command(const dlg_event_t *ev, const char *cmd)
{
    size_t n = strlen(cmd);
    return ev->kind == EV_COMMAND && ev->text && !strncmp(ev->text, cmd, n) && (!ev->text[n] || ev->text[n] == ' ');
}

/* Back to where a customer starts: the menu, or the welcome before login. */
static void home(cust_t *c)
{
    if (c->customer)
        cust_menu(c);
    else
        reg_start(c);
}

static int customer_step(const dlg_state_t *st, const dlg_event_t *ev, dlg_result_t *out)
{
    cust_t c;
    dlg_result_init(out, st);
    init(&c, st, ev, out);
    const char *step = out->step;
    if (is_command(ev, "/throttled")) { /* over the conversation's limits (the engine): told once, nothing else */
        long secs = ev->text[10] ? atol(ev->text + 11) : 60;
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, secs < 120 ? "seconds" : "minutes", secs < 120 ? secs : (secs + 59) / 60);
        cust_say(&c, secs < 120 ? "common.throttled_s" : "common.throttled_m", p, NULL);
        return 0;
    }
    if (ev->kind == EV_STAFF && ev->text && !strcmp(ev->text, "signed_out")) { /* erased from another chat */
        priv_signed_out(&c);
        return 0;
    }
    if (ev->kind == EV_STAFF && ev->text && !strcmp(ev->text, "rebind")) { /* merged into the customer who proved
                                                                              * one of this chat's addresses */
        const cJSON *from = cJSON_GetObjectItem(ev->payload, "from"), *to = cJSON_GetObjectItem(ev->payload, "customer_id");
        if (c.customer && cJSON_IsNumber(from) && cJSON_IsNumber(to) && c.customer == (long long)from->valuedouble) {
            cJSON_DeleteItemFromObject(out->keep, "customer_id");
            cJSON_AddNumberToObject(out->keep, "customer_id", to->valuedouble);
        }
        return 0;
    }
    if (ev->kind == EV_STAFF) { /* staff acted on this conversation's appeal */
        app_staff(&c);
        return 0;
    }
    if (c.customer && ev->kind <= EV_DOCUMENT && cust_mail_unvouched(&c)) { /* a From alone is no proof: how to write as oneself, said once */
        if (!cJSON_IsTrue(cust_get(&c, "unvouched_told"))) {
            cust_set(&c, "unvouched_told", cJSON_CreateTrue());
            cust_say(&c, "mail.unvouched", NULL, NULL);
        }
        return 0;
    }
    if (ev->kind == EV_BUTTON && ev->version == 0) /* a push's button (notify.h) leads on from wherever one is */
        cust_goto(&c, "");
    if (!strncmp(cust_op(&c), "privacy.", 8) || !strncmp(step, "priv.", 5) || is_command(ev, "/logout") ||
        is_command(ev, "/forget")) {
        if (priv_step(&c))
            return 0;
    }
    if (!strcmp(cust_op(&c), "appeal.add")) {
        app_result(&c);
        return 0;
    }
    if (!strcmp(step, "sup.rate")) {
        if (app_rate_step(&c))
            return 0;
        cust_goto(&c, ""); /* not a rating: the customer moved on */
    }
    if (is_command(ev, "/start") || is_command(ev, "/cancel") || is_command(ev, "/menu") || cust_button(&c, "menu") ||
        cust_button(&c, "back")) {
        home(&c);
        return 0;
    }
    if (is_command(ev, "/help") || cust_button(&c, "help")) {
        cust_say(&c, c.customer ? "common.help" : "common.help_guest", NULL, c.customer ? menu_buttons : NULL);
        return 0;
    }
    if (is_command(ev, "/lang")) { /* "/lang en", "/lang ru" */
        const char *want = ev->text[5] ? ev->text + 6 : "";
        cJSON_DeleteItemFromObject(out->keep, "lang");
        cJSON_AddStringToObject(out->keep, "lang", !strcmp(want, "en") ? "en" : "ru");
        c.lang = !strcmp(want, "en") ? "en" : "ru";
        home(&c);
        return 0;
    }
    if ((is_command(ev, "/human") && (c.customer || !ev->channel || (strcmp(ev->channel, "sms") &&
                                                                     strcmp(ev->channel, "mail")))) ||
        cust_button(&c, "human") || cust_button(&c, "support")) { /* by SMS or email, signed in first (reg_step) */
        sup_start(&c);
        return 0;
    }
    if (c.customer && is_command(ev, "/confirm")) { /* an email's confirmation link pressed again: already in */
        cust_say(&c, "reg.done", NULL, NULL);
        cust_menu(&c);
        return 0;
    }
    if (c.customer && kw_is_command(ev)) {
        kw_run(&c, ev->text);
        return 0;
    }
    if (ev->kind == EV_TIMEOUT) {
        if (step[0]) { /* a step left half-done: say so, and go home */
            cust_say(&c, "common.timeout", NULL, NULL);
            home(&c);
        }
        return 0;
    }
    if (app_routes(&c)) { /* staff have the conversation: what the customer writes goes to them */
        app_message(&c, "asked");
        return 0;
    }
    if (!strncmp(step, "sup.", 4))
        return sup_step(&c);
    if (!c.customer)
        return reg_step(&c);
    if (!strcmp(cust_op(&c), "customer.warnings")) {
        show_menu(&c);
        return 0;
    }
    if (!strncmp(step, "acc.", 4))
        return acc_step(&c);
    if (!strncmp(step, "rd.", 3))
        return rd_step(&c);
    if (!strncmp(step, "bal.", 4))
        return bal_step(&c);
    if (!strncmp(step, "his.", 4))
        return his_step(&c);
    if (!strncmp(step, "set.", 4))
        return set_step(&c);
    if (!strncmp(step, "num.", 4))
        return num_step(&c);
    if (!strncmp(step, "pay.", 4))
        return pay_step(&c);
    if (!strncmp(step, "bill.", 5))
        return bill_step(&c);
    if (!strncmp(step, "calc.", 5))
        return calc_step(&c);
    if (!strncmp(step, "doc.", 4))
        return docs_step(&c);
    /* the menu */
    if (cust_button(&c, "readings"))
        rd_start(&c);
    else if (cust_button(&c, "balance"))
        bal_start(&c);
    else if (cust_button(&c, "accounts"))
        acc_start(&c);
    else if (cust_button(&c, "history"))
        his_start(&c);
    else if (cust_button(&c, "settings"))
        set_start(&c);
    else if (cust_button(&c, "by_number"))
        num_start(&c);
    else if (cust_button(&c, "pay"))
        pay_start(&c);
    else if (cust_button(&c, "bills"))
        bill_start(&c);
    else if (cust_button(&c, "calc"))
        calc_start(&c);
    else if (cust_button(&c, "docs"))
        docs_start(&c);
    else {
        cust_say(&c, "common.not_understood", NULL, NULL);
        cust_menu(&c);
    }
    return 0;
}

/* A stale button: the current step's question again (remembered as "ask"), or the menu. */
static int customer_render(const dlg_state_t *st, dlg_result_t *out)
{
    dlg_event_t none = {0};
    none.kind = EV_TIMEOUT;
    cust_t c;
    dlg_result_init(out, st);
    init(&c, st, &none, out);
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
    cust_say(&c, c.customer ? "menu.main" : "reg.welcome", NULL, c.customer ? menu_buttons : NULL);
    return 0;
}

const dlg_def_t dlg_customer = {"customer", customer_step, customer_render};
