/* phone.h — Russian phone numbers as people type them: "+7 (916) 123-45-67", "8 916 123 45 67", "79161234567",
 * "9161234567" all become "+79161234567". Pure functions. */
#ifndef KB_PHONE_H
#define KB_PHONE_H

#include <stddef.h>

/* Normalizes a typed number to "+7" and ten digits (out: 13 bytes). Spaces, brackets, dashes and dots are dropped; the
 * number is 11 digits starting with 7 or 8, or 10 digits starting with 9 (a mobile number without the prefix).
 * Anything else is KB_ERR_INVAL. */
int phone_normalize(const char *typed, char *out, size_t size);

#endif
