/* tg_render.h — a neutral reply ({tmpl, params, buttons, ver, lang, document}) as Bot API calls. Pure: builds the
 * JSON bodies; telegram.c sends them.
 *
 * Text is rendered from the catalog in the reply's language and sent with parse_mode HTML, every '&', '<' and '>'
 * escaped (what a customer typed comes back exactly as typed, never as markup). Texts longer than Telegram's 4096
 * characters (counted as Telegram does, in UTF-16 code units) are split at a line break or a space into several
 * messages; the buttons go with the last. Buttons become an inline keyboard whose callback_data is
 * "<version>:<id>" (at most 64 bytes; a button that would not fit is left out and counted), except "share_phone",
 * which becomes a one-time reply keyboard asking for the contact. A reply with a "url" (a payment page) gets a link
 * button first, labelled from "btn.<url_button>". A message without buttons removes any reply
 * keyboard. A reply to a button press may replace the pressed message (editMessageText) when it is one message
 * with an inline keyboard. */
#ifndef KB_TG_RENDER_H
#define KB_TG_RENDER_H

#include <stdint.h>
#include <cjson/cJSON.h>

#define TG_MAX_TEXT 4096       /* characters (UTF-16 units) in one message */
#define TG_MAX_CAPTION 1024    /* … in a document's caption */
#define TG_MAX_CALLBACK 64     /* bytes of callback_data */
#define TG_MAX_PARTS 8         /* a longer text is cut after this many messages */

typedef struct {
    const char *method;        /* "sendMessage", "editMessageText" */
    char *body;                /* JSON, owned */
} tg_call_t;

typedef struct {
    tg_call_t call[TG_MAX_PARTS];
    int n;
    int edits;                 /* 1 when call[0] edits the pressed message */
    int skipped_buttons;       /* buttons left out (callback_data over 64 bytes or a bad id) */
    char *caption;             /* with a document: its caption (HTML, escaped), or NULL when the text went as
                                * messages before it */
    char *doc_markup;          /* with a document: its reply_markup (JSON) */
} tg_calls_t;

/* Renders payload for chat_id. edit_id > 0 is the message whose button was pressed (0: always send). with_document:
 * the text becomes the caption of a document when it fits. Returns 0 or KB_ERR_NOMEM; free with tg_calls_free. */
int tg_render(const cJSON *payload, const char *chat_id, int64_t edit_id, int with_document, tg_calls_t *out);
void tg_calls_free(tg_calls_t *c);
/* The callback_data of button id for state version ver into buf (65 bytes); returns its length or -1 when it would
 * exceed 64 bytes or id is not [a-z0-9_.-]. */
int tg_callback_data(char *buf, int64_t ver, const char *id);
/* UTF-16 code units of the UTF-8 text s[0..len) (Telegram's measure of length). */
size_t tg_utf16_len(const char *s, size_t len);

#endif
