/* test_kv.c — the Redis client against a real redis-server: 10,000 commands in flight with per-caller order, a
 * refused connect that recovers, NOSCRIPT fallback, the one-tag rule for scripts, command timeouts; and the other
 * topologies (tests/redis_topo.sh): a three-master Redis Cluster with a slot migrating under load, and a primary
 * behind Sentinels failing over. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "err.h"
#include "kv.h"
#include "metrics.h"
#include "tk.h"

static uv_loop_t loop;

static int setup(void **state) { return uv_loop_init(&loop); }
static int teardown(void **state)
{
    tk_loop_close(&loop);
    metrics_shutdown();
    return 0;
}

static kv_t *connect_kv(const char *url, int timeout_ms)
{
    kv_t *kv;
    assert_int_equal(kv_new(&loop, url, timeout_ms, &kv), 0);
    assert_int_equal(kv_start(kv), 0);
    for (int i = 0; i < 100 && !kv_ready(kv); i++)
        tk_run_for(&loop, 20);
    assert_true(kv_ready(kv));
    return kv;
}

/* ---------------------------------------------------------------- many in flight */

#define CALLERS 100
#define PER_CALLER 100

typedef struct {
    int caller;
    long long expect;
} incr_t;

static long long next_value[CALLERS];
static int answered, out_of_order;

static void on_incr(int err, const redisReply *r, void *data)
{
    incr_t *x = data;
    if (err || r->type != REDIS_REPLY_INTEGER || r->integer != x->expect || next_value[x->caller] + 1 != x->expect)
        out_of_order++;
    next_value[x->caller] = x->expect;
    answered++;
    free(x);
}

/* CALLERS keys "kb:{test:<tag><c>}:n", PER_CALLER INCRs on each, all in flight at once: every one answered, each
 * key's answers in the order sent. */
static void incr_all(kv_t *kv, const char *tag)
{
    char keys[CALLERS][64];
    for (int c = 0; c < CALLERS; c++) {
        snprintf(keys[c], sizeof keys[c], "kb:{test:%s%d}:n", tag, c);
        next_value[c] = 0;
    }
    answered = out_of_order = 0;
    for (int i = 0; i < PER_CALLER; i++)
        for (int c = 0; c < CALLERS; c++) {
            incr_t *x = malloc(sizeof *x);
            x->caller = c;
            x->expect = i + 1;
            assert_int_equal(kv_command(kv, on_incr, x, "INCR %s", keys[c]), 0);
        }
    assert_true(kv_pending(kv) >= CALLERS * PER_CALLER); /* all in flight at once */
    for (int i = 0; i < 500 && answered < CALLERS * PER_CALLER; i++)
        tk_run_for(&loop, 10);
    assert_int_equal(answered, CALLERS * PER_CALLER);
    assert_int_equal(out_of_order, 0);
}

static void test_ten_thousand_in_flight(void **state)
{
    kv_t *kv = connect_kv(tk_redis_url(), 5000);
    char tag[32];
    snprintf(tag, sizeof tag, "%d:", (int)getpid());
    incr_all(kv, tag);
    for (int c = 0; c < CALLERS; c++)
        kv_command(kv, NULL, NULL, "DEL kb:{test:%s%d}:n", tag, c) == 0 ? (void)0 : fail();
    kv_close(kv);
}

/* ---------------------------------------------------------------- refused connect */

static void test_refused_connect_recovers(void **state)
{
    /* nothing listens on this port yet: the connect is refused. A long timeout (10 s) makes sure only the refusal
     * itself, seen through the adapter, can move the client on. */
    int port = tk_redis_port() + 7;
    char url[64], dir[128], cmd[512];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    kv_t *kv;
    assert_int_equal(kv_new(&loop, url, 10000, &kv), 0);
    assert_int_equal(kv_start(kv), 0);
    tk_run_for(&loop, 300);
    assert_false(kv_ready(kv));
    assert_int_equal(kv_command(kv, NULL, NULL, "PING"), KB_ERR_NOTCONN);
    snprintf(dir, sizeof dir, "/tmp/kb-kv-refused-%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p %s && redis-server --port %d --bind 127.0.0.1 --dir %s --save '' "
             "--daemonize yes --pidfile %s/r.pid >/dev/null", dir, port, dir, dir);
    assert_int_equal(system(cmd), 0);
    int ok = 0;
    for (int i = 0; i < 150 && !ok; i++) {
        tk_run_for(&loop, 20);
        ok = kv_ready(kv);
    }
    snprintf(cmd, sizeof cmd, "redis-cli -p %d shutdown nosave >/dev/null 2>&1; rm -rf %s", port, dir);
    (void)system(cmd);
    assert_true(ok); /* reconnected within 3 s, long before the 10 s connect timeout */
    kv_close(kv);
}

