/* dlg_register.c — registration and login by phone: the customer shares the contact (Telegram) or types a number,
 * gets a code by SMS (auth.code_send; the code goes out as a send to the "sms" channel), and types it
 * (auth.code_verify). In the SMS channel the sender's number is the identity: the first message signs in
 * (auth.sms_login). By email the sender's address must be confirmed: the first message gets a reply with a code
 * (and the channel adds a one-click link that sends "/confirm <code>"); the customer answers with the code. The
 * command the first message carried (an SMS or email keyword) runs once signed in. The code policy lives in the
 * core; this part turns its answers into words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

static const char *const share[] = {"share_phone", NULL};
static const char *const code_buttons[] = {"resend", "change_phone", NULL};
static const char *const mail_buttons[] = {"resend", NULL};

/* 1 when the event came by email from an address (the identity to confirm). */
static int by_mail(const cust_t *c) { return c->ev->channel && !strcmp(c->ev->channel, "mail") && c->ev->sender; }

void reg_start(cust_t *c)
{
    cust_goto(c, "reg.phone");
    cust_ask(c, "reg.welcome", NULL, share);
}

static cJSON *param(const char *name, const char *value)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, name, value);
    return p;
}

static void send_code(cust_t *c, const char *phone)
{
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, by_mail(c) ? "email" : "phone", phone);
    cust_call(c, "auth.code_send", args);
}

/* The core answered a request for a code. */
static void on_sent(cust_t *c)
{
    const char *st = cust_res(c, "status");
    if (!strcmp(st, "sent") && by_mail(c)) { /* the reply is the code's mail (not remembered: no code in the state) */
        cJSON *pending = cJSON_Duplicate(cust_get(c, "pending"), 1);
        cust_goto(c, "reg.code");
        cust_set(c, "email", cJSON_CreateString(cust_res(c, "address")));
        if (pending)
            cust_set(c, "pending", pending);
        cJSON *p = param("code", cust_res(c, "code"));
        cJSON_AddStringToObject(p, "email", cust_res(c, "address"));
        cust_say(c, "reg.code_mail", p, mail_buttons);
    } else if (!strcmp(st, "sent")) {
        char phone[16], code[8];
        snprintf(phone, sizeof phone, "%s", cust_res(c, "phone"));
        snprintf(code, sizeof code, "%s", cust_res(c, "code"));
        char to[24];
        snprintf(to, sizeof to, "sms:%s", phone);
        dlg_send(c->out, "sms", to, "reg.code_sms", param("code", code), 0);
        cust_goto(c, "reg.code");
        cust_set(c, "phone", cJSON_CreateString(phone));
        cust_ask(c, "reg.code_sent", param("phone", phone), code_buttons);
    } else if (!strcmp(st, "too_soon")) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "seconds", atof(cust_res(c, "retry_in_s")));
        cust_say(c, "reg.too_soon", p, NULL);
    } else if (!strcmp(st, "invalid_phone")) {
        cust_fail(c, "reg.phone_invalid", NULL, share);
    } else if (!strcmp(st, "busy") || !strcmp(st, "prefix_limit")) {
        cust_say(c, "reg.busy", NULL, NULL);
    } else {
        cust_say(c, "reg.limit", NULL, NULL);
    }
}

/* The core answered a typed code. */
static void on_verified(cust_t *c)
{
    const char *st = cust_res(c, "status");
    if (!strcmp(st, "ok")) {
        cJSON *keep = c->out->keep;
        cJSON_DeleteItemFromObject(keep, "customer_id");
        cJSON_AddNumberToObject(keep, "customer_id", atof(cust_res(c, "customer_id")));
        const char *key = by_mail(c) ? "email" : "phone";
        cJSON_DeleteItemFromObject(keep, key);
        cJSON_AddItemToObject(keep, key, cJSON_Duplicate(cust_get(c, key), 1));
        c->customer = (long long)atof(cust_res(c, "customer_id"));
        cust_say(c, !strcmp(cust_res(c, "new"), "true") ? "reg.done_new" : "reg.done", NULL, NULL);
        const cJSON *pending = cust_get(c, "pending"); /* the command an SMS sign-in came with */
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s", cJSON_IsString(pending) ? pending->valuestring : "");
        if (!cmd[0] || !kw_run(c, cmd))
            cust_menu(c);
    } else if (!strcmp(st, "wrong")) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "left", atof(cust_res(c, "attempts_left")));
        cust_fail(c, "reg.code_wrong", p, by_mail(c) ? mail_buttons : code_buttons);
    } else if (!strcmp(st, "invalid_code")) {
        cust_fail(c, "reg.code_format", NULL, by_mail(c) ? mail_buttons : code_buttons);
    } else if (!strcmp(st, "invalid_phone")) {
        cust_fail(c, "reg.phone_invalid", NULL, share);
    } else if (!strcmp(st, "locked")) {
        cust_say(c, "reg.code_locked", NULL, NULL);
        cust_goto(c, "");
    } else {
        cust_say(c, "reg.code_expired", NULL, by_mail(c) ? mail_buttons : code_buttons);
    }
}

