/* text.c — the text catalogs (see text.h): parsed once from the compiled-in files into sorted tables, looked up by
 * binary search, rendered with parameters, money and plural forms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "err.h"
#include "text.h"

#define TXT_MAX_LANGS 8

typedef struct {
    char *key, *val;
} txt_entry_t;

typedef struct {
    const char *lang;
    txt_entry_t *e;
    size_t n;
} txt_catalog_t;

static txt_catalog_t cats[TXT_MAX_LANGS];
static int ncats = -1;

/* ---------------------------------------------------------------- loading */

static int by_key(const void *a, const void *b)
{
    return strcmp(((const txt_entry_t *)a)->key, ((const txt_entry_t *)b)->key);
}

/* A copy of s[0..n) with surrounding spaces dropped and \n, \\ unescaped. */
static char *unescape(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && (s[i + 1] == 'n' || s[i + 1] == '\\')) {
            *o++ = s[i + 1] == 'n' ? '\n' : '\\';
            i++;
        } else {
            *o++ = s[i];
        }
    }
    *o = 0;
    return out;
}

static void parse(txt_catalog_t *c, const char *text)
{
    size_t cap = 0;
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        const char *eq = memchr(line, '=', len);
        if (line[0] != '#' && eq) {
            if (c->n == cap) {
                cap = cap ? cap * 2 : 64;
                txt_entry_t *e = realloc(c->e, cap * sizeof *e);
                if (!e)
                    return;
                c->e = e;
            }
            c->e[c->n].key = unescape(line, (size_t)(eq - line));
            c->e[c->n].val = unescape(eq + 1, len - (size_t)(eq - line) - 1);
            if (c->e[c->n].key && c->e[c->n].val)
                c->n++;
        }
        line += len + (line[len] == '\n');
    }
    qsort(c->e, c->n, sizeof *c->e, by_key);
}

static void load(void)
{
    if (ncats >= 0)
        return;
    ncats = 0;
    for (int i = 0; txt_builtin[i].lang && ncats < TXT_MAX_LANGS; i++) {
        cats[ncats].lang = txt_builtin[i].lang;
        parse(&cats[ncats++], txt_builtin[i].text);
    }
}

static const txt_catalog_t *catalog(const char *lang)
{
    load();
    for (int i = 0; i < ncats; i++)
        if (lang && !strcmp(cats[i].lang, lang))
            return &cats[i];
    return NULL;
}

static const char *lookup(const txt_catalog_t *c, const char *key)
{
    if (!c)
        return NULL;
    txt_entry_t k = {(char *)key, NULL};
    const txt_entry_t *e = bsearch(&k, c->e, c->n, sizeof *c->e, by_key);
    return e ? e->val : NULL;
}

const char *txt_get(const char *lang, const char *key)
{
    const char *v = lookup(catalog(lang), key);
    return v ? v : lookup(catalog("ru"), key);
}

/* ---------------------------------------------------------------- rendering */

typedef struct {
    char *buf;
    size_t size, len;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->len + 1 >= o->size)
        return;
    if (n > o->size - 1 - o->len) { /* cut, but never inside a UTF-8 sequence */
        n = o->size - 1 - o->len;
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = 0;
}

void txt_button(const char *lang, const char *id, const cJSON *payload, char *buf, size_t size)
{
    const cJSON *own = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(payload, "button_labels"), id);
    if (cJSON_IsString(own) && own->valuestring[0]) {
        out_t o = {buf, size, 0};
        if (size)
            buf[0] = 0;
        put(&o, own->valuestring, strlen(own->valuestring));
        return;
    }
    char key[96];
    snprintf(key, sizeof key, "btn.%s", id);
    txt_render(lang, key, NULL, buf, size);
}

/* ---------------------------------------------------------------- numbers, dates, months
 *
 * One way to write a number for a customer, in every channel: Russian digits are grouped by threes with a
 * non-breaking space and the fraction follows a comma (29 700,5; 1 234,56 ₽); English groups with commas and
 * uses a point. Nothing is padded: a reading stored as 29700.000 reads 29 700. */

#define NBSP "\xC2\xA0"

/* Writes the digits of an integer part s[0..n) grouped by threes for lang into o (at most size bytes, terminated). */
static void group_digits(const char *lang, const char *s, size_t n, char *o, size_t size)
{
    int en = lang && !strcmp(lang, "en");
    size_t g = 0;
    for (size_t i = 0; i < n && g + 3 < size; i++) {
        if (i && (n - i) % 3 == 0) {
            const char *sep = en ? "," : NBSP;
            size_t sl = strlen(sep);
            if (g + sl + 2 >= size)
                break;
            memcpy(o + g, sep, sl);
            g += sl;
        }
        o[g++] = s[i];
    }
    o[g] = 0;
}

