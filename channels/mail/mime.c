/* mime.c — reading a customer's email and writing ours (see mime.h). */
#include <ctype.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/sha.h>
#include "err.h"
#include "event.h"
#include "mime.h"

/* ---------------------------------------------------------------- buffers */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} buf_t;

static void put(buf_t *b, const void *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void puts_(buf_t *b, const char *s) { put(b, s, strlen(s)); }

/* ---------------------------------------------------------------- decoding */

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Base64 into out (at least len * 3 / 4 + 3 bytes); whitespace is skipped. Returns the length, or -1 on a
 * character that has no place in base64. */
static long b64_decode(const char *s, size_t len, unsigned char *out)
{
    unsigned acc = 0;
    int bits = 0;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '=')
            break;
        if (isspace(c))
            continue;
        int v = b64_value(c);
        if (v < 0)
            return -1;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Quoted-printable into out (at least len bytes); words says "_" is a space (RFC 2047 "Q"). Returns the length. */
static size_t qp_decode(const char *s, size_t len, char *out, int words)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=' && i + 1 < len && (s[i + 1] == '\n' || (s[i + 1] == '\r' && i + 2 < len && s[i + 2] == '\n'))) {
            i += s[i + 1] == '\r' ? 2 : 1; /* a soft line break */
        } else if (s[i] == '=' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[n++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[n++] = words && s[i] == '_' ? ' ' : s[i];
        }
    }
    return n;
}

/* Appends s[0..len) in charset to b as UTF-8. Returns 0, or -1 when the bytes are not valid in it (or the
 * charset is unknown). */
static int to_utf8(buf_t *b, const char *charset, const char *s, size_t len)
{
    if (!charset[0] || !strcasecmp(charset, "utf-8") || !strcasecmp(charset, "utf8") ||
        !strcasecmp(charset, "us-ascii")) {
        if (!event_utf8_valid(s, len))
            return -1;
        put(b, s, len);
        return 0;
    }
    iconv_t cd = iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1)
        return -1;
    char out[4096];
    char *in = (char *)s;
    size_t left = len;
    int rc = 0;
    while (left > 0) {
        char *o = out;
        size_t room = sizeof out;
        size_t r = iconv(cd, &in, &left, &o, &room);
        put(b, out, (size_t)(o - out));
        if (r == (size_t)-1 && o == out) {
            rc = -1;
            break;
        }
    }
    iconv_close(cd);
    return rc;
}

void mime_decode_words(const char *s, char *out, size_t size)
{
    buf_t b = {0};
    const char *p = s, *last_word_end = NULL;
    while (*p) {
        const char *w = strstr(p, "=?");
        const char *q1 = w ? strchr(w + 2, '?') : NULL;
        const char *q2 = q1 && q1[1] && q1[2] == '?' ? q1 + 2 : NULL;
        const char *end = q2 ? strstr(q2 + 1, "?=") : NULL;
        if (!end) {
            puts_(&b, p);
            break;
        }
        /* the text before the word, unless it is only the space between two words */
        int only_space = last_word_end == p;
        for (const char *t = p; t < w && only_space; t++)
            only_space = isspace((unsigned char)*t);
        if (!only_space)
            put(&b, p, (size_t)(w - p));
        char charset[40];
        size_t cl = (size_t)(q1 - w - 2);
        snprintf(charset, sizeof charset, "%.*s", (int)(cl < sizeof charset ? cl : sizeof charset - 1), w + 2);
        char *star = strchr(charset, '*'); /* RFC 2231 language: "utf-8*ru" */
        if (star)
            *star = 0;
        size_t tl = (size_t)(end - q2 - 1);
        char *raw = malloc(tl + 4);
        if (!raw)
            break;
        long rl = toupper((unsigned char)q1[1]) == 'B' ? b64_decode(q2 + 1, tl, (unsigned char *)raw)
                                                       : (long)qp_decode(q2 + 1, tl, raw, 1);
        if (rl < 0 || to_utf8(&b, charset, raw, (size_t)rl) != 0)
            put(&b, w, (size_t)(end + 2 - w)); /* undecodable: kept as it came */
        free(raw);
        p = last_word_end = end + 2;
    }
    snprintf(out, size, "%s", b.p ? b.p : "");
    /* never cut a character in two */
    size_t n = event_text_cut(out, strlen(out));
    out[n] = 0;
    free(b.p);
}

