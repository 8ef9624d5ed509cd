/* dlg_balance.c — the balance of an account (asked which only when there are several): a debt, an overpayment or
 * nothing due; penalties apart; payments made through kabinet that billing has not credited yet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

void bal_start(cust_t *c) { cust_list_accounts(c, "bal.account"); }


/* Money as a parameter: kopecks (the catalog renders rubles). */
static void money(cJSON *p, const char *name, const char *kopecks) { cJSON_AddNumberToObject(p, name, atof(kopecks)); }

static void show(cust_t *c)
{
    if (strcmp(cust_res(c, "status"), "ok")) {
        cust_say(c, "bal.not_linked", NULL, NULL);
        cust_menu(c);
        return;
    }
    long long balance = atoll(cust_res(c, "balance_kopecks"));
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "number", cust_res(c, "number"));
    money(p, "amount", balance < 0 ? cust_res(c, "balance_kopecks") + 1 : cust_res(c, "balance_kopecks"));
    cust_say(c, balance > 0 ? "bal.debt" : balance < 0 ? "bal.overpaid" : "bal.zero", p, NULL);
    if (atoll(cust_res(c, "penalties_kopecks")) > 0) {
        p = cJSON_CreateObject();
        money(p, "amount", cust_res(c, "penalties_kopecks"));
        cust_say(c, "bal.penalties", p, NULL);
    }
    if (atoll(cust_res(c, "uncredited_kopecks")) > 0) {
        p = cJSON_CreateObject();
        money(p, "amount", cust_res(c, "uncredited_kopecks"));
        cust_say(c, "bal.uncredited", p, NULL);
    }
    cust_menu(c);
}

int bal_step(cust_t *c)
{
    const char *op = cust_op(c);
    if (!strcmp(op, "account.list")) {
        cJSON *one = NULL;
        if (cust_one_account(c, "bal.no_accounts", "bal.pick_account", &one) == 1)
            cust_balance(c, (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(one, "account_id")));
        cJSON_Delete(one);
    } else if (!strcmp(op, "account.balance")) {
        show(c);
    } else {
        long long id = cust_chosen(c);
        if (id)
            cust_balance(c, id);
        else
            cust_fail(c, "common.use_buttons", NULL, NULL);
    }
    return 0;
}
