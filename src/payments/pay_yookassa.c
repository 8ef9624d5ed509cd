/* pay_yookassa.c — YooKassa API v3 as a payment provider (see payprov.h). A payment is created with POST
 * /v3/payments under an Idempotence-Key (the payment's own key: a retry after a 5xx or a timeout finds the payment
 * made the first time, never a second one), amount in rubles as a decimal string, capture true, a redirect
 * confirmation and a 54-ФЗ receipt (customer email or phone, one item). Its status is GET /v3/payments/{id}; its
 * fiscal receipt GET /v3/receipts?payment_id={id}. Notifications (payment.succeeded, payment.canceled) are taken
 * only from YooKassa's addresses (KABINET_YOOKASSA_WEBHOOK_IPS) and only name the payment: its status is fetched
 * again before anything changes. https://yookassa.ru/developers/api, …/using-api/webhooks */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include "err.h"
#include "form.h"
#include "log.h"
#include "payprov.h"
#include "payprov_int.h"

#define YK_MAX_NETS 32

typedef struct {
    payprov_t base;
    http_client_t *hc;
    char url[256], auth[512], return_url[300];
    int vat_code;
    payprov_ipnet_t nets[YK_MAX_NETS], proxies[YK_MAX_NETS];
    int nnets, nproxies;
} yk_t;

typedef enum { YK_CREATE, YK_STATUS, YK_RECEIPT } yk_kind_t;

typedef struct {
    yk_kind_t kind;
    payprov_cb cb;
    void *data;
} yk_req_t;

/* ---------------------------------------------------------------- answers */

static void copy_str(char *dst, size_t size, const cJSON *v)
{
    const char *s = cJSON_GetStringValue(v);
    snprintf(dst, size, "%s", s ? s : "");
}

/* A payment object → state, ids, amount, link. */
static int read_payment(const cJSON *o, payprov_result_t *r)
{
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(o, "status"));
    const char *value = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "amount"), "value"));
    if (!st || !value || payprov_rub_to_kopecks(value, &r->amount_kopecks))
        return KB_ERR_INVAL;
    r->state = !strcmp(st, "succeeded") ? PAYPROV_PAID : !strcmp(st, "canceled") ? PAYPROV_CANCELED : PAYPROV_PENDING;
    copy_str(r->provider_id, sizeof r->provider_id, cJSON_GetObjectItem(o, "id"));
    copy_str(r->order_id, sizeof r->order_id, cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "order_id"));
    copy_str(r->url, sizeof r->url, cJSON_GetObjectItem(cJSON_GetObjectItem(o, "confirmation"), "confirmation_url"));
    copy_str(r->paid_at, sizeof r->paid_at, cJSON_GetObjectItem(o, "captured_at"));
    return r->provider_id[0] ? 0 : KB_ERR_INVAL;
}

/* A receipt list → the payment receipt that has its fiscal data. YooKassa's receipt object carries ФН
 * (fiscal_storage_number), ФД (fiscal_document_number), ФПД (fiscal_attribute) and the time; the register's own
 * number is not in it. */
static void read_receipt(const cJSON *list, payprov_result_t *r)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(list, "items")) {
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(it, "status"));
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(it, "type"));
        if (!st || strcmp(st, "succeeded") || (type && strcmp(type, "payment")))
            continue;
        copy_str(r->fn, sizeof r->fn, cJSON_GetObjectItem(it, "fiscal_storage_number"));
        copy_str(r->fd, sizeof r->fd, cJSON_GetObjectItem(it, "fiscal_document_number"));
        copy_str(r->fpd, sizeof r->fpd, cJSON_GetObjectItem(it, "fiscal_attribute"));
        copy_str(r->fiscal_at, sizeof r->fiscal_at, cJSON_GetObjectItem(it, "registered_at"));
        r->fiscal = r->fn[0] && r->fd[0] && r->fpd[0];
        if (r->fiscal)
            return;
    }
}

static void on_answer(int err, const http_response_t *res, void *data)
{
    yk_req_t *q = data;
    payprov_result_t r;
    memset(&r, 0, sizeof r);
    int rc = payprov_http_err(err, res);
    if (rc) {
        log_warn("pay", "yookassa answered %ld%s%s", err ? 0L : res->status, err ? ": " : "", err ? kb_strerror(err) : "");
    } else {
        cJSON *o = cJSON_ParseWithLength(res->body, res->body_len);
        if (!o)
            rc = KB_ERR_INVAL;
        else if (q->kind == YK_RECEIPT)
            read_receipt(o, &r);
        else
            rc = read_payment(o, &r);
        if (!rc && q->kind == YK_CREATE && !r.url[0] && r.state == PAYPROV_PENDING)
            rc = KB_ERR_INVAL;
        if (rc)
            log_error("pay", "yookassa's answer is not what its API describes");
        cJSON_Delete(o);
    }
    q->cb(rc, rc ? NULL : &r, q->data);
    free(q);
}