/* ---------------------------------------------------------------- headers */

/* The first `limit` values (0: every value) of header name in the block h[0..len), unfolded, joined by ", " into
 * out. Returns how many. */
static int header_upto(const char *h, size_t len, const char *name, char *out, size_t size, int limit)
{
    size_t nl = strlen(name), at = 0;
    int found = 0;
    out[0] = 0;
    for (size_t i = 0; i < len;) {
        size_t eol = i;
        while (eol < len && h[eol] != '\n')
            eol++;
        if (eol - i > nl && !strncasecmp(h + i, name, nl) && h[i + nl] == ':') {
            if (found && at + 2 < size) {
                memcpy(out + at, ", ", 2);
                at += 2;
            }
            found++;
            size_t j = i + nl + 1;
            for (;;) { /* the value and its continuation lines, each line's break dropped */
                while (j < eol && (h[j] == ' ' || h[j] == '\t') && (at == 0 || out[at - 1] == ' '))
                    j++;
                for (; j < eol; j++)
                    if (h[j] != '\r' && at + 1 < size)
                        out[at++] = h[j] == '\t' ? ' ' : h[j];
                if (eol + 1 < len && (h[eol + 1] == ' ' || h[eol + 1] == '\t')) {
                    j = eol + 1;
                    eol = j;
                    while (eol < len && h[eol] != '\n')
                        eol++;
                    if (at + 1 < size && at && out[at - 1] != ' ')
                        out[at++] = ' ';
                } else {
                    break;
                }
            }
            out[at] = 0;
            if (limit && found >= limit)
                break;
        }
        i = eol + 1;
    }
    while (at && isspace((unsigned char)out[at - 1]))
        out[--at] = 0;
    return found;
}

/* Every value of header name, joined by ", " (header_upto without a limit). */
static int header(const char *h, size_t len, const char *name, char *out, size_t size)
{
    return header_upto(h, len, name, out, size, 0);
}

/* A parameter of a structured header value ("multipart/mixed; boundary=\"x\""), unquoted. 1 when found. */
static int param(const char *value, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    for (const char *p = strchr(value, ';'); p; p = strchr(p + 1, ';')) {
        const char *k = p + 1;
        while (*k == ' ' || *k == '\t')
            k++;
        if (strncasecmp(k, name, nl) || k[nl] != '=')
            continue;
        const char *v = k + nl + 1, *e;
        if (*v == '"') {
            v++;
            e = strchr(v, '"');
        } else {
            e = v + strcspn(v, "; \t");
        }
        if (!e)
            e = v + strlen(v);
        snprintf(out, size, "%.*s", (int)(e - v), v);
        return 1;
    }
    return 0;
}

/* The media type of a Content-Type value, lowercased ("text/plain" when there is none). */
static void media_type(const char *value, char *out, size_t size)
{
    size_t n = strcspn(value, "; \t");
    if (n == 0 || n >= size)
        snprintf(out, size, "text/plain");
    else
        for (size_t i = 0; i <= n; i++)
            out[i] = i == n ? 0 : (char)tolower((unsigned char)value[i]);
}

/* Splits a part into its header block and body. */
static void split(const char *raw, size_t len, const char **h, size_t *hlen, const char **body, size_t *blen)
{
    size_t nl = len && raw[0] == '\n' ? 1 : len > 1 && raw[0] == '\r' && raw[1] == '\n' ? 2 : 0;
    if (nl) { /* no headers at all */
        *h = raw, *hlen = 0, *body = raw + nl, *blen = len - nl;
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (raw[i] == '\n' && (i + 1 < len && (raw[i + 1] == '\n' || (raw[i + 1] == '\r' && i + 2 < len &&
                                                                       raw[i + 2] == '\n')))) {
            size_t start = i + (raw[i + 1] == '\r' ? 3 : 2);
            *h = raw;
            *hlen = i + 1;
            *body = raw + start;
            *blen = len - start;
            return;
        }
    }
    *h = raw, *hlen = len, *body = raw + len, *blen = 0;
}

