/* phone.c — typed phone numbers to "+7" and ten digits, typed email addresses to their stored form (see phone.h). */
#include <stdio.h>
#include <ctype.h>
#include <string.h>
#include "err.h"
#include "phone.h"

int phone_normalize(const char *typed, char *out, size_t size)
{
    char d[16];
    size_t n = 0;
    if (!typed || size < 13)
        return KB_ERR_INVAL;
    for (const char *p = typed; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            if (n == sizeof d - 1)
                return KB_ERR_INVAL;
            d[n++] = *p;
        } else if (!strchr(" ()-.\t", *p) && !(*p == '+' && n == 0)) {
            return KB_ERR_INVAL;
        }
    }
    d[n] = 0;
    if (n == 11 && (d[0] == '7' || d[0] == '8'))
        snprintf(out, size, "+7%s", d + 1);
    else if (n == 10 && d[0] == '9')
        snprintf(out, size, "+7%s", d);
    else
        return KB_ERR_INVAL;
    return 0;
}

int email_normalize(const char *typed, char *out, size_t size)
{
    if (!typed || size < EMAIL_MAX + 1)
        return KB_ERR_INVAL;
    while (*typed == ' ' || *typed == '\t')
        typed++;
    size_t n = strlen(typed);
    while (n && (typed[n - 1] == ' ' || typed[n - 1] == '\t'))
        n--;
    if (n == 0 || n > EMAIL_MAX)
        return KB_ERR_INVAL;
    const char *at = memchr(typed, '@', n);
    if (!at || at == typed || memchr(at + 1, '@', n - (size_t)(at - typed) - 1))
        return KB_ERR_INVAL;
    size_t local = (size_t)(at - typed), dot = 0, tld = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)tolower((unsigned char)typed[i]);
        if (i < local ? !(isalnum(ch) || strchr("._%+-", ch)) : i > local && !(isalnum(ch) || ch == '.' || ch == '-'))
            return KB_ERR_INVAL;
        if (i > local && ch == '.')
            dot = i, tld = 0;
        else if (i > local)
            tld += isalpha(ch) ? 1 : 100;
        out[i] = (char)ch;
    }
    out[n] = 0;
    /* a dot in the domain, not first, and a top level of two letters or more */
    if (!dot || dot == local + 1 || tld < 2 || tld >= 100 || out[n - 1] == '.')
        return KB_ERR_INVAL;
    return 0;
}
