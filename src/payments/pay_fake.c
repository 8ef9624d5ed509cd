/* pay_fake.c — the local fake provider (see payprov.h): a link to kabinet's own pay page under a random token, for
 * development and the README run command (production refuses it). The page (channels/pay.c) settles or declines
 * the payment itself, so asking the fake for a status learns nothing new; its fiscal receipt is made up from the
 * payment (a test register, numbers derived from the order), as a test cash register would print one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include "err.h"
#include "form.h"
#include "payprov.h"

typedef struct {
    payprov_t base;
    char public_url[256];
} fake_t;

/* Answers on the next loop turn would need a timer; the pay channel accepts an answer from inside the call. */
static int fake_create(payprov_t *p, const payprov_order_t *o, payprov_cb cb, void *data)
{
    fake_t *f = (fake_t *)p;
    unsigned char rnd[16];
    char token[33];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return KB_ERR_AGAIN;
    for (int i = 0; i < 16; i++)
        snprintf(token + 2 * i, 3, "%02x", rnd[i]);
    payprov_result_t r;
    memset(&r, 0, sizeof r);
    r.state = PAYPROV_PENDING;
    r.amount_kopecks = o->amount_kopecks;
    snprintf(r.provider_id, sizeof r.provider_id, "fake-%s", token);
    snprintf(r.order_id, sizeof r.order_id, "%s", o->order_id);
    snprintf(r.url, sizeof r.url, "%s/pay/fake/%s", f->public_url, token);
    cb(0, &r, data);
    return 0;
}

static int fake_status(payprov_t *p, const char *provider_id, const char *order_id, payprov_cb cb, void *data)
{
    (void)p;
    payprov_result_t r;
    memset(&r, 0, sizeof r);
    r.state = PAYPROV_PENDING;
    snprintf(r.provider_id, sizeof r.provider_id, "%s", provider_id);
    snprintf(r.order_id, sizeof r.order_id, "%s", order_id);
    cb(0, &r, data);
    return 0;
}

/* A test register's receipt: ФД from the order number, ФПД from a hash of the provider id, the time now. */
static int fake_receipt(payprov_t *p, const char *provider_id, const char *order_id, payprov_cb cb, void *data)
{
    (void)p;
    payprov_result_t r;
    memset(&r, 0, sizeof r);
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)provider_id, strlen(provider_id), h);
    const char *digits = order_id + strcspn(order_id, "0123456789");
    snprintf(r.kkt_reg, sizeof r.kkt_reg, "0000000000000000");
    snprintf(r.fn, sizeof r.fn, "9999078900000000");
    snprintf(r.fd, sizeof r.fd, "%s", digits[0] ? digits : "1");
    uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    snprintf(r.fpd, sizeof r.fpd, "%u", (unsigned)(v % 4000000000u));
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r.fiscal_at, sizeof r.fiscal_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    r.fiscal = 1;
    cb(0, &r, data);
    return 0;
}

static void fake_free(payprov_t *p) { free(p); }

static const payprov_ops_t fake_ops = {"fake", fake_create, fake_status, fake_receipt, NULL, NULL, NULL, fake_free};

int payprov_fake_new(const char *public_url, payprov_t **out)
{
    fake_t *f = calloc(1, sizeof *f);
    if (!f)
        return KB_ERR_NOMEM;
    f->base.ops = &fake_ops;
    form_base_url(f->public_url, sizeof f->public_url, public_url);
    *out = &f->base;
    return 0;
}
