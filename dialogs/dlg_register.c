/* dlg_register.c — registration and login by phone: the customer shares the contact (Telegram) or types a number,
 * gets a code by SMS (auth.code_send; the code goes out as a send to the "sms" channel), and types it
 * (auth.code_verify). Before any of it the customer accepts the processing of personal data and the user
 * agreement (consent.terms / consent.accept: once per identity and texts' version; a no stops politely). In the SMS
 * channel the sender's number is the identity: once consent is given, it signs in (auth.sms_login). By email an
 * address confirmed before (at registration or in Settings) signs in the same way (auth.mail_login); a new one must
 * be confirmed: the first message gets a reply with a code (and the channel adds a one-click link that sends
 * "/confirm <code>"); the customer answers with the code. The
 * command the first message carried (an SMS or email keyword) runs once signed in. A business (/business where the
 * phone is asked) signs in by its contract's number and INN, with a code sent to the contract's phone
 * (auth.business_find, auth.business_verify). The code policy lives in the core; this part turns its answers into
 * words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "customer.h"

static const char *const share[] = {"share_phone", NULL};
static const char *const code_buttons[] = {"resend", "change_phone", NULL};
static const char *const mail_buttons[] = {"resend", NULL};

/* 1 when the event came by email from an address (the identity to confirm). */
static int by_mail(const cust_t *c) { return c->ev->channel && !strcmp(c->ev->channel, "mail") && c->ev->sender; }

static const char *const consent_buttons[] = {"consent_yes", "consent_no", NULL};

/* 1 when the event came by SMS from a number (the identity itself). */
static int by_sms(const cust_t *c) { return c->ev->channel && !strcmp(c->ev->channel, "sms") && c->ev->sender; }

/* The identity this conversation speaks for: {channel, external_id} added to args. */
static cJSON *identity(const cust_t *c, cJSON *args)
{
    cJSON_AddStringToObject(args, "channel", c->ev->channel ? c->ev->channel : "local");
    cJSON_AddStringToObject(args, "external_id", c->ev->sender && c->ev->sender[0] ? c->ev->sender : c->ev->conv);
    return args;
}

/* Moves to step keeping the command the first message came with (an SMS or email keyword). */
static void goto_keeping(cust_t *c, const char *step)
{
    cJSON *pending = cJSON_Duplicate(cust_get(c, "pending"), 1);
    cust_goto(c, step);
    if (pending)
        cust_set(c, "pending", pending);
}

/* Before anything personal is asked for: whether this identity accepted the current texts (consent.terms). */
void reg_start(cust_t *c)
{
    goto_keeping(c, "reg.consent");
    cust_call(c, "consent.terms", identity(c, cJSON_CreateObject()));
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

/* Consent given (now or before): the phone is asked for; by SMS the number signs in; by email a code goes out. */
static void after_consent(cust_t *c)
{
    if (by_sms(c)) { /* the sender's number is the identity: signed in, no code */
        goto_keeping(c, "reg.sms");
        cust_set(c, "phone", cJSON_CreateString(c->ev->sender));
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "phone", c->ev->sender);
        cust_call(c, "auth.sms_login", args);
    } else if (by_mail(c) && cust_mail_unvouched(c)) { /* the From may be forged: a code to that address */
        goto_keeping(c, "reg.mail");
        cust_set(c, "email", cJSON_CreateString(c->ev->sender));
        send_code(c, c->ev->sender);
    } else if (by_mail(c)) { /* an address confirmed before signs in (auth.mail_login); a new one gets a code */
        goto_keeping(c, "reg.mail");
        cust_set(c, "email", cJSON_CreateString(c->ev->sender));
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "email", c->ev->sender);
        cust_call(c, "auth.mail_login", args);
    } else {
        cust_goto(c, "reg.phone");
        cust_ask(c, "reg.welcome", NULL, share);
    }
}

/* The texts' links, for the question: from consent.terms, or as the question asked them (kept once, in "ask"). */
static cJSON *terms_params(const cust_t *c)
{
    cJSON *p = cJSON_CreateObject();
    const cJSON *asked = cJSON_GetObjectItem(cJSON_GetObjectItem(cust_get(c, "ask"), "params"), "pd_url"),
                *asked_terms = cJSON_GetObjectItem(cJSON_GetObjectItem(cust_get(c, "ask"), "params"), "terms_url");
    const char *pd = cust_res(c, "pd_url");
    cJSON_AddStringToObject(p, "pd_url", pd[0] ? pd : cJSON_GetStringValue(asked) ?: "");
    const char *terms = cust_res(c, "terms_url");
    cJSON_AddStringToObject(p, "terms_url", terms[0] ? terms : cJSON_GetStringValue(asked_terms) ?: "");
    return p;
}

