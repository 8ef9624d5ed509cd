/* sms_text.h — what the SMS channel does with text, pure: how many segments a message costs (GSM-7: 160 characters
 * in one segment, 153 per part of a longer one, the extension characters ^{}\[~]|€ taking two; anything else makes
 * the whole message UCS-2: 70 UTF-16 units in one segment, 67 per part, so two segments of Cyrillic hold 134
 * characters; a character is never split between parts), and what a customer's SMS says: one of the keyword
 * commands (БАЛАНС, ПОКАЗАНИЯ 12345 / П 12345 6789, ОПЛАТА [сумма], СЧЕТ, ПОМОЩЬ, СТОП / STOP, СТАРТ / START),
 * case-insensitive, Latin look-alike letters taken as Cyrillic, extra spaces ignored, optionally after an account
 * number; a number choosing one of the offered options; or free text. */
#ifndef KB_SMS_TEXT_H
#define KB_SMS_TEXT_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* Segments of utf8 as an SMS: 1 or more (0 for ""). *ucs2 is set to 1 when it must go as UCS-2. */
int sms_segments(const char *utf8, int *ucs2);

typedef enum {
    SMS_CMD_NONE = 0,              /* free text: the dialog takes it as typed */
    SMS_CMD_CHOICE,                /* "1" … "9": the n-th offered option (arg) */
    SMS_CMD_BALANCE,
    SMS_CMD_READING,               /* arg: the values, space-separated ("12345 6789") */
    SMS_CMD_PAY,                   /* arg: the sum as typed, or "" */
    SMS_CMD_BILL,
    SMS_CMD_HELP,
    SMS_CMD_STOP,
    SMS_CMD_START,
    SMS_CMD_HUMAN                  /* ОПЕРАТОР, ПОДДЕРЖКА: ask for a person */
} sms_cmd_kind_t;

typedef struct {
    sms_cmd_kind_t kind;
    char account[16];              /* an account number before the command, or "" */
    char arg[64];
} sms_cmd_t;

/* Reads a customer's SMS. Returns the kind (also in out->kind). */
sms_cmd_kind_t sms_parse(const char *utf8, sms_cmd_t *out);

/* The dialog command for a parsed keyword ("/balance 1800000001", "/reading 12345 6789", "/pay 1500", …) into buf;
 * 0, or KB_ERR_INVAL for SMS_CMD_NONE / SMS_CMD_CHOICE (not commands). */
int sms_command(const sms_cmd_t *cmd, char *buf, size_t size);

/* The buttons a reply's payload offers as numbered choices, in order, into ids (at most max; pointers into
 * payload): what makes sense to answer with a digit (of the menu, the four a customer by SMS or email needs; the
 * keywords reach the rest). Returns how many. */
int sms_choices(const cJSON *payload, const char **ids, int max);

#endif
