/* chart.h — the monthly ledger as a picture (seed 002's «Таблица/График» switch): for each month a bar of what was
 * charged and one of what was paid (money on one scale), and a point for the kWh consumed (on its own scale), as a
 * PNG. No library draws it: the pixels are set here and the PNG written by hand — a 16-colour palette, 4 bits a
 * pixel, the image data as zlib's stored (uncompressed) blocks, with their CRC-32 and Adler-32 — so nothing beyond
 * the project's packages is needed; a chart is about 116 KB. Pure: no I/O. */
#ifndef KB_CHART_H
#define KB_CHART_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t charged_kopecks, paid_kopecks;
    double consumed_kwh;
} chart_month_t;

#define CHART_MAX_MONTHS 60

/* Renders n months (1 … CHART_MAX_MONTHS, oldest first) into a malloc'ed PNG (*png, *len). Every month has its
 * bars and its point, however small (at least 2 pixels), so each is there to count. Returns 0, KB_ERR_INVAL or
 * KB_ERR_NOMEM. */
int chart_png(const chart_month_t *months, int n, unsigned char **png, size_t *len);

#endif
