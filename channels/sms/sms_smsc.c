/* sms_smsc.c — SMSC.ru as an SMS gateway (see smsprov.h). Sending: POST <base>/sys/send.php with login, psw,
 * phones, mes, charset=utf-8, fmt=3 (JSON: {"id", "cnt"} or {"error", "error_code"}) and id (our reference).
 * Errors 3 (no money), 4 (IP blocked for a while) and 9 (too many requests) are worth another try; the rest
 * (parameters, credentials, a forbidden text, a bad number, undeliverable) are not. Callbacks come to one URL,
 * POSTed forms: a delivery status (id, phone, status, …, md5 = md5("id:phone:status:secret")) or an incoming SMS
 * (phone, mes, to, sms_id, …, md5 = md5("phone:mes:to:secret")); a wrong md5 is refused. Statuses: 1 delivered;
 * 3 expired, 20 undeliverable, 22 bad number, 23 forbidden, 24 no money, 25 unavailable: failed; others: sent.
 * https://smsc.ru/api/http/send/sms/, https://smsc.ru/api/http/miscellaneous/callback/ */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include "err.h"
#include "event.h"
#include "form.h"
#include "log.h"
#include "secret.h"
#include "smsprov.h"

typedef struct {
    smsprov_t base;
    http_client_t *hc;
    char url[256], login[128], password[256], secret[256], sender[32];
} smsc_t;

typedef struct {
    smsprov_cb cb;
    void *data;
} smsc_req_t;

void smsprov_smsc_sign(const char *const *fields, int n, const char *secret, char out[33])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    for (int i = 0; i < n; i++) {
        EVP_DigestUpdate(ctx, fields[i], strlen(fields[i]));
        EVP_DigestUpdate(ctx, ":", 1);
    }
    EVP_DigestUpdate(ctx, secret, strlen(secret));
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
    out[32] = 0;
}

/* ---------------------------------------------------------------- sending */

static void on_sent(int err, const http_response_t *res, void *data)
{
    smsc_req_t *q = data;
    char id[64] = "";
    int rc = err ? KB_ERR_AGAIN : res->status >= 500 || res->status == 429 ? KB_ERR_AGAIN
           : res->status != 200 ? KB_ERR_INVAL : 0;
    if (!rc) {
        cJSON *o = cJSON_ParseWithLength(res->body, res->body_len);
        const cJSON *v = cJSON_GetObjectItem(o, "id"), *code = cJSON_GetObjectItem(o, "error_code");
        if (cJSON_IsNumber(code)) {
            int64_t c = event_json_int(code);
            rc = c == 3 || c == 4 || c == 9 ? KB_ERR_AGAIN : KB_ERR_INVAL;
            log_warn("sms", "smsc refused a message: error %lld (%s)", (long long)c,
                     cJSON_GetStringValue(cJSON_GetObjectItem(o, "error")) ?: "");
        } else if (cJSON_IsNumber(v)) {
            snprintf(id, sizeof id, "%.0f", v->valuedouble);
        } else if (cJSON_IsString(v)) {
            snprintf(id, sizeof id, "%s", v->valuestring);
        } else {
            rc = KB_ERR_AGAIN; /* not what the API says: the message may or may not have gone */
            log_error("sms", "smsc answered something its API does not describe");
        }
        cJSON_Delete(o);
    }
    q->cb(rc, id, q->data);
    free(q);
}

static int smsc_send(smsprov_t *p, const char *to, const char *text, const char *ref, smsprov_cb cb, void *data)
{
    smsc_t *s = (smsc_t *)p;
    char body[8192] = "", url[300];
    if (form_add(body, sizeof body, "login", s->login) || form_add(body, sizeof body, "psw", s->password) ||
        form_add(body, sizeof body, "phones", to[0] == '+' ? to + 1 : to) || form_add(body, sizeof body, "mes", text) ||
        form_add(body, sizeof body, "charset", "utf-8") || form_add(body, sizeof body, "fmt", "3") ||
        form_add(body, sizeof body, "id", ref) || (s->sender[0] && form_add(body, sizeof body, "sender", s->sender)))
        return KB_ERR_INVAL;
    smsc_req_t *q = malloc(sizeof *q);
    if (!q)
        return KB_ERR_NOMEM;
    q->cb = cb;
    q->data = data;
    snprintf(url, sizeof url, "%s/sys/send.php", s->url);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    http_request_t req = {"POST", url, headers, body, strlen(body), 0};
    int rc = http_request(s->hc, &req, on_sent, q);
    if (rc)
        free(q);
    return rc;
}

/* ---------------------------------------------------------------- callbacks */

static const char *field(char **names, char **values, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return values[i];
    return NULL;
}

