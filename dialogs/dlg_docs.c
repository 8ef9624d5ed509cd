/* dlg_docs.c — a business's documents (seeds 000, 004): the supply point (asked which only when there are several),
 * the period (a month "10.2026" or two dates), then any of счёт на оплату, счёт-фактура, акт приёма-передачи and акт
 * сверки, each sent as a PDF by the "doc" channel (docs.request, doc_biz.h). A household is pointed to its bills.
 * A period is at most three years. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

static const char *const back[] = {"menu", NULL};
static const char *const kinds[] = {"doc_invoice", "doc_vat", "doc_act", "doc_recon", "menu", NULL};

void docs_start(cust_t *c) { cust_list_accounts(c, "doc.account"); }

static void ask_period(cust_t *c, long long account)
{
    cust_goto(c, "doc.period");
    cust_set(c, "account_id", cJSON_CreateNumber((double)account));
    cust_ask(c, "doc.ask_period", NULL, back);
}

int docs_step(cust_t *c)
{
    const char *op = cust_op(c), *step = c->out->step, *st = cust_res(c, "status");
    if (!strcmp(op, "account.list")) {
        const cJSON *a;
        int business = 0, any = 0;
        cJSON_ArrayForEach(a, cJSON_GetObjectItem(c->ev->payload, "accounts"))
        {
            any = 1;
            business |= !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(a, "kind")) ?: "", "business");
        }
        if (any && !business) { /* a household's documents are its bills: say so before asking anything */
            cust_say(c, "doc.business_only", NULL, NULL);
            cust_menu(c);
            return 0;
        }
        cJSON *one = NULL;
        if (cust_one_account(c, "doc.no_accounts", "doc.pick_account", &one) == 1)
            ask_period(c, (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(one, "account_id")));
        cJSON_Delete(one);
    } else if (!strcmp(op, "docs.request")) {
        if (!strcmp(st, "queued")) {
            cust_say(c, "doc.queued", NULL, kinds); /* another of the same period: the buttons stay */
        } else {
            cust_say(c, !strcmp(st, "business_only") ? "doc.business_only" : "bal.not_linked", NULL, NULL);
            cust_menu(c);
        }
    } else if (!strcmp(step, "doc.account")) {
        long long id = cust_chosen(c);
        if (id)
            ask_period(c, id);
        else
            cust_fail(c, "common.use_buttons", NULL, back);
    } else if (!strcmp(step, "doc.period") && c->ev->kind == EV_TEXT) {
        char from[11], to[11];
        /* a period of at most three years: the documents stay a few pages */
        if (his_parse_range(c->text, from, to) || atoi(to) - atoi(from) > 3) {
            cust_fail(c, "doc.period_invalid", NULL, back);
            return 0;
        }
        double account = cJSON_GetNumberValue(cust_get(c, "account_id"));
        cust_goto(c, "doc.kind");
        cust_set(c, "account_id", cJSON_CreateNumber(account));
        cust_set(c, "from", cJSON_CreateString(from));
        cust_set(c, "to", cJSON_CreateString(to));
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "from", c->text);
        cust_ask(c, "doc.pick", p, kinds);
    } else if (!strcmp(step, "doc.kind") && c->ev->kind == EV_BUTTON && c->ev->text && !strncmp(c->ev->text, "doc_", 4)) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
        cJSON_AddItemToObject(a, "account_id", cJSON_Duplicate(cust_get(c, "account_id"), 1));
        cJSON_AddStringToObject(a, "kind", c->ev->text + 4);
        cJSON_AddItemToObject(a, "from", cJSON_Duplicate(cust_get(c, "from"), 1));
        cJSON_AddItemToObject(a, "to", cJSON_Duplicate(cust_get(c, "to"), 1));
        cJSON_AddStringToObject(a, "lang", c->lang);
        cJSON_AddStringToObject(a, "event_id", c->ev->id ? c->ev->id : "");
        cust_call(c, "docs.request", a);
    } else {
        cust_fail(c, !strcmp(step, "doc.period") ? "doc.ask_period" : "common.use_buttons", NULL,
                  !strcmp(step, "doc.kind") ? kinds : back);
    }
    return 0;
}
