/* sms_log.c — the log-only SMS gateway (see smsprov.h): each SMS is written to kabinetd's log with the number
 * masked, and counts as sent. For local use and the README run command, so login codes can be read there;
 * production refuses it. It takes no callbacks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "log.h"
#include "smsprov.h"

static int log_send(smsprov_t *p, const char *to, const char *text, const char *ref, smsprov_cb cb, void *data)
{
    (void)p;
    char masked[32], id[48];
    log_info("sms", "log-only sender (development): sms to %s: %s", log_mask_phone(to, masked, sizeof masked), text);
    snprintf(id, sizeof id, "log-%s", ref);
    cb(0, id, data);
    return 0;
}

static void log_free(smsprov_t *p) { free(p); }

static const smsprov_ops_t log_ops = {"log", log_send, NULL, NULL, log_free};

int smsprov_log_new(smsprov_t **out)
{
    smsprov_t *p = calloc(1, sizeof *p);
    if (!p)
        return KB_ERR_NOMEM;
    p->ops = &log_ops;
    *out = p;
    return 0;
}