/* The address and display name of a From value: "Имя <a@b.ru>", "a@b.ru (Имя)" or "a@b.ru". 0 or -1. */
static int address(const char *value, mime_msg_t *m)
{
    char addr[512] = "", name[512] = "";
    const char *lt = strrchr(value, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt) {
        snprintf(addr, sizeof addr, "%.*s", (int)(gt - lt - 1), lt + 1);
        snprintf(name, sizeof name, "%.*s", (int)(lt - value), value);
    } else {
        const char *paren = strchr(value, '(');
        snprintf(addr, sizeof addr, "%.*s", (int)(paren ? (size_t)(paren - value) : strlen(value)), value);
        if (paren)
            snprintf(name, sizeof name, "%.*s", (int)strcspn(paren + 1, ")"), paren + 1);
    }
    /* the name without quotes and surrounding spaces */
    char *n = name;
    while (*n == ' ' || *n == '"')
        n++;
    size_t nl = strlen(n);
    while (nl && (n[nl - 1] == ' ' || n[nl - 1] == '"'))
        n[--nl] = 0;
    mime_decode_words(n, m->from_name, sizeof m->from_name);
    return email_normalize(addr, m->from, sizeof m->from) ? -1 : 0;
}

/* ---------------------------------------------------------------- bodies */

typedef struct {
    buf_t plain, html;
    int attachments;
    char err[160];
} walk_t;

/* HTML as text: tags dropped, line breaks for <br> and the ends of blocks, a few entities. */
static void html_text(const char *s, size_t len, buf_t *out)
{
    static const struct {
        const char *ent, *ch;
    } ents[] = {{"&nbsp;", " "}, {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}};
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '<') {
            size_t e = i;
            while (e < len && s[e] != '>')
                e++;
            if (!strncasecmp(s + i, "<br", 3) || !strncasecmp(s + i, "</p", 3) || !strncasecmp(s + i, "</div", 5) ||
                !strncasecmp(s + i, "</tr", 4))
                put(out, "\n", 1);
            if (!strncasecmp(s + i, "<style", 6) || !strncasecmp(s + i, "<script", 7)) {
                const char *close = s[i + 2] == 't' ? "</style" : "</script";
                while (e < len && strncasecmp(s + e, close, strlen(close)))
                    e++;
                while (e < len && s[e] != '>')
                    e++;
            }
            i = e;
        } else if (s[i] == '&') {
            size_t k = 0;
            while (k < sizeof ents / sizeof *ents && strncmp(s + i, ents[k].ent, strlen(ents[k].ent)))
                k++;
            if (k < sizeof ents / sizeof *ents) {
                puts_(out, ents[k].ch);
                i += strlen(ents[k].ent) - 1;
            } else {
                put(out, "&", 1);
            }
        } else if (s[i] != '\r') {
            put(out, s + i, 1);
        }
    }
}

static int walk(walk_t *w, const char *raw, size_t len, int depth);

/* The parts of a multipart body, each walked. */
static int walk_multipart(walk_t *w, const char *body, size_t blen, const char *boundary, int depth)
{
    char delim[260];
    int dl = snprintf(delim, sizeof delim, "--%s", boundary);
    const char *start = NULL;
    int parts = 0;
    for (size_t i = 0; i < blen;) {
        size_t eol = i;
        while (eol < blen && body[eol] != '\n')
            eol++;
        if (eol - i >= (size_t)dl && !memcmp(body + i, delim, (size_t)dl)) {
            int closing = eol - i >= (size_t)dl + 2 && body[i + dl] == '-' && body[i + dl + 1] == '-';
            if (start) {
                size_t plen = (size_t)(body + i - start);
                if (plen && start[plen - 1] == '\n')
                    plen--;
                if (plen && start[plen - 1] == '\r')
                    plen--;
                if (walk(w, start, plen, depth + 1))
                    return -1;
                parts++;
            }
            if (closing)
                return parts ? 0 : (snprintf(w->err, sizeof w->err, "broken MIME: a multipart without parts"), -1);
            start = eol < blen ? body + eol + 1 : body + blen; /* a delimiter on the last line: an empty part */
        }
        i = eol + 1;
    }
    if (!start) {
        snprintf(w->err, sizeof w->err, "broken MIME: the multipart boundary never appears");
        return -1;
    }
    /* no closing delimiter: the last part runs to the end (as mail clients read it) */
    if (walk(w, start, (size_t)(body + blen - start), depth + 1))
        return -1;
    return 0;
}

/* One part: a multipart is walked into; the first text/plain and text/html not sent as attachments are kept;
 * anything else is counted as an attachment. */
