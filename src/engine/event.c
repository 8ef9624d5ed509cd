/* event.c — the neutral event's JSON form (see event.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "event.h"

char *event_to_json(const event_t *ev)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", ev->id);
    cJSON_AddStringToObject(j, "ch", ev->channel);
    cJSON_AddStringToObject(j, "conv", ev->conv);
    cJSON_AddStringToObject(j, "from", ev->sender ? ev->sender : "");
    cJSON_AddStringToObject(j, "kind", dlg_kind_name(ev->kind));
    cJSON_AddStringToObject(j, "text", ev->text ? ev->text : "");
    cJSON_AddNumberToObject(j, "ver", (double)ev->version);
    cJSON_AddNumberToObject(j, "ts", (double)ev->ts_ms);
    if (ev->payload)
        cJSON_AddItemToObject(j, "payload", cJSON_Duplicate(ev->payload, 1));
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static char *dup_str(const cJSON *j, const char *name, size_t max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!cJSON_IsString(v))
        return NULL;
    return strndup(v->valuestring, max);
}

int event_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        unsigned min, cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= n)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

int event_conv_valid(const char *conv)
{
    size_t n = conv ? strlen(conv) : 0;
    const char *colon = n ? strchr(conv, ':') : NULL;
    if (!colon || colon == conv || !colon[1] || n > 100 || strpbrk(conv, "{} \t\r\n"))
        return 0;
    for (const char *p = conv; *p; p++)
        if ((unsigned char)*p < 0x20)
            return 0;
    return 1;
}

int event_from_json(const char *json, size_t len, event_t *out)
{
    memset(out, 0, sizeof *out);
    cJSON *j = cJSON_ParseWithLength(json, len);
    if (!j)
        return KB_ERR_INVAL;
    out->id = dup_str(j, "id", 128);
    out->channel = dup_str(j, "ch", 32);
    out->conv = dup_str(j, "conv", 128);
    out->sender = dup_str(j, "from", 128);
    out->text = dup_str(j, "text", EVENT_MAX_TEXT);
    char *kind = dup_str(j, "kind", 32);
    int k = dlg_kind_parse(kind);
    free(kind);
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "ver");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "ts");
    out->version = event_json_int(ver);
    out->ts_ms = event_json_int(ts);
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(j, "payload");
    if (payload)
        out->payload = cJSON_Duplicate(payload, 1);
    cJSON_Delete(j);
    if (!out->id || !out->id[0] || !out->channel || !out->conv || !event_conv_valid(out->conv) || k < 0 ||
        (out->text && !event_utf8_valid(out->text, strlen(out->text)))) {
        event_free(out);
        return KB_ERR_INVAL;
    }
    out->kind = (dlg_event_kind_t)k;
    if (!out->sender)
        out->sender = strdup("");
    if (!out->text)
        out->text = strdup("");
    return 0;
}

void event_free(event_t *ev)
{
    free(ev->id);
    free(ev->channel);
    free(ev->conv);
    free(ev->sender);
    free(ev->text);
    cJSON_Delete(ev->payload);
    memset(ev, 0, sizeof *ev);
}

void event_view(const event_t *ev, dlg_event_t *out)
{
    out->id = ev->id;
    out->channel = ev->channel;
    out->conv = ev->conv;
    out->sender = ev->sender;
    out->kind = ev->kind;
    out->text = ev->text;
    out->payload = ev->payload;
    out->version = ev->version;
    out->ts_ms = ev->ts_ms;
}

size_t event_text_cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

const char *event_said(const event_t *ev, char *buf, size_t size)
{
    const char *t = ev->text ? ev->text : "";
    switch (ev->kind) {
    case EV_TEXT:
    case EV_COMMAND: {
        size_t n = event_text_cut(t, size - 1);
        memcpy(buf, t, n);
        buf[n] = 0;
        return buf;
    }
    case EV_PHOTO: return "[photo]";
    case EV_DOCUMENT: return "[document]";
    case EV_CONTACT: return "[contact]";
    case EV_BUTTON:
        snprintf(buf, size, "btn:%.40s", t);
        return buf;
    default: return NULL;
    }
}

int64_t event_json_int(const cJSON *n)
{
    if (!cJSON_IsNumber(n))
        return 0;
    double v = n->valuedouble;
    return v == v && v < 9007199254740992.0 && v > -9007199254740992.0 ? (int64_t)v : 0;
}
