/* tg_api.c — Bot API calls over http_client (see tg_api.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include "err.h"
#include "tg_api.h"

struct tg_api_s {
    http_client_t *http;
    char *base;                    /* "<api url>/bot<token>/" */
    struct tg_req_s *reqs;         /* in flight, for tg_api_cancel */
    size_t pending;
};

typedef struct tg_req_s {
    struct tg_req_s *prev, *next;
    tg_api_t *api;
    tg_api_cb cb;
    void *data;
} tg_req_t;

static void unlink_req(tg_req_t *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        q->api->reqs = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->api->pending--;
}

/* Parses Telegram's answer {"ok", "result" | "error_code", "description", "parameters": {"retry_after"}}. */
static void on_http(int err, const http_response_t *res, void *data)
{
    tg_req_t *q = data;
    unlink_req(q);
    tg_answer_t a = {.err = err, .description = ""};
    cJSON *j = NULL;
    if (!err) {
        a.status = res->status;
        j = cJSON_ParseWithLength(res->body, res->body_len);
        const cJSON *ok = cJSON_GetObjectItem(j, "ok"), *code = cJSON_GetObjectItem(j, "error_code"),
                    *desc = cJSON_GetObjectItem(j, "description"),
                    *ra = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "parameters"), "retry_after");
        if (!cJSON_IsObject(j)) /* a proxy's error page, say: an answer without Telegram's meaning */
            a.error_code = (int)res->status;
        a.ok = cJSON_IsTrue(ok) && res->status == 200;
        if (cJSON_IsNumber(code))
            a.error_code = code->valueint;
        if (cJSON_IsString(desc))
            a.description = desc->valuestring;
        if (cJSON_IsNumber(ra) && ra->valuedouble > 0)
            a.retry_after = ra->valuedouble > 3600 ? 3600 : (int)ra->valuedouble;
        a.result = cJSON_GetObjectItem(j, "result");
        if (!a.ok && !a.error_code)
            a.error_code = (int)res->status;
    }
    q->cb(&a, q->data);
    cJSON_Delete(j);
    free(q);
}

static tg_req_t *req_new(tg_api_t *api, tg_api_cb cb, void *data)
{
    tg_req_t *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->api = api;
    q->cb = cb;
    q->data = data;
    q->next = api->reqs;
    if (api->reqs)
        api->reqs->prev = q;
    api->reqs = q;
    api->pending++;
    return q;
}

static int start(tg_api_t *api, const char *method, const char *const *headers, const char *body, size_t len,
                 int timeout_ms, tg_api_cb cb, void *data)
{
    char url[1024];
    int n = snprintf(url, sizeof url, "%s%s", api->base, method);
    if (n < 0 || (size_t)n >= sizeof url)
        return KB_ERR_INVAL;
    tg_req_t *q = req_new(api, cb, data);
    if (!q)
        return KB_ERR_NOMEM;
    http_request_t req = {"POST", url, headers, body ? body : "", body ? len : 0, timeout_ms};
    int rc = http_request(api->http, &req, on_http, q);
    if (rc) {
        unlink_req(q);
        free(q);
    }
    return rc;
}

int tg_api_call(tg_api_t *api, const char *method, const char *json, int timeout_ms, tg_api_cb cb, void *data)
{
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    if (!api) /* the channel is closing */
        return KB_ERR_CANCELED;
    return start(api, method, headers, json ? json : "{}", json ? strlen(json) : 2, timeout_ms, cb, data);
}

/* Appends to a growing buffer; returns 0 or KB_ERR_NOMEM. */
static int put(char **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
    if (*len + n > *cap) {
        size_t nc = (*len + n) * 2;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return KB_ERR_NOMEM;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    return 0;
}

int tg_api_upload(tg_api_t *api, const char *method, const tg_field_t *fields, int nfields, const char *file_field,
                  const char *file_name, const char *mime, const void *bytes, size_t len, tg_api_cb cb, void *data)
{
    unsigned char rnd[12];
    if (!api)
        return KB_ERR_CANCELED;
    RAND_bytes(rnd, sizeof rnd);
    char boundary[48], part[512], ctype[96];
    int bl = snprintf(boundary, sizeof boundary, "kabinet");
    for (size_t i = 0; i < sizeof rnd; i++)
        bl += snprintf(boundary + bl, sizeof boundary - (size_t)bl, "%02x", rnd[i]);
    char *buf = NULL;
    size_t blen = 0, cap = 0;
    int rc = 0;
    for (int i = 0; i < nfields && !rc; i++) {
        int n = snprintf(part, sizeof part, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n", boundary,
                         fields[i].name);
        rc = put(&buf, &blen, &cap, part, (size_t)n);
        if (!rc)
            rc = put(&buf, &blen, &cap, fields[i].value, strlen(fields[i].value));
        if (!rc)
            rc = put(&buf, &blen, &cap, "\r\n", 2);
    }
    /* the file name is ours (no quotes or line breaks in it) */
    int n = snprintf(part, sizeof part,
                     "--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\nContent-Type: %s\r\n\r\n",
                     boundary, file_field, file_name, mime);
    if (!rc)
        rc = put(&buf, &blen, &cap, part, (size_t)n);
    if (!rc)
        rc = put(&buf, &blen, &cap, bytes, len);
    n = snprintf(part, sizeof part, "\r\n--%s--\r\n", boundary);
    if (!rc)
        rc = put(&buf, &blen, &cap, part, (size_t)n);
    snprintf(ctype, sizeof ctype, "Content-Type: multipart/form-data; boundary=%s", boundary);
    const char *headers[] = {ctype, NULL};
    if (!rc)
        rc = start(api, method, headers, buf, blen, 0, cb, data);
    free(buf);
    return rc;
}

void tg_api_cancel(tg_api_t *api, const void *data)
{
    for (tg_req_t *q = api->reqs; q;) {
        if (q->data != data) {
            q = q->next;
            continue;
        }
        http_cancel(api->http, q); /* runs on_http, which unlinks and frees q */
        q = api->reqs;
    }
}

size_t tg_api_pending(const tg_api_t *api) { return api->pending; }

int tg_api_new(http_client_t *http, const char *api_url, const char *token, tg_api_t **out)
{
    tg_api_t *api = calloc(1, sizeof *api);
    if (!api)
        return KB_ERR_NOMEM;
    size_t ul = strlen(api_url);
    while (ul && api_url[ul - 1] == '/')
        ul--;
    size_t size = ul + strlen(token) + 8;
    api->base = malloc(size);
    if (!api->base) {
        free(api);
        return KB_ERR_NOMEM;
    }
    snprintf(api->base, size, "%.*s/bot%s/", (int)ul, api_url, token);
    api->http = http;
    *out = api;
    return 0;
}

void tg_api_free(tg_api_t *api)
{
    if (!api)
        return;
    while (api->reqs) /* their callbacks get KB_ERR_CANCELED */
        http_cancel(api->http, api->reqs);
    free(api->base);
    free(api);
}
