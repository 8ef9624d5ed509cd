/* tg_render.c — neutral replies as sendMessage/editMessageText bodies (see tg_render.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "text.h"
#include "tg_render.h"

#define TEXT_BUF 40000         /* the longest template with a 16 KB customer text in it */

/* ---------------------------------------------------------------- text */

size_t tg_utf16_len(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) != 0x80)         /* a character starts here */
            n += c >= 0xF0 ? 2 : 1;     /* beyond the BMP: a surrogate pair */
    }
    return n;
}

/* The byte length of the longest prefix of s[0..len) that fits in max UTF-16 units, preferring to end after a line
 * break, else after a space, in the second half of the window. */
static size_t cut_point(const char *s, size_t len, size_t max)
{
    size_t units = 0, i = 0, nl = 0, sp = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t clen = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1, u = c >= 0xF0 ? 2 : 1;
        if (units + u > max)
            break;
        units += u;
        i += clen;
        if (c == '\n')
            nl = i;
        else if (c == ' ')
            sp = i;
    }
    if (i >= len)
        return len;
    if (nl > i / 2)
        return nl;
    if (sp > i / 2)
        return sp;
    return i ? i : 1;
}

/* ---------------------------------------------------------------- keyboards */

int tg_callback_data(char *buf, int64_t ver, const char *id)
{
    size_t il = strlen(id);
    if (!il || strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != il)
        return -1;
    int n = snprintf(buf, TG_MAX_CALLBACK + 1, "%lld:%s", (long long)ver, id);
    return n < 0 || n > TG_MAX_CALLBACK ? -1 : n;
}

/* How many buttons share a row: digits five, short labels two, long ones one. */
static int row_width(const char *label)
{
    size_t chars = 0;
    for (const char *p = label; *p; p++)
        chars += ((unsigned char)*p & 0xC0) != 0x80;
    return chars <= 3 ? 5 : chars <= 18 ? 2 : 1;
}

/* The reply_markup for a reply's buttons: an inline keyboard, the contact request, or the removal of a reply
 * keyboard (no buttons). *inline_kb says which. */
static cJSON *markup(const cJSON *payload, const char *lang, int *inline_kb, int *skipped)
{
    const cJSON *buttons = cJSON_GetObjectItem(payload, "buttons"), *ver = cJSON_GetObjectItem(payload, "ver"), *b;
    int64_t v = cJSON_IsNumber(ver) ? (int64_t)ver->valuedouble : 0;
    char key[96], label[256], data[TG_MAX_CALLBACK + 1];
    cJSON *m = cJSON_CreateObject(), *rows = cJSON_CreateArray(), *row = NULL;
    int in_row = 0, width = 0;
    *inline_kb = 0;
    const cJSON *url = cJSON_GetObjectItem(payload, "url"), *url_btn = cJSON_GetObjectItem(payload, "url_button");
    if (cJSON_IsString(url) && !strncmp(url->valuestring, "http", 4)) { /* a link button (a payment page) first */
        snprintf(key, sizeof key, "btn.%s", cJSON_IsString(url_btn) ? url_btn->valuestring : "pay_open");
        txt_render(lang, key, NULL, label, sizeof label);
        cJSON *r = cJSON_CreateArray(), *btn = cJSON_CreateObject();
        cJSON_AddStringToObject(btn, "text", label);
        cJSON_AddStringToObject(btn, "url", url->valuestring);
        cJSON_AddItemToArray(r, btn);
        cJSON_AddItemToArray(rows, r);
    }
    cJSON_ArrayForEach(b, buttons)
    {
        if (!cJSON_IsString(b))
            continue;
        txt_button(lang, b->valuestring, payload, label, sizeof label);
        if (!strcmp(b->valuestring, "share_phone")) { /* a reply keyboard asking for the contact, alone */
            cJSON *kb = cJSON_CreateArray(), *r = cJSON_CreateArray(), *btn = cJSON_CreateObject();
            cJSON_AddStringToObject(btn, "text", label);
            cJSON_AddBoolToObject(btn, "request_contact", 1);
            cJSON_AddItemToArray(r, btn);
            cJSON_AddItemToArray(kb, r);
            cJSON_Delete(rows);
            cJSON_AddItemToObject(m, "keyboard", kb);
            cJSON_AddBoolToObject(m, "resize_keyboard", 1);
            cJSON_AddBoolToObject(m, "one_time_keyboard", 1);
            *inline_kb = 0;
            return m;
        }
        if (tg_callback_data(data, v, b->valuestring) < 0) {
            (*skipped)++;
            continue;
        }
        int w = row_width(label);
        if (!row || in_row >= width || w != width) { /* buttons of one size class share rows */
            row = cJSON_CreateArray();
            cJSON_AddItemToArray(rows, row);
            in_row = 0;
            width = w;
        }
        cJSON *btn = cJSON_CreateObject();
        cJSON_AddStringToObject(btn, "text", label);
        cJSON_AddStringToObject(btn, "callback_data", data);
        cJSON_AddItemToArray(row, btn);
        in_row++;
    }
    if (cJSON_GetArraySize(rows) > 0) {
        cJSON_AddItemToObject(m, "inline_keyboard", rows);
        *inline_kb = 1;
    } else {
        cJSON_Delete(rows);
        cJSON_AddBoolToObject(m, "remove_keyboard", 1);
    }
    return m;
}

