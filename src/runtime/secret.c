/* secret.c — constant-time comparisons of secrets (see secret.h), over OpenSSL's CRYPTO_memcmp. */
#include <string.h>
#include <openssl/crypto.h>
#include "secret.h"

int secret_equal(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    size_t n = strlen(a);
    return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

/* Both folded to lower case first, a byte at a time whatever the byte (no branch on the secret's content). */
int secret_hex_equal(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    size_t n = strlen(a);
    if (n != strlen(b) || n > 256)
        return 0;
    unsigned char x[256], y[256];
    for (size_t i = 0; i < n; i++) {
        x[i] = (unsigned char)a[i] | (unsigned char)(((unsigned char)a[i] >= 'A' && (unsigned char)a[i] <= 'Z') << 5);
        y[i] = (unsigned char)b[i] | (unsigned char)(((unsigned char)b[i] >= 'A' && (unsigned char)b[i] <= 'Z') << 5);
    }
    return CRYPTO_memcmp(x, y, n) == 0;
}
