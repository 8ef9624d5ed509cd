/* test_http.c — HTTP out through libcurl multi and HTTP in through h2o, on one loop: 1,000 requests with some
 * timing out and every callback exactly once; 404/405/413; answers deferred past a client that left. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "err.h"
#include "http_client.h"
#include "httpd.h"
#include "metrics.h"
#include "tk.h"

static uv_loop_t loop;
static httpd_t *srv;
static http_client_t *cli;
static char base[64];

/* ---------------------------------------------------------------- the local server */

static void on_echo(httpd_req_t *r, void *data)
{
    char out[128];
    int n = snprintf(out, sizeof out, "%s %s?%s", httpd_method(r), httpd_path(r), httpd_query(r));
    httpd_respond(r, 200, "text/plain", out, (size_t)n);
}

/* Answers after the number of milliseconds given in the query ("ms=800"), from a timer: a deferred answer. */
typedef struct {
    uv_timer_t t;
    httpd_req_t *r;
} later_t;

static int late_answers; /* answers given after their client's timeout: h2o drops them or writes into a closed socket */
static int slow_arrived; /* slow requests that reached the server (others timed out in the client's queue) */

static void later_closed(uv_handle_t *h) { free(h->data); }

static void later_fire(uv_timer_t *t)
{
    later_t *l = t->data;
    late_answers++;
    httpd_respond(l->r, 200, "text/plain", "late", 4);
    uv_close((uv_handle_t *)&l->t, later_closed);
}

static void on_slow(httpd_req_t *r, void *data)
{
    later_t *l = calloc(1, sizeof *l);
    slow_arrived++;
    l->r = r;
    uv_timer_init(&loop, &l->t);
    l->t.data = l;
    uv_timer_start(&l->t, later_fire, (uint64_t)atoi(httpd_query(r) + 3), 0);
}

static void on_body(httpd_req_t *r, void *data)
{
    size_t len;
    httpd_body(r, &len);
    char out[32], ct[64] = "";
    httpd_header(r, "Content-Type", ct, sizeof ct);
    int n = snprintf(out, sizeof out, "%zu %s", len, ct);
    httpd_set_header(r, "X-Seen", "yes");
    httpd_respond(r, 201, "text/plain", out, (size_t)n);
}

static int setup(void **state)
{
    uv_loop_init(&loop);
    assert_int_equal(httpd_new(&loop, "127.0.0.1", 0, 64 * 1024, &srv), 0);
    httpd_route(srv, "GET", "/echo", on_echo, NULL);
    httpd_route(srv, "GET", "/slow", on_slow, NULL);
    httpd_route(srv, "POST", "/body", on_body, NULL);
    httpd_route(srv, "PUT", "/body", on_body, NULL);
    assert_int_equal(httpd_start(srv), 0);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", httpd_port(srv));
    assert_int_equal(http_client_new(&loop, 16, 5000, &cli), 0);
    return 0;
}

static int teardown(void **state)
{
    http_client_close(cli);
    httpd_close(srv);
    tk_loop_close(&loop);
    metrics_shutdown();
    return 0;
}

/* ---------------------------------------------------------------- 1,000 requests */

#define N 1000

static int calls[N], ok, timeouts, wrong;

static void on_resp(int err, const http_response_t *res, void *data)
{
    int i = (int)(intptr_t)data;
    calls[i]++;
    if (err == KB_ERR_TIMEOUT)
        timeouts++;
    else if (!err && res->status == 200)
        ok++;
    else
        wrong++;
    if (!err && i % 10 != 0) {
        char want[64];
        snprintf(want, sizeof want, "GET /echo?i=%d", i);
        if (strcmp(res->body, want) != 0)
            wrong++;
    }
}

static void test_thousand_requests_some_time_out(void **state)
{
    memset(calls, 0, sizeof calls);
    ok = timeouts = wrong = 0;
    for (int i = 0; i < N; i++) {
        char url[128];
        if (i % 10 == 0) /* every tenth waits 3 s on the server, past its 400 ms timeout */
            snprintf(url, sizeof url, "%s/slow?ms=3000", base);
        else
            snprintf(url, sizeof url, "%s/echo?i=%d", base, i);
        http_request_t rq = {.url = url, .timeout_ms = i % 10 == 0 ? 400 : 20000};
        assert_int_equal(http_request(cli, &rq, on_resp, (void *)(intptr_t)i), 0);
    }
    assert_int_equal(http_client_pending(cli), N);
    for (int i = 0; i < 3000 && ok + timeouts + wrong < N; i++)
        tk_run_for(&loop, 10);
    tk_run_for(&loop, 3200); /* let the slow answers reach their (gone) clients: nothing may break */
    for (int i = 0; i < N; i++)
        assert_int_equal(calls[i], 1);
    assert_int_equal(timeouts, N / 10);
    assert_int_equal(ok, N - N / 10);
    assert_int_equal(wrong, 0);
    assert_true(slow_arrived > 0);
    assert_int_equal(late_answers, slow_arrived);
    assert_int_equal(httpd_inflight(srv), 0);
}

/* ---------------------------------------------------------------- statuses */

static long status;
static char body[256], hdr[64];
static int done;

static void on_status(int err, const http_response_t *res, void *data)
{
    status = err ? err : res->status;
    snprintf(body, sizeof body, "%s", err ? "" : res->body);
    hdr[0] = 0;
    if (!err)
        http_header_get(res->headers, res->headers_len, (const char *)data, hdr, sizeof hdr);
    done = 1;
}

static long call(const char *method, const char *path, const char *payload, size_t len, const char *want_header)
{
    char url[128];
    snprintf(url, sizeof url, "%s%s", base, path);
    /* with Expect: 100-continue the client waits for the server's verdict before sending a large body, so it
     * reads the 413 instead of writing into a connection the server already closed */
    const char *headers[] = {"Content-Type: application/json", len > 1024 ? "Expect: 100-continue" : NULL, NULL};
    http_request_t rq = {.method = method, .url = url, .body = payload, .body_len = len, .headers = headers};
    done = 0;
    assert_int_equal(http_request(cli, &rq, on_status, (void *)want_header), 0);
    assert_true(tk_run_until(&loop, &done, 5000));
    return status;
}

static void test_routes_and_limits(void **state)
{
    assert_int_equal(call("GET", "/echo?a=1", NULL, 0, "Content-Type"), 200);
    assert_string_equal(body, "GET /echo?a=1");
    assert_string_equal(hdr, "text/plain");
    assert_int_equal(call("POST", "/body", "{\"x\":1}", 7, "X-Seen"), 201);
    assert_string_equal(body, "7 application/json");
    assert_string_equal(hdr, "yes");
    assert_int_equal(call("GET", "/nowhere", NULL, 0, "Allow"), 404);
    assert_int_equal(call("DELETE", "/body", NULL, 0, "Allow"), 405);
    assert_string_equal(hdr, "POST, PUT");
    char *big = malloc(100 * 1024);
    memset(big, 'x', 100 * 1024);
    assert_int_equal(call("POST", "/body", big, 100 * 1024, "Allow"), 413);
    free(big);
    /* the server lives on */
    assert_int_equal(call("GET", "/echo", NULL, 0, "Allow"), 200);
    assert_int_equal(httpd_inflight(srv), 0);
}

static void test_connection_refused(void **state)
{
    http_request_t rq = {.url = "http://127.0.0.1:1/x"};
    done = 0;
    assert_int_equal(http_request(cli, &rq, on_status, "X"), 0);
    assert_true(tk_run_until(&loop, &done, 5000));
    assert_int_equal(status, KB_ERR_NOTCONN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_thousand_requests_some_time_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
