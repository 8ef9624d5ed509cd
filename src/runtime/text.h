/* text.h — the customer-visible texts: one catalog per language (dialogs/texts/<lang>.txt, compiled in), rendered
 * from a template id and JSON parameters. No text a customer reads lives in C.
 *
 * Catalog lines are `key = text` (`#` starts a comment, `\n` is a line break). In a text, {name} is a parameter as
 * given; {name:rub} renders kopecks as rubles ("1 234,56 ₽" in ru, "1,234.56 ₽" in en: groups of three split by a
 * non-breaking space); {name:num} a decimal the same way with no padding ("29700.000" → "29 700", "5.8700" →
 * "5,87"); {name:date} an ISO date, with its time if any ("2026-12-07" → "07.12.2026", en "7 Dec 2026");
 * {name:month} a month ("2026-11", "11.2026" → "ноябрь 2026", en "November 2026"; {name:Month}: "Ноябрь 2026");
 * what does not parse is shown as it is. {name:key:chan.} shows a code by its name: the catalog's text chan.<code>
 * (the code itself when there is none). {name:plural:a|b|c} picks the form for the number (ru: one, few, many —
 * 1 показание, 2 показания, 5 показаний; en: one, other), and a '#' in the form is the number itself
 * ("{n:plural:осталась # попытка|осталось # попытки|осталось # попыток}");
 * {name:lines:key} renders each object of the array parameter with the template key (or the one its "line" field
 *  names), one per line.
 * A language without a key falls back to ru. */
#ifndef KB_TEXT_H
#define KB_TEXT_H

#include <stddef.h>
#include <cjson/cJSON.h>

typedef struct {
    const char *lang;
    const char *text;
} txt_file_t;

/* The catalogs compiled in from dialogs/texts/ (generated at build time), ending with {0}. */
extern const txt_file_t txt_builtin[];

/* The raw text of key in lang (falling back to ru), or NULL when no catalog has it. */
const char *txt_get(const char *lang, const char *key);
/* Renders key in lang with params (an object, or NULL) into buf (always terminated). Returns 0; 1 when a
 * parameter was missing or of the wrong kind (rendered empty); KB_ERR_INVAL when the key is unknown (buf then
 * holds the key itself, so that nothing is silently lost). */
int txt_render(const char *lang, const char *key, const cJSON *params, char *buf, size_t size);
/* Checks the catalogs against each other: every key in every language, with the same parameter names. Returns 0,
 * or KB_ERR_INVAL with the first difference in err. */
int txt_check(char *err, size_t errlen);
/* A malloc'ed copy of s[0..len) with &, <, > and " escaped for HTML (Telegram's HTML parse mode, web pages);
 * NULL when out of memory. */
char *txt_html_escape(const char *s, size_t len);
/* The label of button id of a reply in lang: the reply's own (its payload's "button_labels": {id: text}, e.g. an
 * account's number and address on a choice) or the catalog's btn.<id>. */
void txt_button(const char *lang, const char *id, const cJSON *payload, char *buf, size_t size);
/* Formats kopecks as rubles for lang into buf ("1 234,56 ₽", the spaces non-breaking). */
void txt_rubles(const char *lang, long long kopecks, char *buf, size_t size);
/* Formats the decimal s ("29700.000", "-5", "29700,5") for lang into buf ("29 700", "-5", "29 700,5"). Returns 0, or
 * 1 when s is not a decimal (buf then holds s as it is). */
int txt_number(const char *lang, const char *s, char *buf, size_t size);
/* Formats the date s ("2026-12-07", "2026-12-07 10:00") for lang into buf ("07.12.2026", "07.12.2026 10:00"; en
 * "7 Dec 2026"). Returns 0, or 1 when s is not a date (buf then holds s). */
int txt_date(const char *lang, const char *s, char *buf, size_t size);
/* Formats the month of s ("2026-11", "2026-11-01", "11.2026") for lang into buf: style 0 "ноябрь 2026" (en
 * "November 2026"), 1 "Ноябрь 2026", 2 short "ноя 2026" (en "Nov 2026"). Returns 0, or 1 when s is not a month (buf
 * then holds s). */
int txt_month(const char *lang, const char *s, int style, char *buf, size_t size);

#endif
