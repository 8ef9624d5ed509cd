/* dlg_calc.c — the calculator (seed 002's «Калькулятор»): kWh per zone of the account's tariff (one value for a
 * single-rate tariff, day and night, or peak, half-peak and night) → rubles at the rates in force today
 * (tariff.calculate), each zone and the total. Values are exact decimals with at most 3 places ("150", "150,5"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

static const char *const back[] = {"menu", NULL};

void calc_start(cust_t *c) { cust_list_accounts(c, "calc.account"); }

/* 1 when text is a kWh value: up to 12 digits, then "," or "." and up to 3. */
static int is_kwh(const char *t)
{
    size_t d = strspn(t, "0123456789");
    if (d < 1 || d > 12)
        return 0;
    if (!t[d])
        return 1;
    if (t[d] != ',' && t[d] != '.')
        return 0;
    size_t f = strspn(t + d + 1, "0123456789");
    return f >= 1 && f <= 3 && !t[d + 1 + f];
}

/* The tariff (no values yet), or the result. */
static void call(cust_t *c, long long account, const cJSON *values)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
    cJSON_AddNumberToObject(a, "account_id", (double)account);
    cust_set(c, "account_id", cJSON_CreateNumber((double)account));
    int i = 1;
    const cJSON *v;
    cJSON_ArrayForEach(v, values)
    {
        char k[16];
        snprintf(k, sizeof k, "kwh%d", i++);
        cJSON_AddStringToObject(a, k, v->valuestring);
    }
    cust_call(c, "tariff.calculate", a);
}

/* Asks for the next zone's kWh. */
static void ask(cust_t *c)
{
    int zones = (int)cJSON_GetNumberValue(cust_get(c, "zones")), got = cJSON_GetArraySize(cust_get(c, "kwh"));
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "tariff", cJSON_GetStringValue(cust_get(c, "tariff")) ?: "");
    cJSON_AddNumberToObject(p, "zone", got + 1);
    cJSON_AddNumberToObject(p, "zones", zones);
    cust_ask(c, zones > 1 ? "calc.ask_zone" : "calc.ask", p, back);
}

int calc_step(cust_t *c)
{
    const char *op = cust_op(c), *st = cust_res(c, "status");
    if (!strcmp(op, "account.list")) {
        cJSON *one = NULL;
        if (cust_one_account(c, "calc.no_accounts", "calc.pick_account", &one) == 1)
            call(c, (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(one, "account_id")), NULL);
        cJSON_Delete(one);
    } else if (!strcmp(op, "tariff.calculate") && !strcmp(st, "tariff")) {
        double account = cJSON_GetNumberValue(cust_get(c, "account_id"));
        cust_goto(c, "calc.kwh");
        cust_set(c, "account_id", cJSON_CreateNumber(account));
        cust_set(c, "tariff", cJSON_CreateString(cust_res(c, "tariff")));
        cust_set(c, "zones", cJSON_CreateNumber(atof(cust_res(c, "zones"))));
        cust_set(c, "kwh", cJSON_CreateArray());
        ask(c);
    } else if (!strcmp(op, "tariff.calculate") && !strcmp(st, "ok")) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "tariff", cust_res(c, "tariff"));
        cJSON_AddStringToObject(p, "date", cust_res(c, "date"));
        cJSON_AddItemToObject(p, "items", cJSON_Duplicate(cJSON_GetObjectItem(c->ev->payload, "lines"), 1));
        cJSON_AddNumberToObject(p, "total", atof(cust_res(c, "total_kopecks")));
        cust_say(c, "calc.result", p, NULL);
        cust_menu(c);
    } else if (!strcmp(op, "tariff.calculate")) {
        cust_say(c, !strcmp(st, "no_tariff") ? "calc.no_tariff" : !strcmp(st, "invalid") ? "calc.invalid"
                                                                                          : "bal.not_linked", NULL, NULL);
        cust_menu(c);
    } else if (!strcmp(c->out->step, "calc.kwh") && c->ev->kind == EV_TEXT) {
        if (!is_kwh(c->text)) {
            cust_fail(c, "calc.invalid", NULL, back);
            return 0;
        }
        cJSON *kwh = cJSON_Duplicate(cust_get(c, "kwh"), 1);
        cJSON_AddItemToArray(kwh, cJSON_CreateString(c->text));
        cust_set(c, "kwh", kwh);
        if (cJSON_GetArraySize(kwh) < (int)cJSON_GetNumberValue(cust_get(c, "zones")))
            ask(c);
        else
            call(c, (long long)cJSON_GetNumberValue(cust_get(c, "account_id")), kwh);
    } else {
        long long id = cust_chosen(c);
        if (id)
            call(c, id, NULL);
        else
            cust_fail(c, "common.use_buttons", NULL, back);
    }
    return 0;
}
