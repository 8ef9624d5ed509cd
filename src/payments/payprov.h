/* payprov.h — the payment provider interface: what kabinet asks of YooKassa, Sberbank acquiring or the local fake,
 * in one shape. A provider makes a payment link for an order (create), says where a payment stands (status), hands
 * over the fiscal receipt of a paid one (receipt: its РН ККТ, ФН, ФД, ФПД come from the provider or the cash
 * register behind it, never from a setting), and authenticates its own notifications (notice: the sender's address
 * or the checksum; a notice only names a payment, whose status is then asked again — nothing is believed as it
 * comes). The pay channel (channels/pay.c) drives them; providers do no database work.
 *
 * Every asynchronous call answers once through payprov_cb, on the loop (the fake answers from inside the call, so a
 * caller must not touch its state after starting one): err 0 with a result, KB_ERR_AGAIN when the
 * provider could not answer now (connection, timeout, 5xx, 429: ask again later, the same way), KB_ERR_INVAL when it
 * refused (4xx, a malformed answer: asking again will not help). */
#ifndef KB_PAYPROV_H
#define KB_PAYPROV_H

#include <stdint.h>
#include "http_client.h"
#include "httpd.h"

typedef struct payprov_s payprov_t;

/* An order as the provider is told it. */
typedef struct {
    const char *order_id;          /* "kb-<payment id>" */
    const char *idempotency_key;   /* the payment's key: the same on every retry of one attempt */
    int64_t amount_kopecks;
    const char *account;           /* account number, for the description and the receipt */
    const char *email, *phone;     /* the receipt's customer contact (54-ФЗ), either may be "" */
    int attempt;                   /* 1 on the first try of this order */
} payprov_order_t;

typedef enum { PAYPROV_PENDING, PAYPROV_PAID, PAYPROV_CANCELED } payprov_state_t;

/* What a provider said. Strings are valid during the callback; "" when not given. */
typedef struct {
    payprov_state_t state;
    char provider_id[80];          /* the provider's payment id (YooKassa payment id, Sberbank orderId) */
    char order_id[64];             /* ours, as the provider echoes it */
    char url[512];                 /* create: where the customer pays */
    int64_t amount_kopecks;        /* status: the amount the provider holds */
    char paid_at[40];              /* status: ISO 8601, when paid */
    int fiscal;                    /* receipt: 1 when the fiscal fields below are there */
    char kkt_reg[32], fn[32], fd[32], fpd[32], fiscal_at[40], check_url[512];
} payprov_result_t;

typedef void (*payprov_cb)(int err, const payprov_result_t *r, void *data);

/* Which payment a notification names: either id may be "" when the provider names it by the other. */
typedef struct {
    char provider_id[80];
    char order_id[64];
} payprov_notice_t;

typedef struct {
    const char *name;              /* "yookassa", "sber", "fake": kb_payment.provider */
    int (*create)(payprov_t *p, const payprov_order_t *o, payprov_cb cb, void *data);
    int (*status)(payprov_t *p, const char *provider_id, const char *order_id, payprov_cb cb, void *data);
    int (*receipt)(payprov_t *p, const char *provider_id, const char *order_id, payprov_cb cb, void *data);
    /* Authenticates an inbound notification and names its payment: 0, or the HTTP status to refuse it with (403
     * from a stranger, 400 malformed, 401 bad checksum). */
    int (*notice)(payprov_t *p, httpd_req_t *r, payprov_notice_t *out);
    const char *notice_path;       /* where notifications come (NULL: none) */
    const char *notice_method;     /* "POST" or "GET" */
    void (*free)(payprov_t *p);
} payprov_ops_t;

struct payprov_s {
    const payprov_ops_t *ops;
};

/* Settings of the real providers (config.h's KABINET_YOOKASSA_* and KABINET_SBER_*). */
typedef struct {
    const char *base_url, *shop_id, *secret_key, *webhook_ips, *return_url;
    int vat_code;
    const char *trusted_proxies;   /* proxies whose X-Forwarded-For names the client ("" or NULL: none) */
} payprov_yookassa_options_t;

typedef struct {
    const char *base_url, *username, *password, *callback_key, *return_url, *fail_url;
    int session_timeout_s;
} payprov_sber_options_t;

/* Makes a provider. Return 0 or KB_ERR_INVAL (a setting is malformed: err says which) / KB_ERR_NOMEM. */
int payprov_yookassa_new(http_client_t *hc, const payprov_yookassa_options_t *opt, payprov_t **out, char *err,
                         size_t errlen);
int payprov_sber_new(http_client_t *hc, const payprov_sber_options_t *opt, payprov_t **out, char *err, size_t errlen);
/* The fake: links to kabinet's own pay page <public_url>/pay/fake/<token> (channels/pay.c serves it and settles
 * from it); its receipts are made up per payment, marked as test data. */
int payprov_fake_new(const char *public_url, payprov_t **out);

/* Sberbank's callback checksum: HMAC-SHA256 with key over "name;value;" of every parameter but checksum and
 * sign_alias, sorted by name, as upper-case hex (65 bytes with the NUL). Returns 0 or KB_ERR_INVAL (too long). */
int payprov_sber_checksum(const char *key, const char *const *names, const char *const *values, int n, char out[65]);

/* Parses "123.45" (rubles, up to two decimals) into kopecks. Returns 0 or KB_ERR_INVAL. */
int payprov_rub_to_kopecks(const char *s, int64_t *out);

/* Shared by the HTTP providers: the error class of an HTTP answer (0 for 2xx, KB_ERR_AGAIN for 5xx, 429 and
 * transport errors, KB_ERR_INVAL for the rest). */
int payprov_http_err(int err, const http_response_t *res);

#endif