/* Sends one request; headers: auth, and the idempotence key when given. */
static int yk_send(yk_t *y, yk_kind_t kind, const char *method, const char *path, const char *body, const char *idem,
                payprov_cb cb, void *data)
{
    yk_req_t *q = malloc(sizeof *q);
    if (!q)
        return KB_ERR_NOMEM;
    q->kind = kind;
    q->cb = cb;
    q->data = data;
    char url[600], idh[200];
    snprintf(url, sizeof url, "%s%s", y->url, path);
    snprintf(idh, sizeof idh, "Idempotence-Key: %s", idem ? idem : "");
    const char *headers[] = {y->auth, "Content-Type: application/json", idem ? idh : NULL, NULL};
    http_request_t req = {method, url, headers, body, body ? strlen(body) : 0, 0};
    int rc = http_request(y->hc, &req, on_answer, q);
    if (rc)
        free(q);
    return rc;
}

/* ---------------------------------------------------------------- the operations */

static int yk_create(payprov_t *p, const payprov_order_t *o, payprov_cb cb, void *data)
{
    yk_t *y = (yk_t *)p;
    char value[32], desc[128];
    snprintf(value, sizeof value, "%lld.%02lld", (long long)(o->amount_kopecks / 100),
             (long long)(o->amount_kopecks % 100));
    snprintf(desc, sizeof desc, "Оплата электроэнергии, лицевой счёт %s", o->account);
    cJSON *b = cJSON_CreateObject();
    cJSON *amount = cJSON_AddObjectToObject(b, "amount");
    cJSON_AddStringToObject(amount, "value", value);
    cJSON_AddStringToObject(amount, "currency", "RUB");
    cJSON_AddTrueToObject(b, "capture");
    cJSON *conf = cJSON_AddObjectToObject(b, "confirmation");
    cJSON_AddStringToObject(conf, "type", "redirect");
    cJSON_AddStringToObject(conf, "return_url", y->return_url);
    cJSON_AddStringToObject(b, "description", desc);
    cJSON *meta = cJSON_AddObjectToObject(b, "metadata");
    cJSON_AddStringToObject(meta, "order_id", o->order_id);
    cJSON_AddStringToObject(meta, "account", o->account);
    cJSON *receipt = cJSON_AddObjectToObject(b, "receipt");
    cJSON *cust = cJSON_AddObjectToObject(receipt, "customer");
    if (o->email && o->email[0])
        cJSON_AddStringToObject(cust, "email", o->email);
    else if (o->phone && o->phone[0])
        cJSON_AddStringToObject(cust, "phone", o->phone[0] == '+' ? o->phone + 1 : o->phone);
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "description", "Электроэнергия");
    cJSON_AddStringToObject(item, "quantity", "1.00");
    cJSON *ia = cJSON_AddObjectToObject(item, "amount");
    cJSON_AddStringToObject(ia, "value", value);
    cJSON_AddStringToObject(ia, "currency", "RUB");
    cJSON_AddNumberToObject(item, "vat_code", y->vat_code);
    cJSON_AddStringToObject(item, "payment_mode", "full_payment");
    cJSON_AddStringToObject(item, "payment_subject", "commodity");
    cJSON_AddItemToObject(receipt, "items", cJSON_CreateArray());
    cJSON_AddItemToArray(cJSON_GetObjectItem(receipt, "items"), item);
    char *body = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    if (!body)
        return KB_ERR_NOMEM;
    int rc = yk_send(y, YK_CREATE, "POST", "/v3/payments", body, o->idempotency_key, cb, data);
    free(body);
    return rc;
}

/* Ids go into paths: only what YooKassa's ids are made of. */
static int safe_id(const char *id)
{
    return id && id[0] && strlen(id) < 80 &&
           strspn(id, "0123456789abcdefABCDEF-") == strlen(id);
}

static int yk_status(payprov_t *p, const char *provider_id, const char *order_id, payprov_cb cb, void *data)
{
    (void)order_id;
    if (!safe_id(provider_id))
        return KB_ERR_INVAL;
    char path[128];
    snprintf(path, sizeof path, "/v3/payments/%s", provider_id);
    return yk_send((yk_t *)p, YK_STATUS, "GET", path, NULL, NULL, cb, data);
}