void txt_rubles(const char *lang, long long kopecks, char *buf, size_t size)
{
    int en = lang && !strcmp(lang, "en");
    unsigned long long a = kopecks < 0 ? 0ULL - (unsigned long long)kopecks : (unsigned long long)kopecks;
    char digits[32], grouped[64];
    int n = snprintf(digits, sizeof digits, "%llu", a / 100);
    group_digits(lang, digits, (size_t)n, grouped, sizeof grouped);
    snprintf(buf, size, "%s%s%c%02llu" NBSP "₽", kopecks < 0 ? "-" : "", grouped, en ? '.' : ',', a % 100);
}

int txt_number(const char *lang, const char *s, char *buf, size_t size)
{
    const char *p = s;
    int neg = *p == '-';
    p += neg || *p == '+';
    size_t ni = strspn(p, "0123456789"), nf = 0;
    const char *frac = NULL;
    if (p[ni] == '.' || p[ni] == ',') {
        frac = p + ni + 1;
        nf = strspn(frac, "0123456789");
        if (!nf || frac[nf])
            frac = NULL, nf = (size_t)-1;
    }
    if (!ni || nf == (size_t)-1 || (!frac && p[ni])) { /* not a decimal: as it is */
        snprintf(buf, size, "%s", s);
        return 1;
    }
    while (ni > 1 && *p == '0') /* no leading zeros */
        p++, ni--;
    while (nf && frac[nf - 1] == '0') /* nor trailing ones */
        nf--;
    char grouped[96];
    group_digits(lang, p, ni < 40 ? ni : 40, grouped, sizeof grouped);
    int zero = ni == 1 && *p == '0' && !nf;
    snprintf(buf, size, "%s%s%s%.*s", neg && !zero ? "-" : "", grouped,
             nf ? (lang && !strcmp(lang, "en") ? "." : ",") : "", (int)(nf < 20 ? nf : 20), nf ? frac : "");
    return 0;
}

static const char *const months_ru[] = {"январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август",
                                        "сентябрь", "октябрь", "ноябрь", "декабрь"};
static const char *const months_ru_cap[] = {"Январь", "Февраль", "Март", "Апрель", "Май", "Июнь", "Июль", "Август",
                                            "Сентябрь", "Октябрь", "Ноябрь", "Декабрь"};
static const char *const months_en[] = {"January", "February", "March", "April", "May", "June", "July", "August",
                                        "September", "October", "November", "December"};

/* Reads "YYYY-MM[-DD[ HH:MM…]]" or "[DD.]MM.YYYY[ HH:MM]" into y, m, d (0 when absent) and the time's text (at most
 * "HH:MM"); 0 when it is one of them, -1 otherwise. */
static int parse_date(const char *s, int *y, int *m, int *d, char hm[6])
{
    int n = 0;
    *d = 0;
    hm[0] = 0;
    const char *rest;
    if (sscanf(s, "%4d-%2d-%2d%n", y, m, d, &n) == 3 && n == 10)
        rest = s + 10;
    else if (*d = 0, sscanf(s, "%4d-%2d%n", y, m, &n) == 2 && n == 7)
        rest = s + 7;
    else if (sscanf(s, "%2d.%2d.%4d%n", d, m, y, &n) == 3 && n == 10)
        rest = s + 10;
    else if (*d = 0, sscanf(s, "%2d.%4d%n", m, y, &n) == 2 && n == 7)
        rest = s + 7;
    else
        return -1;
    if (*m < 1 || *m > 12 || *d < 0 || *d > 31 || *y < 1900 || *y > 9999)
        return -1;
    if ((*rest == ' ' || *rest == 'T') && strspn(rest + 1, "0123456789") == 2 && rest[3] == ':' &&
        strspn(rest + 4, "0123456789") == 2) {
        memcpy(hm, rest + 1, 5);
        hm[5] = 0;
    } else if (*rest) {
        return -1;
    }
    return 0;
}

