/* pay_sber.c — Sberbank internet acquiring (REST) as a payment provider (see payprov.h). register.do takes the
 * amount in kopecks under our unique orderNumber and gives orderId + formUrl (sessionTimeoutSecs bounds the link);
 * getOrderStatusExtended.do says where an order stands (orderStatus 2: paid; 3, 6: reversed or declined);
 * getReceiptStatus.do gives the fiscal receipt the bank's cash register made. Callbacks (GET with mdOrder,
 * orderNumber, operation, status, checksum) are taken only with a valid checksum: HMAC-SHA256 under the callback
 * key over every parameter but checksum and sign_alias, sorted by name, as "name;value;", compared
 * case-insensitively; and even then only name the order, whose status is asked again.
 * https://securepayments.sberbank.ru/wiki/doku.php/integration:api:rest:start, …/integration:api:callback:start */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <cjson/cJSON.h>
#include "err.h"
#include "event.h"
#include "form.h"
#include "log.h"
#include "payprov.h"
#include "payprov_int.h"
#include "secret.h"

typedef struct {
    payprov_t base;
    http_client_t *hc;
    char url[256], username[128], password[256], key[256], return_url[300], fail_url[300];
    int session_timeout_s;
} sber_t;

typedef enum { SB_REGISTER, SB_STATUS, SB_RECEIPT } sb_kind_t;

typedef struct {
    sb_kind_t kind;
    payprov_cb cb;
    void *data;
} sb_req_t;

/* ---------------------------------------------------------------- answers */

static void copy_str(char *dst, size_t size, const cJSON *v)
{
    if (cJSON_IsNumber(v))
        snprintf(dst, size, "%.0f", v->valuedouble);
    else
        snprintf(dst, size, "%s", cJSON_GetStringValue(v) ? cJSON_GetStringValue(v) : "");
}

