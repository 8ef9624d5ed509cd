/* tk.c — the test kit (see tk.h). */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include "core.h"
#include "metrics.h"
#include "tk.h"

static char current_db[128];
static char current_conninfo[256];

static int env_int(const char *name, int def)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : def;
}

int tk_redis_port(void) { return env_int("KB_TEST_REDIS_PORT", 16379); }

const char *tk_redis_url(void)
{
    static char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", tk_redis_port());
    return url;
}

int tk_prepared(void) { return !getenv("KB_TEST_PGBOUNCER"); }

const char *tk_app_conninfo(const char *dbname)
{
    static char ci[256];
    snprintf(ci, sizeof ci, "hostaddr=127.0.0.1 port=%d user=postgres dbname=%s connect_timeout=5",
             env_int("KB_TEST_APP_PG_PORT", env_int("KB_TEST_PG_PORT", 15432)), dbname);
    return ci;
}

const char *tk_pg_conninfo(const char *dbname)
{
    static char ci[256];
    snprintf(ci, sizeof ci, "hostaddr=127.0.0.1 port=%d user=postgres dbname=%s connect_timeout=5",
             env_int("KB_TEST_PG_PORT", 15432), dbname);
    return ci;
}

/* Runs sql on the maintenance database; fails the test on error. */
static void admin(const char *sql)
{
    PGconn *pg = PQconnectdb(tk_pg_conninfo("postgres"));
    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("cannot reach the test PostgreSQL: %s", PQerrorMessage(pg));
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(pg);
}

const char *tk_db_create(const char *name, int empty)
{
    char sql[256];
    snprintf(current_db, sizeof current_db, "t_%s_%d", name, (int)getpid());
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", current_db);
    admin(sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE %s", current_db, empty ? "template0" : "kb_template");
    admin(sql);
    snprintf(current_conninfo, sizeof current_conninfo, "%s", tk_app_conninfo(current_db));
    return current_conninfo;
}

void tk_db_drop(void)
{
    char sql[256];
    if (!current_db[0])
        return;
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", current_db);
    admin(sql);
    current_db[0] = 0;
}

const char *tk_db_value(const char *sql)
{
    static char value[1024];
    PGconn *pg = PQconnectdb(tk_pg_conninfo(current_db)); /* direct: the test's own look, not through PgBouncer */
    if (PQstatus(pg) != CONNECTION_OK) {
        PQfinish(pg);
        return NULL;
    }
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    const char *out = NULL;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        snprintf(value, sizeof value, "%s", st == PGRES_TUPLES_OK && PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
        out = value;
    }
    PQclear(r);
    PQfinish(pg);
    return out;
}

static void on_guard(uv_timer_t *t) { *(int *)t->data = 1; }

int tk_run_until(uv_loop_t *loop, volatile int *flag, int timeout_ms)
{
    uv_timer_t guard;
    int expired = 0;
    uv_timer_init(loop, &guard);
    guard.data = &expired;
    uv_timer_start(&guard, on_guard, (uint64_t)timeout_ms, 0);
    while (!*flag && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag != 0;
}

void tk_run_for(uv_loop_t *loop, int ms)
{
    int never = 0;
    tk_run_until(loop, &never, ms);
}

static void close_cb(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void tk_loop_close(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_NOWAIT);
    uv_walk(loop, close_cb, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

const char *tk_db_conninfo(void) { return current_conninfo; }

int tk_kabinetd_start(int http_port, const char *const *env, const char *logfile)
{
    const char *bin = getenv("KABINETD");
    if (!bin)
        fail_msg("KABINETD is not set");
    pid_t pid = fork();
    if (pid == 0) {
        char listen[64];
        snprintf(listen, sizeof listen, "127.0.0.1:%d", http_port);
        setenv("KABINET_DATABASE_URL", current_conninfo, 1);
        setenv("KABINET_REDIS_URL", tk_redis_url(), 1);
        setenv("KABINET_HTTP_LISTEN", listen, 1);
        setenv("KABINET_LOCAL_CHANNEL", "on", 1);
        for (const char *const *e = env; e && *e; e++)
            putenv(strdup(*e));
        int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) { /* stdout too: a child must not hold the test runner's pipe open */
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(bin, bin, "serve", (char *)NULL);
        _exit(127);
    }
    return (int)pid;
}

int tk_wait_ready(int port, int timeout_ms)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "curl -sf -o /dev/null -m 1 http://127.0.0.1:%d/readyz", port);
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        if (system(cmd) == 0)
            return 1;
        usleep(50 * 1000);
    }
    return 0;
}

int tk_stop(int pid, int sig)
{
    int status;
    if (pid <= 0)
        return -1;
    kill(pid, sig);
    return waitpid(pid, &status, 0) == pid ? status : -1;
}

typedef struct {
    db_txn_t *txn;
    cJSON *result;
    int begun, committed, err;
} tk_core_t;

static void tk_core_committed(int err, PGresult *res, void *data) { ((tk_core_t *)data)->committed = 1; }

static void tk_core_result(int err, cJSON *result, void *data)
{
    tk_core_t *c = data;
    c->err = err;
    c->result = result;
    db_txn_commit(c->txn, tk_core_committed, c);
}

static void tk_core_begun(int err, db_txn_t *txn, void *data)
{
    tk_core_t *c = data;
    c->err = err;
    c->txn = txn;
    c->begun = 1;
}

const char *tk_core_conv = "local:t";

cJSON *tk_core(uv_loop_t *loop, db_t *db, const char *op, const char *args)
{
    tk_core_t c = {0};
    cJSON *a = cJSON_Parse(args);
    core_fn fn = core_find(op);
    if (!a || !fn)
        fail_msg("tk_core: bad arguments or unknown operation %s", op);
    assert_int_equal(db_txn_begin(db, 1, tk_core_begun, &c), 0);
    assert_true(tk_run_until(loop, &c.begun, 3000));
    assert_int_equal(c.err, 0);
    assert_int_equal(fn(db, c.txn, tk_core_conv, a, tk_core_result, &c), 0);
    cJSON_Delete(a);
    assert_true(tk_run_until(loop, &c.committed, 3000));
    assert_int_equal(c.err, 0);
    return c.result;
}

db_t *tk_pool(uv_loop_t *loop, int n)
{
    db_options_t o = {current_conninfo, n, 8, tk_prepared(), 10000};
    char err[256];
    db_t *db;
    assert_int_equal(db_new(loop, &o, &db, err, sizeof err), 0);
    db_start(db);
    for (int i = 0; i < 200 && !db_ready(db); i++)
        tk_run_for(loop, 10);
    tk_run_for(loop, 100); /* the other connections too */
    assert_true(db_ready(db));
    return db;
}

const char *tk_field(const cJSON *r, const char *name)
{
    static char num[8][32];
    static int next;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, name);
    if (cJSON_IsNumber(v)) {
        char *b = num[next++ % 8];
        snprintf(b, sizeof num[0], "%lld", (long long)v->valuedouble);
        return b;
    }
    return cJSON_IsString(v) ? v->valuestring : cJSON_IsTrue(v) ? "true" : cJSON_IsFalse(v) ? "false"
                                              : cJSON_IsNull(v) ? "null" : "?";
}