int txt_date(const char *lang, const char *s, char *buf, size_t size)
{
    int y, m, d;
    char hm[6];
    if (parse_date(s, &y, &m, &d, hm) || !d) {
        snprintf(buf, size, "%s", s);
        return 1;
    }
    if (lang && !strcmp(lang, "en"))
        snprintf(buf, size, "%d %.3s %d%s%s", d, months_en[m - 1], y, hm[0] ? " " : "", hm);
    else
        snprintf(buf, size, "%02d.%02d.%d%s%s", d, m, y, hm[0] ? " " : "", hm);
    return 0;
}

static const char *const months_ru_short[] = {"янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт",
                                              "ноя", "дек"};

int txt_month(const char *lang, const char *s, int style, char *buf, size_t size)
{
    int y, m, d;
    char hm[6];
    if (parse_date(s, &y, &m, &d, hm)) {
        snprintf(buf, size, "%s", s);
        return 1;
    }
    int en = lang && !strcmp(lang, "en");
    if (style == 2 && en)
        snprintf(buf, size, "%.3s %d", months_en[m - 1], y);
    else
        snprintf(buf, size, "%s %d", style == 2 ? months_ru_short[m - 1] : en ? months_en[m - 1]
                                     : style == 1                          ? months_ru_cap[m - 1]
                                                                            : months_ru[m - 1], y);
    return 0;
}

/* The plural form index for n: ru one/few/many, others one/other. */
static int plural_form(const char *lang, long long n)
{
    if (n < 0)
        n = -n;
    if (lang && strcmp(lang, "ru"))
        return n == 1 ? 0 : 1;
    if (n % 10 == 1 && n % 100 != 11)
        return 0;
    if (n % 10 >= 2 && n % 10 <= 4 && (n % 100 < 12 || n % 100 > 14))
        return 1;
    return 2;
}

/* Renders one {…} field of a text (spec without braces); returns 1 when the parameter was missing or unusable. */
static int field(out_t *o, const char *lang, const char *spec, size_t n, const cJSON *params)
{
    char name[64];
    size_t nl = strcspn(spec, ":");
    if (nl > n)
        nl = n;
    snprintf(name, sizeof name, "%.*s", (int)nl, spec);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
    const char *fmt = nl < n ? spec + nl + 1 : "";
    size_t fl = nl < n ? n - nl - 1 : 0;
    char tmp[64];
    if (fl == 3 && !strncmp(fmt, "rub", 3)) {
        if (!cJSON_IsNumber(v))
            return 1;
        txt_rubles(lang, (long long)v->valuedouble, tmp, sizeof tmp);
        put(o, tmp, strlen(tmp));
        return 0;
    }
    if ((fl == 3 && !strncmp(fmt, "num", 3)) || (fl == 4 && !strncmp(fmt, "date", 4)) ||
        (fl == 5 && !strncasecmp(fmt, "month", 5))) {
        char text[64];
        if (cJSON_IsNumber(v))
            snprintf(text, sizeof text, "%.6f", v->valuedouble);
        else if (cJSON_IsString(v))
            snprintf(text, sizeof text, "%s", v->valuestring);
        else
            return 1;
        if (*fmt == 'n')
            txt_number(lang, text, tmp, sizeof tmp);
        else if (*fmt == 'd')
            txt_date(lang, text, tmp, sizeof tmp);
        else
            txt_month(lang, text, *fmt == 'M', tmp, sizeof tmp);
        put(o, tmp, strlen(tmp));
        return 0;
    }
    if (fl > 4 && !strncmp(fmt, "key:", 4)) { /* a code shown by its name: the catalog's text PREFIX<code> */
        char key[96];
        if (!cJSON_IsString(v))
            return 1;
        snprintf(key, sizeof key, "%.*s%s", (int)(fl - 4), fmt + 4, v->valuestring);
        const char *named = txt_get(lang, key);
        put(o, named ? named : v->valuestring, strlen(named ? named : v->valuestring));
        return 0;
    }
    if (fl > 7 && !strncmp(fmt, "plural:", 7)) {
        if (!cJSON_IsNumber(v))
            return 1;
        double num = v->valuedouble;
        int want = plural_form(lang, (long long)num), i = 0;
        const char *f = fmt + 7, *end = fmt + fl;
        while (i < want) { /* the wanted form, or the last one given */
            const char *bar = memchr(f, '|', (size_t)(end - f));
            if (!bar)
                break;
            f = bar + 1;
            i++;
        }
        const char *bar = memchr(f, '|', (size_t)(end - f)), *fe = bar ? bar : end;
        for (const char *h; (h = memchr(f, '#', (size_t)(fe - f)));) { /* '#': the number itself, written as above */
            char num_text[32];
            put(o, f, (size_t)(h - f));
            snprintf(num_text, sizeof num_text, "%lld", (long long)num);
            txt_number(lang, num_text, tmp, sizeof tmp);
            put(o, tmp, strlen(tmp));
            f = h + 1;
        }
        put(o, f, (size_t)(fe - f));
        return 0;
    }
    if (fl > 6 && !strncmp(fmt, "lines:", 6)) { /* each element rendered with template fmt+6, one per line */
        char key[96], *line = malloc(2048);
        const cJSON *item;
        int i = 0, missing = 0;
        if (!cJSON_IsArray(v) || !line) {
            free(line);
            return 1;
        }
        snprintf(key, sizeof key, "%.*s", (int)(fl - 6), fmt + 6);
        cJSON_ArrayForEach(item, v)
        {
            const cJSON *own = cJSON_GetObjectItemCaseSensitive(item, "line"); /* an element may name its own */
            int rc = txt_render(lang, cJSON_IsString(own) ? own->valuestring : key, item, line, 2048);
            missing |= rc != 0;
            if (i++)
                put(o, "\n", 1);
            put(o, line, strlen(line));
        }
        free(line);
        return missing;
    }
    if (cJSON_IsString(v)) {
        put(o, v->valuestring, strlen(v->valuestring));
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble == (double)(long long)v->valuedouble)
            snprintf(tmp, sizeof tmp, "%lld", (long long)v->valuedouble);
        else
            snprintf(tmp, sizeof tmp, "%g", v->valuedouble);
        put(o, tmp, strlen(tmp));
        return 0;
    }
    return 1;
}

