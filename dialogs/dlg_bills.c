/* dlg_bills.c — the latest bill (квитанция) of an account (asked which only when there are several) as a PDF in
 * the chat: bill.send queues it for the "doc" channel, which renders it and sends it as a document; the dialog says
 * it is coming and rests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

void bill_start(cust_t *c) { cust_list_accounts(c, "bill.account"); }

static void send_bill(cust_t *c, long long account)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
    cJSON_AddNumberToObject(a, "account_id", (double)account);
    cJSON_AddStringToObject(a, "lang", c->lang);
    cust_call(c, "bill.send", a);
}

/* The core queued the bill, or there is none. */
static void queued(cust_t *c)
{
    const char *st = cust_res(c, "status");
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "number", cust_res(c, "number"));
    cJSON_AddStringToObject(p, "month", cust_res(c, "month"));
    if (!strcmp(st, "queued")) {
        cust_say(c, "bill.preparing", p, NULL);
        cust_goto(c, ""); /* at rest: the PDF follows as its own message */
        return;
    }
    cust_say(c, !strcmp(st, "no_bill") ? "bill.none" : "bal.not_linked", p, NULL);
    cust_menu(c);
}

int bill_step(cust_t *c)
{
    const char *op = cust_op(c);
    if (!strcmp(op, "account.list")) {
        cJSON *one = NULL;
        if (cust_one_account(c, "bill.no_accounts", "bill.pick_account", &one) == 1)
            send_bill(c, (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(one, "account_id")));
        cJSON_Delete(one);
    } else if (!strcmp(op, "bill.send")) {
        queued(c);
    } else {
        long long id = cust_chosen(c);
        if (id)
            send_bill(c, id);
        else
            cust_fail(c, "common.use_buttons", NULL, NULL);
    }
    return 0;
}