static int walk(walk_t *w, const char *raw, size_t len, int depth)
{
    const char *h, *body;
    size_t hlen, blen;
    char ct[512], type[96], cte[64], disp[256], charset[48] = "";
    if (depth > MIME_MAX_DEPTH) {
        snprintf(w->err, sizeof w->err, "broken MIME: multiparts nested too deep");
        return -1;
    }
    split(raw, len, &h, &hlen, &body, &blen);
    header(h, hlen, "Content-Type", ct, sizeof ct);
    header(h, hlen, "Content-Transfer-Encoding", cte, sizeof cte);
    header(h, hlen, "Content-Disposition", disp, sizeof disp);
    media_type(ct, type, sizeof type);
    param(ct, "charset", charset, sizeof charset);
    if (!strncmp(type, "multipart/", 10)) {
        char boundary[200];
        if (!param(ct, "boundary", boundary, sizeof boundary) || !boundary[0]) {
            snprintf(w->err, sizeof w->err, "broken MIME: a multipart without its boundary");
            return -1;
        }
        return walk_multipart(w, body, blen, boundary, depth);
    }
    int text = !strcmp(type, "text/plain") || !strcmp(type, "text/html");
    if (!text || !strncasecmp(disp, "attachment", 10) || (!strcmp(type, "text/plain") ? w->plain.n : w->html.n)) {
        w->attachments++;
        return 0;
    }
    char *dec = malloc(blen + 4);
    if (!dec)
        return -1;
    long dl;
    if (!strncasecmp(cte, "base64", 6))
        dl = b64_decode(body, blen, (unsigned char *)dec);
    else if (!strncasecmp(cte, "quoted-printable", 16))
        dl = (long)qp_decode(body, blen, dec, 0);
    else
        memcpy(dec, body, blen), dl = (long)blen;
    buf_t conv = {0};
    int rc = 0;
    if (dl < 0) {
        snprintf(w->err, sizeof w->err, "broken MIME: a text part that is not base64");
        rc = -1;
    } else if (to_utf8(&conv, charset, dec, (size_t)dl) != 0) {
        snprintf(w->err, sizeof w->err, "a text part not valid in its charset (%.40s)", charset[0] ? charset : "utf-8");
        rc = -1;
    } else if (!strcmp(type, "text/plain")) {
        for (size_t i = 0; i < conv.n; i++)
            if (conv.p[i] != '\r')
                put(&w->plain, conv.p + i, 1);
        put(&w->plain, "", 0); /* kept even when empty: the text part was there */
    } else {
        html_text(conv.p ? conv.p : "", conv.n, &w->html);
    }
    free(conv.p);
    free(dec);
    return rc;
}

/* ---------------------------------------------------------------- parsing */

/* "<id@host>" → "id@host" (the first id of the value). */
static void msg_id(const char *value, char *out, size_t size)
{
    const char *lt = strchr(value, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt)
        snprintf(out, size, "%.*s", (int)(gt - lt - 1), lt + 1);
    else
        snprintf(out, size, "%.*s", (int)strcspn(value, " \t"), value);
}

