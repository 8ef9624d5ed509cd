/* metrics.h — process-wide counters, gauges and latency histograms, rendered in Prometheus text format.
 *
 * A series is found or made by name and label text (`module="db",result="ok"`) and lives until metrics_shutdown;
 * modules look their series up once, at init, and then update them with plain arithmetic (one loop thread). */
#ifndef KB_METRICS_H
#define KB_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct metrics_series_s metrics_series_t;

/* Finds or creates a counter series. name must be a valid Prometheus name; labels may be NULL or "". */
metrics_series_t *metrics_counter(const char *name, const char *help, const char *labels);
/* Finds or creates a gauge series. */
metrics_series_t *metrics_gauge(const char *name, const char *help, const char *labels);
/* Finds or creates a histogram series with the latency buckets 0.5 ms … 10 s. */
metrics_series_t *metrics_histogram(const char *name, const char *help, const char *labels);

void metrics_inc(metrics_series_t *s);
void metrics_add(metrics_series_t *s, double v);
void metrics_set(metrics_series_t *s, double v);
/* Records one observation of a histogram, in seconds. */
void metrics_observe(metrics_series_t *s, double seconds);
/* Current value of a counter or gauge (the count of a histogram); for tests and /readyz. */
double metrics_value(const metrics_series_t *s);

/* Renders every series; *out is malloc'ed and the caller frees it. Returns 0 or KB_ERR_NOMEM. */
int metrics_render(char **out, size_t *len);
/* Frees every series (at process exit, so leak checkers stay quiet). */
void metrics_shutdown(void);

/* Monotonic time in seconds, for latency measurements. */
double metrics_now(void);

#endif