/* The code in a typed answer: by email the first run of exactly six digits (a reply may say "Код: 123 456" or
 * quote a little), elsewhere the text without spaces and dashes. */
static void typed_code(const cust_t *c, const char *text, char digits[16])
{
    size_t n = 0;
    if (by_mail(c)) {
        for (const char *p = text; *p && n < 6; p++) {
            if (*p >= '0' && *p <= '9')
                digits[n++] = *p;
            else if (*p != ' ' && *p != '-' && n > 0 && n < 6)
                n = 0; /* a shorter run: not the code */
        }
        if (n < 6)
            n = 0;
    } else {
        for (const char *p = text; *p && n < 15; p++)
            if (*p != ' ' && *p != '-')
                digits[n++] = *p;
    }
    digits[n] = 0;
}

/* Checks a code typed (or sent by the email's link) against the address of this step. */
static void verify(cust_t *c, const char *text)
{
    char digits[16];
    typed_code(c, text, digits);
    const char *key = by_mail(c) ? "email" : "phone";
    const cJSON *addr = cust_get(c, key);
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, key, cJSON_IsString(addr) ? addr->valuestring : "");
    cJSON_AddStringToObject(args, "code", digits[0] ? digits : "-");
    cJSON_AddStringToObject(args, "channel", c->ev->channel ? c->ev->channel : "local");
    cJSON_AddStringToObject(args, "external_id", c->ev->sender && c->ev->sender[0] ? c->ev->sender : c->ev->conv);
    cust_call(c, "auth.code_verify", args);
}

int reg_step(cust_t *c)
{
    const char *op = cust_op(c), *step = c->out->step;
    if (!strcmp(op, "auth.code_send")) {
        on_sent(c);
        return 0;
    }
    if (!strcmp(op, "auth.code_verify") || !strcmp(op, "auth.sms_login")) {
        on_verified(c);
        return 0;
    }
    if (c->ev->channel && !strcmp(c->ev->channel, "sms") && c->ev->sender) {
        /* by SMS the sender's number is the identity: signed in by the first message, no code */
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "phone", c->ev->sender);
        cust_goto(c, "reg.sms");
        cust_set(c, "phone", cJSON_CreateString(c->ev->sender));
        if (kw_is_command(c->ev))
            cust_set(c, "pending", cJSON_CreateString(c->ev->text));
        cust_call(c, "auth.sms_login", args);
        return 0;
    }
    if (by_mail(c) && !strcmp(step, "reg.code") && c->ev->kind == EV_COMMAND && c->ev->text &&
        !strncmp(c->ev->text, "/confirm ", 9)) {
        verify(c, c->ev->text + 9); /* the one-click link */
        return 0;
    }
    if (by_mail(c) && strcmp(step, "reg.code")) {
        /* by email: the sender's address gets a code; what the first message asked for waits for the sign-in */
        cust_goto(c, "reg.mail");
        if (kw_is_command(c->ev))
            cust_set(c, "pending", cJSON_CreateString(c->ev->text));
        send_code(c, c->ev->sender);
        return 0;
    }
    if (!strcmp(step, "reg.phone") && (c->ev->kind == EV_TEXT || c->ev->kind == EV_CONTACT) && c->text[0]) {
        send_code(c, c->text);
    } else if (!strcmp(step, "reg.code") && cust_button(c, "resend")) {
        const cJSON *phone = cust_get(c, by_mail(c) ? "email" : "phone");
        send_code(c, cJSON_IsString(phone) ? phone->valuestring : "");
    } else if (!strcmp(step, "reg.code") && cust_button(c, "change_phone")) {
        reg_start(c);
    } else if (!strcmp(step, "reg.code") && c->ev->kind == EV_TEXT) {
        verify(c, c->text);
    } else if (!strcmp(step, "reg.phone") || !strcmp(step, "reg.code")) {
        cust_fail(c, !strcmp(step, "reg.phone") ? "reg.phone_invalid" : "reg.code_format", NULL,
                  !strcmp(step, "reg.phone") ? share : code_buttons);
    } else {
        reg_start(c); /* anything before login starts it */
    }
    return 0;
}
