/* payprov_int.h — the webhook address allow-list the payment providers and the configuration share (payprov.c). */
#ifndef KB_PAYPROV_INT_H
#define KB_PAYPROV_INT_H

#include <stddef.h>

/* One network of an allow-list. */
typedef struct {
    int family, bits;              /* 4 or 6; prefix length */
    unsigned char addr[16];
} payprov_ipnet_t;

/* Parses "a.b.c.d[/n],x:y::[/n],…". Returns how many, or KB_ERR_INVAL. */
int payprov_ipset_parse(const char *list, payprov_ipnet_t *nets, int max);
/* 1 when ip (text) is in one of the networks. */
int payprov_ipset_match(const payprov_ipnet_t *nets, int n, const char *ip);

#endif