static int smsc_callback(smsprov_t *p, httpd_req_t *r, smsprov_in_t *items, int max, int *n, char *answer,
                         size_t size)
{
    smsc_t *s = (smsc_t *)p;
    size_t len;
    const char *body = httpd_body(r, &len);
    char buf[4096], *names[32], *values[32], sig[33];
    int k = form_parse(body && len ? body : httpd_query(r), buf, sizeof buf, names, values, 32);
    const char *md5 = k > 0 ? field(names, values, k, "md5") : NULL, *phone = k > 0 ? field(names, values, k, "phone") : NULL;
    if (k <= 0 || !md5 || !phone || max < 1)
        return 400;
    const char *id = field(names, values, k, "id"), *status = field(names, values, k, "status");
    const char *mes = field(names, values, k, "mes"), *to = field(names, values, k, "to");
    const char *sms_id = field(names, values, k, "sms_id"), *sent = field(names, values, k, "sent");
    memset(&items[0], 0, sizeof items[0]);
    if (id && status) {
        const char *f[] = {id, phone, status};
        smsprov_smsc_sign(f, 3, s->secret, sig);
        int st = atoi(status);
        items[0].kind = SMSPROV_STATUS;
        snprintf(items[0].msg_id, sizeof items[0].msg_id, "%s", id);
        snprintf(items[0].status, sizeof items[0].status, "%s", st == 1 ? "delivered"
                 : (st == 3 || st == 20 || st == 22 || st == 23 || st == 24 || st == 25) ? "failed" : "sent");
    } else if (mes) {
        const char *f[] = {phone, mes, to ? to : ""};
        smsprov_smsc_sign(f, 3, s->secret, sig);
        items[0].kind = SMSPROV_MESSAGE;
        /* the message's id is (phone, text, sent time), not SMSC's sms_id: the signature does not cover sms_id, so a
         * captured callback posted again with a new one is the same message, answered once. (sent is not signed
         * either: a replay that changes it too is taken again — README, SMS.) */
        if (sent && sent[0]) {
            unsigned char h[EVP_MAX_MD_SIZE];
            unsigned int hl = 0;
            EVP_MD_CTX *ctx = EVP_MD_CTX_new();
            if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, phone, strlen(phone)) &&
                EVP_DigestUpdate(ctx, "\n", 1) && EVP_DigestUpdate(ctx, mes, strlen(mes)) &&
                EVP_DigestUpdate(ctx, "\n", 1) && EVP_DigestUpdate(ctx, sent, strlen(sent)) &&
                EVP_DigestFinal_ex(ctx, h, &hl) && hl >= 12) {
                int at = snprintf(items[0].msg_id, sizeof items[0].msg_id, "in:");
                for (unsigned i = 0; i < 12; i++)
                    at += snprintf(items[0].msg_id + at, sizeof items[0].msg_id - (size_t)at, "%02x", h[i]);
            }
            EVP_MD_CTX_free(ctx);
        }
        if (!items[0].msg_id[0])
            snprintf(items[0].msg_id, sizeof items[0].msg_id, "%s", sms_id ? sms_id : "");
        snprintf(items[0].from, sizeof items[0].from, "%s%s", phone[0] == '+' ? "" : "+", phone);
        snprintf(items[0].text, sizeof items[0].text, "%s", mes);
    } else {
        return 400;
    }
    if (!secret_hex_equal(sig, md5)) {
        log_warn("sms", "an SMSC callback with a wrong signature from %s: refused", httpd_peer(r));
        return 401;
    }
    *n = 1;
    snprintf(answer, size, "OK");
    return 0;
}

static void smsc_free(smsprov_t *p) { free(p); }

static const smsprov_ops_t smsc_ops = {"smsc", smsc_send, smsc_callback, "/sms/smsc/callback", smsc_free};

int smsprov_smsc_new(http_client_t *hc, const smsprov_smsc_options_t *opt, smsprov_t **out)
{
    smsc_t *s = calloc(1, sizeof *s);
    if (!s)
        return KB_ERR_NOMEM;
    s->base.ops = &smsc_ops;
    s->hc = hc;
    if (strlen(opt->login) >= sizeof s->login || strlen(opt->password) >= sizeof s->password ||
        strlen(opt->secret) >= sizeof s->secret || strlen(opt->sender) >= sizeof s->sender) {
        free(s);
        return KB_ERR_INVAL;
    }
    form_base_url(s->url, sizeof s->url, opt->base_url);
    strcpy(s->login, opt->login);
    strcpy(s->password, opt->password);
    strcpy(s->secret, opt->secret);
    strcpy(s->sender, opt->sender);
    *out = &s->base;
    return 0;
}