/* The answer of one call into r; KB_ERR_INVAL when the bank refused (errorCode other than 0) or said nonsense. */
static int read_answer(sb_kind_t kind, const cJSON *o, payprov_result_t *r)
{
    const cJSON *ec = cJSON_GetObjectItem(o, "errorCode");
    char code[16];
    copy_str(code, sizeof code, ec);
    if (code[0] && strcmp(code, "0")) {
        log_warn("pay", "sberbank refused: errorCode %s (%s)", code,
                 cJSON_GetStringValue(cJSON_GetObjectItem(o, "errorMessage")) ?: "");
        return KB_ERR_INVAL;
    }
    if (kind == SB_REGISTER) {
        copy_str(r->provider_id, sizeof r->provider_id, cJSON_GetObjectItem(o, "orderId"));
        copy_str(r->url, sizeof r->url, cJSON_GetObjectItem(o, "formUrl"));
        r->state = PAYPROV_PENDING;
        return r->provider_id[0] && r->url[0] ? 0 : KB_ERR_INVAL;
    }
    if (kind == SB_STATUS) {
        const cJSON *st = cJSON_GetObjectItem(o, "orderStatus"), *amount = cJSON_GetObjectItem(o, "amount");
        if (!cJSON_IsNumber(st) || !cJSON_IsNumber(amount))
            return KB_ERR_INVAL;
        int64_t s = event_json_int(st);
        r->state = s == 2 ? PAYPROV_PAID : (s == 3 || s == 6) ? PAYPROV_CANCELED : PAYPROV_PENDING;
        r->amount_kopecks = event_json_int(amount);
        copy_str(r->order_id, sizeof r->order_id, cJSON_GetObjectItem(o, "orderNumber"));
        const cJSON *at = cJSON_GetObjectItem(o, "authDateTime");
        if (cJSON_IsNumber(at)) { /* milliseconds since the epoch */
            time_t t = (time_t)(at->valuedouble / 1000);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(r->paid_at, sizeof r->paid_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        return 0;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(o, "receipt")) {
        const cJSON *rs = cJSON_GetObjectItem(it, "receiptStatus");
        if (!cJSON_IsNumber(rs) || rs->valuedouble != 1) /* 1: fiscalized */
            continue;
        copy_str(r->kkt_reg, sizeof r->kkt_reg, cJSON_GetObjectItem(it, "ecr_registration_number"));
        copy_str(r->fn, sizeof r->fn, cJSON_GetObjectItem(it, "fn_number"));
        copy_str(r->fd, sizeof r->fd, cJSON_GetObjectItem(it, "fiscal_document_number"));
        copy_str(r->fpd, sizeof r->fpd, cJSON_GetObjectItem(it, "fiscal_document_attribute"));
        copy_str(r->fiscal_at, sizeof r->fiscal_at, cJSON_GetObjectItem(it, "receipt_date_time"));
        copy_str(r->check_url, sizeof r->check_url, cJSON_GetObjectItem(it, "ofd_receipt_url"));
        r->fiscal = r->fn[0] && r->fd[0] && r->fpd[0];
        if (r->fiscal)
            break;
    }
    return 0;
}

static void on_answer(int err, const http_response_t *res, void *data)
{
    sb_req_t *q = data;
    payprov_result_t r;
    memset(&r, 0, sizeof r);
    int rc = payprov_http_err(err, res);
    if (rc) {
        log_warn("pay", "sberbank answered %ld%s%s", err ? 0L : res->status, err ? ": " : "", err ? kb_strerror(err) : "");
    } else {
        cJSON *o = cJSON_ParseWithLength(res->body, res->body_len);
        rc = o ? read_answer(q->kind, o, &r) : KB_ERR_INVAL;
        cJSON_Delete(o);
    }
    q->cb(rc, rc ? NULL : &r, q->data);
    free(q);
}

/* POSTs a form to <base>/<method> with the credentials first. */
static int call(sber_t *s, sb_kind_t kind, const char *method, const char *form, payprov_cb cb, void *data)
{
    char body[2048] = "", url[400];
    if (form_add(body, sizeof body, "userName", s->username) ||
        form_add(body, sizeof body, "password", s->password) || strlen(body) + strlen(form) + 2 > sizeof body)
        return KB_ERR_INVAL;
    strcat(body, "&");
    strcat(body, form);
    sb_req_t *q = malloc(sizeof *q);
    if (!q)
        return KB_ERR_NOMEM;
    q->kind = kind;
    q->cb = cb;
    q->data = data;
    snprintf(url, sizeof url, "%s/%s", s->url, method);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    http_request_t req = {"POST", url, headers, body, strlen(body), 0};
    int rc = http_request(s->hc, &req, on_answer, q);
    if (rc)
        free(q);
    return rc;
}

/* ---------------------------------------------------------------- the operations */

/* A register.do that the bank answered "order number already used" (after a lost answer) is made again under
 * "<order>-<attempt>": the first one was never shown to anyone, and callbacks are matched by orderId. */
static int sb_create(payprov_t *p, const payprov_order_t *o, payprov_cb cb, void *data)
{
    sber_t *s = (sber_t *)p;
    char form[1536] = "", amount[24], number[80], timeout[16], desc[128];
    snprintf(amount, sizeof amount, "%lld", (long long)o->amount_kopecks);
    if (o->attempt > 1)
        snprintf(number, sizeof number, "%s-%d", o->order_id, o->attempt);
    else
        snprintf(number, sizeof number, "%s", o->order_id);
    snprintf(timeout, sizeof timeout, "%d", s->session_timeout_s);
    snprintf(desc, sizeof desc, "Оплата электроэнергии, лицевой счёт %s", o->account);
    if (form_add(form, sizeof form, "orderNumber", number) ||
        form_add(form, sizeof form, "amount", amount) ||
        form_add(form, sizeof form, "returnUrl", s->return_url) ||
        form_add(form, sizeof form, "failUrl", s->fail_url) ||
        form_add(form, sizeof form, "sessionTimeoutSecs", timeout) ||
        form_add(form, sizeof form, "description", desc) ||
        (o->email && o->email[0] && form_add(form, sizeof form, "email", o->email)))
        return KB_ERR_INVAL;
    return call(s, SB_REGISTER, "register.do", form, cb, data);
}

static int by_order(sber_t *s, sb_kind_t kind, const char *method, const char *provider_id, payprov_cb cb, void *data)
{
    char form[256] = "";
    if (!provider_id || !provider_id[0] || form_add(form, sizeof form, "orderId", provider_id))
        return KB_ERR_INVAL;
    return call(s, kind, method, form, cb, data);
}

static int sb_status(payprov_t *p, const char *provider_id, const char *order_id, payprov_cb cb, void *data)
{
    (void)order_id;
    return by_order((sber_t *)p, SB_STATUS, "getOrderStatusExtended.do", provider_id, cb, data);
}

static int sb_receipt(payprov_t *p, const char *provider_id, const char *order_id, payprov_cb cb, void *data)
{
    (void)order_id;
    return by_order((sber_t *)p, SB_RECEIPT, "getReceiptStatus.do", provider_id, cb, data);
}

/* GET /pay/sber/callback?mdOrder=…&orderNumber=…&operation=…&status=…&checksum=… */
static int sb_notice(payprov_t *p, httpd_req_t *r, payprov_notice_t *out)
{
    sber_t *s = (sber_t *)p;
    char buf[2048], *names[32], *values[32], sum[65];
    int n = form_parse(httpd_query(r), buf, sizeof buf, names, values, 32);
    if (n <= 0)
        return 400;
    const char *md = NULL, *number = NULL, *checksum = NULL;
    for (int i = 0; i < n; i++) {
        if (!strcmp(names[i], "mdOrder"))
            md = values[i];
        else if (!strcmp(names[i], "orderNumber"))
            number = values[i];
        else if (!strcmp(names[i], "checksum"))
            checksum = values[i];
    }
    if (!md || !number)
        return 400;
    if (!checksum || payprov_sber_checksum(s->key, (const char *const *)names, (const char *const *)values, n, sum) ||
        !secret_hex_equal(sum, checksum)) {
        log_warn("pay", "a Sberbank callback from %s with a wrong checksum: refused", httpd_peer(r));
        return 401;
    }
    snprintf(out->provider_id, sizeof out->provider_id, "%s", md);
    snprintf(out->order_id, sizeof out->order_id, "%s", number);
    return 0;
}

static void sb_free(payprov_t *p) { free(p); }

static const payprov_ops_t sb_ops = {"sber", sb_create, sb_status, sb_receipt, sb_notice,
                                     "/pay/sber/callback", "GET", sb_free};

/* ---------------------------------------------------------------- lifecycle */

int payprov_sber_new(http_client_t *hc, const payprov_sber_options_t *opt, payprov_t **out, char *err, size_t errlen)
{
    sber_t *s = calloc(1, sizeof *s);
    if (!s)
        return KB_ERR_NOMEM;
    s->base.ops = &sb_ops;
    s->hc = hc;
    s->session_timeout_s = opt->session_timeout_s;
    form_base_url(s->url, sizeof s->url, opt->base_url);
    if (strlen(opt->username) >= sizeof s->username || strlen(opt->password) >= sizeof s->password ||
        strlen(opt->callback_key) >= sizeof s->key) {
        snprintf(err, errlen, "a KABINET_SBER_* credential is too long");
        free(s);
        return KB_ERR_INVAL;
    }
    strcpy(s->username, opt->username);
    strcpy(s->password, opt->password);
    strcpy(s->key, opt->callback_key);
    snprintf(s->return_url, sizeof s->return_url, "%s", opt->return_url);
    snprintf(s->fail_url, sizeof s->fail_url, "%s", opt->fail_url);
    *out = &s->base;
    return 0;
}
