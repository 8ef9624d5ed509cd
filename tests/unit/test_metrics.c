/* test_metrics.c — the Prometheus text output: families, labels, cumulative histogram buckets. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "metrics.h"

static void test_render(void **state)
{
    metrics_series_t *ok = metrics_counter("t_requests_total", "Requests", "code=\"2xx\"");
    metrics_series_t *bad = metrics_counter("t_requests_total", "Requests", "code=\"5xx\"");
    assert_ptr_equal(ok, metrics_counter("t_requests_total", "Requests", "code=\"2xx\""));
    metrics_inc(ok);
    metrics_inc(ok);
    metrics_inc(bad);
    metrics_series_t *g = metrics_gauge("t_up", "Up", NULL);
    metrics_set(g, 1);
    metrics_series_t *h = metrics_histogram("t_latency_seconds", "Latency", "");
    metrics_observe(h, 0.0004);
    metrics_observe(h, 0.003);
    metrics_observe(h, 30);
    char *text;
    size_t len;
    assert_int_equal(metrics_render(&text, &len), 0);
    assert_non_null(strstr(text, "# TYPE t_requests_total counter\n"));
    assert_non_null(strstr(text, "t_requests_total{code=\"2xx\"} 2\n"));
    assert_non_null(strstr(text, "t_requests_total{code=\"5xx\"} 1\n"));
    assert_non_null(strstr(text, "t_up 1\n"));
    assert_non_null(strstr(text, "t_latency_seconds_bucket{le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(text, "t_latency_seconds_bucket{le=\"0.005\"} 2\n"));
    assert_non_null(strstr(text, "t_latency_seconds_bucket{le=\"10\"} 2\n"));
    assert_non_null(strstr(text, "t_latency_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "t_latency_seconds_count 3\n"));
    /* one HELP per family even with several series */
    char *first = strstr(text, "# HELP t_requests_total");
    assert_null(strstr(first + 1, "# HELP t_requests_total"));
    free(text);
    metrics_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_render)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
