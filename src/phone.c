/* phone.c — typed phone numbers to "+7" and ten digits (see phone.h). */
#include <stdio.h>
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
