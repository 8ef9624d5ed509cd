/* keys.c — building Redis key names and computing their cluster hash tags (see keys.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "err.h"
#include "keys.h"

static const char *const kind_names[KEY__COUNT] = {"state", "queue", "seen", "lease", "rate", "out"};

const char *keys_kind_name(keys_kind_t kind) { return kind < KEY__COUNT ? kind_names[kind] : NULL; }

/* "kb:{conv}:kind" */
int keys_conv(char *buf, size_t size, const char *conv, keys_kind_t kind)
{
    if (kind >= KEY__COUNT || !conv[0] || strpbrk(conv, "{}"))
        return KB_ERR_INVAL;
    int n = snprintf(buf, size, "kb:{%s}:%s", conv, kind_names[kind]);
    return n < 0 || (size_t)n >= size ? KB_ERR_INVAL : n;
}

/* "kb:{name}" */
int keys_global(char *buf, size_t size, const char *name)
{
    if (!name[0] || strpbrk(name, "{}"))
        return KB_ERR_INVAL;
    int n = snprintf(buf, size, "kb:{%s}", name);
    return n < 0 || (size_t)n >= size ? KB_ERR_INVAL : n;
}

/* "kb:{sched}:what" */
int keys_sched(char *buf, size_t size, const char *what)
{
    int n = snprintf(buf, size, "kb:{sched}:%s", what);
    return n < 0 || (size_t)n >= size ? KB_ERR_INVAL : n;
}

/* The Redis Cluster rule (cluster spec, "hash tags"). */
void keys_tag(const char *key, size_t len, const char **tag, size_t *taglen)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        const char *close = memchr(open + 1, '}', len - (size_t)(open + 1 - key));
        if (close && close > open + 1) {
            *tag = open + 1;
            *taglen = (size_t)(close - open - 1);
            return;
        }
    }
    *tag = key;
    *taglen = len;
}

int keys_same_slot(const char *a, size_t alen, const char *b, size_t blen)
{
    const char *ta, *tb;
    size_t la, lb;
    keys_tag(a, alen, &ta, &la);
    keys_tag(b, blen, &tb, &lb);
    return la == lb && memcmp(ta, tb, la) == 0;
}

/* CRC16-CCITT (XMODEM), the checksum Redis Cluster takes of a key's tag (cluster spec, appendix A). */
static uint16_t crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

int keys_slot(const char *key, size_t len)
{
    const char *tag;
    size_t taglen;
    keys_tag(key, len, &tag, &taglen);
    return crc16(tag, taglen) & 16383;
}
