/* scheduler.c — the tick, and the steps of each job through kb_sched_step (see scheduler.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "scheduler.h"

struct sched_s {
    uv_loop_t *loop;
    db_t *db;
    sched_options_t opt;
    char owner[96];
    const char *const *jobs;
    sched_opts_fn opts;
    sched_result_fn result;
    void *ctx;
    const db_stmt_t *q_step;
    uv_timer_t timer;
    int job, steps;                /* the job being stepped, and its steps this tick */
    int running, stopping, closing, busy;
    uint64_t step_started;
    metrics_series_t *m_errors;
};

static void step(sched_t *s);

/* ---------------------------------------------------------------- the tick */

static void on_tick(uv_timer_t *t)
{
    sched_t *s = t->data;
    if (s->stopping || s->busy)
        return;
    s->job = 0;
    s->steps = 0;
    step(s);
}

/* The tick is over: the next one in tick_ms. */
static void tick_done(sched_t *s)
{
    if (!s->stopping)
        uv_timer_start(&s->timer, on_tick, (uint64_t)s->opt.tick_ms, 0);
}

/* On to the next job (or the end of the tick). */
static void next_job(sched_t *s)
{
    s->job++;
    s->steps = 0;
    if (s->jobs[s->job])
        step(s);
    else
        tick_done(s);
}

/* ---------------------------------------------------------------- steps */

static void on_step(int err, PGresult *res, void *data)
{
    sched_t *s = data;
    s->busy = 0;
    const char *job = s->jobs[s->job];
    int again = 0;
    if (err) {
        metrics_inc(s->m_errors);
        log_warn("sched", "job %s: step failed: %s", job, res ? PQresultErrorMessage(res) : kb_strerror(err));
        if (s->result && !s->stopping)
            s->result(s->ctx, job, NULL);
    } else if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        cJSON *j = cJSON_Parse(PQgetvalue(res, 0, 0));
        char label[96];
        snprintf(label, sizeof label, "job=\"%s\"", job);
        metrics_observe(metrics_histogram("kb_sched_step_seconds", "Time of one scheduler step that ran, by job", label),
                        (double)(uv_hrtime() - s->step_started) / 1e9);
        if (s->result && !s->stopping)
            s->result(s->ctx, job, cJSON_GetObjectItem(j, "result"));
        again = !cJSON_IsTrue(cJSON_GetObjectItem(j, "done"));
        cJSON_Delete(j);
    }
    if (s->closing) {
        free(s);
        return;
    }
    if (s->stopping)
        return;
    if (again && s->steps < s->opt.steps_per_tick)
        step(s);
    else
        next_job(s);
}

/* One step of the current job: kb_sched_step runs it if due and free, else answers NULL. */
static void step(sched_t *s)
{
    const char *job = s->jobs[s->job];
    if (!job) {
        tick_done(s);
        return;
    }
    const char *opts = s->opts ? s->opts(s->ctx, job) : "{}";
    const char *params[] = {job, s->opt.fake_clock ? "true" : "false", s->owner, opts ? opts : "{}"};
    s->steps++;
    s->busy = 1;
    s->step_started = uv_hrtime();
    if (db_exec(s->db, 0, s->q_step, 4, params, on_step, s) != 0) {
        s->busy = 0;
        tick_done(s);
    }
}

/* ---------------------------------------------------------------- lifecycle */

int sched_new(uv_loop_t *loop, db_t *db, const sched_options_t *opt, const char *const *jobs, sched_opts_fn opts,
              sched_result_fn result, void *ctx, sched_t **out)
{
    sched_t *s = calloc(1, sizeof *s);
    if (!s)
        return KB_ERR_NOMEM;
    s->loop = loop;
    s->db = db;
    s->opt = *opt;
    if (s->opt.tick_ms < 1)
        s->opt.tick_ms = 1000;
    if (s->opt.steps_per_tick < 1)
        s->opt.steps_per_tick = 20;
    snprintf(s->owner, sizeof s->owner, "%s", opt->owner ? opt->owner : "kabinetd");
    s->opt.owner = s->owner;
    s->jobs = jobs;
    s->opts = opts;
    s->result = result;
    s->ctx = ctx;
    s->q_step = db_prepare(db, "SELECT kb_sched_step($1, $2::boolean, $3, $4::jsonb)");
    s->m_errors = metrics_counter("kb_sched_errors_total", "Scheduler steps that failed (tried again next tick)", "");
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    *out = s;
    return 0;
}

int sched_start(sched_t *s)
{
    s->running = 1;
    return uv_timer_start(&s->timer, on_tick, 0, 0) == 0 ? 0 : KB_ERR_IO;
}

void sched_stop(sched_t *s)
{
    s->stopping = 1;
    uv_timer_stop(&s->timer);
}

int sched_busy(const sched_t *s) { return s->busy; }

static void on_timer_closed(uv_handle_t *h)
{
    sched_t *s = h->data;
    if (s->busy)
        s->closing = 1; /* freed when the step answers (db_close answers it) */
    else
        free(s);
}

void sched_close(sched_t *s)
{
    s->stopping = 1;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
