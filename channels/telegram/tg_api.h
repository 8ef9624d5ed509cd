/* tg_api.h — the Telegram Bot API over kabinet's HTTP client: JSON calls and multipart uploads, answers parsed into
 * one shape. The token is part of every URL (…/bot<token>/<method>) and is never logged: errors name the method
 * only. Works against the public Bot API, a local Bot API server or a test server (KABINET_TELEGRAM_API_URL). */
#ifndef KB_TG_API_H
#define KB_TG_API_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "http_client.h"

typedef struct tg_api_s tg_api_t;

/* What a call came to. err is a transport error (KB_ERR_TIMEOUT, KB_ERR_NOTCONN, …; then nothing else is set) or 0
 * when Telegram answered; ok is its "ok"; error_code, description and parameters.retry_after explain a refusal. */
typedef struct {
    int err;
    long status;
    int ok;
    int error_code;
    const char *description;   /* "" when none */
    int retry_after;           /* seconds, 0 when not given */
    const cJSON *result;
} tg_answer_t;

/* Called exactly once per call accepted (see http_client.h); the answer is valid during the call. */
typedef void (*tg_api_cb)(const tg_answer_t *a, void *data);

/* A form field of an upload. */
typedef struct {
    const char *name, *value;
} tg_field_t;

int tg_api_new(http_client_t *http, const char *api_url, const char *token, tg_api_t **out);
/* Calls method with a JSON body (NULL: none). timeout_ms 0: the client's default. Returns 0 or a negative error. */
int tg_api_call(tg_api_t *api, const char *method, const char *json, int timeout_ms, tg_api_cb cb, void *data);
/* Calls method as multipart/form-data: fields, and one file (field file_field, named file_name). */
int tg_api_upload(tg_api_t *api, const char *method, const tg_field_t *fields, int nfields, const char *file_field,
                  const char *file_name, const char *mime, const void *bytes, size_t len, tg_api_cb cb, void *data);
/* Cancels the calls in flight made with this callback data (their callbacks get err KB_ERR_CANCELED now). */
void tg_api_cancel(tg_api_t *api, const void *data);
/* Calls in flight. */
size_t tg_api_pending(const tg_api_t *api);
/* Cancels what is in flight (callbacks get KB_ERR_CANCELED) and frees the client. */
void tg_api_free(tg_api_t *api);

#endif
