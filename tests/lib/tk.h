/* tk.h — test kit: the servers the test run started, fresh databases, and running the loop until something
 * happens. Integration tests find Redis and PostgreSQL through KB_TEST_REDIS_PORT and KB_TEST_PG_PORT, which
 * ctest sets from the harness fixture (tests/harness.sh). */
#ifndef KB_TK_H
#define KB_TK_H

#include <uv.h>

/* "redis://127.0.0.1:PORT" of the test Redis. */
const char *tk_redis_url(void);
/* The test Redis port. */
int tk_redis_port(void);
/* A libpq conninfo for database name on the test cluster. */
const char *tk_pg_conninfo(const char *dbname);
/* The connection string the code under test uses for dbname: through PgBouncer when the build runs the tests so
 * (KB_TEST_APP_PG_PORT), else the same as tk_pg_conninfo. */
const char *tk_app_conninfo(const char *dbname);
/* 1 unless the tests go through PgBouncer (then named prepared statements are off). */
int tk_prepared(void);
/* Creates a fresh database for this test from the migrated template (or empty when empty is 1) and returns its
 * conninfo (static storage). Fails the test when it cannot. */
const char *tk_db_create(const char *name, int empty);
/* Drops the database made by tk_db_create. */
void tk_db_drop(void);
/* Runs one synchronous statement on the test database (setup and checks); returns the first value or "" in a
 * static buffer, or NULL on error. */
const char *tk_db_value(const char *sql);
/* Runs the loop until *flag becomes non-zero or timeout_ms passes; returns 1 when the flag was set. */
int tk_run_until(uv_loop_t *loop, volatile int *flag, int timeout_ms);
/* Runs the loop for ms milliseconds. */
void tk_run_for(uv_loop_t *loop, int ms);
/* Starts `kabinetd serve` on http_port against the current test database and the test Redis, with extra
 * environment entries ("NAME=value", NULL-terminated, may be NULL); stderr goes to logfile. Returns the pid. */
int tk_kabinetd_start(int http_port, const char *const *env, const char *logfile);
/* Waits until http://127.0.0.1:port/readyz answers 200 (or timeout_ms); returns 1 when it did. */
int tk_wait_ready(int port, int timeout_ms);
/* Sends sig and waits for the process; returns its exit status as from waitpid, or -1. */
int tk_stop(int pid, int sig);
/* The current test database's conninfo. */
const char *tk_db_conninfo(void);
/* Runs the core operation op with args (JSON text) in a transaction of its own on db, commits, and returns its
 * result (the caller frees it); fails the test on any error. */
struct cJSON;
struct db_s;
struct cJSON *tk_core(uv_loop_t *loop, struct db_s *db, const char *op, const char *args);
/* The conversation tk_core's operations run for ("local:t"; a test may set another). */
extern const char *tk_core_conv;
/* A pool of n connections to the current test database, started and connected. */
struct db_s *tk_pool(uv_loop_t *loop, int n);
/* The usual start of a core test: a fresh database `name` from the migrated template with seed_sql run on it (may
 * be NULL), the loop initialized, a pool of 2 connected, and every core operation registered. */
struct db_s *tk_core_start(uv_loop_t *loop, const char *name, const char *seed_sql);
/* Its end: closes the pool and the loop, drops the database, frees the metrics. */
void tk_core_stop(uv_loop_t *loop, struct db_s *db);
/* A field of a result object as text: a string, a number in decimal, true/false, null, or "?" when absent. */
const char *tk_field(const struct cJSON *r, const char *name);
/* tk_core with the args formatted printf-style. */
struct cJSON *tk_coref(uv_loop_t *loop, struct db_s *db, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The number of accounts whose kept totals (kb_account_totals) differ from what their charges, penalties and
 * payments add up to: 0 when the totals are right. */
const char *tk_totals_wrong(void);
/* Closes every handle left on the loop and closes the loop (for sanitizer-clean exits). */
void tk_loop_close(uv_loop_t *loop);
/* The value of one series (name{labels} exactly as printed) in kabinetd's /metrics on port; -1 when absent. */
long tk_metric(int port, const char *series);

#endif
