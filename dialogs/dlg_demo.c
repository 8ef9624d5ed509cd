/* dlg_demo.c — the demo dialog: echoes text, and counts in a two-step "counting" screen whose additions are a real
 * domain change (core op demo.counter_add). It exercises every engine path — replies with buttons, core calls
 * whose result comes back as an event, step timeouts, stale buttons — until the real dialogs land. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dialog.h"

static const char *const counting_buttons[] = {"inc", "done", NULL};
static const char *const menu_buttons[] = {"count", NULL};

/* Asks the core to add one, tagged with what the customer typed after '+' (tests check the order of tags). */
static void add(dlg_result_t *out, const char *tag)
{
    cJSON *args = cJSON_CreateObject();
    cJSON_AddNumberToObject(args, "by", 1);
    cJSON_AddStringToObject(args, "tag", tag && *tag ? tag : "0");
    dlg_core(out, "demo.counter_add", args);
}

static int is(const dlg_event_t *ev, dlg_event_kind_t kind, const char *text)
{
    return ev->kind == kind && ev->text && strcmp(ev->text, text) == 0;
}

static int demo_step(const dlg_state_t *st, const dlg_event_t *ev, dlg_result_t *out)
{
    dlg_result_init(out, st);
    if (ev->kind == EV_CORE_RESULT) {
        cJSON *params = cJSON_CreateObject();
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(ev->payload, "n");
        cJSON_AddNumberToObject(params, "n", cJSON_IsNumber(n) ? n->valuedouble : 0);
        dlg_reply(out, "demo.count", params, strcmp(st->step, "counting") == 0 ? counting_buttons : NULL);
        return 0;
    }
    if (is(ev, EV_COMMAND, "/cancel") || (is(ev, EV_BUTTON, "done") && !strcmp(st->step, "counting"))) {
        snprintf(out->step, sizeof out->step, "%s", "");
        cJSON_Delete(out->data);
        out->data = cJSON_CreateObject();
        dlg_reply(out, "demo.done", NULL, menu_buttons);
        return 0;
    }
    if (!strcmp(st->step, "counting")) {
        if (ev->kind == EV_TIMEOUT) {
            snprintf(out->step, sizeof out->step, "%s", "");
            dlg_reply(out, "demo.timeout", NULL, menu_buttons);
        } else if (is(ev, EV_BUTTON, "inc") || (ev->kind == EV_TEXT && ev->text && ev->text[0] == '+')) {
            add(out, ev->kind == EV_TEXT ? ev->text + 1 : "0");
        } else {
            dlg_reply(out, "demo.count_help", NULL, counting_buttons);
        }
        return 0;
    }
    /* at rest */
    if (ev->kind == EV_COMMAND && ev->text && !strncmp(ev->text, "/count", 6) && (!ev->text[6] || ev->text[6] == ' ')) {
        /* "/count" waits 60 s for the next press; "/count N" waits N seconds (1–3600) */
        int secs = ev->text[6] ? atoi(ev->text + 7) : 60;
        snprintf(out->step, sizeof out->step, "%s", "counting");
        dlg_reply(out, "demo.count_ask", NULL, counting_buttons);
        dlg_timeout(out, (secs >= 1 && secs <= 3600 ? secs : 60) * 1000);
    } else if (is(ev, EV_BUTTON, "count")) {
        snprintf(out->step, sizeof out->step, "%s", "counting");
        dlg_reply(out, "demo.count_ask", NULL, counting_buttons);
        dlg_timeout(out, 60000);
    } else if (ev->kind == EV_TEXT && ev->text && ev->text[0] == '+') {
        add(out, ev->text + 1);
    } else if (is(ev, EV_COMMAND, "/human")) { /* ask for a person: escalate, and say so */
        dlg_escalate(out, ev->conv, "asked for a person");
        dlg_reply(out, "demo.escalated", NULL, menu_buttons);
    } else if (ev->kind == EV_TEXT || ev->kind == EV_COMMAND) {
        cJSON *params = cJSON_CreateObject();
        cJSON_AddStringToObject(params, "text", ev->text ? ev->text : "");
        dlg_reply(out, "demo.echo", params, menu_buttons);
    } else if (ev->kind == EV_TIMEOUT) {
        /* nothing to time out at rest: no reply, no change */
    } else {
        dlg_reply(out, "common.not_understood", NULL, menu_buttons);
    }
    return 0;
}

static int demo_render(const dlg_state_t *st, dlg_result_t *out)
{
    dlg_result_init(out, st);
    if (!strcmp(st->step, "counting"))
        dlg_reply(out, "demo.count_ask", NULL, counting_buttons);
    else
        dlg_reply(out, "demo.menu", NULL, menu_buttons);
    return 0;
}

const dlg_def_t dlg_demo = {"demo", demo_step, demo_render};
