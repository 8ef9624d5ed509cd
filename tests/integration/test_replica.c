/* test_replica.c — reads that may lag on a streaming replica (KABINET_DATABASE_REPLICA_URL), against a real primary
 * and a real replica made with pg_basebackup (tests/harness.sh start-replica): with the replica's replay paused, a
 * reading submitted on the primary is not in the history the replica serves, while the primary — which decides —
 * refuses the same reading again as already taken; once replay resumes the history shows it; with the replica down
 * the history comes from the primary. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "core.h"
#include "metrics.h"
#include "tk.h"

static uv_loop_t loop;
static char dir[96];
static int pport, rport;

static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static db_t *pool(int port)
{
    char ci[160];
    snprintf(ci, sizeof ci, "hostaddr=127.0.0.1 port=%d user=postgres dbname=kb connect_timeout=5", port);
    db_options_t o = {ci, 2, 8, 1, 5000};
    char err[256];
    db_t *db;
    assert_int_equal(db_new(&loop, &o, &db, err, sizeof err), 0);
    db_start(db);
    for (int i = 0; i < 300 && !db_ready(db); i++)
        tk_run_for(&loop, 10);
    assert_true(db_ready(db));
    return db;
}

typedef struct {
    int done, err;
    cJSON *result;
} call_t;

static void on_result(int err, cJSON *result, void *data)
{
    call_t *c = data;
    c->err = err;
    c->result = result;
    c->done = 1;
}

/* Runs op through core_run (the doc channel's and staff tools' way; the engine chooses the pool the same way). */
static cJSON *run(db_t *db, const char *op, const char *args)
{
    call_t c = {0};
    cJSON *a = cJSON_Parse(args);
    assert_int_equal(core_run(db, op, "local:replica", a, on_result, &c), 0);
    cJSON_Delete(a);
    assert_true(tk_run_until(&loop, &c.done, 5000));
    assert_int_equal(c.err, 0);
    return c.result;
}

/* The number of readings in the account's history. */
static int readings(db_t *db)
{
    cJSON *r = run(db, "account.history", "{\"customer_id\":1,\"account_id\":1,\"kind\":\"readings\","
                                          "\"from\":\"2026-01-01\",\"to\":\"2026-12-31\"}");
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(r, "rows"));
    cJSON_Delete(r);
    return n;
}

static void test_lagging_reads_on_the_replica(void **state)
{
    pport = atoi(getenv("KB_TEST_PG_PORT")) + 20;
    rport = pport + 1;
    int redis = tk_redis_port() + 20;
    snprintf(dir, sizeof dir, "/tmp/kabinet-replica-%d", pport);
    const char *here = getenv("KB_TEST_TOPO"); /* …/tests/redis_topo.sh: harness.sh is beside it */
    char harness[300];
    snprintf(harness, sizeof harness, "%.*s/harness.sh", (int)(strrchr(here, '/') - here), here);
    sh("%s stop %s >/dev/null 2>&1; rm -rf %s", harness, dir, dir);
    assert_int_equal(sh("%s start %s %d %d fast", harness, dir, redis, pport), 0);
    assert_int_equal(sh("psql -qX -h 127.0.0.1 -p %d -U postgres -d postgres -c 'CREATE DATABASE kb' && "
                        "KABINET_DATABASE_URL='hostaddr=127.0.0.1 port=%d user=postgres dbname=kb' "
                        "KABINET_REDIS_URL=redis://127.0.0.1:%d KABINET_LOG_LEVEL=warn %s migrate", pport, pport, redis,
                        getenv("KABINETD")), 0);
    assert_int_equal(sh("psql -qX -v ON_ERROR_STOP=1 -h 127.0.0.1 -p %d -U postgres -d kb -c \""
        "INSERT INTO kb_branch (code, name, utc_offset_min) VALUES ('khk', 'Абакан', 420);"
        "INSERT INTO kb_account (number, holder_surname, address, branch_id, tariff_code) VALUES"
        " ('180211111', 'Иванова', 'Абакан, ул. Щетинкина, 1', 1, 'city-1');"
        "INSERT INTO kb_customer (full_name) VALUES ('Иванова');"
        "INSERT INTO kb_account_link (customer_id, account_id, is_primary, status, proof) VALUES (1, 1, true, 'active', 'surname');"
        "INSERT INTO kb_meter (account_id, serial, model, digits) VALUES (1, '011234567', 'ЦЭ6807Б', 5);"
        "INSERT INTO kb_reading (meter_id, value, local_day, source, taken_at) VALUES"
        " (1, 29550, '2026-09-25', 'network', '2026-09-25 03:00Z')\"", pport), 0);
    assert_int_equal(sh("%s start-replica %s %d", harness, dir, rport), 0);
    uv_loop_init(&loop);
    core_register_all();
    db_t *primary = pool(pport), *replica = pool(rport);
    core_set_replica(replica);
    assert_ptr_equal(core_db_for("account.history", primary), replica);
    assert_ptr_equal(core_db_for("reading.submit", primary), primary);
    assert_int_equal(readings(primary), 1);

    /* the replica stops replaying: what the primary commits now is not there yet */
    assert_int_equal(sh("psql -qXtA -h 127.0.0.1 -p %d -U postgres -d kb -c 'SELECT pg_wal_replay_pause()' >/dev/null",
                        rport), 0);
    const char *submit = "{\"customer_id\":1,\"meter_id\":1,\"value\":\"29700\"}";
    cJSON *r = run(primary, "reading.submit", submit);
    printf("# reading.submit: %s\n", tk_field(r, "status"));
    assert_string_equal(tk_field(r, "status"), "accepted");
    cJSON_Delete(r);
    assert_int_equal(readings(primary), 1); /* the history, from the lagging replica */
    r = run(primary, "reading.submit", submit); /* the decision, on the primary: already taken */
    printf("# the same again: %s\n", tk_field(r, "status"));
    assert_string_not_equal(tk_field(r, "status"), "accepted");
    cJSON_Delete(r);

    /* replay resumes: the history catches up */
    assert_int_equal(sh("psql -qXtA -h 127.0.0.1 -p %d -U postgres -d kb -c 'SELECT pg_wal_replay_resume()' >/dev/null",
                        rport), 0);
    int n = 0;
    for (int i = 0; i < 100 && (n = readings(primary)) != 2; i++)
        tk_run_for(&loop, 50);
    assert_int_equal(n, 2);

    /* the replica goes down: the history comes from the primary */
    assert_int_equal(sh("%s stop-replica %s", harness, dir), 0);
    for (int i = 0; i < 300 && db_ready(replica); i++)
        tk_run_for(&loop, 10);
    assert_false(db_ready(replica));
    assert_ptr_equal(core_db_for("account.history", primary), primary);
    assert_int_equal(readings(primary), 2);

    core_set_replica(NULL);
    db_close(replica);
    db_close(primary);
    tk_loop_close(&loop);
    metrics_shutdown();
    sh("%s stop %s; rm -rf %s", harness, dir, dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lagging_reads_on_the_replica),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
