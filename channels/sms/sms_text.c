/* sms_text.c — segments and keywords of SMS text (see sms_text.h). */
#include <stdio.h>
#include <string.h>
#include "err.h"
#include "sms_text.h"

/* ---------------------------------------------------------------- UTF-8 */

/* Decodes one code point at *s and advances; a malformed byte counts as itself (U+FFFD-like, never GSM). */
static unsigned next_cp(const unsigned char **s)
{
    const unsigned char *p = *s;
    unsigned cp;
    int n;
    if (p[0] < 0x80) {
        cp = p[0];
        n = 1;
    } else if ((p[0] & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) {
        cp = (unsigned)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
        n = 2;
    } else if ((p[0] & 0xF0) == 0xE0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
        cp = (unsigned)(p[0] & 0x0F) << 12 | (unsigned)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
        n = 3;
    } else if ((p[0] & 0xF8) == 0xF0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80) {
        cp = (unsigned)(p[0] & 0x07) << 18 | (unsigned)(p[1] & 0x3F) << 12 | (unsigned)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
        n = 4;
    } else {
        cp = 0xFFFD;
        n = 1;
    }
    *s = p + n;
    return cp;
}

static size_t put_cp(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

/* ---------------------------------------------------------------- segments */

/* GSM 03.38: the basic set, and the extension table (two septets each). */
static const char gsm_basic[] = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
                                "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
static const char gsm_ext[] = "^{}\\[~]|€\f";

static int in_set(const char *set, unsigned cp)
{
    const unsigned char *s = (const unsigned char *)set;
    while (*s)
        if (next_cp(&s) == cp)
            return 1;
    return 0;
}

/* Parts of a message of units whose sizes are in sizes[0..n): one part up to single, else parts of multi, a unit
 * never split. */
static int pack(const unsigned char *sizes, size_t n, int single, int multi)
{
    int total = 0;
    for (size_t i = 0; i < n; i++)
        total += sizes[i];
    if (total == 0)
        return 0;
    if (total <= single)
        return 1;
    int parts = 1, used = 0;
    for (size_t i = 0; i < n; i++) {
        if (used + sizes[i] > multi) {
            parts++;
            used = 0;
        }
        used += sizes[i];
    }
    return parts;
}

int sms_segments(const char *utf8, int *ucs2)
{
    size_t len = strlen(utf8), n = 0;
    unsigned char gsm[1600], u16[1600];
    int is_gsm = 1;
    const unsigned char *s = (const unsigned char *)utf8, *end = s + len;
    while (s < end && n < sizeof gsm) {
        unsigned cp = next_cp(&s);
        u16[n] = cp > 0xFFFF ? 2 : 1;
        if (in_set(gsm_basic, cp))
            gsm[n] = 1;
        else if (in_set(gsm_ext, cp))
            gsm[n] = 2;
        else
            is_gsm = 0;
        n++;
    }
    if (s < end) { /* longer than we count exactly: an estimate is enough, and generous */
        size_t rest = (size_t)(end - s);
        return (int)(rest / 67) + 1 + pack(u16, n, 70, 67);
    }
    *ucs2 = !is_gsm;
    return is_gsm ? pack(gsm, n, 160, 153) : pack(u16, n, 70, 67);
}

/* ---------------------------------------------------------------- keywords */

/* Upper case, Ё as Е, and the Latin letters that look Cyrillic as Cyrillic. */
static unsigned fold(unsigned cp)
{
    static const char latin[] = "ABCEHKMOPTXY";
    static const unsigned cyr[] = {0x410, 0x412, 0x421, 0x415, 0x41D, 0x41A, 0x41C, 0x41E, 0x420, 0x422, 0x425, 0x423};
    if (cp >= 'a' && cp <= 'z')
        cp -= 32;
    if (cp >= 0x430 && cp <= 0x44F)
        cp -= 0x20;
    if (cp == 0x451 || cp == 0x401)
        cp = 0x415;
    const char *l = cp < 0x80 ? strchr(latin, (int)cp) : NULL;
    return l && cp ? cyr[l - latin] : cp;
}

/* Splits text into at most max words, folded (Cyrillic) into fbuf and upper-cased only (Latin kept) into lbuf. */
static int words(const char *text, char *fbuf, char *lbuf, size_t size, char **fw, char **lw, int max)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t fo = 0, lo = 0;
    int n = 0, in = 0;
    while (*s && fo + 4 < size && lo + 4 < size) {
        unsigned cp = next_cp(&s);
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0xA0) {
            if (in) {
                fbuf[fo++] = 0;
                lbuf[lo++] = 0;
                in = 0;
            }
            continue;
        }
        if (!in) {
            if (n == max)
                return -1;
            fw[n] = fbuf + fo;
            lw[n] = lbuf + lo;
            n++;
            in = 1;
        }
        fo += put_cp(fbuf + fo, fold(cp) > 0xFFFF ? 0xFFFD : fold(cp));
        lo += put_cp(lbuf + lo, cp >= 'a' && cp <= 'z' ? cp - 32 : cp > 0xFFFF ? 0xFFFD : cp);
    }
    fbuf[fo] = 0;
    lbuf[lo] = 0;
    return n;
}

static int is_number(const char *w)
{
    return w[0] && strspn(w, "0123456789,.") == strlen(w) && strspn(w, "0123456789") > 0;
}

static int one_of(const char *w, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(w, *list))
            return 1;
    return 0;
}

