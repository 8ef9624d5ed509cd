/* cust.c — what every part of the customer's dialog uses (see cust.h): replies in the customer's language, core
 * calls and their results, moving between steps, the menu, choosing one of the customer's accounts. The router
 * (dlg_customer.c) and the areas (dlg_*.c) call these; these call no area but the account-linking start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

#define STEP_TIMEOUT_MS (15 * 60 * 1000)

const char *const cust_menu_buttons[] = {"readings", "balance", "pay", "history", "bills", "accounts",
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
    const cJSON *fails = cust_get(c, "fails");
    /* what was typed, should the result be the failure that gives up (cust_fail's third): kept only then, as every
     * idle conversation's state is kept in Redis */
    if ((c->ev->kind == EV_TEXT || c->ev->kind == EV_COMMAND) && cJSON_IsNumber(fails) && fails->valueint >= 2) {
        char said[512];
        size_t n = strlen(c->ev->text ? c->ev->text : "");
        if (n >= sizeof said) /* cut at a character's start */
            for (n = sizeof said - 1; n && ((unsigned char)c->ev->text[n] & 0xC0) == 0x80; n--)
                ;
        snprintf(said, sizeof said, "%.*s", (int)n, c->ev->text ? c->ev->text : "");
        cust_set(c, "said", cJSON_CreateString(said));
    }
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
void cust_show_menu(cust_t *c)
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
    /* documents are a business's: a household is not offered them */
    const char *buttons[sizeof cust_menu_buttons / sizeof *cust_menu_buttons];
    size_t nb = 0;
    int business = cJSON_IsTrue(cJSON_GetObjectItem(c->ev->payload, "business"));
    for (const char *const *b = cust_menu_buttons; *b; b++)
        if (business || strcmp(*b, "docs"))
            buttons[nb++] = *b;
    buttons[nb] = NULL;
    cust_goto(c, "");
    if (cJSON_GetArraySize(items)) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddItemToObject(p, "items", items);
        cust_say(c, "menu.main_warnings", p, buttons);
    } else {
        cJSON_Delete(items);
        cust_say(c, "menu.main", NULL, buttons);
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
    if (n == 3) { /* the bot gives up: a person takes it from here, with what was typed (for a core's answer: the
                   * message that made the call) */
        const char *said = c->ev->kind == EV_TEXT || c->ev->kind == EV_COMMAND ? c->ev->text
                           : c->ev->kind == EV_CORE_RESULT && cJSON_IsString(cust_get(c, "said"))
                               ? cust_get(c, "said")->valuestring
                               : dlg_kind_name(c->ev->kind);
        app_open(c, "stuck", said, NULL, "text", 0, 0);
    }
}

/* An account as a button says it: "1800000003 · ул. Ленина, 5" — the address without a leading locality (a part
 * before the first comma with no digit in it), cut to 24 characters. */
static void account_label(const char *number, const char *address, char *buf, size_t size)
{
    const char *a = address ? address : "", *comma = strchr(a, ',');
    if (comma && strcspn(a, "0123456789") > (size_t)(comma - a))
        a = comma + 1 + strspn(comma + 1, " ");
    size_t n = 0, chars = 0;
    while (a[n] && chars < 24) { /* whole characters only */
        n++;
        while (((unsigned char)a[n] & 0xC0) == 0x80)
            n++;
        chars++;
    }
    snprintf(buf, size, "%s%s%.*s%s", number ? number : "", n ? " · " : "", (int)n, a, a[n] ? "…" : "");
}

void cust_choose(cust_t *c, const char *tmpl, const cJSON *accounts)
{
    const char *buttons[11];
    cJSON *items = cJSON_CreateArray(), *ids = cJSON_CreateArray(), *params = cJSON_CreateObject(),
          *labels = cJSON_CreateObject();
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
        char label[96];
        account_label(cJSON_GetStringValue(cJSON_GetObjectItem(a, "number")),
                      cJSON_GetStringValue(cJSON_GetObjectItem(a, "address")), label, sizeof label);
        cJSON_AddStringToObject(labels, pick_ids[n], label);
        buttons[n] = pick_ids[n];
        n++;
    }
    buttons[n++] = "menu";
    buttons[n] = NULL;
    cJSON_AddItemToObject(params, "items", items);
    cust_set(c, "choices", ids);
    cust_say(c, tmpl, params, buttons);
    /* each button says which account it is: its number and the address's short form */
    cJSON_AddItemToObject(cJSON_GetArrayItem(c->out->effects, cJSON_GetArraySize(c->out->effects) - 1),
                          "button_labels", labels);
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

/* ---------------------------------------------------------------- one event's view */

void cust_init(cust_t *c, const dlg_state_t *st, const dlg_event_t *ev, dlg_result_t *out)
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

