/* dlg_readings.c — sending readings: the account (asked only when there are several), then each meter zone in turn,
 * showing its previous reading and date; the value as typed ("29700", "29 700", "29700,5") goes to
 * reading.submit, whose answer becomes words: consumption, a confirmation for passing zero or more than 50,000 kWh,
 * "already sent today", or why the value cannot be a reading. A zone can be skipped; a photo of the meter sent
 * before the value is stored with it. An account without a meter has no readings step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

static const char *const value_buttons[] = {"skip", "menu", NULL};
static const char *const yes_no[] = {"yes", "no", NULL};

void rd_start(cust_t *c)
{
    cust_goto(c, "rd.account");
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
    cust_call(c, "reading.targets", a);
}

static void submit(cust_t *c, const char *value, const char *confirmed);

/* Asks for the value of the queue's first meter zone (or sends the next value given with the command), or ends when
 * the queue is empty. */
static void ask_next(cust_t *c)
{
    const cJSON *q = cust_get(c, "queue"), *first = cJSON_GetArrayItem(q, 0);
    if (!first) { /* thanks only when something was sent: an "already sent today" alone is the answer */
        if (cJSON_IsTrue(cust_get(c, "sent")))
            cust_say(c, "rd.done", NULL, NULL);
        else if (cJSON_IsTrue(cust_get(c, "skipped")))
            cust_say(c, "rd.none_sent", NULL, NULL);
        cust_menu(c);
        return;
    }
    snprintf(c->out->step, sizeof c->out->step, "%s", "rd.value");
    cJSON_DeleteItemFromObject(c->out->data, "fails");
    cJSON *preset = cJSON_GetObjectItem(c->out->data, "preset");
    if (cJSON_GetArraySize(preset) > 0) {
        cJSON *v = cJSON_DetachItemFromArray(preset, 0);
        submit(c, cJSON_GetStringValue(v) ?: "", NULL);
        cJSON_Delete(v);
        return;
    }
    const cJSON *last = cJSON_GetObjectItem(first, "value");
    cJSON *p = cJSON_Duplicate(first, 1);
    int zones = cJSON_GetObjectItem(first, "zones") ? cJSON_GetObjectItem(first, "zones")->valueint : 1;
    cust_ask(c, cJSON_IsString(last) ? (zones > 1 ? "rd.ask_zone" : "rd.ask") : (zones > 1 ? "rd.ask_zone_first" : "rd.ask_first"),
             p, value_buttons);
}

/* Drops the queue's first meter zone and asks for the next. */
static void advance(cust_t *c)
{
    cJSON *q = cJSON_GetObjectItem(c->out->data, "queue");
    cJSON_DeleteItemFromArray(q, 0);
    cJSON_DeleteItemFromObject(c->out->data, "value");
    cJSON_DeleteItemFromObject(c->out->data, "photo");
    ask_next(c);
}

/* Queues every meter zone of the chosen account (from reading.targets or account.lookup). */
void rd_for_account(cust_t *c, const cJSON *account)
{
    cJSON *queue = cJSON_CreateArray();
    const cJSON *m, *z;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(account, "meters"))
    {
        cJSON_ArrayForEach(z, cJSON_GetObjectItem(m, "last"))
        {
            cJSON *it = cJSON_CreateObject();
            cJSON_AddItemToObject(it, "meter_id", cJSON_Duplicate(cJSON_GetObjectItem(m, "meter_id"), 1));
            cJSON_AddItemToObject(it, "serial", cJSON_Duplicate(cJSON_GetObjectItem(m, "serial"), 1));
            cJSON_AddItemToObject(it, "zones", cJSON_Duplicate(cJSON_GetObjectItem(m, "zones"), 1));
            cJSON_AddItemToObject(it, "zone", cJSON_Duplicate(cJSON_GetObjectItem(z, "zone"), 1));
            if (cJSON_IsString(cJSON_GetObjectItem(z, "value"))) {
                cJSON_AddItemToObject(it, "value", cJSON_Duplicate(cJSON_GetObjectItem(z, "value"), 1));
                cJSON_AddItemToObject(it, "day", cJSON_Duplicate(cJSON_GetObjectItem(z, "day"), 1));
            }
            cJSON_AddItemToArray(queue, it);
        }
    }
    cJSON *preset = cJSON_DetachItemFromObject(c->out->data, "preset"); /* the values a command gave, kept */
    cust_goto(c, "rd.value");
    if (preset)
        cust_set(c, "preset", preset);
    if (cJSON_GetArraySize(queue) == 0) {
        cJSON_Delete(queue);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddItemToObject(p, "number", cJSON_Duplicate(cJSON_GetObjectItem(account, "number"), 1));
        cust_say(c, "rd.no_meter", p, NULL);
        cust_menu(c);
        return;
    }
    cust_set(c, "queue", queue);
    ask_next(c);
}

/* Sends value for the queue's first meter zone; confirmed: what the customer has confirmed of it (the passing of
 * zero, then a consumption above the threshold: reading.submit asks about each in turn), or NULL. */
