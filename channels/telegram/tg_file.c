/* tg_file.c — getFile and the download, blocking (see tg_file.h). The token is in both URLs and never in an error. */
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <cjson/cJSON.h>
#include "err.h"
#include "tg_file.h"

typedef struct {
    char *p;
    size_t n;
    int too_big;
} buf_t;

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    buf_t *b = ud;
    size_t add = size * n;
    if (b->n + add > TG_MAX_DOWNLOAD) {
        b->too_big = 1;
        return 0;
    }
    char *np = realloc(b->p, b->n + add + 1);
    if (!np)
        return 0;
    memcpy(np + b->n, p, add);
    b->p = np;
    b->n += add;
    b->p[b->n] = 0;
    return add;
}

/* GETs url into b; returns the HTTP status, or -1 when there was no answer. */
static long get(CURL *c, const char *url, const char *post, buf_t *b)
{
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    struct curl_slist *h = NULL;
    if (post) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    }
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

int tg_file_fetch(const char *api_url, const char *token, const char *file_id, FILE *out, char *err, size_t errlen)
{
    CURL *c = curl_easy_init();
    if (!c)
        return KB_ERR_NOMEM;
    size_t ul = strlen(api_url);
    while (ul && api_url[ul - 1] == '/')
        ul--;
    char url[2048];
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "file_id", file_id);
    char *body = cJSON_PrintUnformatted(q);
    cJSON_Delete(q);
    buf_t b = {0};
    int rc = 0;
    snprintf(url, sizeof url, "%.*s/bot%s/getFile", (int)ul, api_url, token);
    long st = get(c, url, body, &b);
    free(body);
    cJSON *j = st > 0 ? cJSON_Parse(b.p ? b.p : "") : NULL;
    const cJSON *path = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "result"), "file_path"),
                *desc = cJSON_GetObjectItem(j, "description");
    if (st < 0) {
        snprintf(err, errlen, "Telegram is not reachable at %.*s", (int)ul, api_url);
        rc = KB_ERR_NOTCONN;
    } else if (!cJSON_IsString(path)) {
        snprintf(err, errlen, "getFile refused (%ld %s)", st, cJSON_IsString(desc) ? desc->valuestring : "");
        rc = st == 400 ? KB_ERR_INVAL : KB_ERR_PROTO;
    } else {
        snprintf(url, sizeof url, "%.*s/file/bot%s/%s", (int)ul, api_url, token, path->valuestring);
        free(b.p);
        b = (buf_t){0};
        st = get(c, url, NULL, &b);
        if (st != 200) {
            snprintf(err, errlen, b.too_big ? "the file is larger than 20 MB" : "download failed (%ld)", st);
            rc = st < 0 && !b.too_big ? KB_ERR_NOTCONN : KB_ERR_PROTO;
        } else if (b.n && fwrite(b.p, 1, b.n, out) != b.n) {
            snprintf(err, errlen, "cannot write the file");
            rc = KB_ERR_PROTO;
        }
    }
    cJSON_Delete(j);
    free(b.p);
    curl_easy_cleanup(c);
    return rc;
}
