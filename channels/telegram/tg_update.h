/* tg_update.h — one Telegram Update turned into what kabinet does with it: a neutral event for the engine, a polite
 * notice for things kabinet does not take (edited messages, stickers, someone else's contact, group chats), or
 * nothing. Pure: no I/O, so the webhook and the poller share it and tests and the fuzzer call it directly.
 *
 * Ids: chat and user ids are up to 52 bits (cJSON keeps numbers as doubles, exact to 2^53; valueint would saturate
 * at 2^31); they are written as decimal text. A conversation is "tg:<chat id>", the sender the user id. The event id
 * is "u<update_id>", and for a button press "u<update_id>:m<message id>" so that a reply may replace the pressed
 * menu (editMessageText). A button's callback_data is "<state version>:<button id>" (tg_render.h).
 *
 * Staff groups: a supergroup set with tg_update_set_staff is where support staff work (one forum topic per appeal).
 * Messages and button presses there from people (not bots, not channels posting as the group) become events of
 * the channel "staff"; edits there are ignored. A staff command (/take, /close, …) anywhere else is refused. */
#ifndef KB_TG_UPDATE_H
#define KB_TG_UPDATE_H

#include <stdint.h>
#include "event.h"

#define TG_MAX_DOCUMENT (2 * 1024 * 1024)   /* larger files are refused with a notice */

typedef enum {
    TGU_IGNORE,      /* nothing to do (acknowledge it) */
    TGU_EVENT,       /* ev is an event for the engine */
    TGU_NOTICE,      /* answer the chat with template notice and change nothing */
    TGU_LEFT         /* user_id is no longer a member of staff group staff_chat (a chat_member update) */
} tgu_action_t;

typedef struct {
    tgu_action_t action;
    event_t ev;                  /* TGU_EVENT; its strings point into this struct */
    int64_t update_id;
    char conv[64], sender[24], id[48];
    char lang[4];                /* "ru" or "en", from the user's language_code */
    const char *notice;          /* TGU_NOTICE: a "tg.*" template */
    char callback_id[80];        /* a callback_query to answer, or "" */
    const char *callback_notice; /* what that answer says (a "tg.*" template), or NULL */
    char *text;                  /* owned */
    int staff;                   /* 1: from the staff group (check the sender's membership before the intake) */
    int64_t staff_chat, user_id;
    int refused;                 /* 1: a staff command from outside the staff group (log it; it changes nothing) */
} tg_update_t;

/* The staff groups (KABINET_STAFF_CHAT_ID and the branches'): their messages become events of conversations
 * "staff:<chat>:<topic>" (topic 0: the group's general chat) with the payload {name, lang}, for the staff dialog.
 * Set once at start; n 0 (the default) means none. */
void tg_update_set_staff(const int64_t *chats, int n);
/* 1 when chat is one of the staff groups. */
int tg_update_is_staff(int64_t chat);

/* Parses an update (JSON text of len bytes). Returns 0, or KB_ERR_INVAL when it is not JSON or not an update (no
 * update_id); *out is then zeroed. Free with tg_update_free either way. */
int tg_update_parse(const char *json, size_t len, tg_update_t *out);
/* Parses one update already parsed as JSON (an element of getUpdates' result). */
int tg_update_from(const cJSON *u, tg_update_t *out);
/* Frees what the update owns. */
void tg_update_free(tg_update_t *u);
/* Reads a Telegram id (integral, |id| < 2^53) from a JSON number. Returns 0 or KB_ERR_INVAL. */
int tg_id(const cJSON *n, int64_t *out);

#endif
