/* dlg_bynumber.c — an account the customer has not linked, by its typed number: what that needs and no more (the
 * amount due, the address cut short, the meters by the last 4 characters with their last readings; no name, no
 * history), and readings for it. The lookups are capped in the core (account.lookup). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

static const char *const back[] = {"menu", NULL};

void num_start(cust_t *c)
{
    cust_goto(c, "num.number");
    cust_ask(c, "num.ask", NULL, back);
}

/* The masked view, one line per meter zone with its last reading. */
static void show(cust_t *c)
{
    cJSON *p = cJSON_CreateObject(), *lines = cJSON_CreateArray();
    const cJSON *m, *z;
    cJSON_AddStringToObject(p, "number", cust_res(c, "number"));
    cJSON_AddStringToObject(p, "address", cust_res(c, "address"));
    cJSON_AddNumberToObject(p, "amount", atof(cust_res(c, "to_pay_kopecks")));
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(c->ev->payload, "meters")) cJSON_ArrayForEach(z, cJSON_GetObjectItem(m, "last"))
    {
        cJSON *it = cJSON_CreateObject();
        cJSON_AddItemToObject(it, "serial", cJSON_Duplicate(cJSON_GetObjectItem(m, "serial"), 1));
        cJSON_AddItemToObject(it, "zone", cJSON_Duplicate(cJSON_GetObjectItem(z, "zone"), 1));
        cJSON_AddItemToObject(it, "value", cJSON_Duplicate(cJSON_GetObjectItem(z, "value"), 1));
        cJSON_AddItemToObject(it, "day", cJSON_Duplicate(cJSON_GetObjectItem(z, "day"), 1));
        cJSON_AddStringToObject(it, "line", cJSON_IsString(cJSON_GetObjectItem(z, "value")) ? "num.meter" : "num.meter_new");
        cJSON_AddItemToArray(lines, it);
    }
    int meters = cJSON_GetArraySize(lines) > 0;
    cJSON_AddItemToObject(p, "meters", lines);
    snprintf(c->out->step, sizeof c->out->step, "%s", "num.found");
    cust_set(c, "account", cJSON_Duplicate(c->ev->payload, 1));
    static const char *const with_meter[] = {"num_readings", "menu", NULL};
    cust_ask(c, meters ? "num.found" : "num.found_no_meter", p, meters ? with_meter : back);
}

int num_step(cust_t *c)
{
    const char *op = cust_op(c), *step = c->out->step;
    if (!strcmp(op, "account.lookup")) {
        const char *st = cust_res(c, "status");
        if (!strcmp(st, "found")) {
            show(c);
        } else if (!strcmp(st, "too_many_lookups")) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddNumberToObject(p, "limit", atof(cust_res(c, "limit")));
            cust_say(c, "num.too_many", p, NULL);
            cust_menu(c);
        } else {
            cust_fail(c, !strcmp(st, "invalid_number") ? "acc.invalid_number" : "acc.not_found", NULL, back);
        }
    } else if (!strcmp(step, "num.number") && c->ev->kind == EV_TEXT && c->text[0]) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "number", c->text);
        cust_call(c, "account.lookup", a);
    } else if (!strcmp(step, "num.found") && cust_button(c, "num_readings")) {
        cJSON *account = cJSON_Duplicate(cust_get(c, "account"), 1);
        rd_for_account(c, account);
        cJSON_Delete(account);
    } else {
        cust_fail(c, !strcmp(step, "num.number") ? "num.ask" : "common.use_buttons", NULL, back);
    }
    return 0;
}
