/* bench_engine.c — the engine in one process against its own Redis and a Postgres database: events/s through the
 * whole transition (intake, lease, dialog, transaction, compare-and-set, ack) and Redis memory as events grow.
 * It plays E1 events across C conversations, drains, notes Redis memory, goes on to E2 events, drains, notes it
 * again, and prints both with bytes per conversation. With --check it exits 1 when memory grew by more than 5 %
 * between the two marks (Redis memory must not grow with traffic, only with conversations).
 *   bench_engine PG_CONNINFO REDIS_URL CONVS E1 E2 [--check] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "core.h"
#include "db.h"
#include "engine.h"
#include "log.h"
#include "metrics.h"

static uv_loop_t loop;
static kv_t *kv;
static db_t *db;
static engine_t *eng;
static long sent, accepted, target, convs, inflight, refused;
static const long window = 512;

static void pump(void);

static void on_accepted(int err, int is_new, void *data)
{
    inflight--;
    if (err)
        refused++;
    else
        accepted++;
    pump();
}

/* Keeps up to `window` intakes in flight; event k goes to conversation k % convs. */
static void pump(void)
{
    while (inflight < window && sent < target) {
        char conv[32], id[32];
        snprintf(conv, sizeof conv, "local:b%ld", sent % convs);
        snprintf(id, sizeof id, "m%ld", sent);
        event_t ev = {.id = id, .channel = "local", .conv = conv, .sender = "", .text = "hello", .kind = EV_TEXT};
        if (engine_intake(eng, &ev, on_accepted, NULL) != 0) {
            refused++;
            break;
        }
        sent++;
        inflight++;
    }
}

static long long redis_int(const char *cmd, const char *field)
{
    char line[256];
    long long v = -1;
    FILE *p = popen(cmd, "r");
    while (p && fgets(line, sizeof line, p))
        if (!field || !strncmp(line, field, strlen(field)))
            v = atoll(field ? line + strlen(field) : line);
    if (p)
        pclose(p);
    return v;
}

static int port;

/* Runs the loop until `upto` events are accepted and every queue is drained. */
static double play(long upto)
{
    double t0 = metrics_now();
    target = upto;
    pump();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "redis-cli -p %d zcard 'kb:{sched}:ready'", port);
    for (;;) {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (inflight == 0 && sent >= target && engine_busy(eng) == 0) {
            uv_sleep(5);
            uv_run(&loop, UV_RUN_NOWAIT);
            if (engine_busy(eng) == 0 && redis_int(cmd, NULL) == 0)
                break;
        }
        if (sent < target && inflight < window)
            pump();
        uv_run(&loop, UV_RUN_ONCE);
    }
    return metrics_now() - t0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: bench_engine PG_CONNINFO REDIS_URL CONVS E1 E2 [--check]\n");
        return 64;
    }
    convs = atol(argv[3]);
    long e1 = atol(argv[4]), e2 = atol(argv[5]);
    int check = argc > 6 && !strcmp(argv[6], "--check");
    port = atoi(strrchr(argv[2], ':') + 1);
    log_set_level(LOG_ERROR);
    uv_loop_init(&loop);
    db_options_t dbo = {argv[1], 8, 32, 1, 30000};
    char err[256];
    if (db_new(&loop, &dbo, &db, err, sizeof err) || kv_new(&loop, argv[2], 5000, &kv)) {
        fprintf(stderr, "bench_engine: %s\n", err);
        return 1;
    }
    db_start(db);
    kv_start(kv);
    while (!kv_ready(kv) || !db_ready(db))
        uv_run(&loop, UV_RUN_ONCE);
    engine_options_t eo = {256, 5000, 2592000, 3600, 8, 86400};
    engine_new(&loop, kv, db, &eo, &eng);
    engine_add_dialog(eng, &dlg_demo);
    core_demo_register();
    engine_start(eng);
    char info[128];
    snprintf(info, sizeof info, "redis-cli -p %d info memory", port);
    long long base = redis_int(info, "used_memory:");
    double t1 = play(e1);
    long long m1 = redis_int(info, "used_memory:");
    double t2 = play(e2);
    long long m2 = redis_int(info, "used_memory:");
    double growth = m1 > base ? 100.0 * (double)(m2 - m1) / (double)(m1 - base) : 0;
    printf("engine, one process, in-process intake: %ld events over %ld conversations in %.1f s = %.0f events/s "
           "(refused %ld)\n", e2, convs, t1 + t2, (double)e2 / (t1 + t2), refused);
    printf("redis memory after %ld events: %lld bytes over the empty instance (%.0f bytes per conversation)\n", e1,
           m1 - base, (double)(m1 - base) / (double)convs);
    printf("redis memory after %ld events: %lld bytes over the empty instance (%.0f bytes per conversation); "
           "growth %+.1f %%\n", e2, m2 - base, (double)(m2 - base) / (double)convs, growth);
    engine_stop(eng);
    engine_close(eng);
    kv_close(kv);
    db_close(db);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    metrics_shutdown();
    return check && (growth > 5.0 || growth < -5.0 || refused) ? 1 : 0;
}
