/* test_db.c — the Postgres pool against a real PostgreSQL: 1,000 queries in flight with per-caller order,
 * prepared and unprepared statements, errors that leave the pipeline usable, transactions, a full queue, deadlines,
 * and reconnecting after the server dropped every connection. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "db.h"
#include "err.h"
#include "metrics.h"
#include "tk.h"

static uv_loop_t loop;
static const char *conninfo;

static int setup(void **state)
{
    conninfo = tk_db_create("db", 0);
    return uv_loop_init(&loop);
}

static int teardown(void **state)
{
    tk_loop_close(&loop);
    tk_db_drop();
    metrics_shutdown();
    return 0;
}

static db_t *pool(int n, int pipeline, int prepared, int timeout_ms)
{
    db_options_t o = {conninfo, n, pipeline, prepared && tk_prepared(), timeout_ms}; /* none behind PgBouncer */
    char err[256];
    db_t *db;
    assert_int_equal(db_new(&loop, &o, &db, err, sizeof err), 0);
    db_start(db);
    for (int i = 0; i < 200 && !db_ready(db); i++)
        tk_run_for(&loop, 10);
    tk_run_for(&loop, 50); /* let the other connections come up too */
    assert_true(db_ready(db));
    return db;
}

/* ---------------------------------------------------------------- many in flight, in order per caller */

#define CALLERS 10
#define PER 100

typedef struct {
    int caller, seq;
} q_t;

static int got[CALLERS], total, bad;

static void on_row(int err, PGresult *res, void *data)
{
    q_t *q = data;
    if (err || atoi(PQgetvalue(res, 0, 0)) != q->seq || got[q->caller] != q->seq)
        bad++;
    got[q->caller] = q->seq + 1;
    total++;
    free(q);
}

static void run_many(int prepared)
{
    db_t *db = pool(4, 32, prepared, 10000);
    const db_stmt_t *st = db_prepare(db, "SELECT $1::int AS seq, pg_backend_pid()");
    assert_non_null(st);
    assert_ptr_equal(st, db_prepare(db, "SELECT $1::int AS seq, pg_backend_pid()"));
    memset(got, 0, sizeof got);
    total = bad = 0;
    for (int i = 0; i < PER; i++)
        for (int c = 0; c < CALLERS; c++) {
            q_t *q = malloc(sizeof *q);
            q->caller = c;
            q->seq = i;
            char v[16];
            snprintf(v, sizeof v, "%d", i);
            const char *p[] = {v};
            assert_int_equal(db_exec(db, (uint32_t)c + 1, st, 1, p, on_row, q), 0);
        }
    assert_true(db_pending(db) >= CALLERS * PER); /* all 1,000 taken at once: in pipelines or queued */
    for (int i = 0; i < 1000 && total < CALLERS * PER; i++)
        tk_run_for(&loop, 10);
    assert_int_equal(total, CALLERS * PER);
    assert_int_equal(bad, 0);
    db_close(db);
}

static void test_thousand_in_flight_prepared(void **state) { run_many(1); }
static void test_thousand_in_flight_unprepared(void **state) { run_many(0); }

/* ---------------------------------------------------------------- errors */

static int last_err, calls;
static char last_state[8], last_value[64];

