/* account.c — normalizing typed account numbers (see account.h). */
#include <string.h>
#include "account.h"
#include "err.h"

int acct_normalize(const char *typed, char *out, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)typed; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            if (n + 1 >= size || n >= 20)
                return KB_ERR_INVAL;
            out[n++] = (char)*p;
        } else if (p[0] == 0xC2 && p[1] == 0xA0) { /* no-break space */
            p++;
        } else if (!strchr(" ()-\t", *p)) {
            return KB_ERR_INVAL;
        }
    }
    if (n < 6)
        return KB_ERR_INVAL;
    out[n] = 0;
    return 0;
}
