/* bench_core.c — the Postgres core under load, the way the engine runs it: each call is a transaction of its own
 * (BEGIN, the operation, COMMIT) on the pool, CONC calls in flight. Two phases of SECS seconds each: account.balance
 * on random accounts of 1..ACCOUNTS (as staff: the same money query without the link check), then reading.submit
 * on distinct meters 1..METERS (each meter once, so each is stored: confirmed, with synchronous_commit as the
 * server has it). Prints calls/s and latency p50/p99 for each. account.balance is also measured as it runs
 * outside a transaction (one statement on any connection, the read-only path).
 * The balance phases and the readings phase each get a pool of their own size (reads like few connections on few
 * cores; group commit likes more).
 *   bench_core PG_CONNINFO ACCOUNTS METERS SECS [CONC] [POOL] [READINGS_POOL] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "core.h"
#include "db.h"
#include "log.h"
#include "metrics.h"

static uv_loop_t loop;
static db_t *db;
static long accounts, meters, next_meter;
static int phase_reading, phase_plain, stopping, inflight;
static double *lat;
static long nlat, caplat, errors;

typedef struct {
    db_txn_t *txn;
    uint64_t started;
} call_t;

static void start(call_t *c);

static void on_commit(int err, PGresult *res, void *data)
{
    call_t *c = data;
    inflight--;
    if (err)
        errors++;
    else if (nlat < caplat)
        lat[nlat++] = (double)(uv_hrtime() - c->started) / 1e6;
    if (!stopping)
        start(c);
    else
        free(c);
}

static void on_result(int err, cJSON *result, void *data)
{
    call_t *c = data;
    const cJSON *st = cJSON_GetObjectItem(result, "status");
    if (err || !cJSON_IsString(st) || (strcmp(st->valuestring, "ok") && strcmp(st->valuestring, "accepted")))
        errors++;
    cJSON_Delete(result);
    db_txn_commit(c->txn, on_commit, c);
}

static void on_begun(int err, db_txn_t *txn, void *data)
{
    call_t *c = data;
    if (err) {
        inflight--;
        errors++;
        free(c);
        return;
    }
    c->txn = txn;
    char args[160];
    const char *op;
    if (phase_reading) {
        long m = next_meter++ % meters + 1;
        snprintf(args, sizeof args, "{\"meter_id\":%ld,\"value\":\"%ld\",\"confirm\":true}", m, 1000 + m % 90000);
        op = "reading.submit";
    } else {
        snprintf(args, sizeof args, "{\"staff\":\"bench\",\"account_id\":%ld}", random() % accounts + 1);
        op = "account.balance";
    }
    cJSON *a = cJSON_Parse(args);
    if (core_find(op)(db, txn, "bench:core", a, on_result, c) != 0) {
        errors++;
        db_txn_rollback(txn, on_commit, c);
    }
    cJSON_Delete(a);
}

static void on_plain(int err, cJSON *result, void *data)
{
    call_t *c = data;
    const cJSON *st = cJSON_GetObjectItem(result, "status");
    if (err || !cJSON_IsString(st) || strcmp(st->valuestring, "ok"))
        errors++;
    cJSON_Delete(result);
    on_commit(err, NULL, c);
}

static void start(call_t *c)
{
    inflight++;
    c->started = uv_hrtime();
    if (phase_plain) {
        char args[96];
        snprintf(args, sizeof args, "{\"staff\":\"bench\",\"account_id\":%ld}", random() % accounts + 1);
        cJSON *a = cJSON_Parse(args);
        int rc = core_find("account.balance")(db, NULL, "bench:core", a, on_plain, c);
        cJSON_Delete(a);
        if (rc) {
            inflight--;
            errors++;
            free(c);
        }
        return;
    }
    if (db_txn_begin(db, 0, on_begun, c) != 0) {
        inflight--;
        errors++;
        free(c);
    }
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stop_timer(uv_timer_t *t) { stopping = 1; }

/* Runs one phase for secs seconds with conc calls in flight and prints its figures. */
static void phase(const char *name, int secs, int conc)
{
    nlat = errors = 0;
    stopping = 0;
    for (int i = 0; i < conc; i++)
        start(calloc(1, sizeof(call_t)));
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, stop_timer, (uint64_t)secs * 1000, 0);
    uint64_t t0 = uv_hrtime();
    while (!stopping || inflight > 0)
        uv_run(&loop, UV_RUN_ONCE);
    double elapsed = (double)(uv_hrtime() - t0) / 1e9;
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    qsort(lat, (size_t)nlat, sizeof *lat, by_value);
    printf("%-16s %ld calls in %.1f s: %.0f calls/s at %d in flight; latency p50 %.2f ms, p99 %.2f ms; %ld errors\n",
           name, nlat, elapsed, nlat / elapsed, conc, nlat ? lat[nlat / 2] : 0, nlat ? lat[nlat * 99 / 100] : 0, errors);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_core PG_CONNINFO ACCOUNTS METERS SECS [CONC] [POOL] [READINGS_POOL]\n");
        return 64;
    }
    accounts = atol(argv[2]);
    meters = atol(argv[3]);
    int secs = atoi(argv[4]), conc = argc > 5 ? atoi(argv[5]) : 32, pool = argc > 6 ? atoi(argv[6]) : 4,
        rpool = argc > 7 ? atoi(argv[7]) : 8;
    log_set_level(LOG_WARN);
    uv_loop_init(&loop);
    core_register_all();
    caplat = 20000000;
    lat = malloc((size_t)caplat * sizeof *lat);
    srandom(42);
    for (int p = 0; p < 2; p++) {
        db_options_t o = {argv[1], p == 0 ? pool : rpool, 8, 1, 30000};
        char err[256];
        if (db_new(&loop, &o, &db, err, sizeof err) != 0) {
            fprintf(stderr, "bench_core: %s\n", err);
            return 1;
        }
        db_start(db);
        for (int i = 0; i < 500 && !db_ready(db); i++)
            uv_run(&loop, UV_RUN_ONCE);
        if (p == 0) {
            printf("pool of %d connections:\n", pool);
            phase("account.balance", secs, conc);
            phase_plain = 1;
            phase("balance, no txn", secs, conc);
            phase_plain = 0;
        } else {
            printf("pool of %d connections:\n", rpool);
            phase_reading = 1;
            phase("reading.submit", secs, conc);
        }
        db_close(db);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    free(lat);
    uv_loop_close(&loop);
    metrics_shutdown();
    return 0;
}
