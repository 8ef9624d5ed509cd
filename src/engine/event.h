/* event.h — the neutral inbound event as it travels: channels make one, the engine queues it in Redis as JSON and
 * hands the dialog a dlg_event_t view of it. */
#ifndef KB_EVENT_H
#define KB_EVENT_H

#include <stdint.h>
#include <cjson/cJSON.h>
#include "dialog.h"

#define EVENT_MAX_TEXT 16384   /* longer texts are cut here; dialogs refuse what they cannot use */

typedef struct {
    char *id, *channel, *conv, *sender, *text;
    dlg_event_kind_t kind;
    cJSON *payload;            /* owned, may be NULL */
    int64_t version, ts_ms;
} event_t;

/* A JSON number as an integer when it is one within ±2^53 (as JSON integers travel safely), else 0. */
int64_t event_json_int(const cJSON *n);
/* Serializes ev; the string is malloc'ed. NULL on allocation failure. */
char *event_to_json(const event_t *ev);
/* Parses an event; fills out (free with event_free). Returns 0 or KB_ERR_INVAL naming nothing of the content. */
int event_from_json(const char *json, size_t len, event_t *out);
/* Frees the strings and payload of ev. */
void event_free(event_t *ev);
/* The dialog's view of ev (pointers into ev). */
void event_view(const event_t *ev, dlg_event_t *out);
/* The byte length of s cut to at most max bytes without splitting a UTF-8 character (strlen(s) when it fits). */
size_t event_text_cut(const char *s, size_t max);
/* 1 when s[0..len) is valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
int event_utf8_valid(const char *s, size_t len);
/* What the sender said with ev, for the conversation's history (the card staff see): the text of a text or a
 * command (cut to fit size), "[photo]", "[document]", "[contact]", or "btn:<id>" for a button; NULL for events
 * nobody typed (timeouts, core results, staff events). */
const char *event_said(const event_t *ev, char *buf, size_t size);
/* 1 when a conversation key is well formed: "<channel>:<id>", printable, no braces, at most 100 bytes. */
int event_conv_valid(const char *conv);

#endif
