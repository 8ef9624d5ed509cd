/* dlg_pay.c — paying for an account: which account (asked only when there are several), how much (the debt with
 * one press, or a typed sum in rubles, optionally with the email the receipt goes to), then payment.create. The link comes later, from the "pay" channel once the
 * provider gave one; "payment accepted" comes when the provider confirms (both written by the core, not here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

static const char *const due_buttons[] = {"pay_due", "menu", NULL};
static const char *const menu_only[] = {"menu", NULL};

void pay_start(cust_t *c) { cust_list_accounts(c, "pay.account"); }

/* Rubles as people type them ("1500", "1 500,50", "1500.5") → kopecks; -1 for anything else. */
long long pay_parse_rubles(const char *s)
{
    long long rub = 0, kop = 0;
    int digits = 0, frac = -1;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') {
            if (frac >= 0) {
                if (++frac > 2)
                    return -1;
                kop = kop * 10 + (*s - '0');
            } else {
                if (++digits > 9)
                    return -1;
                rub = rub * 10 + (*s - '0');
            }
        } else if ((*s == ',' || *s == '.') && frac < 0 && digits) {
            frac = 0;
        } else if (*s == ' ' && frac < 0) {
            continue;
        } else if (!strncmp(s, "₽", 3) || !strncmp(s, "руб", 6)) {
            break; /* a unit at the end */
        } else {
            return -1;
        }
    }
    if (!digits || frac == 0)
        return -1;
    return rub * 100 + (frac == 1 ? kop * 10 : kop);
}


static void create(cust_t *c, long long kopecks, const char *email);

/* The balance came: ask how much, offering the debt (or pay what a command said at once). */
static void ask_amount(cust_t *c)
{
    if (strcmp(cust_res(c, "status"), "ok")) {
        cust_say(c, "bal.not_linked", NULL, NULL);
        cust_menu(c);
        return;
    }
    long long due = atoll(cust_res(c, "to_pay_kopecks"));
    due = due > 0 ? due : 0;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "number", cust_res(c, "number"));
    cJSON_AddNumberToObject(p, "due", (double)due);
    long long account = atoll(cust_res(c, "account_id"));
    const cJSON *ws = cust_get(c, "want_sum"); /* "/pay [sum]": the sum given, or the debt */
    char want[64];
    int given = cJSON_IsString(ws);
    snprintf(want, sizeof want, "%s", given ? ws->valuestring : ""); /* copied: cust_goto frees the data */
    cust_goto(c, "pay.amount");
    cust_set(c, "account_id", cJSON_CreateNumber((double)account));
    cust_set(c, "due", cJSON_CreateNumber((double)due));
    long long k = !given ? -1 : want[0] ? pay_parse_rubles(want) : due > 0 ? due : -1;
    if (k > 0) {
        cJSON_Delete(p);
        create(c, k, NULL);
        return;
    }
    if (given && want[0])
        cust_fail(c, "pay.amount_invalid", NULL, NULL);
    cust_ask(c, "pay.ask_amount", p, due > 0 ? due_buttons : menu_only);
}

/* Whether s looks like an email address a receipt can go to: local@domain.tld, printable, no spaces. */
static int plausible_email(const char *s)
{
    const char *at = strchr(s, '@'), *dot = at ? strrchr(at, '.') : NULL;
    size_t n = strlen(s);
    if (!at || at == s || strchr(at + 1, '@') || !dot || dot == at + 1 || !dot[1] || dot[1] == '.' || n > 254)
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == ',' || *p == ';' || *p == '<' || *p == '>')
            return 0;
    return 1;
}

static void create(cust_t *c, long long kopecks, const char *email)
{
    char key[300];
    snprintf(key, sizeof key, "%s/%s", c->ev->conv ? c->ev->conv : "", c->ev->id ? c->ev->id : "");
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "idempotency_key", key);
    cJSON_AddNumberToObject(a, "account_id", cJSON_GetNumberValue(cust_get(c, "account_id")));
    cJSON_AddNumberToObject(a, "amount_kopecks", (double)kopecks);
    cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
    cJSON_AddStringToObject(a, "lang", c->lang);
    if (email)
        cJSON_AddStringToObject(a, "receipt_email", email);
    cust_call(c, "payment.create", a);
}

/* The core made the payment (or refused the amount). */
static void created(cust_t *c)
{
    const char *st = cust_res(c, "status");
    if (!strcmp(st, "created") || !strcmp(st, "existing")) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "amount", atof(cust_res(c, "amount_kopecks")));
        cust_say(c, "pay.preparing", p, NULL);
        cust_goto(c, ""); /* at rest: the link follows as its own message */
    } else if (!strcmp(st, "invalid_amount")) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "min", atof(cust_res(c, "min_kopecks")));
        cJSON_AddNumberToObject(p, "max", atof(cust_res(c, "max_kopecks")));
        cust_fail(c, "pay.invalid_amount", p, menu_only);
    } else {
        cust_say(c, "common.error", NULL, NULL);
        cust_menu(c);
    }
}

int pay_step(cust_t *c)
{
    const char *op = cust_op(c), *step = c->st->step;
    if (!strcmp(op, "account.list")) {
        cJSON *one = NULL;
        if (cust_one_account(c, "pay.no_accounts", "pay.pick_account", &one) == 1)
            cust_balance(c, (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(one, "account_id")));
        cJSON_Delete(one);
    } else if (!strcmp(op, "account.balance")) {
        ask_amount(c);
    } else if (!strcmp(op, "payment.create")) {
        created(c);
    } else if (!strcmp(step, "pay.amount")) {
        /* a sum, optionally followed by the email the receipt goes to: "1500 ivan@example.ru" */
        long long due = (long long)cJSON_GetNumberValue(cust_get(c, "due"));
        char sum[512];
        snprintf(sum, sizeof sum, "%s", c->text);
        char *sp = strrchr(sum, ' '), *email = NULL;
        if (sp && strchr(sp, '@')) {
            *sp = 0;
            email = sp + 1;
        }
        long long k = cust_button(c, "pay_due") && due > 0 ? due : c->ev->kind == EV_TEXT ? pay_parse_rubles(sum) : -1;
        if (email && !plausible_email(email))
            cust_fail(c, "pay.email_invalid", NULL, due > 0 ? due_buttons : menu_only);
        else if (k > 0)
            create(c, k, email);
        else
            cust_fail(c, "pay.amount_invalid", NULL, due > 0 ? due_buttons : menu_only);
    } else {
        long long id = cust_chosen(c);
        if (id)
            cust_balance(c, id);
        else
            cust_fail(c, "common.use_buttons", NULL, NULL);
    }
    return 0;
}
