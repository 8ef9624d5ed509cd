/* notify.c — the notification jobs on the scheduler, their options and their metrics (see notify.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "scheduler.h"

/* The order of a tick: what is due goes out first, then the planners find more. */
static const char *const jobs[] = {"dispatch", "plan.credited", "plan.bill", "plan.debt", "plan.reading",
                                   "plan.verify", "plan.broadcast", "prune", NULL};

#define COUNT_EVERY 10             /* dispatch steps between counts of what is pending (a count is a scan) */

struct notify_s {
    sched_t *sched;
    char opts[512], opts_count[512];
    unsigned dispatches;
    metrics_series_t *m_pending;
};

static const char *job_opts(void *ctx, const char *job)
{
    notify_t *n = ctx;
    if (!strcmp(job, "dispatch"))
        return n->dispatches++ % COUNT_EVERY == 0 ? n->opts_count : n->opts;
    return n->opts;
}

/* Adds each number of the object obj to the counter name, labelled label="<its key>". */
static void count_each(const char *name, const char *help, const char *label, const cJSON *obj)
{
    const cJSON *it;
    char l[160];
    cJSON_ArrayForEach(it, obj)
    {
        if (!cJSON_IsNumber(it) || it->valuedouble <= 0)
            continue;
        snprintf(l, sizeof l, "%s=\"%.100s\"", label, it->string);
        metrics_add(metrics_counter(name, help, l), it->valuedouble);
    }
}

static void on_result(void *ctx, const char *job, const cJSON *result)
{
    notify_t *n = ctx;
    if (!result)
        return;
    if (!strcmp(job, "dispatch")) {
        count_each("kb_notify_queued_total", "Notices moved into the outbox's push lane, by kind", "kind",
                   cJSON_GetObjectItem(result, "queued"));
        count_each("kb_notify_channel_total", "Notices moved into the outbox's push lane, by channel", "channel",
                   cJSON_GetObjectItem(result, "channels"));
        count_each("kb_notify_skipped_total", "Notices not sent, by reason", "why",
                   cJSON_GetObjectItem(result, "skipped"));
        count_each("kb_broadcast_queued_total", "A broadcast's messages moved into the outbox", "broadcast",
                   cJSON_GetObjectItem(result, "broadcasts"));
        const cJSON *pending = cJSON_GetObjectItem(result, "pending");
        if (cJSON_IsNumber(pending))
            metrics_set(n->m_pending, pending->valuedouble);
        return;
    }
    const cJSON *planned = cJSON_GetObjectItem(result, "planned");
    if (cJSON_IsNumber(planned) && planned->valuedouble > 0) {
        char l[96];
        snprintf(l, sizeof l, "job=\"%s\"", job);
        metrics_add(metrics_counter("kb_notify_planned_total", "Notices planned, by planner", l), planned->valuedouble);
        log_info("notify", "%s planned %.0f notices", job, planned->valuedouble);
    }
}

int notify_new(uv_loop_t *loop, db_t *db, const cfg_t *cfg, const char *owner, notify_t **out)
{
    notify_t *n = calloc(1, sizeof *n);
    if (!n)
        return KB_ERR_NOMEM;
    int paid = cfg->tg_paid_broadcast ? cfg->tg_paid_rate : cfg->tg_broadcast_rate;
    /* a dispatch moves at most a few seconds of every channel's pushes (and never more than 5000 at once) */
    int limit = (cfg->tg_broadcast_rate + paid + cfg->sms_push_rate + cfg->mail_push_rate) * cfg->notify_lead_s;
    if (limit > 5000)
        limit = 5000;
    /* the channels this process runs: a push is routed only to one of them (SMS always: its default is the log) */
    char on[48];
    snprintf(on, sizeof on, "[%s\"sms\"%s]", cfg->tg_token[0] ? "\"tg\", " : "", cfg->smtp_url[0] ? ", \"mail\"" : "");
    const char *fmt = "{\"rate\": {\"tg\": %d, \"tg_paid\": %d, \"sms\": %d, \"mail\": %d}, \"on\": %s, "
                      "\"lead_s\": %d, \"limit\": %d, \"retention_days\": %d%s}";
    snprintf(n->opts, sizeof n->opts, fmt, cfg->tg_broadcast_rate, paid, cfg->sms_push_rate, cfg->mail_push_rate, on,
             cfg->notify_lead_s, limit, cfg->retention_days, "");
    snprintf(n->opts_count, sizeof n->opts_count, fmt, cfg->tg_broadcast_rate, paid, cfg->sms_push_rate,
             cfg->mail_push_rate, on, cfg->notify_lead_s, limit, cfg->retention_days, ", \"count\": true");
    n->m_pending = metrics_gauge("kb_notify_pending", "Notices waiting for their hour or their channel's room", "");
    sched_options_t so = {cfg->sched_tick_ms, 20, cfg->fake_clock, owner};
    int rc = sched_new(loop, db, &so, jobs, job_opts, on_result, n, &n->sched);
    if (rc) {
        free(n);
        return rc;
    }
    *out = n;
    return 0;
}

int notify_start(notify_t *n) { return sched_start(n->sched); }

void notify_stop(notify_t *n) { sched_stop(n->sched); }

int notify_busy(const notify_t *n) { return sched_busy(n->sched); }

void notify_close(notify_t *n)
{
    sched_close(n->sched);
    free(n);
}

/* ---------------------------------------------------------------- the worker's seam (channel.h) */

static int notify_wanted(const cfg_t *cfg) { return cfg->notify; }

static int notify_create(const channel_env_t *env, void **self, char *err, size_t errlen)
{
    return notify_new(env->loop, env->db, env->cfg, engine_owner(env->engine), (notify_t **)self);
}

static int notify_start_(void *self) { return notify_start(self); }
static void notify_stop_(void *self) { notify_stop(self); }
static size_t notify_busy_(void *self) { return (size_t)notify_busy(self); }
static void notify_free(void *self) { notify_close(self); }

const channel_def_t worker_notify = {.name = "notify", .lanes = {NULL}, .wanted = notify_wanted,
                                     .create = notify_create, .start = notify_start_, .stop = notify_stop_,
                                     .busy = notify_busy_, .close = notify_free};
