/* phone.h — contacts as people type them: Russian phone numbers ("+7 (916) 123-45-67", "8 916 123 45 67",
 * "79161234567", "9161234567" all become "+79161234567") and email addresses (" Ivan@Example.RU " becomes
 * "ivan@example.ru"). Pure functions. */
#ifndef KB_PHONE_H
#define KB_PHONE_H

#include <stddef.h>

/* Normalizes a typed number to "+7" and ten digits (out: 13 bytes). Spaces, brackets, dashes and dots are dropped; the
 * number is 11 digits starting with 7 or 8, or 10 digits starting with 9 (a mobile number without the prefix).
 * Anything else is KB_ERR_INVAL. */
int phone_normalize(const char *typed, char *out, size_t size);

#define EMAIL_MAX 94   /* longest address kabinet takes: its conversation key "mail:<address>" stays short */

/* Normalizes a typed email address (out: EMAIL_MAX + 1 bytes): surrounding spaces dropped, lowercased; it must be
 * local@domain.tld of letters, digits and ._%+- (the domain: letters, digits, dots and dashes, a top level of at
 * least two letters), at most EMAIL_MAX bytes. Anything else is KB_ERR_INVAL. */
int email_normalize(const char *typed, char *out, size_t size);

#endif
