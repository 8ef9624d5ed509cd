/* scheduler.h — the durable scheduler: jobs kept in Postgres (kb_job, sql/014_notify.sql), stepped from a timer on the
 * loop. At every tick each job is offered one step through kb_sched_step, which runs it only when it is due and no
 * other process holds its row (FOR UPDATE SKIP LOCKED), and commits the step's work with the job's progress in one
 * statement: several kabinetd processes share the jobs, none is done twice, and a process killed mid-run leaves the
 * job at its last committed step for whichever process comes next. A job that says it is not done (a long run in
 * chunks, a dispatcher with more to send) is stepped again at once, up to steps_per_tick times.
 *
 * The clock is Postgres's now(), or with fake_clock the instant kept in kb_setting test.clock, so tests move time.
 * Lifecycle: sched_new → sched_start → sched_stop → (steps in flight end) → sched_close. */
#ifndef KB_SCHEDULER_H
#define KB_SCHEDULER_H

#include <uv.h>
#include <cjson/cJSON.h>
#include "db.h"

typedef struct sched_s sched_t;

/* The options of one step of job, as JSON text (kb_sched_step's p_opts); the result of a step that ran (the job's
 * own JSON, NULL when the step failed). Both on the loop thread. */
typedef const char *(*sched_opts_fn)(void *ctx, const char *job);
typedef void (*sched_result_fn)(void *ctx, const char *job, const cJSON *result);

typedef struct {
    int tick_ms;               /* how often every job is offered a step */
    int steps_per_tick;        /* a job's steps in one tick at most (a long run goes on at the next tick) */
    int fake_clock;            /* 1: the clock is kb_setting test.clock */
    const char *owner;         /* this process, recorded as the job's last runner */
} sched_options_t;

/* Makes a scheduler for the jobs named in jobs (NULL-terminated, kept by the caller). Returns 0 or KB_ERR_NOMEM. */
int sched_new(uv_loop_t *loop, db_t *db, const sched_options_t *opt, const char *const *jobs, sched_opts_fn opts,
              sched_result_fn result, void *ctx, sched_t **out);
/* Starts ticking (the first tick comes at once). */
int sched_start(sched_t *s);
/* Stops ticking; a step in flight finishes. */
void sched_stop(sched_t *s);
/* 1 while a step is in flight. */
int sched_busy(const sched_t *s);
/* Frees the scheduler once stopped and idle (keep running the loop). */
void sched_close(sched_t *s);

#endif
