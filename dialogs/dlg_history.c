/* dlg_history.c — histories of an account (asked which only when there are several): readings, charges or
 * payments, five at a time, newest first, with "more" while there are more (account.history; its default ranges:
 * this and last year for readings and charges, the last 3 months for payments); the ledger (свод) of the last
 * 12 months (account.ledger) and, from it, the same as a chart (ledger.chart: a picture the "doc" channel draws);
 * and the account's own history (seed 001's «История аккаунта», customer.activity): sign-ins, links, readings,
 * payments, settings, newest first. A period of the customer's choosing ("01.01.2026-31.03.2026" or "03.2026")
 * narrows the histories. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

#define PAGE 5

static const char *const kinds[] = {"h_readings", "h_charges", "h_payments", "h_ledger", "h_account", "h_range",
                                    "menu", NULL};

void his_start(cust_t *c) { cust_list_accounts(c, "his.account"); }

static void ask_kind(cust_t *c, long long account)
{
    snprintf(c->out->step, sizeof c->out->step, "%s", "his.kind");
    cust_set(c, "account_id", cJSON_CreateNumber((double)account));
    cust_ask(c, "his.kind", NULL, kinds);
}

/* ---------------------------------------------------------------- a range typed by the customer */

/* Whether d.m.y is a real date. */
static int real_date(int d, int m, int y)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return y >= 1990 && y <= 2100 && m >= 1 && m <= 12 && d >= 1 && d <= (m == 2 && !leap ? 28 : mdays[m - 1]);
}

/* A period as customers write it — "01.01.2026-31.03.2026" (any dash, or spaces) or a month "03.2026" — as two ISO
 * dates. Returns 0, or -1 when it is not a period. */
int his_parse_range(const char *text, char from[11], char to[11])
{
    int d1, m1, y1, d2, m2, y2, n = 0;
    char rest[8] = "";
    if (sscanf(text, "%d.%d.%d%*[-–— по]%d.%d.%d%n", &d1, &m1, &y1, &d2, &m2, &y2, &n) == 6 && !text[n]) {
        if (!real_date(d1, m1, y1) || !real_date(d2, m2, y2))
            return -1;
        snprintf(from, 11, "%04d-%02d-%02d", y1, m1, d1);
        snprintf(to, 11, "%04d-%02d-%02d", y2, m2, d2);
        return strcmp(from, to) <= 0 ? 0 : -1;
    }
    if (sscanf(text, "%d.%d%7s", &m1, &y1, rest) == 2 && real_date(1, m1, y1)) {
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int last = mdays[m1 - 1] + (m1 == 2 && real_date(29, 2, y1));
        snprintf(from, 11, "%04d-%02d-01", y1, m1);
        snprintf(to, 11, "%04d-%02d-%02d", y1, m1, last);
        return 0;
    }
    return -1;
}

static void fetch(cust_t *c, const char *kind, int page)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
    cJSON_AddItemToObject(a, "account_id", cJSON_Duplicate(cust_get(c, "account_id"), 1));
    cJSON_AddStringToObject(a, "kind", kind);
    cJSON_AddNumberToObject(a, "page", page);
    cJSON_AddNumberToObject(a, "limit", PAGE);
    if (cJSON_IsString(cust_get(c, "from"))) {
        cJSON_AddItemToObject(a, "from", cJSON_Duplicate(cust_get(c, "from"), 1));
        cJSON_AddItemToObject(a, "to", cJSON_Duplicate(cust_get(c, "to"), 1));
    }
    cust_set(c, "kind", cJSON_CreateString(kind));
    cust_set(c, "page", cJSON_CreateNumber(page));
    cust_call(c, "account.history", a);
}

static void show(cust_t *c)
{
    const char *kind = cJSON_GetStringValue(cust_get(c, "kind"));
    const cJSON *rows = cJSON_GetObjectItem(c->ev->payload, "rows"), *r;
    if (strcmp(cust_res(c, "status"), "ok") || cJSON_GetArraySize(rows) == 0) {
        cust_say(c, cJSON_GetArraySize(rows) == 0 && !strcmp(cust_res(c, "status"), "ok") ? "his.empty" : "bal.not_linked",
                 NULL, kinds);
        return;
    }
    char line[32];
    snprintf(line, sizeof line, "his.%s", kind ? kind : "readings");
    line[strlen(line) - 1] = 0; /* his.readings → his.reading: the template of one row */
    cJSON *items = cJSON_CreateArray(), *p = cJSON_CreateObject();
    cJSON_ArrayForEach(r, rows)
    {
        cJSON *it = cJSON_Duplicate(r, 1);
        /* a charge shows its recalculation and ОДН only when it has them */
        const cJSON *cv = cJSON_GetObjectItem(r, "correction_kopecks"), *ov = cJSON_GetObjectItem(r, "odn_kopecks");
        int corr = cJSON_IsNumber(cv) && cv->valuedouble != 0, odn = cJSON_IsNumber(ov) && ov->valuedouble != 0;
        cJSON_AddStringToObject(it, "line", strcmp(line, "his.charge") || (!corr && !odn) ? line
                                            : corr && odn                                 ? "his.charge_corr_odn"
                                            : corr                                        ? "his.charge_corr"
                                                                                          : "his.charge_odn");
        cJSON_AddItemToArray(items, it);
    }
    cJSON_AddItemToObject(p, "items", items);
    static const char *const more[] = {"more", "h_readings", "h_charges", "h_payments", "h_ledger", "h_range", "menu",
                                       NULL};
    cust_say(c, "his.page", p, !strcmp(cust_res(c, "more"), "true") ? more : kinds);
}