/* ---------------------------------------------------------------- scripts */

static long long script_result;
static int script_err, script_done;

static void on_script(int err, const redisReply *r, void *data)
{
    script_err = err;
    script_result = !err && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    script_done = 1;
}

static void test_script_survives_script_flush(void **state)
{
    kv_t *kv = connect_kv(tk_redis_url(), 2000);
    kv_script_t s;
    kv_script_init(&s, "return redis.call('INCRBY', KEYS[1], ARGV[1])");
    assert_int_equal(strlen(s.sha), 40);
    char key[64];
    snprintf(key, sizeof key, "kb:{test:script:%d}:n", (int)getpid());
    const char *argv[] = {key, "5"};
    size_t lens[] = {strlen(key), 1};
    metrics_series_t *reloads = metrics_counter("kb_redis_script_reloads_total", "", "");
    double before = metrics_value(reloads);
    script_done = 0;
    assert_int_equal(kv_eval(kv, &s, 1, 2, argv, lens, on_script, NULL), 0);
    assert_true(tk_run_until(&loop, &script_done, 2000));
    assert_int_equal(script_err, 0);
    assert_int_equal(script_result, 5);
    /* as after a Redis restart: the script cache is empty, EVALSHA answers NOSCRIPT, the client falls back */
    script_done = 0;
    assert_int_equal(kv_command(kv, on_script, NULL, "SCRIPT FLUSH"), 0);
    assert_true(tk_run_until(&loop, &script_done, 2000));
    script_done = 0;
    assert_int_equal(kv_eval(kv, &s, 1, 2, argv, lens, on_script, NULL), 0);
    assert_true(tk_run_until(&loop, &script_done, 2000));
    assert_int_equal(script_err, 0);
    assert_int_equal(script_result, 10);
    assert_true(metrics_value(reloads) >= before + 1);
    /* keys of two conversations in one script are refused before anything is sent */
    const char *two[] = {"kb:{tg:1}:state", "kb:{tg:2}:state"};
    size_t twolen[] = {15, 15};
    assert_int_equal(kv_eval(kv, &s, 2, 2, two, twolen, on_script, NULL), KB_ERR_INVAL);
    kv_command(kv, NULL, NULL, "DEL %s", key);
    kv_close(kv);
}

/* ---------------------------------------------------------------- timeouts */

static int timeout_err, timeout_calls;

static void on_timeout_reply(int err, const redisReply *r, void *data)
{
    timeout_err = err;
    timeout_calls++;
}

static uv_tcp_t silent[16];
static int nsilent;

static void on_silent_conn(uv_stream_t *server, int status)
{
    if (nsilent == 16)
        return;
    uv_tcp_t *c = &silent[nsilent++];
    uv_tcp_init(server->loop, c);
    uv_accept(server, (uv_stream_t *)c); /* accepted, never answered; closed by tk_loop_close */
}

