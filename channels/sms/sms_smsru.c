/* sms_smsru.c — SMS.ru as an SMS gateway (see smsprov.h). Sending: POST <base>/sms/send with api_id, to, msg,
 * json=1; the answer has a status_code for the request and one per number with its sms_id ("100" accepted). Codes
 * 220 (service busy) and 500 are worth another try, as is a 5xx; the others (a bad number, no such sender, spam
 * filter, no money) are not. Delivery statuses come POSTed as data[N] fields, each "sms_status\n<sms_id>\n<code>";
 * the callback URL carries a secret token (/sms/smsru/callback/<token>: another token is refused) and is answered
 * "100". Codes: 103 delivered; 104 expired, 105 deleted by the operator, 106 phone failure, 107 unknown reason,
 * 108 rejected, 150 no route: failed; others: sent. https://sms.ru/api/send, https://sms.ru/api/status */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include "err.h"
#include "form.h"
#include "log.h"
#include "smsprov.h"

typedef struct {
    smsprov_t base;
    http_client_t *hc;
    char url[256], api_id[128], token[128];
} smsru_t;

typedef struct {
    smsprov_cb cb;
    void *data;
} smsru_req_t;

static int code_of(const cJSON *o)
{
    const cJSON *c = cJSON_GetObjectItem(o, "status_code");
    return cJSON_IsNumber(c) ? (int)c->valuedouble : 0;
}

static void on_sent(int err, const http_response_t *res, void *data)
{
    smsru_req_t *q = data;
    char id[64] = "";
    int rc = err || res->status >= 500 ? KB_ERR_AGAIN : res->status != 200 ? KB_ERR_INVAL : 0;
    if (!rc) {
        cJSON *o = cJSON_ParseWithLength(res->body, res->body_len);
        const cJSON *one = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "sms"), 0);
        int code = one ? code_of(one) : code_of(o);
        if (code == 100 && cJSON_IsString(cJSON_GetObjectItem(one, "sms_id"))) {
            snprintf(id, sizeof id, "%s", cJSON_GetObjectItem(one, "sms_id")->valuestring);
        } else {
            rc = code == 220 || code == 500 || code == 0 ? KB_ERR_AGAIN : KB_ERR_INVAL;
            log_warn("sms", "sms.ru refused a message: status_code %d (%s)", code,
                     cJSON_GetStringValue(cJSON_GetObjectItem(one ? one : o, "status_text")) ?: "");
        }
        cJSON_Delete(o);
    }
    q->cb(rc, id, q->data);
    free(q);
}

static int smsru_send(smsprov_t *p, const char *to, const char *text, const char *ref, smsprov_cb cb, void *data)
{
    (void)ref;
    smsru_t *s = (smsru_t *)p;
    char body[8192] = "", url[300];
    if (form_add(body, sizeof body, "api_id", s->api_id) || form_add(body, sizeof body, "to", to[0] == '+' ? to + 1 : to) ||
        form_add(body, sizeof body, "msg", text) || form_add(body, sizeof body, "json", "1"))
        return KB_ERR_INVAL;
    smsru_req_t *q = malloc(sizeof *q);
    if (!q)
        return KB_ERR_NOMEM;
    q->cb = cb;
    q->data = data;
    snprintf(url, sizeof url, "%s/sms/send", s->url);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    http_request_t req = {"POST", url, headers, body, strlen(body), 0};
    int rc = http_request(s->hc, &req, on_sent, q);
    if (rc)
        free(q);
    return rc;
}

/* POST /sms/smsru/callback/<token> with data[0]=sms_status\n<id>\n<code>, data[1]=… */
static int smsru_callback(smsprov_t *p, httpd_req_t *r, smsprov_in_t *items, int max, int *n, char *answer,
                          size_t size)
{
    smsru_t *s = (smsru_t *)p;
    const char *token = httpd_path(r) + strlen("/sms/smsru/callback/");
    if (strlen(token) != strlen(s->token) || CRYPTO_memcmp(token, s->token, strlen(token)) != 0) {
        log_warn("sms", "an SMS.ru callback with a wrong token from %s: refused", httpd_peer(r));
        return 403;
    }
    size_t len;
    const char *body = httpd_body(r, &len);
    char buf[8192], *names[64], *values[64];
    int k = form_parse(body && len ? body : "", buf, sizeof buf, names, values, 64);
    if (k < 0)
        return 400;
    *n = 0;
    for (int i = 0; i < k && *n < max; i++) {
        if (strncmp(names[i], "data[", 5))
            continue;
        char *save = NULL, *kind = strtok_r(values[i], "\n", &save), *id = strtok_r(NULL, "\n", &save),
             *code = strtok_r(NULL, "\n", &save);
        if (!kind || strcmp(kind, "sms_status") || !id || !code)
            continue; /* other events (or a test "test" line) are acknowledged and ignored */
        int c = atoi(code);
        smsprov_in_t *it = &items[(*n)++];
        memset(it, 0, sizeof *it);
        it->kind = SMSPROV_STATUS;
        snprintf(it->msg_id, sizeof it->msg_id, "%s", id);
        snprintf(it->status, sizeof it->status, "%s", c == 103 ? "delivered"
                 : (c >= 104 && c <= 108) || c == 150 ? "failed" : "sent");
    }
    snprintf(answer, size, "100");
    return 0;
}

static void smsru_free(smsprov_t *p) { free(p); }

static const smsprov_ops_t smsru_ops = {"smsru", smsru_send, smsru_callback, "/sms/smsru/callback/*", smsru_free};

int smsprov_smsru_new(http_client_t *hc, const smsprov_smsru_options_t *opt, smsprov_t **out)
{
    smsru_t *s = calloc(1, sizeof *s);
    if (!s)
        return KB_ERR_NOMEM;
    s->base.ops = &smsru_ops;
    s->hc = hc;
    if (strlen(opt->api_id) >= sizeof s->api_id || strlen(opt->token) >= sizeof s->token || !opt->token[0]) {
        free(s);
        return KB_ERR_INVAL;
    }
    form_base_url(s->url, sizeof s->url, opt->base_url);
    strcpy(s->api_id, opt->api_id);
    strcpy(s->token, opt->token);
    *out = &s->base;
    return 0;
}