static int yk_receipt(payprov_t *p, const char *provider_id, const char *order_id, payprov_cb cb, void *data)
{
    (void)order_id;
    if (!safe_id(provider_id))
        return KB_ERR_INVAL;
    char path[128];
    snprintf(path, sizeof path, "/v3/receipts?payment_id=%s", provider_id);
    return yk_send((yk_t *)p, YK_RECEIPT, "GET", path, NULL, NULL, cb, data);
}

/* The address a notification came from: the TCP peer, unless the peer is a proxy the operator trusts
 * (KABINET_TRUSTED_PROXIES); then the right-most address of X-Forwarded-For that is not such a proxy (what a proxy
 * appended; anything left of it the client may have written). */
static const char *client_addr(const yk_t *y, httpd_req_t *r, char *buf, size_t size)
{
    const char *peer = httpd_peer(r);
    char xff[512];
    if (!y->nproxies || !payprov_ipset_match(y->proxies, y->nproxies, peer) ||
        httpd_header(r, "X-Forwarded-For", xff, sizeof xff) != 0)
        return peer;
    for (size_t end = strlen(xff); end > 0;) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && (xff[a] == ' ' || xff[a] == '\t'))
            a++;
        while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t'))
            b--;
        snprintf(buf, size, "%.*s", (int)(b - a), xff + a);
        if (buf[0] && !payprov_ipset_match(y->proxies, y->nproxies, buf))
            return buf;
        end = start ? start - 1 : 0;
    }
    return peer;
}

/* POST /pay/yookassa/webhook: {"type": "notification", "event": "payment.succeeded", "object": {"id": …}}. */
static int yk_notice(payprov_t *p, httpd_req_t *r, payprov_notice_t *out)
{
    yk_t *y = (yk_t *)p;
    char addr[64];
    const char *from = client_addr(y, r, addr, sizeof addr);
    if (!payprov_ipset_match(y->nets, y->nnets, from)) {
        log_warn("pay", "a YooKassa notification from %s (peer %s), which is not in KABINET_YOOKASSA_WEBHOOK_IPS: refused",
                 from, httpd_peer(r));
        return 403;
    }
    size_t len;
    const char *body = httpd_body(r, &len);
    cJSON *o = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *obj = cJSON_GetObjectItem(o, "object");
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(obj, "id"));
    const char *event = cJSON_GetStringValue(cJSON_GetObjectItem(o, "event"));
    int rc = 400;
    if (id && event && safe_id(id) && !strncmp(event, "payment.", 8)) {
        snprintf(out->provider_id, sizeof out->provider_id, "%s", id);
        copy_str(out->order_id, sizeof out->order_id, cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"),
                                                                          "order_id"));
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

static void yk_free(payprov_t *p) { free(p); }

static const payprov_ops_t yk_ops = {"yookassa", yk_create, yk_status, yk_receipt, yk_notice,
                                     "/pay/yookassa/webhook", "POST", yk_free};

/* ---------------------------------------------------------------- lifecycle */

int payprov_yookassa_new(http_client_t *hc, const payprov_yookassa_options_t *opt, payprov_t **out, char *err,
                         size_t errlen)
{
    yk_t *y = calloc(1, sizeof *y);
    if (!y)
        return KB_ERR_NOMEM;
    y->base.ops = &yk_ops;
    y->hc = hc;
    y->vat_code = opt->vat_code;
    form_base_url(y->url, sizeof y->url, opt->base_url);
    snprintf(y->return_url, sizeof y->return_url, "%s", opt->return_url);
    y->nnets = payprov_ipset_parse(opt->webhook_ips, y->nets, YK_MAX_NETS);
    y->nproxies = payprov_ipset_parse(opt->trusted_proxies ? opt->trusted_proxies : "", y->proxies, YK_MAX_NETS);
    if (y->nnets < 0 || y->nproxies < 0) {
        snprintf(err, errlen, "KABINET_YOOKASSA_WEBHOOK_IPS and KABINET_TRUSTED_PROXIES must be addresses or networks");
        free(y);
        return KB_ERR_INVAL;
    }
    char cred[300];
    unsigned char b64[420];
    int cl = snprintf(cred, sizeof cred, "%s:%s", opt->shop_id, opt->secret_key);
    if (cl <= 0 || (size_t)cl >= sizeof cred) {
        snprintf(err, errlen, "KABINET_YOOKASSA_SHOP_ID or _SECRET_KEY is too long");
        free(y);
        return KB_ERR_INVAL;
    }
    EVP_EncodeBlock(b64, (unsigned char *)cred, cl);
    snprintf(y->auth, sizeof y->auth, "Authorization: Basic %s", b64);
    *out = &y->base;
    return 0;
}