int txt_render(const char *lang, const char *key, const cJSON *params, char *buf, size_t size)
{
    out_t o = {buf, size, 0};
    if (!size)
        return KB_ERR_INVAL;
    buf[0] = 0;
    const char *t = txt_get(lang, key);
    if (!t) {
        put(&o, key, strlen(key));
        return KB_ERR_INVAL;
    }
    int missing = 0;
    for (const char *p = t; *p;) {
        const char *open = strchr(p, '{'), *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            put(&o, p, strlen(p));
            break;
        }
        put(&o, p, (size_t)(open - p));
        missing |= field(&o, lang, open + 1, (size_t)(close - open - 1), params);
        p = close + 1;
    }
    return missing;
}

/* ---------------------------------------------------------------- checking */

static int by_name(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

/* The parameter names of a text, sorted and joined ("n,text"). */
static void param_names(const char *t, char *buf, size_t size)
{
    char names[16][64];
    int n = 0;
    for (const char *p = strchr(t, '{'); p && n < 16; p = strchr(p + 1, '{')) {
        size_t len = strcspn(p + 1, ":}");
        int dup = 0;
        snprintf(names[n], sizeof names[0], "%.*s", (int)len, p + 1);
        for (int i = 0; i < n; i++)
            dup |= !strcmp(names[i], names[n]);
        n += !dup;
    }
    qsort(names, (size_t)n, sizeof names[0], by_name);
    buf[0] = 0;
    for (int i = 0; i < n; i++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? "," : "", names[i]);
}

int txt_check(char *err, size_t errlen)
{
    load();
    for (int a = 0; a < ncats; a++)
        for (int b = 0; b < ncats; b++)
            for (size_t i = 0; i < cats[a].n; i++) {
                const char *other = lookup(&cats[b], cats[a].e[i].key);
                char pa[256], pb[256];
                if (!other) {
                    snprintf(err, errlen, "%s has %s, %s does not", cats[a].lang, cats[a].e[i].key, cats[b].lang);
                    return KB_ERR_INVAL;
                }
                param_names(cats[a].e[i].val, pa, sizeof pa);
                param_names(other, pb, sizeof pb);
                if (strcmp(pa, pb)) {
                    snprintf(err, errlen, "%s: %s has parameters {%s}, %s has {%s}", cats[a].e[i].key, cats[a].lang,
                             pa, cats[b].lang, pb);
                    return KB_ERR_INVAL;
                }
            }
    return 0;
}

/* ---------------------------------------------------------------- HTML */

char *txt_html_escape(const char *s, size_t len)
{
    char *out = malloc(len * 6 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        const char *e = s[i] == '&' ? "&amp;" : s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;" : s[i] == '"' ? "&quot;" : NULL;
        if (e) {
            memcpy(o, e, strlen(e));
            o += strlen(e);
        } else
            *o++ = s[i];
    }
    *o = 0;
    return out;
}