/* The consent step: the answer to consent.terms, a yes (button or word), a no, or anything else. */
static void consent_step(cust_t *c)
{
    const char *op = cust_op(c);
    char low[16] = "";
    for (size_t i = 0; c->text[i] && i < sizeof low - 1; i++)
        low[i] = (char)(c->text[i] >= 'A' && c->text[i] <= 'Z' ? c->text[i] + 32 : c->text[i]);
    int yes = cust_button(c, "consent_yes") || (c->ev->kind == EV_TEXT && (!strncmp(low, "yes", 3) ||
              !strncmp(c->text, "да", strlen("да")) || !strncmp(c->text, "Да", strlen("Да")) ||
              !strncmp(c->text, "ДА", strlen("ДА")) || !strncmp(c->text, "Принимаю", strlen("Принимаю"))));
    int no = cust_button(c, "consent_no") || (c->ev->kind == EV_TEXT && (!strncmp(low, "no", 2) ||
             !strncmp(c->text, "нет", strlen("нет")) || !strncmp(c->text, "Нет", strlen("Нет")) ||
             !strncmp(c->text, "НЕТ", strlen("НЕТ"))));
    if (!strcmp(op, "consent.terms")) {
        if (!strcmp(cust_res(c, "accepted"), "true")) {
            after_consent(c);
            return;
        }
        cust_ask(c, "reg.consent", terms_params(c), consent_buttons);
    } else if (!strcmp(op, "consent.accept")) {
        after_consent(c);
    } else if (yes) {
        cJSON *a = identity(c, cJSON_CreateObject());
        cJSON_AddStringToObject(a, "event_id", c->ev->id ? c->ev->id : "");
        cust_call(c, "consent.accept", a);
    } else if (no) {
        cust_say(c, "reg.consent_declined", NULL, NULL);
        cust_goto(c, "");
    } else {
        cust_fail(c, "reg.consent_first", terms_params(c), consent_buttons);
    }
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

/* ---------------------------------------------------------------- a business: contract and INN */

/* /business before signing in: the contract's number, its INN, then a code to the contract's phone. */
static int biz_step(cust_t *c)
{
    static const char *const back[] = {"menu", NULL};
    const char *op = cust_op(c), *step = c->out->step, *st = cust_res(c, "status");
    if (!strcmp(op, "auth.business_find") && !strcmp(st, "found")) {
        double id = atof(cust_res(c, "business_id"));
        char phone[16];
        snprintf(phone, sizeof phone, "%s", cust_res(c, "phone"));
        cust_goto(c, "reg.biz_code");
        cust_set(c, "business_id", cJSON_CreateNumber(id));
        cust_set(c, "phone", cJSON_CreateString(phone));
        /* whoever knows a contract's number and its (public) INN sees the contract's phone only masked */
        cust_set(c, "phone_masked", cJSON_CreateString(cust_res(c, "phone_masked")));
        cust_call(c, "auth.code_send", param("phone", phone));
    } else if (!strcmp(op, "auth.business_find")) {
        cust_goto(c, strcmp(st, "locked") ? "reg.biz_contract" : "reg.phone");
        cust_say(c, !strcmp(st, "locked") ? "reg.biz_locked" : !strcmp(st, "no_phone") ? "reg.biz_no_phone"
                                                                                       : "reg.biz_not_found", NULL, NULL);
        if (strcmp(st, "locked"))
            cust_ask(c, "reg.biz_contract", NULL, back);
    } else if (!strcmp(op, "auth.code_send") && !strcmp(st, "sent")) {
        char to[24];
        snprintf(to, sizeof to, "sms:%s", cust_res(c, "phone"));
        dlg_send(c->out, "sms", to, "reg.code_sms", param("code", cust_res(c, "code")), 0);
        cust_ask(c, "reg.biz_code_sent", param("phone", cJSON_GetStringValue(cust_get(c, "phone_masked")) ?: "***"), back);
    } else if (!strcmp(op, "auth.code_send")) {
        on_sent(c); /* too soon, the limits: said as for a phone */
    } else if (!strcmp(op, "auth.business_verify")) {
        on_verified(c);
    } else if (!strcmp(step, "reg.biz_contract") && c->ev->kind == EV_TEXT && c->text[0] && strlen(c->text) <= 40) {
        cust_goto(c, "reg.biz_inn");
        cust_set(c, "contract", cJSON_CreateString(c->text));
        cust_ask(c, "reg.biz_inn", NULL, back);
    } else if (!strcmp(step, "reg.biz_inn") && c->ev->kind == EV_TEXT &&
               (strlen(c->text) == 10 || strlen(c->text) == 12) && strspn(c->text, "0123456789") == strlen(c->text)) {
        cJSON *a = param("contract_no", cJSON_GetStringValue(cust_get(c, "contract")) ?: "");
        cJSON_AddStringToObject(a, "inn", c->text);
        cust_call(c, "auth.business_find", a);
    } else if (!strcmp(step, "reg.biz_code") && c->ev->kind == EV_TEXT) {
        char digits[16];
        typed_code(c, c->text, digits);
        cJSON *a = param("phone", cJSON_GetStringValue(cust_get(c, "phone")) ?: "");
        cJSON_AddStringToObject(a, "code", digits[0] ? digits : "-");
        cJSON_AddStringToObject(a, "channel", c->ev->channel ? c->ev->channel : "local");
        cJSON_AddStringToObject(a, "external_id", c->ev->sender && c->ev->sender[0] ? c->ev->sender : c->ev->conv);
        cJSON_AddItemToObject(a, "business_id", cJSON_Duplicate(cust_get(c, "business_id"), 1));
        cust_call(c, "auth.business_verify", a);
    } else {
        cust_fail(c, !strcmp(step, "reg.biz_inn") ? "reg.biz_inn" : !strcmp(step, "reg.biz_code") ? "reg.code_format"
                                                                                               : "reg.biz_contract",
                  NULL, back);
    }
    return 0;
}

int reg_step(cust_t *c)
{
    const char *op = cust_op(c), *step = c->out->step;
    if (!strcmp(step, "reg.biz_contract") || !strcmp(step, "reg.biz_inn") || !strcmp(step, "reg.biz_code") ||
        !strncmp(op, "auth.business", 13))
        return biz_step(c);
    if (c->ev->kind == EV_COMMAND && c->ev->text && !strcmp(c->ev->text, "/business") && !strcmp(step, "reg.phone")) {
        cust_goto(c, "reg.biz_contract");
        cust_ask(c, "reg.biz_contract", NULL, NULL);
        return 0;
    }
    if (!strcmp(op, "auth.code_send")) {
        on_sent(c);
        return 0;
    }
    if (!strcmp(op, "auth.mail_login") && strcmp(cust_res(c, "status"), "ok")) { /* not known yet: a code */
        send_code(c, c->ev->sender);
        return 0;
    }
    if (!strcmp(op, "auth.code_verify") || !strcmp(op, "auth.sms_login") || !strcmp(op, "auth.mail_login")) {
        on_verified(c);
        return 0;
    }
    if (!strcmp(step, "reg.consent") || !strcmp(op, "consent.terms") || !strcmp(op, "consent.accept")) {
        consent_step(c);
        return 0;
    }
    if ((by_sms(c) && strcmp(step, "reg.sms")) || (by_mail(c) && strcmp(step, "reg.code") && strcmp(step, "reg.mail"))) {
        /* the first message by SMS or email: the consent, then the sign-in; what it asked for waits for them */
        cust_goto(c, "");
        /* what a message nobody vouches for asked runs after the code only when it changes nothing (a read) */
        if (kw_is_command(c->ev) && (!cust_mail_unvouched(c) || !strncmp(c->ev->text, "/balance", 8) ||
                                     !strncmp(c->ev->text, "/bill", 5) || !strncmp(c->ev->text, "/help", 5)))
            cust_set(c, "pending", cJSON_CreateString(c->ev->text));
        reg_start(c);
        return 0;
    }
    if (by_mail(c) && !strcmp(step, "reg.code") && c->ev->kind == EV_COMMAND && c->ev->text &&
        !strncmp(c->ev->text, "/confirm ", 9)) {
        verify(c, c->ev->text + 9); /* the one-click link */
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
