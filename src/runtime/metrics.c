/* metrics.c — the registry of metric families and series and its Prometheus rendering (see metrics.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "err.h"
#include "metrics.h"

typedef enum { M_COUNTER, M_GAUGE, M_HISTOGRAM } metrics_type_t;

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

struct metrics_series_s {
    struct metrics_series_s *next;
    char *labels;
    double value;                 /* counter, gauge; the sum of a histogram */
    uint64_t count;               /* histogram */
    uint64_t bucket[NBUCKETS];    /* histogram, not cumulative */
};

typedef struct metrics_family_s {
    struct metrics_family_s *next;
    char *name, *help;
    metrics_type_t type;
    metrics_series_t *series, **tail;
} metrics_family_t;

static metrics_family_t *families, **families_tail = &families;

/* ---------------------------------------------------------------- registry */

/* Finds or adds the family and then the series; keeps insertion order so the output reads in module order. */
static metrics_series_t *lookup(const char *name, const char *help, const char *labels, metrics_type_t type)
{
    metrics_family_t *f;
    for (f = families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            break;
    if (!f) {
        f = calloc(1, sizeof *f);
        f->name = strdup(name);
        f->help = strdup(help ? help : "");
        f->type = type;
        f->tail = &f->series;
        *families_tail = f;
        families_tail = &f->next;
    }
    if (!labels)
        labels = "";
    for (metrics_series_t *s = f->series; s; s = s->next)
        if (strcmp(s->labels, labels) == 0)
            return s;
    metrics_series_t *s = calloc(1, sizeof *s);
    s->labels = strdup(labels);
    *f->tail = s;
    f->tail = &s->next;
    return s;
}

metrics_series_t *metrics_counter(const char *n, const char *h, const char *l) { return lookup(n, h, l, M_COUNTER); }
metrics_series_t *metrics_gauge(const char *n, const char *h, const char *l) { return lookup(n, h, l, M_GAUGE); }
metrics_series_t *metrics_histogram(const char *n, const char *h, const char *l) { return lookup(n, h, l, M_HISTOGRAM); }

/* ---------------------------------------------------------------- updates */

void metrics_inc(metrics_series_t *s) { s->value += 1; }
void metrics_add(metrics_series_t *s, double v) { s->value += v; }
void metrics_set(metrics_series_t *s, double v) { s->value = v; }
double metrics_value(const metrics_series_t *s) { return s->count ? (double)s->count : s->value; }

/* Counts the observation into the first bucket it fits (rendering makes them cumulative). */
void metrics_observe(metrics_series_t *s, double seconds)
{
    s->count++;
    s->value += seconds;
    for (size_t i = 0; i < NBUCKETS; i++)
        if (seconds <= buckets[i]) {
            s->bucket[i]++;
            break;
        }
}

double metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- output */

/* Writes `name{labels,extra} value`, leaving out the braces when there are no labels at all. */
static void sample(FILE *f, const char *name, const char *suffix, const char *labels, const char *extra, double v)
{
    int has = labels[0] || (extra && extra[0]);
    fprintf(f, "%s%s%s%s%s%s%s %.17g\n", name, suffix, has ? "{" : "", labels, labels[0] && extra && extra[0] ? "," : "",
            extra ? extra : "", has ? "}" : "", v);
}

/* Renders the text exposition format, version 0.0.4. */
int metrics_render(char **out, size_t *len)
{
    FILE *f = open_memstream(out, len);
    if (!f)
        return KB_ERR_NOMEM;
    static const char *const tnames[] = {"counter", "gauge", "histogram"};
    for (metrics_family_t *m = families; m; m = m->next) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, tnames[m->type]);
        for (metrics_series_t *s = m->series; s; s = s->next) {
            if (m->type != M_HISTOGRAM) {
                sample(f, m->name, "", s->labels, NULL, s->value);
                continue;
            }
            uint64_t cum = 0;
            char le[48];
            for (size_t i = 0; i < NBUCKETS; i++) {
                cum += s->bucket[i];
                snprintf(le, sizeof le, "le=\"%g\"", buckets[i]);
                sample(f, m->name, "_bucket", s->labels, le, (double)cum);
            }
            sample(f, m->name, "_bucket", s->labels, "le=\"+Inf\"", (double)s->count);
            sample(f, m->name, "_sum", s->labels, NULL, s->value);
            sample(f, m->name, "_count", s->labels, NULL, (double)s->count);
        }
    }
    return fclose(f) == 0 ? 0 : KB_ERR_NOMEM;
}

/* Frees the registry. */
void metrics_shutdown(void)
{
    while (families) {
        metrics_family_t *f = families;
        families = f->next;
        while (f->series) {
            metrics_series_t *s = f->series;
            f->series = s->next;
            free(s->labels);
            free(s);
        }
        free(f->name);
        free(f->help);
        free(f);
    }
    families_tail = &families;
}
