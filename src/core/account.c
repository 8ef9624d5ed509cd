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

int acct_els_fold(const char *els, char *out, size_t size)
{
    static const char latin[] = "abekmhopctyx";
    static const unsigned cyrillic[] = {0x430, 0x432, 0x435, 0x43A, 0x43C, 0x43D, 0x43E, 0x440, 0x441, 0x442, 0x443, 0x445};
    char folded[256];
    if (acct_surname_fold(els, folded, sizeof folded) != 0)
        return KB_ERR_INVAL;
    size_t n = 0;
    for (const char *p = folded; *p; p++) {
        const char *hit = *p >= 'a' && *p <= 'z' ? strchr(latin, *p) : NULL;
        if (n + 3 >= size)
            return KB_ERR_INVAL;
        if (hit) {
            unsigned cp = cyrillic[hit - latin];
            out[n++] = (char)(0xC0 | (cp >> 6));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[n++] = *p;
        }
    }
    out[n] = 0;
    return 0;
}

int acct_surname_fold(const char *name, char *out, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p;) {
        unsigned cp;
        size_t len;
        if (*p < 0x80) {
            cp = *p, len = 1;
        } else if ((*p & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) {
            cp = ((unsigned)(*p & 0x1F) << 6) | (p[1] & 0x3F), len = 2;
        } else {
            return KB_ERR_INVAL; /* surnames are Cyrillic or Latin: two bytes at most */
        }
        p += len;
        if (cp == ' ' || cp == '-' || cp == '\t')
            continue;
        if (cp >= 'A' && cp <= 'Z')
            cp += 32;
        else if (cp >= 0x410 && cp <= 0x42F) /* А-Я */
            cp += 0x20;
        else if (cp == 0x401 || cp == 0x451) /* Ё ё */
            cp = 0x435;
        if (n + 3 >= size)
            return KB_ERR_INVAL;
        if (cp < 0x80) {
            out[n++] = (char)cp;
        } else {
            out[n++] = (char)(0xC0 | (cp >> 6));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    out[n] = 0;
    return n ? 0 : KB_ERR_INVAL;
}
