/* form.h — application/x-www-form-urlencoded: building a body or query (values percent-encoded by libcurl) and
 * reading one (percent and '+' decoded), as payment and SMS gateways speak it; and the base URLs requests go to. */
#ifndef KB_FORM_H
#define KB_FORM_H

#include <stddef.h>

/* Appends name=value (value URL-encoded, '&' between pairs) to the NUL-terminated form in buf. 0, or KB_ERR_INVAL
 * when it does not fit (buf unchanged), KB_ERR_NOMEM. */
int form_add(char *buf, size_t size, const char *name, const char *value);
/* Splits a form or query string into buf (a copy, decoded) with names and values pointing into it. Returns how many
 * pairs, or KB_ERR_INVAL (malformed, more than max, longer than buf). */
int form_parse(const char *query, char *buf, size_t size, char **names, char **values, int max);

/* Copies a base URL into dst without its trailing slashes ("https://x.ru/" → "https://x.ru"), so that paths can be
 * appended. Returns 0, or KB_ERR_INVAL when it does not fit (dst then holds a cut copy). */
int form_base_url(char *dst, size_t size, const char *url);

#endif
