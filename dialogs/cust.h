/* cust.h — the helpers every part of the customer's dialog shares (cust.c): one event's view (cust_t), replies,
 * core calls and results, steps, the menu, choosing an account. Areas include customer.h, which includes this;
 * nothing here routes — the router is dlg_customer.c, and no area calls back into it. */
#ifndef KB_CUST_H
#define KB_CUST_H

#include "dialog.h"

typedef struct {
    const dlg_state_t *st;
    const dlg_event_t *ev;
    dlg_result_t *out;
    const char *lang;            /* "ru" or "en" */
    long long customer;          /* 0 before login */
    char text[512];              /* a text event's text, trimmed and cut to fit ("" otherwise); ev->text has all */
} cust_t;

/* ---------------------------------------------------------------- helpers */

/* Replies with template tmpl in the customer's language; params and buttons as dlg_reply. */
void cust_say(cust_t *c, const char *tmpl, cJSON *params, const char *const *buttons);
/* cust_say for a step's question, remembered so that a stale button can show it again. */
void cust_ask(cust_t *c, const char *tmpl, cJSON *params, const char *const *buttons);
/* 1 when the event is a message by email that nobody vouches for: not a reply carrying our token, and no
 * Authentication-Results of the retailer's receiving server saying dmarc=pass (the channel's payload "auth"); for a
 * core call's result, when the message that made the call was such. Such a message never acts for a signed-in
 * customer, signs nobody in without a code, and leaves no command to run after the sign-in but a read. */
int cust_mail_unvouched(const cust_t *c);
/* Calls a core operation and remembers which (cust_op) for its result. */
void cust_call(cust_t *c, const char *op, cJSON *args);
/* The core operation whose result this event is, or "". */
const char *cust_op(const cust_t *c);
/* A result field as a string (numbers in decimal), or "". */
const char *cust_res(const cust_t *c, const char *name);
/* Moves to step with fresh data (and a 15-minute timeout unless it is the menu). */
void cust_goto(cust_t *c, const char *step);
/* Back to the menu, showing it. */
void cust_menu(cust_t *c);
/* 1 when the event is a press of button id. */
int cust_button(const cust_t *c, const char *id);
/* A step's data field. */
const cJSON *cust_get(const cust_t *c, const char *name);
/* Sets a data field (ownership of v passes). */
void cust_set(cust_t *c, const char *name, cJSON *v);
/* Input the step cannot use: replies tmpl; the third time on one step also offers a person. */
void cust_fail(cust_t *c, const char *tmpl, cJSON *params, const char *const *buttons);
/* Offers the accounts of a list (from account.list or reading.targets) as numbered buttons, remembering their ids
 * in data "choices"; tmpl shows the list ({items:lines:…}). */
void cust_choose(cust_t *c, const char *tmpl, const cJSON *accounts);
/* For a step that needs one of the customer's accounts (the "accounts" of a core answer: account.list, of which
 * only the active ones count, or reading.targets): with none, says none_tmpl with a way to link one and goes to
 * the menu (returns 0); with one, sets *one to a copy the caller frees (returns 1); with several, offers them with
 * pick_tmpl (cust_choose; returns 2). */
int cust_one_account(cust_t *c, const char *none_tmpl, const char *pick_tmpl, cJSON **one);
/* Goes to step and asks for the customer's accounts (account.list), for a step that needs one of them. */
void cust_list_accounts(cust_t *c, const char *step);
/* Asks for the balance of one of the customer's accounts (account.balance). */
void cust_balance(cust_t *c, long long account);
/* The account id chosen by a numbered button (see cust_choose), or 0. */
long long cust_chosen(const cust_t *c);

/* The menu's buttons. */
extern const char *const cust_menu_buttons[];
/* Shows the menu with customer.warnings' answer (the event): a line for each meter due for verification and each debt. */
void cust_show_menu(cust_t *c);
/* Fills c for one event: the customer's language and id, the text trimmed (never cut inside a UTF-8 character). */
void cust_init(cust_t *c, const dlg_state_t *st, const dlg_event_t *ev, dlg_result_t *out);

#endif
