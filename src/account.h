/* account.h — personal account numbers as customers type them. Printed bills show part of the number in brackets
 * ("(180)211111"); customers type it with or without brackets, spaces and dashes. Pure functions. */
#ifndef KB_ACCOUNT_H
#define KB_ACCOUNT_H

#include <stddef.h>

/* Keeps the digits of a typed account number, dropping brackets, spaces and dashes. Anything else (letters, other
 * signs), or fewer than 6 or more than 20 digits, is KB_ERR_INVAL. out must hold 21 bytes. */
int acct_normalize(const char *typed, char *out, size_t size);

#endif