int his_step(cust_t *c)
{
    const char *op = cust_op(c), *step = c->out->step;
    if (!strcmp(op, "account.list")) {
        cJSON *one = NULL;
        if (cust_one_account(c, "bal.no_accounts", "bal.pick_account", &one) == 1)
            ask_kind(c, (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(one, "account_id")));
        cJSON_Delete(one);
        return 0;
    }
    if (!strcmp(op, "account.history")) {
        show(c);
        return 0;
    }
    if (!strcmp(op, "account.ledger")) { /* the last 12 months: opening, charged, paid, closing */
        cJSON *items = cJSON_CreateArray(), *p = cJSON_CreateObject();
        const cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItem(c->ev->payload, "rows"))
        {
            cJSON *it = cJSON_Duplicate(r, 1);
            cJSON_AddStringToObject(it, "line", "his.ledger_row");
            cJSON_AddItemToArray(items, it);
        }
        cJSON_AddItemToObject(p, "items", items);
        static const char *const ledger[] = {"h_chart", "h_readings", "h_charges", "h_payments", "h_account", "menu", NULL};
        cust_say(c, "his.ledger", p, ledger);
        return 0;
    }
    if (!strcmp(op, "ledger.chart")) {
        cust_say(c, !strcmp(cust_res(c, "status"), "queued") ? "his.chart_wait" : "bal.not_linked", NULL, kinds);
        return 0;
    }
    if (!strcmp(op, "customer.activity")) {
        const cJSON *r;
        cJSON *items = cJSON_CreateArray(), *p = cJSON_CreateObject();
        cJSON_ArrayForEach(r, cJSON_GetObjectItem(c->ev->payload, "rows")) cJSON_AddItemToArray(items, cJSON_Duplicate(r, 1));
        cJSON_AddItemToObject(p, "items", items);
        cust_say(c, cJSON_GetArraySize(items) ? "his.activity" : "his.empty", p, kinds);
        return 0;
    }
    if (!strcmp(step, "his.range") && c->ev->kind == EV_TEXT) {
        char from[11], to[11];
        if (his_parse_range(c->text, from, to)) {
            cust_fail(c, "his.range_invalid", NULL, kinds);
            return 0;
        }
        snprintf(c->out->step, sizeof c->out->step, "%s", "his.kind");
        cust_set(c, "from", cJSON_CreateString(from));
        cust_set(c, "to", cJSON_CreateString(to));
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "from", c->text);
        cust_ask(c, "his.range_set", p, kinds);
        return 0;
    }
    if (cust_button(c, "h_range")) {
        snprintf(c->out->step, sizeof c->out->step, "%s", "his.range");
        cust_ask(c, "his.ask_range", NULL, kinds);
        return 0;
    }
    if (!strcmp(step, "his.account")) {
        long long id = cust_chosen(c);
        if (id)
            ask_kind(c, id);
        else
            cust_fail(c, "common.use_buttons", NULL, NULL);
    } else if (cust_button(c, "h_readings") || cust_button(c, "h_charges") || cust_button(c, "h_payments")) {
        fetch(c, c->ev->text + 2, 0);
    } else if (cust_button(c, "h_ledger")) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
        cJSON_AddItemToObject(a, "account_id", cJSON_Duplicate(cust_get(c, "account_id"), 1));
        cust_call(c, "account.ledger", a);
    } else if (cust_button(c, "h_chart")) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
        cJSON_AddItemToObject(a, "account_id", cJSON_Duplicate(cust_get(c, "account_id"), 1));
        cJSON_AddStringToObject(a, "lang", c->lang);
        cJSON_AddStringToObject(a, "event_id", c->ev->id ? c->ev->id : "");
        cust_call(c, "ledger.chart", a);
    } else if (cust_button(c, "h_account")) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
        cust_call(c, "customer.activity", a);
    } else if (cust_button(c, "more")) {
        const cJSON *page = cust_get(c, "page");
        fetch(c, cJSON_GetStringValue(cust_get(c, "kind")), cJSON_IsNumber(page) ? page->valueint + 1 : 1);
    } else {
        cust_fail(c, "common.use_buttons", NULL, kinds);
    }
    return 0;
}
