/* sms_log.c — the log-only SMS sender (see sms_log.h). */
#include <string.h>
#include "err.h"
#include "log.h"
#include "sms_log.h"
#include "text.h"

/* Writes the message to the log: "sms to +7916***4567: Код для входа…". */
static void deliver(void *ctx, const outbox_msg_t *m, outbox_ticket_t *t)
{
    const cJSON *tmpl = cJSON_GetObjectItem(m->payload, "tmpl"), *lang = cJSON_GetObjectItem(m->payload, "lang");
    const char *to = strncmp(m->conv, "sms:", 4) ? m->conv : m->conv + 4;
    char text[1024], masked[32];
    txt_render(cJSON_IsString(lang) ? lang->valuestring : "ru", cJSON_IsString(tmpl) ? tmpl->valuestring : "",
               cJSON_GetObjectItem(m->payload, "params"), text, sizeof text);
    log_info("sms", "log-only sender (development): sms to %s: %s", log_mask_phone(to, masked, sizeof masked), text);
    outbox_done(t, OUTBOX_SENT, 0, NULL);
}

int sms_log_new(uv_loop_t *loop, db_t *db, outbox_t **out)
{
    outbox_options_t oo = {{16, 16}, 10, 1000, 10};
    int rc = outbox_new(loop, db, "sms", deliver, NULL, &oo, out);
    return rc ? rc : outbox_start(*out);
}
