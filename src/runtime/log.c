/* log.c — JSON-lines logging and the masking helpers for personal data and secrets.
 *
 * A line is built in a stack buffer and written with one write(2), so lines from several processes sharing a
 * stderr never interleave (lines stay below PIPE_BUF unless a message is huge, in which case it is cut). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <ctype.h>
#include <time.h>
#include <unistd.h>
#include "err.h"
#include "log.h"

static log_level_t log_min = LOG_INFO;
static int log_fd = 2;
static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

/* ---------------------------------------------------------------- settings */

void log_set_level(log_level_t level) { log_min = level; }
void log_set_fd(int fd) { log_fd = fd; }
int log_enabled(log_level_t level) { return level >= log_min && log_min != LOG_OFF; }

/* Maps a level name to its value. */
int log_parse_level(const char *s, log_level_t *out)
{
    for (int i = 0; i <= LOG_OFF; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    return KB_ERR_INVAL;
}

/* ---------------------------------------------------------------- writing */

/* Appends s to buf at *pos as a JSON string body (without quotes), escaping what JSON requires. Stops quietly when
 * the buffer is full, keeping room for the closing part of the line. */
static void append_escaped(char *buf, size_t cap, size_t *pos, const char *s)
{
    for (; *s && *pos + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = (char)c;
        } else if (c == '\n') {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = 'n';
        } else if (c < 0x20) {
            *pos += (size_t)snprintf(buf + *pos, cap - *pos, "\\u%04x", c);
        } else {
            buf[(*pos)++] = (char)c;
        }
    }
}

/* Appends raw text (already valid JSON) when it fits. */
static void append_raw(char *buf, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (*pos + n + 4 < cap) {
        memcpy(buf + *pos, s, n);
        *pos += n;
    }
}

/* Formats and writes one log line. */
void log_write(log_level_t level, const char *module, const char *msg, const char *const *fields)
{
    if (!log_enabled(level))
        return;
    char buf[8192];
    size_t pos = 0;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    pos += strftime(buf, sizeof buf, "{\"time\":\"%Y-%m-%dT%H:%M:%S", &tm);
    pos += (size_t)snprintf(buf + pos, sizeof buf - pos, ".%03ldZ\",\"level\":\"%s\",\"module\":\"",
                            ts.tv_nsec / 1000000, level_names[level]);
    append_escaped(buf, sizeof buf, &pos, module);
    append_raw(buf, sizeof buf, &pos, "\",\"msg\":\"");
    append_escaped(buf, sizeof buf, &pos, msg);
    append_raw(buf, sizeof buf, &pos, "\"");
    for (const char *const *f = fields; f && f[0] && f[1]; f += 2) {
        append_raw(buf, sizeof buf, &pos, ",\"");
        append_escaped(buf, sizeof buf, &pos, f[0]);
        append_raw(buf, sizeof buf, &pos, "\":\"");
        append_escaped(buf, sizeof buf, &pos, f[1]);
        append_raw(buf, sizeof buf, &pos, "\"");
    }
    buf[pos++] = '}';
    buf[pos++] = '\n';
    ssize_t w = write(log_fd, buf, pos);
    (void)w;
}

/* printf-style message without fields. */
void log_printf(log_level_t level, const char *module, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_write(level, module, msg, NULL);
}

/* ---------------------------------------------------------------- masking */

/* Keeps "+7916" and the last four digits of a phone; everything between becomes "***". */
char *log_mask_phone(const char *phone, char *out, size_t size)
{
    char digits[32];
    size_t n = 0;
    for (const char *p = phone ? phone : ""; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            if (n + 1 >= sizeof digits)
                break;
            digits[n++] = *p;
        } else if (!strchr("+ -()", *p)) {
            n = 0;
            break;
        }
    }
    digits[n] = 0;
    if (n < 10 || n > 15)
        snprintf(out, size, "***");
    else
        snprintf(out, size, "+%.*s***%s", (int)(n - 7 > 4 ? 4 : n - 7), digits, digits + n - 4);
    return out;
}

/* Keeps the first and last character of the local part and the whole domain. */
char *log_mask_email(const char *email, char *out, size_t size)
{
    const char *at = email ? strchr(email, '@') : NULL;
    if (!at || at == email || !at[1] || strchr(at + 1, '@'))
        snprintf(out, size, "***");
    else if (at - email <= 2)
        snprintf(out, size, "%c***%s", email[0], at);
    else
        snprintf(out, size, "%c***%c%s", email[0], at[-1], at);
    return out;
}