static void test_command_timeout(void **state)
{
    /* a server that accepts and never answers, like a Redis that hangs */
    static uv_tcp_t server;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(&loop, &server);
    assert_int_equal(uv_tcp_bind(&server, (struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&server, 8, on_silent_conn), 0);
    struct sockaddr_in bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", ntohs(bound.sin_port));
    kv_t *kv;
    assert_int_equal(kv_new(&loop, url, 300, &kv), 0);
    kv_start(kv);
    for (int i = 0; i < 50 && kv_command(kv, on_timeout_reply, NULL, "GET x") != 0; i++)
        tk_run_for(&loop, 10);
    timeout_calls = 0;
    tk_run_for(&loop, 1200);
    assert_int_equal(timeout_calls, 1);
    assert_int_equal(timeout_err, KB_ERR_TIMEOUT);
    kv_close(kv);
}


/* ---------------------------------------------------------------- Redis Cluster and Sentinel */

static int topo(const char *fmt, ...)
{
    char args[256], cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null", getenv("KB_TEST_TOPO"), args);
    return system(cmd);
}

/* Starts a topology ("cluster-start", "sentinel-start") afresh in dir (size 96) for base. */
static void topo_fresh(const char *what, char *dir, const char *name, int base)
{
    snprintf(dir, 96, "/tmp/kb-kv-%s-%d", name, base);
    topo("stop %s 2>/dev/null; rm -rf %s", dir, dir);
    assert_int_equal(topo("%s %s %d", what, dir, base), 0);
}

static long long reply_int;
static int reply_err, reply_done;
static char reply_str[64];

static void on_any(int err, const redisReply *r, void *data)
{
    reply_err = err;
    reply_int = !err && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    snprintf(reply_str, sizeof reply_str, "%s", !err && r->type == REDIS_REPLY_STRING ? r->str : "");
    reply_done = 1;
}

/* Runs one command and waits for its answer. */
static int one(kv_t *kv, const char *fmt, const char *key)
{
    reply_done = 0;
    if (kv_command(kv, on_any, NULL, fmt, key) != 0)
        return -1;
    return tk_run_until(&loop, &reply_done, 5000) ? reply_err : -2;
}

static long long incr_acked;
static int incr_failed, incr_inflight;

static void on_counted(int err, const redisReply *r, void *data)
{
    incr_inflight--;
    if (err)
        incr_failed++;
    else
        incr_acked++;
}

/* A cluster from one seed: commands spread over the three masters by their tags, in order per key; a script and
 * its NOSCRIPT fallback on a master; WAIT reaches the replica; then one key's slot migrates while INCRs are in
 * flight the whole time: every one is answered, none fails, none is lost or counted twice, and the client met ASK
 * and then MOVED. */
static void test_cluster(void **state)
{
    int base = tk_redis_port() + 1510;
    char dir[96], url[96];
    topo_fresh("cluster-start", dir, "cluster", base);
    snprintf(url, sizeof url, "redis-cluster://127.0.0.1:%d", base + 2); /* one seed is enough */
    kv_t *kv = connect_kv(url, 2000);
    incr_all(kv, ""); /* over every master */
    char cmd[512];
    for (int m = 0; m < 3; m++) { /* each master holds some of them */
        snprintf(cmd, sizeof cmd, "test \"$(redis-cli -p %d dbsize)\" -gt 10", base + m);
        assert_int_equal(system(cmd), 0);
    }
    /* a script, and again after every master forgot its scripts */
    kv_script_t s;
    kv_script_init(&s, "redis.call('INCRBY', KEYS[2], 1) return redis.call('INCRBY', KEYS[1], ARGV[1])");
    const char *argv[] = {"kb:{test:7}:n", "kb:{test:7}:m", "5"};
    size_t lens[] = {13, 13, 1};
    for (int round = 0; round < 2; round++) {
        if (round)
            for (int m = 0; m < 3; m++) {
                snprintf(cmd, sizeof cmd, "redis-cli -p %d script flush >/dev/null", base + m);
                assert_int_equal(system(cmd), 0);
            }
        script_done = 0;
        assert_int_equal(kv_eval(kv, &s, 2, 3, argv, lens, on_script, NULL), 0);
        assert_true(tk_run_until(&loop, &script_done, 2000));
        assert_int_equal(script_err, 0);
        assert_int_equal(script_result, PER_CALLER + 5 * (round + 1));
    }
    /* WAIT on the key's master: its replica has the writes */
    reply_done = 0;
    assert_int_equal(kv_wait(kv, "kb:{test:7}:n", 1, 1000, on_any, NULL), 0);
    assert_true(tk_run_until(&loop, &reply_done, 3000));
    assert_int_equal(reply_int, 1);
    /* the slot of kb:{test:3} migrates while 50 INCRs on it are always in flight */
    metrics_series_t *ask = metrics_counter("kb_redis_redirects_total", "", "kind=\"ask\"");
    metrics_series_t *moved = metrics_counter("kb_redis_redirects_total", "", "kind=\"moved\"");
    double ask0 = metrics_value(ask), moved0 = metrics_value(moved);
    const char *hot = "kb:{test:3}:n";
    snprintf(cmd, sizeof cmd, "(%s migrate %s %d $(redis-cli -p %d cluster keyslot '%s') && touch %s/moved) "
             ">/dev/null 2>&1 &", getenv("KB_TEST_TOPO"), dir, base, base, hot, dir);
    assert_int_equal(system(cmd), 0);
    char flag[128];
    snprintf(flag, sizeof flag, "%s/moved", dir);
    incr_acked = incr_failed = incr_inflight = 0;
    for (int i = 0; i < 2000 && access(flag, F_OK) != 0; i++) {
        while (incr_inflight < 50 && kv_command(kv, on_counted, NULL, "INCR %s", hot) == 0)
            incr_inflight++;
        tk_run_for(&loop, 5);
    }
    for (int i = 0; i < 20; i++) { /* and a little after it, to meet the MOVED */
        while (incr_inflight < 50 && kv_command(kv, on_counted, NULL, "INCR %s", hot) == 0)
            incr_inflight++;
        tk_run_for(&loop, 5);
    }
    for (int i = 0; i < 400 && incr_inflight > 0; i++)
        tk_run_for(&loop, 5);
    assert_int_equal(access(flag, F_OK), 0);
    assert_int_equal(incr_inflight, 0);
    assert_int_equal(incr_failed, 0);
    assert_int_equal(one(kv, "GET %s", hot), 0);
    printf("# %lld INCRs answered while the slot moved, %.0f ASK and %.0f MOVED followed\n", incr_acked,
           metrics_value(ask) - ask0, metrics_value(moved) - moved0);
    assert_int_equal(atoll(reply_str), PER_CALLER + incr_acked);
    assert_true(metrics_value(ask) > ask0);
    assert_true(metrics_value(moved) > moved0);
    kv_close(kv);
    topo("stop %s; rm -rf %s", dir, dir);
}

/* A primary and its replica watched by three Sentinels: the client finds the primary through them, follows the
 * failover when the primary is killed, and what it wrote (and WAITed for) is still there. */
static void test_sentinel_failover(void **state)
{
    int base = tk_redis_port() + 1520;
    char dir[96], url[128];
    topo_fresh("sentinel-start", dir, "sentinel", base);
    snprintf(url, sizeof url, "redis-sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/kbmaster", base + 10, base + 11,
             base + 12);
    kv_t *kv = connect_kv(url, 2000);
    metrics_series_t *failovers = metrics_counter("kb_redis_failovers_total", "", "");
    double f0 = metrics_value(failovers);
    assert_int_equal(one(kv, "SET %s before", "kb:{test:s}:v"), 0);
    reply_done = 0;
    assert_int_equal(kv_wait(kv, "kb:{test:s}:v", 1, 1000, on_any, NULL), 0);
    assert_true(tk_run_until(&loop, &reply_done, 3000));
    assert_int_equal(reply_int, 1);
    assert_int_equal(topo("sentinel-failover %s %d", dir, base), 0);
    /* the client notices, asks the Sentinels, and writes to the new primary */
    int ok = 0;
    for (int i = 0; i < 200 && !ok; i++) {
        tk_run_for(&loop, 50);
        ok = kv_ready(kv) && one(kv, "SET %s after", "kb:{test:s}:w") == 0;
    }
    assert_true(ok);
    assert_int_equal(metrics_value(failovers), f0 + 1);
    assert_int_equal(one(kv, "GET %s", "kb:{test:s}:v"), 0);
    assert_string_equal(reply_str, "before");
    kv_close(kv);
    topo("stop %s; rm -rf %s", dir, dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ten_thousand_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_connect_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_survives_script_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sentinel_failover, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