int mime_parse(const char *raw, size_t len, mime_msg_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *h, *body;
    size_t hlen, blen;
    char v[2048];
    split(raw, len, &h, &hlen, &body, &blen);
    if (!header(h, hlen, "From", v, sizeof v)) {
        snprintf(err, errlen, "no From");
        return KB_ERR_INVAL;
    }
    if (address(v, out) != 0) {
        snprintf(err, errlen, "the From is not an address kabinet takes");
        return KB_ERR_INVAL;
    }
    char part[1024];
    size_t at = 0;
    static const char *const rcpt[] = {"To", "Cc", "Delivered-To", "X-Original-To", NULL};
    for (int i = 0; rcpt[i]; i++) {
        if (!header(h, hlen, rcpt[i], part, sizeof part))
            continue;
        at += (size_t)snprintf(out->recipients + at, sizeof out->recipients - at, "%s%s", at ? ", " : "", part);
        if (at >= sizeof out->recipients)
            at = sizeof out->recipients - 1;
    }
    header(h, hlen, "Subject", v, sizeof v);
    mime_decode_words(v, out->subject, sizeof out->subject);
    if (header(h, hlen, "Message-ID", v, sizeof v))
        msg_id(v, out->message_id, sizeof out->message_id);
    if (!out->message_id[0]) { /* none: the message itself stands for it */
        unsigned char d[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)raw, len, d);
        at = (size_t)snprintf(out->message_id, sizeof out->message_id, "sha256:");
        for (int i = 0; i < 16; i++)
            at += (size_t)snprintf(out->message_id + at, sizeof out->message_id - at, "%02x", d[i]);
    }
    if (header(h, hlen, "In-Reply-To", v, sizeof v))
        msg_id(v, out->in_reply_to, sizeof out->in_reply_to);
    header(h, hlen, "References", out->references, sizeof out->references);
    /* the topmost only: the one the receiving server added last (those below may come from anyone) */
    header_upto(h, hlen, "Authentication-Results", out->auth_results, sizeof out->auth_results, 1);
    /* machines: RFC 3834, bulk mail, lists, vacation responders, bounces */
    if (header(h, hlen, "Auto-Submitted", v, sizeof v) && strncasecmp(v, "no", 2))
        out->automatic = 1;
    if (header(h, hlen, "Precedence", v, sizeof v) &&
        (!strncasecmp(v, "bulk", 4) || !strncasecmp(v, "junk", 4) || !strncasecmp(v, "list", 4)))
        out->automatic = 1;
    if (header(h, hlen, "List-Id", v, sizeof v) || header(h, hlen, "X-Autoreply", v, sizeof v) ||
        header(h, hlen, "X-Autorespond", v, sizeof v) || header(h, hlen, "X-Auto-Response-Suppress", v, sizeof v))
        out->automatic = 1;
    if (header(h, hlen, "Return-Path", v, sizeof v) && !strcmp(v, "<>"))
        out->automatic = 1;
    walk_t w = {0};
    if (walk(&w, raw, len, 0) != 0 || w.plain.oom || w.html.oom) {
        snprintf(err, errlen, "%s", w.err[0] ? w.err : "out of memory");
        free(w.plain.p);
        free(w.html.p);
        return KB_ERR_INVAL;
    }
    out->attachments = w.attachments;
    if (w.plain.p) {
        out->text = w.plain.p;
        free(w.html.p);
    } else {
        out->text = w.html.p ? w.html.p : strdup("");
    }
    if (!out->text) {
        snprintf(err, errlen, "out of memory");
        return KB_ERR_NOMEM;
    }
    return 0;
}

void mime_msg_free(mime_msg_t *m)
{
    free(m->text);
    m->text = NULL;
}

/* ---------------------------------------------------------------- replies */

/* Whether a line starts what the customer did not write: quoted history or a signature. */
static int history_starts(const char *line, size_t n)
{
    static const char *const starts[] = {"-----Original Message-----", "-----Исходное сообщение-----",
                                         "-------- Исходное сообщение --------", "-------- Original Message --------",
                                         "-------- Пересылаемое сообщение --------", "От: ", "From: ",
                                         "Sent from my ", "Отправлено с ", "Отправлено из ", NULL};
    static const char *const ends[] = {"wrote:", "пишет:", "написал:", "написала:", "написал(а):", NULL};
    if ((n == 2 && !memcmp(line, "--", 2)) || (n == 3 && !memcmp(line, "-- ", 3)) || (n && line[0] == '>'))
        return 1;
    for (int i = 0; starts[i]; i++)
        if (n >= strlen(starts[i]) && !memcmp(line, starts[i], strlen(starts[i])))
            return 1;
    size_t t = n;
    while (t && isspace((unsigned char)line[t - 1]))
        t--;
    for (int i = 0; ends[i]; i++)
        if (t >= strlen(ends[i]) && !memcmp(line + t - strlen(ends[i]), ends[i], strlen(ends[i])))
            return 1;
    return 0;
}

void mime_strip_reply(char *text)
{
    char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\n");
        if (history_starts(p, n)) {
            *p = 0;
            break;
        }
        p += n + (p[n] == '\n');
    }
    /* blank lines and spaces around what is left */
    size_t len = strlen(text);
    while (len && isspace((unsigned char)text[len - 1]))
        text[--len] = 0;
    size_t lead = strspn(text, " \t\r\n");
    memmove(text, text + lead, len - lead + 1);
}

/* ---------------------------------------------------------------- Authentication-Results (RFC 8601) */