/* ---------------------------------------------------------------- calls */

static int add_call(tg_calls_t *out, const char *method, const char *chat_id, int64_t edit_id, const char *text,
                    size_t len, const cJSON *kb)
{
    char *esc = txt_html_escape(text, len);
    cJSON *body = cJSON_CreateObject();
    if (!esc || !body) {
        free(esc);
        cJSON_Delete(body);
        return KB_ERR_NOMEM;
    }
    cJSON_AddRawToObject(body, "chat_id", chat_id);
    if (edit_id > 0)
        cJSON_AddNumberToObject(body, "message_id", (double)edit_id);
    cJSON_AddStringToObject(body, "text", esc);
    cJSON_AddStringToObject(body, "parse_mode", "HTML");
    if (kb)
        cJSON_AddItemToObject(body, "reply_markup", cJSON_Duplicate(kb, 1));
    free(esc);
    out->call[out->n].method = method;
    out->call[out->n].body = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    return out->call[out->n++].body ? 0 : KB_ERR_NOMEM;
}

int tg_render(const cJSON *payload, const char *chat_id, int64_t edit_id, int with_document, tg_calls_t *out)
{
    memset(out, 0, sizeof *out);
    const cJSON *tmpl = cJSON_GetObjectItem(payload, "tmpl"), *lang = cJSON_GetObjectItem(payload, "lang");
    const char *lg = cJSON_IsString(lang) ? lang->valuestring : "ru";
    char *text = malloc(TEXT_BUF);
    if (!text)
        return KB_ERR_NOMEM;
    txt_render(lg, cJSON_IsString(tmpl) ? tmpl->valuestring : "common.error", cJSON_GetObjectItem(payload, "params"),
               text, TEXT_BUF);
    int inline_kb = 0, rc = 0;
    cJSON *kb = markup(payload, lg, &inline_kb, &out->skipped_buttons);
    size_t len = strlen(text);
    if (with_document) {
        out->doc_markup = cJSON_PrintUnformatted(kb);
        if (tg_utf16_len(text, len) <= TG_MAX_CAPTION) {
            out->caption = txt_html_escape(text, len);
            free(text);
            cJSON_Delete(kb);
            return out->caption && out->doc_markup ? 0 : KB_ERR_NOMEM;
        }
    }
    if (!len) { /* Telegram refuses an empty message */
        snprintf(text, TEXT_BUF, "…");
        len = strlen(text);
    }
    int one = tg_utf16_len(text, len) <= TG_MAX_TEXT;
    if (one && edit_id > 0 && inline_kb && !with_document) {
        out->edits = 1;
        rc = add_call(out, "editMessageText", chat_id, edit_id, text, len, kb);
    } else {
        size_t off = 0;
        while (off < len && out->n < TG_MAX_PARTS && !rc) {
            size_t n = cut_point(text + off, len - off, TG_MAX_TEXT);
            int last = off + n >= len || out->n == TG_MAX_PARTS - 1;
            rc = add_call(out, "sendMessage", chat_id, 0, text + off, n, last && !with_document ? kb : NULL);
            off += n;
        }
    }
    free(text);
    cJSON_Delete(kb);
    return rc;
}

void tg_calls_free(tg_calls_t *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->call[i].body);
    free(c->caption);
    free(c->doc_markup);
    memset(c, 0, sizeof *c);
}