/* The span of a phone number at s (digits with the separators people type), or 0: 10 digits from a 9, or 11 from
 * a 7 or an 8, with "+" before a 7 allowed; never part of a longer run of digits. */
static size_t phone_span(const char *start, const char *s)
{
    if ((s > start && isdigit((unsigned char)s[-1])) || !(isdigit((unsigned char)*s) || (*s == '+' && s[1] == '7')))
        return 0;
    size_t i = *s == '+', n = 0, end = 0;
    char first = 0;
    for (; s[i] && (isdigit((unsigned char)s[i]) || strchr(" -()", s[i])); i++)
        if (isdigit((unsigned char)s[i])) {
            if (!n++)
                first = s[i];
            end = i + 1;
            if (n == 11)
                break;
        }
    if (isdigit((unsigned char)s[end]))
        return 0;
    return (n == 10 && first == '9' && *s != '+') || (n == 11 && (first == '7' || (first == '8' && *s != '+'))) ? end : 0;
}

char *log_mask_text(const char *text, char *out, size_t size)
{
    size_t at = 0;
    if (!size)
        return out;
    for (const char *p = text ? text : ""; *p && at + 1 < size;) {
        size_t n = phone_span(text, p);
        char m[96], one[64];
        if (n) {
            snprintf(one, sizeof one, "%.*s", (int)(n < sizeof one - 1 ? n : sizeof one - 1), p);
            log_mask_phone(one, m, sizeof m);
        } else if (*p == '@' && p > text && (isalnum((unsigned char)p[-1]) || strchr("._%+-", p[-1]))) {
            /* an address: back to where its local part starts (already copied: take it back), on to its end */
            const char *b = p;
            while (b > text && (isalnum((unsigned char)b[-1]) || strchr("._%+-", b[-1])))
                b--;
            const char *e = p + 1;
            while (*e && (isalnum((unsigned char)*e) || *e == '.' || *e == '-'))
                e++;
            while (e > p + 1 && e[-1] == '.')
                e--;
            if (e > p + 1 && memchr(p + 1, '.', (size_t)(e - p - 1)) && (size_t)(p - b) <= at) {
                snprintf(one, sizeof one, "%.*s", (int)((size_t)(e - b) < sizeof one - 1 ? (size_t)(e - b) : sizeof one - 1), b);
                log_mask_email(one, m, sizeof m);
                at -= (size_t)(p - b);
                n = (size_t)(e - p);
            }
        }
        if (n) {
            at += (size_t)snprintf(out + at, size - at, "%s", m);
            if (at >= size)
                at = size - 1;
            p += n;
        } else {
            out[at++] = *p++;
        }
    }
    out[at] = 0;
    return out;
}

/* Shows only enough of a secret to tell two of them apart. */
char *log_mask_token(const char *token, char *out, size_t size)
{
    size_t n = token ? strlen(token) : 0;
    if (n < 12)
        snprintf(out, size, "***");
    else
        snprintf(out, size, "%.4s…(%zu)", token, n);
    return out;
}

/* Replaces the password of a URL (scheme://user:pass@host) or of a libpq key=value string or query parameter
 * (password=…) with "***". The result is built afresh into out, never longer than size - 1. */
char *log_mask_url(const char *url, char *out, size_t size)
{
    const char *s = url ? url : "";
    const char *pw_from = NULL, *pw_to = NULL;
    const char *scheme = strstr(s, "://");
    if (scheme) {
        const char *auth = scheme + 3;
        const char *end = auth + strcspn(auth, "/?#");
        const char *at = memrchr(auth, '@', (size_t)(end - auth));
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            pw_from = colon + 1;
            pw_to = at;
        }
    }
    size_t o = 0;
    for (const char *p = s; *p;) {
        if (p == pw_from) {
            for (const char *m = "***"; *m && o + 1 < size; m++)
                out[o++] = *m;
            p = pw_to;
            continue;
        }
        if (strncmp(p, "password=", 9) == 0 && (p == s || strchr(" &?", p[-1]))) {
            for (const char *m = "password=***"; *m && o + 1 < size; m++)
                out[o++] = *m;
            p += 9;
            while (*p && *p != ' ' && *p != '&')
                p++;
            continue;
        }
        if (o + 1 < size)
            out[o++] = *p;
        p++;
    }
    if (size)
        out[o] = 0;
    return out;
}
