/* account.h — personal account numbers as customers type them. Printed bills show part of the number in brackets
 * ("(180)211111"); customers type it with or without brackets, spaces and dashes. Pure functions. */
#ifndef KB_ACCOUNT_H
#define KB_ACCOUNT_H

#include <stddef.h>

/* Keeps the digits of a typed account number, dropping brackets, spaces and dashes. Anything else (letters, other
 * signs), or fewer than 6 or more than 20 digits, is KB_ERR_INVAL. out must hold 21 bytes. */
int acct_normalize(const char *typed, char *out, size_t size);

/* Folds a surname for comparison: Russian and Latin letters to lower case, ё to е, spaces and hyphens dropped
 * ("Алёшина-Петрова" and "алешина петрова" fold alike). Returns 0 or KB_ERR_INVAL (too long, or not UTF-8). */
int acct_surname_fold(const char *name, char *out, size_t size);

/* Folds an ЕЛС ("77МН000995") for comparison as people type it: as a surname (case, spaces, hyphens), and each Latin
 * look-alike of a Russian letter (A B E K M H O P C T Y X) as that letter, so "77mh000995" folds as "77мн000995".
 * Returns 0 or KB_ERR_INVAL. */
int acct_els_fold(const char *els, char *out, size_t size);

#endif
