/* dlg_accounts.c — "my accounts": the list (primary first), linking one (its number, looked up at once, then a
 * proof: the ЕЛС code, the holder's surname, or a meter photo that staff check), choosing the primary one, and
 * removing one only after the customer confirmed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

static const char *const list_buttons[] = {"link", "primary", "remove", "menu", NULL};
static const char *const none_buttons[] = {"link", "menu", NULL};
static const char *const proof_buttons[] = {"els", "surname", "photo", "menu", NULL};
static const char *const yes_no[] = {"yes", "no", NULL};
static const char *const back[] = {"menu", NULL};

static cJSON *args_for(const cust_t *c)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "customer_id", (double)c->customer);
    return a;
}

void acc_start(cust_t *c)
{
    cust_goto(c, "acc.list");
    cust_call(c, "account.list", args_for(c));
}

/* The list, each account a line ("acc.item" or "acc.item_primary", or pending a staff check). */
static void show_list(cust_t *c)
{
    const cJSON *accounts = cJSON_GetObjectItem(c->ev->payload, "accounts"), *a;
    if (cJSON_GetArraySize(accounts) == 0) {
        cust_ask(c, "acc.none", NULL, none_buttons);
        return;
    }
    cJSON *items = cJSON_CreateArray(), *params = cJSON_CreateObject();
    cJSON_ArrayForEach(a, accounts)
    {
        cJSON *it = cJSON_CreateObject();
        const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(a, "status"));
        cJSON_AddStringToObject(it, "line", status && !strcmp(status, "pending") ? "acc.item_pending"
                                            : cJSON_IsTrue(cJSON_GetObjectItem(a, "primary")) ? "acc.item_primary"
                                                                                               : "acc.item");
        cJSON_AddItemToObject(it, "number", cJSON_Duplicate(cJSON_GetObjectItem(a, "number"), 1));
        cJSON_AddItemToObject(it, "address", cJSON_Duplicate(cJSON_GetObjectItem(a, "address"), 1));
        cJSON_AddItemToArray(items, it);
    }
    cJSON_AddItemToObject(params, "items", items);
    cust_set(c, "accounts", cJSON_Duplicate(accounts, 1));
    cust_ask(c, "acc.list", params, list_buttons);
}

/* The active accounts of the list kept in data, for a choice. */
static cJSON *active(const cust_t *c)
{
    cJSON *out = cJSON_CreateArray();
    const cJSON *a;
    cJSON_ArrayForEach(a, cust_get(c, "accounts"))
    {
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(a, "status"));
        if (st && !strcmp(st, "active"))
            cJSON_AddItemToArray(out, cJSON_Duplicate(a, 1));
    }
    return out;
}

/* Acts on the chosen account: asks to confirm a removal (account.unlink without confirm), or makes it primary. */
static void act(cust_t *c, const char *what, long long account)
{
    cJSON *a = args_for(c);
    cJSON_AddNumberToObject(a, "account_id", (double)account);
    cJSON_AddStringToObject(a, "event_id", c->ev->id ? c->ev->id : "");
    cust_set(c, "account_id", cJSON_CreateNumber((double)account));
    cust_call(c, !strcmp(what, "remove") ? "account.unlink" : "account.set_primary", a);
}

static void on_result(cust_t *c, const char *op)
{
    const char *st = cust_res(c, "status");
    if (!strcmp(op, "account.list")) {
        show_list(c);
    } else if (!strcmp(op, "account.lookup")) {
        if (!strcmp(st, "found")) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "number", cust_res(c, "number"));
            cJSON_AddStringToObject(p, "address", cust_res(c, "address"));
            const cJSON *typed = cust_get(c, "number");
            char number[32];
            snprintf(number, sizeof number, "%s", cJSON_IsString(typed) ? typed->valuestring : "");
            cust_goto(c, "acc.proof");
            cust_set(c, "number", cJSON_CreateString(number));
            cust_ask(c, "acc.ask_proof", p, proof_buttons);
        } else {
            cust_fail(c, !strcmp(st, "invalid_number") ? "acc.invalid_number" : "acc.not_found", NULL, back);
        }
    } else if (!strcmp(op, "account.link")) {
        if (!strcmp(st, "wrong_proof")) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddNumberToObject(p, "left", atof(cust_res(c, "attempts_left")));
            cust_fail(c, "acc.wrong_proof", p, back);
            return;
        }
        if (!strcmp(st, "surname_not_enough")) { /* linked to someone else: the ЕЛС or a photo */
            static const char *const strong[] = {"els", "photo", "menu", NULL};
            snprintf(c->out->step, sizeof c->out->step, "%s", "acc.proof"); /* the number kept: choose again */
            cust_ask(c, "acc.surname_not_enough", NULL, strong);
            return;
        }
        if (!strcmp(st, "pending")) { /* staff check the photo in an appeal; its answer shows the menu */
            cust_say(c, "acc.pending", NULL, NULL);
            app_open(c, "link", cust_res(c, "number"), cust_res(c, "photo"), "photo", 0, atoll(cust_res(c, "link_id")));
            return;
        }
        cust_say(c, !strcmp(st, "linked") ? (!strcmp(cust_res(c, "primary"), "true") ? "acc.linked_primary" : "acc.linked")
                    : !strcmp(st, "pending")          ? "acc.pending"
                    : !strcmp(st, "already_linked")   ? "acc.already"
                    : !strcmp(st, "too_many_attempts") ? "acc.too_many"
                                                       : "acc.not_found",
                 NULL, NULL);
        cust_menu(c);
    } else if (!strcmp(op, "account.unlink")) {
        if (!strcmp(st, "confirm")) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "number", cust_res(c, "number"));
            cJSON_AddStringToObject(p, "address", cust_res(c, "address"));
            snprintf(c->out->step, sizeof c->out->step, "%s", "acc.remove_confirm");
            cust_ask(c, "acc.remove_confirm", p, yes_no);
            return;
        }
        cust_say(c, !strcmp(st, "unlinked") ? "acc.removed" : "acc.not_found", NULL, NULL);
        cust_menu(c);
    } else if (!strcmp(op, "account.set_primary")) {
        cust_say(c, !strcmp(st, "ok") ? "acc.primary_set" : "acc.not_found", NULL, NULL);
        cust_menu(c);
    }
}

