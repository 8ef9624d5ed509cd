/* payprov.c — what the payment providers share (see payprov.h): rubles as text to kopecks, the class of an HTTP
 * answer, an address allow-list, and Sberbank's callback checksum. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <openssl/hmac.h>
#include "err.h"
#include "payprov.h"
#include "payprov_int.h"

/* ---------------------------------------------------------------- amounts and answers */

int payprov_rub_to_kopecks(const char *s, int64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return KB_ERR_INVAL;
    int64_t rub = 0;
    while (isdigit((unsigned char)*s)) {
        if (rub > 100000000000LL)
            return KB_ERR_INVAL;
        rub = rub * 10 + (*s++ - '0');
    }
    int64_t kop = 0;
    if (*s == '.') {
        s++;
        int n = 0;
        while (isdigit((unsigned char)*s) && n < 2) {
            kop = kop * 10 + (*s++ - '0');
            n++;
        }
        if (n == 0)
            return KB_ERR_INVAL;
        if (n == 1)
            kop *= 10;
    }
    if (*s)
        return KB_ERR_INVAL;
    *out = rub * 100 + kop;
    return 0;
}

int payprov_http_err(int err, const http_response_t *res)
{
    if (err)
        return KB_ERR_AGAIN;
    if (res->status >= 200 && res->status < 300)
        return 0;
    if (res->status >= 500 || res->status == 429 || res->status == 408)
        return KB_ERR_AGAIN;
    return KB_ERR_INVAL;
}

/* ---------------------------------------------------------------- the address allow-list */

int payprov_ipset_parse(const char *list, payprov_ipnet_t *nets, int max)
{
    int n = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        char item[64];
        if (len == 0 || len >= sizeof item || n == max)
            return KB_ERR_INVAL;
        memcpy(item, p, len);
        item[len] = 0;
        char *slash = strchr(item, '/');
        int bits = -1;
        if (slash) {
            *slash = 0;
            char *end;
            long b = strtol(slash + 1, &end, 10);
            if (*end || end == slash + 1 || b < 0)
                return KB_ERR_INVAL;
            bits = (int)b;
        }
        payprov_ipnet_t *net = &nets[n];
        memset(net, 0, sizeof *net);
        if (inet_pton(AF_INET, item, net->addr) == 1) {
            net->family = 4;
            net->bits = bits < 0 ? 32 : bits;
            if (net->bits > 32)
                return KB_ERR_INVAL;
        } else if (inet_pton(AF_INET6, item, net->addr) == 1) {
            net->family = 6;
            net->bits = bits < 0 ? 128 : bits;
            if (net->bits > 128)
                return KB_ERR_INVAL;
        } else {
            return KB_ERR_INVAL;
        }
        n++;
        p += len;
        if (*p == ',' && !*++p) /* a trailing comma */
            return KB_ERR_INVAL;
    }
    return n;
}

int payprov_ipset_match(const payprov_ipnet_t *nets, int n, const char *ip)
{
    unsigned char a[16];
    int family = inet_pton(AF_INET, ip, a) == 1 ? 4 : inet_pton(AF_INET6, ip, a) == 1 ? 6 : 0;
    if (family == 6 && !memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) { /* IPv4-mapped */
        memmove(a, a + 12, 4);
        family = 4;
    }
    for (int i = 0; family && i < n; i++) {
        if (nets[i].family != family)
            continue;
        int full = nets[i].bits / 8, rest = nets[i].bits % 8;
        if (memcmp(a, nets[i].addr, (size_t)full))
            continue;
        if (rest && ((a[full] ^ nets[i].addr[full]) & (0xff << (8 - rest)) & 0xff))
            continue;
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- Sberbank's checksum */

typedef struct {
    const char *name, *value;
} kv_pair_t;

static int by_name(const void *a, const void *b) { return strcmp(((const kv_pair_t *)a)->name, ((const kv_pair_t *)b)->name); }

int payprov_sber_checksum(const char *key, const char *const *names, const char *const *values, int n, char out[65])
{
    kv_pair_t pairs[32];
    int m = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(names[i], "checksum") || !strcmp(names[i], "sign_alias"))
            continue;
        if (m == 32)
            return KB_ERR_INVAL;
        pairs[m].name = names[i];
        pairs[m].value = values[i];
        total += strlen(names[i]) + strlen(values[i]) + 2;
        m++;
    }
    qsort(pairs, (size_t)m, sizeof pairs[0], by_name);
    char *line = malloc(total + 1);
    if (!line)
        return KB_ERR_NOMEM;
    size_t at = 0;
    for (int i = 0; i < m; i++)
        at += (size_t)sprintf(line + at, "%s;%s;", pairs[i].name, pairs[i].value);
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)line, at, mac, &maclen);
    free(line);
    for (unsigned i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02X", mac[i]);
    out[64] = 0;
    return 0;
}
