/* secret.h — comparing what proves a caller (a webhook's signature, a checksum, a token) without telling an attacker,
 * through the time a comparison takes, how much of a guess was right. */
#ifndef KB_SECRET_H
#define KB_SECRET_H

/* 1 when a and b are equal strings; the time depends on their lengths only. NULLs are never equal. */
int secret_equal(const char *a, const char *b);
/* secret_equal for hex digests, whose letters may come in either case ("A1f" equals "a1F"). */
int secret_hex_equal(const char *a, const char *b);

#endif
