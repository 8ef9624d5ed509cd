/* dialog.h — what a dialog is: a pure state machine, (state, event) → (new state, effects).
 *
 * A dialog sees neutral events only (never a provider's format), does no I/O and includes no client. Its effects
 * are data the engine carries out: reply (a template id with parameters and buttons), call the core (whose result
 * comes back as an EV_CORE_RESULT event within the same transition), send a code, escalate to staff, write an audit
 * event, or arm a step timeout. State is a step name plus two JSON objects: `keep`, bound to the identity (customer,
 * language; lives for weeks), and `data`, the current step's scratch (reset when the step expires). */
#ifndef KB_DIALOG_H
#define KB_DIALOG_H

#include <stdint.h>
#include <cjson/cJSON.h>

typedef enum {
    EV_TEXT, EV_COMMAND, EV_BUTTON, EV_CONTACT, EV_PHOTO, EV_DOCUMENT, EV_TIMEOUT, EV_CORE_RESULT, EV_STAFF, EV__COUNT
} dlg_event_kind_t;

typedef struct {
    const char *id;          /* the provider's external id, unique per conversation */
    const char *channel;     /* "tg", "sms", "mail", "local" */
    const char *conv;        /* conversation key: "tg:123" */
    const char *sender;      /* sender identity within the channel */
    dlg_event_kind_t kind;
    const char *text;        /* text, command ("/start"), button id, phone, file id; EV_STAFF: the action */
    const cJSON *payload;    /* EV_CORE_RESULT: the core's answer; otherwise extra fields or NULL */
    int64_t version;         /* EV_BUTTON, EV_TIMEOUT: the state version they were made for */
    int64_t ts_ms;           /* when the provider received it */
} dlg_event_t;

typedef struct {
    const char *dialog;      /* the dialog's name */
    const char *step;        /* "" at rest */
    const cJSON *keep;       /* identity-bound data (object) */
    const cJSON *data;       /* the step's data (object) */
    int64_t version;         /* bumps on every transition */
} dlg_state_t;

typedef struct {
    char step[48];
    cJSON *keep;             /* the new keep object (owned) */
    cJSON *data;             /* the new step data (owned) */
    cJSON *effects;          /* array of effect objects (owned) */
} dlg_result_t;

typedef struct {
    const char *name;
    /* The transition. Returns 0, or a negative error when the dialog cannot handle the event at all (the engine
     * then answers with a generic "not understood" and changes nothing). */
    int (*step)(const dlg_state_t *st, const dlg_event_t *ev, dlg_result_t *out);
    /* The current screen again (for a stale button): replies only, state unchanged. */
    int (*render)(const dlg_state_t *st, dlg_result_t *out);
} dlg_def_t;

/* ---------------------------------------------------------------- building results */

/* Starts a result from the current state (same step, copies of keep and data, no effects). */
void dlg_result_init(dlg_result_t *out, const dlg_state_t *st);
/* Frees what a result owns. */
void dlg_result_free(dlg_result_t *out);
/* Adds a reply effect; params may be NULL (ownership passes); buttons is a NULL-terminated list of ids, each
 * rendered from template "btn.<id>", or NULL. Returns the effect object for more fields. */
cJSON *dlg_reply(dlg_result_t *out, const char *tmpl, cJSON *params, const char *const *buttons);
/* Adds a call to the core: op name and arguments (ownership passes). */
void dlg_core(dlg_result_t *out, const char *op, cJSON *args);
/* Adds a message to another conversation, possibly in another channel: how a code goes out by SMS
 * ("sms", "sms:+79161234567", "code.sms") and how a conversation is escalated to staff ("staff", "staff:support",
 * "staff.escalation"). It travels through that channel's outbox lane (0 live, 1 push) once its sender exists. */
void dlg_send(dlg_result_t *out, const char *channel, const char *to, const char *tmpl, cJSON *params, int lane);
/* Escalates the conversation to support staff with a reason (a dlg_send to the staff channel). */
void dlg_escalate(dlg_result_t *out, const char *conv, const char *reason);
/* Adds an event for another conversation (how staff act on a customer's conversation): it reaches that
 * conversation's dialog as an event of kind with text and payload (ownership passes), exactly once, after this
 * transition commits (through the "relay" outbox, relay.h). */
void dlg_event(dlg_result_t *out, const char *conv, dlg_event_kind_t kind, const char *text, cJSON *payload);
/* Arms a step timeout: an EV_TIMEOUT for this transition's version after ms. */
void dlg_timeout(dlg_result_t *out, int ms);
/* Adds an audit event. */
void dlg_audit(dlg_result_t *out, const char *what, cJSON *details);

/* Name of an event kind ("text", "button", …) and back; -1 when unknown. */
const char *dlg_kind_name(dlg_event_kind_t k);
int dlg_kind_parse(const char *s);

/* The demo dialog (echo and a two-step counter) that exercises the engine until the real dialogs land. */
extern const dlg_def_t dlg_demo;
/* The customer's dialog: registration, the menu, accounts, readings, balance (customer.h). */
extern const dlg_def_t dlg_customer;
/* The staff's dialog: one conversation per forum topic of the staff group (dlg_staff.c). */
extern const dlg_def_t dlg_staff;

#endif