/* Copies s into out with the (comments) dropped, nested ones too. */
static void drop_comments(const char *s, char *out, size_t size)
{
    size_t at = 0;
    int depth = 0;
    for (; *s && at + 1 < size; s++) {
        if (*s == '\\' && depth && s[1])
            s++;
        else if (*s == '(')
            depth++;
        else if (*s == ')' && depth)
            depth--;
        else if (!depth)
            out[at++] = *s;
    }
    out[at] = 0;
}

/* The value of property name ("header.d") in one resinfo ("dkim=pass header.d=x.ru header.s=k"), cut to size;
 * "" when absent. */
static void ar_prop(const char *res, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    out[0] = 0;
    for (const char *p = res; (p = strcasestr(p, name)); p += nl)
        if ((p == res || p[-1] == ' ' || p[-1] == '\t') && p[nl] == '=') {
            const char *v = p + nl + 1;
            if (*v == '"')
                v++;
            snprintf(out, size, "%.*s", (int)strcspn(v, " \t\";"), v);
            return;
        }
}

/* 1 when domain d is the From domain or a parent of it (relaxed alignment, RFC 7489 3.1). */
static int aligned(const char *d, const char *from_domain)
{
    size_t dl = strlen(d), fl = strlen(from_domain);
    if (!dl || !strchr(d, '.'))
        return 0;
    return !strcasecmp(d, from_domain) || (fl > dl && from_domain[fl - dl - 1] == '.' &&
                                            !strcasecmp(from_domain + fl - dl, d));
}

int mime_auth_pass(const char *auth_results, const char *authserv_id, const char *from)
{
    const char *fd = from ? strrchr(from, '@') : NULL;
    if (!auth_results || !authserv_id || !authserv_id[0] || !fd || !fd[1])
        return 0;
    fd++;
    char ar[1024];
    drop_comments(auth_results, ar, sizeof ar);
    /* authserv-id [version] ; resinfo ; resinfo … */
    char *p = ar + strspn(ar, " \t");
    size_t idl = strcspn(p, " \t;");
    if (idl != strlen(authserv_id) || strncasecmp(p, authserv_id, idl))
        return 0;
    char *semi = strchr(p, ';');
    int pass = 0;
    while (semi && !pass) {
        char *res = semi + 1, *next = strchr(res, ';');
        if (next)
            *next = 0;
        res += strspn(res, " \t");
        char v[256];
        if (!strncasecmp(res, "dmarc=pass", 10) && (!res[10] || res[10] == ' ' || res[10] == '\t')) {
            ar_prop(res, "header.from", v, sizeof v);
            pass = !v[0] || !strcasecmp(v, fd);
        } else if (!strncasecmp(res, "dkim=pass", 9) && (!res[9] || res[9] == ' ' || res[9] == '\t')) {
            ar_prop(res, "header.d", v, sizeof v);
            if (!v[0]) { /* header.i=@sub.example.ru or user@example.ru */
                ar_prop(res, "header.i", v, sizeof v);
                char *at = strrchr(v, '@');
                if (at)
                    memmove(v, at + 1, strlen(at));
            }
            pass = aligned(v, fd);
        }
        semi = next;
    }
    return pass;
}

/* ---------------------------------------------------------------- building */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of s[0..len), lines of 76 characters ended by CRLF when lines is set. */
static void b64_put(buf_t *b, const unsigned char *s, size_t len, int lines)
{
    char q[4];
    int col = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < len ? s[i + 2] : 0);
        q[0] = b64chars[v >> 18 & 63];
        q[1] = b64chars[v >> 12 & 63];
        q[2] = i + 1 < len ? b64chars[v >> 6 & 63] : '=';
        q[3] = i + 2 < len ? b64chars[v & 63] : '=';
        put(b, q, 4);
        if (lines && (col += 4) == 76 && i + 3 < len) {
            put(b, "\r\n", 2);
            col = 0;
        }
    }
    if (lines)
        put(b, "\r\n", 2);
}