static void submit(cust_t *c, const char *value, const char *confirmed)
{
    const cJSON *first = cJSON_GetArrayItem(cust_get(c, "queue"), 0);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddItemToObject(a, "meter_id", cJSON_Duplicate(cJSON_GetObjectItem(first, "meter_id"), 1));
    cJSON_AddItemToObject(a, "zone", cJSON_Duplicate(cJSON_GetObjectItem(first, "zone"), 1));
    cJSON_AddStringToObject(a, "value", value);
    if (confirmed)
        cJSON_AddStringToObject(a, "confirm", confirmed);
    cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
    cJSON_AddStringToObject(a, "event_id", c->ev->id ? c->ev->id : "");
    if (cJSON_IsString(cust_get(c, "photo")))
        cJSON_AddItemToObject(a, "photo", cJSON_Duplicate(cust_get(c, "photo"), 1));
    if (c->ev->ts_ms > 0)
        cJSON_AddNumberToObject(a, "now_ms", (double)c->ev->ts_ms);
    cust_set(c, "value", cJSON_CreateString(value));
    cust_call(c, "reading.submit", a);
}

/* Words for reading.submit's answer. */
static void on_submitted(cust_t *c)
{
    const char *st = cust_res(c, "status");
    cJSON *p = cJSON_CreateObject();
    if (!strcmp(st, "accepted")) {
        cust_set(c, "sent", cJSON_CreateTrue());
        cJSON_AddStringToObject(p, "consumption", cust_res(c, "consumption"));
        cust_say(c, !strcmp(cust_res(c, "review"), "true")     ? "rd.accepted_review"
                    : !strcmp(cust_res(c, "replaced"), "true") ? "rd.replaced"
                    : cust_res(c, "consumption")[0]            ? "rd.accepted"
                                                               : "rd.accepted_first", p, NULL);
        advance(c);
    } else if (!strcmp(st, "confirm")) {
        cJSON_AddStringToObject(p, "consumption", cust_res(c, "consumption"));
        cJSON_AddStringToObject(p, "previous", cust_res(c, "previous"));
        cJSON_AddStringToObject(p, "threshold", cust_res(c, "threshold")[0] ? cust_res(c, "threshold") : "50000");
        cJSON_AddItemToObject(p, "value", cJSON_Duplicate(cust_get(c, "value"), 1));
        snprintf(c->out->step, sizeof c->out->step, "%s", "rd.confirm");
        cust_set(c, "confirming", cJSON_CreateString(cust_res(c, "reason")));
        cust_ask(c, !strcmp(cust_res(c, "reason"), "rollover") ? "rd.confirm_rollover" : "rd.confirm_large", p, yes_no);
    } else if (!strcmp(st, "already")) {
        cJSON_AddStringToObject(p, "value", cust_res(c, "value"));
        cust_say(c, "rd.already", p, NULL);
        advance(c);
    } else if (!strcmp(st, "invalid")) {
        char tmpl[48];
        snprintf(tmpl, sizeof tmpl, "rd.invalid_%s", cust_res(c, "reason"));
        cJSON_Delete(p);
        cust_fail(c, tmpl, NULL, value_buttons);
    } else if (!strcmp(st, "outside_window")) {
        cJSON_AddNumberToObject(p, "from", atof(cust_res(c, "from")));
        cJSON_AddNumberToObject(p, "to", atof(cust_res(c, "to")));
        cust_say(c, "rd.outside_window", p, NULL);
        cust_menu(c);
    } else {
        cJSON_Delete(p);
        cust_say(c, "rd.no_meter_now", NULL, NULL);
        cust_menu(c);
    }
}

int rd_step(cust_t *c)
{
    const char *op = cust_op(c), *step = c->out->step;
    if (!strcmp(op, "reading.targets")) {
        cJSON *one = NULL;
        int n = cust_one_account(c, "rd.no_accounts", "rd.pick_account", &one);
        if (n == 1)
            rd_for_account(c, one);
        else if (n == 2) /* kept to find the chosen one's meters */
            cust_set(c, "targets", cJSON_Duplicate(cJSON_GetObjectItem(c->ev->payload, "accounts"), 1));
        cJSON_Delete(one);
        return 0;
    }
    if (!strcmp(op, "reading.submit")) {
        on_submitted(c);
        return 0;
    }
    if (!strcmp(step, "rd.account")) {
        long long id = cust_chosen(c);
        const cJSON *a;
        cJSON_ArrayForEach(a, cust_get(c, "targets")) if ((long long)cJSON_GetObjectItem(a, "account_id")->valuedouble == id)
        {
            cJSON *copy = cJSON_Duplicate(a, 1);
            rd_for_account(c, copy);
            cJSON_Delete(copy);
            return 0;
        }
        cust_fail(c, "common.use_buttons", NULL, NULL);
    } else if (!strcmp(step, "rd.value")) {
        if (cust_button(c, "skip")) {
            cust_set(c, "skipped", cJSON_CreateTrue());
            advance(c);
        }
        else if (c->ev->kind == EV_PHOTO && c->ev->text) { /* a photo of the meter goes with the value */
            cust_set(c, "photo", cJSON_CreateString(c->ev->text));
            cust_say(c, "rd.photo_ok", NULL, value_buttons);
        } else if (c->ev->kind == EV_TEXT)
            submit(c, c->text, NULL);
        else
            cust_fail(c, "rd.invalid_not_a_number", NULL, value_buttons);
    } else if (!strcmp(step, "rd.confirm")) {
        const cJSON *v = cust_get(c, "value");
        char value[64];
        snprintf(value, sizeof value, "%s", cJSON_IsString(v) ? v->valuestring : "");
        if (cust_button(c, "yes")) {
            const cJSON *what = cust_get(c, "confirming");
            submit(c, value, cJSON_IsString(what) ? what->valuestring : "above_threshold");
        } else if (cust_button(c, "no")) {
            ask_next(c); /* the same meter zone again, for a corrected value */
        } else {
            cust_fail(c, "common.use_buttons", NULL, yes_no);
        }
    }
    return 0;
}
