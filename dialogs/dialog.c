/* dialog.c — helpers every dialog uses to build its result (see dialog.h). Pure: no I/O. */
#include <string.h>
#include <stdio.h>
#include "dialog.h"

static const char *const kind_names[EV__COUNT] = {"text", "command", "button", "contact", "photo", "document",
                                                  "timeout", "core_result", "staff"};

const char *dlg_kind_name(dlg_event_kind_t k) { return k < EV__COUNT ? kind_names[k] : "unknown"; }

int dlg_kind_parse(const char *s)
{
    for (int i = 0; s && i < EV__COUNT; i++)
        if (!strcmp(s, kind_names[i]))
            return i;
    return -1;
}

void dlg_result_init(dlg_result_t *out, const dlg_state_t *st)
{
    memset(out, 0, sizeof *out);
    snprintf(out->step, sizeof out->step, "%s", st->step ? st->step : "");
    out->keep = st->keep ? cJSON_Duplicate(st->keep, 1) : cJSON_CreateObject();
    out->data = st->data ? cJSON_Duplicate(st->data, 1) : cJSON_CreateObject();
    out->effects = cJSON_CreateArray();
}

void dlg_result_free(dlg_result_t *out)
{
    cJSON_Delete(out->keep);
    cJSON_Delete(out->data);
    cJSON_Delete(out->effects);
    memset(out, 0, sizeof *out);
}

/* A new effect of that type, already appended to the result. */
static cJSON *effect(dlg_result_t *out, const char *type)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddItemToArray(out->effects, e);
    return e;
}

cJSON *dlg_reply(dlg_result_t *out, const char *tmpl, cJSON *params, const char *const *buttons)
{
    cJSON *e = effect(out, "reply");
    cJSON_AddStringToObject(e, "tmpl", tmpl);
    cJSON_AddItemToObject(e, "params", params ? params : cJSON_CreateObject());
    if (buttons) {
        cJSON *b = cJSON_AddArrayToObject(e, "buttons");
        for (const char *const *p = buttons; *p; p++)
            cJSON_AddItemToArray(b, cJSON_CreateString(*p));
    }
    return e;
}

void dlg_core(dlg_result_t *out, const char *op, cJSON *args)
{
    cJSON *e = effect(out, "core");
    cJSON_AddStringToObject(e, "op", op);
    cJSON_AddItemToObject(e, "args", args ? args : cJSON_CreateObject());
}

void dlg_timeout(dlg_result_t *out, int ms)
{
    cJSON *e = effect(out, "timeout");
    cJSON_AddNumberToObject(e, "after_ms", ms);
}

void dlg_audit(dlg_result_t *out, const char *what, cJSON *details)
{
    cJSON *e = effect(out, "audit");
    cJSON_AddStringToObject(e, "what", what);
    cJSON_AddItemToObject(e, "details", details ? details : cJSON_CreateObject());
}

void dlg_send(dlg_result_t *out, const char *channel, const char *to, const char *tmpl, cJSON *params, int lane)
{
    cJSON *e = effect(out, "send");
    cJSON_AddStringToObject(e, "channel", channel);
    cJSON_AddStringToObject(e, "to", to);
    cJSON_AddStringToObject(e, "tmpl", tmpl);
    cJSON_AddItemToObject(e, "params", params ? params : cJSON_CreateObject());
    cJSON_AddNumberToObject(e, "lane", lane ? 1 : 0);
}

void dlg_event(dlg_result_t *out, const char *conv, dlg_event_kind_t kind, const char *text, cJSON *payload)
{
    cJSON *e = effect(out, "event");
    cJSON_AddStringToObject(e, "to", conv);
    cJSON_AddStringToObject(e, "kind", dlg_kind_name(kind));
    cJSON_AddStringToObject(e, "text", text ? text : "");
    cJSON_AddItemToObject(e, "payload", payload ? payload : cJSON_CreateObject());
}

void dlg_escalate(dlg_result_t *out, const char *conv, const char *reason)
{
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "conv", conv);
    cJSON_AddStringToObject(params, "reason", reason);
    dlg_send(out, "staff", "staff:support", "staff.escalation", params, 0);
}