static void on_any(int err, PGresult *res, void *data)
{
    last_err = err;
    calls++;
    snprintf(last_state, sizeof last_state, "%s", db_sqlstate(res));
    snprintf(last_value, sizeof last_value, "%s", !err && PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
}

static void wait_calls(int n)
{
    for (int i = 0; i < 500 && calls < n; i++)
        tk_run_for(&loop, 10);
    assert_int_equal(calls, n);
}

static void test_error_keeps_pipeline(void **state)
{
    db_t *db = pool(1, 16, 1, 10000);
    calls = 0;
    const char *bad[] = {"abc"};
    assert_int_equal(db_sql(db, 0, "SELECT $1::int", 1, bad, on_any, NULL), 0);
    wait_calls(1);
    assert_int_equal(last_err, KB_ERR_IO);
    assert_string_equal(last_state, "22P02"); /* invalid_text_representation */
    const char *good[] = {"41"};
    assert_int_equal(db_sql(db, 0, "SELECT $1::int + 1", 1, good, on_any, NULL), 0);
    wait_calls(2);
    assert_int_equal(last_err, 0);
    assert_string_equal(last_value, "42");
    /* SQL NULL as a parameter */
    const char *null[] = {NULL};
    assert_int_equal(db_sql(db, 0, "SELECT coalesce($1::text, 'null')", 1, null, on_any, NULL), 0);
    wait_calls(3);
    assert_string_equal(last_value, "null");
    db_close(db);
}

/* ---------------------------------------------------------------- transactions */

static db_txn_t *txn;
static int txn_ready;

static void on_begin(int err, db_txn_t *t, void *data)
{
    assert_int_equal(err, 0);
    txn = t;
    txn_ready = 1;
}

static void begin(db_t *db)
{
    txn_ready = 0;
    assert_int_equal(db_txn_begin(db, 0, on_begin, NULL), 0);
    assert_true(tk_run_until(&loop, &txn_ready, 3000));
}

static void test_transactions(void **state)
{
    db_t *db = pool(2, 8, 1, 10000);
    calls = 0;
    assert_int_equal(db_sql(db, 0, "CREATE TABLE t (v int UNIQUE)", 0, NULL, on_any, NULL), 0);
    wait_calls(1);
    assert_int_equal(last_err, 0);
    const db_stmt_t *ins = db_prepare(db, "INSERT INTO t VALUES ($1::int)");
    /* committed */
    begin(db);
    const char *one[] = {"1"};
    assert_int_equal(db_txn_exec(txn, ins, 1, one, on_any, NULL), 0);
    assert_int_equal(db_txn_commit(txn, on_any, NULL), 0);
    wait_calls(3);
    assert_int_equal(last_err, 0);
    assert_string_equal(tk_db_value("SELECT count(*) FROM t"), "1");
    /* rolled back */
    begin(db);
    const char *two[] = {"2"};
    assert_int_equal(db_txn_exec(txn, ins, 1, two, on_any, NULL), 0);
    assert_int_equal(db_txn_rollback(txn, on_any, NULL), 0);
    wait_calls(5);
    assert_string_equal(tk_db_value("SELECT count(*) FROM t"), "1");
    /* a failing statement inside: a unique violation, then COMMIT reports the failure and nothing stays */
    begin(db);
    assert_int_equal(db_txn_exec(txn, ins, 1, two, on_any, NULL), 0);
    assert_int_equal(db_txn_exec(txn, ins, 1, one, on_any, NULL), 0);
    wait_calls(7);
    assert_string_equal(last_state, "23505");
    assert_int_equal(db_txn_commit(txn, on_any, NULL), 0);
    wait_calls(8);
    assert_string_equal(tk_db_value("SELECT count(*) FROM t"), "1");
    /* the pool goes on: plain queries run on both connections */
    assert_int_equal(db_sql(db, 0, "SELECT 7", 0, NULL, on_any, NULL), 0);
    wait_calls(9);
    assert_string_equal(last_value, "7");
    db_close(db);
}

/* A transaction waits for the first connection that falls idle, not behind one that stays busy: with A's
 * transaction held open on one connection and B's on the other, C begins as soon as B commits. */
static db_txn_t *held[3];
static int begun[3];

static void on_begin_n(int err, db_txn_t *t, void *data)
{
    int i = (int)(intptr_t)data;
    assert_int_equal(err, 0);
    held[i] = t;
    begun[i] = 1;
}

static void test_transaction_takes_the_free_connection(void **state)
{
    db_t *db = pool(2, 8, 1, 10000);
    memset(begun, 0, sizeof begun);
    for (intptr_t i = 0; i < 2; i++) {
        assert_int_equal(db_txn_begin(db, 0, on_begin_n, (void *)i), 0);
        assert_true(tk_run_until(&loop, &begun[i], 3000));
    }
    assert_int_equal(db_txn_begin(db, 0, on_begin_n, (void *)(intptr_t)2), 0);
    tk_run_for(&loop, 100);
    assert_false(begun[2]); /* both connections are in a transaction */
    calls = 0;
    assert_int_equal(db_txn_commit(held[1], on_any, NULL), 0);
    assert_true(tk_run_until(&loop, &begun[2], 1000)); /* while A is still open */
    assert_int_equal(db_txn_commit(held[0], on_any, NULL), 0);
    assert_int_equal(db_txn_commit(held[2], on_any, NULL), 0);
    wait_calls(3);
    assert_int_equal(last_err, 0);
    db_close(db);
}

/* ---------------------------------------------------------------- queueing and deadlines */

static void test_queue_when_busy(void **state)
{
    db_t *db = pool(1, 1, 1, 10000); /* one connection, one query at a time: the rest wait in the queue */
    memset(got, 0, sizeof got);
    total = bad = 0;
    const db_stmt_t *st = db_prepare(db, "SELECT $1::int");
    for (int i = 0; i < 200; i++) {
        q_t *q = malloc(sizeof *q);
        q->caller = 0;
        q->seq = i;
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        const char *p[] = {v};
        assert_int_equal(db_exec(db, 0, st, 1, p, on_row, q), 0);
    }
    for (int i = 0; i < 500 && total < 200; i++)
        tk_run_for(&loop, 10);
    assert_int_equal(total, 200);
    assert_int_equal(bad, 0);
    db_close(db);
}

static void test_query_deadline(void **state)
{
    db_t *db = pool(1, 4, 1, 400);
    calls = 0;
    assert_int_equal(db_sql(db, 0, "SELECT pg_sleep(5)", 0, NULL, on_any, NULL), 0);
    wait_calls(1);
    assert_int_equal(last_err, KB_ERR_TIMEOUT);
    /* the connection was reset and is made again */
    for (int i = 0; i < 300 && !db_ready(db); i++)
        tk_run_for(&loop, 10);
    assert_int_equal(db_sql(db, 0, "SELECT 1", 0, NULL, on_any, NULL), 0);
    wait_calls(2);
    assert_int_equal(last_err, 0);
    db_close(db);
}

/* ---------------------------------------------------------------- reconnect */

static void test_reconnect_after_server_drops_connections(void **state)
{
    db_t *db = pool(3, 8, 1, 10000);
    calls = 0;
    assert_int_equal(db_sql(db, 0, "SELECT 1", 0, NULL, on_any, NULL), 0);
    wait_calls(1);
    /* the server ends every kabinetd backend, as a restart or an administrator would */
    assert_non_null(tk_db_value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE application_name = 'kabinetd' AND datname = current_database()"));
    tk_run_for(&loop, 100);
    int ok = 0;
    for (int i = 0; i < 40 && !ok; i++) {
        calls = 0;
        if (db_sql(db, 0, "SELECT 5", 0, NULL, on_any, NULL) == 0) {
            wait_calls(1);
            ok = last_err == 0 && !strcmp(last_value, "5");
        }
        if (!ok)
            tk_run_for(&loop, 100);
    }
    assert_true(ok);
    if (tk_prepared()) /* direct: the pool made its connections again (behind PgBouncer, the bouncer did) */
        assert_true(metrics_value(metrics_counter("kb_db_connects_total", "", "")) >= 4);
    db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_thousand_in_flight_prepared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thousand_in_flight_unprepared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_keeps_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transaction_takes_the_free_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_when_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_after_server_drops_connections, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