cJSON *tk_coref(uv_loop_t *loop, db_t *db, const char *op, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return tk_core(loop, db, op, args);
}

const char *tk_totals_wrong(void)
{
    return tk_db_value(
        "SELECT count(*) FROM kb_account a LEFT JOIN kb_account_totals t ON t.account_id = a.id WHERE"
        " coalesce(t.charged_kopecks, 0) <> coalesce((SELECT sum(amount_kopecks + correction_kopecks + odn_kopecks)"
        "   FROM kb_charge c WHERE c.account_id = a.id), 0)"
        " OR coalesce(t.paid_energy_kopecks, 0) <> coalesce((SELECT sum(amount_kopecks) FROM kb_payment p"
        "   WHERE p.account_id = a.id AND p.status IN ('paid', 'credited') AND p.purpose = 'energy'), 0)"
        " OR coalesce(t.paid_penalty_kopecks, 0) <> coalesce((SELECT sum(amount_kopecks) FROM kb_payment p"
        "   WHERE p.account_id = a.id AND p.status IN ('paid', 'credited') AND p.purpose = 'penalty'), 0)"
        " OR coalesce(t.uncredited_kopecks, 0) <> coalesce((SELECT sum(amount_kopecks) FROM kb_payment p"
        "   WHERE p.account_id = a.id AND p.status = 'paid'), 0)"
        " OR coalesce(t.penalty_kopecks, 0) <> coalesce((SELECT sum(penalty_kopecks) FROM kb_penalty n"
        "   WHERE n.account_id = a.id), 0)"
        " OR t.last_month IS DISTINCT FROM (SELECT max(month) FROM kb_charge c WHERE c.account_id = a.id)");
}

db_t *tk_core_start(uv_loop_t *loop, const char *name, const char *seed_sql)
{
    tk_db_create(name, 0);
    if (seed_sql)
        assert_non_null(tk_db_value(seed_sql));
    uv_loop_init(loop);
    db_t *db = tk_pool(loop, 2);
    core_register_all();
    return db;
}

void tk_core_stop(uv_loop_t *loop, db_t *db)
{
    db_close(db);
    tk_loop_close(loop);
    tk_db_drop();
    metrics_shutdown();
}

long tk_metric(int port, const char *series)
{
    char cmd[128], line[512];
    snprintf(cmd, sizeof cmd, "curl -sf -m 2 http://127.0.0.1:%d/metrics", port);
    FILE *f = popen(cmd, "r");
    long v = -1;
    size_t n = strlen(series);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, series, n) && line[n] == ' ')
            v = atol(line + n + 1);
    if (f)
        pclose(f);
    return v;
}