char *mime_encode_words(const char *s)
{
    buf_t b = {0};
    int ascii = 1;
    for (const char *p = s; *p && ascii; p++)
        ascii = (unsigned char)*p >= 32 && (unsigned char)*p < 127;
    if (ascii) {
        puts_(&b, s);
        return b.oom ? NULL : b.p ? b.p : strdup("");
    }
    /* words of at most 45 bytes (60 in base64: a word stays under 75 characters), never splitting a character */
    size_t len = strlen(s), at = 0;
    while (at < len) {
        size_t take = len - at > 45 ? 45 : len - at;
        while (take && at + take < len && ((unsigned char)s[at + take] & 0xC0) == 0x80)
            take--;
        if (at)
            puts_(&b, "\r\n ");
        puts_(&b, "=?UTF-8?B?");
        b64_put(&b, (const unsigned char *)s + at, take, 0);
        puts_(&b, "?=");
        at += take;
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* A header "Name: value" with value encoded as needed. */
static void put_header(buf_t *b, const char *name, const char *value)
{
    char *enc = mime_encode_words(value);
    puts_(b, name);
    puts_(b, ": ");
    puts_(b, enc ? enc : "");
    puts_(b, "\r\n");
    free(enc);
}

/* "Name <address>": the name encoded, the address as it is. */
static void put_address(buf_t *b, const char *name, const char *value)
{
    const char *lt = strrchr(value, '<');
    if (!lt || lt == value) {
        puts_(b, name);
        puts_(b, ": ");
        puts_(b, lt ? lt : value);
        puts_(b, "\r\n");
        return;
    }
    char display[256];
    size_t n = (size_t)(lt - value);
    while (n && value[n - 1] == ' ')
        n--;
    snprintf(display, sizeof display, "%.*s", (int)n, value);
    char *enc = mime_encode_words(display);
    puts_(b, name);
    puts_(b, ": ");
    if (enc && !strncmp(enc, "=?", 2)) {
        puts_(b, enc);
    } else { /* plain ASCII: quoted, as RFC 5322 wants specials to be */
        puts_(b, "\"");
        puts_(b, enc ? enc : "");
        puts_(b, "\"");
    }
    puts_(b, " ");
    puts_(b, lt);
    puts_(b, "\r\n");
    free(enc);
}

char *mime_build(const mime_out_t *m, size_t *len)
{
    buf_t b = {0};
    char line[512], date[64], boundary[64];
    struct tm tm;
    gmtime_r(&m->date, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)m->message_id, strlen(m->message_id), d);
    snprintf(boundary, sizeof boundary, "=_kb_%02x%02x%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2], d[3], d[4], d[5],
             d[6], d[7]);
    put_address(&b, "From", m->from);
    put_address(&b, "To", m->to);
    put_header(&b, "Subject", m->subject);
    snprintf(line, sizeof line, "Date: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n", date, m->message_id);
    puts_(&b, line);
    if (m->in_reply_to && m->in_reply_to[0]) {
        snprintf(line, sizeof line, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", m->in_reply_to, m->in_reply_to);
        puts_(&b, line);
    }
    if (m->reply_to)
        put_address(&b, "Reply-To", m->reply_to);
    if (m->auto_submitted) {
        snprintf(line, sizeof line, "Auto-Submitted: %s\r\n", m->auto_submitted);
        puts_(&b, line);
    }
    if (m->list_unsubscribe) {
        puts_(&b, "List-Unsubscribe: ");
        puts_(&b, m->list_unsubscribe);
        puts_(&b, "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
    }
    snprintf(line, sizeof line, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", boundary);
    puts_(&b, line);
    puts_(&b, "This is a MIME message.\r\n");
    snprintf(line, sizeof line, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                "Content-Transfer-Encoding: base64\r\n\r\n", boundary);
    puts_(&b, line);
    /* the text with CRLF line ends */
    buf_t crlf = {0};
    for (const char *p = m->text; *p; p++)
        put(&crlf, *p == '\n' ? "\r\n" : p, *p == '\n' ? 2 : 1);
    b64_put(&b, (const unsigned char *)(crlf.p ? crlf.p : ""), crlf.n, 1);
    free(crlf.p);
    for (int i = 0; i < m->nattachments; i++) {
        const mime_attachment_t *a = &m->attachments[i];
        char *name = mime_encode_words(a->name);
        snprintf(line, sizeof line, "--%s\r\nContent-Type: %s; name=\"", boundary, a->type);
        puts_(&b, line);
        puts_(&b, name ? name : "file");
        puts_(&b, "\"\r\nContent-Disposition: attachment; filename=\"");
        puts_(&b, name ? name : "file");
        puts_(&b, "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
        free(name);
        b64_put(&b, a->bytes, a->len, 1);
    }
    snprintf(line, sizeof line, "--%s--\r\n", boundary);
    puts_(&b, line);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.n;
    return b.p;
}