void acc_link_start(cust_t *c)
{
    cust_goto(c, "acc.number");
    cust_ask(c, "acc.ask_number", NULL, back);
}

int acc_step(cust_t *c)
{
    const char *op = cust_op(c), *step = c->out->step;
    if (op[0]) {
        on_result(c, op);
        return 0;
    }
    if (!strcmp(step, "acc.list")) {
        if (cust_button(c, "link")) {
            acc_link_start(c);
        } else if (cust_button(c, "remove") || cust_button(c, "primary")) {
            cJSON *list = active(c);
            cust_set(c, "what", cJSON_CreateString(cust_button(c, "remove") ? "remove" : "primary"));
            if (cJSON_GetArraySize(list) == 1)
                act(c, cust_button(c, "remove") ? "remove" : "primary",
                    (long long)cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "account_id")->valuedouble);
            else if (cJSON_GetArraySize(list) == 0)
                cust_fail(c, "acc.none", NULL, none_buttons);
            else {
                snprintf(c->out->step, sizeof c->out->step, "%s", "acc.pick");
                cust_choose(c, cust_button(c, "remove") ? "acc.pick_remove" : "acc.pick_primary", list);
            }
            cJSON_Delete(list);
        } else {
            cust_fail(c, "common.use_buttons", NULL, list_buttons);
        }
    } else if (!strcmp(step, "acc.pick")) {
        long long id = cust_chosen(c);
        const char *what = cJSON_GetStringValue(cust_get(c, "what"));
        if (id)
            act(c, what ? what : "primary", id);
        else
            cust_fail(c, "common.use_buttons", NULL, back);
    } else if (!strcmp(step, "acc.remove_confirm")) {
        if (cust_button(c, "yes")) {
            cJSON *a = args_for(c);
            cJSON_AddItemToObject(a, "account_id", cJSON_Duplicate(cust_get(c, "account_id"), 1));
            cJSON_AddBoolToObject(a, "confirm", 1);
            cJSON_AddStringToObject(a, "event_id", c->ev->id ? c->ev->id : "");
            cust_call(c, "account.unlink", a);
        } else if (cust_button(c, "no")) {
            cust_say(c, "acc.kept", NULL, NULL);
            cust_menu(c);
        } else {
            cust_fail(c, "common.use_buttons", NULL, yes_no);
        }
    } else if (!strcmp(step, "acc.number")) {
        if (c->ev->kind == EV_TEXT && c->text[0]) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "number", c->text);
            cust_set(c, "number", cJSON_CreateString(c->text));
            cust_call(c, "account.lookup", a);
        } else {
            cust_fail(c, "acc.ask_number", NULL, back);
        }
    } else if (!strcmp(step, "acc.proof")) {
        const char *proof = cust_button(c, "els") ? "els" : cust_button(c, "surname") ? "surname"
                            : cust_button(c, "photo") ? "photo" : NULL;
        if (!proof) {
            cust_fail(c, "common.use_buttons", NULL, proof_buttons);
            return 0;
        }
        snprintf(c->out->step, sizeof c->out->step, "%s", "acc.proof_value");
        cust_set(c, "proof", cJSON_CreateString(proof));
        cust_ask(c, !strcmp(proof, "els") ? "acc.ask_els" : !strcmp(proof, "surname") ? "acc.ask_surname" : "acc.ask_photo",
                 NULL, back);
    } else if (!strcmp(step, "acc.proof_value")) {
        const char *proof = cJSON_GetStringValue(cust_get(c, "proof"));
        int photo = proof && !strcmp(proof, "photo");
        if ((photo && c->ev->kind == EV_PHOTO && c->ev->text) || (!photo && c->ev->kind == EV_TEXT && c->text[0])) {
            cJSON *a = args_for(c);
            cJSON_AddItemToObject(a, "number", cJSON_Duplicate(cust_get(c, "number"), 1));
            cJSON_AddStringToObject(a, "proof", proof ? proof : "surname");
            cJSON_AddStringToObject(a, "value", photo ? c->ev->text : c->text);
            cJSON_AddStringToObject(a, "event_id", c->ev->id ? c->ev->id : "");
            cust_call(c, "account.link", a);
        } else {
            cust_fail(c, photo ? "acc.ask_photo" : "common.type_text", NULL, back);
        }
    }
    return 0;
}
