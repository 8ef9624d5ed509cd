/* payprov_int.h — helpers the provider implementations share (payprov.c); not for the rest of kabinet. */
#ifndef KB_PAYPROV_INT_H
#define KB_PAYPROV_INT_H

#include <stddef.h>

/* Appends name=value (value URL-encoded) to the form in buf. 0 or KB_ERR_INVAL (does not fit). */
int payprov_form_add(char *buf, size_t size, const char *name, const char *value);
/* Splits a form / query string into buf (a copy, decoded) with names and values pointing into it. Returns how many
 * pairs, or KB_ERR_INVAL (malformed, more than max, longer than buf). */
int payprov_form_parse(const char *query, char *buf, size_t size, char **names, char **values, int max);

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
