/* form.c — application/x-www-form-urlencoded bodies and query strings (see form.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "err.h"
#include "form.h"

int form_add(char *buf, size_t size, const char *name, const char *value)
{
    char *ev = curl_easy_escape(NULL, value ? value : "", 0);
    if (!ev)
        return KB_ERR_NOMEM;
    size_t used = strlen(buf);
    int n = snprintf(buf + used, size - used, "%s%s=%s", used ? "&" : "", name, ev);
    curl_free(ev);
    if (n < 0 || (size_t)n >= size - used) {
        buf[used] = 0;
        return KB_ERR_INVAL;
    }
    return 0;
}

/* Decodes %XX and '+' of a form value in place. */
static void form_unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '+') {
            *w++ = ' ';
        } else if (*r == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            char hex[3] = {r[1], r[2], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
}

int form_parse(const char *query, char *buf, size_t size, char **names, char **values, int max)
{
    if (strlen(query) >= size)
        return KB_ERR_INVAL;
    strcpy(buf, query);
    int n = 0;
    for (char *save = NULL, *pair = strtok_r(buf, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
        if (n == max)
            return KB_ERR_INVAL;
        char *eq = strchr(pair, '=');
        if (!eq)
            return KB_ERR_INVAL;
        *eq = 0;
        form_unescape(pair);
        form_unescape(eq + 1);
        names[n] = pair;
        values[n] = eq + 1;
        n++;
    }
    return n;
}

int form_base_url(char *dst, size_t size, const char *url)
{
    int n = snprintf(dst, size, "%s", url);
    if (n < 0 || (size_t)n >= size)
        return KB_ERR_INVAL;
    while (n > 0 && dst[n - 1] == '/')
        dst[--n] = 0;
    return 0;
}
