/* bench_runtime.c — throughput of the runtime's store clients on this machine: queries/s through the Postgres pool
 * (pipelined with prepared statements, then without pipelining, then unprepared) and commands/s through the Redis
 * client, each with many requests kept in flight. Prints one line per figure. Not a test: it asserts nothing.
 *   bench_runtime PG_CONNINFO REDIS_URL [seconds] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "db.h"
#include "kv.h"
#include "log.h"
#include "metrics.h"

static uv_loop_t loop;
static double deadline;
static long done, errors, inflight;
static double lat_sum, lat_max;

/* ---------------------------------------------------------------- Postgres */

typedef struct {
    db_t *db;
    const db_stmt_t *st;
    double sent;
    int unprepared;
} pgq_t;

static void pg_send(pgq_t *q);

static void on_pg(int err, PGresult *res, void *data)
{
    pgq_t *q = data;
    double now = metrics_now(), l = now - q->sent;
    done++;
    errors += err != 0;
    lat_sum += l;
    if (l > lat_max)
        lat_max = l;
    if (now < deadline)
        pg_send(q);
    else {
        inflight--;
        free(q);
    }
}

static void pg_send(pgq_t *q)
{
    static const char *params[] = {"42"};
    q->sent = metrics_now();
    int rc = q->unprepared ? db_sql(q->db, 0, "SELECT $1::int + 1", 1, params, on_pg, q)
                           : db_exec(q->db, 0, q->st, 1, params, on_pg, q);
    if (rc) {
        errors++;
        inflight--;
        free(q);
    }
}

static void bench_pg(const char *conninfo, int seconds, int pool, int pipeline, int prepared, int concurrency,
                     const char *label)
{
    db_options_t o = {conninfo, pool, pipeline, prepared, 10000};
    char err[256];
    db_t *db;
    if (db_new(&loop, &o, &db, err, sizeof err)) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    db_start(db);
    while (!db_ready(db))
        uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < 20; i++) /* let every connection come up */
        uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(200);
    uv_run(&loop, UV_RUN_NOWAIT);
    const db_stmt_t *st = db_prepare(db, "SELECT $1::int + 1");
    done = errors = 0;
    lat_sum = lat_max = 0;
    double start = metrics_now();
    deadline = start + seconds;
    for (int i = 0; i < concurrency; i++) {
        pgq_t *q = calloc(1, sizeof *q);
        q->db = db;
        q->st = st;
        q->unprepared = !prepared;
        inflight++;
        pg_send(q);
    }
    while (inflight > 0)
        uv_run(&loop, UV_RUN_ONCE);
    double el = metrics_now() - start;
    printf("postgres pool %-38s %9.0f queries/s  mean %.2f ms  max %.1f ms  errors %ld  (pool %d, in flight %d)\n",
           label, done / el, lat_sum / done * 1000, lat_max * 1000, errors, pool, concurrency);
    db_close(db);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* ---------------------------------------------------------------- Redis */

static kv_t *kv;
static void kv_send(double *sent);

static void on_kv(int err, const redisReply *r, void *data)
{
    double *sent = data, now = metrics_now();
    done++;
    errors += err != 0;
    lat_sum += now - *sent;
    if (now - *sent > lat_max)
        lat_max = now - *sent;
    if (now < deadline)
        kv_send(sent);
    else {
        inflight--;
        free(sent);
    }
}

static void kv_send(double *sent)
{
    *sent = metrics_now();
    if (kv_command(kv, on_kv, sent, "INCR kb:{bench}:n")) {
        errors++;
        inflight--;
        free(sent);
    }
}

static void bench_redis(const char *url, int seconds, int concurrency)
{
    kv_new(&loop, url, 5000, &kv);
    kv_start(kv);
    while (!kv_ready(kv))
        uv_run(&loop, UV_RUN_ONCE);
    done = errors = 0;
    lat_sum = lat_max = 0;
    double start = metrics_now();
    deadline = start + seconds;
    for (int i = 0; i < concurrency; i++) {
        inflight++;
        kv_send(malloc(sizeof(double)));
    }
    while (inflight > 0)
        uv_run(&loop, UV_RUN_ONCE);
    double el = metrics_now() - start;
    printf("redis client (INCR, 1 connection)                 %9.0f commands/s  mean %.2f ms  max %.1f ms  errors %ld  (in flight %d)\n",
           done / el, lat_sum / done * 1000, lat_max * 1000, errors, concurrency);
    kv_close(kv);
    uv_run(&loop, UV_RUN_NOWAIT);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_runtime PG_CONNINFO REDIS_URL [seconds]\n");
        return 64;
    }
    int seconds = argc > 3 ? atoi(argv[3]) : 5;
    log_set_level(LOG_WARN);
    uv_loop_init(&loop);
    bench_pg(argv[1], seconds, 8, 32, 1, 512, "(pipelined, prepared)");
    bench_pg(argv[1], seconds, 8, 1, 1, 512, "(one query per connection, prepared)");
    bench_pg(argv[1], seconds, 8, 32, 0, 512, "(pipelined, unprepared)");
    bench_redis(argv[2], seconds, 1000);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    metrics_shutdown();
    return 0;
}
