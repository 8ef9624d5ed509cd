/* customer.h — the customer's dialog, in parts. One dialog ("customer") whose steps are named by area: "" is the
 * menu (or the welcome, before login), "reg.*" registration by phone, "acc.*" the customer's accounts, "rd.*"
 * readings, "bal.*" balance, "his.*" histories, "sup.*" support, "set.*" settings, "num.*" an
 * account by its number without a link, "pay.*" paying, "bill.*" bills. dlg_customer.c routes an event by two tables: the rules
 * every step shares (/start, /cancel, /help, Back, timeouts, staff events…), then the areas (a step's prefix → its
 * step function; a menu button → its start). The helpers all parts use are in cust.h. Each area is a file with a start and a step
 * function. Pure: the parts only build effects (replies in the customer's language, core calls, sends).
 *
 * keep: {"lang", "customer_id", "phone", "appeal", "appeal_mode"}; data: the step's scratch, with "op" naming the core call awaited. */
#ifndef KB_CUSTOMER_H
#define KB_CUSTOMER_H

#include "cust.h"

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
