/* test_kv.c — the Redis client against a real redis-server: 10,000 commands in flight with per-caller order, a
 * refused connect that recovers, NOSCRIPT fallback, the one-tag rule for scripts, and command timeouts. */
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

static void test_ten_thousand_in_flight(void **state)
{
    kv_t *kv = connect_kv(tk_redis_url(), 5000);
    char keys[CALLERS][64];
    for (int c = 0; c < CALLERS; c++) {
        snprintf(keys[c], sizeof keys[c], "kb:{test:%d:%d}:n", (int)getpid(), c);
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
    int done = 0;
    for (int i = 0; i < 500 && answered < CALLERS * PER_CALLER; i++)
        tk_run_for(&loop, 10);
    done = answered;
    assert_int_equal(done, CALLERS * PER_CALLER);
    assert_int_equal(out_of_order, 0);
    for (int c = 0; c < CALLERS; c++)
        kv_command(kv, NULL, NULL, "DEL %s", keys[c]) == 0 ? (void)0 : fail();
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ten_thousand_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_connect_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_survives_script_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_timeout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