sms_cmd_kind_t sms_parse(const char *utf8, sms_cmd_t *out)
{
    static const char *const balance[] = {"БАЛАНС", "Б", "BALANCE", NULL};
    static const char *const reading[] = {"ПОКАЗАНИЯ", "ПОКАЗАНИЕ", "П", "READING", "READINGS", "R", NULL};
    static const char *const pay[] = {"ОПЛАТА", "ОПЛАТИТЬ", "PAY", NULL};
    static const char *const bill[] = {"СЧЕТ", "КВИТАНЦИЯ", "BILL", NULL};
    static const char *const help[] = {"ПОМОЩЬ", "?", "HELP", NULL};
    static const char *const stop[] = {"СТОП", "STOP", "ОТПИСАТЬСЯ", NULL};
    static const char *const start[] = {"СТАРТ", "START", NULL};
    static const char *const human[] = {"ОПЕРАТОР", "ПОДДЕРЖКА", "OPERATOR", "SUPPORT", NULL};
    memset(out, 0, sizeof *out);
    char fbuf[600], lbuf[600], *fw[12], *lw[12];
    int n = words(utf8, fbuf, lbuf, sizeof fbuf, fw, lw, 12);
    if (n <= 0)
        return SMS_CMD_NONE;
    if (n == 1 && strlen(fw[0]) == 1 && fw[0][0] >= '1' && fw[0][0] <= '9') {
        out->kind = SMS_CMD_CHOICE;
        snprintf(out->arg, sizeof out->arg, "%s", fw[0]);
        return out->kind;
    }
    int i = 0;
    if (n > 1 && strlen(fw[0]) == 10 && strspn(fw[0], "0123456789") == 10) { /* an account number first */
        snprintf(out->account, sizeof out->account, "%s", fw[0]);
        i = 1;
    }
    const char *w = fw[i], *lat = lw[i];
    sms_cmd_kind_t k = one_of(w, balance) || one_of(lat, balance) ? SMS_CMD_BALANCE
                     : one_of(w, reading) || one_of(lat, reading) ? SMS_CMD_READING
                     : one_of(w, pay) || one_of(lat, pay) ? SMS_CMD_PAY : one_of(w, bill) || one_of(lat, bill) ? SMS_CMD_BILL
                     : one_of(w, help) || one_of(lat, help) ? SMS_CMD_HELP
                     : one_of(w, stop) || one_of(lat, stop) ? SMS_CMD_STOP
                     : one_of(w, start) || one_of(lat, start) ? SMS_CMD_START
                     : one_of(w, human) || one_of(lat, human) ? SMS_CMD_HUMAN : SMS_CMD_NONE;
    int rest = n - i - 1;
    if (k == SMS_CMD_NONE || ((k == SMS_CMD_BALANCE || k == SMS_CMD_BILL || k == SMS_CMD_HELP || k == SMS_CMD_STOP ||
                               k == SMS_CMD_START || k == SMS_CMD_HUMAN) && rest > 0)) {
        memset(out, 0, sizeof *out);
        return SMS_CMD_NONE;
    }
    if (k == SMS_CMD_READING) {
        if (rest < 1 || rest > 4)
            k = rest < 1 ? SMS_CMD_READING : SMS_CMD_NONE;
        for (int j = i + 1; k && j < n; j++)
            if (!is_number(fw[j]))
                k = SMS_CMD_NONE;
    }
    if (k == SMS_CMD_NONE) {
        memset(out, 0, sizeof *out);
        return SMS_CMD_NONE;
    }
    for (int j = i + 1; j < n; j++) { /* the values, or the sum as typed ("1 500,50") */
        size_t at = strlen(out->arg);
        snprintf(out->arg + at, sizeof out->arg - at, "%s%s", at ? " " : "", fw[j]);
    }
    out->kind = k;
    return k;
}

int sms_command(const sms_cmd_t *cmd, char *buf, size_t size)
{
    static const char *const names[] = {NULL, NULL, "/balance", "/reading", "/pay", "/bill", "/help", "/stop",
                                        "/resume", "/human"};
    if (cmd->kind <= SMS_CMD_CHOICE)
        return KB_ERR_INVAL;
    int n = snprintf(buf, size, "%s", names[cmd->kind]);
    if (cmd->account[0])
        n += snprintf(buf + n, size - (size_t)n, " %s", cmd->account);
    if (cmd->arg[0] && (cmd->kind == SMS_CMD_READING || cmd->kind == SMS_CMD_PAY))
        n += snprintf(buf + n, size - (size_t)n, " %s", cmd->arg);
    return (size_t)n < size ? 0 : KB_ERR_INVAL;
}

/* ---------------------------------------------------------------- choices */

int sms_choices(const cJSON *payload, const char **ids, int max)
{
    static const char *const skip[] = {"menu", "back", "help", "human", "share_phone", NULL};
    static const char *const menu[] = {"balance", "readings", "pay", "bills", NULL};
    const cJSON *b;
    int n = 0;
    if (!strncmp(cJSON_GetStringValue(cJSON_GetObjectItem(payload, "tmpl")) ?: "", "menu.main", 9)) {
        for (int i = 0; menu[i] && n < max; i++)
            cJSON_ArrayForEach(b, cJSON_GetObjectItem(payload, "buttons")) if (cJSON_IsString(b) &&
                                                                             !strcmp(b->valuestring, menu[i]))
            {
                ids[n++] = menu[i];
                break;
            }
        return n;
    }
    cJSON_ArrayForEach(b, cJSON_GetObjectItem(payload, "buttons"))
    {
        int keep = cJSON_IsString(b) && n < max;
        for (int i = 0; keep && skip[i]; i++)
            keep = strcmp(b->valuestring, skip[i]) != 0;
        if (keep)
            ids[n++] = b->valuestring;
    }
    return n;
}
