/* dlg_keywords.c — one-shot commands, what an SMS customer types instead of pressing buttons (the SMS channel turns
 * БАЛАНС, П 12345, ОПЛАТА 1500, СЧЕТ, СТОП, СТАРТ, ОПЕРАТОР into them; any channel may send them): "/balance
 * [account]", "/reading [account] value [value…]", "/pay [account] [sum]", "/bill [account]", "/stop", "/resume",
 * "/human" (support). Each starts
 * the area it names with what was given preset: the account ("want": chosen without asking), the values (sent
 * one per meter zone without asking), the sum (paid without asking). Without a linked account a command leads
 * straight to linking one. /stop turns reminders and broadcasts off (codes the customer asks for still come);
 * /resume turns them on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

static const char *const names[] = {"/balance", "/reading", "/pay", "/bill", "/stop", "/resume", "/human", NULL};

/* The command of text, or -1. */
static int which(const char *text)
{
    for (int i = 0; names[i]; i++) {
        size_t n = strlen(names[i]);
        if (!strncmp(text, names[i], n) && (!text[n] || text[n] == ' '))
            return i;
    }
    return -1;
}

int kw_is_command(const dlg_event_t *ev) { return ev->kind == EV_COMMAND && ev->text && which(ev->text) >= 0; }

int kw_run(cust_t *c, const char *text)
{
    int k = which(text);
    if (k < 0)
        return 0;
    /* the words after the command: an account number (10 digits) first, when more follows or it is alone */
    char rest[256], account[16] = "";
    snprintf(rest, sizeof rest, "%s", text + strlen(names[k]) + (text[strlen(names[k])] == ' '));
    char *r = rest;
    while (*r == ' ')
        r++;
    if (strlen(r) >= 10 && strspn(r, "0123456789") == 10 && (r[10] == ' ' || !r[10])) {
        memcpy(account, r, 10);
        account[10] = 0;
        r += 10;
        while (*r == ' ')
            r++;
    }
    if (k == 6) { /* /human: a person (the SMS channel's ОПЕРАТОР) */
        sup_start(c);
        return 1;
    }
    if (k == 4 || k == 5) { /* /stop, /resume */
        cust_goto(c, "set.kw");
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
        cJSON_AddStringToObject(a, "field", "notifications");
        cJSON_AddStringToObject(a, "value", k == 5 ? "true" : "false");
        cJSON_AddStringToObject(a, "event_id", c->ev->id ? c->ev->id : "");
        cust_set(c, "kw", cJSON_CreateString(k == 5 ? "resume" : "stop"));
        cust_call(c, "customer.set", a);
        return 1;
    }
    if (k == 0)
        bal_start(c);
    else if (k == 1)
        rd_start(c);
    else if (k == 2)
        pay_start(c);
    else
        bill_start(c);
    cust_set(c, "kw", cJSON_CreateTrue());
    if (account[0])
        cust_set(c, "want", cJSON_CreateString(account));
    if (k == 1 && *r) { /* the values, one per meter zone */
        cJSON *preset = cJSON_CreateArray();
        for (char *save = NULL, *v = strtok_r(r, " ", &save); v; v = strtok_r(NULL, " ", &save))
            cJSON_AddItemToArray(preset, cJSON_CreateString(v));
        cust_set(c, "preset", preset);
    }
    if (k == 2)
        cust_set(c, "want_sum", cJSON_CreateString(r));
    return 1;
}
