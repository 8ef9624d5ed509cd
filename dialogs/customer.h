/* customer.h — the customer's dialog, in parts. One dialog ("customer") whose steps are named by area: "" is the
 * menu (or the welcome, before login), "reg.*" registration by phone, "acc.*" the customer's accounts, "rd.*"
 * readings, "bal.*" balance, "his.*" histories, "sup.*" support, "set.*" settings, "num.*" an
 * account by its number without a link, "pay.*" paying, "bill.*" bills. dlg_customer.c routes an event to the area of the current step (or, from the menu, to
 * the area a button starts) and handles what every step shares: /start, /cancel, /help, Back, timeouts, things not
 * understood, and a person offered after three failures on one step. Each area is a file with a start and a step
 * function. Pure: the parts only build effects (replies in the customer's language, core calls, sends).
 *
 * keep: {"lang", "customer_id", "phone", "appeal", "appeal_mode"}; data: the step's scratch, with "op" naming the core call awaited. */
#ifndef KB_CUSTOMER_H
#define KB_CUSTOMER_H

#include "dialog.h"

typedef struct {
    const dlg_state_t *st;
    const dlg_event_t *ev;
    dlg_result_t *out;
    const char *lang;            /* "ru" or "en" */
    long long customer;          /* 0 before login */
    char text[512];              /* a text event's text, trimmed and cut to fit ("" otherwise); ev->text has all */
} cust_t;

/* ---------------------------------------------------------------- helpers (dlg_customer.c) */

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

/* ---------------------------------------------------------------- areas: start, and step (0: handled) */

void reg_start(cust_t *c);
int reg_step(cust_t *c);
/* /logout, /forget and their steps (dlg_privacy.c): 1 when the event was theirs. */
int priv_step(cust_t *c);
/* The customer's data was erased from another conversation: this one forgets who it was, silently. */
void priv_signed_out(cust_t *c);
void acc_start(cust_t *c);
int acc_step(cust_t *c);
void rd_start(cust_t *c);
int rd_step(cust_t *c);
/* Readings for one account ({account_id, number, meters: [{meter_id, serial, zones, last: [{zone, value, day}]}]}),
 * also one the customer has not linked (num.*). */
void rd_for_account(cust_t *c, const cJSON *account);
void num_start(cust_t *c);
int num_step(cust_t *c);
void bal_start(cust_t *c);
int bal_step(cust_t *c);
void his_start(cust_t *c);
int his_step(cust_t *c);
/* A typed period ("01.01.2026-31.03.2026", "03.2026") as ISO dates; 0 or -1 (dlg_history.c). */
int his_parse_range(const char *text, char from[11], char to[11]);
void pay_start(cust_t *c);
int pay_step(cust_t *c);
void bill_start(cust_t *c);
int bill_step(cust_t *c);
/* A business's documents for a period (dlg_docs.c). Steps "doc.*". */
void docs_start(cust_t *c);
int docs_step(cust_t *c);
/* The calculator (dlg_calc.c): kWh per zone → rubles at the account's tariff. Steps "calc.*". */
void calc_start(cust_t *c);
int calc_step(cust_t *c);
/* One-shot commands (dlg_keywords.c): whether ev is one; runs text as one (1), or 0 when it is not. */
int kw_is_command(const dlg_event_t *ev);
int kw_run(cust_t *c, const char *text);
/* Starts linking an account: asks its number (dlg_accounts.c). */
void acc_link_start(cust_t *c);
/* Rubles as typed ("1 500,50") → kopecks, or -1 (dlg_pay.c). */
long long pay_parse_rubles(const char *s);
/* Appeals (dlg_appeal.c). app_open adds a message to the conversation's appeal (opening or reopening one) for
 * reason "asked", "stuck" or "link"; app_message does that with the event's text, photo or document (-1: the event
 * has none); app_result handles appeal.add's answer; app_routes says whether this event at rest goes to the
 * appeal (staff have the conversation); app_staff handles an EV_STAFF event; app_rate_step the rating after
 * "resolved" (0: the event is not about it). */
void app_open(cust_t *c, const char *reason, const char *text, const char *attachment, const char *kind, double size,
              long long link_id);
int app_message(cust_t *c, const char *reason);
void app_result(cust_t *c);
int app_routes(const cust_t *c);
void app_staff(cust_t *c);
int app_rate_step(cust_t *c);
void sup_start(cust_t *c);
int sup_step(cust_t *c);
void set_start(cust_t *c);
int set_step(cust_t *c);

#endif
