/* chart.h — the monthly ledger as a picture (seed 002's «Таблица/График» switch), drawn with cairo in DejaVu Sans:
 * a title with the account and the period; for each month a bar of what was charged and one of what was paid, on
 * a scale of rubles at the left; the kWh consumed as a line with a point a month, on its own scale at the right —
 * one line per zone for a multi-zone meter (what customers ask for most), else one; the months under the axis in
 * the customer's language («ноя 2026»); a legend. Anti-aliased, a compressed PNG (about 40 KB). Pure: no I/O. */
#ifndef KB_CHART_H
#define KB_CHART_H

#include <stddef.h>
#include <stdint.h>

#define CHART_MAX_MONTHS 60
#define CHART_MAX_ZONES 3
#define CHART_W 1200
#define CHART_H 675

typedef struct {
    char month[8];                        /* "2026-11" */
    int64_t charged_kopecks, paid_kopecks;
    double consumed_kwh;
    double zone_kwh[CHART_MAX_ZONES];     /* by zone, when the chart has zones */
} chart_month_t;

typedef struct {
    const char *lang;                     /* "ru" or "en": the texts (chart.* in the catalogs) and the month names */
    const char *account;                  /* its number, for the title */
    int zones;                            /* 1; 2 or 3: one kWh line per zone */
    const chart_month_t *months;          /* oldest first */
    int n;                                /* 1 … CHART_MAX_MONTHS */
} chart_t;

/* The colours a reader (and a test) can tell the series apart by: bars' interiors are filled with exactly these. */
#define CHART_RGB_CHARGED 0xCD463C
#define CHART_RGB_PAID 0x3CA05A
#define CHART_RGB_KWH 0x285AC8

/* Renders c into a malloc'ed PNG (*png, *len). Every month has its bars and its point, however small (bars at
 * least 4 pixels high), so each is there to count. Returns 0, KB_ERR_INVAL or KB_ERR_NOMEM. */
int chart_png(const chart_t *c, unsigned char **png, size_t *len);

#endif
